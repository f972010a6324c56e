/* Unit tests for the recent attempts kept per subscription (subhealth.c): last success and failure, the last 20 outcomes, the bound, forgetting deleted ones. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monotime.h"
#include "subhealth.h"

#define A "00000000-0000-0000-0000-00000000000a"
#define B "00000000-0000-0000-0000-00000000000b"

static void
setup(void)
{
	subhealth_reset();
}

START_TEST(test_unknown)
{
	struct subhealth h;

	ck_assert(!subhealth_get(A, &h));
	ck_assert(!subhealth_get("not an id, far too long to be one at all", &h));
}
END_TEST

START_TEST(test_last_success_and_failure)
{
	struct subhealth h;

	subhealth_attempt(A, METRICS_HTTP_5XX, 500, 100.5);
	ck_assert(subhealth_get(A, &h));
	ck_assert(h.last_success_at == 0);
	ck_assert(h.last_failure_at == 100.5);
	ck_assert_int_eq(h.last_failure, METRICS_HTTP_5XX);
	ck_assert_int_eq(h.last_failure_status, 500);
	ck_assert_uint_eq(h.recent, 1);
	ck_assert_uint_eq(h.recent_failed, 1);

	subhealth_attempt(A, METRICS_SUCCESS, 204, 101);
	subhealth_attempt(A, METRICS_TIMEOUT, 0, 102);
	ck_assert(subhealth_get(A, &h));
	ck_assert(h.last_success_at == 101);
	ck_assert(h.last_failure_at == 102);
	ck_assert_int_eq(h.last_failure, METRICS_TIMEOUT);
	ck_assert_int_eq(h.last_failure_status, 0);
	ck_assert_uint_eq(h.recent, 3);
	ck_assert_uint_eq(h.recent_failed, 2);
	/* a success keeps the last failure as it was */
	subhealth_attempt(A, METRICS_SUCCESS, 200, 103);
	ck_assert(subhealth_get(A, &h));
	ck_assert(h.last_failure_at == 102 && h.last_success_at == 103);
	/* another subscription is apart */
	ck_assert(!subhealth_get(B, &h));
}
END_TEST

/* Only the last SUBHEALTH_RECENT outcomes count; a deferral (Retry-After)
 * is not a success. */
START_TEST(test_recent_window)
{
	struct subhealth h;

	for (int i = 0; i < 25; i++)
		subhealth_attempt(A, METRICS_RETRY_AFTER, 429, i);
	ck_assert(subhealth_get(A, &h));
	ck_assert_uint_eq(h.recent, SUBHEALTH_RECENT);
	ck_assert_uint_eq(h.recent_failed, SUBHEALTH_RECENT);
	for (int i = 0; i < SUBHEALTH_RECENT - 1; i++) {
		subhealth_attempt(A, METRICS_SUCCESS, 200, 100 + i);
		ck_assert(subhealth_get(A, &h));
		ck_assert_uint_eq(h.recent_failed, SUBHEALTH_RECENT - 1 - i);
	}
	subhealth_attempt(A, METRICS_SUCCESS, 200, 200);
	ck_assert(subhealth_get(A, &h));
	ck_assert_uint_eq(h.recent, SUBHEALTH_RECENT);
	ck_assert_uint_eq(h.recent_failed, 0);
}
END_TEST

/* At most SUBHEALTH_MAX subscriptions; others are not remembered until
 * one is forgotten. */
START_TEST(test_bound)
{
	struct subhealth h;
	char id[37];

	for (int i = 0; i < SUBHEALTH_MAX; i++) {
		snprintf(id, sizeof(id), "00000000-0000-0000-0000-%012d", i);
		subhealth_attempt(id, METRICS_SUCCESS, 200, 1);
	}
	ck_assert(subhealth_get("00000000-0000-0000-0000-000000000000", &h));
	subhealth_attempt(A, METRICS_SUCCESS, 200, 1);
	ck_assert(!subhealth_get(A, &h));
	/* a sample with none of them: every one goes, room again */
	subhealth_keep(NULL, 0, monotime_ms() + 1);
	ck_assert(!subhealth_get("00000000-0000-0000-0000-000000000000", &h));
	subhealth_attempt(A, METRICS_SUCCESS, 200, 1);
	ck_assert(subhealth_get(A, &h));
}
END_TEST

/* A subscription not in a sample is forgotten, unless it was first seen
 * after the sample was taken. */
START_TEST(test_keep)
{
	struct metrics_backlog_sub sorted[1] = {{.id = A}};
	struct subhealth h;
	int64_t before;

	subhealth_attempt(A, METRICS_SUCCESS, 200, 1);
	subhealth_attempt(B, METRICS_SUCCESS, 200, 1);
	before = monotime_ms() + 1;
	subhealth_keep(sorted, 1, before);
	ck_assert(subhealth_get(A, &h));
	ck_assert(!subhealth_get(B, &h));
	/* B again, seen after a sample taken before: kept */
	subhealth_attempt(B, METRICS_SUCCESS, 200, 2);
	subhealth_keep(sorted, 1, monotime_ms() - 1000);
	ck_assert(subhealth_get(B, &h));
	ck_assert(subhealth_get(A, &h));
}
END_TEST

static Suite *
subhealth_suite(void)
{
	Suite *s = suite_create("subhealth");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_unknown);
	tcase_add_test(tc, test_last_success_and_failure);
	tcase_add_test(tc, test_recent_window);
	tcase_add_test(tc, test_bound);
	tcase_add_test(tc, test_keep);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(subhealth_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
