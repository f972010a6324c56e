/* The health routes: liveness (no database) and readiness (the database answers, migrated). */
#include "api_health.h"

void
api_health_live(struct api_request *r)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "status", "ok");
	api_reply_json(r, MHD_HTTP_OK, o);
}

void
api_health_ready(struct api_request *r)
{
	/* a NULL connection's 503 is replaced below */
	struct store_conn *c = api_db(r);
	bool ok = c != NULL && store_ready(c);
	cJSON *o = cJSON_CreateObject();

	if (c)
		api_db_done(r, c);
	cJSON_AddStringToObject(o, "status", ok ? "ready" : "unavailable");
	if (!ok)
		cJSON_AddStringToObject(o, "error", "unavailable");
	if (!ok)
		cJSON_AddStringToObject(o, "message",
					"the database is unreachable or not migrated");
	api_reply_json(r, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, o);
}
