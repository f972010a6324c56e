/* Unit tests for character classes, RFC 3339 date-times and month lengths (text.c). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Every byte against the classes, from their definitions. */
START_TEST(test_classes)
{
	for (int i = 0; i < 256; i++) {
		char c = (char)i;
		bool digit = i >= '0' && i <= '9';
		bool alpha = (i >= 'a' && i <= 'z') || (i >= 'A' && i <= 'Z');
		bool tchar = digit || alpha ||
			     (i != 0 && strchr("!#$%&'*+-.^_`|~", i) != NULL);

		ck_assert_msg(text_is_digit(c) == digit, "digit %d", i);
		ck_assert_msg(text_is_alpha(c) == alpha, "alpha %d", i);
		ck_assert_msg(text_is_alnum(c) == (digit || alpha), "alnum %d",
			      i);
		ck_assert_msg(text_is_tchar(c) == tchar, "tchar %d", i);
	}
	/* the separators of RFC 9110 are not token characters */
	for (const char *p = "\"(),/:;<=>?@[\\]{} \t"; *p; p++)
		ck_assert_msg(!text_is_tchar(*p), "tchar '%c'", *p);
}
END_TEST

static const struct {
	const char *s;
	size_t len;
} token_cases[] = {
	{"", 0},
	{"text/plain", 4},
	{"x-A.b_c~1!#$%&'*+^`|", 20},
	{"a b", 1},
	{";q=1", 0},
	{"\xc3\xa9", 0},
};

START_TEST(test_token_len)
{
	ck_assert_uint_eq(text_token_len(token_cases[_i].s), token_cases[_i].len);
}
END_TEST

static const struct {
	int year, month, days;
} month_cases[] = {
	{2023, 1, 31}, {2023, 2, 28}, {2023, 3, 31}, {2023, 4, 30},
	{2023, 5, 31}, {2023, 6, 30}, {2023, 7, 31}, {2023, 8, 31},
	{2023, 9, 30}, {2023, 10, 31}, {2023, 11, 30}, {2023, 12, 31},
	{2024, 2, 29}, {1900, 2, 28}, {2000, 2, 29}, {2100, 2, 28},
	{2400, 2, 29}, {4, 2, 29}, {0, 2, 29},
	{2024, 0, 0}, {2024, 13, 0}, {2024, -1, 0},
};

START_TEST(test_days_in_month)
{
	ck_assert_int_eq(text_days_in_month(month_cases[_i].year,
					    month_cases[_i].month),
			 month_cases[_i].days);
}
END_TEST

static const struct {
	const char *s;
	bool ok;
} rfc3339_cases[] = {
	{"2024-05-01T12:00:00Z", true},
	{"2024-05-01t12:00:00z", true},
	{"2024-05-01T12:00:00.5Z", true},
	{"2024-05-01T12:00:00.123456789+02:00", true},
	{"2024-05-01T23:59:60-23:59", true},
	{"2024-02-29T00:00:00Z", true},
	{"2000-02-29T00:00:00Z", true},
	{"0000-01-01T00:00:00Z", true},
	{"9999-12-31T23:59:59+00:00", true},
	{"2023-02-29T00:00:00Z", false},
	{"1900-02-29T00:00:00Z", false},
	{"2024-04-31T00:00:00Z", false},
	{"2024-00-01T00:00:00Z", false},
	{"2024-13-01T00:00:00Z", false},
	{"2024-05-00T00:00:00Z", false},
	{"2024-05-01T24:00:00Z", false},
	{"2024-05-01T12:60:00Z", false},
	{"2024-05-01T12:00:61Z", false},
	{"2024-05-01T12:00:00+24:00", false},
	{"2024-05-01T12:00:00+01:60", false},
	{"2024-05-01T12:00:00", false},
	{"2024-05-01T12:00:00.Z", false},
	{"2024-05-01T12:00:00Z ", false},
	{"2024-05-01T12:00:00+0100", false},
	{"2024-05-01 12:00:00Z", false},
	{"2024-5-01T12:00:00Z", false},
	{"24-05-01T12:00:00Z", false},
	{"2024-05-01", false},
	{"", false},
	{"2024-05-01T12:00:00ZZ", false},
	{"+024-05-01T12:00:00Z", false},
};

START_TEST(test_rfc3339)
{
	ck_assert_msg(text_rfc3339_valid(rfc3339_cases[_i].s) ==
			      rfc3339_cases[_i].ok,
		      "\"%s\"", rfc3339_cases[_i].s);
}
END_TEST

static const struct format_case {
	double t;
	const char *want; /* NULL: refused */
} format_cases[] = {
	{0, "1970-01-01T00:00:00.000Z"},
	{1714564800.25, "2024-05-01T12:00:00.250Z"},
	{951782400.9999, "2000-02-29T00:00:00.999Z"},
	{1709251199.5, "2024-02-29T23:59:59.500Z"},
	{-1, NULL},
	{253402300800.0, NULL}, /* year 10000 */
};

START_TEST(test_rfc3339_format)
{
	const struct format_case *c = &format_cases[_i];
	char buf[40];
	bool ok = text_rfc3339_format(c->t, buf, sizeof(buf));

	ck_assert_int_eq(ok, c->want != NULL);
	if (c->want != NULL) {
		ck_assert_str_eq(buf, c->want);
		ck_assert(text_rfc3339_valid(buf));
	}
	/* too small a buffer is refused, not cut */
	ck_assert(!text_rfc3339_format(c->t, buf, 10));
}
END_TEST

static Suite *
text_suite(void)
{
	Suite *s = suite_create("text");
	TCase *tc = tcase_create("text");

	tcase_add_test(tc, test_classes);
	tcase_add_loop_test(tc, test_token_len, 0, NELEM(token_cases));
	tcase_add_loop_test(tc, test_days_in_month, 0, NELEM(month_cases));
	tcase_add_loop_test(tc, test_rfc3339, 0, NELEM(rfc3339_cases));
	tcase_add_loop_test(tc, test_rfc3339_format, 0, NELEM(format_cases));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(text_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
