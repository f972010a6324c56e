/* The console's history route (api_stats.c). */
#ifndef HERALD_API_STATS_H
#define HERALD_API_STATS_H

#include "api_http.h"

void api_stats_get(struct api_request *r);

#endif
