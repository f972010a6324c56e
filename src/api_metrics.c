/* The metrics route: GET /metrics, the Prometheus text exposition. */
#include "api_metrics.h"

#include "metrics.h"

/* Prometheus's text format, version 0.0.4. */
#define EXPOSITION "text/plain; version=0.0.4; charset=utf-8"

/* Reads atomics only: it runs on the HTTP thread and never blocks. */
void
api_metrics_get(struct api_request *r)
{
	api_reply_text(r, MHD_HTTP_OK, EXPOSITION, metrics_render());
}
