/* Unit tests for delivery.c (states, the outcome of an attempt) and keyhead.c's hashes (golden values). */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "delivery.h"
#include "keyhead.h"

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* --- state names --- */

START_TEST(test_state_names)
{
	static const struct {
		enum delivery_state s;
		const char *name;
	} names[] = {
		{DELIVERY_PENDING, "pending"},
		{DELIVERY_SUCCEEDED, "succeeded"},
		{DELIVERY_FAILED, "failed"},
	};

	for (int i = 0; i < NELEM(names); i++) {
		enum delivery_state got = DELIVERY_FAILED + 1;

		ck_assert_str_eq(delivery_state_name(names[i].s), names[i].name);
		ck_assert(delivery_state_parse(names[i].name, &got));
		ck_assert_int_eq(got, names[i].s);
	}
	ck_assert(!delivery_state_final(DELIVERY_PENDING));
	ck_assert(delivery_state_final(DELIVERY_SUCCEEDED));
	ck_assert(delivery_state_final(DELIVERY_FAILED));
}
END_TEST

START_TEST(test_state_parse_refuses)
{
	static const char *const bad[] = {"", "Pending", "PENDING", "pending ",
					  "done", "succeed", "failed\n", NULL};
	enum delivery_state got = DELIVERY_SUCCEEDED;

	for (int i = 0; i < NELEM(bad); i++) {
		ck_assert(!delivery_state_parse(bad[i], &got));
		ck_assert_int_eq(got, DELIVERY_SUCCEEDED); /* untouched */
	}
	ck_assert_str_eq(delivery_state_name((enum delivery_state)99), "invalid");
}
END_TEST

/* --- the outcome of one attempt --- */

/* 1 s, 2 s, 4 s... up to 60 s, no jitter; three attempts. */
static const struct sub_retry retry3 = {3, 1000, 2.0, 60000, 0.0};
static const struct sub_retry retry1 = {1, 1000, 2.0, 60000, 0.0};

/* Tue, 14 Nov 2023 22:13:20 GMT */
#define NOW ((time_t)1700000000)

static const struct judge_case {
	const char *what;
	const struct sub_retry *retry;
	int attempts;
	long status;
	const char *transport, *retry_after;
	/* wanted */
	enum delivery_state state;
	int new_attempts;
	long delay_ms, block_ms;
	bool gone;
	const char *error;
} judge_cases[] = {
	{"200", &retry3, 0, 200, NULL, NULL, DELIVERY_SUCCEEDED, 1, 0, 0, false, ""},
	{"204 on the last attempt", &retry3, 2, 204, NULL, NULL,
	 DELIVERY_SUCCEEDED, 3, 0, 0, false, ""},
	{"299", &retry3, 1, 299, NULL, NULL, DELIVERY_SUCCEEDED, 2, 0, 0, false, ""},
	{"2xx ignores Retry-After", &retry3, 0, 200, NULL, "30",
	 DELIVERY_SUCCEEDED, 1, 0, 0, false, ""},
	{"timeout", &retry3, 0, 0, "Timeout was reached", NULL,
	 DELIVERY_PENDING, 1, 1000, 0, false, "Timeout was reached"},
	{"timeout, second attempt", &retry3, 1, 0, "Timeout was reached", NULL,
	 DELIVERY_PENDING, 2, 2000, 0, false, "Timeout was reached"},
	{"timeout exhausts", &retry3, 2, 0, "Timeout was reached", NULL,
	 DELIVERY_FAILED, 3, 0, 0, false, "Timeout was reached"},
	{"500", &retry3, 1, 500, NULL, NULL, DELIVERY_PENDING, 2, 2000, 0, false,
	 "HTTP 500"},
	{"500 exhausts", &retry3, 2, 500, NULL, NULL, DELIVERY_FAILED, 3, 0, 0,
	 false, "HTTP 500"},
	{"one attempt allowed", &retry1, 0, 500, NULL, NULL, DELIVERY_FAILED, 1,
	 0, 0, false, "HTTP 500"},
	{"302 is not followed: a retry", &retry3, 0, 302, NULL, NULL,
	 DELIVERY_PENDING, 1, 1000, 0, false, "HTTP 302"},
	{"199", &retry3, 0, 199, NULL, NULL, DELIVERY_PENDING, 1, 1000, 0, false,
	 "HTTP 199"},
	{"300", &retry3, 0, 300, NULL, NULL, DELIVERY_PENDING, 1, 1000, 0, false,
	 "HTTP 300"},
	{"410 disables, counts nothing", &retry3, 1, 410, NULL, NULL,
	 DELIVERY_PENDING, 1, 0, 0, true, "HTTP 410"},
	{"410 on the last attempt does not fail", &retry3, 2, 410, NULL, NULL,
	 DELIVERY_PENDING, 2, 0, 0, true, "HTTP 410"},
	{"429 + Retry-After: longer than the backoff", &retry3, 0, 429, NULL, "30",
	 DELIVERY_PENDING, 0, 30000, 30000, false, "HTTP 429"},
	{"503 + Retry-After: shorter than the backoff", &retry3, 2, 503, NULL, "1",
	 DELIVERY_PENDING, 2, 2000, 1000, false, "HTTP 503"},
	{"429 + Retry-After never exhausts", &retry1, 5, 429, NULL, "2",
	 DELIVERY_PENDING, 5, 16000, 2000, false, "HTTP 429"},
	{"503 + HTTP-date", &retry3, 0, 503, NULL, "Tue, 14 Nov 2023 22:15:20 GMT",
	 DELIVERY_PENDING, 0, 120000, 120000, false, "HTTP 503"},
	{"429 without Retry-After counts", &retry3, 0, 429, NULL, NULL,
	 DELIVERY_PENDING, 1, 1000, 0, false, "HTTP 429"},
	{"429 with a malformed Retry-After counts", &retry3, 0, 429, NULL, "soon",
	 DELIVERY_PENDING, 1, 1000, 0, false, "HTTP 429"},
	{"500 + Retry-After is a plain retry", &retry3, 0, 500, NULL, "30",
	 DELIVERY_PENDING, 1, 1000, 0, false, "HTTP 500"},
	{"no answer wins over a status", &retry3, 0, 200, "refused", NULL,
	 DELIVERY_PENDING, 1, 1000, 0, false, "refused"},
};

START_TEST(test_judge_table)
{
	const struct judge_case *c = &judge_cases[_i];
	struct delivery_verdict v;

	memset(&v, 0xa5, sizeof(v));
	delivery_judge(c->retry, c->attempts, c->status, c->transport,
		       c->retry_after, NOW, 0.5, &v);
	ck_assert_msg(v.state == c->state, "%s: state %s, wanted %s", c->what,
		      delivery_state_name(v.state), delivery_state_name(c->state));
	ck_assert_msg(v.attempts == c->new_attempts, "%s: attempts %d, wanted %d",
		      c->what, v.attempts, c->new_attempts);
	ck_assert_msg(v.delay_ms == c->delay_ms, "%s: delay %ld, wanted %ld",
		      c->what, v.delay_ms, c->delay_ms);
	ck_assert_msg(v.block_ms == c->block_ms, "%s: block %ld, wanted %ld",
		      c->what, v.block_ms, c->block_ms);
	ck_assert_msg(v.gone == c->gone, "%s: gone %d", c->what, v.gone);
	ck_assert_msg(strcmp(v.error, c->error) == 0, "%s: error \"%s\", wanted \"%s\"",
		      c->what, v.error, c->error);
}
END_TEST

/* The jitter reaches the delay: u at both ends of [0, 1). */
START_TEST(test_judge_jitter)
{
	const struct sub_retry r = {10, 10000, 2.0, 3600000, 0.5};
	struct delivery_verdict lo, hi;

	delivery_judge(&r, 0, 500, NULL, NULL, NOW, 0.0, &lo);
	delivery_judge(&r, 0, 500, NULL, NULL, NOW, 0.999999, &hi);
	ck_assert_int_eq(lo.delay_ms, 5000);
	ck_assert_int_ge(hi.delay_ms, 14999);
	ck_assert_int_le(hi.delay_ms, 15000);
}
END_TEST

/* --- keyhead's hashes: instances of two versions share them --- */

/*
 * Two instances of different versions running side by side must agree on
 * every key's advisory lock and every delivery's partition, or per-key
 * order breaks during an upgrade.  These values were taken from the first
 * release; a change to them is a change of the on-disk format.
 */
static const struct lock_case {
	const char *sub, *key;
	int64_t lock;
	int part;
} lock_cases[] = {
	{"00000000-0000-0000-0000-000000000000", "", INT64_C(8485436849951063536), 48},
	{"00000000-0000-0000-0000-000000000000", "customer-7", INT64_C(1607948865152506040), 56},
	{"00000000-0000-0000-0000-000000000000", "k\xc3\xa9y \x1f with unit sep", INT64_C(4311480380629247707), 27},
	{"3f1c9a52-7d4e-4b8a-9c61-2e5f0d7a8b14", "", INT64_C(809931482655071461), 37},
	{"3f1c9a52-7d4e-4b8a-9c61-2e5f0d7a8b14", "customer-7", INT64_C(2409184790628497073), 49},
	{"3f1c9a52-7d4e-4b8a-9c61-2e5f0d7a8b14", "k\xc3\xa9y \x1f with unit sep", INT64_C(6867298195485196862), 62},
	{"ffffffff-ffff-ffff-ffff-ffffffffffff", "", INT64_C(6912151642673465680), 16},
	{"ffffffff-ffff-ffff-ffff-ffffffffffff", "customer-7", INT64_C(6451257738401999896), 24},
	{"ffffffff-ffff-ffff-ffff-ffffffffffff", "k\xc3\xa9y \x1f with unit sep", INT64_C(2639500572792812987), 59},
};

static const struct part_case {
	const char *sub;
	int64_t seq;
	int part;
} part_cases[] = {
	{"00000000-0000-0000-0000-000000000000", 1, 14},
	{"00000000-0000-0000-0000-000000000000", 2, 45},
	{"00000000-0000-0000-0000-000000000000", 42, 5},
	{"00000000-0000-0000-0000-000000000000", 1000000007, 61},
	{"00000000-0000-0000-0000-000000000000", INT64_C(9007199254740993), 46},
	{"3f1c9a52-7d4e-4b8a-9c61-2e5f0d7a8b14", 1, 57},
	{"3f1c9a52-7d4e-4b8a-9c61-2e5f0d7a8b14", 2, 26},
	{"3f1c9a52-7d4e-4b8a-9c61-2e5f0d7a8b14", 42, 50},
	{"3f1c9a52-7d4e-4b8a-9c61-2e5f0d7a8b14", 1000000007, 2},
	{"3f1c9a52-7d4e-4b8a-9c61-2e5f0d7a8b14", INT64_C(9007199254740993), 25},
	{"ffffffff-ffff-ffff-ffff-ffffffffffff", 1, 46},
	{"ffffffff-ffff-ffff-ffff-ffffffffffff", 2, 13},
	{"ffffffff-ffff-ffff-ffff-ffffffffffff", 42, 37},
	{"ffffffff-ffff-ffff-ffff-ffffffffffff", 1000000007, 29},
	{"ffffffff-ffff-ffff-ffff-ffffffffffff", INT64_C(9007199254740993), 14},
};

START_TEST(test_lock_ids)
{
	const struct lock_case *c = &lock_cases[_i];

	ck_assert_int_eq(keyhead_lock_id(c->sub, c->key), c->lock);
	/* an ordered delivery's partition follows its key, whatever its seq */
	ck_assert_int_eq(keyhead_partition(c->sub, c->key, 1), c->part);
	ck_assert_int_eq(keyhead_partition(c->sub, c->key, 987654321), c->part);
}
END_TEST

START_TEST(test_unordered_partitions)
{
	const struct part_case *c = &part_cases[_i];

	ck_assert_int_eq(keyhead_partition(c->sub, NULL, c->seq), c->part);
}
END_TEST

static Suite *
delivery_suite(void)
{
	Suite *s = suite_create("delivery");
	TCase *tc = tcase_create("states");

	tcase_add_test(tc, test_state_names);
	tcase_add_test(tc, test_state_parse_refuses);
	suite_add_tcase(s, tc);

	tc = tcase_create("judge");
	tcase_add_loop_test(tc, test_judge_table, 0, NELEM(judge_cases));
	tcase_add_test(tc, test_judge_jitter);
	suite_add_tcase(s, tc);

	tc = tcase_create("hashes");
	tcase_add_loop_test(tc, test_lock_ids, 0, NELEM(lock_cases));
	tcase_add_loop_test(tc, test_unordered_partitions, 0, NELEM(part_cases));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(delivery_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
