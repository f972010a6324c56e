/* The backlog sampler: one thread reading pending deliveries and subscriptions from PostgreSQL every few seconds. */
#include "backlog.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "monotime.h"
#include "outbox.h"
#include "stats.h"
#include "store.h"
#include "subhealth.h"
#include "xalloc.h"

/*
 * The thread owns its connection.  backlog_stop sets stopping and wakes
 * it through wakefd, which it watches whenever it waits: between samples
 * and for the answer to one.  What it reads goes to metrics.c
 * (metrics_backlog_publish), which keeps it for scrapes and for
 * backlog_snapshot.
 */
struct backlog {
	pthread_t thread;
	atomic_bool stopping;
	int wakefd; /* an eventfd */
	char *url;
	struct store_conn *conn;
	bool failing; /* the last sample failed (logged once) */
	int64_t alert; /* backlog_alert: a crossing is reported; 0: off */
	/* the subscriptions at or above alert in the last sample reported in
	 * full (sorted ids); primed: there was one since start */
	char (*above)[37];
	size_t nabove;
	bool primed;
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

/* Wait until fd (-1: none) is readable or wait_ms has passed; true when
 * asked to stop instead. */
static bool
pause_or_stop(struct backlog *b, int fd, int64_t wait_ms)
{
	struct pollfd p[2] = {{b->wakefd, POLLIN, 0}, {fd, POLLIN, 0}};

	if (!atomic_load(&b->stopping))
		poll(p, fd >= 0 ? 2 : 1, (int)wait_ms); /* EINTR: as woken */
	return atomic_load(&b->stopping);
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

static int
cmp_id_str(const void *a, const void *b)
{
	return strcmp(a, b);
}

/*
 * herald.subscription.backlog: a subscription whose pending deliveries
 * reached backlog_alert, or fell below it, since the last sample is told
 * to herald_opevent_backlog (sql/005), which records the event once per
 * crossing whatever the instance.  The first sample after start tells
 * every subscription (an instance does not know what another, or its
 * own previous run, recorded); later ones only the changes, so a steady
 * backlog costs no writes.  A failure is retried in full at the next sample.
 */
static void
report_crossings(struct backlog *b, struct store_conn *c,
		 const struct metrics_backlog *s, int64_t until_ms)
{
	char (*above)[37] = s->nsubs ? xcalloc(s->nsubs, sizeof(*above)) : NULL;
	size_t nabove = 0;
	bool ok = true;

	store_set_deadline(c, until_ms);
	for (size_t i = 0; i < s->nsubs; i++) {
		const struct metrics_backlog_sub *e = &s->subs[i];
		int64_t pending = (int64_t)e->due + (int64_t)e->not_due;
		bool reached = pending >= b->alert;
		bool was = b->nabove > 0 &&
			   bsearch(e->id, b->above, b->nabove, sizeof(*b->above),
				   cmp_id_str) != NULL;
		bool recorded;

		if (reached)
			memcpy(above[nabove++], e->id, sizeof(e->id));
		if (!ok || (b->primed && reached == was))
			continue;
		if (outbox_backlog(c, e->id, pending, b->alert, &recorded) !=
		    STORE_OK)
			ok = false;
		else if (recorded)
			log_with(LOG_INFO, &(struct log_ids){.subscription = e->id},
				 "backlog: %lld pending reached backlog_alert %lld",
				 (long long)pending, (long long)b->alert);
	}
	free(b->above);
	b->above = above;
	b->nabove = nabove;
	b->primed = ok;
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
	if (!store_send(c, &sample_stmt, NULL, NULL, NULL, 0)) {
		snprintf(err, errlen, "the statement could not be sent");
		return false;
	}
	/* the answer, within the deadline (store_collect gives up then) */
	while (!store_collect(c, &r)) {
		int64_t left = start + BACKLOG_TIMEOUT_MS - monotime_ms();

		if (pause_or_stop(b, PQsocket(store_pg(c)), left > 0 ? left : 0)) {
			store_disconnect(c); /* the statement dies with it */
			snprintf(err, errlen, "stopping");
			return false;
		}
	}
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
	subhealth_keep(s.subs, s.nsubs, start);
	if (b->alert > 0)
		report_crossings(b, c, &s, start + BACKLOG_TIMEOUT_MS);
	metrics_backlog_publish(&s);
	return true;
}

static void *
sampler_main(void *arg)
{
	struct backlog *b = arg;

	while (!atomic_load(&b->stopping)) {
		int64_t start = monotime_ms(), took, wait_ms;
		char err[256];
		bool ok = sample(b, err, sizeof(err));

		if (atomic_load(&b->stopping))
			break;
		/* the console's history, with this backlog (or the last) */
		stats_tick();
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
		for (int64_t until = monotime_ms() + wait_ms;
		     wait_ms > 0 && !pause_or_stop(b, -1, wait_ms);
		     wait_ms = until - monotime_ms())
			;
	}
	return NULL;
}

struct backlog *
backlog_start(const char *url, long alert)
{
	struct backlog *b = xcalloc(1, sizeof(*b));

	b->alert = alert;
	atomic_init(&b->stopping, false);
	b->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	b->url = xstrdup(url);
	if (b->wakefd < 0 ||
	    pthread_create(&b->thread, NULL, sampler_main, b) != 0) {
		log_error("cannot start the backlog sampler thread");
		if (b->wakefd >= 0)
			close(b->wakefd);
		free(b->url);
		free(b);
		return NULL;
	}
	return b;
}

void
backlog_stop(struct backlog *b)
{
	uint64_t one = 1;

	if (b == NULL)
		return;
	atomic_store(&b->stopping, true);
	if (write(b->wakefd, &one, sizeof(one)) < 0)
		log_warn("backlog: cannot wake the sampler: %s", strerror(errno));
	pthread_join(b->thread, NULL);
	store_close(b->conn);
	close(b->wakefd);
	free(b->above);
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
