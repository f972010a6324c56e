/* Unit tests for the CESQL parser and evaluator, and the "sql" filter dialect: data tables of expressions and results. */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cesql.h"
#include "cloudevent.h"
#include "filter.h"

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* The event cases run on unless they name their own. */
static const char *const default_event =
	"{\"specversion\":\"1.0\",\"id\":\"id-1\",\"source\":\"/orders\","
	"\"type\":\"com.example.order.placed\",\"subject\":\"eu/42\","
	"\"time\":\"2024-02-29T12:00:00Z\",\"partitionkey\":\"customer-7\","
	"\"myint\":10,\"mybool\":true,\"myext\":\"customext\",\"num\":\"42\","
	"\"big\":\"2147483647\",\"flag\":\"TRUE\",\"empty\":\"\","
	"\"uni\":\"h\\u00e9llo w\\u00f6rld\","
	"\"spaced\":\"\\u00a0 x y \\u3000\"}";

static const char *const minimal_event =
	"{\"specversion\":\"1.0\",\"id\":\"x\",\"source\":\"/s\",\"type\":\"t\"}";

#define B CESQL_BOOLEAN
#define I CESQL_INTEGER
#define S CESQL_STRING
#define OK CESQL_OK
#define MATH CESQL_ERR_MATH
#define CAST CESQL_ERR_CAST
#define NOFN CESQL_ERR_MISSING_FUNCTION
#define FN CESQL_ERR_FUNCTION
#define MISSING CESQL_ERR_MISSING_ATTRIBUTE

struct eval_case {
	const char *expr;
	enum cesql_type type;
	const char *want; /* "true"/"false", decimal, or the string */
	enum cesql_error err;
	const char *event; /* NULL: default_event */
};

static const struct eval_case evals[] = {
	/* literals and keywords in any case */
	{"TRUE", B, "true", OK, NULL},
	{"tRuE", B, "true", OK, NULL},
	{"false", B, "false", OK, NULL},
	{"42", I, "42", OK, NULL},
	{"+42", I, "42", OK, NULL},
	{"-2147483648", I, "-2147483648", OK, NULL},
	{"2147483647", I, "2147483647", OK, NULL},
	{"'it''s'", S, "it's", OK, NULL},
	{"'it\\'s'", S, "it's", OK, NULL},
	{"\"say \\\"hi\\\"\"", S, "say \"hi\"", OK, NULL},
	{"'keeps \\% and \\x'", S, "keeps \\% and \\x", OK, NULL},
	{" \t\r\n( TRUE )\n", B, "true", OK, NULL},
	/* attributes: typed, case-insensitive names, missing ones */
	{"type", S, "com.example.order.placed", OK, NULL},
	{"TYPE", S, "com.example.order.placed", OK, NULL},
	{"myint", I, "10", OK, NULL},
	{"mybool", B, "true", OK, NULL},
	{"time", S, "2024-02-29T12:00:00Z", OK, NULL},
	{"missing", B, "false", MISSING, NULL},
	{"EXISTS subject", B, "true", OK, NULL},
	{"EXISTS MyInt", B, "true", OK, NULL},
	{"EXISTS nothere", B, "false", OK, NULL},
	{"NOT EXISTS nothere", B, "true", OK, NULL},
	{"EXISTS subject", B, "false", OK, minimal_event},
	{"EXISTS id AND EXISTS source AND EXISTS specversion AND EXISTS type",
	 B, "true", OK, minimal_event},
	/* logic: short circuit, implicit casts, one precedence level */
	{"TRUE AND FALSE", B, "false", OK, NULL},
	{"TRUE OR FALSE", B, "true", OK, NULL},
	{"TRUE XOR TRUE", B, "false", OK, NULL},
	{"FALSE XOR TRUE", B, "true", OK, NULL},
	{"FALSE AND missing", B, "false", OK, NULL},
	{"TRUE OR missing", B, "true", OK, NULL},
	{"TRUE AND missing", B, "false", MISSING, NULL},
	{"missing OR TRUE", B, "false", MISSING, NULL},
	{"TRUE XOR missing", B, "false", MISSING, NULL},
	{"FALSE OR 1 / 0 = 0", B, "false", MATH, NULL},
	{"'true' AND flag", B, "true", OK, NULL},
	{"'yes' OR TRUE", B, "true", CAST, NULL},
	{"1 AND TRUE", B, "false", CAST, NULL},
	{"TRUE OR FALSE AND FALSE", B, "false", OK, NULL},
	{"NOT TRUE = FALSE", B, "true", OK, NULL},
	{"NOT (1 = 2)", B, "true", OK, NULL},
	{"NOT NOT TRUE", B, "true", OK, NULL},
	{"NOT 'maybe'", B, "true", CAST, NULL},
	{"NOT missing", B, "false", MISSING, NULL},
	/* comparisons: = casts the left side to the right side's type */
	{"1 < 2", B, "true", OK, NULL},
	{"2 <= 2", B, "true", OK, NULL},
	{"3 > 2", B, "true", OK, NULL},
	{"2 >= 3", B, "false", OK, NULL},
	{"'10' > '9'", B, "true", OK, NULL},
	{"'abc' < 1", B, "true", CAST, NULL},
	{"num = 42", B, "true", OK, NULL},
	{"42 = num", B, "true", OK, NULL},
	{"num = 042", B, "true", OK, NULL},
	{"'042' = 42", B, "true", OK, NULL},
	{"42 = '042'", B, "false", OK, NULL},
	{"myint = '10'", B, "true", OK, NULL},
	{"myint = 10", B, "true", OK, NULL},
	{"mybool = 'true'", B, "true", OK, NULL},
	{"mybool = 'TRUE'", B, "false", OK, NULL},
	{"'TRUE' = mybool", B, "true", OK, NULL},
	{"1 = TRUE", B, "false", CAST, NULL},
	{"'a' != 'b'", B, "true", OK, NULL},
	{"'a' <> 'a'", B, "false", OK, NULL},
	{"'A' = 'a'", B, "false", OK, NULL},
	{"missing < 1", B, "false", MISSING, NULL},
	{"1 = 1 = TRUE", B, "true", OK, NULL},
	/* arithmetic: 32-bit, truncating, clamped with a MathError */
	{"7 / 2", I, "3", OK, NULL},
	{"-7 / 2", I, "-3", OK, NULL},
	{"7 % -3", I, "1", OK, NULL},
	{"-7 % 3", I, "-1", OK, NULL},
	{"2147483647 + 1", I, "2147483647", MATH, NULL},
	{"-2147483648 - 1", I, "-2147483648", MATH, NULL},
	{"65536 * 65536", I, "2147483647", MATH, NULL},
	{"-65536 * 65536", I, "-2147483648", MATH, NULL},
	{"-2147483648 / -1", I, "2147483647", MATH, NULL},
	{"-2147483648 % -1", I, "0", OK, NULL},
	{"-(-2147483648)", I, "2147483647", MATH, NULL},
	{"- myint", I, "-10", OK, NULL},
	{"--myint", I, "10", OK, NULL},
	{"1 / 0", I, "0", MATH, NULL},
	{"1 % 0", I, "0", MATH, NULL},
	{"'x' + 1", I, "1", CAST, NULL},
	{"TRUE + TRUE", I, "2", OK, NULL},
	{"myint * 2 + 1", I, "21", OK, NULL},
	{"2 + 3 * 4", I, "14", OK, NULL},
	{"(2 + 3) * 4", I, "20", OK, NULL},
	{"10 - 2 - 3", I, "5", OK, NULL},
	{"4 -1", I, "3", OK, NULL},
	{"100 / 10 / 5", I, "2", OK, NULL},
	{"big + 0", I, "2147483647", OK, NULL},
	{"'+5' + 0", I, "5", OK, NULL},
	{"' 5' + 0", I, "0", CAST, NULL},
	{"'2147483648' + 0", I, "0", CAST, NULL},
	{"'-2147483648' + 0", I, "-2147483648", OK, NULL},
	{"empty + 0", I, "0", CAST, NULL},
	{"1 + missing", I, "0", MISSING, NULL},
	{"missing / 0", I, "0", MISSING, NULL},
	{"-missing", I, "0", MISSING, NULL},
	/* LIKE: % and _ (one character, not one byte), \ escapes them */
	{"type LIKE 'com.example.%'", B, "true", OK, NULL},
	{"type LIKE '%.placed'", B, "true", OK, NULL},
	{"type NOT LIKE '%.placed'", B, "false", OK, NULL},
	{"type like 'com.%.order.%'", B, "true", OK, NULL},
	{"subject LIKE 'eu/__'", B, "true", OK, NULL},
	{"subject LIKE 'eu/_'", B, "false", OK, NULL},
	{"uni LIKE 'h_llo%'", B, "true", OK, NULL},
	{"uni LIKE '%w_rld'", B, "true", OK, NULL},
	{"'%' LIKE '\\%'", B, "true", OK, NULL},
	{"'a' LIKE '\\%'", B, "false", OK, NULL},
	{"'a_c' LIKE 'a\\_c'", B, "true", OK, NULL},
	{"'abc' LIKE 'a\\_c'", B, "false", OK, NULL},
	{"'a\\b' LIKE 'a\\b'", B, "true", OK, NULL},
	{"'' LIKE '%'", B, "true", OK, NULL},
	{"'' LIKE '_'", B, "false", OK, NULL},
	{"'abcabd' LIKE '%abd'", B, "true", OK, NULL},
	{"'abcabd' LIKE '%ab_%d'", B, "true", OK, NULL},
	{"'aaa' LIKE '%a%a%a%a%'", B, "false", OK, NULL},
	/* the last % jumps to where the text after it stands */
	{"'xabxabc' LIKE '%abc'", B, "true", OK, NULL},
	{"'xabxabc' LIKE '%abd'", B, "false", OK, NULL},
	{"'abab' LIKE '%ab%ab'", B, "true", OK, NULL},
	{"'aab' LIKE '%ab'", B, "true", OK, NULL},
	{"'ab%c' LIKE '%\\%c'", B, "true", OK, NULL},
	{"'abxc' LIKE '%\\%c'", B, "false", OK, NULL},
	{"'a_b_c' LIKE '%\\_c'", B, "true", OK, NULL},
	{"'xyzxyzq' LIKE '%yz_q'", B, "false", OK, NULL},
	{"'xyzxyzq' LIKE '%yz_'", B, "true", OK, NULL},
	{"uni LIKE '%\xc3\xb6%'", B, "true", OK, NULL},
	{"uni LIKE '%\xc3\xb6_d'", B, "false", OK, NULL},
	{"uni LIKE '%\xc3\xb6__d'", B, "true", OK, NULL},
	{"'ABC' LIKE 'abc'", B, "false", OK, NULL},
	{"myint LIKE '1%'", B, "true", OK, NULL},
	{"mybool LIKE 't%'", B, "true", OK, NULL},
	{"missing NOT LIKE 'x'", B, "false", MISSING, NULL},
	{"1 + 1 LIKE '1'", I, "2", OK, NULL},
	/* IN: elements cast to the left side's type, stops at a match */
	{"myint IN (1, 10)", B, "true", OK, NULL},
	{"myint NOT IN (1, 10)", B, "false", OK, NULL},
	{"type IN ('a', 'b')", B, "false", OK, NULL},
	{"type NOT IN ('a', 'b')", B, "true", OK, NULL},
	{"'10' IN (myint)", B, "true", OK, NULL},
	{"10 IN ('010')", B, "true", OK, NULL},
	{"10 IN ('x', 10)", B, "true", CAST, NULL},
	{"TRUE IN ('TRUE')", B, "true", OK, NULL},
	{"1 IN (missing, 1)", B, "false", MISSING, NULL},
	{"1 IN (1, missing)", B, "true", OK, NULL},
	{"missing IN (1)", B, "false", MISSING, NULL},
	/* string functions, in characters */
	{"LENGTH(uni)", I, "11", OK, NULL},
	{"length(myint)", I, "2", OK, NULL},
	{"LENGTH(missing)", I, "0", MISSING, NULL},
	{"CONCAT('a', 1, TRUE)", S, "a1true", OK, NULL},
	{"CONCAT()", S, "", OK, NULL},
	{"CONCAT_WS('-', 'a', 'b', myint)", S, "a-b-10", OK, NULL},
	{"CONCAT_WS('-')", S, "", OK, NULL},
	{"concat_ws('', 'x')", S, "x", OK, NULL},
	{"LOWER('\xc3\x80" "BC')", S, "\xc3\x80" "bc", OK, NULL},
	{"UPPER(uni)", S, "H\xc3\xa9LLO W\xc3\xb6RLD", OK, NULL},
	{"TRIM(spaced)", S, "x y", OK, NULL},
	{"TRIM('  ')", S, "", OK, NULL},
	{"TRIM('\ta b\n')", S, "a b", OK, NULL},
	{"LEFT(uni, 2)", S, "h\xc3\xa9", OK, NULL},
	{"RIGHT(uni, 3)", S, "rld", OK, NULL},
	{"LEFT('abc', 0)", S, "", OK, NULL},
	{"RIGHT('abc', 3)", S, "abc", OK, NULL},
	{"RIGHT('abc', -1)", S, "abc", FN, NULL},
	{"LEFT('abc', 'x')", S, "", CAST, NULL},
	{"SUBSTRING(uni, 2, 4)", S, "\xc3\xa9llo", OK, NULL},
	{"SUBSTRING('abc', -1)", S, "c", OK, NULL},
	{"SUBSTRING('abc', 3)", S, "c", OK, NULL},
	{"SUBSTRING('abc', 4)", S, "", FN, NULL},
	{"SUBSTRING('abc', -4)", S, "", FN, NULL},
	{"SUBSTRING('abc', 1, -1)", S, "", FN, NULL},
	{"SUBSTRING('abc', 2, 0)", S, "", OK, NULL},
	{"SUBSTRING('abc', -2, 5)", S, "bc", OK, NULL},
	/* math and casting functions */
	{"ABS(-5)", I, "5", OK, NULL},
	{"ABS('-7')", I, "7", OK, NULL},
	{"ABS(-2147483648)", I, "2147483647", MATH, NULL},
	{"INT('+12')", I, "12", OK, NULL},
	{"INT('1.5')", I, "0", CAST, NULL},
	{"INT(mybool)", I, "1", OK, NULL},
	{"BOOL('FaLsE')", B, "false", OK, NULL},
	{"BOOL(0)", B, "false", OK, NULL},
	{"BOOL(-1)", B, "true", OK, NULL},
	{"BOOL('1')", B, "false", CAST, NULL},
	{"STRING(myint)", S, "10", OK, NULL},
	{"STRING(-2147483648)", S, "-2147483648", OK, NULL},
	{"STRING(FALSE)", S, "false", OK, NULL},
	{"IS_BOOL('True')", B, "true", OK, NULL},
	{"IS_BOOL('yes')", B, "false", OK, NULL},
	{"IS_BOOL(TRUE)", B, "true", OK, NULL},
	{"IS_INT('-12')", B, "true", OK, NULL},
	{"IS_INT('12a')", B, "false", OK, NULL},
	{"IS_INT(myint)", B, "true", OK, NULL},
	{"IS_INT('99999999999')", B, "false", OK, NULL},
	{"is_int(num) AND INT(num) > 40", B, "true", OK, NULL},
	/* unknown functions and failing arguments */
	{"NOPE(1)", B, "false", NOFN, NULL},
	{"LENGTH()", B, "false", NOFN, NULL},
	{"LENGTH('a', 'b')", B, "false", NOFN, NULL},
	{"SUBSTRING('a', 1, 1, 1)", B, "false", NOFN, NULL},
	{"LENGTH(1 / 0)", I, "0", MATH, NULL},
	{"CONCAT('a', missing)", S, "", MISSING, NULL},
	{"UPPER(missing)", S, "", MISSING, NULL},
	{"LENGTH(CONCAT(1 / 0))", I, "0", MATH, NULL},
};

static struct cloudevent *
make_event(const char *json)
{
	static struct cloudevent ev;
	struct herald_error err;

	ck_assert_msg(ce_parse_structured(json, strlen(json), &ev, &err) == 0,
		      "event refused: %s", err.message);
	return &ev;
}

static void
value_text(const struct cesql_value *v, char *buf, size_t len)
{
	switch (v->type) {
	case CESQL_BOOLEAN:
		snprintf(buf, len, "%s", v->b ? "true" : "false");
		break;
	case CESQL_INTEGER:
		snprintf(buf, len, "%ld", (long)v->i);
		break;
	case CESQL_STRING:
		snprintf(buf, len, "%s", v->s);
		ck_assert_uint_eq(strlen(v->s), v->len);
		break;
	}
}

START_TEST(test_eval)
{
	const struct eval_case *c = &evals[_i];
	struct cloudevent *ev = make_event(c->event ? c->event : default_event);
	struct cesql_value v;
	struct cesql *expr;
	enum cesql_error e;
	char msg[160], got[256];
	size_t column = 0;

	expr = cesql_compile(c->expr, strlen(c->expr), &column, msg, sizeof(msg));
	ck_assert_msg(expr != NULL, "%s: column %zu: %s", c->expr, column, msg);
	e = cesql_eval(expr, ev, &v);
	value_text(&v, got, sizeof(got));
	ck_assert_msg(e == c->err, "%s: error %s, expected %s", c->expr,
		      cesql_error_name(e), cesql_error_name(c->err));
	ck_assert_msg(v.type == c->type, "%s: type %d, expected %d (%s)",
		      c->expr, v.type, c->type, got);
	ck_assert_msg(strcmp(got, c->want) == 0, "%s: got \"%s\", expected \"%s\"",
		      c->expr, got, c->want);
	/* as a filter: only a true boolean without an error matches */
	ck_assert(cesql_match(expr, ev) ==
		  (c->err == OK && c->type == B && strcmp(c->want, "true") == 0));
	cesql_value_clear(&v);
	cesql_free(expr);
	ce_free(ev);
}
END_TEST

struct parse_case {
	const char *expr;
	size_t column; /* where the error is reported */
};

static const struct parse_case parse_errors[] = {
	{"", 1},
	{"   ", 4},
	{"TRUE AND", 9},
	{"(1 + 2", 7},
	{"1 +", 4},
	{"type LIKE 123", 11},
	{"x LIKE y", 8},
	{"x LIKE ('a')", 8},
	{"'abc", 1},
	{"\"abc'", 1},
	{"1 ! 2", 3},
	{"a # b", 3},
	{"a == b", 4},
	{"2147483648", 1},
	{"-2147483649", 1},
	{"+ 'a'", 3},
	{"EXISTS", 7},
	{"EXISTS 'a'", 8},
	{"EXISTS my_ext", 8},
	{"EXISTS f(1)", 8},
	{"my_ext = 1", 1},
	{"fn1(2)", 1},
	{"1 IN 2", 6},
	{"1 IN ()", 7},
	{"a NOT b", 7},
	{"1 2", 3},
	{"f(1,)", 5},
	{"f(1 2)", 5},
	{"()", 2},
	{"TRUE)", 5},
	{"\xc3\xa9 = 1", 1},
	{"'\xc3\xa9' = \xc3\xa9", 7},
	{"'\xff'", 1},
	{"ABC(", 5},
	{"x LIKE 123", 8},
	{"NOT", 4},
	{"-", 2},
};

START_TEST(test_parse_error)
{
	const struct parse_case *c = &parse_errors[_i];
	char msg[160];
	size_t column = 0;
	struct cesql *expr;

	expr = cesql_compile(c->expr, strlen(c->expr), &column, msg, sizeof(msg));
	ck_assert_msg(expr == NULL, "\"%s\" parsed", c->expr);
	ck_assert_msg(column == c->column, "\"%s\": column %zu, expected %zu (%s)",
		      c->expr, column, c->column, msg);
	ck_assert_msg(msg[0] != '\0', "\"%s\": no message", c->expr);
}
END_TEST

static char *
repeat(const char *head, const char *unit, int n, const char *tail)
{
	size_t len = strlen(head) + strlen(unit) * (size_t)n + strlen(tail) + 1;
	char *s = malloc(len);
	int i;

	ck_assert_ptr_nonnull(s);
	strcpy(s, head);
	for (i = 0; i < n; i++)
		strcat(s, unit);
	strcat(s, tail);
	return s;
}

static bool
compiles(const char *text, size_t len)
{
	char msg[160];
	size_t column = 0;
	struct cesql *expr = cesql_compile(text, len, &column, msg, sizeof(msg));

	if (expr == NULL) {
		ck_assert(column >= 1);
		return false;
	}
	cesql_free(expr);
	return true;
}

/* Hostile input: depth and length are bounded, at the documented limits. */
START_TEST(test_limits)
{
	char *s, *parens_ok, *parens_bad;
	int depth = CESQL_MAX_DEPTH;

	/* NOT chains: depth counts the literal too */
	s = repeat("", "NOT ", depth - 1, "TRUE");
	ck_assert(compiles(s, strlen(s)));
	free(s);
	s = repeat("", "NOT ", depth, "TRUE");
	ck_assert(!compiles(s, strlen(s)));
	free(s);
	/* a long flat chain is a deep tree too */
	s = repeat("TRUE", " OR TRUE", depth - 1, "");
	ck_assert(compiles(s, strlen(s)));
	free(s);
	s = repeat("TRUE", " OR TRUE", depth, "");
	ck_assert(!compiles(s, strlen(s)));
	free(s);
	/* parentheses nest the parser, not the tree */
	parens_ok = repeat("", "(", depth - 1, "TRUE");
	s = repeat(parens_ok, ")", depth - 1, "");
	ck_assert(compiles(s, strlen(s)));
	free(s);
	parens_bad = repeat("", "(", 100000, "");
	ck_assert(!compiles(parens_bad, strlen(parens_bad) > 4000 ? 4000 : 100));
	free(parens_bad);
	free(parens_ok);
	/* length */
	s = repeat("'", "x", CESQL_MAX_LENGTH - 2, "'");
	ck_assert(compiles(s, strlen(s)));
	free(s);
	s = repeat("'", "x", CESQL_MAX_LENGTH - 1, "'");
	ck_assert(!compiles(s, strlen(s)));
	free(s);
	/* the text need not be NUL-terminated (valgrind sees a read past it) */
	s = malloc(8);
	ck_assert_ptr_nonnull(s);
	memcpy(s, "TRUE", 4);
	ck_assert(compiles(s, 4));
	memcpy(s, "x IN (y)", 8);
	ck_assert(compiles(s, 8));
	memcpy(s, "'abc'", 5);
	ck_assert(compiles(s, 5));
	ck_assert(!compiles(s, 4));
	free(s);
	/* a NUL inside the given length is refused */
	ck_assert(!compiles("TRUE\0", 5));
	ck_assert(compiles("TRUE\0", 4));
}
END_TEST

/* A string function cannot build a string past CESQL_MAX_STRING. */
START_TEST(test_string_bound)
{
	size_t vlen = 100000, column = 0;
	char *value = repeat("", "x", (int)vlen, ""), *json, *text, msg[160];
	struct cloudevent ev;
	struct herald_error err;
	struct cesql_value v;
	struct cesql *expr;
	int copies;

	json = malloc(vlen + 128);
	ck_assert_ptr_nonnull(json);
	snprintf(json, vlen + 128,
		 "{\"specversion\":\"1.0\",\"id\":\"1\",\"source\":\"/s\","
		 "\"type\":\"t\",\"long\":\"%s\"}", value);
	ck_assert_int_eq(ce_parse_structured(json, strlen(json), &ev, &err), 0);
	for (copies = 10; copies <= 11; copies++) {
		bool fits = vlen * (size_t)copies <= CESQL_MAX_STRING;

		text = repeat("CONCAT(long", ", long", copies - 1, ")");
		expr = cesql_compile(text, strlen(text), &column, msg, sizeof(msg));
		ck_assert_ptr_nonnull(expr);
		ck_assert_int_eq(cesql_eval(expr, &ev, &v), fits ? OK : FN);
		ck_assert_uint_eq(v.len, fits ? vlen * (size_t)copies : 0);
		cesql_value_clear(&v);
		cesql_free(expr);
		free(text);
	}
	ck_assert(10 * vlen <= CESQL_MAX_STRING && 11 * vlen > CESQL_MAX_STRING);
	ce_free(&ev);
	free(json);
	free(value);
}
END_TEST

struct check_case {
	const char *expr;
	bool ok;
	size_t column;
	const char *says;
};

static const struct check_case checks[] = {
	{"type LIKE 'a%'", true, 0, NULL},
	{"myint", true, 0, NULL},
	{"LENGTH(type) > 3", true, 0, NULL},
	{"IS_INT(num)", true, 0, NULL},
	{"NOPE()", false, 1, "no function NOPE taking 0 arguments"},
	{"TRUE AND substring('a')", false, 10, "no function SUBSTRING taking 1 argument"},
	{"1 + 1", false, 1, "yields an integer"},
	{"'a'", false, 1, "yields a string"},
	{"CONCAT('a')", false, 1, "yields a string"},
	{"(TRUE)", true, 0, NULL},
};

START_TEST(test_check_filter)
{
	const struct check_case *c = &checks[_i];
	char msg[160] = "";
	size_t column = 0;
	struct cesql *expr;
	int rc;

	expr = cesql_compile(c->expr, strlen(c->expr), &column, msg, sizeof(msg));
	ck_assert_ptr_nonnull(expr);
	rc = cesql_check_filter(expr, &column, msg, sizeof(msg));
	ck_assert_msg((rc == 0) == c->ok, "%s: check %d", c->expr, rc);
	if (!c->ok) {
		ck_assert_uint_eq(column, c->column);
		ck_assert_msg(strstr(msg, c->says) != NULL, "%s: \"%s\"", c->expr,
			      msg);
	}
	cesql_free(expr);
}
END_TEST

struct filter_case {
	const char *filters;
	bool compiles;
	bool matches;      /* on default_event */
	const char *field; /* when refused */
	const char *says;
};

static const struct filter_case filters[] = {
	{"[{\"sql\": \"type LIKE 'com.example.%' AND EXISTS partitionkey\"}]",
	 true, true, NULL, NULL},
	{"[{\"sql\": \"myint > 5 AND mybool\"}]", true, true, NULL, NULL},
	{"[{\"sql\": \"myint > 50\"}]", true, false, NULL, NULL},
	{"[{\"sql\": \"missing = 'x'\"}]", true, false, NULL, NULL},
	{"[{\"not\": {\"sql\": \"missing = 'x'\"}}]", true, true, NULL, NULL},
	{"[{\"sql\": \"myext\"}]", true, false, NULL, NULL},
	{"[{\"sql\": \"1 / 0 = 0\"}]", true, false, NULL, NULL},
	{"[{\"all\": [{\"prefix\": {\"type\": \"com.\"}}, {\"sql\": \"subject LIKE 'eu/%'\"}]}]",
	 true, true, NULL, NULL},
	{"[{\"any\": [{\"exact\": {\"type\": \"x\"}}, {\"sql\": \"subject = 'us/1'\"}]}]",
	 true, false, NULL, NULL},
	{"[{\"exact\": {\"type\": \"com.example.order.placed\"}}, {\"sql\": \"TRUE\"}]",
	 true, true, NULL, NULL},
	{"[{\"any\": [{\"exact\": {\"type\": \"x\"}}, {\"sql\": \"type LIKE\"}]}]",
	 false, false, "filters[0].any[1].sql", "column 10"},
	{"[{\"sql\": \"NOPE(type)\"}]", false, false, "filters[0].sql",
	 "column 1: no function NOPE"},
	{"[{\"sql\": \"1 + 1\"}]", false, false, "filters[0].sql", "boolean"},
	{"[{\"sql\": 5}]", false, false, "filters[0].sql", "non-empty string"},
	{"[{\"sql\": \"\"}]", false, false, "filters[0].sql", "non-empty string"},
	{"[{\"sql\": \"(\"}]", false, false, "filters[0].sql", "column 2"},
};

START_TEST(test_filter)
{
	const struct filter_case *c = &filters[_i];
	struct cloudevent *ev = make_event(default_event);
	struct herald_error err;
	struct filter *f = NULL;
	cJSON *json = cJSON_Parse(c->filters);
	int rc;

	ck_assert_ptr_nonnull(json);
	memset(&err, 0, sizeof(err));
	rc = filter_compile(json, &f, &err);
	ck_assert_msg((rc == 0) == c->compiles, "%s: %s", c->filters, err.message);
	if (rc == 0) {
		ck_assert_msg(filter_match(f, ev, NULL) == c->matches, "%s", c->filters);
	} else {
		ck_assert_str_eq(err.code, "invalid_filter");
		ck_assert_str_eq(err.field, c->field);
		ck_assert_msg(strstr(err.message, c->says) != NULL, "%s: \"%s\"",
			      c->filters, err.message);
		ck_assert_ptr_null(f);
	}
	filter_free(f);
	cJSON_Delete(json);
	ce_free(ev);
}
END_TEST

static Suite *
cesql_suite(void)
{
	Suite *s = suite_create("cesql");
	TCase *tc = tcase_create("cesql");

	/* the limit cases parse expressions of thousands of levels and
	 * megabytes of text: seconds under AddressSanitizer on a busy
	 * machine, where Check's default of 4 s is too short */
	tcase_set_timeout(tc, 60);

	tcase_add_loop_test(tc, test_eval, 0, NELEM(evals));
	tcase_add_loop_test(tc, test_parse_error, 0, NELEM(parse_errors));
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_string_bound);
	tcase_add_loop_test(tc, test_check_filter, 0, NELEM(checks));
	tcase_add_loop_test(tc, test_filter, 0, NELEM(filters));
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(cesql_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
