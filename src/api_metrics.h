/* The metrics route (api_metrics.c). */
#ifndef HERALD_API_METRICS_H
#define HERALD_API_METRICS_H

#include "api_http.h"

void api_metrics_get(struct api_request *r);

#endif
