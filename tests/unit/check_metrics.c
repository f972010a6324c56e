/* Unit tests for metrics.c: the outcome of an attempt as a label, and the text exposition. */
#include <check.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

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

/* Every line is a comment (HELP, TYPE) or a sample of a herald_ metric
 * with a number. */
START_TEST(test_every_line_well_formed)
{
	regex_t sample;
	char *t, *line, *save = NULL;
	int lines = 0;

	ck_assert_int_eq(regcomp(&sample,
				 "^(# (HELP|TYPE) herald_[a-z_]+ .+|"
				 "herald_[a-z_]+(\\{[a-z_]+=\"[^\"]*\"\\})? "
				 "-?[0-9]+(\\.[0-9]+)?)$",
				 REG_EXTENDED | REG_NOSUB), 0);
	metrics_reset();
	metrics_ingest_duration(0.5);
	t = metrics_render();
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
