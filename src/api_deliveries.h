/* The delivery routes (api_deliveries.c). */
#ifndef HERALD_API_DELIVERIES_H
#define HERALD_API_DELIVERIES_H

#include "api_http.h"

void api_deliveries_list(struct api_request *r);
void api_deliveries_get(struct api_request *r);
void api_deliveries_retry(struct api_request *r);

#endif
