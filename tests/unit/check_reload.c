/* Unit tests for what SIGHUP changes: the diff of two configurations, the live keys' hooks, a whole reload (reload.c). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "keylimit.h"
#include "reload.h"

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Changes to make, and the keys the plan must name, in table order. */
static const struct {
	const char *set[4][2];
	const char *live[4];
	const char *restart[4];
} plan_cases[] = {
	{{{NULL}}, {NULL}, {NULL}},
	{{{"log_level", "info"}}, {NULL}, {NULL}}, /* the default again */
	{{{"log_level", "debug"}}, {"log_level"}, {NULL}},
	{{{"listen", "0.0.0.0:1"}}, {NULL}, {"listen"}},
	{{{"api_rate", "5"}, {"listen", "0.0.0.0:1"}, {"log_format", "json"}},
	 {"log_format", "api_rate"}, {"listen"}},
	{{{"database_url", "dbname=x"}, {"admin_key", "k"}, {"api_burst", "2"}},
	 {"api_burst"}, {"database_url", "admin_key"}},
	{{{"max_event_bytes", "2048"}, {"writers", "3"}},
	 {NULL}, {"max_event_bytes", "writers"}},
};

static void
assert_names(const char *const *got, size_t n, const char *const *want)
{
	size_t k = 0;

	for (; k < 4 && want[k] != NULL; k++) {
		ck_assert_msg(k < n, "missing %s", want[k]);
		ck_assert_str_eq(got[k], want[k]);
	}
	ck_assert_uint_eq(n, k);
}

START_TEST(test_plan)
{
	struct config old, next;
	struct reload_plan plan;
	char err[256];

	config_defaults(&old);
	config_defaults(&next);
	for (int k = 0; k < 4 && plan_cases[_i].set[k][0] != NULL; k++)
		ck_assert_int_eq(config_set(&next, plan_cases[_i].set[k][0],
					    plan_cases[_i].set[k][1], err,
					    sizeof(err)), 0);
	reload_plan(&old, &next, &plan);
	assert_names(plan.live, plan.nlive, plan_cases[_i].live);
	assert_names(plan.restart, plan.nrestart, plan_cases[_i].restart);
	config_free(&old);
	config_free(&next);
}
END_TEST

/* A key the table calls live has a hook; the others have none. */
START_TEST(test_every_live_key_has_a_hook)
{
	const char *const *keys = config_key_names();
	int live = 0;

	for (size_t i = 0; keys[i] != NULL; i++) {
		bool is_live = config_key_reload(keys[i]) == RELOAD_LIVE;

		ck_assert_msg(reload_has_hook(keys[i]) == is_live,
			      "%s: live %d, hook %d", keys[i], is_live,
			      reload_has_hook(keys[i]));
		live += is_live;
	}
	ck_assert_int_ge(live, 4);
	ck_assert(!reload_has_hook("no_such_key"));
}
END_TEST

/* Applying copies the live keys only, and the hooks act. */
START_TEST(test_apply)
{
	struct config cur, next;
	struct reload_plan plan;
	long wait = 0;

	config_defaults(&cur);
	config_defaults(&next);
	keylimit_init(cur.api_rate, cur.api_burst);
	for (int i = 0; i < 10; i++)
		ck_assert(keylimit_take(7, &wait));
	ck_assert_int_eq(config_set(&next, "api_rate", "1", NULL, 0), 0);
	ck_assert_int_eq(config_set(&next, "api_burst", "2", NULL, 0), 0);
	ck_assert_int_eq(config_set(&next, "listen", "0.0.0.0:1", NULL, 0), 0);
	ck_assert_int_eq(config_set(&next, "log_level", "error", NULL, 0), 0);
	reload_plan(&cur, &next, &plan);
	reload_apply(&cur, &next, &plan);
	ck_assert_int_eq(cur.api_rate, 1);
	ck_assert_int_eq(cur.api_burst, 2);
	ck_assert_int_eq(cur.log_level, LOG_ERROR);
	ck_assert_str_eq(cur.listen, "127.0.0.1:8080");
	/* the new limit holds at once: a burst of two, then a wait */
	ck_assert(keylimit_take(7, &wait));
	ck_assert(keylimit_take(7, &wait));
	ck_assert(!keylimit_take(7, &wait));
	ck_assert_int_eq(wait, 1);
	/* and is lifted the same way */
	ck_assert_int_eq(config_set(&next, "api_rate", "0", NULL, 0), 0);
	reload_plan(&cur, &next, &plan);
	reload_apply(&cur, &next, &plan);
	for (int i = 0; i < 10; i++)
		ck_assert(keylimit_take(7, &wait));
	/* a second plan against the applied config names the restart key
	 * again: it is still not running */
	reload_plan(&cur, &next, &plan);
	ck_assert_uint_eq(plan.nlive, 0);
	ck_assert_uint_eq(plan.nrestart, 1);
	keylimit_free();
	config_free(&cur);
	config_free(&next);
}
END_TEST

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

/* The whole reload: a good file applies, a bad one or none keeps all. */
START_TEST(test_run)
{
	char path[] = "/tmp/check_reload_XXXXXX";
	int fd = mkstemp(path);
	char *argv[] = {"herald", "-c", path, "--api-burst", "4", NULL};
	char *bare[] = {"herald", NULL};
	struct config cur;

	ck_assert_int_ge(fd, 0);
	close(fd);
	config_defaults(&cur);
	write_file(path, "log_format = json\napi_rate = 3\napi_burst = 9\n"
			 "listen = 127.0.0.1:1\n");
	ck_assert_int_eq(reload_run(&cur, 5, argv), 0);
	ck_assert_int_eq(cur.log_format, LOG_FORMAT_JSON);
	ck_assert_int_eq(cur.api_rate, 3);
	ck_assert_int_eq(cur.api_burst, 4); /* the flag still wins */
	ck_assert_str_eq(cur.listen, "127.0.0.1:8080");

	write_file(path, "log_format = text\napi_rate = x\n");
	ck_assert_int_eq(reload_run(&cur, 5, argv), -1);
	ck_assert_int_eq(cur.log_format, LOG_FORMAT_JSON);
	ck_assert_int_eq(cur.api_rate, 3);

	ck_assert_int_eq(reload_run(&cur, 1, bare), -1);
	ck_assert_int_eq(cur.api_rate, 3);
	unlink(path);
	keylimit_free();
	config_free(&cur);
}
END_TEST

static Suite *
reload_suite(void)
{
	Suite *s = suite_create("reload");
	TCase *tc = tcase_create("reload");

	tcase_add_loop_test(tc, test_plan, 0, NELEM(plan_cases));
	tcase_add_test(tc, test_every_live_key_has_a_hook);
	tcase_add_test(tc, test_apply);
	tcase_add_test(tc, test_run);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(reload_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
