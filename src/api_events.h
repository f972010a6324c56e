/* The events routes (api_events.c). */
#ifndef HERALD_API_EVENTS_H
#define HERALD_API_EVENTS_H

#include "api_http.h"

void api_events_post(struct api_request *r);
void api_events_get(struct api_request *r);
void api_events_list(struct api_request *r);

/* Body limit for POST /v1/events by content type. */
size_t api_events_body_limit(struct api_request *r);

#endif
