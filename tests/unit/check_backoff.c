/* Unit tests for backoff.c: retry delays, jitter bounds, Retry-After. */
#include <check.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "backoff.h"

/* The last u below 1. */
#define U_TOP 0x1.fffffffffffffp-1

static const struct delay_case {
	long initial_ms;
	double multiplier;
	long max_ms;
	double jitter;
	int attempt;
	double u;
	long want;
} delay_cases[] = {
	/* DESIGN.md defaults without jitter: exact powers of 4, then the cap */
	{5000, 4.0, 36000000, 0.0, 1, 0.0, 5000},
	{5000, 4.0, 36000000, 0.0, 2, 0.0, 20000},
	{5000, 4.0, 36000000, 0.0, 3, 0.9, 80000},
	{5000, 4.0, 36000000, 0.0, 4, 0.5, 320000},
	{5000, 4.0, 36000000, 0.0, 5, 0.0, 1280000},
	{5000, 4.0, 36000000, 0.0, 6, 0.0, 5120000},
	{5000, 4.0, 36000000, 0.0, 7, 0.0, 20480000},
	{5000, 4.0, 36000000, 0.0, 8, 0.0, 36000000},
	{5000, 4.0, 36000000, 0.0, 9, 0.0, 36000000},
	{5000, 4.0, 36000000, 0.0, 1000, 0.0, 36000000},
	{5000, 4.0, 36000000, 0.0, INT_MAX, 0.0, 36000000},
	/* multiplier 1: constant */
	{1000, 1.0, 60000, 0.0, 1, 0.0, 1000},
	{1000, 1.0, 60000, 0.0, 7, 0.0, 1000},
	{1000, 1.0, 60000, 0.0, INT_MAX, 0.0, 1000},
	/* the full range of long: 2^62 fits, 2^63 is capped, so is 2^999 */
	{1, 2.0, LONG_MAX, 0.0, 63, 0.0, 4611686018427387904L},
	{1, 2.0, LONG_MAX, 0.0, 64, 0.0, LONG_MAX},
	{1, 2.0, LONG_MAX, 0.0, 1000, 0.0, LONG_MAX},
	{1, 2.0, LONG_MAX, 1.0, 1000, U_TOP, LONG_MAX},
	{1, 2.0, LONG_MAX, 1.0, 1000, 0.0, 0},
	{1, 1e308, LONG_MAX, 0.0, 3, 0.0, LONG_MAX},
	/* jitter +/- 20% below the cap: symmetric around the base */
	{1000, 2.0, 60000, 0.2, 1, 0.0, 800},
	{1000, 2.0, 60000, 0.2, 1, 0.25, 900},
	{1000, 2.0, 60000, 0.2, 1, 0.5, 1000},
	{1000, 2.0, 60000, 0.2, 1, 0.75, 1100},
	{1000, 2.0, 60000, 0.2, 1, U_TOP, 1200},
	{1000, 2.0, 60000, 0.2, 3, 0.0, 3200},
	{1000, 2.0, 60000, 0.2, 3, U_TOP, 4800},
	/* jitter at the cap: max_ms is a ceiling, so only downwards */
	{5000, 4.0, 36000000, 0.2, 20, 0.0, 28800000},
	{5000, 4.0, 36000000, 0.2, 20, 0.25, 32400000},
	{5000, 4.0, 36000000, 0.2, 20, 0.5, 36000000},
	{5000, 4.0, 36000000, 0.2, 20, U_TOP, 36000000},
	/* just below the cap: upward jitter stops at max_ms */
	{5000, 4.0, 36000000, 0.2, 7, U_TOP, 24576000},
	{5000, 4.0, 22000000, 0.2, 7, U_TOP, 22000000},
	/* rounding to the nearest millisecond */
	{3, 1.0, 100, 0.5, 1, 0.25, 2},
	{3, 1.0, 100, 0.1, 1, 0.0, 3},
	/* out-of-range configuration and arguments */
	{0, 4.0, 36000000, 0.2, 3, 0.5, 0},
	{-5, 4.0, 36000000, 0.2, 3, 0.5, 0},
	{5000, 4.0, 0, 0.2, 3, 0.5, 0},
	{5000, 4.0, -1, 0.0, 3, 0.5, 0},
	{90000, 4.0, 60000, 0.0, 1, 0.5, 60000},
	{5000, 4.0, 36000000, 0.0, 0, 0.0, 5000},
	{5000, 4.0, 36000000, 0.0, INT_MIN, 0.0, 5000},
	{5000, NAN, 36000000, 0.0, 5, 0.0, 5000},
	{5000, 0.5, 36000000, 0.0, 5, 0.0, 5000},
	{5000, -4.0, 36000000, 0.0, 5, 0.0, 5000},
	{1000, 2.0, 60000, NAN, 1, 0.0, 1000},
	{1000, 2.0, 60000, -0.5, 1, 0.0, 1000},
	{1000, 2.0, 60000, 5.0, 1, 0.0, 0},
	{1000, 2.0, 60000, 5.0, 1, 0.75, 1500},
	{1000, 2.0, 60000, 0.2, 1, NAN, 1000},
	{1000, 2.0, 60000, 0.2, 1, -3.0, 800},
	{1000, 2.0, 60000, 0.2, 1, 7.0, 1200},
	{1000, 2.0, 60000, 0.2, 1, INFINITY, 1200},
};

START_TEST(test_delay_table)
{
	const struct delay_case *c = &delay_cases[_i];
	struct sub_retry r = {
		.max_attempts = 10,
		.initial_ms = c->initial_ms,
		.multiplier = c->multiplier,
		.max_ms = c->max_ms,
		.jitter = c->jitter,
	};
	long got = backoff_delay_ms(&r, c->attempt, c->u);

	ck_assert_msg(got == c->want,
		      "case %d: initial %ld mult %g max %ld jitter %g "
		      "attempt %d u %g: got %ld, want %ld",
		      _i, c->initial_ms, c->multiplier, c->max_ms, c->jitter,
		      c->attempt, c->u, got, c->want);
}
END_TEST

/*
 * Integer reference for the base: initial * mult^(attempt-1) capped at max,
 * multiplying step by step and stopping at the cap.
 */
static long
ref_base(long initial, long mult, long max, int attempt)
{
	long b = initial < max ? initial : max;

	for (int i = 1; i < attempt && b < max; i++)
		b = b > max / mult ? max : b * mult;
	return b < max ? b : max;
}

static const struct bounds_case {
	long initial_ms;
	long multiplier;
	long max_ms;
	double jitter;
} bounds_cases[] = {
	{5000, 4, 36000000, 0.2},
	{1, 2, LONG_MAX, 0.5},
	{250, 3, 1000000, 1.0},
	{1000, 1, 1000, 0.1},
	{7, 10, 123456789, 0.0},
};

/* Every result lies within the documented bounds and grows with u. */
START_TEST(test_delay_bounds)
{
	const struct bounds_case *c = &bounds_cases[_i];
	struct sub_retry r = {
		.max_attempts = 10,
		.initial_ms = c->initial_ms,
		.multiplier = (double)c->multiplier,
		.max_ms = c->max_ms,
		.jitter = c->jitter,
	};

	for (int attempt = 1; attempt <= 80; attempt++) {
		long base = ref_base(c->initial_ms, c->multiplier, c->max_ms,
				     attempt);
		double lo = (double)base * (1.0 - c->jitter);
		double hi = (double)base * (1.0 + c->jitter);
		long prev = -1;

		if (hi > (double)c->max_ms)
			hi = (double)c->max_ms;
		for (int k = 0; k <= 64; k++) {
			double u = k == 64 ? U_TOP : k / 64.0;
			long d = backoff_delay_ms(&r, attempt, u);

			ck_assert_msg((double)d >= floor(lo) &&
					      (double)d <= ceil(hi),
				      "attempt %d u %g: %ld outside [%g, %g]",
				      attempt, u, d, lo, hi);
			ck_assert_int_le(d, c->max_ms);
			ck_assert_int_ge(d, prev);
			if (c->jitter == 0.0)
				ck_assert_int_eq(d, base);
			if (u == 0.5)
				ck_assert_int_eq(d, base);
			prev = d;
		}
	}
}
END_TEST

/* 1994-11-06 08:49:37 UTC, the RFC's example date. */
#define NOW ((time_t)784111777)
#define CAP_MS (BACKOFF_RETRY_AFTER_MAX_S * 1000)

static const struct retry_after_case {
	const char *value;
	bool ok;
	long want_ms;
} retry_after_cases[] = {
	/* delta-seconds */
	{"120", true, 120000},
	{"0", true, 0},
	{"000", true, 0},
	{"  120\t", true, 120000},
	{"\t 7 \r\n", true, 7000},
	{"604800", true, CAP_MS},
	{"604801", true, CAP_MS},
	{"9223372036854775808", true, CAP_MS},
	{"99999999999999999999999999999999999999", true, CAP_MS},
	{"-1", false, 0},
	{"+5", false, 0},
	{"120abc", false, 0},
	{"12 0", false, 0},
	{"1.5", false, 0},
	{"0x10", false, 0},
	{"1e3", false, 0},
	{"abc", false, 0},
	{"", false, 0},
	{"   ", false, 0},
	{NULL, false, 0},
	/* IMF-fixdate */
	{"Sun, 06 Nov 1994 08:50:37 GMT", true, 60000},
	{"Sun, 06 Nov 1994 08:49:37 GMT", true, 0},
	{"Sun, 06 Nov 1994 08:49:36 GMT", true, 0},
	{"Sat, 01 Jan 1994 00:00:00 GMT", true, 0},
	{"Thu, 01 Jan 1970 00:00:00 GMT", true, 0},
	{"Mon, 07 Nov 1994 08:49:37 GMT", true, 86400000},
	{"Sun, 13 Nov 1994 08:49:37 GMT", true, CAP_MS},
	{"Fri, 31 Dec 9999 23:59:59 GMT", true, CAP_MS},
	{" \tSun, 06 Nov 1994 08:50:37 GMT \r\n", true, 60000},
	{"Sun, 06 Nov 1994 08:50:60 GMT", true, 83000},
	{"Tue, 29 Feb 2000 00:00:00 GMT", true, CAP_MS},
	{"Sun, 30 Nov 1994 08:49:37 GMT", true, CAP_MS},
	/* the weekday name must exist, but is not checked against the date */
	{"Wed, 06 Nov 1994 08:50:37 GMT", true, 60000},
	/* RFC 850; two-digit years more than 50 years ahead are in the past */
	{"Sunday, 06-Nov-94 08:50:37 GMT", true, 60000},
	{"Sunday, 06-Nov-94 08:49:00 GMT", true, 0},
	{"Monday, 06-Nov-44 08:49:37 GMT", true, CAP_MS},
	{"Monday, 06-Nov-45 08:49:37 GMT", true, 0},
	{"Monday, 06-Nov-95 08:49:37 GMT", true, CAP_MS},
	{"Friday, 06-Nov-93 08:49:37 GMT", true, 0},
	{"Sun, 06-Nov-94 08:50:37 GMT", false, 0},
	{"Sunday, 06-Nov-1994 08:50:37 GMT", false, 0},
	/* asctime */
	{"Sun Nov  6 08:50:37 1994", true, 60000},
	{"Sun Nov 06 08:50:37 1994", true, 60000},
	{"Sun Nov 16 08:49:37 1994", true, CAP_MS},
	{"Sun Nov  6 08:49:37 1993", true, 0},
	{"Sun Nov 6 08:50:37 1994", false, 0},
	{"Sun Nov  6 08:50:37 1994 GMT", false, 0},
	{"Sun Nov  6 08:50:37 94", false, 0},
	/* invalid dates and times */
	{"Wed, 30 Feb 1994 08:49:37 GMT", false, 0},
	{"Tue, 29 Feb 1994 08:49:37 GMT", false, 0},
	{"Thu, 29 Feb 1900 08:49:37 GMT", false, 0},
	{"Mon, 31 Apr 1995 08:49:37 GMT", false, 0},
	{"Sun, 00 Nov 1994 08:49:37 GMT", false, 0},
	{"Sun, 32 Dec 1994 08:49:37 GMT", false, 0},
	{"Sun, 06 Nov 1994 24:00:00 GMT", false, 0},
	{"Sun, 06 Nov 1994 08:60:00 GMT", false, 0},
	{"Sun, 06 Nov 1994 08:49:61 GMT", false, 0},
	{"Wednesday, 30-Feb-95 08:49:37 GMT", false, 0},
	{"Wed Feb 30 08:49:37 1995", false, 0},
	/* malformed dates */
	{"Sun, 06 Foo 1994 08:49:37 GMT", false, 0},
	{"Sun, 06 Nov 1994 08:49:37 UTC", false, 0},
	{"Sun, 06 Nov 1994 08:49:37 gmt", false, 0},
	{"sun, 06 nov 1994 08:49:37 GMT", false, 0},
	{"Sun, 06 Nov 1994 08:49:37", false, 0},
	{"Sun, 06 Nov 1994 08:49:37 GMT x", false, 0},
	{"Sun, 6 Nov 1994 08:49:37 GMT", false, 0},
	{"Sun 06 Nov 1994 08:49:37 GMT", false, 0},
	{"Sun,06 Nov 1994 08:49:37 GMT", false, 0},
	{"Sun, 06 Nov 1994 8:49:37 GMT", false, 0},
	{"Sun, 06 Nov 94 08:49:37 GMT", false, 0},
	{"Sund, 06 Nov 1994 08:49:37 GMT", false, 0},
	{"Sun", false, 0},
	{"Su", false, 0},
	{"2024-01-01T00:00:00Z", false, 0},
};

START_TEST(test_retry_after_table)
{
	const struct retry_after_case *c = &retry_after_cases[_i];
	long got = -12345;
	bool ok = backoff_parse_retry_after(c->value, NOW, &got);

	ck_assert_msg(ok == c->ok, "\"%s\": returned %d, want %d",
		      c->value ? c->value : "(null)", ok, c->ok);
	if (c->ok)
		ck_assert_msg(got == c->want_ms, "\"%s\": got %ld ms, want %ld",
			      c->value, got, c->want_ms);
	else
		ck_assert_msg(got == -12345, "\"%s\": delay written on failure",
			      c->value ? c->value : "(null)");
}
END_TEST

/* The same date read at other times: a delta, never negative, capped. */
START_TEST(test_retry_after_relative_to_now)
{
	const char *date = "Sun, 06 Nov 1994 08:49:37 GMT";
	long ms = -1;

	ck_assert(backoff_parse_retry_after(date, NOW - 3600, &ms));
	ck_assert_int_eq(ms, 3600000);
	ck_assert(backoff_parse_retry_after(date, NOW + 3600, &ms));
	ck_assert_int_eq(ms, 0);
	ck_assert(backoff_parse_retry_after(date, NOW - 604800, &ms));
	ck_assert_int_eq(ms, CAP_MS);
	ck_assert(backoff_parse_retry_after(date, NOW - 604799, &ms));
	ck_assert_int_eq(ms, 604799000L);
	/* extreme clocks must neither overflow nor misread */
	ck_assert(backoff_parse_retry_after(date, (time_t)INT64_MIN / 2, &ms));
	ck_assert_int_eq(ms, CAP_MS);
	ck_assert(backoff_parse_retry_after(date, (time_t)INT64_MAX / 2, &ms));
	ck_assert_int_eq(ms, 0);
	/* RFC 850 years pivot on the year of now: late 1999 reads 00 as 2000 */
	ck_assert(backoff_parse_retry_after("Saturday, 01-Jan-00 00:00:00 GMT",
					    (time_t)946684800 - 10, &ms));
	ck_assert_int_eq(ms, 10000);
	/* ... and in 2094: 05 is 2105, 44 is 2144 (50 years on), 45 is 2045 */
	ck_assert(backoff_parse_retry_after("Monday, 01-Jan-05 00:00:00 GMT",
					    (time_t)3913142400, &ms));
	ck_assert_int_eq(ms, CAP_MS);
	ck_assert(backoff_parse_retry_after("Monday, 01-Jan-44 00:00:00 GMT",
					    (time_t)3913142400, &ms));
	ck_assert_int_eq(ms, CAP_MS);
	ck_assert(backoff_parse_retry_after("Monday, 01-Jan-45 00:00:00 GMT",
					    (time_t)3913142400, &ms));
	ck_assert_int_eq(ms, 0);
}
END_TEST

static const struct wait_case {
	long backoff_ms, retry_after_ms, want;
} wait_cases[] = {
	{5000, -1, 5000},
	{5000, 0, 5000},
	{5000, 120000, 120000},
	{120000, 5000, 120000},
	{0, 0, 0},
	{0, LONG_MAX, LONG_MAX},
};

START_TEST(test_wait_table)
{
	const struct wait_case *c = &wait_cases[_i];

	ck_assert_int_eq(backoff_wait_ms(c->backoff_ms, c->retry_after_ms),
			 c->want);
}
END_TEST

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *
backoff_suite(void)
{
	Suite *s = suite_create("backoff");
	TCase *tc = tcase_create("delay");

	tcase_add_loop_test(tc, test_delay_table, 0, NELEM(delay_cases));
	tcase_add_loop_test(tc, test_delay_bounds, 0, NELEM(bounds_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("retry_after");
	tcase_add_loop_test(tc, test_retry_after_table, 0,
			    NELEM(retry_after_cases));
	tcase_add_test(tc, test_retry_after_relative_to_now);
	tcase_add_loop_test(tc, test_wait_table, 0, NELEM(wait_cases));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(backoff_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
