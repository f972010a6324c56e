/* placeholder */
#ifndef HERALD_ratelimit_H
#define HERALD_ratelimit_H
#endif
