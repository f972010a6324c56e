/* The last hour of herald's figures in memory: its counters and backlog sampled every STATS_INTERVAL_MS, for the console's charts (GET /v1/stats). */
#include "stats.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "metrics.h"
#include "monotime.h"
#include "xalloc.h"

/*
 * One ring for the process, made on the first tick, under lock: the
 * backlog sampler's thread adds to it, API requests read it (a copy of
 * at most STATS_SAMPLES intervals, taken under the lock, never waiting
 * on anything else).
 */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct statring *ring;

/* A tick this close to the period takes its sample: the backlog
 * sampler's ticks (every BACKLOG_INTERVAL_MS, 5 s) drift by a little. */
#define SLACK_MS 2500

void
stats_tick(void)
{
	struct statring_sample s = {0}, last;
	struct metrics_backlog b;
	struct timespec ts;
	int64_t now_ms = monotime_ms();

	pthread_mutex_lock(&lock);
	if (ring == NULL)
		ring = statring_new(STATS_SAMPLES + 1);
	if (statring_last(ring, &last) &&
	    (double)now_ms / 1e3 - last.mono <
	    (double)(STATS_INTERVAL_MS - SLACK_MS) / 1e3) {
		pthread_mutex_unlock(&lock);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	s.mono = (double)now_ms / 1e3;
	s.at = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	metrics_counters_read(&s.c);
	metrics_backlog_totals(&b);
	s.backlog_known = b.sampled_at > 0;
	s.due = b.due;
	s.not_due = b.not_due;
	s.oldest_s = b.oldest_s;
	statring_push(ring, &s);
	pthread_mutex_unlock(&lock);
}

struct statring_interval *
stats_window(double window_s, size_t *n)
{
	struct statring_interval *out;

	*n = 0;
	pthread_mutex_lock(&lock);
	if (ring == NULL || statring_len(ring) < 2) {
		pthread_mutex_unlock(&lock);
		return NULL;
	}
	out = xcalloc(statring_len(ring) - 1, sizeof(*out));
	*n = statring_intervals(ring, (double)monotime_ms() / 1e3 - window_s,
				out, statring_len(ring) - 1);
	pthread_mutex_unlock(&lock);
	if (*n == 0) {
		free(out);
		return NULL;
	}
	return out;
}

void
stats_reset(void)
{
	pthread_mutex_lock(&lock);
	statring_free(ring);
	ring = NULL;
	pthread_mutex_unlock(&lock);
}
