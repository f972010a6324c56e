/* Replay and requeue of failed deliveries, one chunk at a time, and what a run would re-queue. */
#include "replay.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloudevent.h"
#include "filter.h"
#include "keyhead.h"
#include "log.h"
#include "opevent.h"
#include "subscription.h"

/* Rows read per statement by a count that matches filters here. */
#define COUNT_PAGE 5000

/* The candidate events of a replay: seq range, since, source and types
 * narrow in SQL; sub_matches decides.  $1 cursor, $2 upper, $3 since,
 * $4 source, $5 types. */
#define EVENTS_WHERE \
	" WHERE e.seq > $1 AND e.seq <= $2" \
	"   AND ($3::timestamptz IS NULL OR e.received_at >= $3::timestamptz)" \
	"   AND ($4::text IS NULL OR e.source = $4)" \
	"   AND ($5::text[] IS NULL OR e.type = ANY ($5::text[]))"
#define PENDING_ONE \
	"(SELECT 1 FROM delivery d WHERE d.subscription_id = $6::uuid" \
	"   AND d.seq = e.seq AND d.state = 'pending')"

/* For an operational event (source /herald), the tenant of the
 * subscription it is about (NULL when that is gone). */
#define ABOUT_TENANT \
	"CASE WHEN e.source = '/herald' THEN (SELECT a.tenant FROM subscription a" \
	"   WHERE a.id::text = e.attrs->>'subject') END"

/* The data comes too when $7 (a data filter looks at it). */
static const struct store_stmt events_page = {
	"replay_events_page",
	"SELECT e.seq, e.attrs::text, " ABOUT_TENANT ", e.data_kind,"
	"  CASE WHEN $7::bool THEN e.data END FROM event e" EVENTS_WHERE
	" ORDER BY e.seq LIMIT $6",
	7};

static const struct store_stmt events_count = {
	"replay_events_count",
	"SELECT count(*) FROM event e" EVENTS_WHERE
	"   AND NOT EXISTS " PENDING_ONE,
	6};

static const struct store_stmt events_pending_page = {
	"replay_events_pending_page",
	"SELECT e.seq, e.attrs::text, " ABOUT_TENANT ", EXISTS " PENDING_ONE ","
	"  e.data_kind, CASE WHEN $8::bool THEN e.data END"
	" FROM event e" EVENTS_WHERE " ORDER BY e.seq LIMIT $7",
	8};

static const struct store_stmt owner_load = {
	"replay_owner",
	"SELECT s.tenant, s.tenant = 0 OR coalesce('admin' = ANY (k.scopes), false),"
	"  array_to_json(k.sources)::text"
	" FROM subscription s LEFT JOIN api_key k ON k.id = s.tenant"
	" WHERE s.id = $1",
	1};

/* herald_delivery_replay (sql/003): a row that is not pending is sent
 * again under the subscription's current ordering; a pending one is left
 * alone (and not counted). */
static const struct store_stmt replay_deliveries = {
	"replay_deliveries",
	"SELECT herald_delivery_replay($1::uuid, $2::int8[], $3::text[],"
	" $4::int4[], $5::int8[])",
	5};

static const struct store_stmt failed_page = {
	"replay_failed_page",
	"SELECT d.seq, d.ordering_key FROM delivery d"
	" WHERE d.subscription_id = $1 AND d.state = 'failed'"
	"   AND d.seq > $2 AND d.seq <= $3"
	" ORDER BY d.seq LIMIT $4",
	4};

static const struct store_stmt failed_count = {
	"replay_failed_count",
	"SELECT count(*) FROM delivery d"
	" WHERE d.subscription_id = $1 AND d.state = 'failed'"
	"   AND d.seq > $2 AND d.seq <= $3",
	3};

/* herald_delivery_requeue_failed (sql/003). */
static const struct store_stmt requeue_failed = {
	"replay_requeue_failed",
	"SELECT herald_delivery_requeue_failed($1::uuid, $2::int8[], $3::text[],"
	" $4::int8[])",
	4};

/* The count a herald_delivery_* function or count(*) returned. */
static int64_t
returned_count(PGresult *res)
{
	return PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) ?
	       strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
}

/* The parameters $1..$5 of EVENTS_WHERE; types is built here (free it). */
struct events_params {
	char cursor[24], upper[24];
	struct store_array types;
	const char *values[8];
	int lengths[8], formats[8];
};

static void
events_params(struct events_params *p, const struct replay_range *q,
	      int64_t cursor)
{
	const struct subscription *sub = q->sub;

	memset(p->lengths, 0, sizeof(p->lengths));
	memset(p->formats, 0, sizeof(p->formats));
	snprintf(p->cursor, sizeof(p->cursor), "%" PRId64, cursor);
	snprintf(p->upper, sizeof(p->upper), "%" PRId64, q->upper);
	p->values[0] = p->cursor;
	p->values[1] = p->upper;
	p->values[2] = q->since;
	p->values[3] = sub->source;
	p->values[4] = NULL;
	store_array_init(&p->types, STORE_OID_TEXT);
	if (sub->ntypes > 0) {
		for (size_t i = 0; i < sub->ntypes; i++)
			store_array_add(&p->types, sub->types[i],
					strlen(sub->types[i]));
		p->values[4] = store_array_param(&p->types, &p->lengths[4]);
		p->formats[4] = 1;
	}
}

enum store_status
replay_owner_load(struct store_conn *c, const char *sub_id,
		  struct replay_owner *out, bool *found)
{
	PGresult *res = store_exec(c, &owner_load, &sub_id, NULL, NULL);
	enum store_status s = store_check(c, res, PGRES_TUPLES_OK,
					  owner_load.name);

	memset(out, 0, sizeof(*out));
	*found = false;
	if (s == STORE_OK && PQntuples(res) == 1) {
		out->tenant = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		out->admin = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
		if (srcscope_from_stored(PQgetisnull(res, 0, 2) ? NULL :
					 PQgetvalue(res, 0, 2),
					 out->sources) != 0) {
			/* never wider than stored: nothing is visible */
			log_with(LOG_ERROR, &(struct log_ids){.subscription = sub_id},
				 "replay: its owner's stored sources are unreadable");
			s = STORE_QUERY_ERROR;
		} else {
			*found = true;
		}
	}
	PQclear(res);
	return s;
}

/* May the owner's subscription receive ev (about: column about_col of row
 * i, the tenant an operational event is about)?  The fan-out's rule
 * (subcache.c): herald's own events go to the tenant they are about and
 * to admins; any other, to an owner without sources or within them. */
static bool
owner_may_see(const struct replay_owner *o, const struct cloudevent *ev,
	      PGresult *res, int i, int about_col)
{
	if (opevent_source_reserved(ev->source))
		return o->admin ||
		       (!PQgetisnull(res, i, about_col) &&
			strtoll(PQgetvalue(res, i, about_col), NULL, 10) ==
				o->tenant);
	return !srcscope_limited(o->sources) ||
	       srcscope_allows(o->sources, ev->source);
}

/* Row i's attributes (column 1) as an event for matching, with its data
 * (data_kind in column kind_col, the data after it) when the subscription's
 * filter looks at the data; false (logged) when unreadable, which a replay
 * skips. */
static bool
row_event(PGresult *res, int i, const struct replay_range *q, int kind_col,
	  struct cloudevent *ev)
{
	unsigned char *data = NULL;
	size_t len = 0;
	int rc;

	if (!PQgetisnull(res, i, kind_col + 1))
		data = PQunescapeBytea((const unsigned char *)
				       PQgetvalue(res, i, kind_col + 1), &len);
	rc = ce_from_stored(PQgetvalue(res, i, 1), data, len,
			    data != NULL ?
			    (enum ce_data_kind)atoi(PQgetvalue(res, i, kind_col)) :
			    CE_DATA_NONE, ev);
	PQfreemem(data);
	if (rc == 0)
		return true;
	log_with(LOG_WARN, &(struct log_ids){.subscription = q->sub_id,
					      .seq = strtoll(PQgetvalue(res, i, 0),
							     NULL, 10)},
		 "replay: an unreadable event is skipped");
	return false;
}

static enum store_status
chunk_events(struct store_conn *c, const struct replay_range *q, int limit,
	     struct replay_chunk *out)
{
	struct events_params p;
	char lim[16];
	struct keyhead_set ks = {0};
	struct store_array seqs, keys, parts, locks = {0};
	PGresult *res;
	enum store_status s;
	int n;

	events_params(&p, q, q->cursor);
	snprintf(lim, sizeof(lim), "%d", limit);
	p.values[5] = lim;
	p.values[6] = filter_needs_data(q->sub->filter) ? "true" : "false";
	res = store_exec(c, &events_page, p.values, p.lengths, p.formats);
	store_array_free(&p.types);
	s = store_check(c, res, PGRES_TUPLES_OK, events_page.name);
	if (s != STORE_OK) {
		PQclear(res);
		return s;
	}
	n = PQntuples(res);
	out->last = n < limit;
	out->cursor = n > 0 ? strtoll(PQgetvalue(res, n - 1, 0), NULL, 10) :
		      q->cursor;
	store_array_init(&seqs, STORE_OID_INT8);
	store_array_init(&keys, STORE_OID_TEXT);
	store_array_init(&parts, STORE_OID_INT4);
	for (int i = 0; i < n; i++) {
		int64_t seq = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		struct cloudevent ev;
		const char *key;

		if (!row_event(res, i, q, 3, &ev))
			continue;
		if (owner_may_see(q->owner, &ev, res, i, 2) &&
		    sub_matches(q->sub, &ev, NULL)) {
			key = sub_ordering_key(q->sub, &ev);
			store_array_add_int(&seqs, seq);
			store_array_add(&keys, key, key ? strlen(key) : 0);
			store_array_add_int(&parts,
					    keyhead_partition(q->sub_id, key, seq));
			keyhead_add(&ks, q->sub_id, key);
			out->selected++;
		}
		ce_free(&ev);
	}
	PQclear(res);
	if (out->selected > 0) {
		const char *uv[5];
		int ul[5] = {0}, uf[5] = {0, 1, 1, 1, 1};

		uv[0] = q->sub_id;
		uv[1] = store_array_param(&seqs, &ul[1]);
		uv[2] = store_array_param(&keys, &ul[2]);
		uv[3] = store_array_param(&parts, &ul[3]);
		uv[4] = keyhead_locks_param(&ks, &locks, &ul[4]);
		res = store_exec(c, &replay_deliveries, uv, ul, uf);
		s = store_check(c, res, PGRES_TUPLES_OK, replay_deliveries.name);
		if (s == STORE_OK)
			out->enqueued = returned_count(res);
		PQclear(res);
	}
	store_array_free(&seqs);
	store_array_free(&keys);
	store_array_free(&parts);
	store_array_free(&locks);
	keyhead_free(&ks);
	return s;
}

static enum store_status
chunk_failed(struct store_conn *c, const struct replay_range *q, int limit,
	     struct replay_chunk *out)
{
	char cursor[24], upper[24], lim[16];
	const char *values[4] = {q->sub_id, cursor, upper, lim};
	struct keyhead_set ks = {0};
	struct store_array seqs, keys, locks = {0};
	PGresult *res;
	enum store_status s;
	int n;

	snprintf(cursor, sizeof(cursor), "%" PRId64, q->cursor);
	snprintf(upper, sizeof(upper), "%" PRId64, q->upper);
	snprintf(lim, sizeof(lim), "%d", limit);
	res = store_exec(c, &failed_page, values, NULL, NULL);
	s = store_check(c, res, PGRES_TUPLES_OK, failed_page.name);
	if (s != STORE_OK) {
		PQclear(res);
		return s;
	}
	n = PQntuples(res);
	out->last = n < limit;
	out->cursor = n > 0 ? strtoll(PQgetvalue(res, n - 1, 0), NULL, 10) :
		      q->cursor;
	out->selected = n;
	store_array_init(&seqs, STORE_OID_INT8);
	store_array_init(&keys, STORE_OID_TEXT);
	for (int i = 0; i < n; i++) {
		const char *key = PQgetisnull(res, i, 1) ? NULL :
			PQgetvalue(res, i, 1);

		store_array_add_int(&seqs, strtoll(PQgetvalue(res, i, 0), NULL,
						   10));
		store_array_add(&keys, key, key ? strlen(key) : 0);
		keyhead_add(&ks, q->sub_id, key);
	}
	PQclear(res);
	if (n > 0) {
		const char *uv[4];
		int ul[4] = {0}, uf[4] = {0, 1, 1, 1};

		uv[0] = q->sub_id;
		uv[1] = store_array_param(&seqs, &ul[1]);
		uv[2] = store_array_param(&keys, &ul[2]);
		uv[3] = keyhead_locks_param(&ks, &locks, &ul[3]);
		res = store_exec(c, &requeue_failed, uv, ul, uf);
		s = store_check(c, res, PGRES_TUPLES_OK, requeue_failed.name);
		if (s == STORE_OK)
			out->enqueued = returned_count(res);
		PQclear(res);
	}
	store_array_free(&seqs);
	store_array_free(&keys);
	store_array_free(&locks);
	keyhead_free(&ks);
	return s;
}

enum store_status
replay_chunk(struct store_conn *c, const struct replay_range *q, int limit,
	     struct replay_chunk *out)
{
	memset(out, 0, sizeof(*out));
	return q->kind == REPLAY_FAILED ? chunk_failed(c, q, limit, out) :
	       chunk_events(c, q, limit, out);
}

/* Events: pending ones excluded in SQL; with filters, or an owner who
 * may not see everything, the candidates come back a page at a time and
 * are matched here. */
static enum store_status
count_events(struct store_conn *c, const struct replay_range *q,
	     int64_t *count)
{
	int64_t cursor = q->cursor;
	enum store_status s;
	char lim[16];
	PGresult *res;
	int n;

	/* all in SQL when nothing needs deciding here: no filter, and an
	 * owner who may see everything (an admin has no sources) */
	if (q->sub->filter == NULL && q->owner->admin) {
		struct events_params p;

		events_params(&p, q, cursor);
		p.values[5] = q->sub_id;
		res = store_exec(c, &events_count, p.values, p.lengths, p.formats);
		store_array_free(&p.types);
		s = store_check(c, res, PGRES_TUPLES_OK, events_count.name);
		if (s == STORE_OK)
			*count = returned_count(res);
		PQclear(res);
		return s;
	}
	snprintf(lim, sizeof(lim), "%d", COUNT_PAGE);
	do {
		struct events_params p;

		events_params(&p, q, cursor);
		p.values[5] = q->sub_id;
		p.values[6] = lim;
		p.values[7] = filter_needs_data(q->sub->filter) ? "true" : "false";
		res = store_exec(c, &events_pending_page, p.values, p.lengths,
				 p.formats);
		store_array_free(&p.types);
		s = store_check(c, res, PGRES_TUPLES_OK, events_pending_page.name);
		if (s != STORE_OK) {
			PQclear(res);
			return s;
		}
		n = PQntuples(res);
		for (int i = 0; i < n; i++) {
			struct cloudevent ev;

			if (strcmp(PQgetvalue(res, i, 3), "t") == 0 ||
			    !row_event(res, i, q, 4, &ev))
				continue;
			if (owner_may_see(q->owner, &ev, res, i, 2) &&
			    sub_matches(q->sub, &ev, NULL))
				(*count)++;
			ce_free(&ev);
		}
		if (n > 0)
			cursor = strtoll(PQgetvalue(res, n - 1, 0), NULL, 10);
		PQclear(res);
	} while (n == COUNT_PAGE);
	return STORE_OK;
}

enum store_status
replay_count(struct store_conn *c, const struct replay_range *q,
	     int64_t *count)
{
	char cursor[24], upper[24];
	const char *values[3] = {q->sub_id, cursor, upper};
	enum store_status s;
	PGresult *res;

	*count = 0;
	if (q->kind == REPLAY_EVENTS)
		return count_events(c, q, count);
	snprintf(cursor, sizeof(cursor), "%" PRId64, q->cursor);
	snprintf(upper, sizeof(upper), "%" PRId64, q->upper);
	res = store_exec(c, &failed_count, values, NULL, NULL);
	s = store_check(c, res, PGRES_TUPLES_OK, failed_count.name);
	if (s == STORE_OK)
		*count = returned_count(res);
	PQclear(res);
	return s;
}
