/* Unit tests for the ring of samples (statring.c): intervals, their counts, the window, wrap-around and counter resets. */
#include <check.h>
#include <stdlib.h>

#include "statring.h"

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* A sample at monotonic second mono (wall time 1000 later) with accepted
 * events and successes counted so far, and a backlog. */
static struct statring_sample
at(double mono, unsigned long accepted, unsigned long success, long due)
{
	struct statring_sample s = {0};

	s.mono = mono;
	s.at = mono + 1000;
	s.c.ingested[METRICS_ACCEPTED] = accepted;
	s.c.attempts[METRICS_SUCCESS] = success;
	s.c.attempts[METRICS_HTTP_5XX] = success / 2;
	s.c.failed = success / 4;
	s.backlog_known = due >= 0;
	s.due = due;
	s.not_due = due * 2;
	s.oldest_s = (double)due / 10;
	return s;
}

START_TEST(test_empty_and_single)
{
	struct statring *r = statring_new(4);
	struct statring_interval out[4];
	struct statring_sample s = at(10, 5, 5, 0), last;

	ck_assert_uint_eq(statring_len(r), 0);
	ck_assert(!statring_last(r, &last));
	ck_assert_uint_eq(statring_intervals(r, 0, out, 4), 0);
	statring_push(r, &s);
	ck_assert(statring_last(r, &last));
	ck_assert(last.mono == 10);
	/* one sample is no interval: nothing to subtract it from */
	ck_assert_uint_eq(statring_intervals(r, 0, out, 4), 0);
	statring_free(r);
}
END_TEST

START_TEST(test_counts_per_interval)
{
	struct statring *r = statring_new(8);
	struct statring_interval out[8];
	struct statring_sample s[] = {at(100, 10, 8, 3), at(110, 25, 12, 5),
				      at(120, 25, 20, -1)};
	size_t n;

	for (int i = 0; i < NELEM(s); i++)
		statring_push(r, &s[i]);
	n = statring_intervals(r, 0, out, 8);
	ck_assert_uint_eq(n, 2);
	/* the first: 100 -> 110 */
	ck_assert(out[0].at == 1110 && out[0].seconds == 10);
	ck_assert_uint_eq(out[0].d.ingested[METRICS_ACCEPTED], 15);
	ck_assert_uint_eq(out[0].d.ingested[METRICS_DUPLICATE], 0);
	ck_assert_uint_eq(out[0].d.attempts[METRICS_SUCCESS], 4);
	ck_assert_uint_eq(out[0].d.attempts[METRICS_HTTP_5XX], 2);
	ck_assert_uint_eq(out[0].d.failed, 1);
	/* the backlog is the one at the interval's end */
	ck_assert(out[0].backlog_known);
	ck_assert_int_eq(out[0].due, 5);
	ck_assert_int_eq(out[0].not_due, 10);
	ck_assert(out[0].oldest_s == 0.5);
	/* the second: nothing ingested, the backlog not known */
	ck_assert(out[1].at == 1120 && out[1].seconds == 10);
	ck_assert_uint_eq(out[1].d.ingested[METRICS_ACCEPTED], 0);
	ck_assert_uint_eq(out[1].d.attempts[METRICS_SUCCESS], 8);
	ck_assert(!out[1].backlog_known);
	statring_free(r);
}
END_TEST

/* Past its capacity the ring keeps the newest samples. */
START_TEST(test_wraps_around)
{
	struct statring *r = statring_new(4);
	struct statring_interval out[8];
	size_t n;

	for (int i = 0; i < 10; i++) {
		struct statring_sample s = at(10.0 * i, 3u * (unsigned)i, 0, i);

		statring_push(r, &s);
	}
	ck_assert_uint_eq(statring_len(r), 4);
	n = statring_intervals(r, -1, out, 8);
	ck_assert_uint_eq(n, 3); /* 4 samples: 60, 70, 80, 90 */
	for (size_t i = 0; i < n; i++) {
		ck_assert(out[i].at == 1070 + 10.0 * (double)i);
		ck_assert_uint_eq(out[i].d.ingested[METRICS_ACCEPTED], 3);
		ck_assert_int_eq(out[i].due, 7 + (long)i);
	}
	statring_free(r);
}
END_TEST

/* The window: intervals that end after since; and at most max, the
 * newest. */
static const struct window_case {
	double since;
	size_t max;
	size_t want;
	double first_at; /* wall time of the first one returned */
} window_cases[] = {
	{0, 10, 5, 1010},   /* every interval */
	{9.9, 10, 5, 1010}, /* the first ends at 10, after 9.9 */
	{10, 10, 4, 1020},  /* ending exactly at since: out */
	{35, 10, 2, 1040},
	{50, 10, 0, 0},     /* none ends after the newest sample */
	{0, 2, 2, 1040},    /* the newest two */
	{0, 0, 0, 0},
};

START_TEST(test_window)
{
	const struct window_case *c = &window_cases[_i];
	struct statring *r = statring_new(16);
	struct statring_interval out[16];
	size_t n;

	for (int i = 0; i <= 5; i++) {
		struct statring_sample s = at(10.0 * i, (unsigned long)i, 0, 0);

		statring_push(r, &s);
	}
	n = statring_intervals(r, c->since, out, c->max);
	ck_assert_uint_eq(n, c->want);
	if (n > 0) {
		ck_assert(out[0].at == c->first_at);
		ck_assert(out[n - 1].at == 1050); /* always up to the newest */
	}
	statring_free(r);
}
END_TEST

/* A counter lower than before (the metrics were reset) counts from
 * zero; an interval that does not move forward is left out. */
START_TEST(test_reset_and_stalled_clock)
{
	struct statring *r = statring_new(8);
	struct statring_interval out[8];
	struct statring_sample s[] = {at(0, 100, 100, 0), at(10, 7, 3, 0),
				      at(10, 9, 3, 0), at(20, 12, 5, 0)};
	size_t n;

	for (int i = 0; i < NELEM(s); i++)
		statring_push(r, &s[i]);
	n = statring_intervals(r, -1, out, 8);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(out[0].d.ingested[METRICS_ACCEPTED], 7);
	ck_assert_uint_eq(out[0].d.attempts[METRICS_SUCCESS], 3);
	ck_assert(out[1].at == 1020 && out[1].seconds == 10);
	ck_assert_uint_eq(out[1].d.ingested[METRICS_ACCEPTED], 3); /* 9 -> 12 */
	statring_free(r);
}
END_TEST

/* A capacity below two still makes room for one interval. */
START_TEST(test_smallest)
{
	struct statring *r = statring_new(0);
	struct statring_interval out[2];
	struct statring_sample a = at(1, 1, 0, 0), b = at(2, 4, 0, 0),
			       c = at(3, 9, 0, 0);

	statring_push(r, &a);
	statring_push(r, &b);
	statring_push(r, &c);
	ck_assert_uint_eq(statring_len(r), 2);
	ck_assert_uint_eq(statring_intervals(r, 0, out, 2), 1);
	ck_assert_uint_eq(out[0].d.ingested[METRICS_ACCEPTED], 5);
	statring_free(r);
}
END_TEST

static Suite *
statring_suite(void)
{
	Suite *s = suite_create("statring");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_empty_and_single);
	tcase_add_test(tc, test_counts_per_interval);
	tcase_add_test(tc, test_wraps_around);
	tcase_add_loop_test(tc, test_window, 0, NELEM(window_cases));
	tcase_add_test(tc, test_reset_and_stalled_clock);
	tcase_add_test(tc, test_smallest);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(statring_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
