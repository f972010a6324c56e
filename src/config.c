/* Configuration: one table drives the defaults, the config file, the flags and --help. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "xalloc.h"

#ifndef PACKAGE_VERSION
#error "PACKAGE_VERSION must come from the build (autoconf config.h)"
#endif

/* Longest accepted line of a config file, newline excluded. */
#define CONFIG_LINE_MAX 4096

/* Longest piece of a user-supplied value quoted back in an error message. */
#define ECHO_MAX 64

enum option_type {
	OPT_STRING,   /* char *, any text */
	OPT_BOOL,     /* bool: true/false, yes/no, on/off, 1/0 */
	OPT_INT,      /* long: decimal, within [min, max] */
	OPT_DURATION, /* long seconds: decimal with s, m, h or d (none: s) */
	OPT_LOGLEVEL, /* enum log_level: debug, info, warn, error */
	OPT_LOGFORMAT /* enum log_format: text, json */
};

struct setting {
	const char *name;        /* file key; the flag is --name with '-' for '_' */
	enum option_type type;
	enum config_reload reload; /* what SIGHUP does with a change */
	size_t offset;           /* of the field in struct config */
	long min, max;           /* OPT_INT and OPT_DURATION (seconds) only */
	const char *def;         /* default, in the form the file uses */
	const char *placeholder; /* value shown by --help */
	const char *desc;        /* one line for --help */
};

/*
 * THE table of settings.  One row per key: key (also the struct config
 * field), type, whether a change applies on SIGHUP, min, max, default,
 * --help placeholder, description.
 * Keep etc/herald.conf in step: the unit tests check that it names every key.
 */
#define CONFIG_TABLE(X) \
	X(listen, OPT_STRING, RELOAD_RESTART, 0, 0, "127.0.0.1:8080", "HOST:PORT", \
	  "address:port of the HTTP API") \
	X(database_url, OPT_STRING, RELOAD_RESTART, 0, 0, "dbname=herald", "CONNINFO", \
	  "libpq connection string or URI") \
	X(admin_key, OPT_STRING, RELOAD_RESTART, 0, 0, "", "KEY", \
	  "bootstrap admin API key; empty: $HERALD_ADMIN_KEY, else generated " \
	  "once, logged once, stored hashed") \
	X(allow_private_sinks, OPT_BOOL, RELOAD_RESTART, 0, 0, "false", "[BOOL]", \
	  "allow sinks on loopback/private/link-local addresses; the flag alone means true") \
	X(max_event_bytes, OPT_INT, RELOAD_RESTART, 1024, 67108864, "262144", "BYTES", \
	  "largest accepted event body in bytes") \
	X(max_batch_bytes, OPT_INT, RELOAD_RESTART, 1024, 268435456, "4194304", "BYTES", \
	  "largest accepted batch request body in bytes") \
	X(log_level, OPT_LOGLEVEL, RELOAD_LIVE, 0, 0, "info", "LEVEL", \
	  "least severe messages logged: debug, info, warn or error") \
	X(log_format, OPT_LOGFORMAT, RELOAD_LIVE, 0, 0, "text", "FORMAT", \
	  "log lines as text, or json: one object per line with time, " \
	  "level, msg and the ids involved") \
	X(api_threads, OPT_INT, RELOAD_RESTART, 1, 256, "4", "N", \
	  "threads serving the HTTP API") \
	X(db_pool_size, OPT_INT, RELOAD_RESTART, 1, 256, "4", "N", \
	  "API database workers, each with one PostgreSQL connection") \
	X(max_connections, OPT_INT, RELOAD_RESTART, 1, 65536, "1024", "N", \
	  "concurrent HTTP connections") \
	X(connection_timeout, OPT_INT, RELOAD_RESTART, 1, 3600, "30", "SECONDS", \
	  "seconds an idle HTTP connection is kept") \
	X(writer_batch_max, OPT_INT, RELOAD_RESTART, 1, 10000, "512", "N", \
	  "events committed per group-commit transaction at most") \
	X(writers, OPT_INT, RELOAD_RESTART, 1, 16, "2", "N", \
	  "group-commit writer threads, each with its own PostgreSQL " \
	  "connection; one commits while another inserts") \
	X(max_connections_per_ip, OPT_INT, RELOAD_RESTART, 0, 65536, "0", "N", \
	  "concurrent HTTP connections from one address; 0: no limit") \
	X(api_rate, OPT_INT, RELOAD_LIVE, 0, 1000000, "0", "N", \
	  "API requests per second per key (token bucket); 0: no limit") \
	X(api_burst, OPT_INT, RELOAD_LIVE, 0, 1000000, "0", "N", \
	  "API requests a key may make at once above api_rate; 0: api_rate") \
	X(secret_grace, OPT_INT, RELOAD_RESTART, 0, 31536000, "86400", "SECONDS", \
	  "seconds a rotated-out secret keeps signing") \
	X(backlog_alert, OPT_INT, RELOAD_RESTART, 0, 1000000000, "0", "N", \
	  "pending deliveries of one subscription that make herald publish " \
	  "herald.subscription.backlog; 0: never") \
	X(group_max_failures, OPT_INT, RELOAD_RESTART, 1, 1000, "3", "N", \
	  "failed attempts in a row that take a consumer group's member " \
	  "out of rotation") \
	X(group_refused_seconds, OPT_INT, RELOAD_RESTART, 0, 3600, "10", "SECONDS", \
	  "seconds of refused connections that take a consumer group's " \
	  "member out of rotation") \
	X(tls_cert_file, OPT_STRING, RELOAD_LIVE, 0, 0, "", "FILE", \
	  "PEM certificate (then any intermediates) of the API listener, " \
	  "which then speaks only HTTPS; re-read on every SIGHUP; " \
	  "empty: plain HTTP") \
	X(tls_key_file, OPT_STRING, RELOAD_LIVE, 0, 0, "", "FILE", \
	  "PEM private key of tls_cert_file, unencrypted; set with it; " \
	  "re-read on every SIGHUP") \
	X(tls_priorities, OPT_STRING, RELOAD_RESTART, 0, 0, \
	  "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2", "PRIORITIES", \
	  "GnuTLS priority string of the API listener: protocol versions " \
	  "and ciphers offered") \
	X(metrics_listen, OPT_STRING, RELOAD_RESTART, 0, 0, "", "HOST:PORT", \
	  "address:port of a second listener serving only GET /metrics, " \
	  "without a key; empty: none") \
	X(metrics_per_subscription, OPT_BOOL, RELOAD_LIVE, 0, 0, "false", "[BOOL]", \
	  "add per-subscription series (backlog, attempts) to the metrics; " \
	  "the flag alone means true") \
	X(retention, OPT_DURATION, RELOAD_RESTART, 0, 315360000, "7d", "DURATION", \
	  "how long events, deliveries and attempts are kept once " \
	  "finished (a partition goes whole once all it holds is that " \
	  "old); s, m, h or d; 0: for ever") \
	X(partition_interval, OPT_DURATION, RELOAD_RESTART, 1, 31536000, "1d", \
	  "DURATION", "the time one storage partition covers: a new one " \
	  "opens this often; s, m, h or d") \
	X(relay_from, OPT_STRING, RELOAD_RESTART, 0, 0, "", "CONNINFOS", \
	  "producer databases whose emitted events herald relays: libpq " \
	  "connection strings separated by ';'; empty: none") \
	X(relay_slot, OPT_STRING, RELOAD_RESTART, 0, 0, "herald", "NAME", \
	  "the logical replication slot herald reads on each relay_from " \
	  "database, created (pgoutput) when missing") \
	X(relay_lag_warn, OPT_INT, RELOAD_RESTART, 0, 1099511627776, \
	  "1073741824", "BYTES", \
	  "bytes of WAL a relay's slot holds past which herald warns; " \
	  "0: never")

#define OPTION_ROW(key, type, reload, min, max, def, ph, desc) \
	{#key, type, reload, offsetof(struct config, key), min, max, def, ph, \
	 desc},
#define NAME_ROW(key, ...) #key,

static const struct setting options[] = {CONFIG_TABLE(OPTION_ROW)};
static const char *const key_names[] = {CONFIG_TABLE(NAME_ROW) NULL};

#define N_OPTIONS (sizeof(options) / sizeof(options[0]))

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static const struct setting *
find_option(const char *key)
{
	for (size_t i = 0; i < N_OPTIONS; i++)
		if (strcmp(options[i].name, key) == 0)
			return &options[i];
	return NULL;
}

/* Is flag (len bytes, without the leading "--") the dashed form of name? */
static bool
flag_matches(const char *name, const char *flag, size_t len)
{
	size_t i;

	for (i = 0; i < len && name[i] != '\0'; i++) {
		char want = name[i] == '_' ? '-' : name[i];

		if (flag[i] != want)
			return false;
	}
	return i == len && name[i] == '\0';
}

static const struct setting *
find_flag(const char *flag, size_t len)
{
	for (size_t i = 0; i < N_OPTIONS; i++)
		if (flag_matches(options[i].name, flag, len))
			return &options[i];
	return NULL;
}

static bool
parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

/* Decimal only, the whole string: an optional '-' then digits. */
static bool
parse_decimal(const char *s, long *out, bool *overflow)
{
	const char *p = s;
	char *end;
	long v;

	*overflow = false;
	if (*p == '-')
		p++;
	if (!isdigit((unsigned char)*p))
		return false;
	for (; *p != '\0'; p++)
		if (!isdigit((unsigned char)*p))
			return false;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno == ERANGE)
		*overflow = true;
	*out = v;
	return *end == '\0';
}

/* A duration: a decimal number of seconds, or of minutes, hours or days
 * with the suffix m, h or d (s for seconds is allowed). */
static bool
parse_duration(const char *s, long *out, bool *overflow)
{
	size_t len = strlen(s);
	char num[32];
	long unit = 1, v;

	*overflow = false;
	if (len == 0 || len >= sizeof(num))
		return false;
	switch (s[len - 1]) {
	case 's':
		unit = 1;
		len--;
		break;
	case 'm':
		unit = 60;
		len--;
		break;
	case 'h':
		unit = 3600;
		len--;
		break;
	case 'd':
		unit = 86400;
		len--;
		break;
	default:
		break;
	}
	memcpy(num, s, len);
	num[len] = '\0';
	if (len == 0 || num[0] == '-' || !parse_decimal(num, &v, overflow))
		return false;
	if (*overflow || v > LONG_MAX / unit) {
		*overflow = true;
		return true;
	}
	*out = v * unit;
	return true;
}

/* seconds in the largest unit that shows them exactly */
static void
duration_text(long v, char *buf, size_t len)
{
	if (v != 0 && v % 86400 == 0)
		snprintf(buf, len, "%ldd", v / 86400);
	else if (v != 0 && v % 3600 == 0)
		snprintf(buf, len, "%ldh", v / 3600);
	else if (v != 0 && v % 60 == 0)
		snprintf(buf, len, "%ldm", v / 60);
	else
		snprintf(buf, len, "%lds", v);
}

/*
 * Validate value for opt and store it in c.  label names the setting in
 * messages (the key, or the flag).  On error c is unchanged.
 */
static int
set_option(struct config *c, const struct setting *opt, const char *label,
	   const char *value, char *err, size_t errlen)
{
	char *field = (char *)c + opt->offset;
	bool b;
	bool overflow;
	long n;
	enum log_level level;
	enum log_format format;

	switch (opt->type) {
	case OPT_STRING: {
		char **sp = (char **)(void *)field;

		free(*sp);
		*sp = xstrdup(value);
		return 0;
	}
	case OPT_BOOL:
		if (!parse_bool(value, &b)) {
			seterr(err, errlen,
			       "invalid value \"%.*s\" for %s: expected true or false",
			       ECHO_MAX, value, label);
			return -1;
		}
		*(bool *)(void *)field = b;
		return 0;
	case OPT_INT:
		if (!parse_decimal(value, &n, &overflow)) {
			seterr(err, errlen,
			       "invalid value \"%.*s\" for %s: expected a decimal integer",
			       ECHO_MAX, value, label);
			return -1;
		}
		if (overflow || n < opt->min || n > opt->max) {
			seterr(err, errlen,
			       "value %.*s for %s is out of range (%ld..%ld)",
			       ECHO_MAX, value, label, opt->min, opt->max);
			return -1;
		}
		*(long *)(void *)field = n;
		return 0;
	case OPT_DURATION:
		if (!parse_duration(value, &n, &overflow)) {
			seterr(err, errlen,
			       "invalid value \"%.*s\" for %s: expected a duration "
			       "(a whole number with s, m, h or d)",
			       ECHO_MAX, value, label);
			return -1;
		}
		if (overflow || n < opt->min || n > opt->max) {
			char lo[24], hi[24];

			duration_text(opt->min, lo, sizeof(lo));
			duration_text(opt->max, hi, sizeof(hi));
			seterr(err, errlen,
			       "value %.*s for %s is out of range (%s..%s)",
			       ECHO_MAX, value, label, lo, hi);
			return -1;
		}
		*(long *)(void *)field = n;
		return 0;
	case OPT_LOGLEVEL:
		if (!log_level_parse(value, &level)) {
			seterr(err, errlen,
			       "invalid value \"%.*s\" for %s: expected debug, info, warn or error",
			       ECHO_MAX, value, label);
			return -1;
		}
		*(enum log_level *)(void *)field = level;
		return 0;
	case OPT_LOGFORMAT:
		if (!log_format_parse(value, &format)) {
			seterr(err, errlen,
			       "invalid value \"%.*s\" for %s: expected text or json",
			       ECHO_MAX, value, label);
			return -1;
		}
		*(enum log_format *)(void *)field = format;
		return 0;
	}
	seterr(err, errlen, "internal error: bad type for %s", label);
	return -1;
}

void
config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < N_OPTIONS; i++) {
		if (set_option(c, &options[i], options[i].name, options[i].def,
			       NULL, 0) != 0)
			abort(); /* a bad default in the table */
	}
}

int
config_set(struct config *c, const char *key, const char *value, char *err,
	   size_t errlen)
{
	const struct setting *opt = find_option(key);

	if (opt == NULL) {
		seterr(err, errlen, "unknown key \"%.*s\"", ECHO_MAX, key);
		return -1;
	}
	return set_option(c, opt, opt->name, value, err, errlen);
}

void
config_free(struct config *c)
{
	for (size_t i = 0; i < N_OPTIONS; i++) {
		if (options[i].type == OPT_STRING) {
			char **sp = (char **)(void *)((char *)c + options[i].offset);

			free(*sp);
			*sp = NULL;
		}
	}
}

const char *const *
config_key_names(void)
{
	return key_names;
}

enum config_reload
config_key_reload(const char *key)
{
	const struct setting *opt = find_option(key);

	return opt ? opt->reload : RELOAD_RESTART;
}

bool
config_key_differs(const struct config *a, const struct config *b,
		   const char *key)
{
	const struct setting *opt = find_option(key);
	const char *fa, *fb;

	if (opt == NULL)
		return false;
	fa = (const char *)a + opt->offset;
	fb = (const char *)b + opt->offset;
	switch (opt->type) {
	case OPT_STRING: {
		const char *sa = *(char *const *)(const void *)fa;
		const char *sb = *(char *const *)(const void *)fb;

		return strcmp(sa ? sa : "", sb ? sb : "") != 0;
	}
	case OPT_BOOL:
		return *(const bool *)(const void *)fa != *(const bool *)(const void *)fb;
	case OPT_INT:
	case OPT_DURATION:
		return *(const long *)(const void *)fa != *(const long *)(const void *)fb;
	case OPT_LOGLEVEL:
		return *(const enum log_level *)(const void *)fa !=
		       *(const enum log_level *)(const void *)fb;
	case OPT_LOGFORMAT:
		return *(const enum log_format *)(const void *)fa !=
		       *(const enum log_format *)(const void *)fb;
	}
	return false;
}

void
config_copy_key(struct config *dst, const struct config *src, const char *key)
{
	const struct setting *opt = find_option(key);
	char buf[64];

	if (opt == NULL)
		return;
	if (opt->type == OPT_STRING) {
		char **d = (char **)(void *)((char *)dst + opt->offset);
		char *const *sp = (char *const *)(const void *)((const char *)src +
								 opt->offset);

		free(*d);
		*d = *sp ? xstrdup(*sp) : NULL;
		return;
	}
	config_value_text(src, key, buf, sizeof(buf));
	if (set_option(dst, opt, opt->name, buf, NULL, 0) != 0)
		abort(); /* a value of the same table refused */
}

void
config_value_text(const struct config *c, const char *key, char *buf,
		  size_t len)
{
	const struct setting *opt = find_option(key);
	const char *field;

	if (len == 0)
		return;
	buf[0] = '\0';
	if (opt == NULL)
		return;
	field = (const char *)c + opt->offset;
	switch (opt->type) {
	case OPT_STRING: {
		const char *s = *(char *const *)(const void *)field;

		snprintf(buf, len, "%s", s ? s : "");
		break;
	}
	case OPT_BOOL:
		snprintf(buf, len, "%s",
			 *(const bool *)(const void *)field ? "true" : "false");
		break;
	case OPT_INT:
		snprintf(buf, len, "%ld", *(const long *)(const void *)field);
		break;
	case OPT_DURATION:
		duration_text(*(const long *)(const void *)field, buf, len);
		break;
	case OPT_LOGLEVEL:
		snprintf(buf, len, "%s", log_level_name(
				 *(const enum log_level *)(const void *)field));
		break;
	case OPT_LOGFORMAT:
		snprintf(buf, len, "%s", log_format_name(
				 *(const enum log_format *)(const void *)field));
		break;
	}
}

void
config_copy(struct config *dst, const struct config *src)
{
	*dst = *src;
	for (size_t i = 0; i < N_OPTIONS; i++) {
		if (options[i].type == OPT_STRING) {
			char **sp = (char **)(void *)((char *)dst + options[i].offset);

			*sp = *sp ? xstrdup(*sp) : NULL;
		}
	}
}

enum read_result {
	READ_LINE,
	READ_EOF,
	READ_TOO_LONG,
	READ_NUL,
	READ_ERROR
};

/* Read one line (newline dropped) into buf of CONFIG_LINE_MAX + 1 bytes. */
static enum read_result
read_line(FILE *f, char *buf)
{
	size_t len = 0;
	int ch;

	while ((ch = getc(f)) != EOF && ch != '\n') {
		if (ch == '\0')
			return READ_NUL;
		if (len == CONFIG_LINE_MAX)
			return READ_TOO_LONG;
		buf[len++] = (char)ch;
	}
	buf[len] = '\0';
	if (ch == EOF) {
		if (ferror(f))
			return READ_ERROR;
		if (len == 0)
			return READ_EOF;
	}
	return READ_LINE;
}

static char *
skip_space(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	return s;
}

/*
 * Split one line into key and value, in place.  Returns 1 for a setting,
 * 0 for a blank or comment line, -1 with a message in err.
 */
static int
parse_line(char *line, char **keyp, char **valuep, char *err, size_t errlen)
{
	char *p = skip_space(line);
	char *key;
	char *end;

	if (*p == '\0' || *p == '#')
		return 0;
	if (*p == '=') {
		seterr(err, errlen, "missing key before \"=\"");
		return -1;
	}
	key = p;
	while (*p != '\0' && *p != '=' && !isspace((unsigned char)*p))
		p++;
	end = p;
	p = skip_space(p);
	if (*p != '=') {
		*end = '\0';
		seterr(err, errlen, "missing \"=\" after \"%.*s\"", ECHO_MAX, key);
		return -1;
	}
	*end = '\0';
	p = skip_space(p + 1);
	*keyp = key;

	if (*p == '"') {
		/* unescape in place: the output never outgrows the input */
		char *out = p;

		*valuep = out;
		for (p++; *p != '"'; p++) {
			if (*p == '\0') {
				seterr(err, errlen, "unterminated quoted value");
				return -1;
			}
			if (*p == '\\') {
				p++;
				if (*p != '"' && *p != '\\') {
					seterr(err, errlen,
					       "invalid escape in quoted value: only \\\" and \\\\ are allowed");
					return -1;
				}
			}
			*out++ = *p;
		}
		*out = '\0';
		p = skip_space(p + 1);
		if (*p != '\0' && *p != '#') {
			seterr(err, errlen, "unexpected text after quoted value");
			return -1;
		}
		return 1;
	}

	/* unquoted: '#' starts a comment at the start or after whitespace */
	*valuep = p;
	for (end = p; *end != '\0'; end++)
		if (*end == '#' && (end == p || isspace((unsigned char)end[-1])))
			break;
	while (end > p && isspace((unsigned char)end[-1]))
		end--;
	*end = '\0';
	return 1;
}

static int
load_stream(struct config *c, FILE *f, const char *path, char *err,
	    size_t errlen)
{
	char line[CONFIG_LINE_MAX + 1];
	char msg[512];
	int lineno = 0;

	for (;;) {
		enum read_result r = read_line(f, line);
		char *key, *value;
		int rc;

		lineno++;
		switch (r) {
		case READ_EOF:
			return 0;
		case READ_TOO_LONG:
			seterr(err, errlen, "%s:%d: line longer than %d bytes",
			       path, lineno, CONFIG_LINE_MAX);
			return -1;
		case READ_NUL:
			seterr(err, errlen, "%s:%d: nul byte in line", path,
			       lineno);
			return -1;
		case READ_ERROR:
			seterr(err, errlen, "%s:%d: could not read file: %s",
			       path, lineno, strerror(errno));
			return -1;
		case READ_LINE:
			break;
		}
		rc = parse_line(line, &key, &value, msg, sizeof(msg));
		if (rc == 1)
			rc = config_set(c, key, value, msg, sizeof(msg)) == 0 ? 0 : -1;
		if (rc < 0) {
			seterr(err, errlen, "%s:%d: %s", path, lineno, msg);
			return -1;
		}
	}
}

int
config_load_file(struct config *c, const char *path, char *err, size_t errlen)
{
	struct config tmp;
	FILE *f;
	int rc;

	f = fopen(path, "r");
	if (f == NULL) {
		seterr(err, errlen, "%s: could not open file: %s", path,
		       strerror(errno));
		return -1;
	}
	config_copy(&tmp, c);
	rc = load_stream(&tmp, f, path, err, errlen);
	fclose(f);
	if (rc != 0) {
		config_free(&tmp);
		return -1;
	}
	config_free(c);
	*c = tmp;
	return 0;
}

#define HELP_INDENT 33
#define HELP_WIDTH 79

/* Print text from column col (at least HELP_INDENT), wrapping under it. */
static void
print_wrapped(FILE *out, const char *text, size_t col)
{
	const char *p = text;

	while (*p != '\0') {
		size_t word = strcspn(p, " ");

		if (col > HELP_INDENT && col + 1 + word > HELP_WIDTH) {
			fprintf(out, "\n%*s", HELP_INDENT, "");
			col = HELP_INDENT;
		} else if (col > HELP_INDENT) {
			fputc(' ', out);
			col++;
		}
		fprintf(out, "%.*s", (int)word, p);
		col += word;
		p += word;
		while (*p == ' ')
			p++;
	}
	fputc('\n', out);
}

static void
print_help(FILE *out)
{
	char left[128];

	fprintf(out,
		"usage: herald [-c FILE] [--SETTING VALUE]...\n"
		"Receive CloudEvents over HTTP, store them in PostgreSQL and deliver them\n"
		"as signed webhooks.\n"
		"\n"
		"  -c, --config FILE              read settings from FILE; flags override it\n"
		"  -h, --help                     print this help and exit\n"
		"  -V, --version                  print the version and exit\n"
		"\n"
		"Settings: each is a key of the config file (with '_' for '-') and a flag,\n"
		"given as --setting VALUE or --setting=VALUE.\n"
		"\n");
	for (size_t i = 0; i < N_OPTIONS; i++) {
		const struct setting *opt = &options[i];
		size_t n;

		n = (size_t)snprintf(left, sizeof(left), "  --");
		for (const char *s = opt->name; *s != '\0' && n + 1 < sizeof(left); s++)
			left[n++] = *s == '_' ? '-' : *s;
		left[n] = '\0';
		snprintf(left + n, sizeof(left) - n, " %s", opt->placeholder);
		if (strlen(left) < HELP_INDENT)
			fprintf(out, "%-*s", HELP_INDENT, left);
		else
			fprintf(out, "%s\n%*s", left, HELP_INDENT, "");
		print_wrapped(out, opt->desc, HELP_INDENT);
		fprintf(out, "%*s(", HELP_INDENT, "");
		if (opt->type == OPT_INT)
			fprintf(out, "%ld..%ld, ", opt->min, opt->max);
		if (opt->type == OPT_DURATION) {
			char lo[24], hi[24];

			duration_text(opt->min, lo, sizeof(lo));
			duration_text(opt->max, hi, sizeof(hi));
			fprintf(out, "%s..%s, ", lo, hi);
		}
		fprintf(out, "default: %s%s)\n", opt->def[0] ? opt->def : "empty",
			opt->reload == RELOAD_LIVE ? "; reloads on SIGHUP" : "");
	}
}

static void usage_error(FILE *errout, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A command-line mistake: the message, then where to look. */
static void
usage_error(FILE *errout, const char *fmt, ...)
{
	va_list ap;

	if (errout == NULL)
		return;
	fputs("herald: ", errout);
	va_start(ap, fmt);
	vfprintf(errout, fmt, ap);
	va_end(ap);
	fputs("\ntry herald --help\n", errout);
}

/* What one command-line argument (with its value, if separate) asks for. */
enum arg_kind {
	ARG_SETTING,
	ARG_CONFIG,
	ARG_HELP,
	ARG_VERSION
};

struct arg {
	enum arg_kind kind;
	const struct setting *opt; /* ARG_SETTING */
	const char *value;        /* ARG_SETTING, ARG_CONFIG */
	int used;                 /* argv entries consumed */
};

/* Split argv[i] into *a; -1 after printing a usage error. */
static int
split_arg(int argc, char **argv, int i, struct arg *a, FILE *errout)
{
	const char *arg = argv[i];
	const char *next = i + 1 < argc ? argv[i + 1] : NULL;
	const char *eq;
	size_t len;

	a->opt = NULL;
	a->value = NULL;
	a->used = 1;
	if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
		a->kind = ARG_HELP;
		return 0;
	}
	if (strcmp(arg, "-V") == 0 || strcmp(arg, "--version") == 0) {
		a->kind = ARG_VERSION;
		return 0;
	}
	if (strcmp(arg, "-c") == 0 || strcmp(arg, "--config") == 0) {
		if (next == NULL) {
			usage_error(errout, "option %.*s needs a file name",
				    ECHO_MAX, arg);
			return -1;
		}
		a->kind = ARG_CONFIG;
		a->value = next;
		a->used = 2;
		return 0;
	}
	if (strncmp(arg, "--config=", 9) == 0) {
		a->kind = ARG_CONFIG;
		a->value = arg + 9;
		return 0;
	}
	if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
		if (arg[0] == '-')
			usage_error(errout, "unknown option \"%.*s\"", ECHO_MAX, arg);
		else
			usage_error(errout, "unexpected argument \"%.*s\"", ECHO_MAX, arg);
		return -1;
	}
	eq = strchr(arg, '=');
	len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
	a->kind = ARG_SETTING;
	a->opt = find_flag(arg + 2, len);
	if (a->opt == NULL) {
		usage_error(errout, "unknown option \"%.*s\"", ECHO_MAX, arg);
		return -1;
	}
	if (eq != NULL) {
		a->value = eq + 1;
	} else if (a->opt->type == OPT_BOOL &&
		   (next == NULL || next[0] == '-')) {
		a->value = "true";
	} else if (next == NULL) {
		usage_error(errout, "option %.*s needs a value", ECHO_MAX, arg);
		return -1;
	} else {
		a->value = next;
		a->used = 2;
	}
	return 0;
}

/* Set every --setting of argv over *c, in order.  -1 with a message when
 * a value is refused (argv's syntax was checked by the caller). */
static int
apply_flags(struct config *c, int argc, char **argv, char *err, size_t errlen)
{
	char label[128];
	struct arg a;

	for (int i = 1; i < argc; i += a.used) {
		if (split_arg(argc, argv, i, &a, NULL) != 0) {
			seterr(err, errlen, "invalid arguments");
			return -1;
		}
		if (a.kind != ARG_SETTING)
			continue;
		snprintf(label, sizeof(label), "--%s", a.opt->name);
		for (char *s = label; *s != '\0'; s++)
			if (*s == '_')
				*s = '-';
		if (set_option(c, a.opt, label, a.value, err, errlen) != 0)
			return -1;
	}
	return 0;
}

enum config_action
config_from_args(struct config *c, int argc, char **argv, FILE *out,
		 FILE *errout)
{
	const char *config_path = NULL;
	char err[1024];
	struct arg a;
	int i;

	config_defaults(c);

	/* pass 1: check the syntax, act on --help/--version, find -c */
	for (i = 1; i < argc; i += a.used) {
		if (split_arg(argc, argv, i, &a, errout) != 0)
			return CONFIG_EXIT_ERR;
		if (a.kind == ARG_HELP) {
			print_help(out);
			return CONFIG_EXIT_OK;
		}
		if (a.kind == ARG_VERSION) {
			fprintf(out, "herald %s\n", PACKAGE_VERSION);
			return CONFIG_EXIT_OK;
		}
		if (a.kind == ARG_CONFIG)
			config_path = a.value;
	}

	if (config_path != NULL &&
	    config_load_file(c, config_path, err, sizeof(err)) != 0) {
		fprintf(errout, "herald: %s\n", err);
		return CONFIG_EXIT_ERR;
	}

	/* pass 2: flags override the file, in the order given */
	if (apply_flags(c, argc, argv, err, sizeof(err)) != 0) {
		fprintf(errout, "herald: %s\ntry herald --help\n", err);
		return CONFIG_EXIT_ERR;
	}
	return CONFIG_RUN;
}

const char *
config_file_arg(int argc, char **argv)
{
	const char *path = NULL;
	struct arg a;

	for (int i = 1; i < argc; i += a.used) {
		if (split_arg(argc, argv, i, &a, NULL) != 0)
			return NULL;
		if (a.kind == ARG_CONFIG)
			path = a.value;
	}
	return path;
}

int
config_reread(struct config *c, int argc, char **argv, char *err,
	      size_t errlen)
{
	const char *path = config_file_arg(argc, argv);
	struct config tmp;

	if (path == NULL) {
		seterr(err, errlen, "no configuration file was given with -c");
		return -1;
	}
	config_defaults(&tmp);
	if (config_load_file(&tmp, path, err, errlen) != 0 ||
	    apply_flags(&tmp, argc, argv, err, errlen) != 0) {
		config_free(&tmp);
		return -1;
	}
	config_free(c);
	*c = tmp;
	return 0;
}
