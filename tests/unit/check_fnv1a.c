/* Unit tests for FNV-1a (fnv1a.c), and the key lock ids and partitions built on it. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fnv1a.h"
#include "keyhead.h"

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* The published 64-bit offset basis (herald's own is FNV1A_BASIS). */
#define PUBLISHED_BASIS 0xcbf29ce484222325ULL

/* Published 64-bit FNV-1a test vectors: the step function is FNV-1a. */
static const struct {
	const char *in;
	uint64_t hash;
} vectors[] = {
	{"", 0xcbf29ce484222325ULL},
	{"a", 0xaf63dc4c8601ec8cULL},
	{"b", 0xaf63df4c8601f1a5ULL},
	{"foobar", 0x85944171f73967e8ULL},
};

START_TEST(test_vectors)
{
	ck_assert_uint_eq(fnv1a(PUBLISHED_BASIS, vectors[_i].in,
				strlen(vectors[_i].in)),
			  vectors[_i].hash);
}
END_TEST

/* fnv1a_str starts from herald's basis, which must not change. */
static const struct {
	const char *in;
	uint64_t hash;
} herald_vectors[] = {
	{"", 1469598103934665603ULL},
	{"a", 4953267810257967366ULL},
	{"foobar", 9870438755804841970ULL},
};

START_TEST(test_herald_basis)
{
	ck_assert_uint_eq(FNV1A_BASIS, 1469598103934665603ULL);
	ck_assert_uint_eq(fnv1a_str(herald_vectors[_i].in),
			  herald_vectors[_i].hash);
	ck_assert_uint_eq(fnv1a(12345, "", 0), 12345);
}
END_TEST

/* Hashing in pieces is hashing the whole; every byte value counts,
 * including NUL and bytes above 0x7f. */
START_TEST(test_incremental)
{
	unsigned char buf[256];
	uint64_t whole, parts, ref = 1469598103934665603ULL;

	for (int i = 0; i < 256; i++)
		buf[i] = (unsigned char)(255 - i);
	for (int i = 0; i < 256; i++)
		ref = (ref ^ buf[i]) * 1099511628211ULL;
	whole = fnv1a(FNV1A_BASIS, buf, sizeof(buf));
	parts = fnv1a(fnv1a(fnv1a(FNV1A_BASIS, buf, 1), buf + 1, 100),
		      buf + 101, 155);
	ck_assert_uint_eq(whole, ref);
	ck_assert_uint_eq(parts, ref);
}
END_TEST

/*
 * Key lock ids and partitions are shared through the database by every
 * instance, across upgrades: these values must never change.
 */
static const struct {
	const char *sub;
	const char *key;
	int64_t seq;
	int64_t lock_id; /* -1: key is NULL */
	int partition;
} keyhead_cases[] = {
	{"sub_1", "order-42", 0, 3847079865197003245LL, 45},
	{"3f1c2a9e-0000-4000-8000-000000000001", "", 0, 3918197469768484919LL,
	 55},
	{"s", "k\xc3\xa9y", 0, 3184556964331435637LL, 53},
	{"sub_1", NULL, 1, -1, 58},
	{"sub_1", NULL, 987654321, -1, 42},
};

START_TEST(test_keyhead_stable)
{
	const char *sub = keyhead_cases[_i].sub, *key = keyhead_cases[_i].key;

	if (key != NULL)
		ck_assert_int_eq(keyhead_lock_id(sub, key),
				 keyhead_cases[_i].lock_id);
	ck_assert_int_eq(keyhead_partition(sub, key, keyhead_cases[_i].seq),
			 keyhead_cases[_i].partition);
}
END_TEST

static Suite *
fnv1a_suite(void)
{
	Suite *s = suite_create("fnv1a");
	TCase *tc = tcase_create("fnv1a");

	tcase_add_loop_test(tc, test_vectors, 0, NELEM(vectors));
	tcase_add_loop_test(tc, test_herald_basis, 0, NELEM(herald_vectors));
	tcase_add_test(tc, test_incremental);
	tcase_add_loop_test(tc, test_keyhead_stable, 0, NELEM(keyhead_cases));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(fnv1a_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
