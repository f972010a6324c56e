/* Unit tests for ratelimit.c: token bucket, in-flight cap, blocks. */
#include <check.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "ratelimit.h"

#define SEC INT64_C(1000000)
#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* splitmix64: a small deterministic generator for simulated runs. */
static uint64_t
next_rand(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static int64_t
rand_below(uint64_t *state, int64_t n)
{
	return (int64_t)(next_rand(state) % (uint64_t)n);
}

/* Burst, then one request per 1 / rate, at exactly the right moments. */
START_TEST(test_burst_then_steady)
{
	struct ratelimit rl;
	int64_t t, last = 100000;
	int n = 0;

	ratelimit_init(&rl, 10.0, 5, 0, 0);
	for (int i = 0; i < 5; i++) {
		ck_assert(ratelimit_try_acquire(&rl, 0));
		ratelimit_release(&rl);
	}
	ck_assert(!ratelimit_try_acquire(&rl, 0));
	ck_assert_int_eq(ratelimit_next_us(&rl, 0), 100000);
	ck_assert(!ratelimit_try_acquire(&rl, 99999));
	ck_assert_int_eq(ratelimit_next_us(&rl, 99999), 1);
	ck_assert(ratelimit_try_acquire(&rl, 100000));
	ratelimit_release(&rl);
	ck_assert(!ratelimit_try_acquire(&rl, 100000));

	/* one attempt per millisecond for 10 s: exactly one every 100 ms */
	for (t = 100000 + 1000; t <= 10 * SEC; t += 1000) {
		if (ratelimit_try_acquire(&rl, t)) {
			ck_assert_int_eq(t - last, 100000);
			ck_assert_int_eq(t % 100000, 0);
			ratelimit_release(&rl);
			last = t;
			n++;
		}
	}
	ck_assert_int_eq(n, 99);
	/* idle for a long time: the bucket refills to burst, no further */
	t = 1000 * SEC;
	for (n = 0; ratelimit_try_acquire(&rl, t); n++)
		ratelimit_release(&rl);
	ck_assert_int_eq(n, 5);
}
END_TEST

static const struct window_case {
	double rate;
	int burst;
	int max_in_flight;
	int64_t max_gap_us; /* attempts come 0..max_gap_us apart */
} window_cases[] = {
	{10.0, 5, 0, 150000},
	{3.0, 4, 0, 700000},
	{0.7, 1, 0, 3 * SEC},
	{250.0, 10, 0, 9000},
	{1000.0 / 3.0, 7, 3, 5000},
	{1.0, 1, 0, 2 * SEC},
	{4.0, 20, 2, 400000},
	{12345.678, 50, 0, 60},
};

#define WINDOW_STARTS 2500

/*
 * Over any interval of length T at most burst + rate * T requests start.
 * Attempts come at random times (often several at the same microsecond);
 * every pair of recorded starts bounds a window that is checked, which
 * covers the worst windows since those begin and end on a start.
 */
START_TEST(test_window_property)
{
	const struct window_case *c = &window_cases[_i];
	static int64_t starts[WINDOW_STARTS];
	struct ratelimit rl;
	uint64_t seed = UINT64_C(0x5eed) + (uint64_t)_i;
	int64_t t = 1000 * SEC;
	int n = 0, held = 0, bad_i = -1, bad_j = -1;
	long attempts = 0, over_cap = 0, miscounted = 0;

	ratelimit_init(&rl, c->rate, c->burst, c->max_in_flight, t);
	while (n < WINDOW_STARTS) {
		int64_t r = rand_below(&seed, 100);

		if (r < 30)
			; /* same microsecond again */
		else if (r < 97)
			t += rand_below(&seed, c->max_gap_us) + 1;
		else
			t += rand_below(&seed, 20 * c->max_gap_us) + 1;
		attempts++;
		if (held > 0 && rand_below(&seed, 3) == 0) {
			ratelimit_release(&rl);
			held--;
		}
		if (ratelimit_try_acquire(&rl, t)) {
			starts[n++] = t;
			held++;
			if (c->max_in_flight > 0 && held > c->max_in_flight)
				over_cap++;
			if (c->max_in_flight == 0) {
				ratelimit_release(&rl);
				held--;
			}
		}
		if (rl.in_flight != held)
			miscounted++;
	}
	ck_assert_int_eq(over_cap, 0);
	ck_assert_int_eq(miscounted, 0);
	ck_assert_int_gt(attempts, WINDOW_STARTS); /* the limit did bite */

	/* ck_assert is kept out of the 3 million windows: it is slow */
	for (int i = 0; i < n && bad_i < 0; i++) {
		for (int j = i; j < n; j++) {
			/* (count - burst) * 1e6 <= rate * T_us, both sides
			 * compared as doubles: the left is an exact integer
			 * and rounding the right cannot cross it wrongly */
			double span_us = (double)(starts[j] - starts[i]);
			double allowed = c->rate * span_us;
			double over = (double)(j - i + 1 - c->burst) * 1e6;

			if (over > allowed) {
				bad_i = i;
				bad_j = j;
				break;
			}
		}
	}
	ck_assert_msg(bad_i < 0, "%d starts in [%lld, %lld] us",
		      bad_j - bad_i + 1,
		      (long long)starts[bad_i < 0 ? 0 : bad_i],
		      (long long)starts[bad_j < 0 ? 0 : bad_j]);
}
END_TEST

static const struct tight_case {
	double rate;
	int burst;
} tight_cases[] = {
	{10.0, 5}, {3.0, 4}, {0.7, 1}, {250.0, 10}, {1000.0 / 3.0, 7},
};

/* The limit is not stricter than asked: polled every 100 us for 100 s, the
 * count comes within one request of burst + rate * T. */
START_TEST(test_limit_is_tight)
{
	const struct tight_case *c = &tight_cases[_i];
	struct ratelimit rl;
	int64_t t, end = 100 * SEC;
	long n = 0;

	ratelimit_init(&rl, c->rate, c->burst, 0, 0);
	for (t = 0; t <= end; t += 100) {
		while (ratelimit_try_acquire(&rl, t)) {
			ratelimit_release(&rl);
			n++;
		}
	}
	ck_assert_msg((double)n >= c->burst + c->rate * 100.0 - 1.0 &&
			      (double)n <= c->burst + c->rate * 100.0,
		      "%ld requests", n);
}
END_TEST

START_TEST(test_in_flight_cap)
{
	struct ratelimit rl;

	ratelimit_init(&rl, 0.0, 1, 3, 0);
	for (int i = 0; i < 3; i++)
		ck_assert(ratelimit_try_acquire(&rl, 0));
	ck_assert(!ratelimit_try_acquire(&rl, 0));
	ck_assert(!ratelimit_try_acquire(&rl, 50 * SEC));
	ck_assert_int_eq(ratelimit_next_us(&rl, 0), RATELIMIT_WAIT_RELEASE);
	ratelimit_release(&rl);
	ck_assert_int_eq(rl.in_flight, 2);
	ck_assert_int_eq(ratelimit_next_us(&rl, 0), 0);
	ck_assert(ratelimit_try_acquire(&rl, 0));
	ck_assert(!ratelimit_try_acquire(&rl, 0));

	/* extra releases never take in_flight below zero */
	for (int i = 0; i < 10; i++)
		ratelimit_release(&rl);
	ck_assert_int_eq(rl.in_flight, 0);
	for (int i = 0; i < 3; i++)
		ck_assert(ratelimit_try_acquire(&rl, 0));
	ck_assert(!ratelimit_try_acquire(&rl, 0));

	/* a cap with a rate: a refused start does not use up a token */
	ratelimit_init(&rl, 1.0, 2, 1, 0);
	ck_assert(ratelimit_try_acquire(&rl, 0));
	ck_assert(!ratelimit_try_acquire(&rl, 0));
	ratelimit_release(&rl);
	ck_assert(ratelimit_try_acquire(&rl, 0));
	ratelimit_release(&rl);
	ck_assert(!ratelimit_try_acquire(&rl, 0));
	ck_assert_int_eq(ratelimit_next_us(&rl, 0), SEC);
}
END_TEST

START_TEST(test_blocked_until)
{
	struct ratelimit rl;

	ratelimit_init(&rl, 0.0, 1, 0, 0);
	ratelimit_block_until(&rl, 1000);
	ck_assert(!ratelimit_try_acquire(&rl, 0));
	ck_assert(!ratelimit_try_acquire(&rl, 999));
	ck_assert_int_eq(ratelimit_next_us(&rl, 500), 500);
	ck_assert_int_eq(ratelimit_next_us(&rl, 999), 1);
	ck_assert(ratelimit_try_acquire(&rl, 1000));
	ck_assert_int_eq(ratelimit_next_us(&rl, 1000), 0);

	/* only moves forward */
	ratelimit_block_until(&rl, 2000);
	ratelimit_block_until(&rl, 1500);
	ck_assert(!ratelimit_try_acquire(&rl, 1999));
	ck_assert(ratelimit_try_acquire(&rl, 2000));

	/* with tokens: the later of the two waits wins, and the bucket
	 * filled during the block holds no more than burst */
	ratelimit_init(&rl, 1.0, 1, 0, 0);
	ck_assert(ratelimit_try_acquire(&rl, 0));
	ratelimit_release(&rl);
	ratelimit_block_until(&rl, SEC / 2);
	ck_assert_int_eq(ratelimit_next_us(&rl, 0), SEC);
	ratelimit_block_until(&rl, 3 * SEC);
	ck_assert_int_eq(ratelimit_next_us(&rl, 0), 3 * SEC);
	ck_assert_int_eq(ratelimit_next_us(&rl, 2 * SEC), SEC);
	ck_assert(!ratelimit_try_acquire(&rl, 2 * SEC));
	ck_assert(ratelimit_try_acquire(&rl, 3 * SEC));
	ratelimit_release(&rl);
	ck_assert(!ratelimit_try_acquire(&rl, 3 * SEC));
	ck_assert_int_eq(ratelimit_next_us(&rl, 3 * SEC), SEC);

	/* the in-flight cap outranks a block: only a release helps */
	ratelimit_init(&rl, 0.0, 1, 1, 0);
	ck_assert(ratelimit_try_acquire(&rl, 0));
	ratelimit_block_until(&rl, 10 * SEC);
	ck_assert_int_eq(ratelimit_next_us(&rl, 0), RATELIMIT_WAIT_RELEASE);
	ratelimit_release(&rl);
	ck_assert_int_eq(ratelimit_next_us(&rl, 0), 10 * SEC);
}
END_TEST

static const double unlimited_rates[] = {0.0, -1.0, NAN, INFINITY};

START_TEST(test_unlimited_rate)
{
	struct ratelimit rl;
	int n = 0;

	ratelimit_init(&rl, unlimited_rates[_i], 1, 0, 0);
	ck_assert(rl.rate == 0.0);
	for (int i = 0; i < 100000; i++) {
		if (ratelimit_next_us(&rl, 42) != 0 ||
		    !ratelimit_try_acquire(&rl, 42))
			break;
		n++;
	}
	ck_assert_int_eq(n, 100000);
	ck_assert_int_eq(rl.in_flight, 100000);
}
END_TEST

static const struct next_case {
	double rate;
	int burst;
	int max_in_flight;
} next_cases[] = {
	{10.0, 5, 0}, {3.0, 2, 2}, {0.7, 1, 0}, {333.3, 4, 3}, {1e6, 3, 0},
	{5e6, 8, 0},
};

/*
 * At every step of a random run, next_us is exactly the first moment an
 * attempt succeeds: it does at now + next, and not a microsecond before.
 */
/* Is next_us(rl, t) right?  Works on copies; rl is left alone. */
static bool
next_is_exact(const struct ratelimit *rl, int64_t t, int64_t next)
{
	struct ratelimit copy = *rl;

	if (next == RATELIMIT_WAIT_RELEASE)
		return rl->max_in_flight > 0 &&
		       rl->in_flight >= rl->max_in_flight &&
		       !ratelimit_try_acquire(&copy, INT64_MAX);
	if (next < 0 || !ratelimit_try_acquire(&copy, t + next))
		return false;
	copy = *rl;
	return next == 0 || !ratelimit_try_acquire(&copy, t + next - 1);
}

START_TEST(test_next_us_exact)
{
	const struct next_case *c = &next_cases[_i];
	struct ratelimit rl;
	uint64_t seed = UINT64_C(42) + (uint64_t)_i;
	int64_t t = 0;
	int bad_step = -1, waits = 0;

	ratelimit_init(&rl, c->rate, c->burst, c->max_in_flight, t);
	for (int step = 0; step < 20000 && bad_step < 0; step++) {
		int64_t next;
		int64_t r = rand_below(&seed, 100);

		if (r < 5)
			ratelimit_block_until(&rl, t + rand_below(&seed, SEC));
		else if (r < 40)
			t += rand_below(&seed, (int64_t)(3e6 / c->rate) + 2);
		if (rl.in_flight > 0 && rand_below(&seed, 2) == 0)
			ratelimit_release(&rl);

		next = ratelimit_next_us(&rl, t);
		if (!next_is_exact(&rl, t, next))
			bad_step = step;
		if (next > 0)
			waits++;
		(void)ratelimit_try_acquire(&rl, t);
	}
	ck_assert_msg(bad_step < 0, "next_us wrong at step %d", bad_step);
	ck_assert_int_gt(waits, 1000);
}
END_TEST

/* A clock that steps back refills nothing twice, and next_us accounts for
 * the time until it has caught up again. */
START_TEST(test_clock_step_back)
{
	struct ratelimit rl;

	ratelimit_init(&rl, 1.0, 1, 0, 10 * SEC);
	ck_assert(ratelimit_try_acquire(&rl, 10 * SEC));
	ratelimit_release(&rl);
	ck_assert(!ratelimit_try_acquire(&rl, 5 * SEC));
	ck_assert_int_eq(ratelimit_next_us(&rl, 5 * SEC), 6 * SEC);
	ck_assert(!ratelimit_try_acquire(&rl, 11 * SEC - 1));
	ck_assert(ratelimit_try_acquire(&rl, 11 * SEC));
}
END_TEST

START_TEST(test_update)
{
	struct ratelimit rl;

	/* 5 tokens, 2 used; a smaller burst cuts the 3 left to 2 */
	ratelimit_init(&rl, 1.0, 5, 0, 0);
	ck_assert(ratelimit_try_acquire(&rl, 0));
	ck_assert(ratelimit_try_acquire(&rl, 0));
	ratelimit_update(&rl, 1.0, 2, 0, 0);
	ck_assert_int_eq(rl.in_flight, 2);
	ck_assert(ratelimit_try_acquire(&rl, 0));
	ck_assert(ratelimit_try_acquire(&rl, 0));
	ck_assert(!ratelimit_try_acquire(&rl, 0));
	ck_assert_int_eq(rl.in_flight, 4);

	/* a faster rate keeps the whole tokens held and refills faster */
	ratelimit_init(&rl, 1.0, 5, 0, 0);
	ck_assert(ratelimit_try_acquire(&rl, 0));
	ck_assert(ratelimit_try_acquire(&rl, 0));
	ratelimit_update(&rl, 2.0, 5, 0, 0);
	for (int i = 0; i < 3; i++)
		ck_assert(ratelimit_try_acquire(&rl, 0));
	ck_assert(!ratelimit_try_acquire(&rl, 0));
	ck_assert_int_eq(ratelimit_next_us(&rl, 0), SEC / 2);

	/* half a token at 1/s is half a token at 1/4s: 2 s to go becomes
	 * 0.5 s; time before the update counts at the old rate */
	ratelimit_init(&rl, 1.0, 1, 0, 0);
	ck_assert(ratelimit_try_acquire(&rl, 0));
	ratelimit_update(&rl, 0.25, 1, 0, SEC / 2);
	ck_assert_int_eq(ratelimit_next_us(&rl, SEC / 2), 2 * SEC);

	/* a bigger burst does not add tokens by itself */
	ratelimit_init(&rl, 1.0, 1, 0, 0);
	ck_assert(ratelimit_try_acquire(&rl, 0));
	ratelimit_update(&rl, 1.0, 10, 0, 0);
	ck_assert(!ratelimit_try_acquire(&rl, 0));
	for (int i = 0; i < 10; i++)
		ck_assert(ratelimit_try_acquire(&rl, 100 * SEC));
	ck_assert(!ratelimit_try_acquire(&rl, 100 * SEC));

	/* a lower in-flight cap waits for releases; the block survives */
	ratelimit_init(&rl, 0.0, 1, 0, 0);
	for (int i = 0; i < 5; i++)
		ck_assert(ratelimit_try_acquire(&rl, 0));
	ratelimit_block_until(&rl, 7);
	ratelimit_update(&rl, 0.0, 1, 2, 0);
	ck_assert_int_eq(rl.in_flight, 5);
	ck_assert_int_eq(ratelimit_next_us(&rl, 10), RATELIMIT_WAIT_RELEASE);
	for (int i = 0; i < 3; i++)
		ratelimit_release(&rl);
	ck_assert(!ratelimit_try_acquire(&rl, 10));
	ratelimit_release(&rl);
	ck_assert(!ratelimit_try_acquire(&rl, 6));
	ck_assert(ratelimit_try_acquire(&rl, 10));

	/* unlimited -> limited starts full; limited -> unlimited is free */
	ratelimit_init(&rl, 0.0, 1, 0, 0);
	ratelimit_update(&rl, 1.0, 3, 0, 0);
	for (int i = 0; i < 3; i++)
		ck_assert(ratelimit_try_acquire(&rl, 0));
	ck_assert(!ratelimit_try_acquire(&rl, 0));
	ratelimit_update(&rl, 0.0, 3, 0, 0);
	for (int i = 0; i < 100; i++)
		ck_assert(ratelimit_try_acquire(&rl, 0));
}
END_TEST

/* The capped interval, 2^61 ns, in whole microseconds rounded up. */
#define SLOWEST_US INT64_C(2305843009213694)

/* Odd settings are tamed: burst at least 1, huge buckets trimmed. */
START_TEST(test_init_limits)
{
	struct ratelimit rl;

	ratelimit_init(&rl, 2.0, 0, -3, 0);
	ck_assert_int_eq(rl.burst, 1);
	ck_assert_int_eq(rl.max_in_flight, 0);
	ck_assert(ratelimit_try_acquire(&rl, 0));
	ck_assert(!ratelimit_try_acquire(&rl, 0));
	ck_assert_int_eq(ratelimit_next_us(&rl, 0), SEC / 2);

	/* one request per ~31 years with a huge burst: no overflow, and a
	 * refill after a very long idle stays within the bucket */
	ratelimit_init(&rl, 1e-9, INT_MAX, 0, 0);
	ck_assert_int_ge(rl.burst, 1);
	ck_assert_int_le(rl.burst, 2);
	ck_assert(ratelimit_try_acquire(&rl, INT64_MAX / 2));
	ck_assert(ratelimit_try_acquire(&rl, INT64_MAX / 2));
	ck_assert(!ratelimit_try_acquire(&rl, INT64_MAX / 2));
	ck_assert_int_gt(ratelimit_next_us(&rl, INT64_MAX / 2), 0);

	/* slower than one per 73 years: capped interval, still limited */
	ratelimit_init(&rl, 1e-300, 5, 0, INT64_MIN);
	ck_assert_int_eq(rl.burst, 1);
	ck_assert(ratelimit_try_acquire(&rl, INT64_MIN));
	ck_assert(!ratelimit_try_acquire(&rl, INT64_MIN + SLOWEST_US - 1));
	ck_assert(ratelimit_try_acquire(&rl, INT64_MIN + SLOWEST_US));
	ck_assert(!ratelimit_try_acquire(&rl, INT64_MIN + SLOWEST_US));

	/* faster than one per nanosecond: one per nanosecond */
	ratelimit_init(&rl, 1e12, 1, 0, 0);
	ck_assert(ratelimit_try_acquire(&rl, 0));
	ck_assert(!ratelimit_try_acquire(&rl, 0));
	ck_assert(ratelimit_try_acquire(&rl, 1));
}
END_TEST

static Suite *
ratelimit_suite(void)
{
	Suite *s = suite_create("ratelimit");
	TCase *tc = tcase_create("bucket");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_burst_then_steady);
	tcase_add_loop_test(tc, test_window_property, 0, NELEM(window_cases));
	tcase_add_loop_test(tc, test_limit_is_tight, 0, NELEM(tight_cases));
	tcase_add_test(tc, test_in_flight_cap);
	tcase_add_test(tc, test_blocked_until);
	tcase_add_loop_test(tc, test_unlimited_rate, 0,
			    NELEM(unlimited_rates));
	tcase_add_loop_test(tc, test_next_us_exact, 0, NELEM(next_cases));
	tcase_add_test(tc, test_clock_step_back);
	tcase_add_test(tc, test_update);
	tcase_add_test(tc, test_init_limits);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(ratelimit_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
