/* The delivery routes of a subscription: list, show with attempts, retry, replay. */
#include "api_routes.h"

void
api_deliveries_list(struct api_request *r)
{
	api_reply_error(r, MHD_HTTP_NOT_IMPLEMENTED, "not_implemented", "not yet");
}

void
api_deliveries_get(struct api_request *r)
{
	api_reply_error(r, MHD_HTTP_NOT_IMPLEMENTED, "not_implemented", "not yet");
}

void
api_deliveries_retry(struct api_request *r)
{
	api_reply_error(r, MHD_HTTP_NOT_IMPLEMENTED, "not_implemented", "not yet");
}

void
api_deliveries_replay(struct api_request *r)
{
	api_reply_error(r, MHD_HTTP_NOT_IMPLEMENTED, "not_implemented", "not yet");
}
