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
	struct store_conn *c = store_pool_get(r->env->pool, 2000);
	bool ok = c != NULL && store_ready(c);
	cJSON *o = cJSON_CreateObject();

	if (c)
		store_pool_put(r->env->pool, c);
	cJSON_AddStringToObject(o, "status", ok ? "ready" : "unavailable");
	if (!ok)
		cJSON_AddStringToObject(o, "error", "unavailable");
	if (!ok)
		cJSON_AddStringToObject(o, "message",
					"the database is unreachable or not migrated");
	api_reply_json(r, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, o);
}
