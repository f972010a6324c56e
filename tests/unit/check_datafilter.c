/* Unit tests for the "data" filter dialect (datafilter.c), its exact numbers (jsonexact.c) and its place in filters. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "cloudevent.h"
#include "datafilter.h"
#include "filter.h"
#include "jsonexact.h"
#include "subscription.h"

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* The events, by name in the tables: structured JSON texts. */
#define EV_HEAD "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\""

static const char *const ev_profile = EV_HEAD ","
	"\"data\":{\"customer\":{\"id\":\"c-42\",\"tier\":\"gold\","
	"\"name\":\"Ada Lovelace\"},\"changed\":[\"address\",\"email\"],"
	"\"total\":100,\"price\":12.50,\"big\":9007199254740993,"
	"\"huge\":123456789012345678901234567890,\"neg\":-3,\"zero\":0,"
	"\"tiny\":1e-400,\"large\":1e400,\"flag\":true,\"off\":false,"
	"\"none\":null,\"empty\":{},\"list\":[],"
	"\"nested\":[{\"a\":1},[1,2],\"x\"],"
	"\"a/b\":\"slash\",\"m~n\":\"tilde\",\"\":\"empty key\","
	"\"dup\":1,\"dup\":2,\"obj\":{\"x\":1,\"y\":[true,null]}}}";

static const struct {
	const char *name;
	const char *text;
} events[] = {
	{"profile", NULL}, /* ev_profile */
	{"nodata", EV_HEAD "}"},
	{"null", EV_HEAD ",\"data\":null}"},
	{"scalar", EV_HEAD ",\"data\":42}"},
	{"string", EV_HEAD ",\"data\":\"hello world\"}"},
	{"text", EV_HEAD ",\"datacontenttype\":\"text/plain\","
		 "\"data\":\"{\\\"total\\\":100}\"}"},
	{"xml", EV_HEAD ",\"datacontenttype\":\"application/xml\","
		"\"data\":{\"total\":100}}"},
	{"json", EV_HEAD ",\"datacontenttype\":\"application/json\","
		 "\"data\":{\"total\":100}}"},
	{"plusjson", EV_HEAD ",\"datacontenttype\":"
		     "\"application/vnd.x+json; charset=utf-8\","
		     "\"data\":{\"total\":100}}"},
	{"base64", EV_HEAD ",\"data_base64\":\"eyJ0b3RhbCI6MTAwfQ==\"}"},
	{"loose", EV_HEAD ",\"data\":{\"n\":007,\"f\":1.}}"},
};

static void
load_event(const char *name, struct cloudevent *ev)
{
	struct herald_error err;

	for (int i = 0; i < NELEM(events); i++) {
		const char *t = events[i].text ? events[i].text : ev_profile;

		if (strcmp(events[i].name, name) == 0) {
			ck_assert_msg(ce_parse_structured(t, strlen(t), ev, &err) == 0,
				      "event %s: %s", name, err.message);
			return;
		}
	}
	ck_abort_msg("no event %s", name);
}

/* Compile a filters array given as text, its numbers kept exactly. */
static int
compile(const char *text, struct filter **f, struct herald_error *err)
{
	cJSON *j = jsonexact_parse(text, strlen(text));
	int rc;

	ck_assert_msg(j != NULL, "not JSON: %s", text);
	rc = filter_compile(j, f, err);
	cJSON_Delete(j);
	return rc;
}

static const struct {
	const char *filters;
	const char *event;
	bool match;
} match_cases[] = {
	/* the README's example: the changed-fields case */
	{"[{\"data\":{\"/changed\":{\"contains\":\"address\"}}}]", "profile", true},
	{"[{\"data\":{\"/changed\":{\"contains\":\"phone\"}}}]", "profile", false},
	{"[{\"data\":{\"/customer/tier\":{\"in\":[\"gold\",\"platinum\"]},"
	 "\"/total\":{\"gte\":100}}}]", "profile", true},
	{"[{\"data\":{\"/customer/tier\":{\"in\":[\"gold\",\"platinum\"]},"
	 "\"/total\":{\"gt\":100}}}]", "profile", false},
	/* eq / ne on every type */
	{"[{\"data\":{\"/customer/id\":{\"eq\":\"c-42\"}}}]", "profile", true},
	{"[{\"data\":{\"/customer/id\":{\"eq\":\"C-42\"}}}]", "profile", false},
	{"[{\"data\":{\"/customer/id\":{\"ne\":\"c-43\"}}}]", "profile", true},
	{"[{\"data\":{\"/customer/id\":{\"ne\":\"c-42\"}}}]", "profile", false},
	{"[{\"data\":{\"/missing\":{\"ne\":\"c-42\"}}}]", "profile", false},
	{"[{\"data\":{\"/flag\":{\"eq\":true}}}]", "profile", true},
	{"[{\"data\":{\"/flag\":{\"eq\":\"true\"}}}]", "profile", false},
	{"[{\"data\":{\"/off\":{\"eq\":false}}}]", "profile", true},
	{"[{\"data\":{\"/off\":{\"eq\":null}}}]", "profile", false},
	{"[{\"data\":{\"/none\":{\"eq\":null}}}]", "profile", true},
	{"[{\"data\":{\"/none\":{\"exists\":true}}}]", "profile", true},
	{"[{\"data\":{\"/total\":{\"eq\":100}}}]", "profile", true},
	{"[{\"data\":{\"/total\":{\"eq\":100.0}}}]", "profile", true},
	{"[{\"data\":{\"/total\":{\"eq\":1e2}}}]", "profile", true},
	{"[{\"data\":{\"/total\":{\"eq\":\"100\"}}}]", "profile", false},
	{"[{\"data\":{\"/price\":{\"eq\":12.5}}}]", "profile", true},
	{"[{\"data\":{\"/zero\":{\"eq\":-0}}}]", "profile", true},
	{"[{\"data\":{\"/big\":{\"eq\":9007199254740993}}}]", "profile", true},
	{"[{\"data\":{\"/big\":{\"eq\":9007199254740992}}}]", "profile", false},
	{"[{\"data\":{\"/big\":{\"ne\":9007199254740992}}}]", "profile", true},
	{"[{\"data\":{\"/changed\":{\"eq\":[\"address\",\"email\"]}}}]", "profile", true},
	{"[{\"data\":{\"/changed\":{\"eq\":[\"email\",\"address\"]}}}]", "profile", false},
	{"[{\"data\":{\"/changed\":{\"eq\":[\"address\"]}}}]", "profile", false},
	{"[{\"data\":{\"/obj\":{\"eq\":{\"y\":[true,null],\"x\":1.0}}}}]", "profile", true},
	{"[{\"data\":{\"/obj\":{\"eq\":{\"y\":[true,null]}}}}]", "profile", false},
	{"[{\"data\":{\"/obj\":{\"eq\":{\"y\":[true,null],\"x\":1,\"z\":0}}}}]", "profile", false},
	{"[{\"data\":{\"/obj\":{\"eq\":{\"y\":[true,false],\"x\":1}}}}]", "profile", false},
	{"[{\"data\":{\"/empty\":{\"eq\":{}}}}]", "profile", true},
	{"[{\"data\":{\"/list\":{\"eq\":[]}}}]", "profile", true},
	{"[{\"data\":{\"/list\":{\"eq\":{}}}}]", "profile", false},
	/* in */
	{"[{\"data\":{\"/total\":{\"in\":[1,\"100\",1e2]}}}]", "profile", true},
	{"[{\"data\":{\"/total\":{\"in\":[1,\"100\"]}}}]", "profile", false},
	{"[{\"data\":{\"/none\":{\"in\":[null]}}}]", "profile", true},
	/* contains: arrays by equality, strings by substring */
	{"[{\"data\":{\"/changed\":{\"contains\":\"addr\"}}}]", "profile", false},
	{"[{\"data\":{\"/customer/name\":{\"contains\":\"Love\"}}}]", "profile", true},
	{"[{\"data\":{\"/customer/name\":{\"contains\":\"love\"}}}]", "profile", false},
	{"[{\"data\":{\"/customer/name\":{\"contains\":\"\"}}}]", "profile", true},
	{"[{\"data\":{\"/nested\":{\"contains\":{\"a\":1e0}}}}]", "profile", true},
	{"[{\"data\":{\"/nested\":{\"contains\":[1,2]}}}]", "profile", true},
	{"[{\"data\":{\"/nested\":{\"contains\":[2,1]}}}]", "profile", false},
	{"[{\"data\":{\"/nested\":{\"contains\":\"x\"}}}]", "profile", true},
	{"[{\"data\":{\"/total\":{\"contains\":1}}}]", "profile", false},
	{"[{\"data\":{\"/customer\":{\"contains\":\"gold\"}}}]", "profile", false},
	{"[{\"data\":{\"/customer/name\":{\"contains\":1}}}]", "profile", false},
	/* prefix, suffix */
	{"[{\"data\":{\"/customer/id\":{\"prefix\":\"c-\"}}}]", "profile", true},
	{"[{\"data\":{\"/customer/id\":{\"prefix\":\"c-42-\"}}}]", "profile", false},
	{"[{\"data\":{\"/customer/id\":{\"suffix\":\"42\"}}}]", "profile", true},
	{"[{\"data\":{\"/customer/id\":{\"suffix\":\"c-42x\"}}}]", "profile", false},
	{"[{\"data\":{\"/total\":{\"prefix\":\"1\"}}}]", "profile", false},
	/* exists */
	{"[{\"data\":{\"/customer/tier\":{\"exists\":true}}}]", "profile", true},
	{"[{\"data\":{\"/customer/tier\":{\"exists\":false}}}]", "profile", false},
	{"[{\"data\":{\"/customer/phone\":{\"exists\":false}}}]", "profile", true},
	{"[{\"data\":{\"/customer/phone\":{\"exists\":true}}}]", "profile", false},
	{"[{\"data\":{\"/total/x\":{\"exists\":false}}}]", "profile", true},
	/* numbers, exactly */
	{"[{\"data\":{\"/total\":{\"gt\":99.99999999999999999999}}}]", "profile", true},
	{"[{\"data\":{\"/total\":{\"gte\":100.00000000000000000001}}}]", "profile", false},
	{"[{\"data\":{\"/total\":{\"lte\":100}}}]", "profile", true},
	{"[{\"data\":{\"/total\":{\"lt\":100}}}]", "profile", false},
	{"[{\"data\":{\"/total\":{\"gt\":99,\"lt\":101}}}]", "profile", true},
	{"[{\"data\":{\"/total\":{\"gt\":99,\"lt\":100}}}]", "profile", false},
	{"[{\"data\":{\"/big\":{\"gt\":9007199254740992}}}]", "profile", true},
	{"[{\"data\":{\"/big\":{\"gt\":9007199254740993}}}]", "profile", false},
	{"[{\"data\":{\"/big\":{\"gte\":9007199254740993}}}]", "profile", true},
	{"[{\"data\":{\"/big\":{\"lt\":9007199254740994}}}]", "profile", true},
	{"[{\"data\":{\"/huge\":{\"gt\":123456789012345678901234567889}}}]", "profile", true},
	{"[{\"data\":{\"/huge\":{\"lt\":123456789012345678901234567891}}}]", "profile", true},
	{"[{\"data\":{\"/huge\":{\"eq\":1.2345678901234567890123456789e29}}}]", "profile", true},
	{"[{\"data\":{\"/huge\":{\"gt\":1.23456789012345678901234567891e29}}}]", "profile", false},
	{"[{\"data\":{\"/price\":{\"gt\":12.49}}}]", "profile", true},
	{"[{\"data\":{\"/price\":{\"lt\":12.5}}}]", "profile", false},
	{"[{\"data\":{\"/price\":{\"lte\":1.25e1}}}]", "profile", true},
	{"[{\"data\":{\"/neg\":{\"lt\":-2.9}}}]", "profile", true},
	{"[{\"data\":{\"/neg\":{\"gt\":-3}}}]", "profile", false},
	{"[{\"data\":{\"/tiny\":{\"gt\":0}}}]", "profile", true},
	{"[{\"data\":{\"/tiny\":{\"lt\":1e-399}}}]", "profile", true},
	{"[{\"data\":{\"/large\":{\"gt\":1e399}}}]", "profile", true},
	{"[{\"data\":{\"/large\":{\"eq\":10e399}}}]", "profile", true},
	{"[{\"data\":{\"/customer/id\":{\"gt\":0}}}]", "profile", false},
	{"[{\"data\":{\"/flag\":{\"gt\":0}}}]", "profile", false},
	{"[{\"data\":{\"/missing\":{\"lt\":0}}}]", "profile", false},
	{"[{\"data\":{\"/n\":{\"eq\":7},\"/f\":{\"eq\":1}}}]", "loose", true},
	/* pointers: escapes, indices, the empty pointer */
	{"[{\"data\":{\"/a~1b\":{\"eq\":\"slash\"}}}]", "profile", true},
	{"[{\"data\":{\"/m~0n\":{\"eq\":\"tilde\"}}}]", "profile", true},
	{"[{\"data\":{\"/\":{\"eq\":\"empty key\"}}}]", "profile", true},
	{"[{\"data\":{\"/changed/0\":{\"eq\":\"address\"}}}]", "profile", true},
	{"[{\"data\":{\"/changed/1\":{\"eq\":\"email\"}}}]", "profile", true},
	{"[{\"data\":{\"/changed/2\":{\"exists\":false}}}]", "profile", true},
	{"[{\"data\":{\"/changed/01\":{\"exists\":false}}}]", "profile", true},
	{"[{\"data\":{\"/changed/-\":{\"exists\":false}}}]", "profile", true},
	{"[{\"data\":{\"/changed/x\":{\"exists\":false}}}]", "profile", true},
	{"[{\"data\":{\"/nested/0/a\":{\"eq\":1}}}]", "profile", true},
	{"[{\"data\":{\"/nested/1/1\":{\"eq\":2}}}]", "profile", true},
	{"[{\"data\":{\"/nested/99999999999999999999999\":{\"exists\":false}}}]", "profile", true},
	{"[{\"data\":{\"/dup\":{\"eq\":1}}}]", "profile", true},
	{"[{\"data\":{\"\":{\"eq\":42}}}]", "scalar", true},
	{"[{\"data\":{\"\":{\"gte\":42,\"lte\":42}}}]", "scalar", true},
	{"[{\"data\":{\"\":{\"contains\":\"lo w\"}}}]", "string", true},
	{"[{\"data\":{\"\":{\"eq\":null}}}]", "null", true},
	{"[{\"data\":{\"\":{\"exists\":true}}}]", "null", true},
	{"[{\"data\":{\"/x\":{\"exists\":false}}}]", "null", true},
	/* no JSON data: nothing resolves, only exists: false holds */
	{"[{\"data\":{\"\":{\"exists\":true}}}]", "nodata", false},
	{"[{\"data\":{\"\":{\"exists\":false}}}]", "nodata", true},
	{"[{\"data\":{\"/total\":{\"exists\":false}}}]", "nodata", true},
	{"[{\"data\":{\"/total\":{\"ne\":1}}}]", "nodata", false},
	{"[{\"data\":{\"/total\":{\"eq\":100}}}]", "text", false},
	{"[{\"data\":{\"\":{\"exists\":false}}}]", "text", true},
	{"[{\"data\":{\"/total\":{\"eq\":100}}}]", "xml", false},
	{"[{\"data\":{\"/total\":{\"eq\":100}}}]", "base64", false},
	{"[{\"data\":{\"/total\":{\"eq\":100}}}]", "json", true},
	{"[{\"data\":{\"/total\":{\"eq\":100}}}]", "plusjson", true},
	/* composed with the other dialects */
	{"[{\"not\":{\"data\":{\"/customer/tier\":{\"eq\":\"gold\"}}}}]", "profile", false},
	{"[{\"not\":{\"data\":{\"/customer/tier\":{\"eq\":\"gold\"}}}}]", "nodata", true},
	{"[{\"any\":[{\"data\":{\"/total\":{\"lt\":0}}},{\"exact\":{\"type\":\"t\"}}]}]", "profile", true},
	{"[{\"all\":[{\"data\":{\"/total\":{\"lt\":0}}},{\"exact\":{\"type\":\"t\"}}]}]", "profile", false},
	{"[{\"exact\":{\"type\":\"t\"}},{\"data\":{\"/changed\":{\"contains\":\"email\"}}}]", "profile", true},
	{"[{\"exact\":{\"type\":\"u\"}},{\"data\":{\"/changed\":{\"contains\":\"email\"}}}]", "profile", false},
};

START_TEST(test_match)
{
	struct herald_error err;
	struct cloudevent ev;
	struct filter *f;

	load_event(match_cases[_i].event, &ev);
	ck_assert_msg(compile(match_cases[_i].filters, &f, &err) == 0,
		      "%s: %s: %s", match_cases[_i].filters, err.field,
		      err.message);
	ck_assert_msg(filter_match(f, &ev, NULL) == match_cases[_i].match,
		      "%s on %s: not %d", match_cases[_i].filters,
		      match_cases[_i].event, match_cases[_i].match);
	filter_free(f);
	ce_free(&ev);
}
END_TEST

/* Refused at create time: 400 invalid_filter naming the offending path. */
static const struct {
	const char *filters;
	const char *field;
} invalid_cases[] = {
	{"[{\"data\":{}}]", "filters[0].data"},
	{"[{\"data\":[]}]", "filters[0].data"},
	{"[{\"data\":\"/x\"}]", "filters[0].data"},
	{"[{\"data\":null}]", "filters[0].data"},
	{"[{\"data\":{\"x\":{\"eq\":1}}}]", "filters[0].data.x"},
	{"[{\"data\":{\"/a~2b\":{\"eq\":1}}}]", "filters[0].data./a~2b"},
	{"[{\"data\":{\"/a~\":{\"eq\":1}}}]", "filters[0].data./a~"},
	{"[{\"data\":{\"/x\":{}}}]", "filters[0].data./x"},
	{"[{\"data\":{\"/x\":1}}]", "filters[0].data./x"},
	{"[{\"data\":{\"/x\":{\"equals\":1}}}]", "filters[0].data./x.equals"},
	{"[{\"data\":{\"/x\":{\"eq\":1,\"GT\":1}}}]", "filters[0].data./x.GT"},
	{"[{\"data\":{\"/customer/tier\":{\"in\":\"gold\"}}}]",
	 "filters[0].data./customer/tier.in"},
	{"[{\"data\":{\"/x\":{\"in\":[]}}}]", "filters[0].data./x.in"},
	{"[{\"data\":{\"/x\":{\"prefix\":1}}}]", "filters[0].data./x.prefix"},
	{"[{\"data\":{\"/x\":{\"prefix\":\"\"}}}]", "filters[0].data./x.prefix"},
	{"[{\"data\":{\"/x\":{\"suffix\":[\"a\"]}}}]", "filters[0].data./x.suffix"},
	{"[{\"data\":{\"/x\":{\"exists\":\"true\"}}}]", "filters[0].data./x.exists"},
	{"[{\"data\":{\"/x\":{\"exists\":1}}}]", "filters[0].data./x.exists"},
	{"[{\"data\":{\"/x\":{\"gt\":\"5\"}}}]", "filters[0].data./x.gt"},
	{"[{\"data\":{\"/x\":{\"gte\":null}}}]", "filters[0].data./x.gte"},
	{"[{\"data\":{\"/x\":{\"lt\":[1]}}}]", "filters[0].data./x.lt"},
	{"[{\"data\":{\"/x\":{\"lte\":true}}}]", "filters[0].data./x.lte"},
	{"[{\"data\":{\"/x\":{\"gt\":1e1001}}}]", "filters[0].data./x.gt"},
	{"[{\"data\":{\"/x\":{\"eq\":[1,1e-1001]}}}]", "filters[0].data./x.eq"},
	{"[{\"data\":{\"/x\":{\"gt\":01}}}]", "filters[0].data./x.gt"},
	{"[{\"data\":{\"/x\":{\"eq\":1.}}}]", "filters[0].data./x.eq"},
	{"[{\"data\":{\"/x\":{\"lte\":1,\"gt\":0,\"lte\":2}}}]", "filters[0].data./x.lte"},
	{"[{\"data\":{\"/x\":{\"eq\":1},\"/y\":{\"eq\":1},\"/x\":{\"eq\":2}}}]", "filters[0].data./x"},
	{"[{\"exact\":{\"type\":\"t\"}},{\"all\":[{\"data\":{\"/ok\":{\"eq\":1}}},"
	 "{\"not\":{\"data\":{\"/x\":{\"eq\":1,\"bad\":2}}}}]}]",
	 "filters[1].all[1].not.data./x.bad"},
};

START_TEST(test_invalid)
{
	struct herald_error err;
	struct filter *f = (struct filter *)1;

	memset(&err, 0, sizeof(err));
	ck_assert_msg(compile(invalid_cases[_i].filters, &f, &err) == -1,
		      "%s compiled", invalid_cases[_i].filters);
	ck_assert_ptr_null(f);
	ck_assert_str_eq(err.code, "invalid_filter");
	ck_assert_str_eq(err.field, invalid_cases[_i].field);
	ck_assert_msg(err.message[0] != '\0', "no message");
}
END_TEST

/* The data is parsed only when a data filter needs it, then only once,
 * however many filters share the view. */
START_TEST(test_view_lazy)
{
	struct herald_error err;
	struct datafilter_view v;
	struct cloudevent ev;
	struct filter *attr, *d1, *d2;
	const cJSON *root;

	load_event("profile", &ev);
	ck_assert_int_eq(compile("[{\"exact\":{\"type\":\"t\"}}]", &attr, &err), 0);
	ck_assert_int_eq(compile("[{\"data\":{\"/total\":{\"eq\":100}}}]", &d1, &err), 0);
	ck_assert_int_eq(compile("[{\"any\":[{\"exact\":{\"type\":\"x\"}},"
				 "{\"data\":{\"/big\":{\"gt\":1}}}]}]", &d2, &err), 0);
	ck_assert(!filter_needs_data(attr));
	ck_assert(filter_needs_data(d1));
	ck_assert(filter_needs_data(d2));
	ck_assert(!filter_needs_data(NULL));

	datafilter_view_init(&v, &ev);
	ck_assert(filter_match(attr, &ev, &v));
	ck_assert(filter_match(NULL, &ev, &v));
	ck_assert(!v.parsed); /* nobody asked */
	ck_assert(filter_match(d1, &ev, &v));
	ck_assert(v.parsed);
	root = v.root;
	ck_assert_ptr_nonnull(root);
	ck_assert(filter_match(d2, &ev, &v));
	ck_assert(filter_match(d1, &ev, &v));
	ck_assert_ptr_eq(v.root, root); /* not parsed again */
	datafilter_view_free(&v);
	ck_assert_ptr_null(v.root);

	filter_free(attr);
	filter_free(d1);
	filter_free(d2);
	ce_free(&ev);
}
END_TEST

/* An event without JSON data is looked at once and never parsed. */
START_TEST(test_view_not_json)
{
	const char *names[] = {"nodata", "text", "xml", "base64"};

	for (int i = 0; i < NELEM(names); i++) {
		struct datafilter_view v;
		struct cloudevent ev;

		load_event(names[i], &ev);
		datafilter_view_init(&v, &ev);
		ck_assert_ptr_null(datafilter_view_data(&v));
		ck_assert(v.parsed);
		ck_assert_ptr_null(datafilter_view_data(&v));
		datafilter_view_free(&v);
		ce_free(&ev);
	}
}
END_TEST

/* Numbers keep their text through parse, duplicate and print. */
START_TEST(test_jsonexact)
{
	const char *in = "{\"a\":[9007199254740993, 1.10, -0, 1e400, 0.5E-3],"
			 " \"s\":\"12 \\\" 34\", \"n\":{\"b\":18446744073709551617}}";
	cJSON *j = jsonexact_parse(in, strlen(in)), *dup;
	char *out, buf[32];

	ck_assert_ptr_nonnull(j);
	ck_assert_str_eq(jsonexact_number(cJSON_GetArrayItem(
					  cJSON_GetObjectItem(j, "a"), 0),
					  buf, sizeof(buf)), "9007199254740993");
	ck_assert_str_eq(jsonexact_number(cJSON_GetObjectItem(
					  cJSON_GetObjectItem(j, "n"), "b"),
					  buf, sizeof(buf)), "18446744073709551617");
	ck_assert_ptr_null(jsonexact_number(cJSON_GetObjectItem(j, "s"), buf,
					    sizeof(buf)));
	dup = cJSON_Duplicate(j, true);
	jsonexact_keep(dup);
	out = cJSON_PrintUnformatted(dup);
	ck_assert_str_eq(out, "{\"a\":[9007199254740993,1.10,-0,1e400,0.5E-3],"
			      "\"s\":\"12 \\\" 34\",\"n\":{\"b\":18446744073709551617}}");
	free(out);
	cJSON_Delete(dup);
	cJSON_Delete(j);

	/* numbers made in code print with 17 digits */
	j = cJSON_CreateNumber(0.1);
	ck_assert_str_eq(jsonexact_number(j, buf, sizeof(buf)),
			 "0.10000000000000001");
	cJSON_Delete(j);
	ck_assert_ptr_null(jsonexact_parse("", 0));
	ck_assert_ptr_null(jsonexact_parse("[1,", 3));
}
END_TEST

/* A subscription keeps its data filter's numbers exactly when stored. */
START_TEST(test_stored_exactly)
{
	const char *body = "{\"sink\":\"https://sink.example/hook\",\"filters\":"
			   "[{\"data\":{\"/big\":{\"gt\":9007199254740992,"
			   "\"lt\":9007199254740993.5}}}]}";
	struct subscription sub, again;
	struct herald_error err;
	struct cloudevent ev;
	cJSON *j = jsonexact_parse(body, strlen(body)), *stored, *reread;
	char *text;

	ck_assert_int_eq(sub_parse(j, &sub, &err), 0);
	stored = sub_to_json(&sub, true);
	text = cJSON_PrintUnformatted(stored);
	ck_assert_msg(strstr(text, "\"gt\":9007199254740992,"
			     "\"lt\":9007199254740993.5") != NULL, "%s", text);
	/* what the cache reads back from the database */
	reread = jsonexact_parse(text, strlen(text));
	ck_assert_int_eq(sub_parse(reread, &again, &err), 0);
	load_event("profile", &ev);
	ck_assert(sub_matches(&sub, &ev, NULL));
	ck_assert(sub_matches(&again, &ev, NULL));
	/* and what a round trip through the stored form keeps */
	ce_free(&ev);
	free(text);
	cJSON_Delete(reread);
	cJSON_Delete(stored);
	cJSON_Delete(j);
	sub_free(&again);
	sub_free(&sub);
}
END_TEST

static Suite *
datafilter_suite(void)
{
	Suite *s = suite_create("datafilter");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_match, 0, NELEM(match_cases));
	tcase_add_loop_test(tc, test_invalid, 0, NELEM(invalid_cases));
	tcase_add_test(tc, test_view_lazy);
	tcase_add_test(tc, test_view_not_json);
	tcase_add_test(tc, test_jsonexact);
	tcase_add_test(tc, test_stored_exactly);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(datafilter_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
