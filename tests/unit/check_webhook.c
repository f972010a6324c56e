/* Unit tests for webhook requests (webhook.c): body, ce-* and Standard Webhooks headers, and how an answer is classified. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <check.h>

#include "cloudevent.h"
#include "signature.h"
#include "subscription.h"
#include "webhook.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Known-answer vector of the Standard Webhooks specification. */
#define KA_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define KA_MSG_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define KA_TIMESTAMP 1614265330LL
#define KA_BODY "{\"test\": 2432232314}"
#define KA_SIGNATURE "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

/* Key bytes 0x00..0x1f, and key bytes 0x20..0x3f. */
#define SECRET_A "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define SECRET_B "whsec_ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8="

#define TS 1700000000LL

/* ---------------------------------------------------------------- helpers */

static void
parse_sub(const char *json, struct subscription *sub)
{
	struct herald_error err;
	cJSON *j = cJSON_Parse(json);

	ck_assert_msg(j != NULL, "test subscription is not JSON: %s", json);
	memset(sub, 0, sizeof(*sub));
	ck_assert_msg(sub_parse(j, sub, &err) == 0, "sub_parse(%s): %s: %s",
		      json, err.code, err.message);
	cJSON_Delete(j);
}

static void
parse_structured(const char *json, struct cloudevent *ev)
{
	struct herald_error err;

	memset(ev, 0, sizeof(*ev));
	ck_assert_msg(ce_parse_structured(json, strlen(json), ev, &err) == 0,
		      "ce_parse_structured(%s): %s: %s", json, err.code,
		      err.message);
}

static const struct ce_header bin_headers[] = {
	{"ce-specversion", "1.0"},
	{"ce-id", "bin-1"},
	{"ce-source", "urn:test"},
	{"ce-type", "test.binary"},
};

static void
parse_binary(const char *ct, const char *body, size_t len,
	     struct cloudevent *ev)
{
	struct herald_error err;

	memset(ev, 0, sizeof(*ev));
	ck_assert_msg(ce_parse_binary(bin_headers, NELEM(bin_headers), ct, body,
				      len, ev, &err) == 0,
		      "ce_parse_binary: %s: %s", err.code, err.message);
}

/* The header line named name (case-insensitive), or NULL. */
static const char *
find_line(const struct webhook_request *req, const char *name)
{
	size_t n = strlen(name);

	for (size_t i = 0; i < req->nheaders; i++)
		if (strncasecmp(req->headers[i], name, n) == 0 &&
		    req->headers[i][n] == ':')
			return req->headers[i];
	return NULL;
}

/* The value of header name (after ": "), "" for "Name:", NULL when absent. */
static const char *
header_value(const struct webhook_request *req, const char *name)
{
	const char *line = find_line(req, name);

	if (line == NULL)
		return NULL;
	line += strlen(name) + 1;
	if (*line == ' ')
		line++;
	return line;
}

static size_t
header_count(const struct webhook_request *req, const char *name)
{
	size_t n = strlen(name), c = 0;

	for (size_t i = 0; i < req->nheaders; i++)
		if (strncasecmp(req->headers[i], name, n) == 0 &&
		    req->headers[i][n] == ':')
			c++;
	return c;
}

static size_t
count_prefix(const struct webhook_request *req, const char *prefix)
{
	size_t n = strlen(prefix), c = 0;

	for (size_t i = 0; i < req->nheaders; i++)
		if (strncasecmp(req->headers[i], prefix, n) == 0)
			c++;
	return c;
}

static void
build(const struct subscription *sub, const char *secret,
      const struct cloudevent *ev, long long seq, long long ts,
      struct webhook_request *req)
{
	const char *secrets[1] = {secret};

	ck_assert_int_eq(webhook_build(sub, secrets, 1, ev, seq, ts, req), 0);
	ck_assert_ptr_nonnull(req->body);
}

#define BINARY_SUB "{\"sink\":\"https://hooks.example.com/h\"}"
#define STRUCT_SUB \
	"{\"sink\":\"https://hooks.example.com/h\",\"delivery\":{\"mode\":\"structured\"}}"

/* ---------------------------------------------------------------- binary body */

enum ev_from { FROM_STRUCTURED, FROM_BINARY };

static const struct {
	const char *name;
	enum ev_from from;
	const char *input;      /* structured JSON, or the binary body */
	size_t input_len;       /* binary body length */
	const char *binary_ct;  /* Content-Type given to ce_parse_binary */
	const char *body;       /* expected body */
	size_t body_len;
	const char *ct_line;    /* expected Content-Type header line */
} body_cases[] = {
	{"json data with datacontenttype", FROM_STRUCTURED,
	 "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"s\",\"type\":\"t\","
	 "\"datacontenttype\":\"application/json\",\"data\":{\"a\":1}}",
	 0, NULL, "{\"a\":1}", 7, "Content-Type: application/json"},
	{"json data without datacontenttype", FROM_STRUCTURED,
	 "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"s\",\"type\":\"t\","
	 "\"data\":[1,\"two\",null]}",
	 0, NULL, "[1,\"two\",null]", 14, "Content-Type:"},
	{"json data with a +json type", FROM_STRUCTURED,
	 "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"s\",\"type\":\"t\","
	 "\"datacontenttype\":\"application/vnd.x+json\",\"data\":{\"k\":true}}",
	 0, NULL, "{\"k\":true}", 10, "Content-Type: application/vnd.x+json"},
	{"text data", FROM_STRUCTURED,
	 "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"s\",\"type\":\"t\","
	 "\"datacontenttype\":\"text/plain; charset=utf-8\","
	 "\"data\":\"h\\u00e9llo \\\"w\\\"\"}",
	 0, NULL, "h\xc3\xa9llo \"w\"", 10,
	 "Content-Type: text/plain; charset=utf-8"},
	{"binary data from data_base64", FROM_STRUCTURED,
	 "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"s\",\"type\":\"t\","
	 "\"datacontenttype\":\"image/png\",\"data_base64\":\"AP8BAA==\"}",
	 0, NULL, "\x00\xff\x01\x00", 4, "Content-Type: image/png"},
	{"binary data with NUL bytes", FROM_BINARY,
	 "a\0b\xff" "c\0\0\xfe\r\nend", 13, "application/octet-stream",
	 "a\0b\xff" "c\0\0\xfe\r\nend", 13,
	 "Content-Type: application/octet-stream"},
	{"json data from a binary message", FROM_BINARY,
	 "{ \"n\" : 1 }", 11, "application/json",
	 "{ \"n\" : 1 }", 11, "Content-Type: application/json"},
	{"text data from a binary message", FROM_BINARY,
	 "plain text", 10, "text/plain",
	 "plain text", 10, "Content-Type: text/plain"},
	/* no datacontenttype: no Content-Type, and libcurl's is removed */
	{"binary data without a content type", FROM_BINARY,
	 "\x01\x02\xff", 3, NULL, "\x01\x02\xff", 3, "Content-Type:"},
	{"text-like data without a content type", FROM_BINARY,
	 "a=1&b=2", 7, NULL, "a=1&b=2", 7, "Content-Type:"},
	{"data_base64 without datacontenttype", FROM_STRUCTURED,
	 "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"s\",\"type\":\"t\","
	 "\"data_base64\":\"AP8BAA==\"}",
	 0, NULL, "\x00\xff\x01\x00", 4, "Content-Type:"},
	{"no data", FROM_STRUCTURED,
	 "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"s\",\"type\":\"t\"}",
	 0, NULL, "", 0, "Content-Type:"},
	{"no data from a binary message", FROM_BINARY,
	 "", 0, NULL, "", 0, "Content-Type:"},
};

START_TEST(test_binary_body)
{
	struct subscription sub;
	struct cloudevent ev;
	struct webhook_request req;

	parse_sub(BINARY_SUB, &sub);
	if (body_cases[_i].from == FROM_STRUCTURED)
		parse_structured(body_cases[_i].input, &ev);
	else
		parse_binary(body_cases[_i].binary_ct, body_cases[_i].input,
			     body_cases[_i].input_len, &ev);
	build(&sub, SECRET_A, &ev, 1, TS, &req);

	ck_assert_msg(req.body_len == body_cases[_i].body_len,
		      "%s: body length %zu, expected %zu", body_cases[_i].name,
		      req.body_len, body_cases[_i].body_len);
	ck_assert_msg(memcmp(req.body, body_cases[_i].body, req.body_len) == 0,
		      "%s: body bytes differ", body_cases[_i].name);
	ck_assert_uint_eq(header_count(&req, "Content-Type"), 1);
	ck_assert_str_eq(find_line(&req, "Content-Type"), body_cases[_i].ct_line);
	/* datacontenttype travels as Content-Type only */
	ck_assert_ptr_null(find_line(&req, "ce-datacontenttype"));
	/* and only when the event has one */
	ck_assert_int_eq(ev.datacontenttype == NULL,
			 strcmp(body_cases[_i].ct_line, "Content-Type:") == 0);

	webhook_request_free(&req);
	ck_assert_ptr_null(req.body);
	ck_assert_ptr_null(req.headers);
	ce_free(&ev);
	sub_free(&sub);
}
END_TEST

/*
 * An event published in binary mode without Content-Type has no
 * datacontenttype: ingest adds none, the stored form has none, and neither
 * delivery mode makes one up.
 */
START_TEST(test_no_datacontenttype_stored)
{
	struct subscription bin, st;
	struct cloudevent in, ev;
	struct webhook_request req;
	char *attrs;
	cJSON *sent;

	parse_binary(NULL, "a=1&b=2", 7, &in);
	ck_assert_ptr_null(in.datacontenttype);
	ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(in.attrs,
							    "datacontenttype"));
	attrs = cJSON_PrintUnformatted(in.attrs);
	ck_assert_ptr_nonnull(attrs);
	ck_assert_int_eq(ce_from_stored(attrs, in.data, in.data_len,
					in.data_kind, &ev),
			 0);
	free(attrs);
	ck_assert_ptr_null(ev.datacontenttype);

	parse_sub(BINARY_SUB, &bin);
	build(&bin, SECRET_A, &ev, 9, TS, &req);
	ck_assert_uint_eq(header_count(&req, "Content-Type"), 1);
	ck_assert_str_eq(find_line(&req, "Content-Type"), "Content-Type:");
	ck_assert_uint_eq(req.body_len, 7);
	ck_assert(memcmp(req.body, "a=1&b=2", 7) == 0);
	webhook_request_free(&req);

	parse_sub(STRUCT_SUB, &st);
	build(&st, SECRET_A, &ev, 9, TS, &req);
	sent = cJSON_ParseWithLength(req.body, req.body_len);
	ck_assert_ptr_nonnull(sent);
	ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(sent,
							    "datacontenttype"));
	ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
				 sent, "data_base64")),
			 "YT0xJmI9Mg==");
	cJSON_Delete(sent);
	webhook_request_free(&req);

	sub_free(&st);
	sub_free(&bin);
	ce_free(&ev);
	ce_free(&in);
}
END_TEST

/* ---------------------------------------------------------------- ce-* headers */

#define ATTR_EVENT \
	"{\"specversion\":\"1.0\",\"id\":\"id 1\",\"source\":\"urn:src\"," \
	"\"type\":\"com.example.t\",\"subject\":\"a b\\\"c%d \\u00e9\"," \
	"\"time\":\"2024-05-01T12:00:00Z\",\"dataschema\":\"https://s.example/x\"," \
	"\"partitionkey\":\"k/1\",\"count\":5,\"negative\":-12,\"flag\":true," \
	"\"off\":false,\"tenantid\":\"t1\",\"misc\":\"\\u65e5+~\"," \
	"\"datacontenttype\":\"application/json\",\"data\":{\"a\":1}}"

static const struct {
	const char *name;
	const char *value;
} ce_header_cases[] = {
	{"ce-specversion", "1.0"},
	{"ce-id", "id%201"},
	{"ce-source", "urn:src"},
	{"ce-type", "com.example.t"},
	{"ce-subject", "a%20b%22c%25d%20%C3%A9"},
	{"ce-time", "2024-05-01T12:00:00Z"},
	{"ce-dataschema", "https://s.example/x"},
	{"ce-partitionkey", "k/1"},
	{"ce-count", "5"},
	{"ce-negative", "-12"},
	{"ce-flag", "true"},
	{"ce-off", "false"},
	{"ce-tenantid", "t1"},
	{"ce-misc", "%E6%97%A5+~"},
};

START_TEST(test_ce_header)
{
	struct subscription sub;
	struct cloudevent ev;
	struct webhook_request req;
	const char *v;

	parse_sub(BINARY_SUB, &sub);
	parse_structured(ATTR_EVENT, &ev);
	build(&sub, SECRET_A, &ev, 3, TS, &req);
	v = header_value(&req, ce_header_cases[_i].name);
	ck_assert_msg(v != NULL, "%s missing", ce_header_cases[_i].name);
	ck_assert_str_eq(v, ce_header_cases[_i].value);
	ck_assert_uint_eq(header_count(&req, ce_header_cases[_i].name), 1);
	webhook_request_free(&req);
	ce_free(&ev);
	sub_free(&sub);
}
END_TEST

START_TEST(test_ce_headers_exactly_the_attributes)
{
	struct subscription sub;
	struct cloudevent ev;
	struct webhook_request req;

	parse_sub(BINARY_SUB, &sub);
	parse_structured(ATTR_EVENT, &ev);
	build(&sub, SECRET_A, &ev, 3, TS, &req);
	/* every attribute but datacontenttype, and nothing else */
	ck_assert_uint_eq(count_prefix(&req, "ce-"), NELEM(ce_header_cases));
	ck_assert_ptr_null(find_line(&req, "ce-datacontenttype"));
	ck_assert_ptr_null(find_line(&req, "ce-data"));
	ck_assert_str_eq(header_value(&req, "Content-Type"), "application/json");
	ck_assert_uint_eq(req.body_len, 7);
	ck_assert(memcmp(req.body, "{\"a\":1}", 7) == 0);
	webhook_request_free(&req);
	ce_free(&ev);
	sub_free(&sub);
}
END_TEST

/* Percent-encoded header values decode back to the attribute. */
START_TEST(test_ce_headers_roundtrip_binary)
{
	struct subscription sub;
	struct cloudevent ev, back;
	struct webhook_request req;
	struct ce_header hs[32];
	size_t n = 0;
	const char *ct;
	struct herald_error err;

	parse_sub(BINARY_SUB, &sub);
	parse_structured(ATTR_EVENT, &ev);
	build(&sub, SECRET_A, &ev, 3, TS, &req);
	ck_assert_uint_le(req.nheaders, NELEM(hs));
	for (size_t i = 0; i < req.nheaders; i++) {
		if (strncasecmp(req.headers[i], "ce-", 3) != 0)
			continue;
		/* split a copy "name: value" in place */
		char *line = req.headers[i];
		char *colon = strchr(line, ':');

		ck_assert_ptr_nonnull(colon);
		*colon = '\0';
		hs[n].name = line;
		hs[n].value = colon + 2;
		n++;
	}
	ct = header_value(&req, "Content-Type");
	memset(&back, 0, sizeof(back));
	ck_assert_msg(ce_parse_binary(hs, n, ct, req.body, req.body_len, &back,
				      &err) == 0,
		      "%s: %s", err.code, err.message);
	ck_assert_str_eq(back.subject, "a b\"c%d \xc3\xa9");
	/* header values are strings: compare as strings */
	ck_assert_str_eq(back.id, ev.id);
	ck_assert_str_eq(back.source, ev.source);
	ck_assert_str_eq(back.type, ev.type);
	ck_assert_str_eq(back.datacontenttype, "application/json");
	ck_assert_uint_eq(back.data_len, ev.data_len);
	ck_assert(memcmp(back.data, ev.data, ev.data_len) == 0);
	ce_free(&back);
	webhook_request_free(&req);
	ce_free(&ev);
	sub_free(&sub);
}
END_TEST

/* ---------------------------------------------------------------- structured */

static const struct {
	const char *name;
	enum ev_from from;
	const char *input;
	size_t input_len;
	const char *binary_ct;
} structured_cases[] = {
	{"attributes and json data", FROM_STRUCTURED, ATTR_EVENT, 0, NULL},
	{"text data", FROM_STRUCTURED,
	 "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"s\",\"type\":\"t\","
	 "\"datacontenttype\":\"text/plain\",\"data\":\"h\\u00e9 \\\"q\\\"\"}",
	 0, NULL},
	{"binary data with NUL bytes", FROM_BINARY,
	 "a\0b\xff" "c\0", 6, "application/octet-stream"},
	{"no data", FROM_STRUCTURED,
	 "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"s\",\"type\":\"t\","
	 "\"subject\":\"x\"}",
	 0, NULL},
	{"json null data", FROM_STRUCTURED,
	 "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"s\",\"type\":\"t\","
	 "\"data\":null}",
	 0, NULL},
};

START_TEST(test_structured)
{
	struct subscription sub;
	struct cloudevent ev, back;
	struct webhook_request req;
	struct herald_error err;

	parse_sub(STRUCT_SUB, &sub);
	ck_assert_int_eq(sub.delivery.mode, SUB_MODE_STRUCTURED);
	if (structured_cases[_i].from == FROM_STRUCTURED)
		parse_structured(structured_cases[_i].input, &ev);
	else
		parse_binary(structured_cases[_i].binary_ct,
			     structured_cases[_i].input,
			     structured_cases[_i].input_len, &ev);
	build(&sub, SECRET_A, &ev, 9, TS, &req);

	ck_assert_uint_eq(header_count(&req, "Content-Type"), 1);
	ck_assert_str_eq(find_line(&req, "Content-Type"),
			 "Content-Type: application/cloudevents+json");
	ck_assert_uint_eq(strlen(req.body), req.body_len);
	memset(&back, 0, sizeof(back));
	ck_assert_msg(ce_parse_structured(req.body, req.body_len, &back, &err) == 0,
		      "%s: body does not parse back: %s: %s (%s)",
		      structured_cases[_i].name, err.code, err.message, req.body);
	ck_assert_msg(cJSON_Compare(back.attrs, ev.attrs, true),
		      "%s: attributes differ: %s", structured_cases[_i].name,
		      req.body);
	ck_assert_int_eq(back.data_kind, ev.data_kind);
	ck_assert_uint_eq(back.data_len, ev.data_len);
	if (ev.data_len)
		ck_assert(memcmp(back.data, ev.data, ev.data_len) == 0);
	/* the Standard Webhooks headers still come with it */
	ck_assert_str_eq(header_value(&req, "webhook-id"), "msg_9");
	ck_assert(signature_verify(SECRET_A, "msg_9", TS,
				   (const unsigned char *)req.body, req.body_len,
				   header_value(&req, "webhook-signature")));

	ce_free(&back);
	webhook_request_free(&req);
	ce_free(&ev);
	sub_free(&sub);
}
END_TEST

/* ---------------------------------------------------------------- signatures */

START_TEST(test_known_answer_vector)
{
	char sig[SIGNATURE_SIZE], expect[SIGNATURE_SIZE];
	struct subscription sub;
	struct cloudevent ev;
	struct webhook_request req;

	ck_assert_int_eq(signature_sign(KA_SECRET, KA_MSG_ID, KA_TIMESTAMP,
					(const unsigned char *)KA_BODY,
					strlen(KA_BODY), sig, sizeof(sig)),
			 0);
	ck_assert_str_eq(sig, KA_SIGNATURE);

	/* the same body through webhook_build: the signature is the one of
	 * its own id, timestamp and body */
	parse_sub(BINARY_SUB, &sub);
	parse_binary("application/json", KA_BODY, strlen(KA_BODY), &ev);
	build(&sub, KA_SECRET, &ev, 2432232314LL, KA_TIMESTAMP, &req);
	ck_assert_uint_eq(req.body_len, strlen(KA_BODY));
	ck_assert(memcmp(req.body, KA_BODY, req.body_len) == 0);
	ck_assert_str_eq(header_value(&req, "webhook-id"), "msg_2432232314");
	ck_assert_str_eq(header_value(&req, "webhook-timestamp"), "1614265330");
	ck_assert_int_eq(signature_sign(KA_SECRET, "msg_2432232314", KA_TIMESTAMP,
					(const unsigned char *)KA_BODY,
					strlen(KA_BODY), expect, sizeof(expect)),
			 0);
	ck_assert_str_eq(header_value(&req, "webhook-signature"), expect);
	webhook_request_free(&req);
	ce_free(&ev);
	sub_free(&sub);
}
END_TEST

static const struct {
	long long seq;
	long long ts;
	const char *id;
	const char *ts_text;
} id_cases[] = {
	{1, TS, "msg_1", "1700000000"},
	{42, 0, "msg_42", "0"},
	{9007199254740993LL, 4102444800LL, "msg_9007199254740993", "4102444800"},
	{9223372036854775807LL, TS, "msg_9223372036854775807", "1700000000"},
};

START_TEST(test_webhook_id_and_timestamp)
{
	struct subscription sub;
	struct cloudevent ev;
	struct webhook_request req;
	char expect[SIGNATURE_SIZE];

	parse_sub(BINARY_SUB, &sub);
	parse_structured(ATTR_EVENT, &ev);
	build(&sub, SECRET_A, &ev, id_cases[_i].seq, id_cases[_i].ts, &req);
	ck_assert_str_eq(header_value(&req, "webhook-id"), id_cases[_i].id);
	ck_assert_str_eq(header_value(&req, "webhook-timestamp"),
			 id_cases[_i].ts_text);
	ck_assert_uint_eq(header_count(&req, "webhook-id"), 1);
	ck_assert_uint_eq(header_count(&req, "webhook-timestamp"), 1);
	ck_assert_uint_eq(header_count(&req, "webhook-signature"), 1);
	ck_assert(signature_verify(SECRET_A, id_cases[_i].id, id_cases[_i].ts,
				   (const unsigned char *)req.body, req.body_len,
				   header_value(&req, "webhook-signature")));
	ck_assert_int_eq(signature_sign(SECRET_A, id_cases[_i].id, id_cases[_i].ts,
					(const unsigned char *)req.body,
					req.body_len, expect, sizeof(expect)),
			 0);
	ck_assert_str_eq(header_value(&req, "webhook-signature"), expect);
	/* another secret, id, timestamp or body does not verify */
	ck_assert(!signature_verify(SECRET_B, id_cases[_i].id, id_cases[_i].ts,
				    (const unsigned char *)req.body, req.body_len,
				    header_value(&req, "webhook-signature")));
	ck_assert(!signature_verify(SECRET_A, "msg_0", id_cases[_i].ts,
				    (const unsigned char *)req.body, req.body_len,
				    header_value(&req, "webhook-signature")));
	ck_assert(!signature_verify(SECRET_A, id_cases[_i].id, id_cases[_i].ts + 1,
				    (const unsigned char *)req.body, req.body_len,
				    header_value(&req, "webhook-signature")));
	ck_assert(!signature_verify(SECRET_A, id_cases[_i].id, id_cases[_i].ts,
				    (const unsigned char *)req.body,
				    req.body_len - 1,
				    header_value(&req, "webhook-signature")));
	webhook_request_free(&req);
	ce_free(&ev);
	sub_free(&sub);
}
END_TEST

START_TEST(test_two_secrets)
{
	const char *secrets[2] = {SECRET_B, SECRET_A};
	struct subscription sub;
	struct cloudevent ev;
	struct webhook_request req;
	char first[SIGNATURE_SIZE], second[SIGNATURE_SIZE];
	char sa[SIGNATURE_SIZE], sb[SIGNATURE_SIZE];
	const char *v, *sp;

	parse_sub(_i == 0 ? BINARY_SUB : STRUCT_SUB, &sub);
	parse_binary("application/octet-stream", "\0\x01\xff", 3, &ev);
	ck_assert_int_eq(webhook_build(&sub, secrets, 2, &ev, 77, TS, &req), 0);
	v = header_value(&req, "webhook-signature");
	ck_assert_ptr_nonnull(v);
	sp = strchr(v, ' ');
	ck_assert_msg(sp != NULL, "one signature only: %s", v);
	ck_assert_ptr_null(strchr(sp + 1, ' '));
	ck_assert_uint_lt((size_t)(sp - v), sizeof(first));
	memcpy(first, v, (size_t)(sp - v));
	first[sp - v] = '\0';
	ck_assert_uint_lt(strlen(sp + 1), sizeof(second));
	strcpy(second, sp + 1);
	ck_assert(strncmp(first, "v1,", 3) == 0);
	ck_assert(strncmp(second, "v1,", 3) == 0);

	/* current secret first, each entry verifies with its own secret */
	ck_assert(signature_verify(SECRET_B, "msg_77", TS,
				   (const unsigned char *)req.body, req.body_len,
				   first));
	ck_assert(!signature_verify(SECRET_A, "msg_77", TS,
				    (const unsigned char *)req.body, req.body_len,
				    first));
	ck_assert(signature_verify(SECRET_A, "msg_77", TS,
				   (const unsigned char *)req.body, req.body_len,
				   second));
	ck_assert(!signature_verify(SECRET_B, "msg_77", TS,
				    (const unsigned char *)req.body, req.body_len,
				    second));
	ck_assert_int_eq(signature_sign(SECRET_A, "msg_77", TS,
					(const unsigned char *)req.body,
					req.body_len, sa, sizeof(sa)),
			 0);
	ck_assert_int_eq(signature_sign(SECRET_B, "msg_77", TS,
					(const unsigned char *)req.body,
					req.body_len, sb, sizeof(sb)),
			 0);
	ck_assert_str_eq(first, sb);
	ck_assert_str_eq(second, sa);
	webhook_request_free(&req);
	ce_free(&ev);
	sub_free(&sub);
}
END_TEST

/* ---------------------------------------------------------------- other headers */

START_TEST(test_settings_headers_and_credential)
{
	struct subscription sub;
	struct cloudevent ev;
	struct webhook_request req;
	const char *ua;

	parse_sub("{\"sink\":\"https://hooks.example.com/h\","
		  "\"protocolsettings\":{\"headers\":{\"X-Team\":\"billing\","
		  "\"X-Other\":\"two words\"}},"
		  "\"sinkcredential\":{\"credential_type\":\"ACCESSTOKEN\","
		  "\"access_token\":\"tok123\"}}",
		  &sub);
	parse_structured(ATTR_EVENT, &ev);
	build(&sub, SECRET_A, &ev, 5, TS, &req);
	ck_assert_str_eq(find_line(&req, "X-Team"), "X-Team: billing");
	ck_assert_str_eq(find_line(&req, "X-Other"), "X-Other: two words");
	ck_assert_str_eq(find_line(&req, "Authorization"),
			 "Authorization: Bearer tok123");
	ck_assert_uint_eq(header_count(&req, "Authorization"), 1);
	ua = header_value(&req, "User-Agent");
	ck_assert_ptr_nonnull(ua);
	ck_assert_msg(strncmp(ua, "herald/", 7) == 0 && ua[7] != '\0',
		      "User-Agent %s", ua);
	ck_assert_str_eq(find_line(&req, "Expect"), "Expect:");
	webhook_request_free(&req);
	ce_free(&ev);
	sub_free(&sub);
}
END_TEST

START_TEST(test_no_credential_no_authorization)
{
	struct subscription sub;
	struct cloudevent ev;
	struct webhook_request req;

	parse_sub(_i == 0 ? BINARY_SUB : STRUCT_SUB, &sub);
	parse_structured(ATTR_EVENT, &ev);
	build(&sub, SECRET_A, &ev, 5, TS, &req);
	ck_assert_ptr_null(find_line(&req, "Authorization"));
	ck_assert_ptr_null(find_line(&req, "X-Team"));
	ck_assert_str_eq(find_line(&req, "Expect"), "Expect:");
	ck_assert_ptr_nonnull(header_value(&req, "User-Agent"));
	/* every line is "Name: value" or "Name:" without CR/LF */
	for (size_t i = 0; i < req.nheaders; i++) {
		ck_assert_ptr_nonnull(strchr(req.headers[i], ':'));
		ck_assert_ptr_null(strpbrk(req.headers[i], "\r\n"));
	}
	webhook_request_free(&req);
	ce_free(&ev);
	sub_free(&sub);
}
END_TEST

/* ---------------------------------------------------------------- bad secrets */

static const struct {
	const char *a;
	const char *b;
	size_t n;
} bad_secret_cases[] = {
	{"whsec_!!!!", NULL, 1},
	{"whsec_", NULL, 1},
	{"whsec_Zh==", NULL, 1},
	{"whsec_ MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", NULL, 1},
	{SECRET_A, "whsec_%%%%", 2},
	{"whsec_@@@@", SECRET_A, 2},
};

START_TEST(test_malformed_secret)
{
	const char *secrets[2] = {bad_secret_cases[_i].a, bad_secret_cases[_i].b};
	struct subscription sub;
	struct cloudevent ev;
	struct webhook_request req;

	parse_sub(BINARY_SUB, &sub);
	parse_structured(ATTR_EVENT, &ev);
	ck_assert_int_eq(webhook_build(&sub, secrets, bad_secret_cases[_i].n,
				       &ev, 1, TS, &req),
			 -1);
	/* nothing is left to free */
	ck_assert_ptr_null(req.body);
	ck_assert_ptr_null(req.headers);
	ck_assert_uint_eq(req.nheaders, 0);
	webhook_request_free(&req);
	ce_free(&ev);
	sub_free(&sub);
}
END_TEST

/* ---------------------------------------------------------------- classify */

#define NOW ((time_t)1700000000)

static const struct {
	long status;
	const char *retry_after;
	enum webhook_outcome outcome;
	long ms;
} classify_cases[] = {
	{200, NULL, WEBHOOK_DELIVERED, 0},
	{201, NULL, WEBHOOK_DELIVERED, 0},
	{202, NULL, WEBHOOK_DELIVERED, 0},
	{204, NULL, WEBHOOK_DELIVERED, 0},
	{299, NULL, WEBHOOK_DELIVERED, 0},
	{200, "5", WEBHOOK_DELIVERED, 0},
	{100, NULL, WEBHOOK_RETRY, 0},
	{199, NULL, WEBHOOK_RETRY, 0},
	{300, NULL, WEBHOOK_RETRY, 0},
	{301, NULL, WEBHOOK_RETRY, 0},
	{302, NULL, WEBHOOK_RETRY, 0},
	{304, NULL, WEBHOOK_RETRY, 0},
	{307, NULL, WEBHOOK_RETRY, 0},
	{400, NULL, WEBHOOK_RETRY, 0},
	{401, NULL, WEBHOOK_RETRY, 0},
	{404, NULL, WEBHOOK_RETRY, 0},
	{500, NULL, WEBHOOK_RETRY, 0},
	{502, NULL, WEBHOOK_RETRY, 0},
	{0, NULL, WEBHOOK_RETRY, 0},
	{0, "5", WEBHOOK_RETRY, 0},
	{410, NULL, WEBHOOK_GONE, 0},
	{410, "5", WEBHOOK_GONE, 0},
	{429, "5", WEBHOOK_DEFER, 5000},
	{503, "5", WEBHOOK_DEFER, 5000},
	{429, " 5 ", WEBHOOK_DEFER, 5000},
	{429, "0", WEBHOOK_DEFER, 0},
	{503, "120", WEBHOOK_DEFER, 120000},
	{429, NULL, WEBHOOK_RETRY, 0},
	{503, NULL, WEBHOOK_RETRY, 0},
	{429, "", WEBHOOK_RETRY, 0},
	{429, "soon", WEBHOOK_RETRY, 0},
	{429, "5s", WEBHOOK_RETRY, 0},
	{429, "-5", WEBHOOK_RETRY, 0},
	{503, "garbage", WEBHOOK_RETRY, 0},
	/* Retry-After only counts on 429 and 503 */
	{500, "5", WEBHOOK_RETRY, 0},
	{502, "5", WEBHOOK_RETRY, 0},
};

START_TEST(test_classify)
{
	long ms = -1;
	enum webhook_outcome o;

	o = webhook_classify(classify_cases[_i].status,
			     classify_cases[_i].retry_after, NOW, &ms);
	ck_assert_msg(o == classify_cases[_i].outcome,
		      "status %ld retry-after %s: outcome %d, expected %d",
		      classify_cases[_i].status,
		      classify_cases[_i].retry_after ? classify_cases[_i].retry_after : "(none)",
		      (int)o, (int)classify_cases[_i].outcome);
	if (o == WEBHOOK_DEFER)
		ck_assert_int_eq(ms, classify_cases[_i].ms);
	else
		ck_assert_int_eq(ms, 0);
}
END_TEST

static const struct {
	long status;
	long offset_s;
	enum webhook_outcome outcome;
	long min_ms, max_ms;
} date_cases[] = {
	{503, 10, WEBHOOK_DEFER, 9000, 11000},
	{429, 10, WEBHOOK_DEFER, 9000, 11000},
	{503, 3600, WEBHOOK_DEFER, 3599000, 3601000},
	/* a date in the past: no wait beyond the backoff */
	{503, -30, WEBHOOK_DEFER, 0, 0},
	{500, 10, WEBHOOK_RETRY, 0, 0},
};

START_TEST(test_classify_http_date)
{
	char date[64];
	struct tm tm;
	time_t when = NOW + date_cases[_i].offset_s;
	long ms = -1;

	ck_assert_ptr_nonnull(gmtime_r(&when, &tm));
	ck_assert_uint_gt(strftime(date, sizeof(date),
				   "%a, %d %b %Y %H:%M:%S GMT", &tm), 0);
	ck_assert_int_eq(webhook_classify(date_cases[_i].status, date, NOW, &ms),
			 date_cases[_i].outcome);
	ck_assert_msg(ms >= date_cases[_i].min_ms && ms <= date_cases[_i].max_ms,
		      "Retry-After %s: %ld ms", date, ms);
}
END_TEST

/* ---------------------------------------------------------------- suite */

static Suite *
webhook_suite(void)
{
	Suite *s = suite_create("webhook");
	TCase *b = tcase_create("build");
	TCase *c = tcase_create("classify");

	tcase_add_loop_test(b, test_binary_body, 0, NELEM(body_cases));
	tcase_add_test(b, test_no_datacontenttype_stored);
	tcase_add_loop_test(b, test_ce_header, 0, NELEM(ce_header_cases));
	tcase_add_test(b, test_ce_headers_exactly_the_attributes);
	tcase_add_test(b, test_ce_headers_roundtrip_binary);
	tcase_add_loop_test(b, test_structured, 0, NELEM(structured_cases));
	tcase_add_test(b, test_known_answer_vector);
	tcase_add_loop_test(b, test_webhook_id_and_timestamp, 0, NELEM(id_cases));
	tcase_add_loop_test(b, test_two_secrets, 0, 2);
	tcase_add_test(b, test_settings_headers_and_credential);
	tcase_add_loop_test(b, test_no_credential_no_authorization, 0, 2);
	tcase_add_loop_test(b, test_malformed_secret, 0, NELEM(bad_secret_cases));
	suite_add_tcase(s, b);

	tcase_add_loop_test(c, test_classify, 0, NELEM(classify_cases));
	tcase_add_loop_test(c, test_classify_http_date, 0, NELEM(date_cases));
	suite_add_tcase(s, c);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(webhook_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
