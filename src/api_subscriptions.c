/* The subscription routes: create, list, get, replace, patch, delete, rotate the secret; each tenant sees only its own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "api_subscriptions.h"
#include "backlog.h"
#include "jsonexact.h"
#include "subhealth.h"
#include "log.h"
#include "signature.h"
#include "sinkaddr.h"
#include "subscription.h"
#include "text.h"
#include "xalloc.h"

/* Every statement that changes a subscription notifies the other parts
 * (and instances) so their caches follow. */
#define NOTIFY_CHANGED "pg_notify('herald_subscription', s.id::text)"
#define ROW_COLUMNS \
	"s.id, s.config::text, s.status, s.status_reason, " \
	STORE_RFC3339("s.created_at") ", " STORE_RFC3339("s.updated_at")

/* $2 is the caller's tenant, or NULL for an admin, who sees every tenant. */
static const struct store_stmt insert_sub = {
	"subs_insert",
	"WITH s AS (INSERT INTO subscription (tenant, config, status, secret)"
	" VALUES ($1, $2::jsonb, $3, $4) RETURNING *)"
	" SELECT " ROW_COLUMNS ", " NOTIFY_CHANGED " FROM s",
	4};

static const struct store_stmt get_sub = {
	"subs_get",
	"SELECT " ROW_COLUMNS " FROM subscription s"
	" WHERE s.id = $1 AND ($2::bigint IS NULL OR s.tenant = $2)",
	2};

static const struct store_stmt get_sub_for_update = {
	"subs_get_for_update",
	"SELECT " ROW_COLUMNS " FROM subscription s"
	" WHERE s.id = $1 AND ($2::bigint IS NULL OR s.tenant = $2) FOR UPDATE",
	2};

static const struct store_stmt list_subs = {
	"subs_list",
	"SELECT " ROW_COLUMNS " FROM subscription s"
	" WHERE ($1::bigint IS NULL OR s.tenant = $1) ORDER BY s.created_at, s.id",
	1};

/* status_reason is $5 whenever the status changes (NULL but when a user
 * disables it); a user disabling it records herald.subscription.disabled
 * in the same transaction (sql/005, src/outbox.c) */
static const struct store_stmt update_sub = {
	"subs_update",
	"WITH s AS (UPDATE subscription SET config = $3::jsonb, status = $4,"
	"  status_reason = CASE WHEN status = $4 THEN status_reason ELSE $5 END,"
	"  updated_at = now()"
	" WHERE id = $1 AND ($2::bigint IS NULL OR tenant = $2) RETURNING *),"
	" e AS (INSERT INTO opevent (kind, subscription_id, reason)"
	"  SELECT 'subscription.disabled', s.id, $5 FROM s"
	"  WHERE $5::text IS NOT NULL AND s.status = 'disabled' RETURNING 1)"
	" SELECT " ROW_COLUMNS ", " NOTIFY_CHANGED ","
	" (SELECT count(pg_notify('herald_opevent', '')) FROM e) FROM s",
	5};

/* The status_reason of a subscription a user disabled. */
#define DISABLED_BY_USER "disabled through the API"

static const struct store_stmt delete_sub = {
	"subs_delete",
	"WITH s AS (DELETE FROM subscription"
	" WHERE id = $1 AND ($2::bigint IS NULL OR tenant = $2) RETURNING id)"
	" SELECT " NOTIFY_CHANGED " FROM s",
	2};

static const struct store_stmt rotate_sub = {
	"subs_rotate",
	"WITH s AS (UPDATE subscription SET prev_secret = secret,"
	"  prev_secret_until = now() + make_interval(secs => $4::bigint),"
	"  secret = $3, updated_at = now()"
	" WHERE id = $1 AND ($2::bigint IS NULL OR tenant = $2) RETURNING *)"
	" SELECT s.id, " STORE_RFC3339("s.prev_secret_until") ", "
	NOTIFY_CHANGED " FROM s",
	4};

/* A statement that writes one row and returns it returned n rows. */
static void
one_row_missing(struct api_request *r, const char *what, int n)
{
	log_error("%s: %d rows returned, not one", what, n);
	api_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
			"the change was not stored; the server log has the "
			"detail");
}

/* A stored row as the API shows it: the config with every default filled
 * in and without sinkcredential, plus id, status and timestamps. */
static cJSON *
row_json(PGresult *res, int row)
{
	cJSON *stored = jsonexact_parse(PQgetvalue(res, row, 1),
					 (size_t)PQgetlength(res, row, 1));
	cJSON *out = cJSON_CreateObject(), *item, *o = NULL;
	struct subscription sub;
	struct herald_error err;

	cJSON_AddStringToObject(out, "id", PQgetvalue(res, row, 0));
	if (stored && sub_parse(stored, &sub, &err) == 0) {
		o = sub_to_json(&sub, false);
		sub_free(&sub);
	}
	cJSON_Delete(stored);
	if (o) {
		cJSON_DeleteItemFromObjectCaseSensitive(o, "status");
		while ((item = o->child) != NULL) {
			cJSON_DetachItemViaPointer(o, item);
			cJSON_AddItemToObject(out, item->string, item);
		}
		cJSON_Delete(o);
	}
	cJSON_AddStringToObject(out, "status", PQgetvalue(res, row, 2));
	if (PQgetisnull(res, row, 3))
		cJSON_AddNullToObject(out, "status_reason");
	else
		cJSON_AddStringToObject(out, "status_reason", PQgetvalue(res, row, 3));
	cJSON_AddStringToObject(out, "created_at", PQgetvalue(res, row, 4));
	cJSON_AddStringToObject(out, "updated_at", PQgetvalue(res, row, 5));
	return out;
}

/* Validate a full body; on success *config is the JSON to store: the
 * fields as given, without status (kept in its own column), so that
 * defaults are worked out again after every change.  explicit_status
 * tells whether the body set the status. */
static bool
validate(struct api_request *r, const cJSON *body, char **config,
	 enum sub_status *status, bool *explicit_status)
{
	struct subscription sub;
	struct herald_error err;
	char why[256];
	cJSON *j;

	memset(&err, 0, sizeof(err));
	err.index = -1;
	if (sub_parse(body, &sub, &err) != 0) {
		api_reply_invalid(r, MHD_HTTP_BAD_REQUEST, &err);
		return false;
	}
	/* the host libcurl will connect to, from the parse sub_parse made:
	 * the sink's, or every member's of a group */
	for (size_t i = 0; i < (sub.nsinks ? sub.nsinks : 1); i++) {
		const char *host = sub.nsinks ? sub.sink_hosts[i] : sub.sink_host;

		if (sinkaddr_check_host(host, r->env->cfg->allow_private_sinks,
					why, sizeof(why)) == 0)
			continue;
		snprintf(err.code, sizeof(err.code), "invalid_field");
		if (sub.nsinks)
			snprintf(err.field, sizeof(err.field), "sinks[%zu]", i);
		else
			snprintf(err.field, sizeof(err.field), "sink");
		snprintf(err.message, sizeof(err.message), "%s", why);
		api_reply_invalid(r, MHD_HTTP_BAD_REQUEST, &err);
		sub_free(&sub);
		return false;
	}
	*status = sub.status;
	*explicit_status = cJSON_GetObjectItemCaseSensitive(body, "status") != NULL &&
			   !cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(body, "status"));
	j = cJSON_Duplicate(body, true);
	cJSON_DeleteItemFromObjectCaseSensitive(j, "status");
	/* data filters compare their numbers exactly: keep every digit */
	jsonexact_keep(cJSON_GetObjectItemCaseSensitive(j, "filters"));
	*config = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	sub_free(&sub);
	return true;
}

/* Users may pause, resume and disable an existing subscription; a new one
 * starts active or paused. */
static bool
status_allowed(struct api_request *r, enum sub_status s, bool explicit_status,
	       const char *current)
{
	struct herald_error err;

	if (!explicit_status || s != SUB_DISABLED || current != NULL)
		return true;
	memset(&err, 0, sizeof(err));
	err.index = -1;
	snprintf(err.code, sizeof(err.code), "invalid_field");
	snprintf(err.field, sizeof(err.field), "status");
	snprintf(err.message, sizeof(err.message),
		 "status may be set to \"active\" or \"paused\"");
	api_reply_invalid(r, MHD_HTTP_BAD_REQUEST, &err);
	return false;
}

void
api_subscriptions_create(struct api_request *r)
{
	cJSON *body, *o;
	char *config = NULL, secret[SIGNATURE_SECRET_SIZE], tenant[24];
	enum sub_status status;
	bool explicit_status;
	const char *values[4];
	struct store_conn *c;
	PGresult *res;

	if ((body = api_body_json(r)) == NULL)
		return;
	if (!validate(r, body, &config, &status, &explicit_status) ||
	    !status_allowed(r, status, explicit_status, NULL))
		goto out;
	if (signature_secret_generate(secret, sizeof(secret)) != 0) {
		api_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
				"no random bytes for a secret");
		goto out;
	}
	snprintf(tenant, sizeof(tenant), "%lld", (long long)r->who.tenant);
	values[0] = tenant;
	values[1] = config;
	values[2] = sub_status_name(status);
	values[3] = secret;
	if ((c = api_db(r)) == NULL)
		goto out;
	res = store_exec(c, &insert_sub, values, NULL, NULL);
	if (!api_db_ok(r, c, res, PGRES_TUPLES_OK, insert_sub.name)) {
		/* answered */
	} else if (PQntuples(res) != 1) {
		one_row_missing(r, insert_sub.name, PQntuples(res));
	} else {
		o = row_json(res, 0);
		cJSON_AddStringToObject(o, "secret", secret);
		snprintf(r->location, sizeof(r->location), "/v1/subscriptions/%s",
			 PQgetvalue(res, 0, 0));
		api_reply_json(r, MHD_HTTP_CREATED, o);
	}
	PQclear(res);
	api_db_done(r, c);
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	cJSON_free(config);
	cJSON_Delete(body);
}

/* "backlog": the subscription's pending deliveries in the last sample,
 * or null when it is not in it (none yet, or made since). */
static void
add_backlog(cJSON *o, const struct metrics_backlog *snap, const char *id)
{
	const struct metrics_backlog_sub *b = backlog_find(snap, id);
	cJSON *bl;

	if (b == NULL) {
		cJSON_AddNullToObject(o, "backlog");
		return;
	}
	bl = cJSON_AddObjectToObject(o, "backlog");
	cJSON_AddNumberToObject(bl, "pending", (double)(b->due + b->not_due));
	cJSON_AddNumberToObject(bl, "due", (double)b->due);
	cJSON_AddNumberToObject(bl, "oldest_due_seconds", b->oldest_s);
}

/* A time as RFC 3339, or null for 0 (none). */
static void
add_time(cJSON *o, const char *name, double t)
{
	char buf[40];

	if (t > 0 && text_rfc3339_format(t, buf, sizeof(buf)))
		cJSON_AddStringToObject(o, name, buf);
	else
		cJSON_AddNullToObject(o, name);
}

/* "attempts": what this instance's dispatcher saw of the subscription's
 * attempts since it started (src/subhealth.c), or null when it made
 * none. */
static void
add_attempts(cJSON *o, const char *id)
{
	struct subhealth h;
	cJSON *a, *f;

	if (!subhealth_get(id, &h)) {
		cJSON_AddNullToObject(o, "attempts");
		return;
	}
	a = cJSON_AddObjectToObject(o, "attempts");
	add_time(a, "last_success_at", h.last_success_at);
	add_time(a, "last_failure_at", h.last_failure_at);
	if (h.last_failure_at <= 0) {
		cJSON_AddNullToObject(a, "last_failure");
	} else {
		f = cJSON_AddObjectToObject(a, "last_failure");
		cJSON_AddStringToObject(f, "outcome",
					metrics_outcome_name(h.last_failure));
		if (h.last_failure_status > 0)
			cJSON_AddNumberToObject(f, "status",
						(double)h.last_failure_status);
		else
			cJSON_AddNullToObject(f, "status");
	}
	cJSON_AddNumberToObject(a, "recent", h.recent);
	cJSON_AddNumberToObject(a, "recent_failed", h.recent_failed);
}

void
api_subscriptions_list(struct api_request *r)
{
	char tbuf[24];
	const char *values[1] = {api_tenant(r, tbuf, sizeof(tbuf))};
	struct store_conn *c;
	PGresult *res;
	cJSON *arr;

	if ((c = api_db(r)) == NULL)
		return;
	res = store_exec(c, &list_subs, values, NULL, NULL);
	if (api_db_ok(r, c, res, PGRES_TUPLES_OK, list_subs.name)) {
		struct metrics_backlog snap;

		/* the backlog sampler's last sample: read from memory, at
		 * most BACKLOG_INTERVAL_MS old */
		backlog_snapshot(&snap);
		arr = cJSON_CreateArray();
		for (int i = 0; i < PQntuples(res); i++) {
			cJSON *o = row_json(res, i);

			add_backlog(o, &snap, PQgetvalue(res, i, 0));
			add_attempts(o, PQgetvalue(res, i, 0));
			cJSON_AddItemToArray(arr, o);
		}
		metrics_backlog_free(&snap);
		api_reply_json(r, MHD_HTTP_OK, arr);
	}
	PQclear(res);
	api_db_done(r, c);
}

void
api_subscriptions_get(struct api_request *r)
{
	char tbuf[24];
	const char *values[2] = {r->params[0], api_tenant(r, tbuf, sizeof(tbuf))};
	struct store_conn *c;
	PGresult *res;

	if (!api_path_subscription(r) || (c = api_db(r)) == NULL)
		return;
	res = store_exec(c, &get_sub, values, NULL, NULL);
	if (api_db_ok(r, c, res, PGRES_TUPLES_OK, get_sub.name)) {
		if (PQntuples(res) == 0)
			api_reply_no_subscription(r);
		else
			api_reply_json(r, MHD_HTTP_OK, row_json(res, 0));
	}
	PQclear(res);
	api_db_done(r, c);
}

/* Load the stored config (with the status folded in), for PATCH and PUT. */
static cJSON *
load_for_update(struct api_request *r, struct store_conn *c, const char *tenant,
		char *status, size_t statuslen)
{
	const char *values[2] = {r->params[0], tenant};
	PGresult *res = store_exec(c, &get_sub_for_update, values, NULL, NULL);
	cJSON *cur = NULL;

	if (!api_db_ok(r, c, res, PGRES_TUPLES_OK, get_sub_for_update.name))
		goto out;
	if (PQntuples(res) == 0) {
		api_reply_no_subscription(r);
		goto out;
	}
	cur = jsonexact_parse(PQgetvalue(res, 0, 1),
			      (size_t)PQgetlength(res, 0, 1));
	snprintf(status, statuslen, "%s", PQgetvalue(res, 0, 2));
	if (cur == NULL)
		api_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
				"stored subscription is unreadable");
	else
		cJSON_AddStringToObject(cur, "status", status);
out:
	PQclear(res);
	return cur;
}

/* PUT (patch false) and PATCH (patch true) share one transaction shape:
 * lock the row, build and validate the new body, update. */
static void
update(struct api_request *r, bool patch)
{
	char tbuf[24], current_status[16], *config = NULL;
	const char *tenant = api_tenant(r, tbuf, sizeof(tbuf));
	const char *values[5];
	cJSON *body, *cur = NULL, *merged = NULL;
	const cJSON *next;
	struct herald_error err;
	enum sub_status status;
	bool explicit_status;
	struct store_conn *c;
	PGresult *res = NULL;

	if (!api_path_subscription(r) || (body = api_body_json(r)) == NULL)
		return;
	if ((c = api_db(r)) == NULL) {
		cJSON_Delete(body);
		return;
	}
	res = store_query(c, "BEGIN");
	if (!api_db_ok(r, c, res, PGRES_COMMAND_OK, "subscriptions: begin"))
		goto out;
	PQclear(res);
	res = NULL;
	cur = load_for_update(r, c, tenant, current_status, sizeof(current_status));
	if (cur == NULL)
		goto out;
	next = body;
	if (patch) {
		memset(&err, 0, sizeof(err));
		err.index = -1;
		merged = sub_merge_patch(cur, body, &err);
		if (merged == NULL) {
			api_reply_invalid(r, MHD_HTTP_BAD_REQUEST, &err);
			goto out;
		}
		next = merged;
	}
	if (!validate(r, next, &config, &status, &explicit_status))
		goto out;
	if (!explicit_status)
		sub_status_parse(current_status, &status); /* kept unless given */
	if (!status_allowed(r, status, explicit_status, current_status))
		goto out;
	values[0] = r->params[0];
	values[1] = tenant;
	values[2] = config;
	values[3] = sub_status_name(status);
	values[4] = status == SUB_DISABLED &&
			    strcmp(current_status, "disabled") != 0 ?
			    DISABLED_BY_USER : NULL;
	res = store_exec(c, &update_sub, values, NULL, NULL);
	if (!api_db_ok(r, c, res, PGRES_TUPLES_OK, update_sub.name)) {
		/* answered */
	} else if (PQntuples(res) != 1) {
		one_row_missing(r, update_sub.name, PQntuples(res));
	} else {
		PGresult *done = store_query(c, "COMMIT");

		if (api_db_ok(r, c, done, PGRES_COMMAND_OK,
			      "subscriptions: commit"))
			api_reply_json(r, MHD_HTTP_OK, row_json(res, 0));
		PQclear(done);
	}
out:
	/* api_db_done rolls back whatever did not commit */
	PQclear(res);
	api_db_done(r, c);
	cJSON_free(config);
	cJSON_Delete(merged);
	cJSON_Delete(cur);
	cJSON_Delete(body);
}

void
api_subscriptions_replace(struct api_request *r)
{
	update(r, false);
}

void
api_subscriptions_patch(struct api_request *r)
{
	update(r, true);
}

void
api_subscriptions_delete(struct api_request *r)
{
	char tbuf[24];
	const char *values[2] = {r->params[0], api_tenant(r, tbuf, sizeof(tbuf))};
	struct store_conn *c;
	PGresult *res;

	if (!api_path_subscription(r) || (c = api_db(r)) == NULL)
		return;
	res = store_exec(c, &delete_sub, values, NULL, NULL);
	if (api_db_ok(r, c, res, PGRES_TUPLES_OK, delete_sub.name)) {
		if (PQntuples(res) == 0)
			api_reply_no_subscription(r);
		else
			api_reply_empty(r, MHD_HTTP_NO_CONTENT);
	}
	PQclear(res);
	api_db_done(r, c);
}

void
api_subscriptions_rotate(struct api_request *r)
{
	char tbuf[24], grace[24], secret[SIGNATURE_SECRET_SIZE];
	const char *values[4];
	struct store_conn *c;
	PGresult *res;
	cJSON *o;

	if (!api_path_subscription(r))
		return;
	if (signature_secret_generate(secret, sizeof(secret)) != 0) {
		api_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
				"no random bytes for a secret");
		return;
	}
	snprintf(grace, sizeof(grace), "%ld", r->env->cfg->secret_grace);
	values[0] = r->params[0];
	values[1] = api_tenant(r, tbuf, sizeof(tbuf));
	values[2] = secret;
	values[3] = grace;
	if ((c = api_db(r)) == NULL)
		goto out;
	res = store_exec(c, &rotate_sub, values, NULL, NULL);
	if (api_db_ok(r, c, res, PGRES_TUPLES_OK, rotate_sub.name)) {
		if (PQntuples(res) == 0) {
			api_reply_no_subscription(r);
		} else {
			o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "id", PQgetvalue(res, 0, 0));
			cJSON_AddStringToObject(o, "secret", secret);
			cJSON_AddStringToObject(o, "previous_secret_expires_at",
						PQgetvalue(res, 0, 1));
			api_reply_json(r, MHD_HTTP_OK, o);
		}
	}
	PQclear(res);
	api_db_done(r, c);
out:
	OPENSSL_cleanse(secret, sizeof(secret));
}
