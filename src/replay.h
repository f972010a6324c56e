/* Replay and requeue of failed deliveries, one chunk at a time, and what a run would re-queue. */
#ifndef HERALD_REPLAY_H
#define HERALD_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#include "herald.h"
#include "srcscope.h"
#include "store.h"

enum replay_kind {
	REPLAY_EVENTS, /* stored events, matched against the subscription */
	REPLAY_FAILED, /* the subscription's failed deliveries */
};

/* Whose subscription it is: what its owner's key may see (the same rule as
 * the writers' fan-out, subcache.c). */
struct replay_owner {
	int64_t tenant;
	bool admin;                   /* every tenant's operational events */
	char sources[SRCSCOPE_SIZE];  /* packed (srcscope.h); empty: no limit */
};

/* Read the owner of subscription sub_id into *out; *found false when the
 * subscription is not there.  STORE_OK, or the failure (logged). */
HERALD_MUST_CHECK enum store_status replay_owner_load(struct store_conn *c,
						      const char *sub_id,
						      struct replay_owner *out,
						      bool *found);

/* What a run covers: seqs in (cursor, upper]. */
struct replay_range {
	enum replay_kind kind;
	const char *sub_id;
	const struct subscription *sub; /* REPLAY_EVENTS: its matching */
	const struct replay_owner *owner; /* REPLAY_EVENTS: what it may see */
	int64_t cursor;
	int64_t upper;
	const char *since; /* REPLAY_EVENTS: received at or after; NULL */
};

/* What one chunk did. */
struct replay_chunk {
	int64_t cursor;   /* the last seq it looked at (the next one's start) */
	int64_t selected; /* deliveries or events that matched */
	int64_t enqueued; /* of those, the ones (re-)queued (not pending) */
	bool last;        /* nothing is left after it */
};

/* Look at up to limit candidates after q->cursor and re-queue those that
 * match (herald_delivery_replay or _requeue_failed, sql/003, under their
 * keys' locks), in c's transaction.  STORE_OK, or the failure (logged). */
HERALD_MUST_CHECK enum store_status replay_chunk(struct store_conn *c,
						 const struct replay_range *q,
						 int limit,
						 struct replay_chunk *out);

/* How many deliveries a run would (re-)queue now: a count, narrowed in
 * SQL; with filters, the candidates' attributes are matched here.
 * STORE_OK, or the failure (logged). */
HERALD_MUST_CHECK enum store_status replay_count(struct store_conn *c,
						 const struct replay_range *q,
						 int64_t *count);

#endif
