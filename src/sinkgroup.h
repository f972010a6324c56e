/* Consumer groups: which member of a subscription's sinks takes a delivery, and when a member leaves and rejoins the rotation (pure). */
#ifndef HERALD_SINKGROUP_H
#define HERALD_SINKGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Most members a subscription's "sinks" may name. */
#define SINKGROUP_MAX 16

/*
 * The rendezvous weight of a member (its URL, as libcurl renders it) for
 * an ordering key.  Every instance and every version computes the same
 * weight, so a key's member depends only on the members and the key:
 * this function must never change.
 */
uint64_t sinkgroup_weight(const char *member, const char *key);

/*
 * The member of a keyed delivery: among the n members whose in_rotation
 * is true, the one with the highest weight for key (the lower index on a
 * tie).  When none is in rotation, among all of them.  -1 when n is 0.
 */
int sinkgroup_for_key(const char *const *members, const bool *in_rotation,
		      size_t n, const char *key);

/*
 * The member of an unkeyed delivery: among those with eligible true, the
 * one with the least work in flight; ties go to the first at or after
 * start (mod n), so that equal members take turns.  -1 when none is
 * eligible.
 */
int sinkgroup_least_loaded(const int *in_flight, const bool *eligible,
			   size_t n, size_t start);

/* When a member leaves the rotation, and how it comes back. */
struct sinkgroup_policy {
	int max_failures;    /* this many failed attempts in a row: out */
	int64_t refused_us;  /* connections refused this long: out */
	int probe_min_ms;    /* first wait before probing an out member */
	int probe_max_ms;    /* the wait doubles after each failed probe, to this */
};

/* One member's health, as one instance's dispatcher sees it. */
struct sinkgroup_health {
	bool out;              /* out of rotation */
	int failures;          /* failed attempts in a row */
	bool refusing;         /* the attempts since refused_since_us were refused */
	int64_t refused_since_us;
	int64_t probe_at_us;   /* out: no probe before then */
	int probe_ms;          /* out: the wait after the next failed probe */
	bool probing;          /* out: a probe is in flight */
};

/* What an attempt to a member came to. */
enum sinkgroup_outcome {
	SINKGROUP_OK,      /* a 2xx */
	SINKGROUP_FAILED,  /* an answer that is not 2xx, a timeout, an error */
	SINKGROUP_REFUSED, /* the connection was refused or could not be made */
	SINKGROUP_BUSY,    /* 429 or 503 with Retry-After: alive, says nothing */
};

/*
 * Count an attempt's outcome at now_us (probe: the attempt was the
 * member's probe).  A success puts an out member back and clears the
 * count; max_failures failures in a row, or refusals for refused_us,
 * take a member out, to be probed after probe_min_ms; a failed probe
 * doubles the wait.  Returns true when the member left or rejoined.
 */
bool sinkgroup_record(struct sinkgroup_health *h,
		      const struct sinkgroup_policy *p,
		      enum sinkgroup_outcome o, bool probe, int64_t now_us);

/* An out member whose probe is due and not in flight. */
bool sinkgroup_probe_due(const struct sinkgroup_health *h, int64_t now_us);

#endif
