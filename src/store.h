/* placeholder */
#ifndef HERALD_store_H
#define HERALD_store_H
#endif
