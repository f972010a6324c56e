/* Unit tests for the configuration table: defaults, file, flags, --help. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "config_text.h"

#define ERRLEN 512

/* The keys DESIGN.md fixes and the ones added since, in table order. */
static const char *const want_keys[] = {
	"listen", "database_url", "admin_key", "allow_private_sinks",
	"max_event_bytes", "max_batch_bytes", "log_level", "log_format", "api_threads", "db_pool_size",
	"max_connections", "connection_timeout", "writer_batch_max", "writers",
	"max_connections_per_ip", "api_rate", "api_burst", "secret_grace",
	"backlog_alert", "group_max_failures", "group_refused_seconds",
	"tls_cert_file", "tls_key_file", "tls_priorities",
	"metrics_listen", "metrics_per_subscription",
	"retention", "partition_interval", "relay_from", "relay_slot",
	"relay_lag_warn",
};
#define N_KEYS (sizeof(want_keys) / sizeof(want_keys[0]))

/* Per-test scratch directory (made in the fixture, so per fork too). */
static char tmpdir[64];
static char path_good[128];
static char path_bad[128];
static char path_test[128];

static void
write_file(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "wb");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(text, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

static void
setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/check_config.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(path_good, sizeof(path_good), "%s/good.conf", tmpdir);
	snprintf(path_bad, sizeof(path_bad), "%s/bad.conf", tmpdir);
	snprintf(path_test, sizeof(path_test), "%s/herald.conf", tmpdir);
	write_file(path_good, "listen = file:1\nlog_level = warn\n", 33);
	write_file(path_bad, "listen = a:1\nnope = 1\n", 22);
}

static void
teardown(void)
{
	unlink(path_good);
	unlink(path_bad);
	unlink(path_test);
	rmdir(tmpdir);
}

static void
assert_field(const struct config *c, const char *key, const char *want)
{
	char got[8192];

	ck_assert_msg(config_field_text(c, key, got, sizeof(got)), "no field %s",
		      key);
	ck_assert_msg(strcmp(got, want) == 0, "%s: got \"%s\", want \"%s\"",
		      key, got, want);
}

START_TEST(test_defaults)
{
	struct config c;

	config_defaults(&c);
	ck_assert_str_eq(c.listen, "127.0.0.1:8080");
	ck_assert_str_eq(c.database_url, "dbname=herald");
	ck_assert_str_eq(c.admin_key, "");
	ck_assert(!c.allow_private_sinks);
	ck_assert_int_eq(c.max_event_bytes, 262144);
	ck_assert_int_eq(c.max_batch_bytes, 4194304);
	ck_assert_int_eq(c.log_level, LOG_INFO);
	ck_assert_int_eq(c.api_threads, 4);
	ck_assert_int_eq(c.db_pool_size, 4);
	ck_assert_int_eq(c.max_connections, 1024);
	ck_assert_int_eq(c.connection_timeout, 30);
	ck_assert_int_eq(c.writer_batch_max, 512);
	ck_assert_int_eq(c.writers, 2);
	ck_assert_int_eq(c.max_connections_per_ip, 0);
	ck_assert_int_eq(c.api_rate, 0);
	ck_assert_int_eq(c.api_burst, 0);
	ck_assert_int_eq(c.secret_grace, 86400);
	ck_assert_int_eq(c.backlog_alert, 0);
	ck_assert_int_eq(c.group_max_failures, 3);
	ck_assert_int_eq(c.group_refused_seconds, 10);
	ck_assert_str_eq(c.tls_cert_file, "");
	ck_assert_str_eq(c.tls_key_file, "");
	ck_assert_str_eq(c.tls_priorities,
			 "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2");
	ck_assert_str_eq(c.metrics_listen, "");
	ck_assert(!c.metrics_per_subscription);
	ck_assert_int_eq(c.retention, 7 * 86400);
	ck_assert_int_eq(c.partition_interval, 86400);
	ck_assert_str_eq(c.relay_from, "");
	ck_assert_str_eq(c.relay_slot, "herald");
	ck_assert_int_eq(c.relay_lag_warn, 1073741824);
	config_free(&c);
	ck_assert_ptr_null(c.listen);
	config_free(&c); /* twice is harmless */
}
END_TEST

START_TEST(test_key_names)
{
	const char *const *names = config_key_names();
	struct config c;
	char def[256], err[ERRLEN];
	size_t n;

	config_defaults(&c);
	for (n = 0; names[n] != NULL; n++) {
		ck_assert_uint_lt(n, N_KEYS);
		ck_assert_str_eq(names[n], want_keys[n]);
		/* every key has a default, and it reads back through config_set */
		ck_assert(config_field_text(&c, names[n], def, sizeof(def)));
		ck_assert_int_eq(config_set(&c, names[n], def, err, sizeof(err)), 0);
		assert_field(&c, names[n], def);
	}
	ck_assert_uint_eq(n, N_KEYS);
	config_free(&c);
}
END_TEST

/* Files that load; each sets key to want. */
static const struct file_ok {
	const char *text;
	const char *key;
	const char *want;
} file_ok[] = {
	{"listen = 0.0.0.0:9000\n", "listen", "0.0.0.0:9000"},
	{"  \t listen\t=\t  a:1  \t\n", "listen", "a:1"},
	{"listen=a:1\n", "listen", "a:1"},
	{"# comment\n\n   # indented = comment\n\t\nlisten = x:1\n", "listen", "x:1"},
	{"listen = x:1 # trailing comment\n", "listen", "x:1"},
	{"listen = x:1\t# after a tab\n", "listen", "x:1"},
	{"listen = x#1\n", "listen", "x#1"},
	{"listen = a:1\r\n", "listen", "a:1"},
	{"listen = a:1", "listen", "a:1"},
	{"listen = a:1\nlisten = b:2\n", "listen", "b:2"},
	{"database_url = host=/tmp dbname=x\n", "database_url", "host=/tmp dbname=x"},
	{"database_url = postgresql://u@h/db?sslmode=require\n", "database_url",
	 "postgresql://u@h/db?sslmode=require"},
	{"admin_key = \"a # b  \"\n", "admin_key", "a # b  "},
	{"admin_key = \"q\\\"b\\\\s\"  # comment\n", "admin_key", "q\"b\\s"},
	{"retention = 90m\n", "retention", "90m"},
	{"retention = 3600\n", "retention", "1h"},
	{"retention = 7200s\n", "retention", "2h"},
	{"retention = 0\n", "retention", "0s"},
	{"retention = 3650d\n", "retention", "3650d"},
	{"partition_interval = 1s\n", "partition_interval", "1s"},
	{"partition_interval = 61\n", "partition_interval", "61s"},
	{"partition_interval = 48h\n", "partition_interval", "2d"},
	{"admin_key = \"\"\n", "admin_key", ""},
	{"admin_key =\n", "admin_key", ""},
	{"admin_key = # nothing\n", "admin_key", ""},
	{"admin_key = \"=#\"\n", "admin_key", "=#"},
	{"allow_private_sinks = true\n", "allow_private_sinks", "true"},
	{"allow_private_sinks = yes\n", "allow_private_sinks", "true"},
	{"allow_private_sinks = on\n", "allow_private_sinks", "true"},
	{"allow_private_sinks = 1\n", "allow_private_sinks", "true"},
	{"allow_private_sinks = TRUE\n", "allow_private_sinks", "true"},
	{"allow_private_sinks = on\nallow_private_sinks = false\n",
	 "allow_private_sinks", "false"},
	{"allow_private_sinks = 1\nallow_private_sinks = no\n",
	 "allow_private_sinks", "false"},
	{"allow_private_sinks = 1\nallow_private_sinks = Off\n",
	 "allow_private_sinks", "false"},
	{"allow_private_sinks = yes\nallow_private_sinks = 0\n",
	 "allow_private_sinks", "false"},
	{"allow_private_sinks = \"yes\"\n", "allow_private_sinks", "true"},
	{"max_event_bytes = 1024\n", "max_event_bytes", "1024"},
	{"max_event_bytes = 67108864\n", "max_event_bytes", "67108864"},
	{"max_event_bytes = 0100000\n", "max_event_bytes", "100000"},
	{"log_level = debug\n", "log_level", "debug"},
	{"log_level = error # quiet\n", "log_level", "error"},
	{"log_format = json\n", "log_format", "json"},
	{"log_format = json\nlog_format = text\n", "log_format", "text"},
	{"secret_grace = 0\n", "secret_grace", "0"},
	{"writer_batch_max = 10000\n", "writer_batch_max", "10000"},
	{"writers = 16\n", "writers", "16"},
};

START_TEST(test_file_ok)
{
	const struct file_ok *t = &file_ok[_i];
	struct config c;
	char err[ERRLEN] = "";

	write_file(path_test, t->text, strlen(t->text));
	config_defaults(&c);
	ck_assert_msg(config_load_file(&c, path_test, err, sizeof(err)) == 0,
		      "case %d: %s", _i, err);
	assert_field(&c, t->key, t->want);
	config_free(&c);
}
END_TEST

/* Files that fail: the line named in the message and a piece of it. */
static const struct file_err {
	const char *text;
	size_t len; /* 0: strlen(text) */
	int line;
	const char *msg;
} file_err[] = {
	{"listen = a:1\nlisen = b\n", 0, 2, "unknown key \"lisen\""},
	{"\n\n# c\nlisten a:1\n", 0, 4, "missing \"=\" after \"listen\""},
	{"listen\n", 0, 1, "missing \"=\" after \"listen\""},
	{"listen: a\n", 0, 1, "missing \"=\""},
	{"  = a:1\n", 0, 1, "missing key before \"=\""},
	{"Listen = a:1\n", 0, 1, "unknown key \"Listen\""},
	{"max_event_bytes = 12k\n", 0, 1, "invalid value \"12k\" for max_event_bytes"},
	{"max_event_bytes = 0x400\n", 0, 1, "expected a decimal integer"},
	{"max_event_bytes = +2048\n", 0, 1, "expected a decimal integer"},
	{"max_event_bytes = 2 048\n", 0, 1, "expected a decimal integer"},
	{"max_event_bytes =\n", 0, 1, "expected a decimal integer"},
	{"max_event_bytes = -\n", 0, 1, "expected a decimal integer"},
	{"\nmax_event_bytes = 1023\n", 0, 2,
	 "value 1023 for max_event_bytes is out of range (1024..67108864)"},
	{"max_event_bytes = 67108865\n", 0, 1, "out of range"},
	{"api_threads = 99999999999999999999999\n", 0, 1,
	 "for api_threads is out of range (1..256)"},
	{"api_threads = -1\n", 0, 1, "out of range"},
	{"secret_grace = -1\n", 0, 1, "out of range (0..31536000)"},
	{"retention = 5x\n", 0, 1,
	 "invalid value \"5x\" for retention: expected a duration"},
	{"retention = d\n", 0, 1, "expected a duration"},
	{"retention = -1d\n", 0, 1, "expected a duration"},
	{"retention = 1.5d\n", 0, 1, "expected a duration"},
	{"retention = 3651d\n", 0, 1,
	 "value 3651d for retention is out of range (0s..3650d)"},
	{"retention = 99999999999999999999d\n", 0, 1, "out of range"},
	{"retention = 9999999999999999d\n", 0, 1, "out of range"},
	{"partition_interval = 0\n", 0, 1, "out of range (1s..365d)"},
	{"allow_private_sinks = maybe\n", 0, 1, "expected true or false"},
	{"allow_private_sinks =\n", 0, 1, "expected true or false"},
	{"log_level = verbose\n", 0, 1, "expected debug, info, warn or error"},
	{"log_format = JSON\n", 0, 1, "invalid value \"JSON\" for log_format: expected text or json"},
	{"admin_key = \"abc\n", 0, 1, "unterminated quoted value"},
	{"admin_key = \"abc\\\"\n", 0, 1, "unterminated quoted value"},
	{"admin_key = \"abc\" x\n", 0, 1, "unexpected text after quoted value"},
	{"admin_key = \"a\\nb\"\n", 0, 1, "invalid escape"},
	{"listen = a\0b\n", 13, 1, "nul byte"},
	{"# ok\n\n\nlisten = a:1\nmax_connections = 0\n", 0, 5, "out of range"},
};

START_TEST(test_file_err)
{
	const struct file_err *t = &file_err[_i];
	size_t len = t->len ? t->len : strlen(t->text);
	struct config c;
	char err[ERRLEN] = "";
	char prefix[256];

	write_file(path_test, t->text, len);
	config_defaults(&c);
	ck_assert_msg(config_load_file(&c, path_test, err, sizeof(err)) == -1,
		      "case %d loaded", _i);
	snprintf(prefix, sizeof(prefix), "%s:%d: ", path_test, t->line);
	ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0,
		      "case %d: \"%s\" does not start with \"%s\"", _i, err, prefix);
	ck_assert_msg(strstr(err, t->msg) != NULL,
		      "case %d: \"%s\" lacks \"%s\"", _i, err, t->msg);
	/* a failed load leaves the config as it was */
	assert_field(&c, "listen", "127.0.0.1:8080");
	assert_field(&c, "max_connections", "1024");
	config_free(&c);
}
END_TEST

START_TEST(test_file_line_length)
{
	char line[4200];
	char err[ERRLEN] = "";
	char prefix[256];
	struct config c;
	size_t head = strlen("admin_key = ");

	/* exactly 4096 bytes before the newline: accepted */
	memcpy(line, "admin_key = ", head);
	memset(line + head, 'k', 4096 - head);
	line[4096] = '\n';
	write_file(path_test, line, 4097);
	config_defaults(&c);
	ck_assert_int_eq(config_load_file(&c, path_test, err, sizeof(err)), 0);
	ck_assert_uint_eq(strlen(c.admin_key), 4096 - head);

	/* one more, on line 2: refused */
	line[0] = '\n';
	memcpy(line + 1, "admin_key = ", head);
	memset(line + 1 + head, 'k', 4097 - head);
	line[4098] = '\n';
	write_file(path_test, line, 4099);
	ck_assert_int_eq(config_load_file(&c, path_test, err, sizeof(err)), -1);
	snprintf(prefix, sizeof(prefix), "%s:2: line longer than 4096 bytes",
		 path_test);
	ck_assert_str_eq(err, prefix);
	ck_assert_uint_eq(strlen(c.admin_key), 4096 - head);
	config_free(&c);
}
END_TEST

START_TEST(test_file_unreadable)
{
	char missing[256];
	char err[ERRLEN] = "";
	struct config c;

	config_defaults(&c);
	snprintf(missing, sizeof(missing), "%s/missing.conf", tmpdir);
	ck_assert_int_eq(config_load_file(&c, missing, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, missing));
	ck_assert_ptr_nonnull(strstr(err, "could not open file"));

	/* a directory opens, then cannot be read */
	ck_assert_int_eq(config_load_file(&c, tmpdir, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "could not read file"));

	/* an empty file changes nothing */
	write_file(path_test, "", 0);
	ck_assert_int_eq(config_load_file(&c, path_test, err, sizeof(err)), 0);
	assert_field(&c, "listen", "127.0.0.1:8080");
	config_free(&c);
}
END_TEST

/* Every integer key at and just past both ends of its range. */
static const struct range {
	const char *key;
	long min, max;
} ranges[] = {
	{"max_event_bytes", 1024, 67108864},
	{"api_threads", 1, 256},
	{"db_pool_size", 1, 256},
	{"max_connections", 1, 65536},
	{"connection_timeout", 1, 3600},
	{"writer_batch_max", 1, 10000},
	{"writers", 1, 16},
	{"max_connections_per_ip", 0, 65536},
	{"api_rate", 0, 1000000},
	{"api_burst", 0, 1000000},
	{"secret_grace", 0, 31536000},
	{"backlog_alert", 0, 1000000000},
};

START_TEST(test_ranges)
{
	const struct range *t = &ranges[_i];
	struct config c;
	char v[32], err[ERRLEN];
	char want[128];

	config_defaults(&c);
	snprintf(v, sizeof(v), "%ld", t->min);
	ck_assert_int_eq(config_set(&c, t->key, v, err, sizeof(err)), 0);
	assert_field(&c, t->key, v);
	snprintf(v, sizeof(v), "%ld", t->max);
	ck_assert_int_eq(config_set(&c, t->key, v, err, sizeof(err)), 0);
	assert_field(&c, t->key, v);

	snprintf(v, sizeof(v), "%ld", t->min - 1);
	ck_assert_int_eq(config_set(&c, t->key, v, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "value %ld for %s is out of range (%ld..%ld)",
		 t->min - 1, t->key, t->min, t->max);
	ck_assert_str_eq(err, want);
	snprintf(v, sizeof(v), "%ld", t->max + 1);
	ck_assert_int_eq(config_set(&c, t->key, v, err, sizeof(err)), -1);
	/* a refused value leaves the last good one */
	snprintf(v, sizeof(v), "%ld", t->max);
	assert_field(&c, t->key, v);
	config_free(&c);
}
END_TEST

START_TEST(test_set)
{
	struct config c;
	char err[ERRLEN] = "";

	config_defaults(&c);
	ck_assert_int_eq(config_set(&c, "lisen", "x", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "unknown key \"lisen\"");
	ck_assert_int_eq(config_set(&c, "listen", "[::1]:80", err, sizeof(err)), 0);
	ck_assert_str_eq(c.listen, "[::1]:80");
	ck_assert_int_eq(config_set(&c, "log_level", "warn", err, sizeof(err)), 0);
	ck_assert_int_eq(c.log_level, LOG_WARN);
	ck_assert_int_eq(config_set(&c, "log_level", "loud", NULL, 0), -1);
	ck_assert_int_eq(c.log_level, LOG_WARN);
	/* a short error buffer truncates, never overflows */
	char small[8];
	ck_assert_int_eq(config_set(&c, "api_threads", "x", small, sizeof(small)), -1);
	ck_assert_str_eq(small, "invalid");
	config_free(&c);
}
END_TEST

/* Command lines.  "@good" and "@bad" stand for the fixture's files. */
static const struct args_case {
	const char *argv[8];
	enum config_action want;
	const char *key;   /* RUN: field to check */
	const char *value;
	const char *text;  /* EXIT_OK: in out; EXIT_ERR: in errout */
	bool try_help;     /* EXIT_ERR: errout says try herald --help */
} args_cases[] = {
	{{"herald"}, CONFIG_RUN, "listen", "127.0.0.1:8080", NULL, false},
	{{"herald", "-c", "@good"}, CONFIG_RUN, "listen", "file:1", NULL, false},
	{{"herald", "-c", "@good"}, CONFIG_RUN, "log_level", "warn", NULL, false},
	{{"herald", "--config=@good"}, CONFIG_RUN, "listen", "file:1", NULL, false},
	{{"herald", "--config", "@good"}, CONFIG_RUN, "listen", "file:1", NULL, false},
	{{"herald", "--listen", "flag:2", "-c", "@good"}, CONFIG_RUN, "listen",
	 "flag:2", NULL, false},
	{{"herald", "-c", "@good", "--listen", "flag:2"}, CONFIG_RUN, "listen",
	 "flag:2", NULL, false},
	{{"herald", "--log-level=debug", "--config", "@good"}, CONFIG_RUN,
	 "log_level", "debug", NULL, false},
	{{"herald", "--listen=a=b"}, CONFIG_RUN, "listen", "a=b", NULL, false},
	{{"herald", "--listen="}, CONFIG_RUN, "listen", "", NULL, false},
	{{"herald", "--database-url", "host=x dbname=y"}, CONFIG_RUN,
	 "database_url", "host=x dbname=y", NULL, false},
	{{"herald", "--admin-key", "-starts-with-dash"}, CONFIG_RUN, "admin_key",
	 "-starts-with-dash", NULL, false},
	{{"herald", "--api-threads", "8", "--api-threads", "16"}, CONFIG_RUN,
	 "api_threads", "16", NULL, false},
	{{"herald", "--secret-grace", "0"}, CONFIG_RUN, "secret_grace", "0", NULL,
	 false},
	{{"herald", "--max-connections=65536"}, CONFIG_RUN, "max_connections",
	 "65536", NULL, false},
	{{"herald", "--connection-timeout", "5"}, CONFIG_RUN,
	 "connection_timeout", "5", NULL, false},
	{{"herald", "--writer-batch-max", "1"}, CONFIG_RUN, "writer_batch_max",
	 "1", NULL, false},
	{{"herald", "--writers", "4"}, CONFIG_RUN, "writers", "4", NULL, false},
	{{"herald", "--db-pool-size", "9"}, CONFIG_RUN, "db_pool_size", "9", NULL,
	 false},
	{{"herald", "--max-event-bytes", "2048"}, CONFIG_RUN, "max_event_bytes",
	 "2048", NULL, false},
	{{"herald", "--allow-private-sinks"}, CONFIG_RUN, "allow_private_sinks",
	 "true", NULL, false},
	{{"herald", "--allow-private-sinks", "--listen", "x:1"}, CONFIG_RUN,
	 "allow_private_sinks", "true", NULL, false},
	{{"herald", "--allow-private-sinks", "--listen", "x:1"}, CONFIG_RUN,
	 "listen", "x:1", NULL, false},
	{{"herald", "--allow-private-sinks", "-c", "@good"}, CONFIG_RUN,
	 "allow_private_sinks", "true", NULL, false},
	{{"herald", "--allow-private-sinks", "yes"}, CONFIG_RUN,
	 "allow_private_sinks", "true", NULL, false},
	{{"herald", "--allow-private-sinks", "false"}, CONFIG_RUN,
	 "allow_private_sinks", "false", NULL, false},
	{{"herald", "--allow-private-sinks=no"}, CONFIG_RUN,
	 "allow_private_sinks", "false", NULL, false},
	{{"herald", "--allow-private-sinks=on"}, CONFIG_RUN,
	 "allow_private_sinks", "true", NULL, false},

	{{"herald", "--help"}, CONFIG_EXIT_OK, NULL, NULL, "usage: herald", false},
	{{"herald", "-h"}, CONFIG_EXIT_OK, NULL, NULL, "usage: herald", false},
	{{"herald", "--help", "--bogus"}, CONFIG_EXIT_OK, NULL, NULL,
	 "usage: herald", false},
	{{"herald", "-c", "@bad", "--help"}, CONFIG_EXIT_OK, NULL, NULL,
	 "usage: herald", false},
	{{"herald", "--version"}, CONFIG_EXIT_OK, NULL, NULL,
	 "herald " PACKAGE_VERSION "\n", false},
	{{"herald", "-V"}, CONFIG_EXIT_OK, NULL, NULL,
	 "herald " PACKAGE_VERSION "\n", false},

	{{"herald", "--bogus"}, CONFIG_EXIT_ERR, NULL, NULL,
	 "unknown option \"--bogus\"", true},
	{{"herald", "--bogus=1"}, CONFIG_EXIT_ERR, NULL, NULL,
	 "unknown option \"--bogus=1\"", true},
	{{"herald", "--database_url", "x"}, CONFIG_EXIT_ERR, NULL, NULL,
	 "unknown option \"--database_url\"", true},
	{{"herald", "--listen-x", "x"}, CONFIG_EXIT_ERR, NULL, NULL,
	 "unknown option", true},
	{{"herald", "--liste", "x"}, CONFIG_EXIT_ERR, NULL, NULL,
	 "unknown option", true},
	{{"herald", "-x"}, CONFIG_EXIT_ERR, NULL, NULL, "unknown option \"-x\"",
	 true},
	{{"herald", "--"}, CONFIG_EXIT_ERR, NULL, NULL, "unknown option \"--\"",
	 true},
	{{"herald", "stray"}, CONFIG_EXIT_ERR, NULL, NULL,
	 "unexpected argument \"stray\"", true},
	{{"herald", "--bogus", "--help"}, CONFIG_EXIT_ERR, NULL, NULL,
	 "unknown option", true},
	{{"herald", "--listen", "a:1", "--nope"}, CONFIG_EXIT_ERR, NULL, NULL,
	 "unknown option \"--nope\"", true},
	{{"herald", "--listen"}, CONFIG_EXIT_ERR, NULL, NULL,
	 "option --listen needs a value", true},
	{{"herald", "-c"}, CONFIG_EXIT_ERR, NULL, NULL,
	 "option -c needs a file name", true},
	{{"herald", "--config"}, CONFIG_EXIT_ERR, NULL, NULL,
	 "option --config needs a file name", true},
	{{"herald", "--api-threads", "0"}, CONFIG_EXIT_ERR, NULL, NULL,
	 "value 0 for --api-threads is out of range (1..256)", true},
	{{"herald", "--max-event-bytes=big"}, CONFIG_EXIT_ERR, NULL, NULL,
	 "invalid value \"big\" for --max-event-bytes", true},
	{{"herald", "--allow-private-sinks", "maybe"}, CONFIG_EXIT_ERR, NULL,
	 NULL, "for --allow-private-sinks: expected true or false", true},
	{{"herald", "--log-level", "loud"}, CONFIG_EXIT_ERR, NULL, NULL,
	 "for --log-level", true},
	{{"herald", "-c", "@bad"}, CONFIG_EXIT_ERR, NULL, NULL,
	 "bad.conf:2: unknown key \"nope\"", false},
	{{"herald", "-c", "/nonexistent/herald.conf"}, CONFIG_EXIT_ERR, NULL,
	 NULL, "/nonexistent/herald.conf: could not open file", false},
};

START_TEST(test_args)
{
	const struct args_case *t = &args_cases[_i];
	char bufs[8][256];
	char *argv[9];
	int argc = 0;
	char *outbuf = NULL, *errbuf = NULL;
	size_t outlen = 0, errlen = 0;
	FILE *out = open_memstream(&outbuf, &outlen);
	FILE *errout = open_memstream(&errbuf, &errlen);
	struct config c;
	enum config_action got;

	ck_assert_ptr_nonnull(out);
	ck_assert_ptr_nonnull(errout);
	for (; argc < 8 && t->argv[argc] != NULL; argc++) {
		const char *a = t->argv[argc];
		const char *at = strchr(a, '@');

		/* "@good" and "@bad", alone or after "--config=" */
		if (at != NULL)
			snprintf(bufs[argc], sizeof(bufs[argc]), "%.*s%s",
				 (int)(at - a), a,
				 strcmp(at, "@good") == 0 ? path_good : path_bad);
		else
			snprintf(bufs[argc], sizeof(bufs[argc]), "%s", a);
		argv[argc] = bufs[argc];
	}
	argv[argc] = NULL;

	got = config_from_args(&c, argc, argv, out, errout);
	fclose(out);
	fclose(errout);
	ck_assert_msg(got == t->want, "case %d: action %d, want %d (err: %s)",
		      _i, got, t->want, errbuf);
	switch (t->want) {
	case CONFIG_RUN:
		ck_assert_str_eq(outbuf, "");
		ck_assert_str_eq(errbuf, "");
		assert_field(&c, t->key, t->value);
		break;
	case CONFIG_EXIT_OK:
		ck_assert_str_eq(errbuf, "");
		ck_assert_msg(strstr(outbuf, t->text) != NULL,
			      "case %d: out lacks \"%s\"", _i, t->text);
		if (t->text[0] == 'h') /* --version: nothing else */
			ck_assert_str_eq(outbuf, t->text);
		break;
	case CONFIG_EXIT_ERR:
		ck_assert_str_eq(outbuf, "");
		ck_assert_msg(strncmp(errbuf, "herald: ", 8) == 0,
			      "case %d: \"%s\"", _i, errbuf);
		ck_assert_msg(strstr(errbuf, t->text) != NULL,
			      "case %d: \"%s\" lacks \"%s\"", _i, errbuf, t->text);
		ck_assert_int_eq(strstr(errbuf, "try herald --help") != NULL,
				 t->try_help);
		break;
	}
	free(outbuf);
	free(errbuf);
	config_free(&c);
}
END_TEST

/* --help names every key's flag, then its default and whether it reloads. */
START_TEST(test_help_lists_every_key)
{
	const char *const *names = config_key_names();
	char *argv[] = {"herald", "--help", NULL};
	char *outbuf = NULL;
	size_t outlen = 0;
	FILE *out = open_memstream(&outbuf, &outlen);
	struct config c, d;

	ck_assert_int_eq(config_from_args(&c, 2, argv, out, stderr),
			 CONFIG_EXIT_OK);
	fclose(out);
	config_defaults(&d);
	ck_assert_ptr_nonnull(strstr(outbuf, "-c, --config FILE"));
	ck_assert_ptr_nonnull(strstr(outbuf, "-h, --help"));
	ck_assert_ptr_nonnull(strstr(outbuf, "-V, --version"));
	ck_assert_ptr_nonnull(strstr(outbuf, "--allow-private-sinks [BOOL]"));
	for (size_t i = 0; names[i] != NULL; i++) {
		char flag[128], def[256], want[300];
		const char *at, *paren;
		size_t n = 0;

		n = (size_t)snprintf(flag, sizeof(flag), "\n  --");
		for (const char *s = names[i]; *s != '\0'; s++)
			flag[n++] = *s == '_' ? '-' : *s;
		flag[n++] = ' ';
		flag[n] = '\0';
		at = strstr(outbuf, flag);
		ck_assert_msg(at != NULL, "--help lacks %s", names[i]);
		ck_assert(config_field_text(&d, names[i], def, sizeof(def)));
		snprintf(want, sizeof(want), "default: %s%s)",
			 def[0] ? def : "empty",
			 config_key_reload(names[i]) == RELOAD_LIVE ?
				 "; reloads on SIGHUP" : "");
		paren = strstr(at, "default: ");
		ck_assert_ptr_nonnull(paren);
		ck_assert_msg(strncmp(paren, want, strlen(want)) == 0,
			      "%s: want \"%s\"", names[i], want);
	}
	free(outbuf);
	config_free(&c);
	config_free(&d);
}
END_TEST

/* config_value_text writes every key as the file would give it. */
START_TEST(test_value_text)
{
	const char *const *names = config_key_names();
	struct config c;
	char err[ERRLEN];

	config_defaults(&c);
	ck_assert_int_eq(config_set(&c, "log_format", "json", err, sizeof(err)), 0);
	ck_assert_int_eq(config_set(&c, "api_rate", "17", err, sizeof(err)), 0);
	ck_assert_int_eq(config_set(&c, "allow_private_sinks", "on", err,
				    sizeof(err)), 0);
	for (size_t i = 0; names[i] != NULL; i++) {
		char got[512], want[512];

		config_value_text(&c, names[i], got, sizeof(got));
		ck_assert(config_field_text(&c, names[i], want, sizeof(want)));
		ck_assert_msg(strcmp(got, want) == 0, "%s: \"%s\", want \"%s\"",
			      names[i], got, want);
	}
	config_free(&c);
}
END_TEST

/* One key of each type changed: only it differs, and a copy evens it. */
static const struct {
	const char *key, *value;
} differ_cases[] = {
	{"listen", "127.0.0.1:9"},
	{"admin_key", "k"},
	{"allow_private_sinks", "true"},
	{"api_rate", "3"},
	{"log_level", "error"},
	{"log_format", "json"},
};

START_TEST(test_differs_and_copy)
{
	const char *const *names = config_key_names();
	const char *key = differ_cases[_i].key;
	struct config a, b;
	char err[ERRLEN];

	config_defaults(&a);
	config_defaults(&b);
	ck_assert_int_eq(config_set(&b, key, differ_cases[_i].value, err,
				    sizeof(err)), 0);
	for (size_t i = 0; names[i] != NULL; i++)
		ck_assert_msg(config_key_differs(&a, &b, names[i]) ==
				      (strcmp(names[i], key) == 0),
			      "%s after a change of %s", names[i], key);
	ck_assert(!config_key_differs(&a, &b, "no_such_key"));
	config_copy_key(&a, &b, key);
	for (size_t i = 0; names[i] != NULL; i++)
		ck_assert_msg(!config_key_differs(&a, &b, names[i]), "%s",
			      names[i]);
	assert_field(&a, key, differ_cases[_i].value[0] == 't' ?
		     "true" : differ_cases[_i].value);
	config_free(&a);
	config_free(&b);
}
END_TEST

/* A re-read takes the file as it is now, under the same flags. */
START_TEST(test_reread)
{
	char *argv[] = {"herald", "-c", path_test, "--log-level", "error", NULL};
	char *no_file[] = {"herald", "--log-level", "error", NULL};
	struct config c;
	char err[ERRLEN] = "";
	char prefix[256];

	ck_assert_str_eq(config_file_arg(5, argv), path_test);
	ck_assert_ptr_null(config_file_arg(3, no_file));
	write_file(path_test, "log_level = debug\nlog_format = json\napi_rate = 5\n",
		   49);
	config_defaults(&c);
	ck_assert_msg(config_reread(&c, 5, argv, err, sizeof(err)) == 0, "%s", err);
	assert_field(&c, "log_level", "error"); /* the flag wins */
	assert_field(&c, "log_format", "json");
	assert_field(&c, "api_rate", "5");
	assert_field(&c, "listen", "127.0.0.1:8080");

	/* a bad file: the line in the message, nothing changed */
	write_file(path_test, "api_rate = 9\nlog_format = yaml\n", 31);
	ck_assert_int_eq(config_reread(&c, 5, argv, err, sizeof(err)), -1);
	snprintf(prefix, sizeof(prefix), "%s:2: ", path_test);
	ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0, "%s", err);
	assert_field(&c, "api_rate", "5");
	assert_field(&c, "log_format", "json");

	/* gone: the same */
	unlink(path_test);
	ck_assert_int_eq(config_reread(&c, 5, argv, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "could not open file"));
	assert_field(&c, "api_rate", "5");

	ck_assert_int_eq(config_reread(&c, 3, no_file, err, sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "no configuration file"));
	config_free(&c);
}
END_TEST

static Suite *
config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_key_names);
	tcase_add_loop_test(tc, test_file_ok, 0,
			    (int)(sizeof(file_ok) / sizeof(file_ok[0])));
	tcase_add_loop_test(tc, test_file_err, 0,
			    (int)(sizeof(file_err) / sizeof(file_err[0])));
	tcase_add_test(tc, test_file_line_length);
	tcase_add_test(tc, test_file_unreadable);
	tcase_add_loop_test(tc, test_ranges, 0,
			    (int)(sizeof(ranges) / sizeof(ranges[0])));
	tcase_add_test(tc, test_set);
	tcase_add_loop_test(tc, test_args, 0,
			    (int)(sizeof(args_cases) / sizeof(args_cases[0])));
	tcase_add_test(tc, test_help_lists_every_key);
	tcase_add_test(tc, test_value_text);
	tcase_add_loop_test(tc, test_differs_and_copy, 0,
			    (int)(sizeof(differ_cases) / sizeof(differ_cases[0])));
	tcase_add_test(tc, test_reread);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(config_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
