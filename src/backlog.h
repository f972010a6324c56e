/* The backlog sampler: one thread reading pending deliveries and subscriptions from PostgreSQL every few seconds. */
#ifndef HERALD_BACKLOG_H
#define HERALD_BACKLOG_H

#include "metrics.h"

/* A sample at most this often; less often when one is slow (ten times
 * its duration), so that it never takes more than a tenth of a
 * connection's time. */
#define BACKLOG_INTERVAL_MS 5000
/* A sample gives up (and the last one stays) after this long. */
#define BACKLOG_TIMEOUT_MS 10000

struct backlog;

/* Start the sampler on its own connection to url (made on first use, and
 * again after a loss): a sample at once, then every BACKLOG_INTERVAL_MS.
 * Each sample is published to metrics.c; with alert > 0 a subscription's
 * pending deliveries reaching alert are reported as the operational event
 * herald.subscription.backlog (outbox_backlog).  NULL when the thread
 * cannot start. */
struct backlog *backlog_start(const char *url, long alert);

/* Stop the thread and close its connection: at once, or, if it is
 * connecting or preparing its statement, within BACKLOG_TIMEOUT_MS. */
void backlog_stop(struct backlog *b);

/* The last sample: every subscription, sorted by id, with its pending
 * deliveries (free it with metrics_backlog_free); sampled_at 0 before the
 * first.  A failed sample leaves the one before. */
void backlog_snapshot(struct metrics_backlog *out);

/* A subscription's entry in a snapshot; NULL when it has none. */
const struct metrics_backlog_sub *
backlog_find(const struct metrics_backlog *s, const char *id);

#endif
