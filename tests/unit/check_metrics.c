/* Unit tests for metrics.c: the outcome of an attempt as a label, the text exposition, the backlog sample and per-subscription series. */
#include <check.h>
#include <regex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backlog.h"
#include "metrics.h"

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const struct outcome_case {
	long status;
	enum metrics_transport t;
	bool deferred;
	enum metrics_outcome want;
} outcome_cases[] = {
	{200, METRICS_T_NONE, false, METRICS_SUCCESS},
	{204, METRICS_T_NONE, false, METRICS_SUCCESS},
	{299, METRICS_T_NONE, false, METRICS_SUCCESS},
	{400, METRICS_T_NONE, false, METRICS_HTTP_4XX},
	{410, METRICS_T_NONE, false, METRICS_HTTP_4XX},
	{429, METRICS_T_NONE, false, METRICS_HTTP_4XX},
	{429, METRICS_T_NONE, true, METRICS_RETRY_AFTER},
	{503, METRICS_T_NONE, true, METRICS_RETRY_AFTER},
	{500, METRICS_T_NONE, false, METRICS_HTTP_5XX},
	{599, METRICS_T_NONE, false, METRICS_HTTP_5XX},
	{302, METRICS_T_NONE, false, METRICS_HTTP_OTHER},
	{101, METRICS_T_NONE, false, METRICS_HTTP_OTHER},
	{0, METRICS_T_TIMEOUT, false, METRICS_TIMEOUT},
	{0, METRICS_T_CONNECT, false, METRICS_CONNECT},
	{0, METRICS_T_TLS, false, METRICS_TLS},
	{0, METRICS_T_SSRF, false, METRICS_SSRF_BLOCKED},
	{0, METRICS_T_OTHER, false, METRICS_ERROR},
	{0, METRICS_T_NONE, false, METRICS_ERROR}, /* no answer, no reason */
};

START_TEST(test_outcome_table)
{
	const struct outcome_case *c = &outcome_cases[_i];

	ck_assert_int_eq(metrics_outcome_of(c->status, c->t, c->deferred),
			 c->want);
}
END_TEST

/* true when text has this exact line. */
static bool
has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return true;
	return false;
}

START_TEST(test_counters)
{
	char *t;

	metrics_reset();
	metrics_ingested(METRICS_ACCEPTED, 3);
	metrics_ingested(METRICS_DUPLICATE, 1);
	metrics_attempt(METRICS_SUCCESS, 0.004);
	metrics_attempt(METRICS_HTTP_5XX, 0.2);
	metrics_attempt(METRICS_HTTP_5XX, 0.3);
	metrics_delivery_failed();
	metrics_inflight_add(2);
	metrics_inflight_add(-1);
	metrics_partitions_owned(64);
	t = metrics_render();
	ck_assert(has_line(t, "herald_events_ingested_total{result=\"accepted\"} 3"));
	ck_assert(has_line(t, "herald_events_ingested_total{result=\"duplicate\"} 1"));
	ck_assert(has_line(t, "herald_events_ingested_total{result=\"rejected\"} 0"));
	ck_assert(has_line(t, "herald_delivery_attempts_total{outcome=\"success\"} 1"));
	ck_assert(has_line(t, "herald_delivery_attempts_total{outcome=\"http_5xx\"} 2"));
	ck_assert(has_line(t, "herald_delivery_attempts_total{outcome=\"timeout\"} 0"));
	ck_assert(has_line(t, "herald_delivery_duration_seconds_count 3"));
	ck_assert(has_line(t, "herald_delivery_duration_seconds_sum 0.504000"));
	ck_assert(has_line(t, "herald_deliveries_failed_total 1"));
	ck_assert(has_line(t, "herald_inflight_requests 1"));
	ck_assert(has_line(t, "herald_partitions_owned 64"));
	ck_assert(has_line(t, "# TYPE herald_events_ingested_total counter"));
	ck_assert(has_line(t, "# TYPE herald_ingest_duration_seconds histogram"));
	free(t);
}
END_TEST

/* Buckets are cumulative, bounds inclusive, and +Inf is the count. */
START_TEST(test_histogram)
{
	char *t;

	metrics_reset();
	metrics_ingest_duration(0.003);
	metrics_ingest_duration(0.025); /* on a bound: in it */
	metrics_ingest_duration(7);
	metrics_ingest_duration(45);
	t = metrics_render();
	ck_assert(has_line(t, "herald_ingest_duration_seconds_bucket{le=\"0.0025\"} 0"));
	ck_assert(has_line(t, "herald_ingest_duration_seconds_bucket{le=\"0.005\"} 1"));
	ck_assert(has_line(t, "herald_ingest_duration_seconds_bucket{le=\"0.01\"} 1"));
	ck_assert(has_line(t, "herald_ingest_duration_seconds_bucket{le=\"0.025\"} 2"));
	ck_assert(has_line(t, "herald_ingest_duration_seconds_bucket{le=\"5\"} 2"));
	ck_assert(has_line(t, "herald_ingest_duration_seconds_bucket{le=\"10\"} 3"));
	ck_assert(has_line(t, "herald_ingest_duration_seconds_bucket{le=\"30\"} 3"));
	ck_assert(has_line(t, "herald_ingest_duration_seconds_bucket{le=\"+Inf\"} 4"));
	ck_assert(has_line(t, "herald_ingest_duration_seconds_count 4"));
	ck_assert(has_line(t, "herald_ingest_duration_seconds_sum 52.028000"));
	free(t);
	metrics_reset();
	metrics_writer_batch(1);
	metrics_writer_batch(100);
	t = metrics_render();
	ck_assert(has_line(t, "herald_writer_batch_events_bucket{le=\"1\"} 1"));
	ck_assert(has_line(t, "herald_writer_batch_events_bucket{le=\"64\"} 1"));
	ck_assert(has_line(t, "herald_writer_batch_events_bucket{le=\"128\"} 2"));
	free(t);
}
END_TEST

/* End-to-end latency has buckets up to a day, for retried deliveries. */
START_TEST(test_end_to_end)
{
	char *t;

	metrics_reset();
	metrics_end_to_end(0.004);
	metrics_end_to_end(0.005); /* on a bound: in it */
	metrics_end_to_end(120);
	metrics_end_to_end(4000);
	metrics_end_to_end(200000); /* over a day */
	metrics_end_to_end(-1);     /* a clock step: counted as 0 */
	t = metrics_render();
	ck_assert(has_line(t, "# TYPE herald_end_to_end_latency_seconds histogram"));
	ck_assert(has_line(t, "herald_end_to_end_latency_seconds_bucket{le=\"0.005\"} 3"));
	ck_assert(has_line(t, "herald_end_to_end_latency_seconds_bucket{le=\"60\"} 3"));
	ck_assert(has_line(t, "herald_end_to_end_latency_seconds_bucket{le=\"300\"} 4"));
	ck_assert(has_line(t, "herald_end_to_end_latency_seconds_bucket{le=\"3600\"} 4"));
	ck_assert(has_line(t, "herald_end_to_end_latency_seconds_bucket{le=\"21600\"} 5"));
	ck_assert(has_line(t, "herald_end_to_end_latency_seconds_bucket{le=\"86400\"} 5"));
	ck_assert(has_line(t, "herald_end_to_end_latency_seconds_bucket{le=\"+Inf\"} 6"));
	ck_assert(has_line(t, "herald_end_to_end_latency_seconds_count 6"));
	ck_assert(has_line(t, "herald_end_to_end_latency_seconds_sum 204120.009000"));
	free(t);
}
END_TEST

START_TEST(test_process_gauges)
{
	char *t;

	metrics_reset();
	metrics_http_connections_add(1);
	metrics_http_connections_add(1);
	metrics_http_connections_add(1);
	metrics_http_connections_add(-1);
	metrics_db_pool_size(4);
	metrics_db_pool_in_use_add(1);
	t = metrics_render();
	ck_assert(has_line(t, "herald_http_connections 2"));
	ck_assert(has_line(t, "herald_db_pool_size 4"));
	ck_assert(has_line(t, "herald_db_pool_in_use 1"));
	free(t);
}
END_TEST

/* A sample of three subscriptions, sorted by id, as backlog.c makes. */
static void
publish_sample(void)
{
	struct metrics_backlog b = {0};

	b.sampled_at = 1700000000.25;
	b.nsubs = 3;
	b.subs = calloc(3, sizeof(*b.subs));
	strcpy(b.subs[0].id, "11111111-1111-1111-1111-111111111111");
	b.subs[0].due = 5;
	b.subs[0].not_due = 2;
	b.subs[0].oldest_s = 42.5;
	strcpy(b.subs[1].id, "22222222-2222-2222-2222-222222222222");
	b.subs[1].not_due = 1;
	strcpy(b.subs[2].id, "33333333-3333-3333-3333-333333333333");
	b.due = 5;
	b.not_due = 3;
	b.oldest_s = 42.5;
	b.subscriptions[METRICS_SUB_ACTIVE] = 1;
	b.subscriptions[METRICS_SUB_PAUSED] = 2;
	metrics_backlog_publish(&b);
	ck_assert_ptr_null(b.subs); /* taken over */
}

START_TEST(test_backlog)
{
	struct metrics_backlog copy;
	char *t;

	metrics_reset();
	metrics_set_per_subscription(false);
	t = metrics_render();
	/* before the first sample: zeros, and a timestamp that says so */
	ck_assert(has_line(t, "herald_backlog_sampled_timestamp_seconds 0.000"));
	ck_assert(has_line(t, "herald_backlog_deliveries{state=\"due\"} 0"));
	free(t);

	publish_sample();
	t = metrics_render();
	ck_assert(has_line(t, "herald_backlog_sampled_timestamp_seconds 1700000000.250"));
	ck_assert(has_line(t, "herald_backlog_deliveries{state=\"due\"} 5"));
	ck_assert(has_line(t, "herald_backlog_deliveries{state=\"not_due\"} 3"));
	ck_assert(has_line(t, "herald_backlog_oldest_seconds 42.500"));
	ck_assert(has_line(t, "herald_subscriptions{status=\"active\"} 1"));
	ck_assert(has_line(t, "herald_subscriptions{status=\"paused\"} 2"));
	ck_assert(has_line(t, "herald_subscriptions{status=\"disabled\"} 0"));
	/* per subscription only when asked */
	ck_assert_ptr_null(strstr(t, "herald_subscription_backlog_deliveries"));
	ck_assert_ptr_null(strstr(t, "herald_subscription_attempts_total"));
	free(t);

	metrics_set_per_subscription(true);
	t = metrics_render();
	ck_assert(has_line(t, "herald_subscription_backlog_deliveries{subscription=\"11111111-1111-1111-1111-111111111111\"} 7"));
	ck_assert(has_line(t, "herald_subscription_backlog_deliveries{subscription=\"22222222-2222-2222-2222-222222222222\"} 1"));
	ck_assert(has_line(t, "herald_subscription_backlog_deliveries{subscription=\"33333333-3333-3333-3333-333333333333\"} 0"));
	free(t);

	/* the module's snapshot, for whoever watches a subscription */
	backlog_snapshot(&copy);
	ck_assert_uint_eq(copy.nsubs, 3);
	ck_assert_int_eq(backlog_find(&copy, "11111111-1111-1111-1111-111111111111")->due, 5);
	ck_assert_int_eq(backlog_find(&copy, "22222222-2222-2222-2222-222222222222")->not_due, 1);
	ck_assert_ptr_null(backlog_find(&copy, "44444444-4444-4444-4444-444444444444"));
	metrics_backlog_free(&copy);
	metrics_set_per_subscription(false);
}
END_TEST

/* Label values are escaped as the text format says: \\, \" and \n. */
START_TEST(test_label_escaping)
{
	char *t;

	metrics_reset();
	metrics_set_per_subscription(true);
	metrics_subscription_attempt("a\"b\\c\nd", METRICS_SUCCESS);
	metrics_subscription_attempt("a\"b\\c\nd", METRICS_SUCCESS);
	metrics_subscription_attempt("a\"b\\c\nd", METRICS_TIMEOUT);
	t = metrics_render();
	ck_assert(has_line(t, "herald_subscription_attempts_total{subscription=\"a\\\"b\\\\c\\nd\",outcome=\"success\"} 2"));
	ck_assert(has_line(t, "herald_subscription_attempts_total{subscription=\"a\\\"b\\\\c\\nd\",outcome=\"timeout\"} 1"));
	/* outcomes never seen make no series */
	ck_assert_ptr_null(strstr(t, ",outcome=\"http_5xx\""));
	free(t);
	metrics_set_per_subscription(false);
}
END_TEST

/* Off, nothing is kept; turned off, the counters are forgotten. */
START_TEST(test_per_subscription_switch)
{
	char *t;

	metrics_reset();
	metrics_set_per_subscription(false);
	metrics_subscription_attempt("s1", METRICS_SUCCESS);
	metrics_set_per_subscription(true);
	metrics_subscription_attempt("s2", METRICS_SUCCESS);
	t = metrics_render();
	ck_assert_ptr_null(strstr(t, "subscription=\"s1\""));
	ck_assert(has_line(t, "herald_subscription_attempts_total{subscription=\"s2\",outcome=\"success\"} 1"));
	free(t);
	metrics_set_per_subscription(false);
	metrics_set_per_subscription(true);
	t = metrics_render();
	ck_assert_ptr_null(strstr(t, "subscription=\"s2\""));
	free(t);
	metrics_set_per_subscription(false);
}
END_TEST

/* At most METRICS_SUBS_MAX subscriptions; the rest are counted as
 * dropped. */
START_TEST(test_per_subscription_bound)
{
	char id[37], *t, line[128];

	metrics_reset();
	metrics_set_per_subscription(true);
	for (int i = 0; i < METRICS_SUBS_MAX + 3; i++) {
		snprintf(id, sizeof(id), "sub-%d", i);
		metrics_subscription_attempt(id, METRICS_HTTP_5XX);
	}
	metrics_subscription_attempt("sub-0", METRICS_HTTP_5XX); /* known */
	metrics_subscription_attempt("sub-new", METRICS_HTTP_5XX); /* not */
	t = metrics_render();
	ck_assert(has_line(t, "herald_subscription_attempts_total{subscription=\"sub-0\",outcome=\"http_5xx\"} 2"));
	snprintf(line, sizeof(line),
		 "herald_subscription_attempts_total{subscription=\"sub-%d\",outcome=\"http_5xx\"} 1",
		 METRICS_SUBS_MAX - 1);
	ck_assert(has_line(t, line));
	snprintf(line, sizeof(line), "subscription=\"sub-%d\"", METRICS_SUBS_MAX);
	ck_assert_ptr_null(strstr(t, line));
	ck_assert(has_line(t, "herald_subscription_series_dropped_total 4"));
	free(t);
	metrics_set_per_subscription(false);
}
END_TEST

/* A sample forgets the counters of subscriptions it lacks, unless they
 * were first counted after the sample began. */
START_TEST(test_per_subscription_forget)
{
	struct metrics_backlog_sub kept[2] = {{.id = "a"}, {.id = "c"}};
	char *t;

	metrics_reset();
	metrics_set_per_subscription(true);
	metrics_subscription_attempt("a", METRICS_SUCCESS);
	metrics_subscription_attempt("b", METRICS_SUCCESS);
	metrics_subscription_attempt("c", METRICS_SUCCESS);
	metrics_subscriptions_keep(kept, 2, INT64_MAX); /* sampled after all */
	t = metrics_render();
	ck_assert(has_line(t, "herald_subscription_attempts_total{subscription=\"a\",outcome=\"success\"} 1"));
	ck_assert_ptr_null(strstr(t, "subscription=\"b\""));
	ck_assert(has_line(t, "herald_subscription_attempts_total{subscription=\"c\",outcome=\"success\"} 1"));
	free(t);
	metrics_subscription_attempt("d", METRICS_SUCCESS);
	metrics_subscriptions_keep(kept, 2, 0); /* sampled before d began */
	t = metrics_render();
	ck_assert(has_line(t, "herald_subscription_attempts_total{subscription=\"d\",outcome=\"success\"} 1"));
	free(t);
	metrics_set_per_subscription(false);
}
END_TEST

/* Every line is a comment (HELP, TYPE) or a sample of a herald_ metric
 * with a number. */
START_TEST(test_every_line_well_formed)
{
	regex_t sample;
	char *t, *line, *save = NULL;
	int lines = 0;

#define LABEL "[a-z_]+=\"([^\"\\\\\n]|\\\\[\\\\\"n])*\""
	ck_assert_int_eq(regcomp(&sample,
				 "^(# (HELP|TYPE) herald_[a-z_]+ .+|"
				 "herald_[a-z_]+(\\{" LABEL "(," LABEL ")*\\})? "
				 "-?[0-9]+(\\.[0-9]+)?)$",
				 REG_EXTENDED | REG_NOSUB), 0);
#undef LABEL
	metrics_reset();
	metrics_ingest_duration(0.5);
	publish_sample();
	metrics_set_per_subscription(true);
	metrics_subscription_attempt("x\"y", METRICS_CONNECT);
	t = metrics_render();
	metrics_set_per_subscription(false);
	ck_assert(t[strlen(t) - 1] == '\n');
	for (line = strtok_r(t, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		ck_assert_msg(regexec(&sample, line, 0, NULL, 0) == 0,
			      "malformed line: %s", line);
		lines++;
	}
	ck_assert_int_gt(lines, 50);
	regfree(&sample);
	free(t);
}
END_TEST

static Suite *
metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("metrics");

	tcase_add_loop_test(tc, test_outcome_table, 0, NELEM(outcome_cases));
	tcase_add_test(tc, test_counters);
	tcase_add_test(tc, test_histogram);
	tcase_add_test(tc, test_end_to_end);
	tcase_add_test(tc, test_process_gauges);
	tcase_add_test(tc, test_backlog);
	tcase_add_test(tc, test_label_escaping);
	tcase_add_test(tc, test_per_subscription_switch);
	tcase_add_test(tc, test_per_subscription_bound);
	tcase_add_test(tc, test_per_subscription_forget);
	tcase_add_test(tc, test_every_line_well_formed);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(metrics_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
