/* The relays' route: GET /v1/relays, each relay of this instance with its slot, position, lag and last error. */
#include "api_relays.h"

#include "relay.h"

/* Reads memory only: it runs on the HTTP thread. */
void
api_relays_get(struct api_request *r)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddItemToObject(o, "relays", relays_status());
	api_reply_json(r, MHD_HTTP_OK, o);
}
