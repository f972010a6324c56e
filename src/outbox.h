/* The outbox of operational events: drained into the event log through the writer; a backlog crossing recorded. */
#ifndef HERALD_OUTBOX_H
#define HERALD_OUTBOX_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"
#include "writer.h"

struct outbox;

/* Start the thread that publishes the opevent table's rows (sql/005)
 * through w, on its own connection to url; NULL with a logged reason. */
struct outbox *outbox_start(const char *url, struct writer *w);

/* Stop the thread (a batch being published is finished first) and free.
 * NULL is ignored.  Call before writer_drain. */
void outbox_stop(struct outbox *o);

/* A sample of a subscription's pending backlog: herald.subscription.backlog
 * is recorded when it reaches threshold (> 0) from below, once per
 * crossing across every instance (herald_opevent_backlog, sql/005).
 * Runs on c, in its own statement (a transaction of its own unless the
 * caller opened one).  *recorded tells whether an event was.  STORE_OK,
 * or the failure (logged). */
HERALD_MUST_CHECK enum store_status outbox_backlog(struct store_conn *c,
						   const char *sub_id,
						   int64_t pending,
						   int64_t threshold,
						   bool *recorded);

#endif
