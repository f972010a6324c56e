/* CESQL v1, the Subscriptions API's "sql" filter dialect: compile an expression once, evaluate it per event. */
#ifndef HERALD_CESQL_H
#define HERALD_CESQL_H

#include "herald.h"

/* Longest expression text accepted, in bytes. */
#define CESQL_MAX_LENGTH 4096
/* Deepest expression tree accepted (parentheses, operators, calls). */
#define CESQL_MAX_DEPTH 64
/* Longest string a function may build; past it the function fails. */
#define CESQL_MAX_STRING (1024 * 1024)

enum cesql_type {
	CESQL_BOOLEAN = 0,
	CESQL_INTEGER,
	CESQL_STRING,
};

/* The error kinds of CESQL v1 section 3.3. */
enum cesql_error {
	CESQL_OK = 0,
	CESQL_ERR_PARSE,             /* the text is not an expression */
	CESQL_ERR_MATH,              /* division by zero, overflow */
	CESQL_ERR_CAST,              /* a value does not convert to the type needed */
	CESQL_ERR_MISSING_FUNCTION,  /* no function of that name and arity */
	CESQL_ERR_FUNCTION,          /* a function refused its arguments */
	CESQL_ERR_MISSING_ATTRIBUTE, /* the event lacks the attribute named */
	CESQL_ERR_GENERIC,
};

/* A result: s is NUL-terminated (len bytes, UTF-8) and owned by the value
 * when type is CESQL_STRING; release with cesql_value_clear. */
struct cesql_value {
	enum cesql_type type;
	bool b;
	int32_t i;
	char *s;
	size_t len;
	bool owned; /* s is the value's own allocation */
};

struct cesql;

/* Parse len bytes of text.  NULL on a parse error, with the 1-based
 * column (in characters) where it was found and a message in msg. */
struct cesql *cesql_compile(const char *text, size_t len, size_t *column,
			    char *msg, size_t msglen);

/* What a filter needs beyond parsing: every function exists with that
 * many arguments, and the result can be a boolean.  0, or -1 with a column
 * and message as cesql_compile. */
int cesql_check_filter(const struct cesql *expr, size_t *column, char *msg,
		       size_t msglen) HERALD_MUST_CHECK;

/* Evaluate on the event's context attributes.  *out always receives a
 * value (the zero value of its type when an error made it); the first
 * error met is returned. */
enum cesql_error cesql_eval(const struct cesql *expr,
			    const struct cloudevent *ev,
			    struct cesql_value *out);

/* As a filter: the result is the boolean true and no error occurred. */
bool cesql_match(const struct cesql *expr, const struct cloudevent *ev);

void cesql_value_clear(struct cesql_value *v);
void cesql_free(struct cesql *expr);

/* The TCK's name of an error kind: "parse", "math", "cast"... */
const char *cesql_error_name(enum cesql_error e);

#endif
