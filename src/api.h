/* placeholder */
#ifndef HERALD_api_H
#define HERALD_api_H
#endif
