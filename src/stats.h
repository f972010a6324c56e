/* The last hour of herald's figures in memory: its counters and backlog sampled every STATS_INTERVAL_MS, for the console's charts (GET /v1/stats). */
#ifndef HERALD_STATS_H
#define HERALD_STATS_H

#include <stddef.h>

#include "statring.h"

/* A sample this often, an hour of them kept. */
#define STATS_INTERVAL_MS 10000
#define STATS_SAMPLES 360

/* Take a sample if STATS_INTERVAL_MS have passed since the last one (or
 * there is none); called by the backlog sampler after each of its
 * samples, which come more often, so that the backlog is fresh. */
void stats_tick(void);

/* The intervals of the last window_s seconds, oldest first (malloc'd, to
 * free; NULL when none): how many in *n. */
struct statring_interval *stats_window(double window_s, size_t *n);

/* Forget every sample (for tests). */
void stats_reset(void);

#endif
