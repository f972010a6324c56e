/* The backlog sampler: one thread reading pending deliveries and subscriptions from PostgreSQL every few seconds. */
#include "backlog.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "monotime.h"
#include "store.h"
#include "xalloc.h"

/*
 * The thread owns its connection.  stopping is guarded by lock, which the
 * thread holds only while it waits for the next sample.  What it reads
 * goes to metrics.c (metrics_backlog_publish), which keeps it for scrapes
 * and for backlog_snapshot: nothing here is shared.
 */
struct backlog {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake; /* stopping */
	bool stopping;
	char *url;
	struct store_conn *conn;
	bool failing; /* the last sample failed (logged once) */
};

/*
 * Every subscription, with what it has pending.  The pending deliveries
 * are read through the partial index delivery_pending (sql/004), so the
 * cost follows the backlog, not the history of delivered ones.  Due: its
 * next_attempt_at has come (a key's later deliveries, waiting behind its
 * head, and those of paused or disabled subscriptions included); not
 * due: waiting for a retry's time.  Sorted by id: as uuids, which is the
 * byte order of their text.
 */
static const struct store_stmt sample_stmt = {
	"backlog_sample",
	"SELECT s.id::text, s.status, coalesce(b.due, 0), coalesce(b.not_due, 0),"
	"  coalesce(b.oldest, 0)"
	" FROM subscription s LEFT JOIN ("
	"  SELECT subscription_id,"
	"    count(*) FILTER (WHERE next_attempt_at <= now()) AS due,"
	"    count(*) FILTER (WHERE next_attempt_at > now()) AS not_due,"
	"    extract(epoch FROM now() - min(next_attempt_at)"
	"      FILTER (WHERE next_attempt_at <= now()))::float8 AS oldest"
	"  FROM delivery WHERE state = 'pending'"
	"  GROUP BY subscription_id) b ON b.subscription_id = s.id"
	" ORDER BY s.id",
	0};

static double
wall_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static enum metrics_sub_status
status_of(const char *s)
{
	if (strcmp(s, "paused") == 0)
		return METRICS_SUB_PAUSED;
	if (strcmp(s, "disabled") == 0)
		return METRICS_SUB_DISABLED;
	return METRICS_SUB_ACTIVE;
}

/* A connection that works, or NULL with the reason in err. */
static struct store_conn *
session(struct backlog *b, int64_t until_ms, char *err, size_t errlen)
{
	if (b->conn != NULL) {
		store_set_deadline(b->conn, until_ms);
		if (store_ensure(b->conn))
			return b->conn;
		snprintf(err, errlen, "no connection");
		return NULL;
	}
	b->conn = store_connect_by(b->url, until_ms, err, errlen);
	return b->conn;
}

/* One sample, published; false with the reason in err when the
 * database could not give it. */
static bool
sample(struct backlog *b, char *err, size_t errlen)
{
	int64_t start = monotime_ms();
	struct metrics_backlog s = {0};
	struct store_conn *c;
	PGresult *r;
	int n;

	c = session(b, start + BACKLOG_TIMEOUT_MS, err, errlen);
	if (c == NULL)
		return false;
	r = store_exec(c, &sample_stmt, NULL, NULL, NULL);
	if (store_check(c, r, PGRES_TUPLES_OK, "backlog sample") != STORE_OK) {
		snprintf(err, errlen, "the statement failed");
		PQclear(r);
		return false;
	}
	n = PQntuples(r);
	s.sampled_at = wall_seconds();
	s.subs = n > 0 ? xcalloc((size_t)n, sizeof(*s.subs)) : NULL;
	for (int i = 0; i < n; i++) {
		struct metrics_backlog_sub *e = &s.subs[s.nsubs];

		if (strlen(PQgetvalue(r, i, 0)) >= sizeof(e->id))
			continue; /* not a uuid: cannot happen */
		strcpy(e->id, PQgetvalue(r, i, 0));
		e->due = strtol(PQgetvalue(r, i, 2), NULL, 10);
		e->not_due = strtol(PQgetvalue(r, i, 3), NULL, 10);
		e->oldest_s = strtod(PQgetvalue(r, i, 4), NULL);
		s.subscriptions[status_of(PQgetvalue(r, i, 1))]++;
		s.due += e->due;
		s.not_due += e->not_due;
		if (e->oldest_s > s.oldest_s)
			s.oldest_s = e->oldest_s;
		s.nsubs++;
	}
	PQclear(r);
	/* attempt counters of subscriptions deleted before this sample */
	metrics_subscriptions_keep(s.subs, s.nsubs, start);
	metrics_backlog_publish(&s);
	return true;
}

static void *
sampler_main(void *arg)
{
	struct backlog *b = arg;

	pthread_mutex_lock(&b->lock);
	while (!b->stopping) {
		int64_t start, took, wait_ms;
		struct timespec until;
		char err[256];
		bool ok;

		pthread_mutex_unlock(&b->lock);
		start = monotime_ms();
		ok = sample(b, err, sizeof(err));
		if (!ok && !b->failing)
			log_warn("backlog: no sample from postgresql (%s); the "
				 "metrics keep the last one", err);
		else if (ok && b->failing)
			log_info("backlog: sampling again");
		b->failing = !ok;
		took = monotime_ms() - start;
		/* a slow sample spaces the next ones; a failed one, which
		 * may have waited out its timeout, does not */
		wait_ms = ok && took * 10 > BACKLOG_INTERVAL_MS ? took * 10 :
			  BACKLOG_INTERVAL_MS;
		wait_ms = wait_ms > took ? wait_ms - took : 0;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += wait_ms / 1000;
		until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_mutex_lock(&b->lock);
		while (!b->stopping &&
		       pthread_cond_timedwait(&b->wake, &b->lock, &until) == 0)
			;
	}
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

struct backlog *
backlog_start(const char *url)
{
	struct backlog *b = xcalloc(1, sizeof(*b));
	pthread_condattr_t attr;

	pthread_mutex_init(&b->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&b->wake, &attr);
	pthread_condattr_destroy(&attr);
	b->url = xstrdup(url);
	if (pthread_create(&b->thread, NULL, sampler_main, b) != 0) {
		log_error("cannot start the backlog sampler thread");
		pthread_mutex_destroy(&b->lock);
		pthread_cond_destroy(&b->wake);
		free(b->url);
		free(b);
		return NULL;
	}
	return b;
}

void
backlog_stop(struct backlog *b)
{
	if (b == NULL)
		return;
	pthread_mutex_lock(&b->lock);
	b->stopping = true;
	pthread_cond_signal(&b->wake);
	pthread_mutex_unlock(&b->lock);
	pthread_join(b->thread, NULL);
	store_close(b->conn);
	pthread_mutex_destroy(&b->lock);
	pthread_cond_destroy(&b->wake);
	free(b->url);
	free(b);
}

void
backlog_snapshot(struct metrics_backlog *out)
{
	metrics_backlog_copy(out);
}

static int
cmp_id(const void *key, const void *elem)
{
	return strcmp(key, ((const struct metrics_backlog_sub *)elem)->id);
}

const struct metrics_backlog_sub *
backlog_find(const struct metrics_backlog *s, const char *id)
{
	if (s->nsubs == 0)
		return NULL;
	return bsearch(id, s->subs, s->nsubs, sizeof(*s->subs), cmp_id);
}
