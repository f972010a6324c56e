/* The bulk operation routes of a subscription: replay (as an operation, or a dry run), show, list, cancel. */
#include "api_operations.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bulkop.h"
#include "delivery.h"
#include "jsonexact.h"
#include "replay.h"
#include "subscription.h"
#include "text.h"
#include "xalloc.h"

/*
 * A replay or a requeue of failed deliveries costs in proportion to the
 * history it covers, so the request only records it (bulk_operation,
 * sql/007) and answers 202; the runner (bulkop.c) does the work.  A dry
 * run counts instead, within the request's deadline.
 */

#define LIST_DEFAULT 20
#define LIST_MAX 100

#define OP_COLUMNS \
	"o.id, o.kind, o.state, o.subscription_id::text, o.params::text," \
	" o.selected, o.enqueued, " STORE_RFC3339("o.created_at") ", " \
	STORE_RFC3339("o.started_at") ", " STORE_RFC3339("o.finished_at") \
	", o.error"
enum { C_ID, C_KIND, C_STATE, C_SUB, C_PARAMS, C_SELECTED, C_ENQUEUED,
       C_CREATED, C_STARTED, C_FINISHED, C_ERROR };

/* $2 is the caller's tenant, or NULL for an admin, who sees every tenant. */
/* The first seq received at or after a time; the cast also validates it. */
static const struct store_stmt since_start = {
	"ops_since_start",
	"SELECT min(e.seq) FROM event e WHERE e.received_at >= $1::timestamptz",
	1};

/* herald_bulkop_create (sql/007): the id, 0 (no such subscription) or -1
 * (at the cap). */
static const struct store_stmt create_op = {
	"ops_create",
	"SELECT herald_bulkop_create($1::uuid, $2::int8, $3, $4::jsonb,"
	" $5::int8, $6::timestamptz, $7::int4)",
	7};

static const struct store_stmt get_op = {
	"ops_get",
	"SELECT " OP_COLUMNS " FROM bulk_operation o"
	" JOIN subscription s ON s.id = o.subscription_id"
	" WHERE o.id = $1 AND o.subscription_id = $2"
	"   AND ($3::bigint IS NULL OR s.tenant = $3)",
	3};

static const struct store_stmt list_ops = {
	"ops_list",
	"SELECT " OP_COLUMNS " FROM bulk_operation o"
	" WHERE o.subscription_id = $1 AND o.id < $2"
	" ORDER BY o.id DESC LIMIT $3",
	3};

/* Waits for the chunk in progress, which holds the row. */
static const struct store_stmt cancel_op = {
	"ops_cancel",
	"UPDATE bulk_operation o SET state = 'cancelled', finished_at = now()"
	" FROM subscription s"
	" WHERE s.id = o.subscription_id AND o.id = $1 AND o.subscription_id = $2"
	"   AND ($3::bigint IS NULL OR s.tenant = $3)"
	"   AND o.state IN ('queued', 'running', 'interrupted')"
	" RETURNING " OP_COLUMNS,
	3};

/* --- helpers --- */

static void
op_not_found(struct api_request *r)
{
	api_reply_error(r, MHD_HTTP_NOT_FOUND, "not_found",
			"no operation %s of subscription %s", r->params[1],
			r->params[0]);
}

/* The path's operation id (decimal, 1..INT64_MAX) into buf, or a 404. */
static bool
path_op(struct api_request *r, char *buf, size_t len)
{
	if (api_path_number(r->params[1], buf, len))
		return true;
	op_not_found(r);
	return false;
}

/* One row of OP_COLUMNS as the API shows it. */
static cJSON *
op_json(PGresult *res, int row)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *params = cJSON_Parse(PQgetvalue(res, row, C_PARAMS));

	cJSON_AddStringToObject(o, "id", PQgetvalue(res, row, C_ID));
	cJSON_AddStringToObject(o, "kind", PQgetvalue(res, row, C_KIND));
	cJSON_AddStringToObject(o, "state", PQgetvalue(res, row, C_STATE));
	cJSON_AddStringToObject(o, "subscription", PQgetvalue(res, row, C_SUB));
	cJSON_AddItemToObject(o, "params",
			      params ? params : cJSON_CreateObject());
	cJSON_AddNumberToObject(o, "selected",
				(double)strtoll(PQgetvalue(res, row, C_SELECTED),
						NULL, 10));
	cJSON_AddNumberToObject(o, "enqueued",
				(double)strtoll(PQgetvalue(res, row, C_ENQUEUED),
						NULL, 10));
	cJSON_AddStringToObject(o, "created_at", PQgetvalue(res, row, C_CREATED));
	api_json_text_or_null(o, "started_at", res, row, C_STARTED);
	api_json_text_or_null(o, "finished_at", res, row, C_FINISHED);
	api_json_text_or_null(o, "error", res, row, C_ERROR);
	return o;
}

/* --- the replay request --- */

enum replay_what {
	WHAT_FAILED,
	WHAT_FROM_SEQ,
	WHAT_SINCE,
};

struct replay_req {
	enum replay_what what;
	long long from_seq;
	const char *since; /* points into the body */
	bool dry_run;
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

/* One selector (state "failed", from_seq an integer >= 1, or since an
 * RFC 3339 time), and dry_run (a boolean) when given; else a 400. */
static bool
replay_parse_one(struct api_request *r, const cJSON *m, struct replay_req *q)
{
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
		q->what = WHAT_FAILED;
	} else if (strcmp(m->string, "from_seq") == 0) {
		double d = cJSON_IsNumber(m) ? m->valuedouble : 0;

		if (!cJSON_IsNumber(m) || d < 1 || d > 9007199254740992.0 ||
		    d != floor(d)) {
			replay_invalid(r, "from_seq",
				       "from_seq must be an integer of at least 1");
			return false;
		}
		q->what = WHAT_FROM_SEQ;
		q->from_seq = (long long)d;
	} else if (strcmp(m->string, "since") == 0) {
		if (!cJSON_IsString(m) || !text_rfc3339_valid(m->valuestring)) {
			replay_invalid(r, "since",
				       "since must be an RFC 3339 date-time");
			return false;
		}
		q->what = WHAT_SINCE;
		q->since = m->valuestring;
	} else {
		replay_invalid(r, m->string,
			       "unknown field; give one of state, from_seq or since, "
			       "and dry_run");
		return false;
	}
	return true;
}

static bool
replay_parse(struct api_request *r, const cJSON *body, struct replay_req *q)
{
	const cJSON *m, *sel = NULL;
	int n = 0;

	if (!cJSON_IsObject(body)) {
		replay_invalid(r, "", "the body must be a JSON object");
		return false;
	}
	for (m = body->child; m; m = m->next) {
		if (strcmp(m->string, "dry_run") == 0) {
			if (!cJSON_IsBool(m)) {
				replay_invalid(r, "dry_run",
					       "dry_run must be true or false");
				return false;
			}
			q->dry_run = cJSON_IsTrue(m);
			continue;
		}
		sel = m;
		n++;
	}
	if (n != 1) {
		replay_invalid(r, "", "give exactly one of state, from_seq or since");
		return false;
	}
	return replay_parse_one(r, sel, q);
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

/* dry_run: answer how many a run would re-queue now. */
static void
dry_run(struct api_request *r, struct store_conn *c, const struct replay_req *q,
	const char *config, long long cursor)
{
	struct replay_range range;
	struct replay_owner owner;
	struct subscription sub;
	struct herald_error err;
	cJSON *stored = NULL, *o;
	enum store_status s;
	int64_t n = 0;
	bool parsed = false, found = false;

	memset(&range, 0, sizeof(range));
	range.sub_id = r->params[0];
	range.cursor = cursor;
	range.upper = INT64_MAX;
	if (q->what == WHAT_FAILED) {
		range.kind = REPLAY_FAILED;
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
		range.kind = REPLAY_EVENTS;
		range.sub = &sub;
		range.owner = &owner;
		range.since = q->since;
		s = replay_owner_load(c, range.sub_id, &owner, &found);
		if (s != STORE_OK) {
			api_reply_store(r, s);
			goto out;
		}
		if (!found) {
			api_reply_error(r, MHD_HTTP_NOT_FOUND, "not_found",
					"no such subscription");
			goto out;
		}
	}
	if (cursor >= 0) {
		s = replay_count(c, &range, &n);
		if (s != STORE_OK) {
			api_reply_store(r, s);
			goto out;
		}
	}
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "selected", (double)n);
	api_reply_json(r, MHD_HTTP_OK, o);
out:
	if (parsed)
		sub_free(&sub);
	cJSON_Delete(stored);
}

/* Record the operation; 202 with it, 409 at the cap. */
static void
create(struct api_request *r, struct store_conn *c, const struct replay_req *q,
       long long cursor)
{
	char tbuf[24], cur[24], cap[16];
	const char *values[7];
	cJSON *params = cJSON_CreateObject();
	char *params_text;
	PGresult *res;
	long long id;

	switch (q->what) {
	case WHAT_FAILED:
		cJSON_AddStringToObject(params, "state",
					delivery_state_name(DELIVERY_FAILED));
		break;
	case WHAT_FROM_SEQ:
		cJSON_AddNumberToObject(params, "from_seq", (double)q->from_seq);
		break;
	case WHAT_SINCE:
		cJSON_AddStringToObject(params, "since", q->since);
		break;
	}
	params_text = cJSON_PrintUnformatted(params);
	cJSON_Delete(params);
	/* since with no event that recent: an operation that finds nothing */
	snprintf(cur, sizeof(cur), "%lld", cursor < 0 ? LLONG_MAX : cursor);
	snprintf(cap, sizeof(cap), "%d", BULKOP_MAX_ACTIVE);
	values[0] = r->params[0];
	values[1] = api_tenant(r, tbuf, sizeof(tbuf));
	values[2] = q->what == WHAT_FAILED ? "requeue_failed" : "replay";
	values[3] = params_text;
	values[4] = cur;
	values[5] = q->what == WHAT_SINCE ? q->since : NULL;
	values[6] = cap;
	res = store_exec(c, &create_op, values, NULL, NULL);
	free(params_text);
	if (!api_db_ok(r, c, res, PGRES_TUPLES_OK, create_op.name))
		goto out;
	id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	res = NULL;
	if (id == 0) {
		api_reply_no_subscription(r);
		goto out;
	}
	if (id < 0) {
		api_reply_error(r, MHD_HTTP_CONFLICT, "conflict",
				"subscription %s has %d operations queued or "
				"running already; wait for one to finish, or "
				"cancel one", r->params[0], BULKOP_MAX_ACTIVE);
		goto out;
	}
	snprintf(cur, sizeof(cur), "%lld", id);
	values[0] = cur;
	values[1] = r->params[0];
	values[2] = NULL; /* the tenant was checked by the insert */
	res = store_exec(c, &get_op, values, NULL, NULL);
	if (!api_db_ok(r, c, res, PGRES_TUPLES_OK, get_op.name))
		goto out;
	if (PQntuples(res) != 1) {
		api_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
				"the operation was not found after its creation");
		goto out;
	}
	snprintf(r->location, sizeof(r->location),
		 "/v1/subscriptions/%s/operations/%lld", r->params[0], id);
	api_reply_json(r, MHD_HTTP_ACCEPTED, op_json(res, 0));
out:
	PQclear(res);
}

/* --- routes --- */

void
api_operations_replay(struct api_request *r)
{
	struct replay_req q;
	struct store_conn *c = NULL;
	char *config = NULL;
	cJSON *body;
	long long cursor = 0;

	if (!api_path_subscription(r) || (body = api_body_json(r)) == NULL)
		return;
	memset(&q, 0, sizeof(q));
	if (!replay_parse(r, body, &q) || (c = api_db(r)) == NULL)
		goto out;
	if (api_find_subscription(r, c, &config) != 1)
		goto out;
	if (q.what == WHAT_SINCE) {
		cursor = since_cursor(r, c, q.since);
		if (cursor < -1)
			goto out;
	} else if (q.what == WHAT_FROM_SEQ) {
		cursor = q.from_seq - 1;
	}
	if (q.dry_run)
		dry_run(r, c, &q, config, cursor);
	else
		create(r, c, &q, cursor);
out:
	free(config);
	if (c)
		api_db_done(r, c);
	cJSON_Delete(body);
}

void
api_operations_get(struct api_request *r)
{
	char op[24], tbuf[24];
	const char *values[3];
	struct store_conn *c;
	PGresult *res;

	if (!api_path_subscription(r) || !path_op(r, op, sizeof(op)))
		return;
	if ((c = api_db(r)) == NULL)
		return;
	values[0] = op;
	values[1] = r->params[0];
	values[2] = api_tenant(r, tbuf, sizeof(tbuf));
	res = store_exec(c, &get_op, values, NULL, NULL);
	if (!api_db_ok(r, c, res, PGRES_TUPLES_OK, get_op.name)) {
		/* answered */
	} else if (PQntuples(res) == 0) {
		/* tell an unknown subscription from an unknown operation */
		if (api_find_subscription(r, c, NULL) == 1)
			op_not_found(r);
	} else {
		api_reply_json(r, MHD_HTTP_OK, op_json(res, 0));
	}
	PQclear(res);
	api_db_done(r, c);
}

void
api_operations_list(struct api_request *r)
{
	char before_s[24], limit_s[24];
	const char *values[3];
	long long before, limit;
	struct store_conn *c;
	PGresult *res = NULL;
	cJSON *o, *items;
	int n;

	if (!api_path_subscription(r))
		return;
	if (!api_query_long(r, "before", LLONG_MAX, 1, LLONG_MAX, &before) ||
	    !api_query_long(r, "limit", LIST_DEFAULT, 1, LIST_MAX, &limit))
		return;
	if ((c = api_db(r)) == NULL)
		return;
	if (api_find_subscription(r, c, NULL) != 1)
		goto out;
	snprintf(before_s, sizeof(before_s), "%lld", before);
	snprintf(limit_s, sizeof(limit_s), "%lld", limit);
	values[0] = r->params[0];
	values[1] = before_s;
	values[2] = limit_s;
	res = store_exec(c, &list_ops, values, NULL, NULL);
	if (!api_db_ok(r, c, res, PGRES_TUPLES_OK, list_ops.name))
		goto out;
	n = PQntuples(res);
	o = cJSON_CreateObject();
	items = cJSON_AddArrayToObject(o, "items");
	for (int i = 0; i < n; i++)
		cJSON_AddItemToArray(items, op_json(res, i));
	if (n > 0 && n == limit)
		cJSON_AddStringToObject(o, "next_before",
					PQgetvalue(res, n - 1, C_ID));
	else
		cJSON_AddNullToObject(o, "next_before");
	api_reply_json(r, MHD_HTTP_OK, o);
out:
	PQclear(res);
	api_db_done(r, c);
}

void
api_operations_cancel(struct api_request *r)
{
	char op[24], tbuf[24];
	const char *values[3];
	struct store_conn *c;
	PGresult *res = NULL;

	if (!api_path_subscription(r) || !path_op(r, op, sizeof(op)))
		return;
	if ((c = api_db(r)) == NULL)
		return;
	values[0] = op;
	values[1] = r->params[0];
	values[2] = api_tenant(r, tbuf, sizeof(tbuf));
	res = store_exec(c, &cancel_op, values, NULL, NULL);
	if (!api_db_ok(r, c, res, PGRES_TUPLES_OK, cancel_op.name))
		goto out;
	if (PQntuples(res) == 1) {
		api_reply_json(r, MHD_HTTP_OK, op_json(res, 0));
		goto out;
	}
	/* unknown, another tenant's, or finished already */
	PQclear(res);
	res = store_exec(c, &get_op, values, NULL, NULL);
	if (!api_db_ok(r, c, res, PGRES_TUPLES_OK, get_op.name))
		goto out;
	if (PQntuples(res) == 0) {
		if (api_find_subscription(r, c, NULL) == 1)
			op_not_found(r);
	} else {
		api_reply_error(r, MHD_HTTP_CONFLICT, "conflict",
				"operation %s is %s already; only a queued, "
				"running or interrupted one can be cancelled", op,
				PQgetvalue(res, 0, C_STATE));
	}
out:
	PQclear(res);
	api_db_done(r, c);
}
