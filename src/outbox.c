/* The outbox of operational events: drained into the event log through the writer; a backlog crossing recorded. */
#include "outbox.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "cloudevent.h"
#include "log.h"
#include "monotime.h"
#include "opevent.h"
#include "xalloc.h"

/*
 * The write-back that marks a delivery failed or disables a subscription
 * records the operational event in the opevent table, in its own
 * transaction (sql/005).  This thread publishes those rows as events:
 * in one transaction of its own, holding the outbox lock, it reads the
 * oldest rows, hands them to the writer as one ingest (the ordinary path:
 * fan-out, filters, ordering), and once the writer has committed them,
 * deletes them and commits.  Should it die in between, the rows stay,
 * and the next drain publishes them again under the same ids, which
 * deduplication on (source, id) drops: each event is stored once.
 *
 * One drainer at a time across every instance (a transaction advisory
 * lock, tried, not waited for): batches are published in row order.  A
 * drainer wakes on the NOTIFY of a write-back that recorded something,
 * and every POLL_MS anyway.
 *
 * Everything here belongs to the outbox thread, except `stopping`, which
 * outbox_stop sets (then wakes the thread through wakefd), and the
 * ingest's completion, under lock.
 */

#define BATCH 100
#define POLL_MS 2000
#define PAUSE_MS 500        /* after a failure */
#define DB_TIMEOUT_MS 10000 /* a hung database: drop the session */

/* The namespace of the outbox's advisory lock ("outb"), key 1. */
#define OUTBOX_LOCK_SQL "1869968482, 1"

struct outbox {
	pthread_t thread;
	atomic_bool stopping;
	int wakefd;
	struct writer *writer;
	struct store_conn *conn;
	bool listening; /* LISTEN done on the current session */

	/* the ingest handed to the writer, answered under lock */
	pthread_mutex_t lock;
	pthread_cond_t answered;
	bool done;
};

static const struct store_stmt try_lock = {
	"outbox_try_lock", "SELECT pg_try_advisory_xact_lock(" OUTBOX_LOCK_SQL ")",
	0};

enum {
	C_ID, C_KIND, C_SUB, C_SEQ, C_SOURCE, C_EVID, C_TYPE, C_ATTEMPTS,
	C_STATUS, C_ERROR, C_REASON, C_BACKLOG, C_THRESHOLD, C_AT
};
static const struct store_stmt read_rows = {
	"outbox_read",
	"SELECT id, kind, subscription_id::text, seq, event_source, event_id,"
	"  event_type, attempts, last_status, last_error, reason, backlog,"
	"  threshold, " STORE_RFC3339("at")
	" FROM opevent ORDER BY id LIMIT $1",
	1};

static const struct store_stmt delete_rows = {
	"outbox_delete", "DELETE FROM opevent WHERE id = ANY ($1::int8[])", 1};

static const struct store_stmt record_backlog = {
	"outbox_backlog",
	"SELECT herald_opevent_backlog($1::uuid, $2::int8, $3::int8)", 3};

static void
ingest_done(struct ingest *in, void *arg)
{
	struct outbox *o = arg;

	(void)in;
	pthread_mutex_lock(&o->lock);
	o->done = true;
	pthread_cond_signal(&o->answered);
	pthread_mutex_unlock(&o->lock);
}

/* Commit the events through the writer; its status. */
static enum store_status
publish(struct outbox *o, struct cloudevent *evs, size_t n)
{
	struct ingest in;

	memset(&in, 0, sizeof(in));
	in.evs = evs;
	in.n = n;
	in.seqs = xcalloc(n, sizeof(*in.seqs));
	in.duplicate = xcalloc(n, sizeof(*in.duplicate));
	in.deadline_ms = monotime_ms() + STORE_API_TIMEOUT_MS;
	in.done = ingest_done;
	in.arg = o;
	o->done = false;
	writer_submit(o->writer, &in);
	pthread_mutex_lock(&o->lock);
	while (!o->done)
		pthread_cond_wait(&o->answered, &o->lock);
	pthread_mutex_unlock(&o->lock);
	for (size_t i = 0; i < n; i++)
		log_debug("outbox: %s event %s: seq %" PRId64 "%s", evs[i].type,
			  evs[i].id, in.seqs[i],
			  in.duplicate[i] ? " (published before)" : "");
	free(in.seqs);
	free(in.duplicate);
	return in.status;
}

static const char *
col(const PGresult *r, int row, int c)
{
	return PQgetisnull(r, row, c) ? NULL : PQgetvalue(r, row, c);
}

static int64_t
col_int(const PGresult *r, int row, int c)
{
	return PQgetisnull(r, row, c) ? 0 : strtoll(PQgetvalue(r, row, c), NULL, 10);
}

/* Row i as an event; false (logged) when it makes none. */
static bool
row_event(const PGresult *r, int i, struct cloudevent *ev)
{
	struct opevent op;
	struct herald_error err;

	memset(&op, 0, sizeof(op));
	if (!opevent_kind_parse(col(r, i, C_KIND), &op.kind)) {
		log_error("outbox: row %s has an unknown kind", col(r, i, C_ID));
		return false;
	}
	op.outbox_id = col_int(r, i, C_ID);
	op.subscription = col(r, i, C_SUB);
	op.time = col(r, i, C_AT);
	op.seq = col_int(r, i, C_SEQ);
	op.event_source = col(r, i, C_SOURCE);
	op.event_id = col(r, i, C_EVID);
	op.event_type = col(r, i, C_TYPE);
	op.attempts = (long)col_int(r, i, C_ATTEMPTS);
	op.last_status = (long)col_int(r, i, C_STATUS);
	op.last_error = col(r, i, C_ERROR);
	op.reason = col(r, i, C_REASON);
	op.backlog = col_int(r, i, C_BACKLOG);
	op.threshold = col_int(r, i, C_THRESHOLD);
	if (opevent_build(&op, ev, &err) != 0) {
		log_error("outbox: row %s makes no event: %s", col(r, i, C_ID),
			  err.message);
		return false;
	}
	return true;
}

static bool
run(struct outbox *o, const char *sql)
{
	PGresult *r = store_query(o->conn, sql);
	char what[32];
	bool ok;

	snprintf(what, sizeof(what), "outbox: %s", sql);
	ok = store_check(o->conn, r, PGRES_COMMAND_OK, what) == STORE_OK;
	PQclear(r);
	return ok;
}

/* Publish one batch of rows.  The number of rows taken (BATCH: there may
 * be more), 0 when none (or another instance is draining), -1 on a
 * failure (logged; nothing was deleted). */
static int
drain_once(struct outbox *o)
{
	char limit[16];
	const char *v = limit;
	struct cloudevent *evs = NULL;
	struct store_array ids;
	size_t nev = 0;
	PGresult *r = NULL;
	int n = -1, len, fmt = 1;

	if (!run(o, "BEGIN"))
		return -1;
	r = store_exec(o->conn, &try_lock, NULL, NULL, NULL);
	if (store_check(o->conn, r, PGRES_TUPLES_OK, try_lock.name) != STORE_OK)
		goto rollback;
	if (strcmp(PQgetvalue(r, 0, 0), "t") != 0) {
		n = 0; /* another drainer has it */
		goto rollback;
	}
	PQclear(r);
	snprintf(limit, sizeof(limit), "%d", BATCH);
	r = store_exec(o->conn, &read_rows, &v, NULL, NULL);
	if (store_check(o->conn, r, PGRES_TUPLES_OK, read_rows.name) != STORE_OK)
		goto rollback;
	n = PQntuples(r);
	if (n == 0)
		goto rollback; /* (nothing written: as good as a commit) */
	store_array_init(&ids, STORE_OID_INT8);
	evs = xcalloc((size_t)n, sizeof(*evs));
	for (int i = 0; i < n; i++) {
		/* a row that makes no event is dropped, not retried forever */
		store_array_add_int(&ids, col_int(r, i, C_ID));
		if (row_event(r, i, &evs[nev]))
			nev++;
	}
	PQclear(r);
	r = NULL;
	if (nev > 0 && publish(o, evs, nev) != STORE_OK) {
		log_warn("outbox: %zu operational events not published yet", nev);
		n = -1;
	} else {
		v = store_array_param(&ids, &len);
		r = store_exec(o->conn, &delete_rows, &v, &len, &fmt);
		if (store_check(o->conn, r, PGRES_COMMAND_OK, delete_rows.name) !=
		    STORE_OK)
			n = -1;
		else if (!run(o, "COMMIT"))
			n = -1; /* the events stay committed; the rows, for now */
		else
			log_debug("outbox: %d operational events published", n);
	}
	store_array_free(&ids);
	ce_free_array(evs, nev);
	if (n > 0) {
		PQclear(r);
		return n;
	}
rollback:
	PQclear(r);
	if (!store_conn_broken(o->conn) && !run(o, "ROLLBACK"))
		store_disconnect(o->conn);
	return n;
}

/* A usable session that LISTENs; false when the database cannot be had. */
static bool
session(struct outbox *o)
{
	if (store_conn_broken(o->conn) || !o->listening) {
		o->listening = false;
		if (!store_ensure(o->conn))
			return false;
		if (!run(o, "LISTEN herald_opevent"))
			return false;
		o->listening = true;
	}
	return true;
}

/* Wait up to ms for a NOTIFY, outbox_stop, or the time to pass; forget
 * the notifications (the next drain reads the table anyway). */
static void
wait_for_work(struct outbox *o, int ms)
{
	struct pollfd fds[2] = {{o->wakefd, POLLIN, 0}, {-1, POLLIN, 0}};
	PGconn *pg = store_pg(o->conn);
	PGnotify *nt;

	if (pg != NULL && !store_conn_broken(o->conn)) {
		/* one may have come with the last statement's answer */
		PQconsumeInput(pg);
		if ((nt = PQnotifies(pg)) != NULL) {
			PQfreemem(nt);
			while ((nt = PQnotifies(pg)) != NULL)
				PQfreemem(nt);
			return;
		}
		fds[1].fd = PQsocket(pg);
	}
	if (poll(fds, 2, ms) < 0 && errno != EINTR)
		log_error("outbox: poll: %s", strerror(errno));
	if (fds[0].revents & POLLIN) {
		uint64_t v;

		if (read(o->wakefd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			log_error("outbox: wake: %s", strerror(errno));
	}
	if (fds[1].fd >= 0 && (fds[1].revents & POLLIN)) {
		PQconsumeInput(pg);
		while ((nt = PQnotifies(pg)) != NULL)
			PQfreemem(nt);
	}
}

static void *
outbox_main(void *arg)
{
	struct outbox *o = arg;

	while (!atomic_load(&o->stopping)) {
		int n;

		if (!session(o)) {
			wait_for_work(o, PAUSE_MS);
			continue;
		}
		n = drain_once(o);
		if (n == BATCH)
			continue; /* there may be more */
		wait_for_work(o, n < 0 ? PAUSE_MS : POLL_MS);
	}
	return NULL;
}

struct outbox *
outbox_start(const char *url, struct writer *w)
{
	struct outbox *o = xcalloc(1, sizeof(*o));
	char err[256];

	o->writer = w;
	o->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (o->wakefd < 0) {
		log_error("outbox: eventfd: %s", strerror(errno));
		free(o);
		return NULL;
	}
	o->conn = store_connect(url, err, sizeof(err));
	if (o->conn == NULL) {
		log_error("outbox: cannot connect: %s", err);
		close(o->wakefd);
		free(o);
		return NULL;
	}
	store_set_timeout(o->conn, DB_TIMEOUT_MS);
	pthread_mutex_init(&o->lock, NULL);
	pthread_cond_init(&o->answered, NULL);
	if (pthread_create(&o->thread, NULL, outbox_main, o) != 0) {
		log_error("outbox: cannot start thread");
		pthread_mutex_destroy(&o->lock);
		pthread_cond_destroy(&o->answered);
		store_close(o->conn);
		close(o->wakefd);
		free(o);
		return NULL;
	}
	return o;
}

void
outbox_stop(struct outbox *o)
{
	uint64_t one = 1;

	if (o == NULL)
		return;
	atomic_store(&o->stopping, true);
	if (write(o->wakefd, &one, sizeof(one)) < 0)
		log_error("outbox: wake: %s", strerror(errno));
	pthread_join(o->thread, NULL);
	pthread_mutex_destroy(&o->lock);
	pthread_cond_destroy(&o->answered);
	store_close(o->conn);
	close(o->wakefd);
	free(o);
}

enum store_status
outbox_backlog(struct store_conn *c, const char *sub_id, int64_t pending,
	       int64_t threshold, bool *recorded)
{
	char p[24], t[24];
	const char *values[3] = {sub_id, p, t};
	PGresult *r;
	enum store_status s;

	*recorded = false;
	snprintf(p, sizeof(p), "%" PRId64, pending);
	snprintf(t, sizeof(t), "%" PRId64, threshold);
	r = store_exec(c, &record_backlog, values, NULL, NULL);
	s = store_check(c, r, PGRES_TUPLES_OK, record_backlog.name);
	if (s == STORE_OK && PQntuples(r) == 1)
		*recorded = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	return s;
}
