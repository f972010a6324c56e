/* The route table: every route of the API, handed to api_start. */
#ifndef HERALD_API_TABLE_H
#define HERALD_API_TABLE_H

#include <stddef.h>

struct api_route;

/* The routes, *n of them. */
const struct api_route *api_table(size_t *n);

#endif
