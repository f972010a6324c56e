/* The relays' route: GET /v1/relays, each relay of this instance with its slot, position, lag and last error. */
#ifndef HERALD_API_RELAYS_H
#define HERALD_API_RELAYS_H

#include "api_http.h"

void api_relays_get(struct api_request *r);

#endif
