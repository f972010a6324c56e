/* Per-subscriber rate limit: a token bucket, an in-flight cap, a block. */
#ifndef HERALD_RATELIMIT_H
#define HERALD_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Embedded by the dispatcher, one per subscriber; touched only through the
 * functions below.  Times are microseconds on one monotonic clock, passed
 * in by the caller.  The bucket is kept in integer nanoseconds of "credit"
 * so that it never drifts: each request costs interval_ns, time refills one
 * nanosecond per nanosecond, and the bucket holds at most burst requests.
 * interval_ns is 1e9 / rate rounded up, so the limit errs on the slow side
 * by under a nanosecond per request and this holds exactly: over any
 * interval of length T, at most burst + rate * T requests start.
 */
struct ratelimit {
	double rate;              /* requests per second; 0: unlimited */
	int burst;                /* bucket size in requests, >= 1 */
	int64_t interval_ns;      /* credit one request costs; 0: unlimited */
	int64_t credit_ns;        /* bucket content, 0..burst * interval_ns */
	int64_t last_us;          /* clock time credit_ns is valid for */
	int max_in_flight;        /* cap on in_flight; 0: no cap */
	int in_flight;            /* requests started and not yet released */
	int64_t blocked_until_us; /* nothing starts before this (Retry-After) */
};

/* ratelimit_next_us() result: only a ratelimit_release() can unblock. */
#define RATELIMIT_WAIT_RELEASE ((int64_t)-1)

/*
 * Set up rl at time now_us with a full bucket.  rate <= 0, NaN or infinite
 * means no rate limit; burst < 1 counts as 1; max_in_flight <= 0 means no
 * in-flight cap.  Rates slower than one request per 73 years are treated
 * as that rate, and a burst is trimmed so the bucket fits in 2^61 ns.
 */
void ratelimit_init(struct ratelimit *rl, double rate, int burst,
		    int max_in_flight, int64_t now_us);

/*
 * Try to start one request at now_us: true (a token is taken and in_flight
 * counts it) unless rl is blocked, at its in-flight cap or out of tokens.
 */
bool ratelimit_try_acquire(struct ratelimit *rl, int64_t now_us);

/* A request started by ratelimit_try_acquire() ended. */
void ratelimit_release(struct ratelimit *rl);

/*
 * Microseconds from now_us until ratelimit_try_acquire() would succeed,
 * 0 if it would now, or RATELIMIT_WAIT_RELEASE while the in-flight cap is
 * reached (that wait is not a matter of time).
 */
int64_t ratelimit_next_us(const struct ratelimit *rl, int64_t now_us);

/* Start nothing before until_us; an earlier time than the current block
 * changes nothing. */
void ratelimit_block_until(struct ratelimit *rl, int64_t until_us);

/*
 * New settings (same meaning as for ratelimit_init()) at now_us.  Requests
 * in flight stay counted and the block stays; the tokens held are kept, cut
 * to the new burst.  Going from unlimited to limited starts a full bucket.
 */
void ratelimit_update(struct ratelimit *rl, double rate, int burst,
		      int max_in_flight, int64_t now_us);

#endif
