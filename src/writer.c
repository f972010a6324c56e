/* Group commit: API threads hand events to writer threads that each commit many per transaction. */
#include "writer.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "datafilter.h"
#include "keyhead.h"
#include "log.h"
#include "metrics.h"
#include "monotime.h"
#include "store.h"
#include "subcache.h"
#include "subscription.h"
#include "xalloc.h"

/*
 * Several writer threads take groups from one queue, each on its own
 * connection with its own subscription cache, so their transactions
 * overlap: one builds and inserts a group while another waits for its
 * COMMIT.  What keeps that correct:
 *
 * Identity.  herald_event_insert (sql/009) takes a transaction advisory
 * lock per identity in the group, ascending, then inserts the events no
 * partition holds: a transaction inserting an identity another one has
 * inserted but not committed waits for it, then skips the row, and
 * find_events, a later statement, reads the first one's seq: the
 * duplicate is answered 200 with it.  seq is drawn in arrival order.
 *
 * Order per key.  A group locks every key its events may touch (the
 * advisory locks of keyhead.c, ascending) before it draws any seq.  Two
 * groups sharing a key thus run one after the other: the second draws its
 * seqs after the first committed, and its `ready` decision sees the
 * first's pending deliveries.  Per key, seq order is commit order and
 * deliveries go out in seq order.  (Locking after the insert would let a
 * later seq of a key commit first and become ready, its predecessor then
 * being sent after it.)  Keys of events that turn out to be duplicates
 * are locked too, which is only cautious.
 *
 * No deadlock.  A transaction takes keys (ascending), then identities
 * (ascending), then commits.  It waits for an identity only once it holds
 * all its keys, and whoever holds that identity holds all of its own, so
 * waits never form a cycle.  The dispatcher and the API routes that move
 * a key's head take key locks only, ascending, before changing rows.
 *
 * The queue (head, tail, stopping) is shared with the API threads and
 * guarded by lock.  Each thread's connection and cache are its own.
 */
struct writer {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct ingest *head, *tail;
	bool stopping; /* set by writer_drain: take no more */
	bool stopped;  /* the threads have exited */

	long batch_max;
	struct writer_thread *threads;
	size_t nthreads;
};

struct writer_thread {
	struct writer *w;
	pthread_t thread;
	struct store_conn *conn;
	struct subcache *subs;
};

/* A NOTIFY payload stays well under PostgreSQL's 8000 bytes; past this
 * the dispatchers are told "*" and look for themselves. */
#define NOTICE_MAX 7000

/* One event of a group, located by its ingest and index. */
struct item {
	const char *source, *id;
	struct ingest *in;
	size_t idx;
	size_t order; /* arrival order within the group */
};

/* A subscription one leader's event matched: a delivery row if the
 * event turns out new. */
struct match {
	const struct item *leader;
	const char *sub_id; /* in the writer's subcache, valid for the group */
	const char *key;    /* NULL: unordered */
};

/* Every leader matched before the insert, in arrival order, and the keys
 * to lock. */
struct plan {
	struct match *m;
	size_t n, cap;
	struct keyhead_set heads;
	const struct item *cur;
};

/* The delivery rows of the new events. */
struct fanout {
	struct store_array sub, seq, key, part, first;
	char **seen;    /* "sub\x1fkey" of ordered rows so far */
	size_t nseen, capseen;
	char notice[NOTICE_MAX]; /* the subscriptions given work, for NOTIFY */
	size_t notice_len;
};

/* The group's new events, each unless its identity is stored already
 * (sql/009: herald_event_insert), with seqs drawn in arrival order. */
static const struct store_stmt insert_events = {
	"writer_insert_events",
	"SELECT seq, source, id FROM herald_event_insert($1::text[],"
	" $2::text[], $3::text[], $4::text[], $5::int2[], $6::bytea[])",
	6};

static const struct store_stmt find_events = {
	"writer_find_events",
	"SELECT e.seq, e.source, e.id"
	" FROM unnest($1::text[], $2::text[]) AS u(s, i)"
	" JOIN event e ON e.source = u.s AND e.id = u.i",
	2};

static const struct store_stmt notify_work = {
	"writer_notify_work", "SELECT pg_notify('herald_event', $1)", 1};

/* The rules of a new row's `ready` live with the other changes to a
 * delivery, in sql/003. */
static const struct store_stmt insert_deliveries = {
	"writer_insert_deliveries",
	"SELECT herald_delivery_insert($1::text[], $2::int8[], $3::text[],"
	" $4::int4[], $5::bool[])",
	5};

static int
item_cmp(const void *a, const void *b)
{
	const struct item *x = a, *y = b;
	int c = strcmp(x->source, y->source);

	if (c == 0)
		c = strcmp(x->id, y->id);
	if (c == 0)
		c = x->order < y->order ? -1 : x->order > y->order;
	return c;
}

/* Index of the first item with this identity in the sorted items, or -1. */
static long
find_item(const struct item *items, size_t n, const char *source,
	  const char *id)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(items[mid].source, source);

		if (c == 0)
			c = strcmp(items[mid].id, id);
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < n && strcmp(items[lo].source, source) == 0 &&
	    strcmp(items[lo].id, id) == 0)
		return (long)lo;
	return -1;
}

static bool
same_identity(const struct item *a, const struct item *b)
{
	return strcmp(a->source, b->source) == 0 && strcmp(a->id, b->id) == 0;
}

static int
order_cmp(const void *a, const void *b)
{
	const struct item *x = *(const struct item *const *)a;
	const struct item *y = *(const struct item *const *)b;

	return x->order < y->order ? -1 : x->order > y->order;
}

/* Give every item of the run starting at first its seq; the first of the
 * run is new when inserted, all others are duplicates. */
static void
settle_run(struct item *items, size_t n, size_t first, int64_t seq,
	   bool inserted)
{
	for (size_t i = first; i < n && same_identity(&items[i], &items[first]);
	     i++) {
		items[i].in->seqs[items[i].idx] = seq;
		items[i].in->duplicate[items[i].idx] = !(inserted && i == first);
	}
}

static bool
is_new(const struct item *it)
{
	return !it->in->duplicate[it->idx];
}

/* subcache_match callback: remember the match, lock its key. */
static void
add_match(void *arg, const char *sub_id, const struct subscription *sub)
{
	struct plan *p = arg;
	const char *key = sub_ordering_key(sub, &p->cur->in->evs[p->cur->idx]);

	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 64;
		p->m = xrealloc(p->m, p->cap * sizeof(*p->m));
	}
	p->m[p->n].leader = p->cur;
	p->m[p->n].sub_id = sub_id;
	p->m[p->n].key = key;
	p->n++;
	keyhead_add(&p->heads, sub_id, key);
}

static void
plan_free(struct plan *p)
{
	free(p->m);
	keyhead_free(&p->heads);
}

/* Add a subscription to the NOTIFY payload, once. */
static void
note_subscription(struct fanout *f, const char *sub_id)
{
	size_t len = strlen(sub_id);

	if (strcmp(f->notice, "*") == 0)
		return;
	for (const char *p = f->notice; (p = strstr(p, sub_id)) != NULL; p += len)
		if ((p == f->notice || p[-1] == ',') && (p[len] == ',' || !p[len]))
			return;
	if (f->notice_len + len + 2 > sizeof(f->notice)) {
		strcpy(f->notice, "*");
		f->notice_len = 1;
		return;
	}
	if (f->notice_len > 0)
		f->notice[f->notice_len++] = ',';
	memcpy(f->notice + f->notice_len, sub_id, len + 1);
	f->notice_len += len;
}

/* Is this the group's first row of its (subscription, key)?  Remembers
 * it either way. */
static bool
first_of_key(struct fanout *f, const char *sub_id, const char *key)
{
	size_t ls = strlen(sub_id), lk = strlen(key);
	char *tag = xmalloc(ls + lk + 2);

	memcpy(tag, sub_id, ls);
	tag[ls] = '\x1f';
	memcpy(tag + ls + 1, key, lk + 1);
	for (size_t i = 0; i < f->nseen; i++) {
		if (strcmp(f->seen[i], tag) == 0) {
			free(tag);
			return false;
		}
	}
	if (f->nseen == f->capseen) {
		f->capseen = f->capseen ? f->capseen * 2 : 64;
		f->seen = xrealloc(f->seen, f->capseen * sizeof(*f->seen));
	}
	f->seen[f->nseen++] = tag;
	return true;
}

/* One delivery row of a new event. */
static void
add_delivery(struct fanout *f, const struct match *m)
{
	const struct item *it = m->leader;
	int64_t seq = it->in->seqs[it->idx];
	unsigned char b = m->key == NULL || first_of_key(f, m->sub_id, m->key);

	note_subscription(f, m->sub_id);
	store_array_add(&f->sub, m->sub_id, strlen(m->sub_id));
	store_array_add_int(&f->seq, seq);
	store_array_add(&f->key, m->key, m->key ? strlen(m->key) : 0);
	store_array_add_int(&f->part, keyhead_partition(m->sub_id, m->key, seq));
	store_array_add(&f->first, &b, 1);
}

/* Insert the delivery rows of the new events, in the group's transaction
 * and with their keys locked.  STORE_OK, or the failure (logged). */
static enum store_status
fan_out(struct writer_thread *t, const struct plan *p)
{
	struct fanout f;
	const char *values[5];
	int lengths[5], formats[5] = {1, 1, 1, 1, 1};
	PGresult *r;
	enum store_status s = STORE_OK;

	memset(&f, 0, sizeof(f));
	store_array_init(&f.sub, STORE_OID_TEXT);
	store_array_init(&f.seq, STORE_OID_INT8);
	store_array_init(&f.key, STORE_OID_TEXT);
	store_array_init(&f.part, STORE_OID_INT4);
	store_array_init(&f.first, STORE_OID_BOOL);
	/* in arrival order, which is seq order: a key's first row is its
	 * lowest seq */
	for (size_t i = 0; i < p->n; i++)
		if (is_new(p->m[i].leader))
			add_delivery(&f, &p->m[i]);
	if (f.sub.count == 0)
		goto out;
	values[0] = store_array_param(&f.sub, &lengths[0]);
	values[1] = store_array_param(&f.seq, &lengths[1]);
	values[2] = store_array_param(&f.key, &lengths[2]);
	values[3] = store_array_param(&f.part, &lengths[3]);
	values[4] = store_array_param(&f.first, &lengths[4]);
	r = store_exec(t->conn, &insert_deliveries, values, lengths, formats);
	s = store_check(t->conn, r, PGRES_TUPLES_OK, insert_deliveries.name);
	PQclear(r);
	if (s == STORE_OK) {
		/* the dispatchers learn at commit which subscriptions got work */
		const char *v = f.notice;

		r = store_exec(t->conn, &notify_work, &v, NULL, NULL);
		s = store_check(t->conn, r, PGRES_TUPLES_OK, notify_work.name);
		PQclear(r);
	}
out:
	store_array_free(&f.sub);
	store_array_free(&f.seq);
	store_array_free(&f.key);
	store_array_free(&f.part);
	store_array_free(&f.first);
	for (size_t i = 0; i < f.nseen; i++)
		free(f.seen[i]);
	free(f.seen);
	return s;
}

/* End the group's failed transaction.  A ROLLBACK that fails on a live
 * session leaves it in an unknown state: a new one replaces it. */
static void
roll_back(struct writer_thread *t)
{
	PGresult *r;

	if (store_conn_broken(t->conn))
		return; /* the transaction ended with the session */
	/* its own short wait: the group's deadline may have just passed */
	store_set_deadline(t->conn, monotime_ms() + STORE_ROLLBACK_MS);
	r = store_query(t->conn, "ROLLBACK");
	if (store_check(t->conn, r, PGRES_COMMAND_OK, "writer: rollback") !=
	    STORE_OK && !store_conn_broken(t->conn))
		store_disconnect(t->conn);
	PQclear(r);
}

/* Insert the group in one transaction.  STORE_OK when committed, else
 * the failure (logged). */
static enum store_status
commit_group(struct writer_thread *t, struct item *items, size_t n)
{
	struct store_array arr[6];
	const char *values[6];
	int lengths[6], formats[6] = {1, 1, 1, 1, 1, 1};
	struct item **leaders = xcalloc(n, sizeof(*leaders));
	struct plan plan;
	size_t nleaders = 0, unsettled = 0;
	PGresult *r = NULL;
	enum store_status s;

	memset(&plan, 0, sizeof(plan));
	/* sorted by identity then arrival: the first of each run is its leader */
	qsort(items, n, sizeof(*items), item_cmp);
	for (size_t i = 0; i < n; i++)
		if (i == 0 || !same_identity(&items[i], &items[i - 1]))
			leaders[nleaders++] = &items[i];

	store_array_init(&arr[0], STORE_OID_TEXT);
	store_array_init(&arr[1], STORE_OID_TEXT);
	store_array_init(&arr[2], STORE_OID_TEXT);
	store_array_init(&arr[3], STORE_OID_TEXT);
	store_array_init(&arr[4], STORE_OID_INT2);
	store_array_init(&arr[5], STORE_OID_BYTEA);
	/* in arrival order, so seq follows the order events came in */
	qsort(leaders, nleaders, sizeof(*leaders), order_cmp);
	for (size_t k = 0; k < nleaders; k++) {
		const struct cloudevent *ev = &leaders[k]->in->evs[leaders[k]->idx];
		char *attrs = cJSON_PrintUnformatted(ev->attrs);

		store_array_add(&arr[0], ev->source, strlen(ev->source));
		store_array_add(&arr[1], ev->id, strlen(ev->id));
		store_array_add(&arr[2], ev->type, strlen(ev->type));
		store_array_add(&arr[3], attrs, strlen(attrs));
		store_array_add_int(&arr[4], ev->data_kind);
		store_array_add(&arr[5], ev->data_len ? (const void *)ev->data : NULL,
				ev->data_len);
		cJSON_free(attrs);
	}
	for (int i = 0; i < 6; i++)
		values[i] = store_array_param(&arr[i], &lengths[i]);

	if (!store_ensure(t->conn)) {
		s = STORE_GONE; /* (logged once per loss) */
		goto out;
	}
	r = store_query(t->conn, "BEGIN");
	s = store_check(t->conn, r, PGRES_COMMAND_OK, "writer: begin");
	if (s != STORE_OK)
		goto out;
	PQclear(r);
	r = NULL;
	if ((s = subcache_refresh(t->subs, t->conn)) != STORE_OK)
		goto rollback;
	/* match first, so that the keys are locked before any seq is drawn */
	for (size_t k = 0; k < nleaders; k++) {
		const struct cloudevent *ev =
			&leaders[k]->in->evs[leaders[k]->idx];
		struct datafilter_view data; /* parsed once, if a filter asks */

		plan.cur = leaders[k];
		datafilter_view_init(&data, ev);
		subcache_match(t->subs, ev, &data, add_match, &plan);
		datafilter_view_free(&data);
	}
	if ((s = keyhead_lock(&plan.heads, t->conn)) != STORE_OK)
		goto rollback;
	r = store_exec(t->conn, &insert_events, values, lengths, formats);
	s = store_check(t->conn, r, PGRES_TUPLES_OK, insert_events.name);
	if (s != STORE_OK)
		goto rollback;
	for (int i = 0; i < PQntuples(r); i++) {
		long at = find_item(items, n, PQgetvalue(r, i, 1),
				    PQgetvalue(r, i, 2));

		if (at >= 0)
			settle_run(items, n, (size_t)at,
				   strtoll(PQgetvalue(r, i, 0), NULL, 10), true);
	}
	unsettled = nleaders - (size_t)PQntuples(r);
	PQclear(r);
	r = NULL;

	if (unsettled > 0) {
		/* stored before, or by a transaction this insert waited for:
		 * answer with the first seq */
		struct store_array src, id;
		const char *fv[2];
		int fl[2], ff[2] = {1, 1};

		store_array_init(&src, STORE_OID_TEXT);
		store_array_init(&id, STORE_OID_TEXT);
		for (size_t k = 0; k < nleaders; k++) {
			if (leaders[k]->in->seqs[leaders[k]->idx] != 0)
				continue;
			store_array_add(&src, leaders[k]->source,
					strlen(leaders[k]->source));
			store_array_add(&id, leaders[k]->id, strlen(leaders[k]->id));
		}
		fv[0] = store_array_param(&src, &fl[0]);
		fv[1] = store_array_param(&id, &fl[1]);
		r = store_exec(t->conn, &find_events, fv, fl, ff);
		store_array_free(&src);
		store_array_free(&id);
		s = store_check(t->conn, r, PGRES_TUPLES_OK, find_events.name);
		if (s != STORE_OK)
			goto rollback;
		for (int i = 0; i < PQntuples(r); i++) {
			long at = find_item(items, n, PQgetvalue(r, i, 1),
					    PQgetvalue(r, i, 2));

			if (at >= 0)
				settle_run(items, n, (size_t)at,
					   strtoll(PQgetvalue(r, i, 0), NULL, 10),
					   false);
		}
		PQclear(r);
		r = NULL;
	}
	for (size_t i = 0; i < n; i++) {
		if (items[i].in->seqs[items[i].idx] == 0) {
			log_error("writer: event %s from %s has no seq",
				  items[i].id, items[i].source);
			s = STORE_QUERY_ERROR;
			goto rollback;
		}
	}

	if (unsettled < nleaders && (s = fan_out(t, &plan)) != STORE_OK)
		goto rollback;
	r = store_query(t->conn, "COMMIT");
	s = store_check(t->conn, r, PGRES_COMMAND_OK, "writer: commit");
	goto out;

rollback:
	PQclear(r);
	r = NULL;
	roll_back(t);
out:
	PQclear(r);
	for (int i = 0; i < 6; i++)
		store_array_free(&arr[i]);
	plan_free(&plan);
	free(leaders);
	return s;
}

/* Answer the ingests of a list with s. */
static void
answer_all(struct ingest *list, enum store_status s)
{
	while (list) {
		struct ingest *next = list->next;

		list->status = s;
		list->next = NULL;
		list->done(list, list->arg);
		list = next;
	}
}

/* Take out of *batch the ingests whose deadline has passed while they
 * were queued: they are answered now, the others committed. */
static struct ingest *
take_late(struct ingest **batch)
{
	struct ingest *late = NULL, **pp = batch;
	int64_t now = monotime_ms();

	while (*pp) {
		struct ingest *in = *pp;

		if (in->deadline_ms > 0 && in->deadline_ms <= now) {
			*pp = in->next;
			in->next = late;
			late = in;
		} else {
			pp = &in->next;
		}
	}
	return late;
}

static void
process(struct writer_thread *t, struct ingest *batch)
{
	size_t n = 0, k = 0;
	struct item *items;
	enum store_status s;
	int64_t deadline = 0; /* the group's earliest */

	answer_all(take_late(&batch), STORE_TIMEOUT);
	for (struct ingest *in = batch; in; in = in->next) {
		n += in->n;
		if (in->deadline_ms > 0 &&
		    (deadline == 0 || in->deadline_ms < deadline))
			deadline = in->deadline_ms;
	}
	items = xcalloc(n ? n : 1, sizeof(*items));
	for (struct ingest *in = batch; in; in = in->next) {
		for (size_t i = 0; i < in->n; i++, k++) {
			items[k].source = in->evs[i].source;
			items[k].id = in->evs[i].id;
			items[k].in = in;
			items[k].idx = i;
			items[k].order = k;
			in->seqs[i] = 0;
			in->duplicate[i] = false;
		}
	}
	if (n == 0) {
		s = STORE_OK;
	} else {
		store_set_deadline(t->conn, deadline);
		s = commit_group(t, items, n);
		store_set_deadline(t->conn, 0);
		if (s == STORE_OK)
			metrics_writer_batch(n);
	}
	free(items);
	answer_all(batch, s);
}

/* This thread lost its connection: what is queued would most likely
 * only wait for the same answer (each statement may wait up to
 * STORE_API_TIMEOUT_MS, a reconnect its connect_timeout), so it gets it
 * now (503), each request well within its 5 seconds.  The groups other
 * threads hold are theirs to finish or fail. */
static void
fail_queued(struct writer *w)
{
	struct ingest *in;

	pthread_mutex_lock(&w->lock);
	in = w->head;
	w->head = w->tail = NULL;
	pthread_mutex_unlock(&w->lock);
	answer_all(in, STORE_GONE);
}

static void *
writer_main(void *arg)
{
	struct writer_thread *t = arg;
	struct writer *w = t->w;

	for (;;) {
		struct ingest *batch, *last;
		size_t events;

		pthread_mutex_lock(&w->lock);
		while (w->head == NULL && !w->stopping)
			pthread_cond_wait(&w->wake, &w->lock);
		if (w->head == NULL) {
			pthread_mutex_unlock(&w->lock);
			break;
		}
		/* take whole ingests up to batch_max events (at least one) */
		batch = last = w->head;
		events = batch->n;
		while (last->next && events + last->next->n <= (size_t)w->batch_max) {
			last = last->next;
			events += last->n;
		}
		w->head = last->next;
		if (w->head == NULL)
			w->tail = NULL;
		else
			pthread_cond_signal(&w->wake); /* more for an idle thread */
		last->next = NULL;
		pthread_mutex_unlock(&w->lock);

		process(t, batch);
		if (store_conn_broken(t->conn))
			fail_queued(w);
	}
	return NULL;
}

/* Close what writer_start opened; the threads have exited. */
static void
destroy(struct writer *w)
{
	for (size_t i = 0; i < w->nthreads; i++) {
		store_close(w->threads[i].conn);
		subcache_free(w->threads[i].subs);
	}
	free(w->threads);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->wake);
	free(w);
}

struct writer *
writer_start(const char *url, long batch_max, long threads)
{
	struct writer *w = xcalloc(1, sizeof(*w));
	size_t n = threads > 0 ? (size_t)threads : 1, started = 0;
	char err[256];

	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->wake, NULL);
	w->batch_max = batch_max > 0 ? batch_max : 1;
	w->threads = xcalloc(n, sizeof(*w->threads));
	w->nthreads = n;
	for (size_t i = 0; i < n; i++) {
		struct writer_thread *t = &w->threads[i];

		t->w = w;
		t->subs = subcache_new();
		t->conn = store_connect(url, err, sizeof(err));
		if (t->conn == NULL) {
			log_error("writer: cannot connect: %s", err);
			goto err;
		}
		store_set_timeout(t->conn, STORE_API_TIMEOUT_MS);
	}
	for (; started < n; started++) {
		if (pthread_create(&w->threads[started].thread, NULL, writer_main,
				   &w->threads[started]) != 0) {
			log_error("writer: cannot start thread");
			goto err;
		}
	}
	log_info("writer: %zu threads, up to %ld events per transaction", n,
		 w->batch_max);
	return w;
err:
	/* the queue is empty: the started threads exit at once */
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	pthread_cond_broadcast(&w->wake);
	pthread_mutex_unlock(&w->lock);
	for (size_t i = 0; i < started; i++)
		pthread_join(w->threads[i].thread, NULL);
	destroy(w);
	return NULL;
}

void
writer_submit(struct writer *w, struct ingest *in)
{
	in->next = NULL;
	pthread_mutex_lock(&w->lock);
	if (w->stopping) {
		pthread_mutex_unlock(&w->lock);
		in->status = STORE_GONE; /* stopping: as if the database were */
		in->done(in, in->arg);
		return;
	}
	if (w->tail)
		w->tail->next = in;
	else
		w->head = in;
	w->tail = in;
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
}

void
writer_drain(struct writer *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	pthread_cond_broadcast(&w->wake);
	pthread_mutex_unlock(&w->lock);
	/* each thread leaves once the queue is empty */
	if (!w->stopped) {
		for (size_t i = 0; i < w->nthreads; i++)
			pthread_join(w->threads[i].thread, NULL);
		w->stopped = true;
	}
}

void
writer_free(struct writer *w)
{
	if (w == NULL)
		return;
	writer_drain(w);
	destroy(w);
}
