/* placeholder */
#ifndef HERALD_api_routes_H
#define HERALD_api_routes_H
#endif
