/* Storage maintenance: a new partition every partition_interval, old ones dropped once past the retention. */
#include "partition.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "store.h"
#include "xalloc.h"

/*
 * The partitions and the rules for opening, closing and dropping them
 * live in sql/009 (herald_partition_maintain, herald_partition_drop);
 * this thread only calls them, on a timer.  Every instance runs it; a
 * transaction advisory lock, tried and not waited for, lets one at a time
 * do the work, so several instances starting together take turns.
 *
 * A round is one transaction that opens the next partition when the
 * head's interval is over and marks the closed partitions that hold
 * nothing pending; then one transaction per partition to drop, each with
 * a short lock_timeout; then at most one compaction (sql/010) of a
 * partition past the retention that pending deliveries keep, which reads
 * that partition first (for up to COMPACT_TIMEOUT_MS) and copies what
 * stays under the same short lock_timeout.  A drop needs the parents' ACCESS EXCLUSIVE lock
 * for the few milliseconds DROP TABLE takes; should a long statement hold
 * one of them, the drop gives up after DROP_LOCK_WAIT rather than queue
 * every insert behind it, and is tried again at the next round.
 *
 * Everything here belongs to the thread, except `stopping`, which
 * partition_stop sets (then wakes the thread through wakefd).
 */

#define TICK_MIN_MS 250
#define TICK_MAX_MS 10000
#define PAUSE_MS 1000          /* after a failure */
#define DB_TIMEOUT_MS 30000    /* a hung database: drop the session */
#define DROP_LOCK_WAIT "200ms" /* lock_timeout of a drop */
#define DROPS_PER_ROUND 16
#define COMPACT_MAX_KEPT "100000" /* deliveries copied under the locks */
#define COMPACT_TIMEOUT_MS 600000 /* its read of a whole partition */

/* The namespace of the maintenance lock ("part"), key 1. */
#define PARTITION_LOCK_SQL "1885434484, 1"

struct partition {
	pthread_t thread;
	atomic_bool stopping;
	int wakefd;
	struct store_conn *conn;
	char width[32]; /* partition_interval, as an interval literal */
	char keep[32];  /* retention, as an interval literal */
	bool drops;     /* retention > 0 */
	int tick_ms;
};

static const struct store_stmt try_lock = {
	"partition_try_lock",
	"SELECT pg_try_advisory_xact_lock(" PARTITION_LOCK_SQL ")", 0};

static const struct store_stmt maintain = {
	"partition_maintain",
	"SELECT herald_partition_maintain($1::interval)", 1};

static const struct store_stmt compact_one = {
	"partition_compact",
	"SELECT part, kept, held FROM herald_partition_compact($1::interval, "
	COMPACT_MAX_KEPT ")",
	1};

static const struct store_stmt catalog = {
	"partition_catalog",
	"SELECT count(*),"
	" coalesce(extract(epoch FROM now() - min(opened_at))::int8, 0)"
	" FROM herald_partition WHERE opened_at IS NOT NULL",
	0};

static const struct store_stmt drop_one = {
	"partition_drop", "SELECT herald_partition_drop($1::interval)", 1};

static bool
run(struct partition *p, const char *sql)
{
	PGresult *r = store_query(p->conn, sql);
	char what[64];
	bool ok;

	snprintf(what, sizeof(what), "partition: %s", sql);
	ok = store_check(p->conn, r, PGRES_COMMAND_OK, what) == STORE_OK;
	PQclear(r);
	return ok;
}

static void
roll_back(struct partition *p)
{
	if (!store_conn_broken(p->conn) && !run(p, "ROLLBACK"))
		store_disconnect(p->conn);
}

/* BEGIN, then the maintenance lock.  1: held; 0: another instance has
 * it (rolled back); -1: a failure (logged, rolled back). */
static int
begin_locked(struct partition *p, const char *lock_timeout)
{
	PGresult *r;
	int held;

	if (!run(p, "BEGIN"))
		return -1;
	if (lock_timeout != NULL) {
		char sql[64];

		snprintf(sql, sizeof(sql), "SET LOCAL lock_timeout = '%s'",
			 lock_timeout);
		if (!run(p, sql)) {
			roll_back(p);
			return -1;
		}
	}
	r = store_exec(p->conn, &try_lock, NULL, NULL, NULL);
	if (store_check(p->conn, r, PGRES_TUPLES_OK, try_lock.name) != STORE_OK) {
		PQclear(r);
		roll_back(p);
		return -1;
	}
	held = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	if (!held)
		roll_back(p);
	return held;
}

enum step {
	STEP_DONE,    /* committed: its result is there */
	STEP_SKIPPED, /* another instance holds the maintenance lock, or the
		       * statement's locks were not free within lock_timeout */
	STEP_FAILED   /* logged, rolled back */
};

/*
 * One maintenance statement with its one parameter, in a transaction of
 * its own under the maintenance lock (and lock_timeout, when given), with
 * timeout_ms to answer: STEP_DONE with its result in *out (the caller
 * clears it) once committed.
 */
static enum step
step(struct partition *p, const struct store_stmt *st, const char *param,
     const char *lock_timeout, int timeout_ms, PGresult **out)
{
	PGresult *r;
	const char *state;
	int held = begin_locked(p, lock_timeout);

	*out = NULL;
	if (held <= 0)
		return held == 0 ? STEP_SKIPPED : STEP_FAILED;
	store_set_timeout(p->conn, timeout_ms);
	r = store_exec(p->conn, st, &param, NULL, NULL);
	store_set_timeout(p->conn, DB_TIMEOUT_MS);
	state = store_sqlstate(r);
	if (r != NULL && PQresultStatus(r) == PGRES_FATAL_ERROR &&
	    state != NULL && strcmp(state, "55P03") == 0) {
		/* lock_not_available: a long statement holds a table */
		log_info("partition: %s waited %s for its locks; put off to the "
			 "next round", st->name,
			 lock_timeout ? lock_timeout : "lock_timeout");
		PQclear(r);
		roll_back(p);
		return STEP_SKIPPED;
	}
	if (store_check(p->conn, r, PGRES_TUPLES_OK, st->name) != STORE_OK) {
		PQclear(r);
		roll_back(p);
		return STEP_FAILED;
	}
	if (!run(p, "COMMIT")) {
		PQclear(r);
		return STEP_FAILED;
	}
	*out = r;
	return STEP_DONE;
}

/* Open a partition if it is time, mark the clear ones.  false on a
 * failure (logged). */
static bool
maintain_once(struct partition *p)
{
	PGresult *r;
	enum step e = step(p, &maintain, p->width, NULL, DB_TIMEOUT_MS, &r);

	if (e == STEP_DONE && !PQgetisnull(r, 0, 0))
		log_info("partition: partition %s opened", PQgetvalue(r, 0, 0));
	PQclear(r);
	return e != STEP_FAILED;
}

/* Drop the oldest partition past the retention.  1: dropped one (there
 * may be more); 0: none to drop, or put off; -1: a failure (logged). */
static int
drop_once(struct partition *p)
{
	PGresult *r;
	enum step e = step(p, &drop_one, p->keep, DROP_LOCK_WAIT, DB_TIMEOUT_MS,
			   &r);
	int dropped = e == STEP_DONE && !PQgetisnull(r, 0, 0);

	if (dropped) {
		log_info("partition: partition %s dropped (past the retention "
			 "of %s)", PQgetvalue(r, 0, 0), p->keep);
		metrics_storage_dropped();
	}
	PQclear(r);
	return e == STEP_FAILED ? -1 : dropped;
}

/* Compact the oldest partition past the retention that pending
 * deliveries keep, if that is worth it.  false on a failure (logged). */
static bool
compact_once(struct partition *p)
{
	PGresult *r;
	enum step e = step(p, &compact_one, p->keep, DROP_LOCK_WAIT,
			   COMPACT_TIMEOUT_MS, &r);

	if (e == STEP_DONE && PQntuples(r) == 1) {
		log_info("partition: partition %s compacted past the retention: "
			 "%s of its %s deliveries kept (pending, or finished "
			 "within %s)",
			 PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1),
			 PQgetvalue(r, 0, 2), p->keep);
		metrics_storage_compacted();
	}
	PQclear(r);
	return e != STEP_FAILED;
}

/* The partitions kept, for the metrics (every instance reads them). */
static void
read_catalog(struct partition *p)
{
	PGresult *r = store_exec(p->conn, &catalog, NULL, NULL, NULL);

	if (store_check(p->conn, r, PGRES_TUPLES_OK, catalog.name) == STORE_OK)
		metrics_storage(strtol(PQgetvalue(r, 0, 0), NULL, 10),
				strtol(PQgetvalue(r, 0, 1), NULL, 10));
	PQclear(r);
}

/* Sleep ms, or until partition_stop. */
static void
pause_for(struct partition *p, int ms)
{
	struct pollfd fd = {p->wakefd, POLLIN, 0};

	if (poll(&fd, 1, ms) < 0 && errno != EINTR)
		log_error("partition: poll: %s", strerror(errno));
}

static void *
partition_main(void *arg)
{
	struct partition *p = arg;

	while (!atomic_load(&p->stopping)) {
		bool ok = store_ensure(p->conn) && maintain_once(p);

		for (int i = 0; ok && p->drops && i < DROPS_PER_ROUND &&
				!atomic_load(&p->stopping);
		     i++) {
			int d = drop_once(p);

			if (d < 0)
				ok = false;
			if (d <= 0)
				break;
		}
		if (ok && p->drops && !atomic_load(&p->stopping))
			ok = compact_once(p);
		if (ok)
			read_catalog(p);
		pause_for(p, ok ? p->tick_ms : PAUSE_MS);
	}
	return NULL;
}

struct partition *
partition_start(const char *url, long interval_s, long retention_s)
{
	struct partition *p = xcalloc(1, sizeof(*p));
	long tick = interval_s * 1000 / 4;
	char err[256];

	snprintf(p->width, sizeof(p->width), "%ld seconds", interval_s);
	snprintf(p->keep, sizeof(p->keep), "%ld seconds", retention_s);
	p->drops = retention_s > 0;
	p->tick_ms = (int)(tick < TICK_MIN_MS   ? TICK_MIN_MS
			   : tick > TICK_MAX_MS ? TICK_MAX_MS
						: tick);
	p->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->wakefd < 0) {
		log_error("partition: eventfd: %s", strerror(errno));
		free(p);
		return NULL;
	}
	p->conn = store_connect(url, err, sizeof(err));
	if (p->conn == NULL) {
		log_error("partition: cannot connect: %s", err);
		close(p->wakefd);
		free(p);
		return NULL;
	}
	store_set_timeout(p->conn, DB_TIMEOUT_MS);
	if (pthread_create(&p->thread, NULL, partition_main, p) != 0) {
		log_error("partition: cannot start thread");
		store_close(p->conn);
		close(p->wakefd);
		free(p);
		return NULL;
	}
	return p;
}

void
partition_stop(struct partition *p)
{
	uint64_t one = 1;

	if (p == NULL)
		return;
	atomic_store(&p->stopping, true);
	if (write(p->wakefd, &one, sizeof(one)) < 0)
		log_error("partition: wake: %s", strerror(errno));
	pthread_join(p->thread, NULL);
	store_close(p->conn);
	close(p->wakefd);
	free(p);
}
