/* Unit tests for dispatch_jobs.c: a job's lifecycle, its lists and the held set. */
#include <check.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch_core.h"
#include "xalloc.h"

static struct dispatch *d;
static struct dsub *s;

static void
setup(void)
{
	d = xcalloc(1, sizeof(*d));
	s = jobs_sub_add(d, "3f1c9a52-7d4e-4b8a-9c61-2e5f0d7a8b14");
}

static void
teardown(void)
{
	jobs_forget_all(d);
	jobs_free_subs(d);
	free(d);
}

/* A fake transfer handle: in flight exactly while it is set. */
static CURL *const IN_LIBCURL = (CURL *)&IN_LIBCURL;

START_TEST(test_held_set)
{
	struct job *j = jobs_new(d, s, 42, 7);

	ck_assert_int_eq(j->state, JOB_FETCHED);
	ck_assert_uint_eq(d->nheld, 1);
	ck_assert_int_eq(d->held_per_part[7], 1);
	ck_assert(jobs_held(d, s->id, 42));
	ck_assert(!jobs_held(d, s->id, 43));
	ck_assert(!jobs_held(d, "00000000-0000-0000-0000-000000000000", 42));
	ck_assert_ptr_eq(jobs_sub_add(d, s->id), s); /* found, not made again */
	ck_assert_ptr_eq(jobs_sub_find(d, s->id), s);
	jobs_move(d, j, JOB_FORGOTTEN);
	ck_assert_uint_eq(d->nheld, 0);
	ck_assert_int_eq(d->held_per_part[7], 0);
	ck_assert(!jobs_held(d, s->id, 42));
}
END_TEST

/* The whole life of an attempted job, and the lists it passes. */
START_TEST(test_lifecycle)
{
	struct job *a = jobs_new(d, s, 1, 3), *b = jobs_new(d, s, 2, 3);

	jobs_move(d, a, JOB_QUEUED);
	jobs_move(d, b, JOB_QUEUED);
	ck_assert_uint_eq(s->queue.n, 2);
	ck_assert_ptr_eq(s->queue.head, a); /* in order */
	ck_assert_ptr_eq(s->queue.tail, b);
	ck_assert(s->listed);
	ck_assert_ptr_eq(d->busy, s);

	a->easy = IN_LIBCURL;
	jobs_move(d, a, JOB_IN_FLIGHT);
	ck_assert_uint_eq(s->queue.n, 1);
	ck_assert_ptr_eq(s->queue.head, b);
	ck_assert_uint_eq(d->flying.n, 1);

	a->easy = NULL; /* answered */
	jobs_move(d, a, JOB_FINISHED);
	jobs_release_queue(d, s); /* b, unsent */
	ck_assert_uint_eq(s->queue.n, 0);
	ck_assert_ptr_null(s->queue.head);
	ck_assert_uint_eq(d->flying.n, 0);
	ck_assert_uint_eq(d->results.n, 2);
	ck_assert_int_eq(b->state, JOB_FINISHED);

	jobs_move(d, a, JOB_WRITING);
	jobs_move(d, b, JOB_WRITING);
	ck_assert_uint_eq(d->writing.n, 2);
	ck_assert_uint_eq(d->results.n, 0);
	jobs_move(d, a, JOB_FINISHED); /* that write-back failed */
	ck_assert_uint_eq(d->writing.n, 1);
	ck_assert_ptr_eq(d->writing.head, b);
	ck_assert_ptr_eq(d->results.head, a);

	jobs_move(d, b, JOB_FORGOTTEN);
	jobs_move(d, a, JOB_WRITING);
	jobs_move(d, a, JOB_FORGOTTEN);
	ck_assert_uint_eq(d->writing.n, 0);
	ck_assert_uint_eq(d->nheld, 0);
	ck_assert_int_eq(d->held_per_part[3], 0);
}
END_TEST

/* A queue gives up a job from its middle without losing the others. */
START_TEST(test_queue_middle)
{
	struct job *j[3];

	for (int i = 0; i < 3; i++) {
		j[i] = jobs_new(d, s, 10 + i, 0);
		jobs_move(d, j[i], JOB_QUEUED);
	}
	jobs_move(d, j[1], JOB_FINISHED);
	ck_assert_uint_eq(s->queue.n, 2);
	ck_assert_ptr_eq(s->queue.head, j[0]);
	ck_assert_ptr_eq(j[0]->next, j[2]);
	ck_assert_ptr_eq(j[2]->prev, j[0]);
	ck_assert_ptr_eq(s->queue.tail, j[2]);
}
END_TEST

/* Everything is dropped with a lost session, whatever its state. */
START_TEST(test_forget_all)
{
	struct job *q = jobs_new(d, s, 1, 1), *f = jobs_new(d, s, 2, 2);

	jobs_new(d, s, 3, 3); /* fetched */
	jobs_move(d, q, JOB_QUEUED);
	jobs_move(d, f, JOB_FINISHED);
	jobs_forget_all(d);
	ck_assert_uint_eq(d->nheld, 0);
	ck_assert_uint_eq(s->queue.n, 0);
	ck_assert_uint_eq(d->results.n, 0);
	ck_assert(!s->listed);
	ck_assert_ptr_null(d->busy);
	for (int p = 0; p < STORE_PARTITIONS; p++)
		ck_assert_int_eq(d->held_per_part[p], 0);
}
END_TEST

/* Impossible moves abort (assert): each runs in its own process. */
START_TEST(test_refuse_fetched_to_writing)
{
	jobs_move(d, jobs_new(d, s, 1, 0), JOB_WRITING);
}
END_TEST

START_TEST(test_refuse_finished_to_queued)
{
	struct job *j = jobs_new(d, s, 1, 0);

	jobs_move(d, j, JOB_FINISHED);
	jobs_move(d, j, JOB_QUEUED);
}
END_TEST

START_TEST(test_refuse_in_flight_without_transfer)
{
	struct job *j = jobs_new(d, s, 1, 0);

	jobs_move(d, j, JOB_QUEUED);
	jobs_move(d, j, JOB_IN_FLIGHT); /* no transfer handle */
}
END_TEST

START_TEST(test_refuse_leaving_flight_with_transfer)
{
	struct job *j = jobs_new(d, s, 1, 0);

	jobs_move(d, j, JOB_QUEUED);
	j->easy = IN_LIBCURL;
	jobs_move(d, j, JOB_IN_FLIGHT);
	jobs_move(d, j, JOB_FINISHED); /* its transfer still set */
}
END_TEST

static Suite *
jobs_suite(void)
{
	Suite *su = suite_create("jobs");
	TCase *tc = tcase_create("lifecycle");
	const char *fork = getenv("CK_FORK");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_held_set);
	tcase_add_test(tc, test_lifecycle);
	tcase_add_test(tc, test_queue_middle);
	tcase_add_test(tc, test_forget_all);
	suite_add_tcase(su, tc);

	/* (a signal ends the whole run when tests do not fork) */
	if (fork == NULL || strcmp(fork, "no") != 0) {
		tc = tcase_create("refused");
		tcase_add_checked_fixture(tc, setup, NULL);
		tcase_add_test_raise_signal(tc, test_refuse_fetched_to_writing,
					    SIGABRT);
		tcase_add_test_raise_signal(tc, test_refuse_finished_to_queued,
					    SIGABRT);
		tcase_add_test_raise_signal(
			tc, test_refuse_in_flight_without_transfer, SIGABRT);
		tcase_add_test_raise_signal(
			tc, test_refuse_leaving_flight_with_transfer, SIGABRT);
		suite_add_tcase(su, tc);
	}
	return su;
}

int
main(void)
{
	SRunner *sr = srunner_create(jobs_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
