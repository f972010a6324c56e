/* The delivery routes of a subscription: list, show with attempts, retry, replay. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_deliveries.h"
#include "keyhead.h"
#include "cloudevent.h"
#include "delivery.h"
#include "filter.h"
#include "jsonexact.h"
#include "log.h"
#include "opevent.h"
#include "srcscope.h"
#include "subscription.h"
#include "text.h"
#include "xalloc.h"

#define LIST_DEFAULT 100
#define LIST_MAX 1000
#define REPLAY_PAGE 1000 /* rows per replay transaction */

#define DELIVERY_COLUMNS \
	"d.seq, e.id, e.source, d.state, d.attempts, " \
	STORE_RFC3339("d.next_attempt_at") ", d.last_status, d.last_error"

/* $2 is the caller's tenant, or NULL for an admin, who sees every tenant. */
static const struct store_stmt get_sub = {
	"deliv_get_sub",
	"SELECT s.config::text FROM subscription s"
	" WHERE s.id = $1 AND ($2::bigint IS NULL OR s.tenant = $2)",
	2};

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
	"  a.response_head"
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

static const struct store_stmt failed_page = {
	"deliv_failed_page",
	"SELECT d.seq, d.ordering_key FROM delivery d"
	" WHERE d.subscription_id = $1 AND d.state = $4 AND d.seq > $2"
	" ORDER BY d.seq LIMIT $3",
	4};

/* herald_delivery_requeue_failed (sql/003). */
static const struct store_stmt requeue_failed = {
	"deliv_requeue_failed",
	"SELECT herald_delivery_requeue_failed($1::uuid, $2::int8[], $3::text[],"
	" $4::int8[])",
	4};

/* The first seq received at or after a time; the cast also validates it. */
static const struct store_stmt since_start = {
	"deliv_since_start",
	"SELECT min(e.seq) FROM event e WHERE e.received_at >= $1::timestamptz",
	1};

/* Candidate events of a replay page: source and types narrow in SQL,
 * sub_matches decides.  The data comes too when $6 (a data filter
 * looks at it). */
static const struct store_stmt events_page = {
	"deliv_events_page",
	"SELECT e.seq, e.attrs::text, e.data_kind,"
	"  CASE WHEN $6::bool THEN e.data END FROM event e"
	" WHERE e.seq > $1"
	"   AND ($2::timestamptz IS NULL OR e.received_at >= $2::timestamptz)"
	"   AND ($3::text IS NULL OR e.source = $3)"
	"   AND ($4::text[] IS NULL OR e.type = ANY ($4::text[]))"
	" ORDER BY e.seq LIMIT $5",
	6};

/* The sources of the subscription's owner (NULL: no limit), which a
 * replay keeps to as the writers' fan-out does (subcache.c). */
static const struct store_stmt owner_sources = {
	"deliv_owner_sources",
	"SELECT array_to_json(k.sources)::text FROM subscription s"
	" LEFT JOIN api_key k ON k.id = s.tenant WHERE s.id = $1",
	1};

/* herald_delivery_replay (sql/003): a row that is not pending is sent
 * again under the subscription's current ordering; a pending one is left
 * alone (and not counted). */
static const struct store_stmt replay_deliveries = {
	"deliv_replay",
	"SELECT herald_delivery_replay($1::uuid, $2::int8[], $3::text[],"
	" $4::int4[], $5::int8[])",
	5};

/* --- helpers --- */

static void
sub_not_found(struct api_request *r)
{
	api_reply_error(r, MHD_HTTP_NOT_FOUND, "not_found", "no subscription %s",
			r->params[0]);
}

static void
delivery_not_found(struct api_request *r)
{
	api_reply_error(r, MHD_HTTP_NOT_FOUND, "not_found",
			"no delivery %s of subscription %s", r->params[1],
			r->params[0]);
}

/* The path's subscription id, or a 404 reply and false. */
static bool
path_id(struct api_request *r)
{
	if (api_is_uuid(r->params[0]))
		return true;
	sub_not_found(r);
	return false;
}

/* The path's seq (decimal, 1..INT64_MAX) into buf, or a 404 reply. */
static bool
path_seq(struct api_request *r, char *buf, size_t len)
{
	const char *s = r->params[1];
	char *end;
	long long v;

	if (s[0] < '0' || s[0] > '9')
		goto bad;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 1)
		goto bad;
	snprintf(buf, len, "%lld", v);
	return true;
bad:
	delivery_not_found(r);
	return false;
}

/*
 * Check that the subscription exists and is the caller's.  Returns 1
 * (found; *config set to a malloc'd copy of its config when config is not
 * NULL), 0 (404 replied) or -1 (a database failure replied).
 */
static int
find_sub(struct api_request *r, struct store_conn *c, char **config)
{
	char tbuf[24];
	const char *values[2] = {r->params[0], api_tenant(r, tbuf, sizeof(tbuf))};
	PGresult *res = store_exec(c, &get_sub, values, NULL, NULL);
	int rc;

	if (!api_db_ok(r, c, res, PGRES_TUPLES_OK, get_sub.name)) {
		rc = -1;
	} else if (PQntuples(res) == 0) {
		sub_not_found(r);
		rc = 0;
	} else {
		if (config)
			*config = xstrdup(PQgetvalue(res, 0, 0));
		rc = 1;
	}
	PQclear(res);
	return rc;
}

/* The path's subscription's owner's sources into packed; false after a
 * reply. */
static bool
find_owner_sources(struct api_request *r, struct store_conn *c,
		   char packed[SRCSCOPE_SIZE])
{
	PGresult *res = store_exec(c, &owner_sources, (const char *[]){r->params[0]},
				   NULL, NULL);
	bool ok = false;

	if (!api_db_ok(r, c, res, PGRES_TUPLES_OK, owner_sources.name)) {
		/* answered */
	} else if (PQntuples(res) == 0) {
		sub_not_found(r); /* deleted meanwhile */
	} else if (srcscope_from_stored(PQgetisnull(res, 0, 0) ? NULL :
					PQgetvalue(res, 0, 0), packed) != 0) {
		log_with(LOG_ERROR, &(struct log_ids){.subscription = r->params[0]},
			 "replay: the owner's stored sources are invalid");
		api_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
				"the subscription's owner is unreadable");
	} else {
		ok = true;
	}
	PQclear(res);
	return ok;
}

static void
add_int_or_null(cJSON *o, const char *name, PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		cJSON_AddNullToObject(o, name);
	else
		cJSON_AddNumberToObject(o, name,
					(double)strtoll(PQgetvalue(res, row, col),
							NULL, 10));
}

static void
add_text_or_null(cJSON *o, const char *name, PGresult *res, int row, int col)
{
	if (PQgetisnull(res, row, col))
		cJSON_AddNullToObject(o, name);
	else
		cJSON_AddStringToObject(o, name, PQgetvalue(res, row, col));
}

/* One row of DELIVERY_COLUMNS as the API shows it. */
static cJSON *
delivery_json(PGresult *res, int row)
{
	cJSON *o = cJSON_CreateObject();

	add_int_or_null(o, "seq", res, row, 0);
	cJSON_AddStringToObject(o, "event_id", PQgetvalue(res, row, 1));
	cJSON_AddStringToObject(o, "source", PQgetvalue(res, row, 2));
	cJSON_AddStringToObject(o, "state", PQgetvalue(res, row, 3));
	add_int_or_null(o, "attempts", res, row, 4);
	cJSON_AddStringToObject(o, "next_attempt_at", PQgetvalue(res, row, 5));
	add_int_or_null(o, "last_status", res, row, 6);
	add_text_or_null(o, "last_error", res, row, 7);
	return o;
}

/* The count a herald_delivery_* function returned. */
static long long
returned_count(PGresult *res)
{
	return PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) ?
	       strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
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

	if (!path_id(r))
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
	if (find_sub(r, c, NULL) != 1)
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
		add_int_or_null(o, "next_after", res, n - 1, 0);
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

	if (!path_id(r) || !path_seq(r, seq, sizeof(seq)))
		return;
	if ((c = api_db(r)) == NULL)
		return;
	if (find_sub(r, c, NULL) != 1)
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
		add_int_or_null(a, "status", att, i, 1);
		add_int_or_null(a, "latency_ms", att, i, 2);
		add_text_or_null(a, "error", att, i, 3);
		add_text_or_null(a, "response", att, i, 4);
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

	if (!path_id(r) || !path_seq(r, seq, sizeof(seq)))
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
		if (find_sub(r, c, NULL) == 1)
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

/* --- replay --- */

enum replay_kind {
	REPLAY_FAILED,
	REPLAY_FROM_SEQ,
	REPLAY_SINCE,
};

struct replay_req {
	enum replay_kind kind;
	long long from_seq;
	const char *since; /* points into the body */
};

static void
replay_invalid(struct api_request *r, const char *field, const char *msg)
{
	struct herald_error err;

	memset(&err, 0, sizeof(err));
	err.index = -1;
	snprintf(err.code, sizeof(err.code), "invalid_field");
	snprintf(err.field, sizeof(err.field), "%s", field);
	snprintf(err.message, sizeof(err.message), "%s", msg);
	api_reply_invalid(r, MHD_HTTP_BAD_REQUEST, &err);
}

/* Exactly one of state ("failed"), from_seq (integer >= 1) or since
 * (RFC 3339); anything else is a 400. */
static bool
replay_parse(struct api_request *r, const cJSON *body, struct replay_req *q)
{
	const cJSON *m;
	int n = 0;

	if (!cJSON_IsObject(body)) {
		replay_invalid(r, "", "the body must be a JSON object");
		return false;
	}
	for (m = body->child; m; m = m->next)
		n++;
	m = body->child;
	if (n != 1) {
		replay_invalid(r, "", "give exactly one of state, from_seq or since");
		return false;
	}
	if (strcmp(m->string, "state") == 0) {
		enum delivery_state st;

		if (!cJSON_IsString(m) || !delivery_state_parse(m->valuestring, &st) ||
		    st != DELIVERY_FAILED) {
			char msg[64];

			snprintf(msg, sizeof(msg), "state must be \"%s\"",
				 delivery_state_name(DELIVERY_FAILED));
			replay_invalid(r, "state", msg);
			return false;
		}
		q->kind = REPLAY_FAILED;
	} else if (strcmp(m->string, "from_seq") == 0) {
		double d = cJSON_IsNumber(m) ? m->valuedouble : 0;

		if (!cJSON_IsNumber(m) || d < 1 || d > 9007199254740992.0 ||
		    d != floor(d)) {
			replay_invalid(r, "from_seq",
				       "from_seq must be an integer of at least 1");
			return false;
		}
		q->kind = REPLAY_FROM_SEQ;
		q->from_seq = (long long)d;
	} else if (strcmp(m->string, "since") == 0) {
		if (!cJSON_IsString(m) || !text_rfc3339_valid(m->valuestring)) {
			replay_invalid(r, "since",
				       "since must be an RFC 3339 date-time");
			return false;
		}
		q->kind = REPLAY_SINCE;
		q->since = m->valuestring;
	} else {
		replay_invalid(r, m->string,
			       "unknown field; give one of state, from_seq or since");
		return false;
	}
	return true;
}

/* Re-queue every failed delivery of the subscription, a page per
 * transaction.  Adds to *count; false after replying to a database
 * failure. */
static bool
replay_failed(struct api_request *r, struct store_conn *c, const char *sub_id,
	      long long *count)
{
	char cursor[24] = "0", page[24];
	PGresult *res = NULL;
	int n;

	snprintf(page, sizeof(page), "%d", REPLAY_PAGE);
	do {
		const char *values[4] = {sub_id, cursor, page,
					 delivery_state_name(DELIVERY_FAILED)};
		struct keyhead_set ks = {0};
		struct store_array seqs, keys, locks;
		const char *uv[4];
		int ul[4], uf[4] = {0, 1, 1, 1};

		res = store_exec(c, &failed_page, values, NULL, NULL);
		if (!api_db_ok(r, c, res, PGRES_TUPLES_OK, failed_page.name))
			goto fail;
		n = PQntuples(res);
		if (n == 0)
			break;
		store_array_init(&seqs, STORE_OID_INT8);
		store_array_init(&keys, STORE_OID_TEXT);
		for (int i = 0; i < n; i++) {
			const char *key = PQgetisnull(res, i, 1) ? NULL :
				PQgetvalue(res, i, 1);

			store_array_add_int(&seqs, strtoll(PQgetvalue(res, i, 0),
							   NULL, 10));
			store_array_add(&keys, key, key ? strlen(key) : 0);
			keyhead_add(&ks, sub_id, key);
		}
		snprintf(cursor, sizeof(cursor), "%s", PQgetvalue(res, n - 1, 0));
		PQclear(res);
		uv[0] = sub_id;
		ul[0] = 0;
		uv[1] = store_array_param(&seqs, &ul[1]);
		uv[2] = store_array_param(&keys, &ul[2]);
		uv[3] = keyhead_locks_param(&ks, &locks, &ul[3]);
		res = store_exec(c, &requeue_failed, uv, ul, uf);
		store_array_free(&seqs);
		store_array_free(&keys);
		store_array_free(&locks);
		keyhead_free(&ks);
		if (!api_db_ok(r, c, res, PGRES_TUPLES_OK, requeue_failed.name))
			goto fail;
		*count += returned_count(res);
		PQclear(res);
		res = NULL;
	} while (n == REPLAY_PAGE);
	PQclear(res);
	return true;
fail:
	PQclear(res);
	return false;
}

/* Deliver again every stored event after *cursor (and received at or
 * after since, when given) that matches the subscription, a page per
 * transaction.  Adds to *count; false after replying to a database
 * failure. */
static bool
replay_events(struct api_request *r, struct store_conn *c, const char *sub_id,
	      const struct subscription *sub, const char *owner,
	      long long cursor, const char *since, long long *count)
{
	struct store_array types;
	const char *types_param = NULL;
	int types_len = 0;
	char cursor_s[24], page[24];
	PGresult *res = NULL;
	bool ok = false, with_data = filter_needs_data(sub->filter);
	int n;

	store_array_init(&types, STORE_OID_TEXT);
	if (sub->ntypes > 0) {
		for (size_t i = 0; i < sub->ntypes; i++)
			store_array_add(&types, sub->types[i], strlen(sub->types[i]));
		types_param = store_array_param(&types, &types_len);
	}
	snprintf(page, sizeof(page), "%d", REPLAY_PAGE);
	do {
		const char *values[6];
		int lengths[6] = {0, 0, 0, types_len, 0, 0};
		int formats[6] = {0, 0, 0, 1, 0, 0};
		struct keyhead_set ks = {0};
		struct store_array seqs, keys, parts, locks;
		const char *uv[5];
		int ul[5], uf[5] = {0, 1, 1, 1, 1}, matched = 0;

		snprintf(cursor_s, sizeof(cursor_s), "%lld", cursor);
		values[0] = cursor_s;
		values[1] = since;
		values[2] = sub->source;
		values[3] = types_param;
		values[4] = page;
		values[5] = with_data ? "true" : "false";
		res = store_exec(c, &events_page, values, lengths, formats);
		if (!api_db_ok(r, c, res, PGRES_TUPLES_OK, events_page.name))
			goto out;
		n = PQntuples(res);
		if (n == 0)
			break;
		store_array_init(&seqs, STORE_OID_INT8);
		store_array_init(&keys, STORE_OID_TEXT);
		store_array_init(&parts, STORE_OID_INT4);
		for (int i = 0; i < n; i++) {
			int64_t seq = strtoll(PQgetvalue(res, i, 0), NULL, 10);
			struct cloudevent ev;
			unsigned char *data = NULL;
			size_t data_len = 0;
			const char *key;
			int rc;

			/* matching needs the attributes, and the data only
			 * for a data filter */
			if (with_data && !PQgetisnull(res, i, 3))
				data = PQunescapeBytea(
					(const unsigned char *)PQgetvalue(res, i, 3),
					&data_len);
			rc = ce_from_stored(PQgetvalue(res, i, 1), data, data_len,
					    data != NULL ?
					    (enum ce_data_kind)atoi(PQgetvalue(res, i, 2)) :
					    CE_DATA_NONE, &ev);
			PQfreemem(data);
			if (rc != 0) {
				log_with(LOG_WARN, &(struct log_ids){
						 .subscription = r->params[0],
						 .seq = seq},
					 "replay: an unreadable event is skipped");
				continue;
			}
			/* an owner with sources: only those, never herald's
			 * own (which concern every tenant) */
			if ((!srcscope_limited(owner) ||
			     (!opevent_source_reserved(ev.source) &&
			      srcscope_allows(owner, ev.source))) &&
			    sub_matches(sub, &ev, NULL)) {
				key = sub_ordering_key(sub, &ev);
				store_array_add_int(&seqs, seq);
				store_array_add(&keys, key, key ? strlen(key) : 0);
				store_array_add_int(&parts,
						    keyhead_partition(sub_id, key, seq));
				keyhead_add(&ks, sub_id, key);
				matched++;
			}
			ce_free(&ev);
		}
		cursor = strtoll(PQgetvalue(res, n - 1, 0), NULL, 10);
		PQclear(res);
		res = NULL;
		if (matched > 0) {
			uv[0] = sub_id;
			ul[0] = 0;
			uv[1] = store_array_param(&seqs, &ul[1]);
			uv[2] = store_array_param(&keys, &ul[2]);
			uv[3] = store_array_param(&parts, &ul[3]);
			uv[4] = keyhead_locks_param(&ks, &locks, &ul[4]);
			res = store_exec(c, &replay_deliveries, uv, ul, uf);
			store_array_free(&locks);
		}
		store_array_free(&seqs);
		store_array_free(&keys);
		store_array_free(&parts);
		keyhead_free(&ks);
		if (matched > 0) {
			if (!api_db_ok(r, c, res, PGRES_TUPLES_OK,
				       replay_deliveries.name))
				goto out;
			*count += returned_count(res);
			PQclear(res);
			res = NULL;
		}
	} while (n == REPLAY_PAGE);
	ok = true;
out:
	PQclear(res);
	store_array_free(&types);
	return ok;
}

/* The seq to start after for since: -1 when no event is that recent,
 * -2 after a reply (400: PostgreSQL refused the time; or a database
 * failure). */
static long long
since_cursor(struct api_request *r, struct store_conn *c, const char *since)
{
	PGresult *res = store_exec(c, &since_start, &since, NULL, NULL);
	const char *state = store_sqlstate(res);
	long long out = -2;

	if (state != NULL && strncmp(state, "22", 2) == 0) {
		/* data exception: not a time PostgreSQL can take, the
		 * caller's mistake (not logged) */
		replay_invalid(r, "since", "since is not a valid date-time");
	} else if (api_db_ok(r, c, res, PGRES_TUPLES_OK, since_start.name)) {
		out = PQgetisnull(res, 0, 0) ? -1 :
			strtoll(PQgetvalue(res, 0, 0), NULL, 10) - 1;
	}
	PQclear(res);
	return out;
}

void
api_deliveries_replay(struct api_request *r)
{
	struct replay_req q;
	struct subscription sub;
	struct herald_error err;
	struct store_conn *c = NULL;
	char *config = NULL, owner[SRCSCOPE_SIZE];
	cJSON *body, *stored = NULL, *o;
	long long count = 0, cursor;
	bool parsed = false, ok;

	if (!path_id(r) || (body = api_body_json(r)) == NULL)
		return;
	memset(&q, 0, sizeof(q));
	if (!replay_parse(r, body, &q) || (c = api_db(r)) == NULL)
		goto out;
	if (find_sub(r, c, &config) != 1)
		goto out;
	if (q.kind == REPLAY_FAILED) {
		ok = replay_failed(r, c, r->params[0], &count);
	} else {
		memset(&err, 0, sizeof(err));
		err.index = -1;
		stored = jsonexact_parse(config, strlen(config));
		if (stored == NULL || sub_parse(stored, &sub, &err) != 0) {
			api_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
					"stored subscription is unreadable");
			goto out;
		}
		parsed = true;
		if (q.kind == REPLAY_SINCE) {
			cursor = since_cursor(r, c, q.since);
			if (cursor < -1)
				goto out;
		} else {
			cursor = q.from_seq - 1;
		}
		ok = cursor < 0 ||
		     (find_owner_sources(r, c, owner) &&
		      replay_events(r, c, r->params[0], &sub, owner, cursor,
				    q.kind == REPLAY_SINCE ? q.since : NULL,
				    &count));
	}
	if (!ok)
		goto out; /* answered */
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "requeued", (double)count);
	api_reply_json(r, MHD_HTTP_ACCEPTED, o);
out:
	if (parsed)
		sub_free(&sub);
	cJSON_Delete(stored);
	free(config);
	if (c)
		api_db_done(r, c);
	cJSON_Delete(body);
}
