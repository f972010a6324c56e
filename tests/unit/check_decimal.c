/* Unit tests for the exact comparison of JSON number text (decimal.c). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decimal.h"

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* a compared with b must give cmp; each case is also run swapped. */
static const struct {
	const char *a, *b;
	int cmp;
} cmp_cases[] = {
	/* integers, signs, zero */
	{"0", "0", 0},
	{"-0", "0", 0},
	{"-0.0e5", "0", 0},
	{"0e-999", "0.000", 0},
	{"1", "0", 1},
	{"-1", "0", -1},
	{"-1", "1", -1},
	{"2", "10", -1},
	{"10", "9", 1},
	{"-10", "-9", -1},
	{"123", "123", 0},
	{"123", "124", -1},
	/* beyond 2^53: doubles would make these equal */
	{"9007199254740992", "9007199254740993", -1},
	{"9007199254740993", "9007199254740993", 0},
	{"9007199254740993", "9007199254740992.5", 1},
	{"-9007199254740993", "-9007199254740992", -1},
	{"18446744073709551616", "18446744073709551615", 1},
	{"123456789012345678901234567890", "123456789012345678901234567891", -1},
	{"123456789012345678901234567890", "1.2345678901234567890123456789e29", 0},
	{"99999999999999999999999999999999999999999",
	 "100000000000000000000000000000000000000000", -1},
	/* decimals: one value, many spellings */
	{"1", "1.0", 0},
	{"1", "1e0", 0},
	{"1", "10e-1", 0},
	{"1", "0.1e1", 0},
	{"1", "1E+0", 0},
	{"1", "100e-2", 0},
	{"1.50", "1.5", 0},
	{"150", "1.5e2", 0},
	{"0.001", "1e-3", 0},
	{"0.001", "1E-3", 0},
	{"-0.5", "-5e-1", 0},
	{"0.1", "0.10000000000000001", -1},
	{"0.3", "0.30000000000000004", -1},
	{"1.0000000000000000000001", "1", 1},
	{"0.9999999999999999999999", "1", -1},
	{"-1.0000000000000000000001", "-1", -1},
	{"2.5", "2.49999999999999999999", 1},
	{"12.5", "12.50000000000000000001", -1},
	{"100", "99.999", 1},
	{"0.01", "0.009", 1},
	{"0.01", "0.1", -1},
	{"1.2", "1.19", 1},
	{"1.2", "1.21", -1},
	/* exponents */
	{"1e3", "999", 1},
	{"1e3", "1000", 0},
	{"1e3", "1001", -1},
	{"1e308", "1e309", -1},
	{"1e400", "1e399", 1},
	{"1e-400", "0", 1},
	{"1e-400", "1e-399", -1},
	{"-1e-400", "0", -1},
	{"-1e400", "-1e399", -1},
	{"5e-324", "4e-324", 1},
	{"1e135", "1" "000000000000000000000000000000000000000000000000000000000"
		  "00000000000000000000000000000000000000000000000000000000000"
		  "0000000000000000000", 0},
	{"1e1000", "1" "000000000000000000000000000000000000000000000000000000000"
		   "00000000000000000000000000000000000000000000000000000000000"
		   "0000000000000000000", 1},
	{"12345e-2", "123.45", 0},
	{"12345e-2", "123.449", 1},
	{"0.00012345e6", "123.45", 0},
	/* exponents beyond 10^15 saturate but still order against the rest */
	{"1e99999999999999999999", "1e1000", 1},
	{"-1e99999999999999999999", "-1e1000", -1},
	{"1e-99999999999999999999", "0", 1},
	{"1e-99999999999999999999", "1e-1000", -1},
	{"-1e-99999999999999999999", "0", -1},
	{"2e99999999999999999999", "1e99999999999999999999", 1},
	/* the looser forms cJSON accepts, by the value it reads */
	{"01", "1", 0},
	{"-007", "-7", 0},
	{"1.", "1", 0},
	{"1.e2", "100", 0},
	{"00.50", "0.5", 0},
};

START_TEST(test_cmp)
{
	const char *a = cmp_cases[_i].a, *b = cmp_cases[_i].b;
	int got = 42;

	ck_assert_msg(decimal_cmp(a, strlen(a), b, strlen(b), &got),
		      "%s vs %s refused", a, b);
	ck_assert_msg(got == cmp_cases[_i].cmp, "%s vs %s: %d, not %d", a, b,
		      got, cmp_cases[_i].cmp);
	got = 42;
	ck_assert(decimal_cmp(b, strlen(b), a, strlen(a), &got));
	ck_assert_msg(got == -cmp_cases[_i].cmp, "%s vs %s (swapped): %d", b, a,
		      got);
	got = 42;
	ck_assert(decimal_cmp(a, strlen(a), a, strlen(a), &got));
	ck_assert_int_eq(got, 0);
}
END_TEST

/* Not numbers at all: refused, the result left alone. */
static const char *const not_numbers[] = {
	"", "-", "+1", ".5", "1e", "1e+", "1e-", "e5", "1.2.3", "1e2e3",
	"0x10", "inf", "-inf", "nan", "NaN", "Infinity", " 1", "1 ", "1,0",
	"--1", "1-", "1e5.5", "\"1\"", "true", "null", "1_000",
};

START_TEST(test_not_numbers)
{
	const char *s = not_numbers[_i];
	int got = 42;

	ck_assert_msg(!decimal_cmp(s, strlen(s), "1", 1, &got), "%s taken", s);
	ck_assert_msg(!decimal_cmp("1", 1, s, strlen(s), &got), "%s taken", s);
	ck_assert_int_eq(got, 42);
	ck_assert(!decimal_valid(s, strlen(s), DECIMAL_EXP_ANY));
}
END_TEST

/* Length-bounded: text after len is not read. */
START_TEST(test_length_bound)
{
	int got = 42;

	ck_assert(decimal_cmp("12345", 2, "12", 2, &got));
	ck_assert_int_eq(got, 0);
	ck_assert(decimal_cmp("1e5", 1, "1", 1, &got));
	ck_assert_int_eq(got, 0);
	ck_assert(!decimal_cmp(NULL, 0, "1", 1, &got));
}
END_TEST

/* decimal_valid: RFC 8259 grammar only, and the exponent bound. */
static const struct {
	const char *s;
	long long maxexp;
	bool valid;
} valid_cases[] = {
	{"0", 0, true},
	{"-0", 0, true},
	{"0.0", 0, true},
	{"0e99999", 0, true}, /* zero is always within */
	{"1", 0, true},
	{"9", 0, true},
	{"10", 0, false},
	{"10", 1, true},
	{"0.1", 0, false},
	{"0.1", 1, true},
	{"1e1000", 1000, true},
	{"1e1001", 1000, false},
	{"10e999", 1000, true},
	{"0.01e1002", 1000, true},
	{"1e-1000", 1000, true},
	{"1e-1001", 1000, false},
	{"0.1e-999", 1000, true},
	{"0.1e-1000", 1000, false},
	{"9007199254740993", 1000, true},
	{"-1.5E+3", 1000, true},
	{"01", 1000, false},
	{"-01", 1000, false},
	{"1.", 1000, false},
	{"1.e5", 1000, false},
	{"00", 1000, false},
	{"1e99999999999999999999", 1000, false},
	{"1e99999999999999999999", DECIMAL_EXP_ANY, true},
};

START_TEST(test_valid)
{
	const char *s = valid_cases[_i].s;

	ck_assert_msg(decimal_valid(s, strlen(s), valid_cases[_i].maxexp) ==
			      valid_cases[_i].valid,
		      "%s within %lld", s, valid_cases[_i].maxexp);
}
END_TEST

/* Random integers: the order of their text is the order of the values,
 * whatever spelling (exponent, fraction, leading zeros) each is given. */
static void
spell(long long v, int how, char *buf, size_t len)
{
	switch (how) {
	case 0:
		snprintf(buf, len, "%lld", v);
		break;
	case 1: /* v as v*10 e-1 */
		snprintf(buf, len, "%lld0e-1", v);
		break;
	case 2: /* v.000 */
		snprintf(buf, len, "%lld.000", v);
		break;
	default: /* v/1000 e3, with the point moved */
		if (v == 0) {
			snprintf(buf, len, "0.0e3");
		} else {
			char digits[32];
			long long m = v < 0 ? -v : v;
			int n = snprintf(digits, sizeof(digits), "%lld", m);

			snprintf(buf, len, "%s0.%s%se%d", v < 0 ? "-" : "",
				 "", digits, n);
		}
		break;
	}
}

START_TEST(test_random_integers)
{
	unsigned seed = 12345;

	for (int i = 0; i < 20000; i++) {
		long long a, b;
		char sa[64], sb[64];
		int got = 42, want;

		/* full 63-bit range, and small values often, to hit ties */
		a = ((long long)rand_r(&seed) << 32 | (unsigned)rand_r(&seed)) >>
		    (rand_r(&seed) % 60);
		b = i % 3 == 0 ? a : ((long long)rand_r(&seed) << 32 |
				      (unsigned)rand_r(&seed)) >> (rand_r(&seed) % 60);
		if (rand_r(&seed) % 2)
			a = -a;
		if (rand_r(&seed) % 2 && i % 3 != 0)
			b = -b;
		want = a < b ? -1 : a > b;
		spell(a, rand_r(&seed) % 4, sa, sizeof(sa));
		spell(b, rand_r(&seed) % 4, sb, sizeof(sb));
		ck_assert_msg(decimal_cmp(sa, strlen(sa), sb, strlen(sb), &got),
			      "%s vs %s refused", sa, sb);
		ck_assert_msg(got == want, "%s vs %s: %d, not %d", sa, sb, got,
			      want);
	}
}
END_TEST

static Suite *
decimal_suite(void)
{
	Suite *s = suite_create("decimal");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_cmp, 0, NELEM(cmp_cases));
	tcase_add_loop_test(tc, test_not_numbers, 0, NELEM(not_numbers));
	tcase_add_test(tc, test_length_bound);
	tcase_add_loop_test(tc, test_valid, 0, NELEM(valid_cases));
	tcase_add_test(tc, test_random_integers);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(decimal_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
