/* The console's history route: GET /v1/stats, this instance's figures over the last hour, interval by interval. */
#include "api_stats.h"

#include <math.h>
#include <stdlib.h>

#include "metrics.h"
#include "stats.h"
#include "text.h"

static cJSON *
interval_json(const struct statring_interval *v)
{
	cJSON *o = cJSON_CreateObject(), *x;
	char at[40];

	if (text_rfc3339_format(v->at, at, sizeof(at)))
		cJSON_AddStringToObject(o, "at", at);
	else
		cJSON_AddNullToObject(o, "at");
	cJSON_AddNumberToObject(o, "seconds", round(v->seconds * 1000) / 1000);
	x = cJSON_AddObjectToObject(o, "ingested");
	for (int i = 0; i < METRICS_NINGEST; i++)
		cJSON_AddNumberToObject(x, metrics_ingest_name(i),
					(double)v->d.ingested[i]);
	x = cJSON_AddObjectToObject(o, "attempts");
	for (int i = 0; i < METRICS_NOUTCOMES; i++)
		cJSON_AddNumberToObject(x, metrics_outcome_name(i),
					(double)v->d.attempts[i]);
	cJSON_AddNumberToObject(o, "failed", (double)v->d.failed);
	if (!v->backlog_known) {
		cJSON_AddNullToObject(o, "backlog");
		return o;
	}
	x = cJSON_AddObjectToObject(o, "backlog");
	cJSON_AddNumberToObject(x, "due", (double)v->due);
	cJSON_AddNumberToObject(x, "not_due", (double)v->not_due);
	cJSON_AddNumberToObject(x, "oldest_due_seconds",
				round(v->oldest_s * 1000) / 1000);
	return o;
}

/* Reads memory only (a copy of the ring, under its lock): it runs on
 * the HTTP thread. */
void
api_stats_get(struct api_request *r)
{
	long long window;
	struct statring_interval *v;
	size_t n;
	cJSON *o, *arr;

	if (!api_query_long(r, "window", STATS_SAMPLES * STATS_INTERVAL_MS / 1000,
			    STATS_INTERVAL_MS / 1000,
			    STATS_SAMPLES * STATS_INTERVAL_MS / 1000, &window))
		return;
	v = stats_window((double)window, &n);
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "interval_seconds", STATS_INTERVAL_MS / 1000);
	cJSON_AddNumberToObject(o, "window_seconds", (double)window);
	arr = cJSON_AddArrayToObject(o, "intervals");
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(arr, interval_json(&v[i]));
	free(v);
	api_reply_json(r, MHD_HTTP_OK, o);
}
