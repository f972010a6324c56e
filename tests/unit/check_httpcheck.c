/* Unit tests for the request framing checks (httpcheck.c). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "httpcheck.h"

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define MAX_FIELDS 4

#define H11 "HTTP/1.1"
#define H10 "HTTP/1.0"
#define HOST {"Host", "example.com"}

static const struct {
	const char *why;
	const char *version;
	struct httpcheck_field fields[MAX_FIELDS]; /* up to the first NULL name */
	unsigned status;
	const char *code; /* NULL when status is 0 */
} cases[] = {
	{"plain GET", H11, {HOST}, 0, NULL},
	{"host in any case", H11, {{"hOsT", "x"}}, 0, NULL},
	{"empty host value", H11, {{"Host", ""}}, 0, NULL},
	{"HTTP/1.0 needs no host", H10, {{"Accept", "*/*"}}, 0, NULL},
	{"no host on 1.1", H11, {{"Accept", "*/*"}}, 400, "malformed_request"},
	{"no fields at all", H11, {{NULL, NULL}}, 400, "malformed_request"},
	{"two hosts", H11, {HOST, {"host", "other"}}, 400, "malformed_request"},
	{"two hosts on 1.0", H10, {HOST, HOST}, 400, "malformed_request"},
	{"space before colon", H11, {HOST, {"X-Foo ", "1"}}, 400,
	 "malformed_request"},
	{"tab before colon", H11, {HOST, {"X-Foo\t", "1"}}, 400,
	 "malformed_request"},
	{"host with space before colon", H11, {{"Host ", "x"}}, 400,
	 "malformed_request"},
	{"folded line joined into a name", H11, {HOST, {"X-AX-E: 5", "1"}},
	 400, "malformed_request"},
	{"separator in a name", H11, {HOST, {"X;y", "1"}}, 400,
	 "malformed_request"},
	{"empty name", H11, {HOST, {"", "1"}}, 400, "malformed_request"},
	{"non-ASCII name", H11, {HOST, {"X-\xc3\xa9", "1"}}, 400,
	 "malformed_request"},
	{"every tchar", H11, {HOST, {"!#$%&'*+-.^_`|~09azAZ", "1"}}, 0, NULL},
	{"content-length", H11, {HOST, {"Content-Length", "12"}}, 0, NULL},
	{"content-length 0", H11, {HOST, {"content-length", "0"}}, 0, NULL},
	{"same content-length twice", H11,
	 {HOST, {"Content-Length", "12"}, {"Content-Length", "12"}}, 0, NULL},
	{"same value, leading zeros", H11,
	 {HOST, {"Content-Length", "012"}, {"Content-Length", "12"}}, 0, NULL},
	{"huge equal values", H11,
	 {HOST, {"Content-Length", "123456789012345678901234567890"},
	  {"Content-Length", "123456789012345678901234567890"}}, 0, NULL},
	{"differing content-lengths", H11,
	 {HOST, {"Content-Length", "12"}, {"Content-Length", "5"}}, 400,
	 "malformed_request"},
	{"differing only past 64 bits", H11,
	 {HOST, {"Content-Length", "18446744073709551617"},
	  {"Content-Length", "1"}}, 400, "malformed_request"},
	{"a second content-length not a number", H11,
	 {HOST, {"Content-Length", "12"}, {"Content-Length", "12x"}}, 400,
	 "malformed_request"},
	{"signed content-length", H11, {HOST, {"Content-Length", "+12"}}, 400,
	 "malformed_request"},
	{"content-length list", H11, {HOST, {"Content-Length", "12, 12"}},
	 400, "malformed_request"},
	{"empty content-length", H11, {HOST, {"Content-Length", ""}}, 400,
	 "malformed_request"},
	{"chunked", H11, {HOST, {"Transfer-Encoding", "chunked"}}, 0, NULL},
	{"chunked in capitals", H11, {HOST, {"transfer-encoding", "CHUNKED"}},
	 0, NULL},
	{"gzip, chunked", H11, {HOST, {"Transfer-Encoding", "gzip, chunked"}},
	 501, "unsupported_transfer_coding"},
	{"identity", H11, {HOST, {"Transfer-Encoding", "identity"}}, 501,
	 "unsupported_transfer_coding"},
	{"unknown coding", H11, {HOST, {"Transfer-Encoding", "foo"}}, 501,
	 "unsupported_transfer_coding"},
	{"empty coding", H11, {HOST, {"Transfer-Encoding", ""}}, 501,
	 "unsupported_transfer_coding"},
	{"chunked with a parameter", H11,
	 {HOST, {"Transfer-Encoding", "chunked;x=1"}}, 501,
	 "unsupported_transfer_coding"},
	{"chunked then a trailing space", H11,
	 {HOST, {"Transfer-Encoding", "chunked "}}, 501,
	 "unsupported_transfer_coding"},
	{"chunked twice in two fields", H11,
	 {HOST, {"Transfer-Encoding", "chunked"},
	  {"Transfer-Encoding", "chunked"}}, 501,
	 "unsupported_transfer_coding"},
	{"chunked, chunked", H11,
	 {HOST, {"Transfer-Encoding", "chunked, chunked"}}, 501,
	 "unsupported_transfer_coding"},
	{"content-length and chunked", H11,
	 {HOST, {"Content-Length", "12"}, {"Transfer-Encoding", "chunked"}},
	 400, "malformed_request"},
	{"chunked and content-length", H11,
	 {HOST, {"Transfer-Encoding", "chunked"}, {"Content-Length", "0"}},
	 400, "malformed_request"},
	{"content-length and an unknown coding", H11,
	 {HOST, {"Content-Length", "12"}, {"Transfer-Encoding", "foo"}}, 400,
	 "malformed_request"},
	{"transfer-encoding on 1.0", H10,
	 {{"Transfer-Encoding", "chunked"}}, 400, "malformed_request"},
	{"content-length on 1.0", H10, {{"Content-Length", "3"}}, 0, NULL},
	{"NULL value", H11, {HOST, {"X-Empty", NULL}}, 0, NULL},
	{"NULL content-length value", H11, {HOST, {"Content-Length", NULL}},
	 400, "malformed_request"},
};

START_TEST(test_request)
{
	struct herald_error err;
	size_t n = 0;
	unsigned status;

	while (n < MAX_FIELDS && cases[_i].fields[n].name != NULL)
		n++;
	memset(&err, 'x', sizeof(err));
	status = httpcheck_request(cases[_i].version, cases[_i].fields, n, &err);
	ck_assert_msg(status == cases[_i].status, "%s: status %u, expected %u",
		      cases[_i].why, status, cases[_i].status);
	if (cases[_i].code != NULL) {
		ck_assert_str_eq(err.code, cases[_i].code);
		ck_assert_msg(err.message[0] != '\0', "%s: no message",
			      cases[_i].why);
		ck_assert_str_eq(err.field, "");
		ck_assert_int_eq(err.index, -1);
	}
}
END_TEST

static Suite *
httpcheck_suite(void)
{
	Suite *s = suite_create("httpcheck");
	TCase *tc = tcase_create("httpcheck");

	tcase_add_loop_test(tc, test_request, 0, NELEM(cases));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(httpcheck_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
