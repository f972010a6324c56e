/* placeholder */
#ifndef HERALD_backoff_H
#define HERALD_backoff_H
#endif
