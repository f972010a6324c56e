/* The delivery lifecycle: a delivery's states, and what one attempt makes of a delivery (pure). */
#ifndef HERALD_DELIVERY_H
#define HERALD_DELIVERY_H

#include <stdbool.h>
#include <time.h>

#include "herald.h"

/*
 * The state of one delivery (one event to one subscription), stored in
 * delivery.state.  Its names are spelled here and in sql/ only.  Moves:
 * pending -> succeeded | failed (an attempt, written back by the
 * dispatcher); succeeded | failed -> pending (retry, replay).
 */
enum delivery_state {
	DELIVERY_PENDING,   /* to be sent, or sent again after a backoff */
	DELIVERY_SUCCEEDED, /* a sink answered 2xx */
	DELIVERY_FAILED,    /* every attempt used up; its key moved on */
};

/* The stored name of a state ("pending", ...). */
const char *delivery_state_name(enum delivery_state s);
/* The state named name; false when name is none of them. */
bool delivery_state_parse(const char *name, enum delivery_state *out);

/* What one attempt makes of a delivery. */
struct delivery_verdict {
	enum delivery_state state;
	int attempts;   /* attempts counted, this one included if it counts */
	long delay_ms;  /* pending: wait this long before the next try */
	long block_ms;  /* > 0: send the subscriber nothing for this long */
	bool gone;      /* the sink answered 410: disable the subscription */
	char error[256]; /* why it did not succeed; "" when it did */
};

/*
 * Judge an attempt.  attempts: those counted before it.  status: the HTTP
 * status, 0 when there was no answer, and then transport says why (a
 * timeout, a refused address, a request that could not be built).
 * retry_after: the answer's Retry-After, or NULL.  now: the wall clock,
 * for an HTTP-date Retry-After.  u: uniform in [0, 1), for the jitter.
 *
 *   2xx                      succeeded, attempts + 1
 *   410                      pending, nothing counted, gone
 *   429/503 + Retry-After    pending, nothing counted, blocked for it, next
 *                            try after max(backoff, Retry-After)
 *   anything else (3xx too)  attempts + 1; pending after a backoff, or
 *                            failed once max_attempts are used
 */
void delivery_judge(const struct sub_retry *retry, int attempts, long status,
		    const char *transport, const char *retry_after, time_t now,
		    double u, struct delivery_verdict *out);

/* true when a delivery in this state no longer holds its key's head. */
bool delivery_state_final(enum delivery_state s);

#endif
