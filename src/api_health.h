/* The health routes (api_health.c). */
#ifndef HERALD_API_HEALTH_H
#define HERALD_API_HEALTH_H

#include "api_http.h"

void api_health_live(struct api_request *r);
void api_health_ready(struct api_request *r);

#endif
