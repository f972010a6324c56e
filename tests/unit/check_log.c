/* Unit tests for log lines, text and JSON (log.c), and the request ids they carry (reqid.c). */
#include <check.h>
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloudevent.h"
#include "log.h"
#include "reqid.h"

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* 2023-11-14T22:13:20.123Z */
static const struct timespec when = {1700000000, 123456789};

START_TEST(test_text_line)
{
	char buf[LOG_LINE_MAX + 1];
	struct log_ids ids = {.request_id = "r-1", .subscription = "s1",
			      .seq = 42};
	size_t n;

	n = log_format_line(buf, sizeof(buf), LOG_FORMAT_TEXT, &when, LOG_INFO,
			    &ids, "hello");
	ck_assert_str_eq(buf, "2023-11-14T22:13:20.123Z info: hello "
			      "request_id=r-1 subscription=s1 seq=42");
	ck_assert_uint_eq(n, strlen(buf));
	log_format_line(buf, sizeof(buf), LOG_FORMAT_TEXT, &when, LOG_WARN,
			NULL, "no ids");
	ck_assert_str_eq(buf, "2023-11-14T22:13:20.123Z warn: no ids");
	ids = (struct log_ids){.seq = -7};
	log_format_line(buf, sizeof(buf), LOG_FORMAT_TEXT, &when, LOG_ERROR,
			&ids, "x");
	ck_assert_str_eq(buf, "2023-11-14T22:13:20.123Z error: x seq=-7");
}
END_TEST

START_TEST(test_json_line)
{
	char buf[LOG_LINE_MAX + 1];
	struct log_ids ids = {.request_id = "r-1", .subscription = "s1",
			      .seq = 42};
	size_t n;

	n = log_format_line(buf, sizeof(buf), LOG_FORMAT_JSON, &when, LOG_DEBUG,
			    &ids, "hello");
	ck_assert_str_eq(buf, "{\"time\":\"2023-11-14T22:13:20.123Z\","
			      "\"level\":\"debug\",\"msg\":\"hello\","
			      "\"request_id\":\"r-1\",\"subscription\":\"s1\","
			      "\"seq\":42}");
	ck_assert_uint_eq(n, strlen(buf));
	ids = (struct log_ids){.subscription = "s\"2"};
	log_format_line(buf, sizeof(buf), LOG_FORMAT_JSON, &when, LOG_INFO,
			&ids, "m");
	ck_assert_str_eq(buf, "{\"time\":\"2023-11-14T22:13:20.123Z\","
			      "\"level\":\"info\",\"msg\":\"m\","
			      "\"subscription\":\"s\\\"2\"}");
}
END_TEST

/* A message and how each format writes it. */
static const struct {
	const char *msg;
	const char *json; /* between the quotes of "msg" */
	const char *text;
} escape_cases[] = {
	{"plain", "plain", "plain"},
	{"", "", ""},
	{"say \"hi\"", "say \\\"hi\\\"", "say \"hi\""},
	{"a\\b", "a\\\\b", "a\\b"},
	{"two\nlines\r\tx", "two\\nlines\\r\\tx", "two\\nlines\\r\\tx"},
	{"bell\x01 del\x7f", "bell\\u0001 del\\u007f", "bell\\x01 del\\x7f"},
	{"caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e",
	 "caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e",
	 "caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e"},
	{"bad \xff end", "bad \\ufffd end", "bad \\xff end"},
	/* overlong, a surrogate, past U+10FFFF, cut short */
	{"\xc0\xaf", "\\ufffd\\ufffd", "\\xc0\\xaf"},
	{"\xed\xa0\x80", "\\ufffd\\ufffd\\ufffd", "\\xed\\xa0\\x80"},
	{"\xf4\x90\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd",
	 "\\xf4\\x90\\x80\\x80"},
	{"end \xe2\x82", "end \\ufffd\\ufffd", "end \\xe2\\x82"},
	{"\xe0\x80\x80", "\\ufffd\\ufffd\\ufffd", "\\xe0\\x80\\x80"},
	{"\xf0\x80\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd",
	 "\\xf0\\x80\\x80\\x80"},
	{"\xef\xbf\xbf\xf4\x8f\xbf\xbf", "\xef\xbf\xbf\xf4\x8f\xbf\xbf",
	 "\xef\xbf\xbf\xf4\x8f\xbf\xbf"},
};

START_TEST(test_escape)
{
	char buf[LOG_LINE_MAX + 1], want[512];
	const char *json_head = "{\"time\":\"2023-11-14T22:13:20.123Z\","
				"\"level\":\"info\",\"msg\":\"";

	log_format_line(buf, sizeof(buf), LOG_FORMAT_JSON, &when, LOG_INFO,
			NULL, escape_cases[_i].msg);
	snprintf(want, sizeof(want), "%s%s\"}", json_head, escape_cases[_i].json);
	ck_assert_str_eq(buf, want);
	/* what a JSON parser reads back */
	{
		cJSON *j = cJSON_Parse(buf);

		ck_assert_msg(j != NULL, "case %d: not JSON: %s", _i, buf);
		ck_assert(cJSON_IsString(cJSON_GetObjectItem(j, "msg")));
		cJSON_Delete(j);
	}
	ck_assert(ce_utf8_valid(buf, strlen(buf)));

	log_format_line(buf, sizeof(buf), LOG_FORMAT_TEXT, &when, LOG_INFO,
			NULL, escape_cases[_i].msg);
	snprintf(want, sizeof(want), "2023-11-14T22:13:20.123Z info: %s",
		 escape_cases[_i].text);
	ck_assert_str_eq(buf, want);
	ck_assert(ce_utf8_valid(buf, strlen(buf)));
}
END_TEST

/* Long messages are cut, never the ids, and JSON stays JSON. */
static const char *const long_units[] = {"x", "\x01", "\xc3\xa9", "\"", "\xff"};

START_TEST(test_long_message)
{
	static const size_t sizes[] = {1024, 1500, LOG_LINE_MAX + 1};
	char msg[20000];
	size_t ulen = strlen(long_units[_i]), n = 0;
	struct log_ids ids = {.request_id = "req", .subscription = "sub",
			      .seq = 9};

	while (n + ulen < sizeof(msg)) {
		memcpy(msg + n, long_units[_i], ulen);
		n += ulen;
	}
	msg[n] = '\0';
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		char *buf = malloc(sizes[k]);
		cJSON *j, *m;
		size_t len;

		len = log_format_line(buf, sizes[k], LOG_FORMAT_JSON, &when,
				      LOG_INFO, &ids, msg);
		ck_assert_uint_eq(len, strlen(buf));
		ck_assert_uint_lt(len, sizes[k]);
		ck_assert_uint_gt(len, sizes[k] - 16); /* cut, not emptied */
		j = cJSON_Parse(buf);
		ck_assert_msg(j != NULL, "unit %d size %zu: %s", _i, sizes[k], buf);
		m = cJSON_GetObjectItem(j, "msg");
		ck_assert(cJSON_IsString(m));
		ck_assert_str_eq(m->valuestring + strlen(m->valuestring) - 3, "...");
		ck_assert_str_eq(cJSON_GetObjectItem(j, "request_id")->valuestring,
				 "req");
		ck_assert_str_eq(cJSON_GetObjectItem(j, "subscription")->valuestring,
				 "sub");
		ck_assert_int_eq(cJSON_GetObjectItem(j, "seq")->valueint, 9);
		cJSON_Delete(j);
		ck_assert(ce_utf8_valid(buf, len));

		len = log_format_line(buf, sizes[k], LOG_FORMAT_TEXT, &when,
				      LOG_INFO, &ids, msg);
		ck_assert_uint_lt(len, sizes[k]);
		ck_assert_uint_gt(len, sizes[k] - 16);
		ck_assert_str_eq(buf + len - strlen("... request_id=req subscription=sub seq=9"),
				 "... request_id=req subscription=sub seq=9");
		ck_assert(ce_utf8_valid(buf, len));
		free(buf);
	}
}
END_TEST

/* A long id is cut to 64 bytes of itself, the line stays whole. */
START_TEST(test_long_id)
{
	char buf[LOG_LINE_MAX + 1], id[200];
	struct log_ids ids = {.subscription = id};
	cJSON *j;

	memset(id, 'a', sizeof(id) - 1);
	id[sizeof(id) - 1] = '\0';
	log_format_line(buf, sizeof(buf), LOG_FORMAT_JSON, &when, LOG_INFO,
			&ids, "m");
	j = cJSON_Parse(buf);
	ck_assert_ptr_nonnull(j);
	ck_assert_uint_eq(strlen(cJSON_GetObjectItem(j, "subscription")->valuestring),
			  64 + 3);
	cJSON_Delete(j);
}
END_TEST

START_TEST(test_names)
{
	enum log_level l;
	enum log_format f;

	for (int i = LOG_DEBUG; i <= LOG_ERROR; i++) {
		ck_assert(log_level_parse(log_level_name((enum log_level)i), &l));
		ck_assert_int_eq(l, i);
	}
	ck_assert(log_format_parse("text", &f) && f == LOG_FORMAT_TEXT);
	ck_assert(log_format_parse("json", &f) && f == LOG_FORMAT_JSON);
	ck_assert(!log_format_parse("JSON", &f));
	ck_assert(!log_format_parse("", &f));
	ck_assert(!log_level_parse("Info", &l));
	ck_assert_str_eq(log_format_name(LOG_FORMAT_JSON), "json");
}
END_TEST

static const struct {
	const char *id;
	bool ok;
} reqid_cases[] = {
	{"abc", true},
	{"0f8fad5b-d9cb-469f-a165-70867728950e", true},
	{"a.b_c:d-E9", true},
	{"x", true},
	{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", true},
	{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
	{"", false},
	{"has space", false},
	{"quote\"", false},
	{"new\nline", false},
	{"caf\xc3\xa9", false},
	{"a/b", false},
	{"a=b", false},
	{"<script>", false},
};

START_TEST(test_reqid_valid)
{
	char out[REQID_SIZE];

	ck_assert_msg(reqid_valid(reqid_cases[_i].id) == reqid_cases[_i].ok,
		      "case %d", _i);
	ck_assert_int_eq(reqid_make(reqid_cases[_i].id, out), reqid_cases[_i].ok);
	if (reqid_cases[_i].ok)
		ck_assert_str_eq(out, reqid_cases[_i].id);
	else
		ck_assert_uint_eq(strlen(out), 32);
}
END_TEST

START_TEST(test_reqid_new)
{
	char a[REQID_SIZE], b[REQID_SIZE];

	ck_assert(!reqid_valid(NULL));
	ck_assert(!reqid_make(NULL, a));
	ck_assert(!reqid_make(NULL, b));
	ck_assert_uint_eq(strlen(a), 32);
	ck_assert_uint_eq(strspn(a, "0123456789abcdef"), 32);
	ck_assert(reqid_valid(a));
	ck_assert_str_ne(a, b);
}
END_TEST

static Suite *
log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("log");

	tcase_add_test(tc, test_text_line);
	tcase_add_test(tc, test_json_line);
	tcase_add_loop_test(tc, test_escape, 0, NELEM(escape_cases));
	tcase_add_loop_test(tc, test_long_message, 0, NELEM(long_units));
	tcase_add_test(tc, test_long_id);
	tcase_add_test(tc, test_names);
	tcase_add_loop_test(tc, test_reqid_valid, 0, NELEM(reqid_cases));
	tcase_add_test(tc, test_reqid_new);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(log_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
