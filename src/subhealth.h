/* What this instance's dispatcher saw of each subscription's attempts: its last success, its last failure and the outcomes of its last few, in memory. */
#ifndef HERALD_SUBHEALTH_H
#define HERALD_SUBHEALTH_H

#include <stdbool.h>
#include <stdint.h>

#include "metrics.h"

/* The outcomes remembered per subscription. */
#define SUBHEALTH_RECENT 20
/* At most this many subscriptions are remembered; attempts of others
 * are not (until the sampler forgets deleted ones). */
#define SUBHEALTH_MAX METRICS_SUBS_MAX

/* A subscription's attempts, as this instance saw them since it started. */
struct subhealth {
	double last_success_at; /* Unix seconds; 0: none */
	double last_failure_at; /* Unix seconds; 0: none */
	enum metrics_outcome last_failure; /* when last_failure_at */
	long last_failure_status; /* its HTTP status; 0: no answer */
	unsigned recent;        /* attempts among the last SUBHEALTH_RECENT */
	unsigned recent_failed; /* ... that were not a success */
};

/* One attempt of subscription id, at (Unix seconds), with its outcome
 * and HTTP status (0: none).  Any thread. */
void subhealth_attempt(const char *id, enum metrics_outcome o, long status,
		       double at);
/* What is known of id; false when this instance made no attempt for it. */
bool subhealth_get(const char *id, struct subhealth *out);
/* Forget the subscriptions that are not among the n sorted ids of a
 * backlog sample taken at or after since_ms (monotime_ms), except those
 * first seen after it. */
void subhealth_keep(const struct metrics_backlog_sub *sorted, size_t n,
		    int64_t since_ms);
/* Forget everything (for tests). */
void subhealth_reset(void);

#endif
