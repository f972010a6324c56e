/* Group commit: API threads hand events to one writer that commits many per transaction. */
#include "writer.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store.h"
#include "xalloc.h"

/*
 * The queue (head, tail, stopping) is shared with the API threads and
 * guarded by lock.  Everything else, the connection included, belongs to
 * the writer thread.
 */
struct writer {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct ingest *head, *tail;
	bool stopping; /* set by writer_drain: take no more */
	bool stopped;  /* the thread has exited */

	pthread_t thread;
	char *url;
	long batch_max;
	struct store_conn *conn;
};

/* One event of a group, located by its ingest and index. */
struct item {
	const char *source, *id;
	struct ingest *in;
	size_t idx;
	size_t order; /* arrival order within the group */
};

static const struct store_stmt insert_events = {
	"writer_insert_events",
	"INSERT INTO event (source, id, type, attrs, data_kind, data)"
	" SELECT u.s, u.i, u.t, u.a::jsonb, u.k, u.d"
	" FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],"
	"             $5::int2[], $6::bytea[])"
	"      WITH ORDINALITY AS u(s, i, t, a, k, d, o)"
	" ORDER BY u.o"
	" ON CONFLICT (source, id) DO NOTHING"
	" RETURNING seq, source, id",
	6};

static const struct store_stmt find_events = {
	"writer_find_events",
	"SELECT e.seq, e.source, e.id"
	" FROM unnest($1::text[], $2::text[]) AS u(s, i)"
	" JOIN event e ON e.source = u.s AND e.id = u.i",
	2};

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
exec_ok(PGresult *r, ExecStatusType want, const char *what,
	struct store_conn *c)
{
	if (r != NULL && PQresultStatus(r) == want)
		return true;
	log_error("writer: %s failed: %s", what,
		  r ? PQresultErrorMessage(r) : PQerrorMessage(store_pg(c)));
	return false;
}

/* Insert the group in one transaction.  true when committed. */
static bool
commit_group(struct writer *w, struct item *items, size_t n)
{
	struct store_array arr[6];
	const char *values[6];
	int lengths[6], formats[6] = {1, 1, 1, 1, 1, 1};
	struct item **leaders = xcalloc(n, sizeof(*leaders));
	size_t nleaders = 0, unsettled = 0;
	PGresult *r = NULL;
	bool ok = false;

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
	/* insert in arrival order, so seq follows the order events came in */
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

	if (!store_ensure(w->conn)) {
		log_warn("writer: database unreachable");
		goto out;
	}
	r = PQexec(store_pg(w->conn), "BEGIN");
	if (!exec_ok(r, PGRES_COMMAND_OK, "begin", w->conn))
		goto out;
	PQclear(r);
	r = store_exec(w->conn, &insert_events, values, lengths, formats);
	if (!exec_ok(r, PGRES_TUPLES_OK, "insert events", w->conn))
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
		/* already stored before: answer with the first seq */
		struct store_array s, id;
		const char *fv[2];
		int fl[2], ff[2] = {1, 1};

		store_array_init(&s, STORE_OID_TEXT);
		store_array_init(&id, STORE_OID_TEXT);
		for (size_t k = 0; k < nleaders; k++) {
			if (leaders[k]->in->seqs[leaders[k]->idx] != 0)
				continue;
			store_array_add(&s, leaders[k]->source,
					strlen(leaders[k]->source));
			store_array_add(&id, leaders[k]->id, strlen(leaders[k]->id));
		}
		fv[0] = store_array_param(&s, &fl[0]);
		fv[1] = store_array_param(&id, &fl[1]);
		r = store_exec(w->conn, &find_events, fv, fl, ff);
		store_array_free(&s);
		store_array_free(&id);
		if (!exec_ok(r, PGRES_TUPLES_OK, "find duplicates", w->conn))
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
			goto rollback;
		}
	}

	if (unsettled < nleaders) {
		r = PQexec(store_pg(w->conn), "NOTIFY herald_event");
		if (!exec_ok(r, PGRES_COMMAND_OK, "notify", w->conn))
			goto rollback;
		PQclear(r);
	}
	r = PQexec(store_pg(w->conn), "COMMIT");
	ok = exec_ok(r, PGRES_COMMAND_OK, "commit", w->conn);
	goto out;

rollback:
	PQclear(r);
	r = NULL;
	if (!store_conn_broken(w->conn))
		PQclear(PQexec(store_pg(w->conn), "ROLLBACK"));
out:
	PQclear(r);
	for (int i = 0; i < 6; i++)
		store_array_free(&arr[i]);
	free(leaders);
	return ok;
}

static void
process(struct writer *w, struct ingest *batch)
{
	size_t n = 0, k = 0;
	struct item *items;
	bool ok;

	for (struct ingest *in = batch; in; in = in->next)
		n += in->n;
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
	ok = n == 0 ? true : commit_group(w, items, n);
	free(items);

	while (batch) {
		struct ingest *next = batch->next;

		batch->ok = ok;
		batch->next = NULL;
		batch->done(batch, batch->arg);
		batch = next;
	}
}

static void *
writer_main(void *arg)
{
	struct writer *w = arg;

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
		last->next = NULL;
		pthread_mutex_unlock(&w->lock);

		process(w, batch);
	}
	return NULL;
}

struct writer *
writer_start(const char *url, long batch_max)
{
	struct writer *w = xcalloc(1, sizeof(*w));
	char err[256];

	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->wake, NULL);
	w->url = xstrdup(url);
	w->batch_max = batch_max > 0 ? batch_max : 1;
	w->conn = store_connect(url, err, sizeof(err));
	if (w->conn == NULL) {
		log_error("writer: cannot connect: %s", err);
		goto err;
	}
	if (pthread_create(&w->thread, NULL, writer_main, w) != 0) {
		log_error("writer: cannot start thread");
		goto err;
	}
	return w;
err:
	store_close(w->conn);
	free(w->url);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->wake);
	free(w);
	return NULL;
}

void
writer_submit(struct writer *w, struct ingest *in)
{
	in->next = NULL;
	pthread_mutex_lock(&w->lock);
	if (w->stopping) {
		pthread_mutex_unlock(&w->lock);
		in->ok = false;
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
	pthread_cond_signal(&w->wake);
	pthread_mutex_unlock(&w->lock);
	if (!w->stopped) {
		pthread_join(w->thread, NULL);
		w->stopped = true;
	}
}

void
writer_free(struct writer *w)
{
	if (w == NULL)
		return;
	writer_drain(w);
	store_close(w->conn);
	free(w->url);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->wake);
	free(w);
}
