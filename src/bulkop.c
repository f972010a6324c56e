/* Bulk operations (replay, requeue of failed deliveries): the runner thread that works through them in chunks. */
#include "bulkop.h"

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

#include <cJSON.h>

#include "jsonexact.h"
#include "log.h"
#include "replay.h"
#include "store.h"
#include "subscription.h"
#include "xalloc.h"

/*
 * An operation is a row of bulk_operation (sql/007), recorded by the API
 * (api_operations.c).  The runner claims the oldest unfinished one that
 * no other runner holds (herald_bulkop_claim: a session advisory lock on
 * it, so each operation has one runner across every instance, and an
 * instance that dies lets it go with its session), then works through it
 * a chunk at a time.  A chunk is one transaction: it locks the
 * operation's row (a cancel waits for the chunk, and the chunk sees the
 * cancel), re-queues up to BULKOP_CHUNK seqs, and commits the new cursor
 * and counts with the deliveries, so progress is never lost nor counted
 * twice.  Between chunks the runner checks whether it must stop: at
 * SIGTERM it marks the operation interrupted, which the next runner
 * resumes from the cursor.
 *
 * Everything here belongs to the runner thread, except `stopping` (set
 * by bulkop_quit, which then wakes the thread through wakefd) and the
 * cancel handle, under cancel_lock.
 */

#define POLL_MS 2000
#define PAUSE_MS 500        /* after a failure */
#define DB_TIMEOUT_MS 5000  /* a hung database: drop the session */
#define LOCK_NS "1651862635" /* 'bulk': the namespace of the claims */

struct bulkop {
	pthread_t thread;
	atomic_bool stopping;
	int wakefd;
	struct store_conn *conn;
	bool listening;  /* LISTEN done on the current session */
	int64_t held;    /* the operation claimed on this session; 0: none */

	pthread_mutex_t cancel_lock;
	PGcancel *cancel; /* of cancel_of, the current session */
	PGconn *cancel_of;
	bool finishing;   /* no cancel from now on */
};

/* What a chunk came to. */
enum chunk_result {
	CHUNK_MORE,  /* done; there is more */
	CHUNK_DONE,  /* the operation is finished (or gone, or cancelled) */
	CHUNK_RETRY, /* a failure that may pass: try again later */
};

static const struct store_stmt claim = {
	"bulkop_claim", "SELECT herald_bulkop_claim()", 0};

static const struct store_stmt unlock = {
	"bulkop_unlock",
	"SELECT pg_advisory_unlock(" LOCK_NS ", ($1::int8 % 2147483648)::int4)",
	1};

enum { O_STATE, O_KIND, O_CURSOR, O_UPPER, O_SINCE, O_SUB, O_CONFIG };
static const struct store_stmt load = {
	"bulkop_load",
	"SELECT o.state, o.kind, o.cursor, o.upper_seq, o.since::text,"
	"  o.subscription_id::text, s.config::text"
	" FROM bulk_operation o JOIN subscription s ON s.id = o.subscription_id"
	" WHERE o.id = $1 FOR UPDATE OF o",
	1};

static const struct store_stmt start_run = {
	"bulkop_start",
	"UPDATE bulk_operation SET state = 'running',"
	"  started_at = coalesce(started_at, now())"
	" WHERE id = $1",
	1};

static const struct store_stmt progress = {
	"bulkop_progress",
	"UPDATE bulk_operation SET cursor = $2, selected = selected + $3,"
	"  enqueued = enqueued + $4,"
	"  state = CASE WHEN $5 THEN 'succeeded' ELSE state END,"
	"  finished_at = CASE WHEN $5 THEN now() END"
	" WHERE id = $1 RETURNING enqueued",
	5};

static const struct store_stmt fail = {
	"bulkop_fail",
	"UPDATE bulk_operation SET state = 'failed', error = $2,"
	"  finished_at = now()"
	" WHERE id = $1 AND state IN ('queued', 'running', 'interrupted')",
	2};

static const struct store_stmt interrupt = {
	"bulkop_interrupt",
	"UPDATE bulk_operation SET state = 'interrupted'"
	" WHERE id = $1 AND state = 'running'",
	1};

static bool
run(struct bulkop *b, const char *sql)
{
	PGresult *r = store_query(b->conn, sql);
	char what[40];
	bool ok;

	snprintf(what, sizeof(what), "bulkop: %s", sql);
	ok = store_check(b->conn, r, PGRES_COMMAND_OK, what) == STORE_OK;
	PQclear(r);
	return ok;
}

/* Run st with the operation's id as $1 (and more), expecting want. */
static bool
exec_op(struct bulkop *b, const struct store_stmt *st, const char **values,
	ExecStatusType want)
{
	PGresult *r = store_exec(b->conn, st, values, NULL, NULL);
	bool ok = store_check(b->conn, r, want, st->name) == STORE_OK;

	PQclear(r);
	return ok;
}

static void
rollback(struct bulkop *b)
{
	if (!store_conn_broken(b->conn) && !run(b, "ROLLBACK"))
		store_disconnect(b->conn);
}

/* Let the claim go (it goes with the session anyway). */
static void
release(struct bulkop *b)
{
	char id[24];
	const char *v = id;

	snprintf(id, sizeof(id), "%" PRId64, b->held);
	if (!store_conn_broken(b->conn))
		(void)exec_op(b, &unlock, &v, PGRES_TUPLES_OK);
	b->held = 0;
}

/* Mark the operation failed for good, with why. */
static void
give_up(struct bulkop *b, const char *why)
{
	char id[24];
	const char *v[2] = {id, why};

	snprintf(id, sizeof(id), "%" PRId64, b->held);
	log_error("bulkop: operation %s failed: %s", id, why);
	if (!exec_op(b, &fail, v, PGRES_COMMAND_OK))
		log_warn("bulkop: operation %s could not be marked failed", id);
}

/* Lock the operation, re-queue one chunk, commit its progress. */
static enum chunk_result
chunk(struct bulkop *b)
{
	char id[24], cur[24], sel[24], enq[24];
	const char *v[5] = {id, cur, sel, enq, NULL};
	struct replay_range q;
	struct replay_owner owner;
	struct replay_chunk out;
	struct subscription sub;
	struct herald_error err;
	cJSON *config = NULL;
	const char *state, *kind;
	enum store_status s = STORE_OK;
	PGresult *r;
	bool parsed = false, found = false;

	snprintf(id, sizeof(id), "%" PRId64, b->held);
	if (!run(b, "BEGIN"))
		return CHUNK_RETRY;
	r = store_exec(b->conn, &load, v, NULL, NULL);
	if (store_check(b->conn, r, PGRES_TUPLES_OK, load.name) != STORE_OK)
		goto retry;
	if (PQntuples(r) == 0) {
		/* its subscription was deleted, and it with it */
		PQclear(r);
		rollback(b);
		return CHUNK_DONE;
	}
	state = PQgetvalue(r, 0, O_STATE);
	if (strcmp(state, "queued") != 0 && strcmp(state, "running") != 0 &&
	    strcmp(state, "interrupted") != 0) {
		log_with(LOG_INFO, &(struct log_ids){
				 .subscription = PQgetvalue(r, 0, O_SUB)},
			 "bulkop: operation %s is %s", id, state);
		PQclear(r);
		rollback(b);
		return CHUNK_DONE;
	}
	if (strcmp(state, "running") != 0) {
		log_with(LOG_INFO, &(struct log_ids){
				 .subscription = PQgetvalue(r, 0, O_SUB)},
			 "bulkop: operation %s %s", id,
			 strcmp(state, "queued") == 0 ? "starts" : "resumes");
		if (!exec_op(b, &start_run, v, PGRES_COMMAND_OK))
			goto retry;
	}
	memset(&q, 0, sizeof(q));
	kind = PQgetvalue(r, 0, O_KIND);
	q.kind = strcmp(kind, "requeue_failed") == 0 ? REPLAY_FAILED :
		 REPLAY_EVENTS;
	q.sub_id = PQgetvalue(r, 0, O_SUB);
	q.cursor = strtoll(PQgetvalue(r, 0, O_CURSOR), NULL, 10);
	q.upper = strtoll(PQgetvalue(r, 0, O_UPPER), NULL, 10);
	q.since = PQgetisnull(r, 0, O_SINCE) ? NULL : PQgetvalue(r, 0, O_SINCE);
	if (q.kind == REPLAY_EVENTS) {
		memset(&err, 0, sizeof(err));
		err.index = -1;
		config = jsonexact_parse(PQgetvalue(r, 0, O_CONFIG),
					 strlen(PQgetvalue(r, 0, O_CONFIG)));
		if (config == NULL || sub_parse(config, &sub, &err) != 0) {
			give_up(b, "the stored subscription is unreadable");
			cJSON_Delete(config);
			PQclear(r);
			return run(b, "COMMIT") ? CHUNK_DONE : CHUNK_RETRY;
		}
		parsed = true;
		q.sub = &sub;
		q.owner = &owner;
		s = replay_owner_load(b->conn, q.sub_id, &owner, &found);
		if (s == STORE_OK && !found)
			s = STORE_GONE; /* deleted meanwhile: the next try sees it */
	}
	if (s == STORE_OK)
		s = replay_chunk(b->conn, &q, BULKOP_CHUNK, &out);
	if (parsed)
		sub_free(&sub);
	cJSON_Delete(config);
	if (s == STORE_QUERY_ERROR) {
		/* refused, and would be again: stop rather than loop */
		PQclear(r);
		rollback(b);
		if (!run(b, "BEGIN"))
			return CHUNK_RETRY;
		give_up(b, "PostgreSQL refused a statement; the log has the detail");
		return run(b, "COMMIT") ? CHUNK_DONE : CHUNK_RETRY;
	}
	if (s != STORE_OK)
		goto retry;
	snprintf(cur, sizeof(cur), "%" PRId64, out.cursor);
	snprintf(sel, sizeof(sel), "%" PRId64, out.selected);
	snprintf(enq, sizeof(enq), "%" PRId64, out.enqueued);
	v[4] = out.last ? "t" : "f";
	if (!exec_op(b, &progress, v, PGRES_TUPLES_OK) || !run(b, "COMMIT"))
		goto retry;
	log_with(LOG_DEBUG, &(struct log_ids){.subscription = q.sub_id},
		 "bulkop: operation %s: %" PRId64 " re-queued up to seq %" PRId64,
		 id, out.enqueued, out.cursor);
	if (out.last)
		log_with(LOG_INFO, &(struct log_ids){.subscription = q.sub_id},
			 "bulkop: operation %s succeeded", id);
	PQclear(r);
	return out.last ? CHUNK_DONE : CHUNK_MORE;
retry:
	PQclear(r);
	rollback(b);
	return CHUNK_RETRY;
}

/* The current session's cancel handle, for bulkop_quit. */
static void
refresh_cancel(struct bulkop *b)
{
	PGconn *pg = store_pg(b->conn);

	pthread_mutex_lock(&b->cancel_lock);
	if (pg != b->cancel_of) {
		if (b->cancel)
			PQfreeCancel(b->cancel);
		b->cancel = pg ? PQgetCancel(pg) : NULL;
		b->cancel_of = pg;
	}
	pthread_mutex_unlock(&b->cancel_lock);
}

/* A usable session that LISTENs; false when the database cannot be had.
 * A new session holds no claim. */
static bool
session(struct bulkop *b)
{
	if (store_conn_broken(b->conn) || !b->listening) {
		b->listening = false;
		b->held = 0;
		if (!store_ensure(b->conn))
			return false;
		refresh_cancel(b);
		if (!run(b, "LISTEN herald_bulkop"))
			return false;
		b->listening = true;
	}
	return true;
}

/* Wait up to ms for a NOTIFY, bulkop_quit, or the time to pass. */
static void
wait_for_work(struct bulkop *b, int ms)
{
	struct pollfd fds[2] = {{b->wakefd, POLLIN, 0}, {-1, POLLIN, 0}};
	PGconn *pg = store_pg(b->conn);
	PGnotify *nt;
	bool any = false;

	if (pg != NULL && !store_conn_broken(b->conn)) {
		PQconsumeInput(pg);
		while ((nt = PQnotifies(pg)) != NULL) {
			PQfreemem(nt);
			any = true;
		}
		if (any)
			return;
		fds[1].fd = PQsocket(pg);
	}
	if (poll(fds, 2, ms) < 0 && errno != EINTR)
		log_error("bulkop: poll: %s", strerror(errno));
	if (fds[0].revents & POLLIN) {
		uint64_t v;

		if (read(b->wakefd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			log_error("bulkop: wake: %s", strerror(errno));
	}
	if (fds[1].fd >= 0 && (fds[1].revents & POLLIN)) {
		PQconsumeInput(pg);
		while ((nt = PQnotifies(pg)) != NULL)
			PQfreemem(nt);
	}
}

/* The next operation to run, claimed; 0 when none, -1 on a failure. */
static int64_t
claim_next(struct bulkop *b)
{
	PGresult *r = store_exec(b->conn, &claim, NULL, NULL, NULL);
	int64_t id = -1;

	if (store_check(b->conn, r, PGRES_TUPLES_OK, claim.name) == STORE_OK)
		id = PQgetisnull(r, 0, 0) ? 0 :
		     strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return id;
}

static void *
bulkop_main(void *arg)
{
	struct bulkop *b = arg;

	while (!atomic_load(&b->stopping)) {
		if (!session(b)) {
			wait_for_work(b, PAUSE_MS);
			continue;
		}
		if (b->held == 0) {
			int64_t id = claim_next(b);

			if (id <= 0) {
				wait_for_work(b, id < 0 ? PAUSE_MS : POLL_MS);
				continue;
			}
			b->held = id;
		}
		switch (chunk(b)) {
		case CHUNK_MORE:
			break;
		case CHUNK_DONE:
			release(b);
			break;
		case CHUNK_RETRY:
			if (!atomic_load(&b->stopping))
				wait_for_work(b, PAUSE_MS);
			break;
		}
	}
	pthread_mutex_lock(&b->cancel_lock);
	b->finishing = true;
	pthread_mutex_unlock(&b->cancel_lock);
	if (b->held != 0 && !store_conn_broken(b->conn)) {
		char id[24];
		const char *v = id;

		snprintf(id, sizeof(id), "%" PRId64, b->held);
		if (exec_op(b, &interrupt, &v, PGRES_COMMAND_OK))
			log_info("bulkop: operation %s interrupted; it resumes "
				 "at the next start", id);
		release(b);
	}
	return NULL;
}

struct bulkop *
bulkop_start(const char *url)
{
	struct bulkop *b = xcalloc(1, sizeof(*b));
	char err[256];

	b->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (b->wakefd < 0) {
		log_error("bulkop: eventfd: %s", strerror(errno));
		free(b);
		return NULL;
	}
	b->conn = store_connect(url, err, sizeof(err));
	if (b->conn == NULL) {
		log_error("bulkop: cannot connect: %s", err);
		close(b->wakefd);
		free(b);
		return NULL;
	}
	store_set_timeout(b->conn, DB_TIMEOUT_MS);
	pthread_mutex_init(&b->cancel_lock, NULL);
	if (pthread_create(&b->thread, NULL, bulkop_main, b) != 0) {
		log_error("bulkop: cannot start thread");
		pthread_mutex_destroy(&b->cancel_lock);
		store_close(b->conn);
		close(b->wakefd);
		free(b);
		return NULL;
	}
	return b;
}

void
bulkop_quit(struct bulkop *b)
{
	uint64_t one = 1;
	char err[256];

	if (b == NULL || atomic_exchange(&b->stopping, true))
		return;
	if (write(b->wakefd, &one, sizeof(one)) < 0)
		log_error("bulkop: wake: %s", strerror(errno));
	/* a chunk waiting for a lock is cut short: it rolls back */
	pthread_mutex_lock(&b->cancel_lock);
	if (!b->finishing && b->cancel != NULL &&
	    !PQcancel(b->cancel, err, sizeof(err)))
		log_warn("bulkop: cancel: %s", err);
	pthread_mutex_unlock(&b->cancel_lock);
}

void
bulkop_stop(struct bulkop *b)
{
	if (b == NULL)
		return;
	bulkop_quit(b);
	pthread_join(b->thread, NULL);
	if (b->cancel)
		PQfreeCancel(b->cancel);
	pthread_mutex_destroy(&b->cancel_lock);
	store_close(b->conn);
	close(b->wakefd);
	free(b);
}
