/* Unit tests: CloudEvents parsing, validation, encodings and rendering. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloudevent.h"

#define MIN_ATTRS \
	"\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/src\",\"type\":\"t\""

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- structured mode ---- */

struct structured_case {
	const char *name;
	const char *body;
	const char *code;          /* NULL: must be accepted */
	const char *field;         /* expected err.field when refused */
	enum ce_data_kind kind;    /* when accepted */
	const char *data;          /* expected data bytes when accepted, or NULL */
};

static const struct structured_case structured_cases[] = {
	{"minimal", "{" MIN_ATTRS "}", NULL, NULL, CE_DATA_NONE, NULL},
	{"all core", "{" MIN_ATTRS ",\"subject\":\"s\",\"datacontenttype\":"
	 "\"text/plain\",\"dataschema\":\"https://x.example/s\","
	 "\"time\":\"2018-04-05T17:31:00Z\"}", NULL, NULL, CE_DATA_NONE, NULL},
	{"null optional", "{" MIN_ATTRS ",\"subject\":null,\"time\":null,"
	 "\"dataschema\":null,\"datacontenttype\":null,\"ext\":null}",
	 NULL, NULL, CE_DATA_NONE, NULL},
	{"extensions", "{" MIN_ATTRS ",\"extint\":-2147483648,\"extmax\":"
	 "2147483647,\"extbool\":false,\"extstr\":\"\",\"partitionkey\":\"k\"}",
	 NULL, NULL, CE_DATA_NONE, NULL},
	{"relative source", "{\"specversion\":\"1.0\",\"id\":\"1\","
	 "\"source\":\"#frag\",\"type\":\"t\"}", NULL, NULL, CE_DATA_NONE, NULL},
	{"data object no type", "{" MIN_ATTRS ",\"data\":{\"a\": [1, true]}}",
	 NULL, NULL, CE_DATA_JSON, "{\"a\": [1, true]}"},
	{"data kept byte for byte", "{" MIN_ATTRS ",\"data\" : {\"id\":9007199254740993,"
	 "\"x\":0.30000000000000004, \"s\":\"a\\\"}\"} }",
	 NULL, NULL, CE_DATA_JSON,
	 "{\"id\":9007199254740993,\"x\":0.30000000000000004, \"s\":\"a\\\"}\"}"},
	{"data found by an escaped name", "{" MIN_ATTRS ",\"d\\u0061ta\":1e400}",
	 NULL, NULL, CE_DATA_JSON, "1e400"},
	{"data after a string holding its name", "{\"subject\":\"\\\"data\\\":[1]\","
	 MIN_ATTRS ",\"data\":12345678901234567890}", NULL, NULL, CE_DATA_JSON,
	 "12345678901234567890"},
	{"data after strings ending in escaped backslashes",
	 "{\"subject\":\"x\\\\\"," MIN_ATTRS ",\"data\":[ \"\\\\\", \"q\\\\\\\"\", 1.10 ]}",
	 NULL, NULL, CE_DATA_JSON, "[ \"\\\\\", \"q\\\\\\\"\", 1.10 ]"},
	{"data string no type", "{" MIN_ATTRS ",\"data\":\"hi\"}",
	 NULL, NULL, CE_DATA_JSON, "\"hi\""},
	{"data string json type", "{" MIN_ATTRS ",\"datacontenttype\":"
	 "\"application/json\",\"data\":\"hi\"}", NULL, NULL, CE_DATA_JSON,
	 "\"hi\""},
	{"data string +json type", "{" MIN_ATTRS ",\"datacontenttype\":"
	 "\"Application/Vnd.X+JSON; charset=utf-8\",\"data\":\"hi\"}",
	 NULL, NULL, CE_DATA_JSON, "\"hi\""},
	{"data string text/json", "{" MIN_ATTRS ",\"datacontenttype\":"
	 "\"text/json\",\"data\":\"hi\"}", NULL, NULL, CE_DATA_JSON, "\"hi\""},
	{"data text", "{" MIN_ATTRS ",\"datacontenttype\":\"text/plain; "
	 "charset=\\\"utf-8\\\"\",\"data\":\"caf\\u00e9\"}", NULL, NULL,
	 CE_DATA_TEXT, "caf\xc3\xa9"},
	{"data xml text", "{" MIN_ATTRS ",\"datacontenttype\":"
	 "\"application/xml\",\"data\":\"<a/>\"}", NULL, NULL, CE_DATA_TEXT,
	 "<a/>"},
	{"data null is a value", "{" MIN_ATTRS ",\"data\":null}", NULL, NULL,
	 CE_DATA_JSON, "null"},
	{"data number", "{" MIN_ATTRS ",\"data\":42}", NULL, NULL,
	 CE_DATA_JSON, "42"},
	{"data_base64", "{" MIN_ATTRS ",\"data_base64\":\"YWJj\"}", NULL,
	 NULL, CE_DATA_BINARY, "abc"},
	{"data_base64 null", "{" MIN_ATTRS ",\"data_base64\":null,"
	 "\"data\":1}", NULL, NULL, CE_DATA_JSON, "1"},
	{"data_base64 empty", "{" MIN_ATTRS ",\"data_base64\":\"\"}", NULL,
	 NULL, CE_DATA_BINARY, ""},
	{"nesting 64", "{" MIN_ATTRS ",\"data\":"
	 "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
	 "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
	 NULL, NULL, CE_DATA_JSON, NULL},
	{"trailing whitespace", "{" MIN_ATTRS "}\r\n ", NULL, NULL,
	 CE_DATA_NONE, NULL},

	{"empty body", "", "invalid_json", "", 0, NULL},
	{"not json", "{" MIN_ATTRS, "invalid_json", "", 0, NULL},
	{"trailing garbage", "{" MIN_ATTRS "} x", "invalid_json", "", 0, NULL},
	{"array", "[]", "invalid_json", "", 0, NULL},
	{"string", "\"x\"", "invalid_json", "", 0, NULL},
	{"nesting 65", "{" MIN_ATTRS ",\"data\":"
	 "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
	 "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
	 "invalid_json", "", 0, NULL},
	{"invalid utf-8 body", "{" MIN_ATTRS ",\"subject\":\"\xc3\x28\"}",
	 "invalid_json", "", 0, NULL},
	{"raw control in string", "{" MIN_ATTRS ",\"subject\":\"a\tb\"}",
	 "invalid_json", "", 0, NULL},
	{"nul escape", "{" MIN_ATTRS ",\"subject\":\"a\\u0000b\"}",
	 "invalid_json", "", 0, NULL},
	{"no specversion", "{\"id\":\"1\",\"source\":\"/s\",\"type\":\"t\"}",
	 "missing_attribute", "specversion", 0, NULL},
	{"null specversion", "{\"specversion\":null,\"id\":\"1\","
	 "\"source\":\"/s\",\"type\":\"t\"}", "missing_attribute",
	 "specversion", 0, NULL},
	{"no id", "{\"specversion\":\"1.0\",\"source\":\"/s\",\"type\":\"t\"}",
	 "missing_attribute", "id", 0, NULL},
	{"null id", "{\"specversion\":\"1.0\",\"id\":null,\"source\":\"/s\","
	 "\"type\":\"t\"}", "missing_attribute", "id", 0, NULL},
	{"no source", "{\"specversion\":\"1.0\",\"id\":\"1\",\"type\":\"t\"}",
	 "missing_attribute", "source", 0, NULL},
	{"no type", "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\"}",
	 "missing_attribute", "type", 0, NULL},
	{"specversion 0.3", "{\"specversion\":\"0.3\",\"id\":\"1\","
	 "\"source\":\"/s\",\"type\":\"t\"}", "unsupported_specversion",
	 "specversion", 0, NULL},
	{"specversion empty", "{\"specversion\":\"\",\"id\":\"1\","
	 "\"source\":\"/s\",\"type\":\"t\"}", "unsupported_specversion",
	 "specversion", 0, NULL},
	{"specversion number", "{\"specversion\":1.0,\"id\":\"1\","
	 "\"source\":\"/s\",\"type\":\"t\"}", "invalid_attribute",
	 "specversion", 0, NULL},
	{"empty id", "{\"specversion\":\"1.0\",\"id\":\"\",\"source\":\"/s\","
	 "\"type\":\"t\"}", "invalid_attribute", "id", 0, NULL},
	{"numeric id", "{\"specversion\":\"1.0\",\"id\":25,\"source\":\"/s\","
	 "\"type\":\"t\"}", "invalid_attribute", "id", 0, NULL},
	{"object id", "{\"specversion\":\"1.0\",\"id\":{},\"source\":\"/s\","
	 "\"type\":\"t\"}", "invalid_attribute", "id", 0, NULL},
	{"empty type", "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\","
	 "\"type\":\"\"}", "invalid_attribute", "type", 0, NULL},
	{"bool type", "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\","
	 "\"type\":true}", "invalid_attribute", "type", 0, NULL},
	{"empty source", "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"\","
	 "\"type\":\"t\"}", "invalid_attribute", "source", 0, NULL},
	{"source with space", "{\"specversion\":\"1.0\",\"id\":\"1\","
	 "\"source\":\"/a b\",\"type\":\"t\"}", "invalid_attribute", "source",
	 0, NULL},
	{"empty subject", "{" MIN_ATTRS ",\"subject\":\"\"}",
	 "invalid_attribute", "subject", 0, NULL},
	{"subject with escaped control", "{" MIN_ATTRS
	 ",\"subject\":\"a\\u0001\"}", "invalid_attribute", "subject", 0, NULL},
	{"subject with DEL", "{" MIN_ATTRS ",\"subject\":\"a\\u007f\"}",
	 "invalid_attribute", "subject", 0, NULL},
	{"subject with C1 control", "{" MIN_ATTRS ",\"subject\":\"a\\u0085\"}",
	 "invalid_attribute", "subject", 0, NULL},
	{"extension with noncharacter", "{" MIN_ATTRS ",\"ext\":\"\\uffff\"}",
	 "invalid_attribute", "ext", 0, NULL},
	{"datacontenttype xyz", "{" MIN_ATTRS ",\"datacontenttype\":\"xyz\"}",
	 "invalid_attribute", "datacontenttype", 0, NULL},
	{"datacontenttype empty", "{" MIN_ATTRS ",\"datacontenttype\":\"\"}",
	 "invalid_attribute", "datacontenttype", 0, NULL},
	{"datacontenttype no subtype", "{" MIN_ATTRS
	 ",\"datacontenttype\":\"text/\"}", "invalid_attribute",
	 "datacontenttype", 0, NULL},
	{"datacontenttype bad param", "{" MIN_ATTRS
	 ",\"datacontenttype\":\"text/plain; charset\"}", "invalid_attribute",
	 "datacontenttype", 0, NULL},
	{"datacontenttype number", "{" MIN_ATTRS ",\"datacontenttype\":5}",
	 "invalid_attribute", "datacontenttype", 0, NULL},
	{"dataschema empty", "{" MIN_ATTRS ",\"dataschema\":\"\"}",
	 "invalid_attribute", "dataschema", 0, NULL},
	{"dataschema relative", "{" MIN_ATTRS ",\"dataschema\":\"/s.json\"}",
	 "invalid_attribute", "dataschema", 0, NULL},
	{"dataschema bad scheme", "{" MIN_ATTRS ",\"dataschema\":\"1x:y\"}",
	 "invalid_attribute", "dataschema", 0, NULL},
	{"time garbage", "{" MIN_ATTRS ",\"time\":\"lunchtime\"}",
	 "invalid_attribute", "time", 0, NULL},
	{"partitionkey number", "{" MIN_ATTRS ",\"partitionkey\":5}",
	 "invalid_attribute", "partitionkey", 0, NULL},
	{"capitalized name", "{" MIN_ATTRS ",\"MyExt\":\"x\"}",
	 "invalid_attribute_name", "MyExt", 0, NULL},
	{"dotted name", "{" MIN_ATTRS ",\"my.ext\":1.5}",
	 "invalid_attribute_name", "my.ext", 0, NULL},
	{"underscore name", "{" MIN_ATTRS ",\"my_ext\":\"x\"}",
	 "invalid_attribute_name", "my_ext", 0, NULL},
	{"empty name", "{" MIN_ATTRS ",\"\":\"x\"}",
	 "invalid_attribute_name", "", 0, NULL},
	{"non-integer extension", "{" MIN_ATTRS ",\"ext\":1.5}",
	 "invalid_attribute", "ext", 0, NULL},
	{"extension above int32", "{" MIN_ATTRS ",\"ext\":2147483648}",
	 "invalid_attribute", "ext", 0, NULL},
	{"extension below int32", "{" MIN_ATTRS ",\"ext\":-2147483649}",
	 "invalid_attribute", "ext", 0, NULL},
	{"object extension", "{" MIN_ATTRS ",\"ext\":{\"a\":1}}",
	 "invalid_attribute", "ext", 0, NULL},
	{"array extension", "{" MIN_ATTRS ",\"ext\":[1]}",
	 "invalid_attribute", "ext", 0, NULL},
	{"duplicate member", "{" MIN_ATTRS ",\"subject\":\"a\","
	 "\"subject\":\"b\"}", "invalid_attribute", "subject", 0, NULL},
	{"data and data_base64", "{" MIN_ATTRS ",\"data\":\"x\","
	 "\"data_base64\":\"eA==\"}", "invalid_data", "data_base64", 0, NULL},
	{"data null and data_base64", "{" MIN_ATTRS ",\"data\":null,"
	 "\"data_base64\":\"eA==\"}", "invalid_data", "data_base64", 0, NULL},
	{"bad base64", "{" MIN_ATTRS ",\"data_base64\":\"Zm9v!\"}",
	 "invalid_data", "data_base64", 0, NULL},
	{"base64 with space", "{" MIN_ATTRS ",\"data_base64\":\"eA ==\"}",
	 "invalid_data", "data_base64", 0, NULL},
	{"base64 bad length", "{" MIN_ATTRS ",\"data_base64\":\"Zm9vY\"}",
	 "invalid_data", "data_base64", 0, NULL},
	{"base64 not a string", "{" MIN_ATTRS ",\"data_base64\":12}",
	 "invalid_data", "data_base64", 0, NULL},
};

START_TEST(test_structured)
{
	const struct structured_case *c = &structured_cases[_i];
	struct cloudevent ev;
	struct herald_error err;
	int rc;

	memset(&err, 0, sizeof(err));
	rc = ce_parse_structured(c->body, strlen(c->body), &ev, &err);
	if (c->code == NULL) {
		ck_assert_msg(rc == 0, "%s: refused: %s %s: %s", c->name,
			      err.code, err.field, err.message);
		ck_assert_str_eq(ev.specversion, "1.0");
		ck_assert_ptr_nonnull(ev.id);
		ck_assert_ptr_nonnull(ev.source);
		ck_assert_ptr_nonnull(ev.type);
		ck_assert_msg(ev.data_kind == c->kind, "%s: kind %d", c->name,
			      (int)ev.data_kind);
		if (c->kind == CE_DATA_NONE)
			ck_assert_uint_eq(ev.data_len, 0);
		if (c->data != NULL) {
			size_t want = strlen(c->data);

			ck_assert_uint_eq(ev.data_len, want);
			ck_assert(want == 0 ||
				  memcmp(ev.data, c->data, want) == 0);
		}
		ce_free(&ev);
		ck_assert_ptr_null(ev.attrs);
	} else {
		ck_assert_msg(rc == -1, "%s: accepted", c->name);
		ck_assert_str_eq(err.code, c->code);
		ck_assert_str_eq(err.field, c->field);
		ck_assert_int_eq(err.index, -1);
		ck_assert(err.message[0] != '\0');
		ck_assert_ptr_null(ev.attrs);
		ck_assert_ptr_null(ev.data);
	}
}
END_TEST

/* The pointers point into attrs and mirror the attribute values. */
START_TEST(test_structured_fields)
{
	static const char body[] = "{" MIN_ATTRS ",\"subject\":\"s\","
		"\"datacontenttype\":\"text/plain\",\"dataschema\":\"urn:x\","
		"\"time\":\"2020-01-01T00:00:00Z\",\"partitionkey\":\"pk\"}";
	struct cloudevent ev;
	struct herald_error err;
	const cJSON *v;

	ck_assert_int_eq(ce_parse_structured(body, strlen(body), &ev, &err), 0);
	ck_assert_str_eq(ev.id, "1");
	ck_assert_str_eq(ev.source, "/src");
	ck_assert_str_eq(ev.type, "t");
	ck_assert_str_eq(ev.subject, "s");
	ck_assert_str_eq(ev.datacontenttype, "text/plain");
	ck_assert_str_eq(ev.dataschema, "urn:x");
	ck_assert_str_eq(ev.time, "2020-01-01T00:00:00Z");
	ck_assert_str_eq(ev.partitionkey, "pk");
	v = cJSON_GetObjectItemCaseSensitive(ev.attrs, "id");
	ck_assert_ptr_eq(ev.id, v->valuestring);
	ce_free(&ev);
}
END_TEST

/* data_base64 decodes to the exact bytes, NUL included. */
START_TEST(test_structured_base64_bytes)
{
	static const char body[] =
		"{" MIN_ATTRS ",\"data_base64\":\"AAEC/w==\"}";
	static const unsigned char want[] = {0x00, 0x01, 0x02, 0xff};
	struct cloudevent ev;
	struct herald_error err;

	ck_assert_int_eq(ce_parse_structured(body, strlen(body), &ev, &err), 0);
	ck_assert_int_eq(ev.data_kind, CE_DATA_BINARY);
	ck_assert_uint_eq(ev.data_len, sizeof(want));
	ck_assert(memcmp(ev.data, want, sizeof(want)) == 0);
	ce_free(&ev);
}
END_TEST

/* At most 512 members per event (bounds the duplicate check). */
START_TEST(test_structured_member_limit)
{
	struct cloudevent ev;
	struct herald_error err;
	size_t cap = 16384, len;
	char *body = malloc(cap);
	int i, extra;

	ck_assert_ptr_nonnull(body);
	for (extra = 508; extra <= 509; extra++) {
		len = (size_t)snprintf(body, cap, "{" MIN_ATTRS);
		for (i = 0; i < extra; i++)
			len += (size_t)snprintf(body + len, cap - len,
						",\"e%d\":%d", i, i);
		len += (size_t)snprintf(body + len, cap - len, "}");
		ck_assert_uint_lt(len, cap);
		if (extra == 508) {
			ck_assert_int_eq(ce_parse_structured(body, len, &ev,
							     &err), 0);
			ck_assert_int_eq(cJSON_GetArraySize(ev.attrs), 512);
			ce_free(&ev);
		} else {
			ck_assert_int_eq(ce_parse_structured(body, len, &ev,
							     &err), -1);
			ck_assert_str_eq(err.code, "invalid_attribute");
		}
	}
	free(body);
}
END_TEST

/* The body need not be NUL-terminated: only len bytes are read. */
START_TEST(test_structured_not_terminated)
{
	static const char text[] = "{" MIN_ATTRS "}";
	size_t len = strlen(text);
	char *body = malloc(len);
	struct cloudevent ev;
	struct herald_error err;

	ck_assert_ptr_nonnull(body);
	memcpy(body, text, len);
	ck_assert_int_eq(ce_parse_structured(body, len, &ev, &err), 0);
	ce_free(&ev);
	/* one byte short is not JSON */
	ck_assert_int_eq(ce_parse_structured(body, len - 1, &ev, &err), -1);
	ck_assert_str_eq(err.code, "invalid_json");
	free(body);
}
END_TEST

/* ---- time ---- */

struct time_case {
	const char *time;
	bool valid;
};

static const struct time_case time_cases[] = {
	{"2018-04-05T17:31:00Z", true},
	{"2018-04-05t17:31:00z", true},
	{"2018-04-05T17:31:00.000000000Z", true},
	{"2018-04-05T17:31:00.5+01:00", true},
	{"2018-04-05T16:31:00-01:00", true},
	{"2020-02-29T00:00:00Z", true},
	{"2000-02-29T00:00:00Z", true},
	{"1900-02-28T00:00:00Z", true},
	{"2016-12-31T23:59:60Z", true},
	{"0000-01-01T00:00:00Z", true},
	{"9999-12-31T23:59:59+23:59", true},
	{"2019-02-29T00:00:00Z", false},
	{"1900-02-29T00:00:00Z", false},
	{"2018-04-31T00:00:00Z", false},
	{"2018-13-01T00:00:00Z", false},
	{"2018-00-01T00:00:00Z", false},
	{"2018-01-00T00:00:00Z", false},
	{"2018-01-32T00:00:00Z", false},
	{"2018-01-01T24:00:00Z", false},
	{"2018-01-01T00:60:00Z", false},
	{"2018-01-01T00:00:61Z", false},
	{"2018-04-05T18:31Z", false},
	{"2018-04-05T18:31:00", false},
	{"2018-04-05T18:31:00X", false},
	{"2018-04-05T18:31:00+25:00", false},
	{"2018-04-05T18:31:00+01:60", false},
	{"2018-04-05T18:31:00+xx:00", false},
	{"2018-04-05T18:31:00+05", false},
	{"2018-04-05T18:31:00+0500", false},
	{"2018-04-05T18:31:00.Z", false},
	{"2018-04-05 18:31:00Z", false},
	{"2018-4-05T18:31:00Z", false},
	{"2018-04-05T18:31:00Z ", false},
	{"", false},
};

START_TEST(test_time)
{
	const struct time_case *c = &time_cases[_i];
	char body[256];
	struct cloudevent ev;
	struct herald_error err;
	int rc;

	snprintf(body, sizeof(body), "{" MIN_ATTRS ",\"time\":\"%s\"}", c->time);
	rc = ce_parse_structured(body, strlen(body), &ev, &err);
	ck_assert_msg(rc == (c->valid ? 0 : -1), "time %s", c->time);
	if (rc == 0) {
		ck_assert_str_eq(ev.time, c->time);
		ce_free(&ev);
	} else {
		ck_assert_str_eq(err.field, "time");
	}
}
END_TEST

/* ---- batch ---- */

struct batch_case {
	const char *body;
	int rc;
	size_t n;     /* events when accepted */
	long index;   /* err.index when refused */
	const char *code;
};

static const struct batch_case batch_cases[] = {
	{"[]", 0, 0, 0, NULL},
	{" [ ] ", 0, 0, 0, NULL},
	{"[{" MIN_ATTRS "}]", 0, 1, 0, NULL},
	{"[{" MIN_ATTRS "},{" MIN_ATTRS ",\"data\":1}]", 0, 2, 0, NULL},
	{"{" MIN_ATTRS "}", -1, 0, -1, "invalid_json"},
	{"[", -1, 0, -1, "invalid_json"},
	{"[{" MIN_ATTRS "},{\"specversion\":\"0.9\",\"id\":\"2\","
	 "\"source\":\"/s\",\"type\":\"t\"}]", -1, 0, 1,
	 "unsupported_specversion"},
	{"[{\"specversion\":\"1.0\",\"source\":\"/s\",\"type\":\"t\"}]",
	 -1, 0, 0, "missing_attribute"},
	{"[\"not an object\",{" MIN_ATTRS "}]", -1, 0, 0, "invalid_json"},
	{"[{" MIN_ATTRS "},{" MIN_ATTRS "},null]", -1, 0, 2, "invalid_json"},
	{"[{" MIN_ATTRS "},{" MIN_ATTRS ",\"Bad\":1},{" MIN_ATTRS "}]",
	 -1, 0, 1, "invalid_attribute_name"},
};

START_TEST(test_batch)
{
	const struct batch_case *c = &batch_cases[_i];
	struct cloudevent *evs = (struct cloudevent *)&evs;
	struct herald_error err;
	size_t n = 99, i;
	int rc;

	rc = ce_parse_batch(c->body, strlen(c->body), &evs, &n, &err);
	ck_assert_msg(rc == c->rc, "batch %s", c->body);
	if (rc == 0) {
		ck_assert_uint_eq(n, c->n);
		for (i = 0; i < n; i++)
			ck_assert_str_eq(evs[i].specversion, "1.0");
		ce_free_array(evs, n);
	} else {
		ck_assert_ptr_null(evs);
		ck_assert_uint_eq(n, 0);
		ck_assert_int_eq(err.index, c->index);
		ck_assert_str_eq(err.code, c->code);
	}
}
END_TEST

/* ---- binary mode ---- */

struct binary_case {
	const char *name;
	struct ce_header headers[8]; /* ends at the first NULL name */
	const char *content_type;
	const char *body;
	size_t len;
	const char *code;           /* NULL: accepted */
	const char *field;
	enum ce_data_kind kind;
};

#define BIN_REQ {"ce-specversion", "1.0"}, {"Ce-Id", "42"}, \
	{"CE-SOURCE", "/s"}, {"ce-type", "t"}

static const struct binary_case binary_cases[] = {
	{"no body", {BIN_REQ}, NULL, "", 0, NULL, NULL, CE_DATA_NONE},
	{"json body", {BIN_REQ}, "application/json", " { \"a\" : 1 }\n", 13,
	 NULL, NULL, CE_DATA_JSON},
	{"+json body", {BIN_REQ}, "application/foo+json", "[1, 2]", 6, NULL,
	 NULL, CE_DATA_JSON},
	{"json type, not json", {BIN_REQ}, "application/json", "{nope", 5,
	 NULL, NULL, CE_DATA_BINARY},
	{"text body", {BIN_REQ}, "text/plain; charset=utf-8", "h\xc3\xa9", 3,
	 NULL, NULL, CE_DATA_TEXT},
	{"text with bad utf-8", {BIN_REQ}, "text/plain", "\xff\xfe", 2, NULL,
	 NULL, CE_DATA_BINARY},
	{"text with nul", {BIN_REQ}, "text/plain", "a\0b", 3, NULL, NULL,
	 CE_DATA_BINARY},
	{"octets with nul", {BIN_REQ}, "application/octet-stream",
	 "\x00\x01\x00\xff", 4, NULL, NULL, CE_DATA_BINARY},
	{"no content type", {BIN_REQ}, NULL, "{}", 2, NULL, NULL,
	 CE_DATA_BINARY},
	{"other headers ignored", {BIN_REQ, {"content-length", "2"},
	 {"cex-foo", "x"}, {"x-ce-bar", "y"}}, NULL, "", 0, NULL, NULL,
	 CE_DATA_NONE},
	{"missing specversion", {{"ce-id", "1"}, {"ce-source", "/s"},
	 {"ce-type", "t"}}, NULL, "", 0, "missing_attribute", "specversion",
	 0},
	{"missing id", {{"ce-specversion", "1.0"}, {"ce-source", "/s"},
	 {"ce-type", "t"}}, NULL, "", 0, "missing_attribute", "id", 0},
	{"specversion 0.3", {{"ce-specversion", "0.3"}, {"ce-id", "1"},
	 {"ce-source", "/s"}, {"ce-type", "t"}}, NULL, "", 0,
	 "unsupported_specversion", "specversion", 0},
	{"duplicate header", {BIN_REQ, {"ce-ID", "43"}}, NULL, "", 0,
	 "invalid_attribute", "id", 0},
	{"bad utf-8 after decoding", {BIN_REQ, {"ce-subject", "%C3%28"}},
	 NULL, "", 0, "invalid_attribute", "subject", 0},
	{"malformed escape", {BIN_REQ, {"ce-subject", "a%4"}}, NULL, "", 0,
	 "invalid_attribute", "subject", 0},
	{"nul escape", {BIN_REQ, {"ce-subject", "a%00b"}}, NULL, "", 0,
	 "invalid_attribute", "subject", 0},
	{"control after decoding", {BIN_REQ, {"ce-subject", "a%0Ab"}}, NULL,
	 "", 0, "invalid_attribute", "subject", 0},
	{"empty subject", {BIN_REQ, {"ce-subject", ""}}, NULL, "", 0,
	 "invalid_attribute", "subject", 0},
	{"empty name", {BIN_REQ, {"ce-", "x"}}, NULL, "", 0,
	 "invalid_attribute_name", "", 0},
	{"bad name", {BIN_REQ, {"ce-my_ext", "x"}}, NULL, "", 0,
	 "invalid_attribute_name", "my_ext", 0},
	{"reserved name", {BIN_REQ, {"ce-data", "x"}}, NULL, "", 0,
	 "invalid_attribute_name", "data", 0},
	{"datacontenttype header", {BIN_REQ, {"ce-datacontenttype",
	 "text/plain"}}, NULL, "", 0, "invalid_attribute", "datacontenttype",
	 0},
	{"bad content type", {BIN_REQ}, "plain", "x", 1, "invalid_attribute",
	 "datacontenttype", 0},
	{"bad time", {BIN_REQ, {"ce-time", "2019-02-29T00:00:00Z"}}, NULL,
	 "", 0, "invalid_attribute", "time", 0},
};

static size_t
count_headers(const struct ce_header *h, size_t max)
{
	size_t n = 0;

	while (n < max && h[n].name != NULL)
		n++;
	return n;
}

START_TEST(test_binary)
{
	const struct binary_case *c = &binary_cases[_i];
	struct cloudevent ev;
	struct herald_error err;
	size_t nh = count_headers(c->headers, ARRAY_LEN(c->headers));
	int rc;

	memset(&err, 0, sizeof(err));
	rc = ce_parse_binary(c->headers, nh, c->content_type, c->body, c->len,
			     &ev, &err);
	if (c->code == NULL) {
		ck_assert_msg(rc == 0, "%s: refused: %s %s: %s", c->name,
			      err.code, err.field, err.message);
		ck_assert_str_eq(ev.id, "42");
		ck_assert_str_eq(ev.source, "/s");
		ck_assert_msg(ev.data_kind == c->kind, "%s: kind %d", c->name,
			      (int)ev.data_kind);
		/* the body is kept byte for byte, whatever its kind */
		ck_assert_uint_eq(ev.data_len, c->len);
		ck_assert(c->len == 0 || memcmp(ev.data, c->body, c->len) == 0);
		if (c->content_type != NULL)
			ck_assert_str_eq(ev.datacontenttype, c->content_type);
		else
			ck_assert_ptr_null(ev.datacontenttype);
		ce_free(&ev);
	} else {
		ck_assert_msg(rc == -1, "%s: accepted", c->name);
		ck_assert_str_eq(err.code, c->code);
		ck_assert_str_eq(err.field, c->field);
		ck_assert_ptr_null(ev.attrs);
	}
}
END_TEST

/* Header values are percent-decoded and all become strings. */
START_TEST(test_binary_decoding)
{
	static const struct ce_header h[] = {
		BIN_REQ,
		{"ce-subject", "a%20b%22%25c%C3%A9"},
		{"ce-extint", "10"},
		{"CE-ExtTwo", "caf%c3%a9"},
	};
	struct cloudevent ev;
	struct herald_error err;
	char buf[16];
	const cJSON *v;

	ck_assert_int_eq(ce_parse_binary(h, ARRAY_LEN(h), NULL, NULL, 0, &ev,
					 &err), 0);
	ck_assert_str_eq(ev.subject, "a b\"%c\xc3\xa9");
	v = cJSON_GetObjectItemCaseSensitive(ev.attrs, "extint");
	ck_assert(cJSON_IsString(v));
	ck_assert_str_eq(ce_attr_string(&ev, "exttwo", buf, sizeof(buf)),
			 "caf\xc3\xa9");
	ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(ev.attrs, "ExtTwo"));
	ck_assert_int_eq(ev.data_kind, CE_DATA_NONE);
	ce_free(&ev);
}
END_TEST

/* Binary data survives as data_base64 in JSON, including NUL bytes. */
START_TEST(test_binary_to_json)
{
	static const struct ce_header h[] = {BIN_REQ};
	static const char body[] = {'\0', 'a', '\0', (char)0xff};
	struct cloudevent ev;
	struct herald_error err;
	const cJSON *v;
	cJSON *o;

	ck_assert_int_eq(ce_parse_binary(h, ARRAY_LEN(h),
					 "application/octet-stream", body,
					 sizeof(body), &ev, &err), 0);
	o = ce_to_json(&ev);
	ck_assert_ptr_nonnull(o);
	v = cJSON_GetObjectItemCaseSensitive(o, "data_base64");
	ck_assert(cJSON_IsString(v));
	ck_assert_str_eq(v->valuestring, "AGEA/w==");
	ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(o, "data"));
	v = cJSON_GetObjectItemCaseSensitive(o, "datacontenttype");
	ck_assert(cJSON_IsString(v));
	ck_assert_str_eq(v->valuestring, "application/octet-stream");
	cJSON_Delete(o);
	ce_free(&ev);
}
END_TEST

/* ---- percent encoding ---- */

struct pct_case {
	const char *plain;
	const char *encoded;
};

static const struct pct_case pct_cases[] = {
	{"", ""},
	{"abc-._~/:?", "abc-._~/:?"},
	{"a b", "a%20b"},
	{"\"q\"", "%22q%22"},
	{"100%", "100%25"},
	{"tab\there", "tab%09here"},
	{"del\x7f", "del%7F"},
	{"caf\xc3\xa9", "caf%C3%A9"},
	{"\xf0\x9f\x98\x80", "%F0%9F%98%80"},
};

START_TEST(test_percent_roundtrip)
{
	const struct pct_case *c = &pct_cases[_i];
	char *enc = ce_percent_encode(c->plain);
	char *dec;

	ck_assert_ptr_nonnull(enc);
	ck_assert_str_eq(enc, c->encoded);
	dec = ce_percent_decode(enc, strlen(enc));
	ck_assert_ptr_nonnull(dec);
	ck_assert_str_eq(dec, c->plain);
	free(enc);
	free(dec);
}
END_TEST

struct pct_decode_case {
	const char *in;
	const char *out; /* NULL: refused */
};

static const struct pct_decode_case pct_decode_cases[] = {
	{"a%2fb%2F", "a/b/"},
	{"caf\xc3\xa9", "caf\xc3\xa9"},
	{"%", NULL},
	{"a%2", NULL},
	{"%zz", NULL},
	{"%2g", NULL},
	{"%00", NULL},
	{"%C3", NULL},
	{"%C0%AF", NULL},
	{"%ED%A0%80", NULL},
	{"\xff", NULL},
};

START_TEST(test_percent_decode)
{
	const struct pct_decode_case *c = &pct_decode_cases[_i];
	char *dec = ce_percent_decode(c->in, strlen(c->in));

	if (c->out == NULL) {
		ck_assert_msg(dec == NULL, "decoded %s", c->in);
	} else {
		ck_assert_ptr_nonnull(dec);
		ck_assert_str_eq(dec, c->out);
	}
	free(dec);
}
END_TEST

/* Only len bytes are read; an embedded raw NUL is refused. */
START_TEST(test_percent_decode_len)
{
	char *dec = ce_percent_decode("ab%41zz", 5);

	ck_assert_str_eq(dec, "abA");
	free(dec);
	ck_assert_ptr_null(ce_percent_decode("a\0b", 3));
}
END_TEST

/* ---- UTF-8 ---- */

struct utf8_case {
	const char *s;
	size_t len;
	bool valid;
};

static const struct utf8_case utf8_cases[] = {
	{"", 0, true},
	{"ascii", 5, true},
	{"\xc2\x80", 2, true},
	{"\xdf\xbf", 2, true},
	{"\xe0\xa0\x80", 3, true},
	{"\xef\xbf\xbf", 3, true},
	{"\xed\x9f\xbf", 3, true},
	{"\xee\x80\x80", 3, true},
	{"\xf0\x90\x80\x80", 4, true},
	{"\xf4\x8f\xbf\xbf", 4, true},
	{"a\0b", 3, true},
	{"\x80", 1, false},
	{"\xbf", 1, false},
	{"\xc0\x80", 2, false},
	{"\xc1\xbf", 2, false},
	{"\xc2", 1, false},
	{"\xc2\x41", 2, false},
	{"\xe0\x80\x80", 3, false},
	{"\xe0\x9f\xbf", 3, false},
	{"\xed\xa0\x80", 3, false},
	{"\xed\xbf\xbf", 3, false},
	{"\xe2\x82", 2, false},
	{"\xf0\x80\x80\x80", 4, false},
	{"\xf0\x8f\xbf\xbf", 4, false},
	{"\xf4\x90\x80\x80", 4, false},
	{"\xf5\x80\x80\x80", 4, false},
	{"\xf8\x88\x80\x80\x80", 5, false},
	{"\xfe", 1, false},
	{"\xff", 1, false},
	{"ok\xf0\x9f\x98", 5, false},
	/* past the eight-byte ASCII steps: in, at the edge of, after them */
	{"0123456789abcdef\xc3\xa9", 18, true},
	{"0123456\xc3\xa9", 9, true},
	{"01234567\xc3\xa9xyz01234567", 21, true},
	{"0123456789abcdef\xc3", 17, false},
	{"0123456\xff" "01234567", 16, false},
	{"01234567\x80", 9, false},
	{"0123456789abcdef01234567\xed\xa0\x80", 27, false},
	{"0123456789abcdef\0\0\0\0\0\0\0\0", 24, true},
};

START_TEST(test_utf8)
{
	const struct utf8_case *c = &utf8_cases[_i];

	ck_assert_msg(ce_utf8_valid(c->s, c->len) == c->valid,
		      "utf8 case %d", _i);
}
END_TEST

/* ---- rendering ---- */

/* The input object with null attribute members dropped (null means absent). */
static cJSON *
expected_json(const char *body)
{
	cJSON *o = cJSON_Parse(body);
	cJSON *m, *next;

	ck_assert_ptr_nonnull(o);
	for (m = o->child; m != NULL; m = next) {
		next = m->next;
		if (cJSON_IsNull(m) && strcmp(m->string, "data") != 0)
			cJSON_Delete(cJSON_DetachItemViaPointer(o, m));
	}
	return o;
}

static const char *const roundtrip_bodies[] = {
	"{" MIN_ATTRS "}",
	"{" MIN_ATTRS ",\"subject\":null,\"time\":null,\"x\":null}",
	"{" MIN_ATTRS ",\"ext\":-7,\"flag\":true,\"s\":\"v\",\"data\":"
	"{\"k\":[1,2.5,\"s\",null,false]}}",
	"{" MIN_ATTRS ",\"datacontenttype\":\"text/plain\","
	"\"data\":\"caf\xc3\xa9\"}",
	"{" MIN_ATTRS ",\"datacontenttype\":\"application/json\","
	"\"data\":\"x\"}",
	"{" MIN_ATTRS ",\"data\":null}",
	"{" MIN_ATTRS ",\"data\":\"\"}",
	"{" MIN_ATTRS ",\"datacontenttype\":\"image/png\","
	"\"data_base64\":\"iVBORw0KGgo=\"}",
	"{" MIN_ATTRS ",\"data_base64\":\"\"}",
};

START_TEST(test_to_json_roundtrip)
{
	const char *body = roundtrip_bodies[_i];
	struct cloudevent ev;
	struct herald_error err;
	cJSON *want, *got;

	ck_assert_int_eq(ce_parse_structured(body, strlen(body), &ev, &err), 0);
	got = ce_to_json(&ev);
	want = expected_json(body);
	ck_assert_msg(cJSON_Compare(got, want, true), "round trip of %s", body);
	cJSON_Delete(got);
	cJSON_Delete(want);
	ce_free(&ev);
}
END_TEST

/* Store an event (attrs text plus data bytes) and rebuild it. */
START_TEST(test_from_stored_roundtrip)
{
	const char *body = roundtrip_bodies[_i];
	struct cloudevent ev, back;
	struct herald_error err;
	cJSON *a, *b;
	char *attrs;

	ck_assert_int_eq(ce_parse_structured(body, strlen(body), &ev, &err), 0);
	attrs = cJSON_PrintUnformatted(ev.attrs);
	ck_assert_int_eq(ce_from_stored(attrs, ev.data, ev.data_len,
					ev.data_kind, &back), 0);
	ck_assert_int_eq(back.data_kind, ev.data_kind);
	ck_assert_uint_eq(back.data_len, ev.data_len);
	ck_assert(ev.data_len == 0 ||
		  memcmp(back.data, ev.data, ev.data_len) == 0);
	ck_assert_str_eq(back.id, ev.id);
	ck_assert_str_eq(back.source, ev.source);
	a = ce_to_json(&ev);
	b = ce_to_json(&back);
	ck_assert(cJSON_Compare(a, b, true));
	cJSON_Delete(a);
	cJSON_Delete(b);
	cJSON_free(attrs);
	ce_free(&ev);
	ce_free(&back);
}
END_TEST

/* A binary-mode event stored and rebuilt keeps its bytes exactly. */
START_TEST(test_from_stored_binary)
{
	static const struct ce_header h[] = {BIN_REQ, {"ce-partitionkey", "k"}};
	static const char body[] = " {\"a\":\n1 } ";
	struct cloudevent ev, back;
	struct herald_error err;
	char *attrs;

	ck_assert_int_eq(ce_parse_binary(h, ARRAY_LEN(h), "application/json",
					 body, strlen(body), &ev, &err), 0);
	ck_assert_int_eq(ev.data_kind, CE_DATA_JSON);
	attrs = cJSON_PrintUnformatted(ev.attrs);
	ck_assert_int_eq(ce_from_stored(attrs, ev.data, ev.data_len,
					ev.data_kind, &back), 0);
	ck_assert_uint_eq(back.data_len, strlen(body));
	ck_assert(memcmp(back.data, body, strlen(body)) == 0);
	ck_assert_str_eq(back.partitionkey, "k");
	ck_assert_str_eq(back.datacontenttype, "application/json");
	cJSON_free(attrs);
	ce_free(&ev);
	ce_free(&back);
}
END_TEST

struct stored_bad_case {
	const char *attrs;
	const char *data;
	enum ce_data_kind kind;
};

static const struct stored_bad_case stored_bad_cases[] = {
	{"not json", NULL, CE_DATA_NONE},
	{"[]", NULL, CE_DATA_NONE},
	{"{\"specversion\":\"1.0\",\"source\":\"/s\",\"type\":\"t\"}", NULL,
	 CE_DATA_NONE},
	{"{" MIN_ATTRS ",\"data\":1}", NULL, CE_DATA_NONE},
	{"{" MIN_ATTRS "}", "x", CE_DATA_NONE},
	{"{" MIN_ATTRS "}", "{nope", CE_DATA_JSON},
	{"{" MIN_ATTRS "}", "\xff", CE_DATA_TEXT},
	{"{" MIN_ATTRS "}", "x", (enum ce_data_kind)9},
};

START_TEST(test_from_stored_corrupt)
{
	const struct stored_bad_case *c = &stored_bad_cases[_i];
	struct cloudevent ev;
	size_t len = c->data ? strlen(c->data) : 0;

	ck_assert_int_eq(ce_from_stored(c->attrs,
					(const unsigned char *)c->data, len,
					c->kind, &ev), -1);
	ck_assert_ptr_null(ev.attrs);
	ck_assert_ptr_null(ev.data);
}
END_TEST

START_TEST(test_attr_string)
{
	static const char body[] = "{" MIN_ATTRS ",\"n\":-2147483648,"
		"\"p\":123,\"yes\":true,\"no\":false,\"s\":\"str\"}";
	struct cloudevent ev;
	struct herald_error err;
	char buf[16], tiny[3];

	ck_assert_int_eq(ce_parse_structured(body, strlen(body), &ev, &err), 0);
	ck_assert_str_eq(ce_attr_string(&ev, "n", buf, sizeof(buf)),
			 "-2147483648");
	ck_assert_str_eq(ce_attr_string(&ev, "p", buf, sizeof(buf)), "123");
	ck_assert_ptr_null(ce_attr_string(&ev, "p", tiny, sizeof(tiny)));
	ck_assert_str_eq(ce_attr_string(&ev, "yes", buf, sizeof(buf)), "true");
	ck_assert_str_eq(ce_attr_string(&ev, "no", buf, sizeof(buf)), "false");
	ck_assert_str_eq(ce_attr_string(&ev, "s", buf, sizeof(buf)), "str");
	ck_assert_str_eq(ce_attr_string(&ev, "type", NULL, 0), "t");
	ck_assert_ptr_null(ce_attr_string(&ev, "absent", buf, sizeof(buf)));
	ck_assert_ptr_null(ce_attr_string(&ev, "S", buf, sizeof(buf)));
	ce_free(&ev);
	ck_assert_ptr_null(ce_attr_string(&ev, "id", buf, sizeof(buf)));
}
END_TEST

/* Corrupt JSON data bytes cannot be rendered. */
START_TEST(test_to_json_corrupt)
{
	static unsigned char bad[] = "{nope";
	struct cloudevent ev;

	memset(&ev, 0, sizeof(ev));
	ev.data_kind = CE_DATA_JSON;
	ev.data = bad;
	ev.data_len = sizeof(bad) - 1;
	ck_assert_ptr_null(ce_to_json(&ev));
	ev.data_kind = CE_DATA_BINARY;
	{
		cJSON *o = ce_to_json(&ev);
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(o,
								  "data_base64");

		ck_assert(cJSON_IsString(v));
		ck_assert_str_eq(v->valuestring, "e25vcGU=");
		cJSON_Delete(o);
	}
}
END_TEST

/* ce_free leaves a parsed event all zero, so that a second ce_free (or a
 * stale read of a field) finds nothing to free twice. */
START_TEST(test_free_zeroed)
{
	static const char body[] = "{" MIN_ATTRS ",\"subject\":\"s\","
				   "\"time\":\"2024-01-01T00:00:00Z\","
				   "\"data_base64\":\"e25vcGU=\"}";
	static const struct cloudevent zero;
	struct cloudevent ev;
	struct herald_error err;

	memset(&err, 0, sizeof(err));
	ck_assert_int_eq(ce_parse_structured(body, strlen(body), &ev, &err), 0);
	ck_assert_ptr_nonnull(ev.attrs);
	ck_assert_ptr_nonnull(ev.subject);
	ck_assert_ptr_nonnull(ev.data);
	ck_assert_uint_eq(ev.data_len, 5);
	ce_free(&ev);
	ck_assert(memcmp(&ev, &zero, sizeof(ev)) == 0);
	ce_free(&ev); /* twice is harmless */
	ce_free(NULL);
	ce_free_array(NULL, 0);
}
END_TEST

/* JSON data is kept and shown exactly as sent, batch members included:
 * cJSON's own printing would round 9007199254740993. */
START_TEST(test_exact_json_data)
{
	static const char batch[] =
		"[ {" MIN_ATTRS ",\"data\":9007199254740993} ,"
		"{" MIN_ATTRS ",\"data\": {\"b\" : 1.10}}]";
	struct cloudevent *evs = NULL;
	struct herald_error err;
	size_t n = 0;
	char *text;

	memset(&err, 0, sizeof(err));
	ck_assert_int_eq(ce_parse_batch(batch, strlen(batch), &evs, &n, &err), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(evs[0].data_len, 16);
	ck_assert(memcmp(evs[0].data, "9007199254740993", 16) == 0);
	ck_assert_uint_eq(evs[1].data_len, 12);
	ck_assert(memcmp(evs[1].data, "{\"b\" : 1.10}", 12) == 0);
	text = ce_to_text(&evs[0]);
	ck_assert_ptr_nonnull(strstr(text, "\"data\":9007199254740993"));
	free(text);
	text = ce_to_text(&evs[1]);
	ck_assert_ptr_nonnull(strstr(text, "\"data\":{\"b\" : 1.10}"));
	free(text);
	ce_free_array(evs, n);
}
END_TEST

static Suite *
cloudevent_suite(void)
{
	Suite *s = suite_create("cloudevent");
	TCase *tc;

	tc = tcase_create("structured");
	tcase_add_loop_test(tc, test_structured, 0,
			    (int)ARRAY_LEN(structured_cases));
	tcase_add_test(tc, test_structured_fields);
	tcase_add_test(tc, test_exact_json_data);
	tcase_add_test(tc, test_structured_base64_bytes);
	tcase_add_test(tc, test_structured_not_terminated);
	tcase_add_test(tc, test_structured_member_limit);
	tcase_add_loop_test(tc, test_time, 0, (int)ARRAY_LEN(time_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("batch");
	tcase_add_loop_test(tc, test_batch, 0, (int)ARRAY_LEN(batch_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("binary");
	tcase_add_loop_test(tc, test_binary, 0, (int)ARRAY_LEN(binary_cases));
	tcase_add_test(tc, test_binary_decoding);
	tcase_add_test(tc, test_binary_to_json);
	suite_add_tcase(s, tc);

	tc = tcase_create("encoding");
	tcase_add_loop_test(tc, test_percent_roundtrip, 0,
			    (int)ARRAY_LEN(pct_cases));
	tcase_add_loop_test(tc, test_percent_decode, 0,
			    (int)ARRAY_LEN(pct_decode_cases));
	tcase_add_test(tc, test_percent_decode_len);
	tcase_add_loop_test(tc, test_utf8, 0, (int)ARRAY_LEN(utf8_cases));
	suite_add_tcase(s, tc);

	tc = tcase_create("rendering");
	tcase_add_loop_test(tc, test_to_json_roundtrip, 0,
			    (int)ARRAY_LEN(roundtrip_bodies));
	tcase_add_loop_test(tc, test_from_stored_roundtrip, 0,
			    (int)ARRAY_LEN(roundtrip_bodies));
	tcase_add_test(tc, test_from_stored_binary);
	tcase_add_loop_test(tc, test_from_stored_corrupt, 0,
			    (int)ARRAY_LEN(stored_bad_cases));
	tcase_add_test(tc, test_attr_string);
	tcase_add_test(tc, test_to_json_corrupt);
	tcase_add_test(tc, test_free_zeroed);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(cloudevent_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
