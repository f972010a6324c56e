/* libFuzzer target: CESQL expressions (parse, filter checks, evaluation on fixed events). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cesql.h"
#include "cloudevent.h"

/*
 * The input is the expression text.  Whatever it is, compiling must either
 * give an expression or a column within the text (plus one, for the end)
 * and a message.  A compiled expression is evaluated on events with
 * attributes of every type: every result must be a well-formed value,
 * cesql_match must agree with cesql_eval, and the same expression in
 * parentheses (when that still compiles) must give the same result.
 */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const event_texts[] = {
	"{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/src\","
	"\"type\":\"t\"}",
	"{\"specversion\":\"1.0\",\"id\":\"abc-123\","
	"\"source\":\"https://example.com/orders\","
	"\"type\":\"com.example.order.created\",\"subject\":\"eu/42\","
	"\"time\":\"2024-02-29T12:00:00Z\",\"partitionkey\":\"customer-7\","
	"\"priority\":-3,\"urgent\":true,\"retried\":false,"
	"\"big\":2147483647,\"small\":-2147483648,\"num\":\"42\","
	"\"flag\":\"TRUE\",\"empty\":\"\",\"pct\":\"a%b_c\\\\d\"}",
	"{\"specversion\":\"1.0\",\"id\":\"3\",\"source\":\"/caf\\u00e9\","
	"\"type\":\"t\",\"subject\":\"\\u00e9t\\u00e9 \\u3000\",\"x\":\"-0\"}",
};

#define NEVENTS (sizeof(event_texts) / sizeof(event_texts[0]))

static struct cloudevent events[NEVENTS];

static void
die(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_cesql: %s%s%s\n", what, detail ? ": " : "",
		detail ? detail : "");
	abort();
}

static void
load_events(void)
{
	static int loaded;
	struct herald_error err;
	size_t i;

	if (loaded)
		return;
	for (i = 0; i < NEVENTS; i++)
		if (ce_parse_structured(event_texts[i], strlen(event_texts[i]),
					&events[i], &err) != 0)
			die("fixed event refused", err.message);
	loaded = 1;
}

static void
check_value(const struct cesql_value *v, enum cesql_error e)
{
	if (e > CESQL_ERR_GENERIC || e == CESQL_ERR_PARSE)
		die("evaluation returned an impossible error", NULL);
	switch (v->type) {
	case CESQL_BOOLEAN:
	case CESQL_INTEGER:
		break;
	case CESQL_STRING:
		if (v->s == NULL || !v->owned || strlen(v->s) != v->len ||
		    v->len > CESQL_MAX_STRING)
			die("malformed string result", NULL);
		break;
	default:
		die("result of no type", NULL);
	}
}

static bool
same_value(const struct cesql_value *a, const struct cesql_value *b)
{
	if (a->type != b->type)
		return false;
	switch (a->type) {
	case CESQL_BOOLEAN:
		return a->b == b->b;
	case CESQL_INTEGER:
		return a->i == b->i;
	default:
		return a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
	}
}

/* Compile text; NULL when refused, after checking the refusal. */
static struct cesql *
compile(const char *text, size_t len)
{
	char msg[160];
	size_t column = 0, chars = 0, i;
	struct cesql *expr;

	expr = cesql_compile(text, len, &column, msg, sizeof(msg));
	if (expr != NULL)
		return expr;
	for (i = 0; i < len; i++)
		if (((unsigned char)text[i] & 0xc0) != 0x80)
			chars++;
	if (column < 1 || column > chars + 1)
		die("parse error outside the text", msg);
	if (msg[0] == '\0')
		die("parse error without a message", NULL);
	return NULL;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cesql *expr, *wrapped;
	struct cesql_value v, w;
	enum cesql_error e, e2;
	char msg[160], *paren;
	size_t column, i;

	load_events();
	expr = compile((const char *)data, size);
	if (expr == NULL)
		return 0;
	if (cesql_check_filter(expr, &column, msg, sizeof(msg)) != 0 &&
	    (column < 1 || msg[0] == '\0'))
		die("filter check refused without a column or message", NULL);

	paren = malloc(size + 2);
	if (paren == NULL)
		abort();
	paren[0] = '(';
	memcpy(paren + 1, data, size);
	paren[size + 1] = ')';
	wrapped = cesql_compile(paren, size + 2, &column, msg, sizeof(msg));

	for (i = 0; i < NEVENTS; i++) {
		e = cesql_eval(expr, &events[i], &v);
		check_value(&v, e);
		if (cesql_match(expr, &events[i]) !=
		    (e == CESQL_OK && v.type == CESQL_BOOLEAN && v.b))
			die("cesql_match disagrees with cesql_eval", NULL);
		if (wrapped != NULL) {
			e2 = cesql_eval(wrapped, &events[i], &w);
			if (e2 != e || !same_value(&v, &w))
				die("parentheses changed the result", NULL);
			cesql_value_clear(&w);
		}
		cesql_value_clear(&v);
	}
	cesql_free(wrapped);
	cesql_free(expr);
	free(paren);
	return 0;
}
