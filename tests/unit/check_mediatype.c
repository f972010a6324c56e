/* Unit tests for media types (mediatype.c). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "mediatype.h"

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const struct {
	const char *s;
	bool ok;
} valid_cases[] = {
	{"application/json", true},
	{"text/plain; charset=utf-8", true},
	{"text/plain;charset=utf-8", true},
	{"text/plain ;\tcharset=utf-8 ", true},
	{"application/vnd.a+json; a=1; b=\"x y;\\\"z\"", true},
	{"multipart/form-data; boundary=\"\"", true},
	{"x/y; q=\"tab\there\"", true},
	{"", false},
	{"json", false},
	{"/json", false},
	{"application/", false},
	{"application /json", false},
	{"application/json;", false},
	{"application/json; charset", false},
	{"application/json; charset=", false},
	{"application/json; =utf-8", false},
	{"application/json; a=\"unterminated", false},
	{"application/json; a=\"esc\\", false},
	{"application/json; a=\"ctl\x01\"", false},
	{"application/json, text/plain", false},
	{"appl\xc3\xa9/json", false},
	{"a/b c", false},
};

START_TEST(test_valid)
{
	ck_assert_msg(mediatype_valid(valid_cases[_i].s) == valid_cases[_i].ok,
		      "\"%s\"", valid_cases[_i].s);
}
END_TEST

static const struct {
	const char *ct;
	size_t buflen;
	const char *essence;
} essence_cases[] = {
	{"application/cloudevents+json", 64, "application/cloudevents+json"},
	{"Application/CloudEvents+JSON; charset=utf-8", 64,
	 "application/cloudevents+json"},
	{" \ttext/plain", 64, "text/plain"},
	{"text/plain ;x=1", 64, "text/plain"},
	{"", 64, ""},
	{NULL, 64, ""},
	{"application/json", 5, "appl"},
	{"application/json", 1, ""},
};

START_TEST(test_essence)
{
	char buf[64];

	memset(buf, 'x', sizeof(buf));
	mediatype_essence(essence_cases[_i].ct, buf, essence_cases[_i].buflen);
	ck_assert_str_eq(buf, essence_cases[_i].essence);
	/* nothing written past the given length */
	if (essence_cases[_i].buflen < sizeof(buf))
		ck_assert_int_eq(buf[essence_cases[_i].buflen], 'x');
}
END_TEST

static const struct {
	const char *s;
	bool json, text;
} family_cases[] = {
	{"application/json", true, false},
	{"APPLICATION/JSON; charset=utf-8", true, false},
	{"application/cloudevents+json", true, false},
	{"application/vnd.x+JSON ;a=b", true, false},
	{"text/json", true, true},
	{"Text/Plain", false, true},
	{"text/html; charset=utf-8", false, true},
	{"application/jsonx", false, false},
	{"application/+json", false, false},
	{"application/json-seq", false, false},
	{"application/xjson", false, false},
	{"json", false, false},
	{"texts/plain", false, false},
	{"application/octet-stream", false, false},
	{"", false, false},
};

START_TEST(test_families)
{
	ck_assert_msg(mediatype_is_json(family_cases[_i].s) ==
			      family_cases[_i].json,
		      "json \"%s\"", family_cases[_i].s);
	ck_assert_msg(mediatype_is_text(family_cases[_i].s) ==
			      family_cases[_i].text,
		      "text \"%s\"", family_cases[_i].s);
}
END_TEST

static Suite *
mediatype_suite(void)
{
	Suite *s = suite_create("mediatype");
	TCase *tc = tcase_create("mediatype");

	tcase_add_loop_test(tc, test_valid, 0, NELEM(valid_cases));
	tcase_add_loop_test(tc, test_essence, 0, NELEM(essence_cases));
	tcase_add_loop_test(tc, test_families, 0, NELEM(family_cases));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(mediatype_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
