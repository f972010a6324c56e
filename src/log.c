/* Logging to stderr, as text or JSON lines, with a level threshold and the ids involved. */
#include "log.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/*
 * The level and the format are atomics: a reload (main thread) changes
 * them while every other thread logs.  The request id is the thread's own.
 */
static atomic_int current_level = LOG_INFO;
static atomic_int current_format = LOG_FORMAT_TEXT;
static _Thread_local const char *thread_request;

static const char *const level_names[] = {"debug", "info", "warn", "error"};
static const char *const format_names[] = {"text", "json"};

/* Longest id value written; a longer one is cut (ids are short). */
#define ID_MAX 64

void
log_set_level(enum log_level level)
{
	atomic_store(&current_level, (int)level);
}

void
log_set_format(enum log_format format)
{
	atomic_store(&current_format, (int)format);
}

bool
log_level_parse(const char *s, enum log_level *out)
{
	for (int i = 0; i < 4; i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return true;
		}
	}
	return false;
}

const char *
log_level_name(enum log_level level)
{
	return (unsigned)level < 4 ? level_names[level] : "?";
}

bool
log_format_parse(const char *s, enum log_format *out)
{
	for (int i = 0; i < 2; i++) {
		if (strcmp(s, format_names[i]) == 0) {
			*out = (enum log_format)i;
			return true;
		}
	}
	return false;
}

const char *
log_format_name(enum log_format format)
{
	return (unsigned)format < 2 ? format_names[format] : "?";
}

void
log_set_request(const char *id)
{
	thread_request = id;
}

/* --- formatting (pure) --- */

/* A line being built: never written past cap - 1, always terminated. */
struct out {
	char *buf;
	size_t len, cap;
};

static bool
put(struct out *o, const char *s, size_t n)
{
	if (o->len + n >= o->cap)
		return false;
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
	return true;
}

static void
puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

/* Length of the well-formed UTF-8 sequence at s (1..4), or 0 (RFC 3629:
 * no overlong forms, no surrogates, nothing past U+10FFFF). */
static size_t
utf8_len(const unsigned char *s)
{
	unsigned char c = s[0];

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		unsigned char lo = c == 0xe0 ? 0xa0 : 0x80;
		unsigned char hi = c == 0xed ? 0x9f : 0xbf;

		return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 ? 3 : 0;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		unsigned char lo = c == 0xf0 ? 0x90 : 0x80;
		unsigned char hi = c == 0xf4 ? 0x8f : 0xbf;

		return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 &&
		       (s[3] & 0xc0) == 0x80 ? 4 : 0;
	}
	return 0;
}

/*
 * The escaped form of the character at *sp into unit (at most 7 bytes);
 * advances *sp.  JSON: quotes, backslashes and control characters
 * escaped, invalid UTF-8 as \ufffd.  Text: control characters and
 * invalid bytes as \n, \t, \r or \xNN, the rest as it is.
 */
static size_t
escape_one(const char **sp, enum log_format f, char *unit)
{
	const unsigned char *s = (const unsigned char *)*sp;
	size_t n = utf8_len(s);

	if (n == 0) {
		*sp += 1;
		if (f == LOG_FORMAT_JSON)
			return (size_t)sprintf(unit, "\\ufffd");
		return (size_t)sprintf(unit, "\\x%02x", s[0]);
	}
	*sp += n;
	if (s[0] < 0x20 || s[0] == 0x7f) {
		switch (s[0]) {
		case '\n':
			return (size_t)sprintf(unit, "\\n");
		case '\t':
			return (size_t)sprintf(unit, "\\t");
		case '\r':
			return (size_t)sprintf(unit, "\\r");
		default:
			if (f == LOG_FORMAT_JSON)
				return (size_t)sprintf(unit, "\\u%04x", s[0]);
			return (size_t)sprintf(unit, "\\x%02x", s[0]);
		}
	}
	if (f == LOG_FORMAT_JSON && (s[0] == '"' || s[0] == '\\')) {
		unit[0] = '\\';
		unit[1] = (char)s[0];
		return 2;
	}
	memcpy(unit, s, n);
	return n;
}

/* Append s escaped, at most max_in bytes of it, keeping reserve bytes of
 * o free; a cut is marked with "...". */
static void
put_escaped(struct out *o, const char *s, size_t max_in, enum log_format f,
	    size_t reserve)
{
	const char *start = s;
	char unit[8];

	while (*s != '\0') {
		size_t n = escape_one(&s, f, unit);

		if ((size_t)(s - start) > max_in ||
		    o->len + n + 3 + reserve >= o->cap) {
			put(o, "...", 3);
			return;
		}
		put(o, unit, n);
	}
}

static void
put_id(struct out *o, enum log_format f, const char *key, const char *value)
{
	if (f == LOG_FORMAT_JSON) {
		puts_(o, ",\"");
		puts_(o, key);
		puts_(o, "\":\"");
		put_escaped(o, value, ID_MAX, f, 1);
		puts_(o, "\"");
	} else {
		puts_(o, " ");
		puts_(o, key);
		puts_(o, "=");
		put_escaped(o, value, ID_MAX, f, 0);
	}
}

size_t
log_format_line(char *buf, size_t len, enum log_format format,
		const struct timespec *when, enum log_level level,
		const struct log_ids *ids, const char *msg)
{
	struct out line = {buf, 0, len};
	char tail_buf[1024];
	struct out tail = {tail_buf, 0, sizeof(tail_buf)};
	char stamp[64];
	struct tm tm;

	if (len == 0)
		return 0;
	buf[0] = '\0';
	tail_buf[0] = '\0';
	/* the ids first: they are kept whole, the message is cut instead */
	if (ids != NULL) {
		if (ids->request_id != NULL)
			put_id(&tail, format, "request_id", ids->request_id);
		if (ids->subscription != NULL)
			put_id(&tail, format, "subscription", ids->subscription);
		if (ids->seq != 0) {
			char n[32];

			snprintf(n, sizeof(n), format == LOG_FORMAT_JSON ?
				 ",\"seq\":%" PRId64 : " seq=%" PRId64, ids->seq);
			puts_(&tail, n);
		}
	}
	if (format == LOG_FORMAT_JSON)
		puts_(&tail, "}");

	gmtime_r(&when->tv_sec, &tm);
	snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, when->tv_nsec / 1000000L);
	if (format == LOG_FORMAT_JSON) {
		puts_(&line, "{\"time\":\"");
		puts_(&line, stamp);
		puts_(&line, "\",\"level\":\"");
		puts_(&line, log_level_name(level));
		puts_(&line, "\",\"msg\":\"");
		put_escaped(&line, msg, SIZE_MAX, format, tail.len + 1);
		puts_(&line, "\"");
	} else {
		puts_(&line, stamp);
		puts_(&line, " ");
		puts_(&line, log_level_name(level));
		puts_(&line, ": ");
		put_escaped(&line, msg, SIZE_MAX, format, tail.len);
	}
	put(&line, tail.buf, tail.len);
	return line.len;
}

/* --- writing --- */

static void
vlog(enum log_level level, const struct log_ids *ids, const char *fmt,
     va_list ap)
{
	char msg[LOG_LINE_MAX];
	char line[LOG_LINE_MAX + 2];
	struct log_ids mine = {0};
	struct timespec ts;
	size_t n;

	if ((int)level < atomic_load(&current_level))
		return;
	if (ids != NULL)
		mine = *ids;
	if (mine.request_id == NULL)
		mine.request_id = thread_request;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	clock_gettime(CLOCK_REALTIME, &ts);
	n = log_format_line(line, sizeof(line) - 1,
			    (enum log_format)atomic_load(&current_format), &ts,
			    level, &mine, msg);
	line[n++] = '\n';
	/* one write per line keeps lines from different threads whole */
	flockfile(stderr);
	fwrite(line, 1, n, stderr);
	funlockfile(stderr);
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, NULL, fmt, ap);
	va_end(ap);
}

void
log_with(enum log_level level, const struct log_ids *ids, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, ids, fmt, ap);
	va_end(ap);
}
