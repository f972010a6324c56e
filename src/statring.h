/* A fixed ring of samples of herald's counters and backlog, and the per-interval figures between them (pure: no clock, no lock). */
#ifndef HERALD_STATRING_H
#define HERALD_STATRING_H

#include <stdbool.h>
#include <stddef.h>

#include "metrics.h"

/* One sample: the counters as they stood (cumulative) and the backlog. */
struct statring_sample {
	double mono;  /* monotonic seconds: intervals are measured with it */
	double at;    /* Unix seconds: what an interval is labelled with */
	struct metrics_counters c;
	bool backlog_known; /* the backlog sampler had a sample */
	long due, not_due;
	double oldest_s;
};

/* The figures of one interval, from a sample to the next. */
struct statring_interval {
	double at;      /* Unix seconds at its end */
	double seconds; /* its length */
	struct metrics_counters d; /* what the counters added in it */
	bool backlog_known; /* the backlog at its end, if known */
	long due, not_due;
	double oldest_s;
};

struct statring;

/* A ring keeping the last cap samples (cap >= 2: cap - 1 intervals). */
struct statring *statring_new(size_t cap);
void statring_free(struct statring *r);

/* Add s, forgetting the oldest sample when full. */
void statring_push(struct statring *r, const struct statring_sample *s);
size_t statring_len(const struct statring *r);
/* The newest sample; false when there is none. */
bool statring_last(const struct statring *r, struct statring_sample *out);

/* The intervals that end after since (monotonic seconds), oldest first,
 * the newest max of them, into out; how many.  A counter lower than in the
 * sample before (reset) counts from zero; an interval that does not
 * move forward in monotonic time is left out. */
size_t statring_intervals(const struct statring *r, double since,
			  struct statring_interval *out, size_t max);

#endif
