/* Logging to stderr, as text or JSON lines, with a level threshold and the ids involved. */
#ifndef HERALD_LOG_H
#define HERALD_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

enum log_level {
	LOG_DEBUG = 0,
	LOG_INFO = 1,
	LOG_WARN = 2,
	LOG_ERROR = 3,
};

enum log_format {
	LOG_FORMAT_TEXT = 0, /* time level: message key=value... */
	LOG_FORMAT_JSON = 1  /* one JSON object per line */
};

/* The ids a line is about; a NULL or 0 field is left out. */
struct log_ids {
	const char *request_id;   /* NULL: the thread's current request */
	const char *subscription;
	int64_t seq;              /* an event's or delivery's; 0: none */
};

/* Longest line written, newline excluded; a longer message is cut. */
#define LOG_LINE_MAX 4096

void log_set_level(enum log_level level);
void log_set_format(enum log_format format);
/* Parse "debug", "info", "warn", "error"; false when unknown. */
bool log_level_parse(const char *s, enum log_level *out);
const char *log_level_name(enum log_level level);
/* Parse "text" or "json"; false when unknown. */
bool log_format_parse(const char *s, enum log_format *out);
const char *log_format_name(enum log_format format);

/* The request this thread serves until log_set_request(NULL): its id goes
 * on every line the thread logs meanwhile.  id must outlive that. */
void log_set_request(const char *id);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* A line about the given ids (ids may be NULL). */
void log_with(enum log_level level, const struct log_ids *ids,
	      const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Pure: one line (no newline) of msg into buf of len bytes (at least
 * 256), always whole: a long message is cut at a character boundary so
 * that a JSON line stays valid.  Control characters are escaped in both
 * formats, invalid UTF-8 becomes U+FFFD in JSON.  Returns its length. */
size_t log_format_line(char *buf, size_t len, enum log_format format,
		       const struct timespec *when, enum log_level level,
		       const struct log_ids *ids, const char *msg);

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
