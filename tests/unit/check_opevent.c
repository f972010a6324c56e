/* Unit tests for opevent.c: the data and attributes of each kind of operational event. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cloudevent.h"
#include "opevent.h"

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

#define SUB "0b7e2c1a-4f3d-4c5b-9a8e-1d2c3b4a5f60"
#define AT "2024-05-01T12:00:00.123456Z"

struct op_case {
	const char *name;
	struct opevent op;
	const char *type, *id;
	const char *data; /* the data, as JSON */
};

static const struct op_case cases[] = {
	{"failed after 3 attempts, last 500",
	 {.kind = OPEVENT_DELIVERY_FAILED, .outbox_id = 41, .subscription = SUB,
	  .time = AT, .seq = 17, .event_source = "/shop", .event_id = "order-1",
	  .event_type = "com.example.order.placed", .attempts = 3,
	  .last_status = 500, .last_error = "HTTP 500"},
	 "herald.delivery.failed", "delivery.failed/" SUB "/17/41",
	 "{\"subscription\":\"" SUB "\",\"delivery\":{\"seq\":17,\"event\":"
	 "{\"source\":\"/shop\",\"id\":\"order-1\","
	 "\"type\":\"com.example.order.placed\"}},\"attempts\":3,"
	 "\"last_status\":500,\"last_error\":\"HTTP 500\"}"},
	{"failed with no HTTP answer: last_status null",
	 {.kind = OPEVENT_DELIVERY_FAILED, .outbox_id = 7, .subscription = SUB,
	  .time = AT, .seq = 2, .event_source = "/s", .event_id = "e \"q\"",
	  .event_type = "t", .attempts = 1,
	  .last_error = "connection refused"},
	 "herald.delivery.failed", "delivery.failed/" SUB "/2/7",
	 "{\"subscription\":\"" SUB "\",\"delivery\":{\"seq\":2,\"event\":"
	 "{\"source\":\"/s\",\"id\":\"e \\\"q\\\"\",\"type\":\"t\"}},"
	 "\"attempts\":1,\"last_status\":null,"
	 "\"last_error\":\"connection refused\"}"},
	{"disabled by a 410",
	 {.kind = OPEVENT_SUBSCRIPTION_DISABLED, .outbox_id = 9,
	  .subscription = SUB, .time = AT, .seq = 5, .event_source = "/shop",
	  .event_id = "order-5", .event_type = "t", .attempts = 0,
	  .last_status = 410, .last_error = "HTTP 410",
	  .reason = "the sink answered 410 Gone"},
	 "herald.subscription.disabled", "subscription.disabled/" SUB "/9",
	 "{\"subscription\":\"" SUB "\",\"status\":\"disabled\","
	 "\"reason\":\"the sink answered 410 Gone\",\"delivery\":{\"seq\":5,"
	 "\"event\":{\"source\":\"/shop\",\"id\":\"order-5\",\"type\":\"t\"}},"
	 "\"attempts\":0,\"last_status\":410,\"last_error\":\"HTTP 410\"}"},
	{"disabled, the delivery unknown",
	 {.kind = OPEVENT_SUBSCRIPTION_DISABLED, .outbox_id = 10,
	  .subscription = SUB, .reason = "why"},
	 "herald.subscription.disabled", "subscription.disabled/" SUB "/10",
	 "{\"subscription\":\"" SUB "\",\"status\":\"disabled\","
	 "\"reason\":\"why\",\"delivery\":null,\"attempts\":0,"
	 "\"last_status\":null,\"last_error\":null}"},
	{"backlog reached its threshold",
	 {.kind = OPEVENT_SUBSCRIPTION_BACKLOG, .outbox_id = 12,
	  .subscription = SUB, .time = AT, .backlog = 10500,
	  .threshold = 10000},
	 "herald.subscription.backlog", "subscription.backlog/" SUB "/12",
	 "{\"subscription\":\"" SUB "\",\"backlog\":10500,\"threshold\":10000}"},
};

static void
assert_json_eq(const char *got, size_t len, const char *want)
{
	cJSON *g = cJSON_ParseWithLength(got, len), *w = cJSON_Parse(want);
	char *gs = g ? cJSON_PrintUnformatted(g) : NULL;

	ck_assert_msg(w != NULL, "the expected JSON does not parse: %s", want);
	ck_assert_msg(g != NULL && cJSON_Compare(g, w, true),
		      "got %s, want %s", gs ? gs : "(invalid)", want);
	free(gs);
	cJSON_Delete(g);
	cJSON_Delete(w);
}

START_TEST(test_data)
{
	const struct op_case *c = &cases[_i];
	cJSON *d = opevent_data(&c->op);
	char *text = cJSON_PrintUnformatted(d);

	assert_json_eq(text, strlen(text), c->data);
	free(text);
	cJSON_Delete(d);
}
END_TEST

START_TEST(test_event)
{
	const struct op_case *c = &cases[_i];
	struct cloudevent ev;
	struct herald_error err;

	ck_assert_msg(opevent_build(&c->op, &ev, &err) == 0, "%s: %s", c->name,
		      err.message);
	ck_assert_str_eq(ev.specversion, "1.0");
	ck_assert_str_eq(ev.source, "/herald");
	ck_assert_str_eq(ev.type, c->type);
	ck_assert_str_eq(ev.id, c->id);
	ck_assert_str_eq(ev.subject, SUB);
	ck_assert_str_eq(ev.partitionkey, SUB);
	ck_assert_str_eq(ev.datacontenttype, "application/json");
	if (c->op.time)
		ck_assert_str_eq(ev.time, c->op.time);
	else
		ck_assert_ptr_null(ev.time);
	ck_assert_int_eq(ev.data_kind, CE_DATA_JSON);
	assert_json_eq((const char *)ev.data, ev.data_len, c->data);
	ce_free(&ev);
}
END_TEST

/* The same row makes the same id; another row of the same delivery
 * (failed again after a retry) another id. */
START_TEST(test_ids_deterministic)
{
	struct opevent op = cases[0].op;
	struct cloudevent a, b, other;
	struct herald_error err;

	ck_assert_int_eq(opevent_build(&op, &a, &err), 0);
	ck_assert_int_eq(opevent_build(&op, &b, &err), 0);
	ck_assert_str_eq(a.id, b.id);
	op.outbox_id++;
	ck_assert_int_eq(opevent_build(&op, &other, &err), 0);
	ck_assert_str_ne(a.id, other.id);
	ce_free(&a);
	ce_free(&b);
	ce_free(&other);
}
END_TEST

START_TEST(test_build_refuses)
{
	struct opevent op = cases[0].op;
	struct cloudevent ev;
	struct herald_error err;

	op.subscription = NULL;
	ck_assert_int_eq(opevent_build(&op, &ev, &err), -1);
	ck_assert_str_eq(err.code, "invalid_opevent");
	op.subscription = "";
	ck_assert_int_eq(opevent_build(&op, &ev, &err), -1);
	op = cases[0].op;
	op.kind = (enum opevent_kind)99;
	ck_assert_int_eq(opevent_build(&op, &ev, &err), -1);
	op = cases[0].op;
	op.time = "yesterday"; /* not RFC 3339: CloudEvents refuses it */
	ck_assert_int_eq(opevent_build(&op, &ev, &err), -1);
}
END_TEST

START_TEST(test_kind_names)
{
	static const struct {
		enum opevent_kind k;
		const char *name;
	} names[] = {
		{OPEVENT_DELIVERY_FAILED, "delivery.failed"},
		{OPEVENT_SUBSCRIPTION_DISABLED, "subscription.disabled"},
		{OPEVENT_SUBSCRIPTION_BACKLOG, "subscription.backlog"},
	};
	static const char *const bad[] = {"", "failed", "Delivery.failed",
					  "herald.delivery.failed",
					  "subscription.backlog ", NULL};
	enum opevent_kind k = OPEVENT_SUBSCRIPTION_BACKLOG;

	for (int i = 0; i < NELEM(names); i++) {
		ck_assert_str_eq(opevent_kind_name(names[i].k), names[i].name);
		ck_assert(opevent_kind_parse(names[i].name, &k));
		ck_assert_int_eq(k, names[i].k);
	}
	k = OPEVENT_DELIVERY_FAILED;
	for (int i = 0; i < NELEM(bad); i++) {
		ck_assert(!opevent_kind_parse(bad[i], &k));
		ck_assert_int_eq(k, OPEVENT_DELIVERY_FAILED);
	}
	ck_assert_str_eq(opevent_kind_name((enum opevent_kind)99), "invalid");
}
END_TEST

START_TEST(test_reserved_source)
{
	ck_assert(opevent_source_reserved("/herald"));
	ck_assert(!opevent_source_reserved("/herald/x"));
	ck_assert(!opevent_source_reserved("/Herald"));
	ck_assert(!opevent_source_reserved("herald"));
	ck_assert(!opevent_source_reserved("/shop"));
	ck_assert(!opevent_source_reserved(NULL));
}
END_TEST

static Suite *
opevent_suite(void)
{
	Suite *s = suite_create("opevent");
	TCase *tc = tcase_create("payload");

	tcase_add_loop_test(tc, test_data, 0, NELEM(cases));
	tcase_add_loop_test(tc, test_event, 0, NELEM(cases));
	tcase_add_test(tc, test_ids_deterministic);
	tcase_add_test(tc, test_build_refuses);
	suite_add_tcase(s, tc);

	tc = tcase_create("names");
	tcase_add_test(tc, test_kind_names);
	tcase_add_test(tc, test_reserved_source);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(opevent_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
