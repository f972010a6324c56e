/* The events routes: ingest (structured, binary, batch) through the group-commit writer, and reading the log. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api_events.h"
#include "cloudevent.h"
#include "delivery.h"
#include "log.h"
#include "metrics.h"
#include "monotime.h"
#include "mediatype.h"
#include "opevent.h"
#include "srcscope.h"
#include "xalloc.h"

#define LIST_DEFAULT 100
#define LIST_MAX 1000
#define MAX_CE_HEADERS 64

enum body_mode {
	MODE_STRUCTURED,
	MODE_BATCH,
	MODE_BINARY,
	MODE_UNSUPPORTED,
};

/* A POST /v1/events waiting for its commit. */
struct post_state {
	struct ingest in;
	struct api_request *r;
	bool batch;
	struct cloudevent single;
	struct cloudevent *evs; /* batch */
	size_t n;
	int64_t *seqs;
	bool *dups;
};

/* $5: the caller's tenant, for the last column: is the event one of
 * herald's own about a subscription of that tenant? */
static const struct store_stmt get_event = {
	"events_get",
	"SELECT seq, attrs::text, data_kind, data, " STORE_RFC3339("received_at") ","
	"  c.n[1], c.n[2], c.n[3], e.source,"
	"  e.source = '" OPEVENT_SOURCE "' AND EXISTS (SELECT 1 FROM subscription s"
	"   WHERE s.tenant = $5 AND s.id::text = e.attrs ->> 'subject')"
	" FROM event e CROSS JOIN LATERAL (SELECT ARRAY["
	"    count(*) FILTER (WHERE d.state = $2),"
	"    count(*) FILTER (WHERE d.state = $3),"
	"    count(*) FILTER (WHERE d.state = $4)] AS n"
	"   FROM delivery d WHERE d.seq = e.seq) c"
	" WHERE e.seq = $1",
	5};
#define EVENT_COUNTS 5 /* the first of get_event's count columns */
#define EVENT_SOURCE 8
#define EVENT_OWN_OPEVENT 9

static const struct store_stmt list_events = {
	"events_list",
	"SELECT seq, attrs::text, data_kind, data, " STORE_RFC3339("received_at")
	" FROM event"
	" WHERE seq > $1 AND ($2::text IS NULL OR type = $2)"
	"   AND ($3::text IS NULL OR source = $3)"
	" ORDER BY seq LIMIT $4",
	4};

/*
 * The page a key with sources may read: the events of its source ranges
 * ($5 lo, $6 hi: srcscope_ranges), herald's own left out, and herald's
 * own events about subscriptions of its tenant ($7).  Each range is read
 * through event_source_seq (sql/006) for at most a page of its own (its
 * "seq + 0" keeps the planner from walking the whole log in seq order
 * instead), the own events through event_source_seq too; the page is the
 * first $4 of their union, each branch holding its own first $4, and only
 * then are its rows read.  It costs the caller's events, never the log.
 */
static const struct store_stmt list_scoped = {
	"events_list_scoped",
	"SELECT ev.seq, ev.attrs::text, ev.data_kind, ev.data, "
	STORE_RFC3339("ev.received_at")
	" FROM (SELECT DISTINCT u.seq FROM ("
	"  SELECT m.seq FROM unnest($5::text[], $6::text[]) AS r (lo, hi)"
	"  CROSS JOIN LATERAL (SELECT e.seq FROM event e"
	"   WHERE e.source ~>=~ r.lo AND e.source ~<~ r.hi AND e.seq > $1"
	"     AND e.source <> '" OPEVENT_SOURCE "'"
	"     AND ($2::text IS NULL OR e.type = $2)"
	"     AND ($3::text IS NULL OR e.source = $3)"
	"   ORDER BY e.seq + 0 LIMIT $4) m"
	"  UNION ALL"
	"  (SELECT o.seq FROM event o"
	"   WHERE o.source = '" OPEVENT_SOURCE "'"
	"     AND o.attrs ->> 'subject' = ANY (ARRAY(SELECT s.id::text"
	"       FROM subscription s WHERE s.tenant = $7))"
	"     AND o.seq > $1 AND ($2::text IS NULL OR o.type = $2)"
	"     AND ($3::text IS NULL OR o.source = $3)"
	"   ORDER BY o.seq LIMIT $4)) u"
	"  ORDER BY u.seq LIMIT $4) p"
	" JOIN event ev ON ev.seq = p.seq"
	" ORDER BY ev.seq",
	7};

static enum body_mode
body_mode(struct api_request *r)
{
	char mt[128];

	mediatype_essence(api_header(r, MHD_HTTP_HEADER_CONTENT_TYPE), mt,
			  sizeof(mt));
	if (strcmp(mt, "application/cloudevents+json") == 0)
		return MODE_STRUCTURED;
	if (strcmp(mt, "application/cloudevents-batch+json") == 0)
		return MODE_BATCH;
	if (strncmp(mt, "application/cloudevents", 23) == 0)
		return MODE_UNSUPPORTED; /* another event format */
	if (api_header(r, "ce-specversion") != NULL)
		return MODE_BINARY;
	return MODE_UNSUPPORTED;
}

size_t
api_events_body_limit(struct api_request *r)
{
	const struct config *cfg = r->env->cfg;

	if (body_mode(r) == MODE_BATCH)
		return (size_t)cfg->max_batch_bytes;
	return (size_t)cfg->max_event_bytes;
}

struct header_list {
	struct ce_header h[MAX_CE_HEADERS];
	size_t n;
	bool overflow;
};

static enum MHD_Result
collect_ce_header(void *cls, enum MHD_ValueKind kind, const char *key,
		  const char *value)
{
	struct header_list *hl = cls;

	(void)kind;
	if (strncasecmp(key, "ce-", 3) != 0)
		return MHD_YES;
	if (hl->n == MAX_CE_HEADERS) {
		hl->overflow = true;
		return MHD_NO;
	}
	hl->h[hl->n].name = key;
	hl->h[hl->n].value = value ? value : "";
	hl->n++;
	return MHD_YES;
}

static void
post_cleanup(void *p)
{
	struct post_state *st = p;

	ce_free(&st->single);
	ce_free_array(st->evs, st->n);
	free(st->seqs);
	free(st->dups);
	free(st);
}

static void
post_committed(struct ingest *in, void *arg)
{
	struct post_state *st = arg;

	(void)in;
	api_wake(st->r);
}

static cJSON *
result_object(const struct cloudevent *ev, int64_t seq, bool dup)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "seq", (double)seq);
	cJSON_AddStringToObject(o, "id", ev->id);
	cJSON_AddStringToObject(o, "source", ev->source);
	cJSON_AddBoolToObject(o, "duplicate", dup);
	return o;
}

/* A publish is answered: count its events, or its refusal, and its
 * time.  st: NULL when it never reached a writer. */
static void
post_answered(struct api_request *r, const struct post_state *st)
{
	if (r->status >= 400) {
		metrics_ingested(METRICS_REJECTED, 1);
	} else if (st != NULL) {
		unsigned long dups = 0;

		for (size_t i = 0; i < st->in.n; i++)
			dups += st->dups[i];
		metrics_ingested(METRICS_ACCEPTED, st->in.n - dups);
		metrics_ingested(METRICS_DUPLICATE, dups);
	}
	metrics_ingest_duration((double)(monotime_us() - r->start_us) / 1e6);
}

/* Resumed after the writer: answer from what it committed. */
static void
post_reply(struct api_request *r)
{
	struct post_state *st = r->state;
	cJSON *results;

	if (st->in.status != STORE_OK) {
		api_reply_store(r, st->in.status);
		post_answered(r, st);
		return;
	}
	if (!st->batch) {
		api_reply_json(r, st->dups[0] ? MHD_HTTP_OK : MHD_HTTP_ACCEPTED,
			       result_object(&st->single, st->seqs[0], st->dups[0]));
		post_answered(r, st);
		return;
	}
	results = cJSON_CreateArray();
	for (size_t i = 0; i < st->n; i++)
		cJSON_AddItemToArray(results, result_object(&st->evs[i], st->seqs[i],
							    st->dups[i]));
	{
		cJSON *o = cJSON_CreateObject();

		cJSON_AddItemToObject(o, "results", results);
		api_reply_json(r, MHD_HTTP_ACCEPTED, o);
	}
	post_answered(r, st);
}

/* herald's own events (source OPEVENT_SOURCE) come only from herald:
 * false, with err, when one of the parsed events claims that source. */
static bool
own_source_refused(const struct post_state *st, struct herald_error *err)
{
	size_t n = st->batch ? st->n : 1;

	for (size_t i = 0; i < n; i++) {
		const struct cloudevent *ev = st->batch ? &st->evs[i] : &st->single;

		if (!opevent_source_reserved(ev->source))
			continue;
		snprintf(err->code, sizeof(err->code), "reserved_source");
		snprintf(err->field, sizeof(err->field), "source");
		err->index = st->batch ? (long)i : -1;
		snprintf(err->message, sizeof(err->message),
			 "source %s is reserved for herald's operational events",
			 OPEVENT_SOURCE);
		return false;
	}
	return true;
}

/* A key with sources publishes only events of those sources: false, with
 * err, for the first event of another source (nothing of the request is
 * stored). */
static bool
foreign_source_refused(const struct post_state *st, const char *sources,
		       struct herald_error *err)
{
	size_t n = st->batch ? st->n : 1;

	for (size_t i = 0; i < n; i++) {
		const struct cloudevent *ev = st->batch ? &st->evs[i] : &st->single;

		if (srcscope_allows(sources, ev->source))
			continue;
		snprintf(err->code, sizeof(err->code), "forbidden_source");
		snprintf(err->field, sizeof(err->field), "source");
		err->index = st->batch ? (long)i : -1;
		snprintf(err->message, sizeof(err->message),
			 "this API key may not publish source %.200s",
			 ev->source);
		return false;
	}
	return true;
}

/* Parse and validate the events, then hand them to a writer (suspending
 * the request), or answer at once. */
static void
post(struct api_request *r)
{
	struct post_state *st;
	struct herald_error err;
	struct header_list hl;
	enum body_mode mode = body_mode(r);
	int rc = -1;

	memset(&err, 0, sizeof(err));
	err.index = -1;
	if (mode == MODE_UNSUPPORTED) {
		api_reply_error(r, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
				"unsupported_media_type",
				"send application/cloudevents+json, "
				"application/cloudevents-batch+json, or a binary-mode "
				"event with ce-* headers");
		return;
	}
	st = xcalloc(1, sizeof(*st));
	st->r = r;
	switch (mode) {
	case MODE_STRUCTURED:
		rc = ce_parse_structured(r->body ? r->body : "", r->body_len,
					 &st->single, &err);
		break;
	case MODE_BATCH:
		st->batch = true;
		rc = ce_parse_batch(r->body ? r->body : "", r->body_len, &st->evs,
				    &st->n, &err);
		break;
	case MODE_BINARY:
		memset(&hl, 0, sizeof(hl));
		MHD_get_connection_values(r->conn, MHD_HEADER_KIND,
					  collect_ce_header, &hl);
		if (hl.overflow) {
			snprintf(err.code, sizeof(err.code), "invalid_attribute");
			snprintf(err.message, sizeof(err.message),
				 "more than %d ce- headers", MAX_CE_HEADERS);
			break;
		}
		rc = ce_parse_binary(hl.h, hl.n,
				     api_header(r, MHD_HTTP_HEADER_CONTENT_TYPE),
				     r->body ? r->body : "", r->body_len,
				     &st->single, &err);
		break;
	case MODE_UNSUPPORTED:
		break;
	}
	if (rc == 0 && !own_source_refused(st, &err))
		rc = -1;
	if (rc != 0) {
		api_reply_invalid(r, MHD_HTTP_BAD_REQUEST, &err);
		post_cleanup(st);
		return;
	}
	if (!foreign_source_refused(st, r->who.sources, &err)) {
		api_reply_invalid(r, MHD_HTTP_FORBIDDEN, &err);
		post_cleanup(st);
		return;
	}
	if (st->batch) {
		for (size_t i = 0; i < st->n; i++) {
			if (st->evs[i].data_len > (size_t)r->env->cfg->max_event_bytes) {
				api_reply_error(r, MHD_HTTP_CONTENT_TOO_LARGE,
						"too_large",
						"event %zu is larger than %ld bytes",
						i, r->env->cfg->max_event_bytes);
				post_cleanup(st);
				return;
			}
		}
		if (st->n == 0) {
			cJSON *o = cJSON_CreateObject();

			cJSON_AddItemToObject(o, "results", cJSON_CreateArray());
			api_reply_json(r, MHD_HTTP_ACCEPTED, o);
			post_cleanup(st);
			return;
		}
	}
	st->in.evs = st->batch ? st->evs : &st->single;
	st->in.n = st->batch ? st->n : 1;
	st->seqs = xcalloc(st->in.n, sizeof(*st->seqs));
	st->dups = xcalloc(st->in.n, sizeof(*st->dups));
	st->in.seqs = st->seqs;
	st->in.duplicate = st->dups;
	st->in.done = post_committed;
	st->in.arg = st;
	/* its body is in: committed, or a 503, within the timeout from now
	 * (however long a slow client took to send it) */
	st->in.deadline_ms = monotime_ms() + STORE_API_TIMEOUT_MS;
	r->state = st;
	r->cleanup = post_cleanup;
	r->resume = post_reply;
	/* suspend before handing over: the writer may finish at once */
	api_suspend(r);
	writer_submit(r->env->writer, &st->in);
}

void
api_events_post(struct api_request *r)
{
	post(r);
	if (!r->suspended)
		post_answered(r, NULL); /* refused, or an empty batch */
}

/* A stored row (seq, attrs, data_kind, data, received_at from column 0)
 * as {"seq", "received_at", "event"}; NULL when the row is corrupt. */
static cJSON *
event_row(PGresult *res, int row)
{
	struct cloudevent ev;
	unsigned char *data = NULL;
	size_t len = 0;
	char *text;
	int rc;
	cJSON *o;

	memset(&ev, 0, sizeof(ev));
	if (!PQgetisnull(res, row, 3)) {
		data = PQunescapeBytea((const unsigned char *)PQgetvalue(res, row, 3),
				       &len);
		if (data == NULL)
			return NULL;
	}
	rc = ce_from_stored(PQgetvalue(res, row, 1), data, len,
			    (enum ce_data_kind)atoi(PQgetvalue(res, row, 2)), &ev);
	PQfreemem(data);
	if (rc != 0)
		return NULL;
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "seq", (double)strtoll(PQgetvalue(res, row, 0),
							  NULL, 10));
	cJSON_AddStringToObject(o, "received_at", PQgetvalue(res, row, 4));
	text = ce_to_text(&ev);
	ce_free(&ev);
	if (text == NULL) {
		cJSON_Delete(o);
		return NULL;
	}
	/* printed as is: the data keeps every digit it came with */
	cJSON_AddRawToObject(o, "event", text);
	free(text);
	return o;
}

/* Parse a positive seq from a path segment. */
static bool
parse_seq(const char *s, long long *out)
{
	char *end;
	long long v;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v <= 0)
		return false;
	*out = v;
	return true;
}

/* May the caller read an event of this source (own: one of herald's
 * about a subscription of the caller's tenant)?  An admin reads every
 * event; a key without sources, as the route allows it; a key with
 * sources, those of its sources and herald's own about its
 * subscriptions. */
static bool
may_read(const struct api_request *r, const char *source, bool own)
{
	if ((r->who.scopes & SCOPE_ADMIN) || !srcscope_limited(r->who.sources))
		return true;
	if (opevent_source_reserved(source))
		return own;
	return srcscope_allows(r->who.sources, source);
}

/* A key without sources reads the log as it always did: by seq with the
 * publish scope, the listing with admin.  false after a 403. */
static bool
unlimited_key_may(struct api_request *r, unsigned scope)
{
	if ((r->who.scopes & scope) || srcscope_limited(r->who.sources))
		return true;
	api_reply_error(r, MHD_HTTP_FORBIDDEN, "forbidden",
			"this API key lacks the %s scope (or sources to read "
			"the events of)",
			scope == SCOPE_PUBLISH ? "publish" : "admin");
	return false;
}

void
api_events_get(struct api_request *r)
{
	struct store_conn *c;
	const char *values[5];
	char tenant[24];
	long long seq;
	PGresult *res;
	cJSON *o, *summary;

	if (!unlimited_key_may(r, SCOPE_PUBLISH))
		return;
	if (!parse_seq(r->params[0], &seq)) {
		api_reply_error(r, MHD_HTTP_NOT_FOUND, "not_found",
				"no event with seq %s", r->params[0]);
		return;
	}
	if ((c = api_db(r)) == NULL)
		return;
	values[0] = r->params[0];
	/* the counts of deliveries in each state, in enum order */
	for (int s = DELIVERY_PENDING; s <= DELIVERY_FAILED; s++)
		values[1 + s] = delivery_state_name((enum delivery_state)s);
	snprintf(tenant, sizeof(tenant), "%lld", (long long)r->who.tenant);
	values[4] = tenant;
	res = store_exec(c, &get_event, values, NULL, NULL);
	if (!api_db_ok(r, c, res, PGRES_TUPLES_OK, get_event.name))
		goto out;
	if (PQntuples(res) == 0 ||
	    !may_read(r, PQgetvalue(res, 0, EVENT_SOURCE),
		      strcmp(PQgetvalue(res, 0, EVENT_OWN_OPEVENT), "t") == 0)) {
		/* another tenant's is not there, as far as the caller knows */
		api_reply_error(r, MHD_HTTP_NOT_FOUND, "not_found",
				"no event with seq %lld", seq);
	} else if ((o = event_row(res, 0)) == NULL) {
		api_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
				"event %lld cannot be read back", seq);
	} else {
		summary = cJSON_AddObjectToObject(o, "deliveries");
		for (int s = DELIVERY_PENDING; s <= DELIVERY_FAILED; s++)
			cJSON_AddNumberToObject(
				summary, delivery_state_name((enum delivery_state)s),
				atof(PQgetvalue(res, 0, EVENT_COUNTS + s)));
		api_reply_json(r, MHD_HTTP_OK, o);
	}
out:
	PQclear(res);
	api_db_done(r, c);
}

/* srcscope_ranges callback: one range into the two arrays. */
static void
add_range(void *arg, const char *lo, const char *hi)
{
	struct store_array *a = arg;

	store_array_add(&a[0], lo, strlen(lo));
	store_array_add(&a[1], hi, strlen(hi));
}

void
api_events_list(struct api_request *r)
{
	long long after, limit;
	char after_s[24], limit_s[24], tenant[24];
	const char *values[7];
	int lengths[7] = {0}, formats[7] = {0, 0, 0, 0, 1, 1, 0};
	struct store_array ranges[2];
	bool scoped;
	struct store_conn *c;
	PGresult *res;
	cJSON *o, *items;
	int n;

	if (!unlimited_key_may(r, SCOPE_ADMIN))
		return;
	scoped = !(r->who.scopes & SCOPE_ADMIN);
	if (!api_query_long(r, "after", 0, 0, INT64_MAX, &after) ||
	    !api_query_long(r, "limit", LIST_DEFAULT, 1, LIST_MAX, &limit))
		return;
	snprintf(after_s, sizeof(after_s), "%lld", after);
	snprintf(limit_s, sizeof(limit_s), "%lld", limit);
	values[0] = after_s;
	values[1] = api_query(r, "type");
	values[2] = api_query(r, "source");
	values[3] = limit_s;
	for (int i = 1; i <= 2; i++) {
		if (values[i] != NULL &&
		    !ce_utf8_valid(values[i], strlen(values[i]))) {
			api_reply_error(r, MHD_HTTP_BAD_REQUEST, "invalid_parameter",
					"%s must be UTF-8 text",
					i == 1 ? "type" : "source");
			return;
		}
	}
	if ((c = api_db(r)) == NULL)
		return;
	if (scoped) {
		store_array_init(&ranges[0], STORE_OID_TEXT);
		store_array_init(&ranges[1], STORE_OID_TEXT);
		srcscope_ranges(r->who.sources, add_range, ranges);
		values[4] = store_array_param(&ranges[0], &lengths[4]);
		values[5] = store_array_param(&ranges[1], &lengths[5]);
		snprintf(tenant, sizeof(tenant), "%lld", (long long)r->who.tenant);
		values[6] = tenant;
		res = store_exec(c, &list_scoped, values, lengths, formats);
		store_array_free(&ranges[0]);
		store_array_free(&ranges[1]);
	} else {
		res = store_exec(c, &list_events, values, NULL, NULL);
	}
	if (!api_db_ok(r, c, res, PGRES_TUPLES_OK,
		       scoped ? list_scoped.name : list_events.name))
		goto out;
	o = cJSON_CreateObject();
	items = cJSON_AddArrayToObject(o, "items");
	n = PQntuples(res);
	for (int i = 0; i < n; i++) {
		cJSON *item = event_row(res, i);

		if (item)
			cJSON_AddItemToArray(items, item);
	}
	if (n == limit)
		cJSON_AddNumberToObject(o, "next_after",
					(double)strtoll(PQgetvalue(res, n - 1, 0),
							NULL, 10));
	else
		cJSON_AddNullToObject(o, "next_after");
	api_reply_json(r, MHD_HTTP_OK, o);
out:
	PQclear(res);
	api_db_done(r, c);
}
