/* The route table: the one file that knows every route file. */
#include "api_table.h"

#include "api_deliveries.h"
#include "api_events.h"
#include "api_health.h"
#include "api_keys.h"
#include "api_metrics.h"
#include "api_operations.h"
#include "api_relays.h"
#include "api_stats.h"
#include "api_subscriptions.h"
#include "api_ui.h"

#define SMALL_BODY_LIMIT (64 * 1024)
#define SCOPE_ANY (SCOPE_PUBLISH | SCOPE_SUBSCRIBE | SCOPE_ADMIN)
/* where the handler runs (struct api_route's db) */
#define DB true     /* on a database worker */
#define NO_DB false /* on the HTTP thread: it must not block */

static const struct api_route routes[] = {
	{"GET", "/healthz", 0, NO_DB, api_health_live, 0, NULL},
	{"GET", "/readyz", 0, DB, api_health_ready, 0, NULL},
	{"GET", "/metrics", SCOPE_ADMIN, NO_DB, api_metrics_get, 0, NULL},
	{"GET", "/v1/stats", SCOPE_ADMIN, NO_DB, api_stats_get, 0, NULL},
	{"GET", "/v1/relays", SCOPE_ADMIN, NO_DB, api_relays_get, 0, NULL},
	{"GET", "/ui", 0, NO_DB, api_ui_redirect, 0, NULL},
	{"GET", "/ui/", 0, NO_DB, api_ui_get, 0, NULL},
	{"GET", "/ui/{}", 0, NO_DB, api_ui_get, 0, NULL},
	{"POST", "/v1/events", SCOPE_PUBLISH, NO_DB, api_events_post, 0,
	 api_events_body_limit},
	/* any key: the handlers decide what each may read (api_events.c) */
	{"GET", "/v1/events", SCOPE_ANY, DB, api_events_list, 0, NULL},
	{"GET", "/v1/events/{}", SCOPE_ANY, DB, api_events_get, 0, NULL},
	{"POST", "/v1/subscriptions", SCOPE_SUBSCRIBE, DB,
	 api_subscriptions_create, SMALL_BODY_LIMIT, NULL},
	{"GET", "/v1/subscriptions", SCOPE_SUBSCRIBE, DB,
	 api_subscriptions_list, 0, NULL},
	{"GET", "/v1/subscriptions/{}", SCOPE_SUBSCRIBE, DB,
	 api_subscriptions_get, 0, NULL},
	{"PUT", "/v1/subscriptions/{}", SCOPE_SUBSCRIBE, DB,
	 api_subscriptions_replace, SMALL_BODY_LIMIT, NULL},
	{"PATCH", "/v1/subscriptions/{}", SCOPE_SUBSCRIBE, DB,
	 api_subscriptions_patch, SMALL_BODY_LIMIT, NULL},
	{"DELETE", "/v1/subscriptions/{}", SCOPE_SUBSCRIBE, DB,
	 api_subscriptions_delete, 0, NULL},
	{"POST", "/v1/subscriptions/{}/rotate-secret", SCOPE_SUBSCRIBE, DB,
	 api_subscriptions_rotate, SMALL_BODY_LIMIT, NULL},
	{"GET", "/v1/subscriptions/{}/deliveries", SCOPE_SUBSCRIBE, DB,
	 api_deliveries_list, 0, NULL},
	{"GET", "/v1/subscriptions/{}/deliveries/{}", SCOPE_SUBSCRIBE, DB,
	 api_deliveries_get, 0, NULL},
	{"POST", "/v1/subscriptions/{}/deliveries/{}/retry", SCOPE_SUBSCRIBE, DB,
	 api_deliveries_retry, SMALL_BODY_LIMIT, NULL},
	{"POST", "/v1/subscriptions/{}/replay", SCOPE_SUBSCRIBE, DB,
	 api_operations_replay, SMALL_BODY_LIMIT, NULL},
	{"GET", "/v1/subscriptions/{}/operations", SCOPE_SUBSCRIBE, DB,
	 api_operations_list, 0, NULL},
	{"GET", "/v1/subscriptions/{}/operations/{}", SCOPE_SUBSCRIBE, DB,
	 api_operations_get, 0, NULL},
	{"POST", "/v1/subscriptions/{}/operations/{}/cancel", SCOPE_SUBSCRIBE, DB,
	 api_operations_cancel, SMALL_BODY_LIMIT, NULL},
	{"POST", "/v1/keys", SCOPE_ADMIN, DB, api_keys_create, SMALL_BODY_LIMIT,
	 NULL},
	{"GET", "/v1/keys", SCOPE_ADMIN, DB, api_keys_list, 0, NULL},
	/* before /v1/keys/{}: any key may ask about itself */
	{"GET", "/v1/keys/self", SCOPE_PUBLISH | SCOPE_SUBSCRIBE | SCOPE_ADMIN,
	 NO_DB, api_keys_self, 0, NULL},
	{"DELETE", "/v1/keys/{}", SCOPE_ADMIN, DB, api_keys_delete, 0, NULL},
};

const struct api_route *
api_table(size_t *n)
{
	*n = sizeof(routes) / sizeof(routes[0]);
	return routes;
}
