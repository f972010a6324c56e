/* The dispatcher's database side: loading subscriptions, finding and fetching due work, writing outcomes back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch_core.h"
#include "keyhead.h"
#include "jsonexact.h"
#include "log.h"
#include "metrics.h"
#include "monotime.h"
#include "subscription.h"
#include "xalloc.h"

/*
 * At most one statement is in flight on the session: a fetch or a
 * write-back, sent without waiting (db_next), its answer taken when the
 * socket has it (db_collect).  The rarer ones (sweep, loading
 * subscriptions) run, and wait, only when none is in flight.
 */

/* Due, ready deliveries of each named subscription ($2), up to its cap
 * ($3), in the owned partitions ($1), through the per-subscription due
 * index, leaving out those this dispatcher holds already ($5, $6: the
 * subscription's position in $2 and the seq; a hashed set).  Nothing is
 * written: the partitions are this instance's alone, and what it holds
 * lives in its memory.  $4, the sum of the caps, tells the planner how
 * few rows come back.  For the end-to-end latency: the event's
 * received_at in Unix ms, and whether the delivery succeeded before (a
 * retry or replay of a delivered one); a delivery untouched since its
 * event's transaction (updated_at = received_at, both that transaction's
 * now()) cannot have, and costs no look at its attempts. */
static const struct store_stmt fetch_work = {
	"dispatch_fetch",
	"WITH c AS ("
	"  SELECT x.subscription_id, x.seq, x.ordering_key, x.part, x.attempts,"
	"    x.updated_at"
	"  FROM unnest($2::text[], $3::int4[]) WITH ORDINALITY AS a(sid, cap, i)"
	"  CROSS JOIN LATERAL (SELECT d.subscription_id, d.seq, d.ordering_key,"
	"      d.part, d.attempts, d.updated_at FROM delivery_ready d"
	"    WHERE d.subscription_id = a.sid::uuid"
	"      AND d.next_attempt_at <= now()"
	"      AND d.part = ANY ($1::int4[])"
	"      AND (a.i, d.seq) NOT IN (SELECT h.i, h.q"
	"        FROM unnest($5::int8[], $6::int8[]) AS h(i, q))"
	"    ORDER BY d.next_attempt_at LIMIT a.cap) x"
	"  LIMIT $4)"
	" SELECT c.subscription_id::text, c.seq, c.ordering_key, c.part,"
	"   c.attempts, e.attrs::text, e.data_kind, e.data,"
	"   (extract(epoch FROM e.received_at) * 1000)::int8,"
	"   c.updated_at <> e.received_at AND EXISTS (SELECT 1 FROM attempt t"
	"     WHERE t.subscription_id = c.subscription_id AND t.seq = c.seq"
	"       AND t.status BETWEEN 200 AND 299)"
	" FROM c JOIN event e ON e.seq = c.seq",
	6};

/* The subscriptions with due work in the owned partitions: a skip scan
 * over the subscriptions that have any ready delivery, so its cost grows
 * with their number, not with the backlog. */
static const struct store_stmt sweep_work = {
	"dispatch_sweep",
	"WITH RECURSIVE t(sid) AS ("
	"  (SELECT subscription_id FROM delivery_ready"
	"   ORDER BY subscription_id LIMIT 1)"
	"  UNION ALL"
	"  SELECT (SELECT d.subscription_id FROM delivery_ready d"
	"          WHERE d.subscription_id > t.sid"
	"          ORDER BY d.subscription_id LIMIT 1)"
	"  FROM t WHERE t.sid IS NOT NULL)"
	" SELECT t.sid FROM t WHERE t.sid IS NOT NULL AND EXISTS ("
	"   SELECT 1 FROM delivery_ready d WHERE d.subscription_id = t.sid"
	"     AND d.next_attempt_at <= now() AND d.part = ANY ($1::int4[]))",
	1};

static const struct store_stmt load_subs = {
	"dispatch_load_subs",
	"SELECT id, config::text, status, secret,"
	"  CASE WHEN prev_secret_until > now() THEN prev_secret END,"
	"  (extract(epoch FROM created_at) * 1000)::int8"
	" FROM subscription WHERE id = ANY ($1::text[]::uuid[])",
	1};

/* Outcomes, key heads and 410s in one round trip:
 * herald_dispatch_writeback (sql/002). */
#define WRITEBACK_CALL                                                      \
	"herald_dispatch_writeback($1::text[], $2::int8[], $3::text[],"     \
	"  $4::int4[], $5::int8[], $6::int4[], $7::text[], $8::int8[],"     \
	"  $9::int4[], $10::text[], $11::text[], $12::text[], $13::int8[]," \
	"  $14::text[], $15::text[])"
static const struct store_stmt writeback = {
	"dispatch_writeback", "SELECT " WRITEBACK_CALL, 15};

/*
 * The same, committed synchronously, for a batch that moves a key's head.
 * Its success must be on disk before the next delivery of the key is
 * fetched and sent: were it lost in a crash of PostgreSQL after that
 * one went out, the predecessor would be sent again after it.
 */
static const struct store_stmt writeback_durable = {
	"dispatch_writeback_durable",
	"SELECT " WRITEBACK_CALL ", set_config('synchronous_commit', 'on', true)",
	15};

bool
db_ok(struct dispatch *d, PGresult *r, ExecStatusType want, const char *what)
{
	char label[64];

	/* a broken session is the loop's to handle: the statement failed
	 * with it, which is not worth a line per statement */
	if (store_conn_broken(d->conn))
		return r != NULL && PQresultStatus(r) == want;
	snprintf(label, sizeof(label), "dispatch: %s", what);
	return store_check(d->conn, r, want, label) == STORE_OK;
}

/*
 * The dispatcher's commits need not wait for the disk: if the database
 * loses its last moments in a crash, the outcomes written then revert,
 * whole transactions at a time, to pending, and those deliveries are sent
 * again, which at-least-once allows.  Ingest commits stay synchronous, and
 * so do write-backs that move a key's head (writeback_durable).
 */
bool
db_session_setup(struct dispatch *d)
{
	return store_simple(d->conn, "SET application_name = 'herald-dispatch'",
			    NULL, 0) &&
	       store_simple(d->conn, "SET synchronous_commit = off", NULL, 0) &&
	       store_simple(d->conn, "LISTEN herald_event", NULL, 0) &&
	       store_simple(d->conn, "LISTEN herald_subscription", NULL, 0);
}

/* --- subscriptions --- */

bool
db_subs_load(struct dispatch *d, char **ids, size_t n)
{
	struct store_array arr;
	const char *v;
	int len, fmt = 1;
	PGresult *r;
	bool ok;

	store_array_init(&arr, STORE_OID_TEXT);
	for (size_t i = 0; i < n; i++)
		store_array_add(&arr, ids[i], strlen(ids[i]));
	v = store_array_param(&arr, &len);
	r = store_exec(d->conn, &load_subs, &v, &len, &fmt);
	store_array_free(&arr);
	ok = db_ok(d, r, PGRES_TUPLES_OK, "load subscriptions");
	for (int i = 0; ok && i < PQntuples(r); i++) {
		const char *id = PQgetvalue(r, i, 0);
		struct dsub *s = jobs_sub_find(d, id);
		struct subscription sub;
		struct herald_error err;
		cJSON *config = jsonexact_parse(PQgetvalue(r, i, 1),
						(size_t)PQgetlength(r, i, 1));
		int64_t now = monotime_us();

		if (config == NULL || sub_parse(config, &sub, &err) != 0) {
			log_with(LOG_ERROR, &(struct log_ids){.subscription = id},
				 "dispatch: the subscription has an invalid config");
			cJSON_Delete(config);
			continue;
		}
		cJSON_Delete(config);
		if (s == NULL) {
			s = jobs_sub_add(d, id);
			ratelimit_init(&s->rl, sub.delivery.rate, sub.delivery.burst,
				       sub.delivery.max_in_flight, now);
		} else {
			jobs_sub_clear(s);
			ratelimit_update(&s->rl, sub.delivery.rate, sub.delivery.burst,
					 sub.delivery.max_in_flight, now);
		}
		s->sub = sub;
		jobs_members_update(s, now);
		s->seen = true;
		s->stale = false;
		s->active = strcmp(PQgetvalue(r, i, 2), "active") == 0;
		s->secret = xstrdup(PQgetvalue(r, i, 3));
		s->prev_secret = PQgetisnull(r, i, 4) ? NULL :
				 xstrdup(PQgetvalue(r, i, 4));
		s->created_ms = strtoll(PQgetvalue(r, i, 5), NULL, 10);
	}
	PQclear(r);
	return ok;
}

/* Load the subscriptions among ids not known yet, or stale; false on a
 * database error. */
static bool
learn_subs(struct dispatch *d, char **ids, size_t n)
{
	char **unknown = xcalloc(n + 1, sizeof(*unknown));
	size_t nunknown = 0;
	bool ok = true;

	for (size_t i = 0; i < n; i++) {
		struct dsub *s = jobs_sub_find(d, ids[i]);
		bool seen = s != NULL && !s->stale;

		for (size_t k = 0; k < nunknown && !seen; k++)
			seen = strcmp(unknown[k], ids[i]) == 0;
		if (!seen)
			unknown[nunknown++] = ids[i];
	}
	if (nunknown > 0)
		ok = db_subs_load(d, unknown, nunknown);
	free(unknown);
	return ok;
}

bool
db_mark_work(struct dispatch *d, char **ids, size_t n)
{
	if (!learn_subs(d, ids, n))
		return false;
	for (size_t i = 0; i < n; i++) {
		struct dsub *s = jobs_sub_find(d, ids[i]);

		if (s != NULL) {
			s->work = true;
			d->want_fetch = true;
		}
	}
	return true;
}

/* Ask the database which subscriptions have due work in the owned
 * partitions: at start, after taking partitions over, when told to, and
 * every POLL_MS for what nobody announced (another instance's retries). */
void
db_sweep(struct dispatch *d)
{
	struct store_array parts;
	const char *v;
	int len, fmt = 1, n;
	char **ids;
	PGresult *r;

	d->want_sweep = false;
	d->last_sweep_us = monotime_us();
	if (d->nowned == 0)
		return;
	owner_parts(d, &parts);
	v = store_array_param(&parts, &len);
	r = store_exec(d->conn, &sweep_work, &v, &len, &fmt);
	store_array_free(&parts);
	if (!db_ok(d, r, PGRES_TUPLES_OK, "sweep")) {
		PQclear(r);
		return;
	}
	n = PQntuples(r);
	ids = xcalloc((size_t)n + 1, sizeof(*ids));
	for (int i = 0; i < n; i++)
		ids[i] = PQgetvalue(r, i, 0);
	if (!db_mark_work(d, ids, (size_t)n))
		d->want_sweep = true; /* (after the loop's pause) */
	free(ids);
	PQclear(r);
}

/* --- fetch --- */

/* An integer column of a binary result (int2, int4 or int8). */
static int64_t
bin_int(const PGresult *r, int row, int col)
{
	const unsigned char *p = (const unsigned char *)PQgetvalue(r, row, col);
	int len = PQgetlength(r, row, col);
	uint64_t v = 0;

	if (len < 1 || len > 8)
		return 0;
	for (int i = 0; i < len; i++)
		v = v << 8 | p[i];
	if (len < 8 && (p[0] & 0x80))
		v |= ~(uint64_t)0 << (8 * len); /* sign */
	return (int64_t)v;
}

/* Send the fetch of due work of the subscriptions that may have some,
 * each up to the room in its queue; false when there is nothing to ask
 * or it could not be sent. */
static bool
fetch_send(struct dispatch *d)
{
	struct store_array parts, subs, caps, held_pos, held_seq;
	const char *values[6];
	int lengths[6], formats[6] = {1, 1, 1, 0, 1, 1};
	size_t budget = HELD_MAX - d->nheld, asked = 0;
	char total[24];
	bool sent;

	d->want_fetch = false;
	if (d->nowned == 0 || d->nheld >= HELD_MAX)
		return false;
	store_array_init(&subs, STORE_OID_TEXT);
	store_array_init(&caps, STORE_OID_INT4);
	for (size_t h = 0; h < HASH_BUCKETS && budget > 0; h++) {
		for (struct dsub *s = d->subs[h]; s && budget > 0; s = s->hnext) {
			size_t room;

			s->asked = -1;
			if (!s->work || !s->active || s->queue.n >= jobs_queue_cap(s))
				continue;
			room = jobs_queue_cap(s) - s->queue.n;
			if (room > budget)
				room = budget;
			budget -= room;
			asked += room;
			s->asked = (int)room;
			s->fetched = 0;
			store_array_add(&subs, s->id, strlen(s->id));
			store_array_add_int(&caps, (int64_t)room);
			s->pos = subs.count; /* 1-based, as WITH ORDINALITY */
		}
	}
	if (subs.count == 0) {
		store_array_free(&subs);
		store_array_free(&caps);
		return false;
	}
	/* what we hold of those subscriptions must not come back */
	store_array_init(&held_pos, STORE_OID_INT8);
	store_array_init(&held_seq, STORE_OID_INT8);
	for (size_t h = 0; h < HASH_BUCKETS; h++) {
		for (struct job *j = d->held[h]; j; j = j->hnext) {
			if (j->sub->asked < 0)
				continue;
			store_array_add_int(&held_pos, j->sub->pos);
			store_array_add_int(&held_seq, j->seq);
		}
	}
	owner_parts(d, &parts);
	values[0] = store_array_param(&parts, &lengths[0]);
	values[1] = store_array_param(&subs, &lengths[1]);
	values[2] = store_array_param(&caps, &lengths[2]);
	snprintf(total, sizeof(total), "%zu", asked);
	values[3] = total;
	lengths[3] = 0;
	values[4] = store_array_param(&held_pos, &lengths[4]);
	values[5] = store_array_param(&held_seq, &lengths[5]);
	/* binary results: the event data comes as it is stored */
	sent = store_send(d->conn, &fetch_work, values, lengths, formats, 1);
	store_array_free(&parts);
	store_array_free(&subs);
	store_array_free(&caps);
	store_array_free(&held_pos);
	store_array_free(&held_seq);
	if (sent)
		d->db_op = DB_FETCH;
	return sent;
}

/* Queue the fetched work. */
static void
fetch_done(struct dispatch *d, PGresult *r)
{
	int n;

	if (!db_ok(d, r, PGRES_TUPLES_OK, "fetch"))
		return;
	n = PQntuples(r);
	for (int i = 0; i < n; i++) {
		struct dsub *s = jobs_sub_find(d, PQgetvalue(r, i, 0));
		int64_t seq = bin_int(r, i, 1);
		int part = (int)bin_int(r, i, 3);
		struct job *j;

		if (s == NULL || jobs_held(d, s->id, seq))
			continue; /* forgotten meanwhile; or already ours */
		s->fetched++;
		if (part < 0 || part >= STORE_PARTITIONS) {
			log_with(LOG_ERROR, &(struct log_ids){.subscription = s->id,
							      .seq = seq},
				 "dispatch: the delivery has no partition");
			continue;
		}
		j = jobs_new(d, s, seq, part);
		j->key = PQgetisnull(r, i, 2) ? NULL : xstrdup(PQgetvalue(r, i, 2));
		j->attempts = (int)bin_int(r, i, 4);
		/* kept as stored: reading it is the attempt's work, when it
		 * starts, rather than a burst here */
		j->attrs = xstrdup(PQgetvalue(r, i, 5));
		if (!PQgetisnull(r, i, 7)) {
			j->data_len = (size_t)PQgetlength(r, i, 7);
			j->data = j->data_len ?
				  xmemdup(PQgetvalue(r, i, 7), j->data_len) : NULL;
		}
		j->data_kind = (enum ce_data_kind)bin_int(r, i, 6);
		j->received_ms = bin_int(r, i, 8);
		j->succeeded_before = bin_int(r, i, 9) != 0;
		jobs_move(d, j, s->active ? JOB_QUEUED : JOB_FINISHED);
	}
	/* a subscription that got less than it asked for has nothing more
	 * due for now; one that got all may have more */
	for (size_t h = 0; h < HASH_BUCKETS; h++)
		for (struct dsub *s = d->subs[h]; s; s = s->hnext)
			if (s->asked >= 0 && s->fetched < s->asked)
				s->work = false;
}

/* --- write-back --- */

/* The write-back is over: forget what was written, or keep it to be
 * written again. */
static void
writeback_done(struct dispatch *d, bool ok)
{
	int64_t now = monotime_us();
	struct job *j;

	if (!ok) {
		/* the next write-back takes them again, after a pause */
		d->db_pause_us = now + DB_PAUSE_MS * 1000;
		while ((j = d->writing.head) != NULL)
			jobs_move(d, j, JOB_FINISHED);
		return;
	}
	while ((j = d->writing.head) != NULL) {
		if (j->attempted && j->verdict.gone)
			j->sub->active = false;
		if (j->attempted && j->verdict.state == DELIVERY_FAILED)
			metrics_delivery_failed();
		/* its key may have a next delivery ready now */
		j->sub->work = true;
		d->want_fetch = true;
		/* wake for our own retries, not just the next sweep */
		if (j->attempted && j->verdict.state == DELIVERY_PENDING) {
			int64_t due = now + (int64_t)j->verdict.delay_ms * 1000;

			if (j->sub->wake_us == 0 || due < j->sub->wake_us)
				j->sub->wake_us = due;
			if (d->next_retry_us == 0 || due < d->next_retry_us)
				d->next_retry_us = due;
		}
		jobs_move(d, j, JOB_FORGOTTEN);
	}
	/* a subscription disabled by a 410 keeps nothing queued */
	for (struct dsub *s = d->busy; s; s = s->bnext)
		if (!s->active)
			jobs_release_queue(d, s);
}

bool
db_writeback_send(struct dispatch *d)
{
	/* herald_dispatch_writeback's parameters: the arrays built here,
	 * then the three of the keys whose heads move (keyhead_params) */
	enum { R_SUB, R_SEQ, R_STATE, R_ATTEMPTS, R_DELAY, R_STATUS, R_ERROR,
	       R_AT, R_LATENCY, R_HEAD, R_SINK, GONE, KEYS, NPARAMS = KEYS + 3 };
	static const uint32_t oids[KEYS] = {
		[R_SUB] = STORE_OID_TEXT, [R_SEQ] = STORE_OID_INT8,
		[R_STATE] = STORE_OID_TEXT, [R_ATTEMPTS] = STORE_OID_INT4,
		[R_DELAY] = STORE_OID_INT8, [R_STATUS] = STORE_OID_INT4,
		[R_ERROR] = STORE_OID_TEXT, [R_AT] = STORE_OID_INT8,
		[R_LATENCY] = STORE_OID_INT4, [R_HEAD] = STORE_OID_TEXT,
		[R_SINK] = STORE_OID_TEXT, [GONE] = STORE_OID_TEXT};
	struct store_array a[KEYS], locks;
	struct keyhead_set heads = {0};
	const char *values[NPARAMS];
	int lengths[NPARAMS], formats[NPARAMS];
	bool sent = false, nothing;

	if (d->results.head == NULL)
		return false;
	for (int i = 0; i < KEYS; i++)
		store_array_init(&a[i], oids[i]);
	for (struct job *j = d->results.head; j; j = j->next) {
		const struct delivery_verdict *v = &j->verdict;
		const char *id = j->sub->id, *state = delivery_state_name(v->state);
		int32_t status = (int32_t)j->status;
		const char *err = v->error[0] ? v->error : NULL;

		if (!j->attempted)
			continue; /* released unsent: nothing to write */
		store_array_add(&a[R_SUB], id, strlen(id));
		store_array_add_int(&a[R_SEQ], j->seq);
		store_array_add(&a[R_STATE], state, strlen(state));
		store_array_add_int(&a[R_ATTEMPTS], v->attempts);
		store_array_add_int(&a[R_DELAY], v->delay_ms);
		if (status)
			store_array_add_int(&a[R_STATUS], status);
		else
			store_array_add(&a[R_STATUS], NULL, 0);
		store_array_add(&a[R_ERROR], err, err ? strlen(err) : 0);
		store_array_add_int(&a[R_AT], j->started_ms);
		store_array_add_int(&a[R_LATENCY], j->latency_ms);
		/* only text that PostgreSQL will take: valid UTF-8, no NUL */
		if (j->head_len && memchr(j->head, 0, j->head_len) == NULL &&
		    ce_utf8_valid(j->head, j->head_len))
			store_array_add(&a[R_HEAD], j->head, j->head_len);
		else
			store_array_add(&a[R_HEAD], NULL, 0);
		store_array_add(&a[R_SINK], j->sink, j->sink ? strlen(j->sink) : 0);
		/* a finished delivery hands its key to the next one */
		if (delivery_state_final(v->state))
			keyhead_add(&heads, id, j->key);
		if (v->gone)
			store_array_add(&a[GONE], id, strlen(id));
	}
	nothing = a[R_SUB].count == 0; /* only jobs handed back unsent */
	if (!nothing) {
		for (int i = 0; i < KEYS; i++)
			values[i] = store_array_param(&a[i], &lengths[i]);
		keyhead_params(&heads, &locks, values + KEYS, lengths + KEYS);
		for (int i = 0; i < NPARAMS; i++)
			formats[i] = 1;
		sent = store_send(d->conn,
				  heads.n ? &writeback_durable : &writeback,
				  values, lengths, formats, 0);
		store_array_free(&locks);
	}
	for (int i = 0; i < KEYS; i++)
		store_array_free(&a[i]);
	keyhead_free(&heads);
	if (!sent && !nothing)
		return false; /* they stay to be written */
	while (d->results.head != NULL)
		jobs_move(d, d->results.head, JOB_WRITING);
	if (sent)
		d->db_op = DB_WRITEBACK;
	else
		writeback_done(d, true);
	return sent;
}

/* --- the statement in flight --- */

void
db_collect(struct dispatch *d, bool block)
{
	PGresult *r;
	int op = d->db_op;

	if (op == DB_IDLE)
		return;
	if (block)
		r = store_await(d->conn);
	else if (!store_collect(d->conn, &r))
		return;
	d->db_op = DB_IDLE;
	if (op == DB_FETCH)
		fetch_done(d, r);
	else
		writeback_done(d, db_ok(d, r, PGRES_TUPLES_OK, "write back"));
	PQclear(r);
}

/* Fetches and write-backs take turns, so neither waits behind a stream
 * of the other. */
void
db_next(struct dispatch *d)
{
	if (d->db_op != DB_IDLE || monotime_us() < d->db_pause_us)
		return;
	if (d->want_fetch && (!d->fetched_last || d->results.head == NULL)) {
		d->fetched_last = true;
		if (fetch_send(d))
			return;
	}
	d->fetched_last = false;
	db_writeback_send(d);
}
