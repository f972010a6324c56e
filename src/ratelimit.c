/* Per-subscriber rate limit: a token bucket, an in-flight cap, a block. */
#include "ratelimit.h"

#include <limits.h>
#include <math.h>

/* Largest bucket, in ns of credit (about 73 years): products stay small. */
#define CREDIT_MAX_NS (INT64_C(1) << 61)

/* b - a for b > a, saturated at INT64_MAX. */
static int64_t
span(int64_t a, int64_t b)
{
	uint64_t d = (uint64_t)b - (uint64_t)a;

	return d > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)d;
}

/*
 * The credit one request costs: the least whole number of nanoseconds k
 * with k * rate >= 1e9, so that the bucket never runs faster than rate.
 * fma() gives k * rate - 1e9 with one rounding, which keeps its sign.
 */
static int64_t
interval_for(double rate)
{
	double q = ceil(1e9 / rate);
	int64_t k;

	if (!(q < (double)CREDIT_MAX_NS))
		return CREDIT_MAX_NS;
	k = q < 1.0 ? 1 : (int64_t)q;
	if (k < (INT64_C(1) << 53)) {
		while (fma((double)k, rate, -1e9) < 0.0)
			k++;
		while (k > 1 && fma((double)(k - 1), rate, -1e9) >= 0.0)
			k--;
	}
	return k;
}

static int64_t
capacity(const struct ratelimit *rl)
{
	return (int64_t)rl->burst * rl->interval_ns;
}

/* Apply settings, leaving credit, clock, in_flight and block alone. */
static void
configure(struct ratelimit *rl, double rate, int burst, int max_in_flight)
{
	if (!(rate > 0.0) || isinf(rate)) {
		rl->rate = 0.0;
		rl->interval_ns = 0;
	} else {
		rl->rate = rate;
		rl->interval_ns = interval_for(rate);
	}
	if (burst < 1)
		burst = 1;
	if (rl->interval_ns > 0 && burst > CREDIT_MAX_NS / rl->interval_ns)
		burst = (int)(CREDIT_MAX_NS / rl->interval_ns);
	rl->burst = burst;
	rl->max_in_flight = max_in_flight > 0 ? max_in_flight : 0;
}

/*
 * Bring the bucket up to now_us.  A clock that steps back refills nothing
 * until it has passed last_us again, so no time is ever counted twice.
 */
static void
refill(struct ratelimit *rl, int64_t now_us)
{
	int64_t room;
	uint64_t elapsed;

	if (now_us <= rl->last_us)
		return;
	elapsed = (uint64_t)now_us - (uint64_t)rl->last_us;
	rl->last_us = now_us;
	if (rl->interval_ns == 0)
		return;
	room = capacity(rl) - rl->credit_ns;
	if (elapsed > (uint64_t)(room / 1000))
		rl->credit_ns = capacity(rl);
	else
		rl->credit_ns += (int64_t)elapsed * 1000;
}

void
ratelimit_init(struct ratelimit *rl, double rate, int burst,
	       int max_in_flight, int64_t now_us)
{
	configure(rl, rate, burst, max_in_flight);
	rl->credit_ns = capacity(rl);
	rl->last_us = now_us;
	rl->in_flight = 0;
	rl->blocked_until_us = INT64_MIN;
}

bool
ratelimit_try_acquire(struct ratelimit *rl, int64_t now_us)
{
	refill(rl, now_us);
	if (now_us < rl->blocked_until_us)
		return false;
	if (rl->in_flight == INT_MAX ||
	    (rl->max_in_flight > 0 && rl->in_flight >= rl->max_in_flight))
		return false;
	if (rl->interval_ns > 0) {
		if (rl->credit_ns < rl->interval_ns)
			return false;
		rl->credit_ns -= rl->interval_ns;
	}
	rl->in_flight++;
	return true;
}

void
ratelimit_release(struct ratelimit *rl)
{
	if (rl->in_flight > 0)
		rl->in_flight--;
}

int64_t
ratelimit_next_us(const struct ratelimit *rl, int64_t now_us)
{
	struct ratelimit b = *rl;
	int64_t wait = 0;

	if (b.in_flight == INT_MAX ||
	    (b.max_in_flight > 0 && b.in_flight >= b.max_in_flight))
		return RATELIMIT_WAIT_RELEASE;
	if (now_us < b.blocked_until_us)
		wait = span(now_us, b.blocked_until_us);
	if (b.interval_ns > 0) {
		refill(&b, now_us);
		if (b.credit_ns < b.interval_ns) {
			/* Refill resumes at last_us, later than now_us if the
			 * clock stepped back. */
			int64_t need = b.interval_ns - b.credit_ns;
			int64_t t = (need + 999) / 1000;
			int64_t lag = b.last_us > now_us ?
					      span(now_us, b.last_us) : 0;

			t = lag > INT64_MAX - t ? INT64_MAX : lag + t;
			if (t > wait)
				wait = t;
		}
	}
	return wait;
}

void
ratelimit_block_until(struct ratelimit *rl, int64_t until_us)
{
	if (until_us > rl->blocked_until_us)
		rl->blocked_until_us = until_us;
}

void
ratelimit_update(struct ratelimit *rl, double rate, int burst,
		 int max_in_flight, int64_t now_us)
{
	int64_t old_interval, old_credit, cap;

	refill(rl, now_us);
	old_interval = rl->interval_ns;
	old_credit = rl->credit_ns;
	configure(rl, rate, burst, max_in_flight);
	cap = capacity(rl);
	if (rl->interval_ns == 0) {
		rl->credit_ns = 0;
	} else if (old_interval == 0) {
		rl->credit_ns = cap;
	} else if (old_interval == rl->interval_ns) {
		if (old_credit > cap)
			rl->credit_ns = cap;
	} else {
		/* Same number of tokens, priced at the new interval. */
		double c = floor((double)old_credit / (double)old_interval *
				 (double)rl->interval_ns);

		rl->credit_ns = c >= (double)cap ? cap : (int64_t)c;
	}
}
