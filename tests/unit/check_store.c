/* Unit tests for the classification of failed statements (store.c). */
#include <check.h>
#include <stdlib.h>

#include "store.h"

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const struct {
	const char *sqlstate;
	enum store_status want;
} cases[] = {
	/* the session is gone: class 08 and the 57P0x shutdowns */
	{"08000", STORE_GONE},  /* connection_exception */
	{"08003", STORE_GONE},  /* connection_does_not_exist */
	{"08006", STORE_GONE},  /* connection_failure */
	{"08P01", STORE_GONE},  /* protocol_violation */
	{"57P01", STORE_GONE},  /* admin_shutdown */
	{"57P02", STORE_GONE},  /* crash_shutdown */
	{"57P03", STORE_GONE},  /* cannot_connect_now */
	{"57P04", STORE_GONE},  /* database_dropped */
	{"57P05", STORE_GONE},  /* idle_session_timeout */
	/* canceled: statement_timeout, pg_cancel_backend */
	{"57014", STORE_TIMEOUT},
	/* lost to another transaction: worth trying again */
	{"40001", STORE_CONFLICT}, /* serialization_failure */
	{"40P01", STORE_CONFLICT}, /* deadlock_detected */
	/* everything else PostgreSQL refuses */
	{"40002", STORE_QUERY_ERROR}, /* transaction_integrity_constraint_violation */
	{"40003", STORE_QUERY_ERROR}, /* statement_completion_unknown */
	{"57000", STORE_QUERY_ERROR}, /* operator_intervention */
	{"57P06", STORE_GONE},        /* a later 57P0x: still a shutdown */
	{"23505", STORE_QUERY_ERROR}, /* unique_violation */
	{"23514", STORE_QUERY_ERROR}, /* check_violation */
	{"22008", STORE_QUERY_ERROR}, /* datetime_field_overflow */
	{"42703", STORE_QUERY_ERROR}, /* undefined_column */
	{"42501", STORE_QUERY_ERROR}, /* insufficient_privilege */
	{"25P02", STORE_QUERY_ERROR}, /* in_failed_sql_transaction */
	{"53100", STORE_QUERY_ERROR}, /* disk_full */
	{"P0001", STORE_QUERY_ERROR}, /* raise_exception */
	{"XX000", STORE_QUERY_ERROR}, /* internal_error */
	/* no code (an error libpq made itself), or not a code */
	{NULL, STORE_QUERY_ERROR},
	{"", STORE_QUERY_ERROR},
	{"08", STORE_QUERY_ERROR},
	{"0800", STORE_QUERY_ERROR},
	{"080000", STORE_QUERY_ERROR},
	{"57014x", STORE_QUERY_ERROR},
};

START_TEST(test_classify)
{
	ck_assert_msg(store_classify_sqlstate(cases[_i].sqlstate) == cases[_i].want,
		      "SQLSTATE %s: got %d, want %d",
		      cases[_i].sqlstate ? cases[_i].sqlstate : "(null)",
		      (int)store_classify_sqlstate(cases[_i].sqlstate),
		      (int)cases[_i].want);
}
END_TEST

/* A result with no error, or none at all, has no SQLSTATE. */
START_TEST(test_sqlstate_absent)
{
	PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);

	ck_assert_ptr_nonnull(r);
	ck_assert_ptr_null(store_sqlstate(r));
	ck_assert_ptr_null(store_sqlstate(NULL));
	PQclear(r);
}
END_TEST

static Suite *
store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("store");

	tcase_add_loop_test(tc, test_classify, 0, NELEM(cases));
	tcase_add_test(tc, test_sqlstate_absent);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(store_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
