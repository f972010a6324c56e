/* Unit tests for srcscope.c: validating a key's source prefixes, matching a source, and the ranges the event log is read by. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "srcscope.h"

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

struct cover_case {
	const char *prefix, *source;
	bool covers;
};

static const struct cover_case covers[] = {
	{"/teamA", "/teamA", true},
	{"/teamA", "/teamA/orders", true},
	{"/teamA", "/teamA:7", true},
	{"/teamA", "/teamA?region=eu", true},
	{"/teamA", "/teamA#x", true},
	{"/teamA", "/teamAB", false},
	{"/teamA", "/teamA-b", false},
	{"/teamA", "/teamA.b", false},
	{"/teamA", "/team", false},
	{"/teamA", "/teama", false},
	{"/teamA", "x/teamA", false},
	{"/teamA", "", false},
	{"/teamA/", "/teamA/orders", true},
	{"/teamA/", "/teamA", false},
	{"/teamA/", "/teamA/", true},
	{"https://a.example", "https://a.example/hooks", true},
	{"https://a.example", "https://a.example:8443/x", true},
	{"https://a.example", "https://a.example.evil.test/x", false},
	{"com.example.", "com.example.billing", true},
	{"com.example.", "com.exampleX", false},
	{"team-", "team-a", true},
	{"urn:team:a", "urn:team:a:orders", true},
	{"urn:team:a", "urn:team:ab", false},
	{"/", "/anything", true},
	{"/", "relative", false},
	{"9", "9", true},
	{"9", "99", false},
	{"", "/x", false},
};

START_TEST(test_covers)
{
	const struct cover_case *c = &covers[_i];

	ck_assert_msg(srcscope_covers(c->prefix, c->source) == c->covers,
		      "\"%s\" covers \"%s\": expected %d", c->prefix, c->source,
		      c->covers);
}
END_TEST

/* Parse a JSON text into packed; the return of srcscope_parse. */
static int
parse(const char *json, char packed[SRCSCOPE_SIZE], struct herald_error *err)
{
	cJSON *j = cJSON_Parse(json);
	int rc;

	ck_assert_ptr_nonnull(j);
	memset(err, 0, sizeof(*err));
	err->index = -1;
	rc = srcscope_parse(j, packed, err);
	cJSON_Delete(j);
	return rc;
}

struct parse_case {
	const char *json;
	const char *field; /* NULL: valid */
};

static const struct parse_case parses[] = {
	{"[\"/a\"]", NULL},
	{"[\"/a\",\"https://b.example/x?y\"]", NULL},
	{"[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\"]", NULL},
	{"[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\"]", "sources"},
	{"[]", "sources"},
	{"\"/a\"", "sources"},
	{"null", "sources"},
	{"{}", "sources"},
	{"[\"/a\",\"\"]", "sources[1]"},
	{"[\"/a\",7]", "sources[1]"},
	{"[\"/a b\"]", "sources[0]"},
	{"[\"/a\\tb\"]", "sources[0]"},
	{"[\"/\\u00e9\"]", "sources[0]"},
	{"[\"/a\\u007f\"]", "sources[0]"},
	{"[null]", "sources[0]"},
};

START_TEST(test_parse)
{
	const struct parse_case *c = &parses[_i];
	char packed[SRCSCOPE_SIZE];
	struct herald_error err;
	int rc = parse(c->json, packed, &err);

	if (c->field == NULL) {
		ck_assert_int_eq(rc, 0);
		ck_assert(srcscope_limited(packed));
	} else {
		ck_assert_int_eq(rc, -1);
		ck_assert_str_eq(err.code, "invalid_field");
		ck_assert_str_eq(err.field, c->field);
		ck_assert(strstr(err.message, c->field) == err.message);
		ck_assert(!srcscope_limited(packed));
	}
}
END_TEST

START_TEST(test_length_bound)
{
	char json[SRCSCOPE_LEN_MAX + 16], packed[SRCSCOPE_SIZE];
	struct herald_error err;

	json[0] = '[';
	json[1] = '"';
	memset(json + 2, 'a', SRCSCOPE_LEN_MAX);
	strcpy(json + 2 + SRCSCOPE_LEN_MAX, "\"]");
	ck_assert_int_eq(parse(json, packed, &err), 0);
	ck_assert_uint_eq(strlen(packed), SRCSCOPE_LEN_MAX);
	/* one more byte is refused */
	json[2 + SRCSCOPE_LEN_MAX] = 'a';
	strcpy(json + 3 + SRCSCOPE_LEN_MAX, "\"]");
	ck_assert_int_eq(parse(json, packed, &err), -1);
	ck_assert_str_eq(err.field, "sources[0]");
}
END_TEST

START_TEST(test_largest_fits)
{
	/* SRCSCOPE_MAX prefixes of SRCSCOPE_LEN_MAX bytes: the packed size */
	cJSON *arr = cJSON_CreateArray();
	char one[SRCSCOPE_LEN_MAX + 1], packed[SRCSCOPE_SIZE];
	struct herald_error err;
	cJSON *back;

	for (int i = 0; i < SRCSCOPE_MAX; i++) {
		memset(one, 'a' + i, SRCSCOPE_LEN_MAX);
		one[SRCSCOPE_LEN_MAX] = '\0';
		cJSON_AddItemToArray(arr, cJSON_CreateString(one));
	}
	ck_assert_int_eq(srcscope_parse(arr, packed, &err), 0);
	ck_assert_uint_eq(srcscope_size(packed), SRCSCOPE_SIZE);
	back = srcscope_json(packed);
	ck_assert(cJSON_Compare(arr, back, true));
	cJSON_Delete(back);
	cJSON_Delete(arr);
}
END_TEST

START_TEST(test_unlimited)
{
	cJSON *j = srcscope_json("");

	ck_assert(!srcscope_limited(""));
	ck_assert(srcscope_allows("", "/anything"));
	ck_assert_uint_eq(srcscope_size(""), 1);
	ck_assert(cJSON_IsNull(j));
	cJSON_Delete(j);
}
END_TEST

START_TEST(test_allows_any_prefix)
{
	char packed[SRCSCOPE_SIZE];
	struct herald_error err;

	ck_assert_int_eq(parse("[\"/teamA\",\"urn:b:\"]", packed, &err), 0);
	ck_assert_uint_eq(srcscope_size(packed), sizeof("/teamA") +
			  sizeof("urn:b:") + 1);
	ck_assert(srcscope_allows(packed, "/teamA/x"));
	ck_assert(srcscope_allows(packed, "urn:b:c"));
	ck_assert(!srcscope_allows(packed, "/teamAB"));
	ck_assert(!srcscope_allows(packed, "urn:bc"));
	ck_assert(!srcscope_allows(packed, "/herald"));
}
END_TEST

/* The ranges, compared byte-wise as the database's pattern operators do. */
struct ranges {
	char lo[64][SRCSCOPE_LEN_MAX + 2], hi[64][SRCSCOPE_LEN_MAX + 2];
	int n;
};

static void
collect(void *arg, const char *lo, const char *hi)
{
	struct ranges *r = arg;

	ck_assert_int_lt(r->n, 64);
	ck_assert_int_lt(strcmp(lo, hi), 0);
	strcpy(r->lo[r->n], lo);
	strcpy(r->hi[r->n], hi);
	r->n++;
}

static bool
in_ranges(const struct ranges *r, const char *s)
{
	for (int i = 0; i < r->n; i++)
		if (strcmp(s, r->lo[i]) >= 0 && strcmp(s, r->hi[i]) < 0)
			return true;
	return false;
}

START_TEST(test_ranges_are_exact)
{
	static const char *const sources[] = {
		"/teamA", "/teamA/", "/teamA/x", "/teamA:1", "/teamA?q", "/teamA#f",
		"/teamA\x01", "/teamAB", "/teamA-", "/teamA.", "/teamA0", "/teamA~",
		"/teamA\x7f", "/teamA\xc3\xa9", "/team", "/teamB", "/teamA$",
		"/teamA;", "/teamA@", "/teamA0x", "urn:b:", "urn:b:c", "urn:b",
		"urn:b;", "urn:c", "z~", "z~~", "z\x7f", "z", "", "~",
	};
	char packed[SRCSCOPE_SIZE];
	struct herald_error err;
	struct ranges r = {.n = 0};

	ck_assert_int_eq(parse("[\"/teamA\",\"urn:b:\",\"z~\"]", packed, &err), 0);
	srcscope_ranges(packed, collect, &r);
	/* an alphanumeric end: itself and four boundaries; else one range */
	ck_assert_int_eq(r.n, 5 + 1 + 1);
	for (int i = 0; i < NELEM(sources); i++)
		ck_assert_msg(in_ranges(&r, sources[i]) ==
			      srcscope_allows(packed, sources[i]),
			      "\"%s\": ranges %d, allows %d", sources[i],
			      in_ranges(&r, sources[i]),
			      srcscope_allows(packed, sources[i]));
}
END_TEST

START_TEST(test_no_ranges_unlimited)
{
	struct ranges r = {.n = 0};

	srcscope_ranges("", collect, &r);
	ck_assert_int_eq(r.n, 0);
}
END_TEST

static Suite *
srcscope_suite(void)
{
	Suite *s = suite_create("srcscope");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_covers, 0, NELEM(covers));
	tcase_add_loop_test(tc, test_parse, 0, NELEM(parses));
	tcase_add_test(tc, test_length_bound);
	tcase_add_test(tc, test_largest_fits);
	tcase_add_test(tc, test_unlimited);
	tcase_add_test(tc, test_allows_any_prefix);
	tcase_add_test(tc, test_ranges_are_exact);
	tcase_add_test(tc, test_no_ranges_unlimited);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(srcscope_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
