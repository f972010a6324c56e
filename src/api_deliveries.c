/* The delivery routes of a subscription: list, show with attempts, retry one. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_deliveries.h"
#include "keyhead.h"
#include "delivery.h"
#include "filter.h"
#include "jsonexact.h"
#include "log.h"

#define LIST_DEFAULT 100
#define LIST_MAX 1000

#define DELIVERY_COLUMNS \
	"d.seq, e.id, e.source, d.state, d.attempts, " \
	STORE_RFC3339("d.next_attempt_at") ", d.last_status, d.last_error," \
	" d.last_sink"

/* $2 is the caller's tenant, or NULL for an admin, who sees every tenant. */
static const struct store_stmt list_deliveries = {
	"deliv_list",
	"SELECT " DELIVERY_COLUMNS
	" FROM delivery d JOIN event e ON e.seq = d.seq"
	" WHERE d.subscription_id = $1 AND ($2::text IS NULL OR d.state = $2)"
	"   AND d.seq > $3"
	" ORDER BY d.seq LIMIT $4",
	4};

static const struct store_stmt get_delivery = {
	"deliv_get",
	"SELECT " DELIVERY_COLUMNS
	" FROM delivery d JOIN event e ON e.seq = d.seq"
	" WHERE d.subscription_id = $1 AND d.seq = $2",
	2};

static const struct store_stmt list_attempts = {
	"deliv_attempts",
	"SELECT " STORE_RFC3339("a.at") ", a.status, a.latency_ms, a.error,"
	"  a.response_head, a.sink"
	" FROM attempt a WHERE a.subscription_id = $1 AND a.seq = $2"
	" ORDER BY a.id",
	2};

/* The row to retry, with the tenant check. */
static const struct store_stmt retry_find = {
	"deliv_retry_find",
	"SELECT d.ordering_key, d.state"
	" FROM delivery d JOIN subscription s ON s.id = d.subscription_id"
	" WHERE d.subscription_id = $1 AND d.seq = $2"
	"   AND ($3::bigint IS NULL OR s.tenant = $3)",
	3};

/* herald_delivery_retry (sql/003): re-queued under the key's lock. */
static const struct store_stmt retry_requeue = {
	"deliv_retry",
	"SELECT herald_delivery_retry($1::uuid, $2::int8, $3, $4::int8[])",
	4};

/* --- helpers --- */

static void
delivery_not_found(struct api_request *r)
{
	api_reply_error(r, MHD_HTTP_NOT_FOUND, "not_found",
			"no delivery %s of subscription %s", r->params[1],
			r->params[0]);
}

/* The path's seq (decimal, 1..INT64_MAX) into buf, or a 404 reply. */
static bool
path_seq(struct api_request *r, char *buf, size_t len)
{
	if (api_path_number(r->params[1], buf, len))
		return true;
	delivery_not_found(r);
	return false;
}

/* One row of DELIVERY_COLUMNS as the API shows it. */
static cJSON *
delivery_json(PGresult *res, int row)
{
	cJSON *o = cJSON_CreateObject();

	api_json_int_or_null(o, "seq", res, row, 0);
	cJSON_AddStringToObject(o, "event_id", PQgetvalue(res, row, 1));
	cJSON_AddStringToObject(o, "source", PQgetvalue(res, row, 2));
	cJSON_AddStringToObject(o, "state", PQgetvalue(res, row, 3));
	api_json_int_or_null(o, "attempts", res, row, 4);
	cJSON_AddStringToObject(o, "next_attempt_at", PQgetvalue(res, row, 5));
	api_json_int_or_null(o, "last_status", res, row, 6);
	api_json_text_or_null(o, "last_error", res, row, 7);
	/* a consumer group's member that took the last attempt */
	api_json_text_or_null(o, "last_sink", res, row, 8);
	return o;
}

/* --- routes --- */

void
api_deliveries_list(struct api_request *r)
{
	const char *state = api_query(r, "state");
	enum delivery_state want;
	char after_s[24], limit_s[24];
	const char *values[4];
	long long after, limit;
	struct store_conn *c;
	PGresult *res = NULL;
	cJSON *o, *items;
	int n;

	if (!api_path_subscription(r))
		return;
	if (state != NULL && state[0] == '\0')
		state = NULL;
	if (state != NULL && !delivery_state_parse(state, &want)) {
		api_reply_error(r, MHD_HTTP_BAD_REQUEST, "invalid_parameter",
				"state must be pending, succeeded or failed");
		return;
	}
	if (!api_query_long(r, "after", 0, 0, LLONG_MAX, &after) ||
	    !api_query_long(r, "limit", LIST_DEFAULT, 1, LIST_MAX, &limit))
		return;
	if ((c = api_db(r)) == NULL)
		return;
	if (api_find_subscription(r, c, NULL) != 1)
		goto out;
	snprintf(after_s, sizeof(after_s), "%lld", after);
	snprintf(limit_s, sizeof(limit_s), "%lld", limit);
	values[0] = r->params[0];
	values[1] = state ? delivery_state_name(want) : NULL;
	values[2] = after_s;
	values[3] = limit_s;
	res = store_exec(c, &list_deliveries, values, NULL, NULL);
	if (!api_db_ok(r, c, res, PGRES_TUPLES_OK, list_deliveries.name))
		goto out;
	n = PQntuples(res);
	o = cJSON_CreateObject();
	items = cJSON_AddArrayToObject(o, "items");
	for (int i = 0; i < n; i++)
		cJSON_AddItemToArray(items, delivery_json(res, i));
	if (n > 0 && n == limit)
		api_json_int_or_null(o, "next_after", res, n - 1, 0);
	else
		cJSON_AddNullToObject(o, "next_after");
	api_reply_json(r, MHD_HTTP_OK, o);
out:
	PQclear(res);
	api_db_done(r, c);
}

void
api_deliveries_get(struct api_request *r)
{
	char seq[24];
	const char *values[2];
	struct store_conn *c;
	PGresult *res = NULL, *att = NULL;
	cJSON *o, *log;

	if (!api_path_subscription(r) || !path_seq(r, seq, sizeof(seq)))
		return;
	if ((c = api_db(r)) == NULL)
		return;
	if (api_find_subscription(r, c, NULL) != 1)
		goto out;
	values[0] = r->params[0];
	values[1] = seq;
	res = store_exec(c, &get_delivery, values, NULL, NULL);
	if (!api_db_ok(r, c, res, PGRES_TUPLES_OK, get_delivery.name))
		goto out;
	if (PQntuples(res) == 0) {
		delivery_not_found(r);
		goto out;
	}
	att = store_exec(c, &list_attempts, values, NULL, NULL);
	if (!api_db_ok(r, c, att, PGRES_TUPLES_OK, list_attempts.name))
		goto out;
	o = delivery_json(res, 0);
	log = cJSON_AddArrayToObject(o, "attempt_log");
	for (int i = 0; i < PQntuples(att); i++) {
		cJSON *a = cJSON_CreateObject();

		cJSON_AddStringToObject(a, "at", PQgetvalue(att, i, 0));
		api_json_int_or_null(a, "status", att, i, 1);
		api_json_int_or_null(a, "latency_ms", att, i, 2);
		api_json_text_or_null(a, "error", att, i, 3);
		api_json_text_or_null(a, "response", att, i, 4);
		api_json_text_or_null(a, "sink", att, i, 5);
		cJSON_AddItemToArray(log, a);
	}
	api_reply_json(r, MHD_HTTP_OK, o);
out:
	PQclear(att);
	PQclear(res);
	api_db_done(r, c);
}

void
api_deliveries_retry(struct api_request *r)
{
	char seq[24], tbuf[24];
	const char *values[4];
	int lengths[4] = {0, 0, 0, 0}, formats[4] = {0, 0, 0, 1};
	struct keyhead_set ks = {0};
	struct store_array locks = {0};
	enum delivery_state state;
	struct store_conn *c;
	PGresult *res = NULL;
	cJSON *o;

	if (!api_path_subscription(r) || !path_seq(r, seq, sizeof(seq)))
		return;
	if ((c = api_db(r)) == NULL)
		return;
	values[0] = r->params[0];
	values[1] = seq;
	values[2] = api_tenant(r, tbuf, sizeof(tbuf));
	res = store_exec(c, &retry_find, values, NULL, NULL);
	if (!api_db_ok(r, c, res, PGRES_TUPLES_OK, retry_find.name))
		goto out;
	if (PQntuples(res) == 0) {
		/* tell an unknown subscription from an unknown delivery */
		PQclear(res);
		res = NULL;
		if (api_find_subscription(r, c, NULL) == 1)
			delivery_not_found(r);
		goto out;
	}
	if (!delivery_state_parse(PQgetvalue(res, 0, 1), &state)) {
		log_with(LOG_ERROR, &(struct log_ids){.subscription = r->params[0],
						      .seq = strtoll(seq, NULL, 10)},
			 "deliveries: the delivery has an unknown state");
		api_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
				"the stored delivery is unreadable");
		goto out;
	}
	if (!delivery_state_final(state))
		goto conflict;
	/* the key as read: the function re-queues only if it is still the
	 * row's, under that key's lock */
	values[2] = PQgetisnull(res, 0, 0) ? NULL : PQgetvalue(res, 0, 0);
	keyhead_add(&ks, r->params[0], values[2]);
	values[3] = keyhead_locks_param(&ks, &locks, &lengths[3]);
	{
		PGresult *done = store_exec(c, &retry_requeue, values, lengths,
					    formats);

		PQclear(res);
		res = done;
	}
	if (!api_db_ok(r, c, res, PGRES_TUPLES_OK, retry_requeue.name))
		goto out;
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0)
		goto conflict; /* became pending meanwhile */
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "seq", (double)strtoll(seq, NULL, 10));
	cJSON_AddStringToObject(o, "state", delivery_state_name(DELIVERY_PENDING));
	api_reply_json(r, MHD_HTTP_ACCEPTED, o);
	goto out;
conflict:
	api_reply_error(r, MHD_HTTP_CONFLICT, "conflict",
			"delivery %s is pending; it can be retried once it has "
			"succeeded or failed", seq);
out:
	keyhead_free(&ks);
	store_array_free(&locks);
	PQclear(res);
	api_db_done(r, c);
}
