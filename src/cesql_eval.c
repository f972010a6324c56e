/* CESQL evaluator: runs an expression tree on an event's attributes, with CESQL's casts, functions and error values. */
#include "cesql_core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "xalloc.h"

/*
 * Every operator and function is total: it yields a value of its type,
 * plus the first error met (CESQL v1 section 3.3).
 *
 * - An operand or argument whose evaluation failed makes its operator or
 *   function yield the zero value of its type (false, 0, "") with that
 *   error, whatever the other operands hold; that is how a missing
 *   attribute turns "missing / 0" into 0 and MissingAttribute, not a
 *   MathError.  AND and OR do not evaluate their right side when the left
 *   decides.
 * - A cast an operator or function needs that fails is a CastError; the
 *   operator goes on with the zero value of the target type (NOT 10 is
 *   true, with the error).
 * - Implicit casts: String to Integer (optional sign, decimal, 32-bit),
 *   String to Boolean ("true"/"false" in any case), Boolean to Integer
 *   (1/0), anything to String.  Integer to Boolean is refused implicitly
 *   and allowed only through BOOL() (non-zero is true), as the TCK wants.
 * - = != <> cast the left operand to the right one's type; IN casts each
 *   element to the left operand's type; < <= > >= and arithmetic cast
 *   both sides to Integer; LIKE casts its left side to String.
 * - Integer arithmetic is 32-bit: a result out of range is clamped to
 *   the range with a MathError (ABS(-2147483648) is 2147483647), division
 *   and remainder by zero yield 0 with a MathError, both truncate toward
 *   zero.
 * - Strings are UTF-8 and measured in characters.  LOWER and UPPER change
 *   the ASCII letters only; TRIM removes Unicode white space.  A function
 *   whose result would pass CESQL_MAX_STRING bytes fails instead.
 */

typedef enum cesql_error (*func_impl)(struct cesql_value *args, size_t n,
				      struct cesql_value *out);

struct func {
	const char *name;
	size_t min, max; /* arity; max SIZE_MAX for variadic */
	enum cesql_type ret;
	func_impl fn;
};

/* ---- values ---- */

void
cesql_value_clear(struct cesql_value *v)
{
	if (v->type == CESQL_STRING && v->owned)
		free(v->s);
	memset(v, 0, sizeof(*v));
}

static void
set_bool(struct cesql_value *v, bool b)
{
	memset(v, 0, sizeof(*v));
	v->type = CESQL_BOOLEAN;
	v->b = b;
}

static void
set_int(struct cesql_value *v, int32_t i)
{
	memset(v, 0, sizeof(*v));
	v->type = CESQL_INTEGER;
	v->i = i;
}

/* A string value borrowing s (len bytes, NUL-terminated). */
static void
set_borrowed(struct cesql_value *v, const char *s, size_t len)
{
	memset(v, 0, sizeof(*v));
	v->type = CESQL_STRING;
	v->s = (char *)s;
	v->len = len;
}

/* A string value owning s. */
static void
set_owned(struct cesql_value *v, char *s, size_t len)
{
	set_borrowed(v, s, len);
	v->owned = true;
}

static void
set_zero(struct cesql_value *v, enum cesql_type t)
{
	switch (t) {
	case CESQL_INTEGER:
		set_int(v, 0);
		break;
	case CESQL_STRING:
		set_borrowed(v, "", 0);
		break;
	default:
		set_bool(v, false);
		break;
	}
}

/* Keep the first error. */
static void
note(enum cesql_error *first, enum cesql_error e)
{
	if (*first == CESQL_OK)
		*first = e;
}

static int32_t
clamp(int64_t x, enum cesql_error *err)
{
	if (x > INT32_MAX) {
		note(err, CESQL_ERR_MATH);
		return INT32_MAX;
	}
	if (x < INT32_MIN) {
		note(err, CESQL_ERR_MATH);
		return INT32_MIN;
	}
	return (int32_t)x;
}

/* ---- casts ---- */

static bool
parse_int32(const char *s, size_t len, int32_t *out)
{
	int64_t v = 0;
	bool neg = false;
	size_t i = 0;

	if (len > 0 && (s[0] == '+' || s[0] == '-')) {
		neg = s[0] == '-';
		i = 1;
	}
	if (i == len)
		return false;
	for (; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
		if (v > (int64_t)INT32_MAX + 1)
			return false;
	}
	if (neg)
		v = -v;
	if (v > INT32_MAX)
		return false;
	*out = (int32_t)v;
	return true;
}

static bool
parse_bool(const char *s, size_t len, bool *out)
{
	if (len == 4 && strncasecmp(s, "true", 4) == 0) {
		*out = true;
		return true;
	}
	if (len == 5 && strncasecmp(s, "false", 5) == 0) {
		*out = false;
		return true;
	}
	return false;
}

static int32_t
to_int(const struct cesql_value *v, enum cesql_error *err)
{
	int32_t i;

	switch (v->type) {
	case CESQL_INTEGER:
		return v->i;
	case CESQL_BOOLEAN:
		return v->b ? 1 : 0;
	default:
		if (parse_int32(v->s, v->len, &i))
			return i;
		note(err, CESQL_ERR_CAST);
		return 0;
	}
}

/* explicit: BOOL(), which also takes integers. */
static bool
to_bool(const struct cesql_value *v, bool explicit, enum cesql_error *err)
{
	bool b;

	switch (v->type) {
	case CESQL_BOOLEAN:
		return v->b;
	case CESQL_INTEGER:
		if (explicit)
			return v->i != 0;
		note(err, CESQL_ERR_CAST);
		return false;
	default:
		if (parse_bool(v->s, v->len, &b))
			return b;
		note(err, CESQL_ERR_CAST);
		return false;
	}
}

/* Turn v into a String in place. */
static void
make_string(struct cesql_value *v)
{
	char buf[16];
	int n;

	switch (v->type) {
	case CESQL_STRING:
		return;
	case CESQL_BOOLEAN:
		if (v->b)
			set_borrowed(v, "true", 4);
		else
			set_borrowed(v, "false", 5);
		return;
	case CESQL_INTEGER:
		n = snprintf(buf, sizeof(buf), "%ld", (long)v->i);
		set_owned(v, xmemdup(buf, (size_t)n + 1), (size_t)n);
		return;
	}
}

/* Turn v into type t in place (implicit cast). */
static void
cast_to(struct cesql_value *v, enum cesql_type t, enum cesql_error *err)
{
	if (v->type == t)
		return;
	switch (t) {
	case CESQL_INTEGER: {
		int32_t i = to_int(v, err);

		cesql_value_clear(v);
		set_int(v, i);
		return;
	}
	case CESQL_BOOLEAN: {
		bool b = to_bool(v, false, err);

		cesql_value_clear(v);
		set_bool(v, b);
		return;
	}
	case CESQL_STRING:
		make_string(v);
		return;
	}
}

/* ---- UTF-8 ---- */

static bool
is_lead(char c)
{
	return ((unsigned char)c & 0xc0) != 0x80;
}

static size_t
char_count(const char *s, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		if (is_lead(s[i]))
			n++;
	return n;
}

/* Byte offset of character k (k <= count gives len at the end). */
static size_t
char_offset(const char *s, size_t len, size_t k)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (is_lead(s[i])) {
			if (k == 0)
				return i;
			k--;
		}
	return len;
}

/* ---- LIKE ---- */

/* Does s (at most slen bytes) start with one pattern character p[*pi],
 * consuming it?  Advances *si past the matched character. */
static bool
like_char(const char *s, size_t slen, size_t *si, const char *p, size_t plen,
	  size_t *pi)
{
	size_t i = *si, j = *pi;

	if (i >= slen)
		return false;
	if (p[j] == '_') {
		i++;
		while (i < slen && !is_lead(s[i]))
			i++;
		*si = i;
		*pi = j + 1;
		return true;
	}
	if (p[j] == '\\' && j + 1 < plen && (p[j + 1] == '%' || p[j + 1] == '_'))
		j++;
	if (s[i] != p[j])
		return false;
	*si = i + 1;
	*pi = j + 1;
	return true;
}

/*
 * The literal bytes that p must match first from pi (escapes undone, up to
 * the next unescaped '%' or '_'), into buf (plen bytes); their count.
 */
static size_t
like_literal(const char *p, size_t plen, size_t pi, char *buf)
{
	size_t n = 0;

	while (pi < plen && p[pi] != '%' && p[pi] != '_') {
		if (p[pi] == '\\' && pi + 1 < plen &&
		    (p[pi + 1] == '%' || p[pi + 1] == '_'))
			pi++;
		buf[n++] = p[pi++];
	}
	return n;
}

/* The first character boundary at or after from where s holds lit;
 * slen when there is none. */
static size_t
like_find(const char *s, size_t slen, size_t from, const char *lit,
	  size_t litlen)
{
	while (from < slen) {
		const char *at = memmem(s + from, slen - from, lit, litlen);

		if (at == NULL)
			return slen;
		from = (size_t)(at - s);
		if (is_lead(s[from]))
			return from;
		from++;
	}
	return slen;
}

/*
 * Match with backtracking to the last '%' only, which is enough for '%'
 * (any run) and '_' (one character): no exponential blow-up.  The last
 * '%' moves straight to the next place where the whole literal text after
 * it stands (memmem, linear), not one character at a time: a literal
 * pattern on a long attribute costs about their sum, not their product.
 * A '_' after the literal can still make it try every place the literal
 * stands: len(s) times the pattern's length at worst.
 */
static bool
like_match(const char *s, size_t slen, const char *p, size_t plen)
{
	size_t si = 0, pi = 0, star_p = SIZE_MAX, star_s = 0, litlen = 0;
	char *lit = xmalloc(plen + 1);
	bool matched = false;

	while (si < slen) {
		if (pi < plen && p[pi] == '%') {
			star_p = ++pi;
			litlen = like_literal(p, plen, star_p, lit);
			star_s = litlen > 0 ? like_find(s, slen, si, lit, litlen) : si;
			if (star_s == slen && litlen > 0)
				goto out; /* the text after it is nowhere */
			si = star_s;
			continue;
		}
		if (pi < plen && like_char(s, slen, &si, p, plen, &pi))
			continue;
		if (star_p == SIZE_MAX)
			goto out;
		/* let the last % take one more character */
		star_s++;
		while (star_s < slen && !is_lead(s[star_s]))
			star_s++;
		if (litlen > 0) {
			star_s = like_find(s, slen, star_s, lit, litlen);
			if (star_s == slen)
				goto out;
		}
		si = star_s;
		pi = star_p;
	}
	while (pi < plen && p[pi] == '%')
		pi++;
	matched = pi == plen;
out:
	free(lit);
	return matched;
}

/* ---- functions ---- */

static enum cesql_error
fn_length(struct cesql_value *a, size_t n, struct cesql_value *out)
{
	(void)n;
	make_string(&a[0]);
	set_int(out, (int32_t)char_count(a[0].s, a[0].len));
	return CESQL_OK;
}

/* CONCAT (sep NULL) and CONCAT_WS. */
static enum cesql_error
concat(const struct cesql_value *sep, struct cesql_value *a, size_t n,
       struct cesql_value *out)
{
	size_t i, total = 0, o = 0;
	char *buf;

	for (i = 0; i < n; i++) {
		make_string(&a[i]);
		total += a[i].len + (sep != NULL && i > 0 ? sep->len : 0);
		if (total > CESQL_MAX_STRING) {
			set_zero(out, CESQL_STRING);
			return CESQL_ERR_FUNCTION;
		}
	}
	buf = xmalloc(total + 1);
	for (i = 0; i < n; i++) {
		if (sep != NULL && i > 0) {
			memcpy(buf + o, sep->s, sep->len);
			o += sep->len;
		}
		memcpy(buf + o, a[i].s, a[i].len);
		o += a[i].len;
	}
	buf[o] = '\0';
	set_owned(out, buf, o);
	return CESQL_OK;
}

static enum cesql_error
fn_concat(struct cesql_value *a, size_t n, struct cesql_value *out)
{
	return concat(NULL, a, n, out);
}

static enum cesql_error
fn_concat_ws(struct cesql_value *a, size_t n, struct cesql_value *out)
{
	make_string(&a[0]);
	return concat(&a[0], a + 1, n - 1, out);
}

static enum cesql_error
change_case(struct cesql_value *a, struct cesql_value *out, bool upper)
{
	char *s;
	size_t i;

	make_string(&a[0]);
	s = xmemdup(a[0].s, a[0].len + 1);
	for (i = 0; i < a[0].len; i++) {
		if (upper && s[i] >= 'a' && s[i] <= 'z')
			s[i] = (char)(s[i] - 'a' + 'A');
		else if (!upper && s[i] >= 'A' && s[i] <= 'Z')
			s[i] = (char)(s[i] - 'A' + 'a');
	}
	set_owned(out, s, a[0].len);
	return CESQL_OK;
}

static enum cesql_error
fn_lower(struct cesql_value *a, size_t n, struct cesql_value *out)
{
	(void)n;
	return change_case(a, out, false);
}

static enum cesql_error
fn_upper(struct cesql_value *a, size_t n, struct cesql_value *out)
{
	(void)n;
	return change_case(a, out, true);
}

/* The length of the Unicode white space character at s, or 0. */
static size_t
space_at(const unsigned char *s, size_t len)
{
	if (len >= 1 && (s[0] == ' ' || (s[0] >= 0x09 && s[0] <= 0x0d)))
		return 1;
	if (len >= 2 && s[0] == 0xc2 && (s[1] == 0x85 || s[1] == 0xa0))
		return 2;
	if (len >= 3 && s[0] == 0xe1 && s[1] == 0x9a && s[2] == 0x80)
		return 3; /* U+1680 */
	if (len >= 3 && s[0] == 0xe2 && s[1] == 0x80 &&
	    (s[2] <= 0x8a || s[2] == 0xa8 || s[2] == 0xa9 || s[2] == 0xaf))
		return 3; /* U+2000..200A, 2028, 2029, 202F */
	if (len >= 3 && s[0] == 0xe2 && s[1] == 0x81 && s[2] == 0x9f)
		return 3; /* U+205F */
	if (len >= 3 && s[0] == 0xe3 && s[1] == 0x80 && s[2] == 0x80)
		return 3; /* U+3000 */
	return 0;
}

/* Is there white space ending exactly at s + len?  Its length, or 0. */
static size_t
space_before(const unsigned char *s, size_t len)
{
	size_t k;

	for (k = 1; k <= 3 && k <= len; k++)
		if (space_at(s + len - k, k) == k)
			return k;
	return 0;
}

static enum cesql_error
fn_trim(struct cesql_value *a, size_t n, struct cesql_value *out)
{
	const unsigned char *s;
	size_t b = 0, e, k;

	(void)n;
	make_string(&a[0]);
	s = (const unsigned char *)a[0].s;
	e = a[0].len;
	while (b < e && (k = space_at(s + b, e - b)) > 0)
		b += k;
	while (e > b && (k = space_before(s + b, e - b)) > 0)
		e -= k;
	set_owned(out, xmemdup(a[0].s + b, e - b + 1), e - b);
	out->s[e - b] = '\0';
	return CESQL_OK;
}

/* The characters [from, from + count) of v as a new string value. */
static void
substring(const struct cesql_value *v, size_t from, size_t count,
	  struct cesql_value *out)
{
	size_t b = char_offset(v->s, v->len, from);
	size_t e = char_offset(v->s + b, v->len - b, count) + b;
	char *s = xmalloc(e - b + 1);

	memcpy(s, v->s + b, e - b);
	s[e - b] = '\0';
	set_owned(out, s, e - b);
}

/* LEFT and RIGHT. */
static enum cesql_error
side(struct cesql_value *a, struct cesql_value *out, bool left)
{
	enum cesql_error err = CESQL_OK;
	int32_t y;
	size_t len;

	make_string(&a[0]);
	y = to_int(&a[1], &err);
	len = char_count(a[0].s, a[0].len);
	if (y < 0) {
		note(&err, CESQL_ERR_FUNCTION);
		y = (int32_t)(len > INT32_MAX ? INT32_MAX : len);
	}
	if ((size_t)y >= len)
		substring(&a[0], 0, len, out);
	else if (left)
		substring(&a[0], 0, (size_t)y, out);
	else
		substring(&a[0], len - (size_t)y, (size_t)y, out);
	return err;
}

static enum cesql_error
fn_left(struct cesql_value *a, size_t n, struct cesql_value *out)
{
	(void)n;
	return side(a, out, true);
}

static enum cesql_error
fn_right(struct cesql_value *a, size_t n, struct cesql_value *out)
{
	(void)n;
	return side(a, out, false);
}

static enum cesql_error
fn_substring(struct cesql_value *a, size_t n, struct cesql_value *out)
{
	enum cesql_error err = CESQL_OK;
	int64_t pos, len, count, start;

	make_string(&a[0]);
	pos = to_int(&a[1], &err);
	count = n == 3 ? to_int(&a[2], &err) : INT32_MAX;
	len = (int64_t)char_count(a[0].s, a[0].len);
	if (pos > len || pos < -len || count < 0) {
		set_zero(out, CESQL_STRING);
		note(&err, CESQL_ERR_FUNCTION);
		return err;
	}
	if (pos == 0) {
		set_zero(out, CESQL_STRING);
		return err;
	}
	start = pos > 0 ? pos - 1 : len + pos;
	if (count > len - start)
		count = len - start;
	substring(&a[0], (size_t)start, (size_t)count, out);
	return err;
}

static enum cesql_error
fn_abs(struct cesql_value *a, size_t n, struct cesql_value *out)
{
	enum cesql_error err = CESQL_OK;
	int64_t x = to_int(&a[0], &err);

	(void)n;
	set_int(out, clamp(x < 0 ? -x : x, &err));
	return err;
}

static enum cesql_error
fn_int(struct cesql_value *a, size_t n, struct cesql_value *out)
{
	enum cesql_error err = CESQL_OK;

	(void)n;
	set_int(out, to_int(&a[0], &err));
	return err;
}

static enum cesql_error
fn_bool(struct cesql_value *a, size_t n, struct cesql_value *out)
{
	enum cesql_error err = CESQL_OK;

	(void)n;
	set_bool(out, to_bool(&a[0], true, &err));
	return err;
}

static enum cesql_error
fn_string(struct cesql_value *a, size_t n, struct cesql_value *out)
{
	(void)n;
	make_string(&a[0]);
	*out = a[0];
	memset(&a[0], 0, sizeof(a[0])); /* handed over */
	return CESQL_OK;
}

static enum cesql_error
fn_is_bool(struct cesql_value *a, size_t n, struct cesql_value *out)
{
	bool b;

	(void)n;
	make_string(&a[0]);
	set_bool(out, parse_bool(a[0].s, a[0].len, &b));
	return CESQL_OK;
}

static enum cesql_error
fn_is_int(struct cesql_value *a, size_t n, struct cesql_value *out)
{
	int32_t i;

	(void)n;
	make_string(&a[0]);
	set_bool(out, parse_int32(a[0].s, a[0].len, &i));
	return CESQL_OK;
}

static const struct func funcs[] = {
	{"LENGTH", 1, 1, CESQL_INTEGER, fn_length},
	{"CONCAT", 0, SIZE_MAX, CESQL_STRING, fn_concat},
	{"CONCAT_WS", 1, SIZE_MAX, CESQL_STRING, fn_concat_ws},
	{"LOWER", 1, 1, CESQL_STRING, fn_lower},
	{"UPPER", 1, 1, CESQL_STRING, fn_upper},
	{"TRIM", 1, 1, CESQL_STRING, fn_trim},
	{"LEFT", 2, 2, CESQL_STRING, fn_left},
	{"RIGHT", 2, 2, CESQL_STRING, fn_right},
	{"SUBSTRING", 2, 3, CESQL_STRING, fn_substring},
	{"ABS", 1, 1, CESQL_INTEGER, fn_abs},
	{"INT", 1, 1, CESQL_INTEGER, fn_int},
	{"BOOL", 1, 1, CESQL_BOOLEAN, fn_bool},
	{"STRING", 1, 1, CESQL_STRING, fn_string},
	{"IS_BOOL", 1, 1, CESQL_BOOLEAN, fn_is_bool},
	{"IS_INT", 1, 1, CESQL_BOOLEAN, fn_is_int},
};

#define NFUNCS (sizeof(funcs) / sizeof(funcs[0]))

int
cesql_func_lookup(const char *name, size_t nargs, enum cesql_type *ret)
{
	size_t i;

	for (i = 0; i < NFUNCS; i++)
		if (strcmp(funcs[i].name, name) == 0 && nargs >= funcs[i].min &&
		    nargs <= funcs[i].max) {
			*ret = funcs[i].ret;
			return (int)i;
		}
	return -1;
}

/* ---- evaluation ---- */

static enum cesql_error eval(const struct cesql_node *n,
			     const struct cloudevent *ev,
			     struct cesql_value *out);

/* The zero value of what node n yields (Boolean when it cannot tell). */
static enum cesql_error
fail_with(const struct cesql_node *n, enum cesql_error e,
	  struct cesql_value *out)
{
	set_zero(out, n->yields == STATIC_ANY ? CESQL_BOOLEAN
					       : (enum cesql_type)n->yields);
	return e;
}

static enum cesql_error
eval_attribute(const struct cesql_node *n, const struct cloudevent *ev,
	       struct cesql_value *out)
{
	const cJSON *v = ev != NULL && ev->attrs != NULL
				 ? cJSON_GetObjectItemCaseSensitive(ev->attrs, n->name)
				 : NULL;

	if (cJSON_IsString(v)) {
		set_borrowed(out, v->valuestring, strlen(v->valuestring));
		return CESQL_OK;
	}
	if (cJSON_IsBool(v)) {
		set_bool(out, cJSON_IsTrue(v));
		return CESQL_OK;
	}
	if (cJSON_IsNumber(v) && v->valuedouble >= INT32_MIN &&
	    v->valuedouble <= INT32_MAX) {
		set_int(out, (int32_t)v->valuedouble);
		return CESQL_OK;
	}
	set_bool(out, false);
	return CESQL_ERR_MISSING_ATTRIBUTE;
}

static bool
values_equal(const struct cesql_value *a, const struct cesql_value *b)
{
	switch (a->type) {
	case CESQL_INTEGER:
		return a->i == b->i;
	case CESQL_BOOLEAN:
		return a->b == b->b;
	default:
		return a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
	}
}

static enum cesql_error
eval_logic(const struct cesql_node *n, const struct cloudevent *ev,
	   struct cesql_value *out)
{
	struct cesql_value v;
	enum cesql_error err = CESQL_OK, e;
	bool l, r;

	e = eval(n->kids[0], ev, &v);
	if (e != CESQL_OK) {
		cesql_value_clear(&v);
		return fail_with(n, e, out);
	}
	l = to_bool(&v, false, &err);
	cesql_value_clear(&v);
	if ((n->op == OP_AND && !l) || (n->op == OP_OR && l)) {
		set_bool(out, l);
		return err;
	}
	e = eval(n->kids[1], ev, &v);
	if (e != CESQL_OK) {
		cesql_value_clear(&v);
		note(&err, e);
		return fail_with(n, err, out);
	}
	r = to_bool(&v, false, &err);
	cesql_value_clear(&v);
	set_bool(out, n->op == OP_XOR ? l != r : r);
	return err;
}

static enum cesql_error
eval_binary(const struct cesql_node *n, const struct cloudevent *ev,
	    struct cesql_value *out)
{
	struct cesql_value a, b;
	enum cesql_error err = CESQL_OK, e;
	int64_t x, y;

	if (n->op <= OP_XOR)
		return eval_logic(n, ev, out);
	e = eval(n->kids[0], ev, &a);
	if (e != CESQL_OK) {
		cesql_value_clear(&a);
		return fail_with(n, e, out);
	}
	e = eval(n->kids[1], ev, &b);
	if (e != CESQL_OK) {
		cesql_value_clear(&a);
		cesql_value_clear(&b);
		return fail_with(n, e, out);
	}
	if (n->op == OP_EQ || n->op == OP_NE) {
		cast_to(&a, b.type, &err);
		set_bool(out, values_equal(&a, &b) == (n->op == OP_EQ));
		cesql_value_clear(&a);
		cesql_value_clear(&b);
		return err;
	}
	x = to_int(&a, &err);
	y = to_int(&b, &err);
	cesql_value_clear(&a);
	cesql_value_clear(&b);
	switch (n->op) {
	case OP_LT: set_bool(out, x < y); break;
	case OP_LE: set_bool(out, x <= y); break;
	case OP_GT: set_bool(out, x > y); break;
	case OP_GE: set_bool(out, x >= y); break;
	case OP_ADD: set_int(out, clamp(x + y, &err)); break;
	case OP_SUB: set_int(out, clamp(x - y, &err)); break;
	case OP_MUL: set_int(out, clamp(x * y, &err)); break;
	case OP_DIV:
	case OP_MOD:
		if (y == 0) {
			note(&err, CESQL_ERR_MATH);
			set_int(out, 0);
		} else {
			set_int(out, clamp(n->op == OP_DIV ? x / y : x % y, &err));
		}
		break;
	default:
		set_bool(out, false);
		note(&err, CESQL_ERR_GENERIC);
		break;
	}
	return err;
}

static enum cesql_error
eval_in(const struct cesql_node *n, const struct cloudevent *ev,
	struct cesql_value *out)
{
	struct cesql_value x, y;
	enum cesql_error err = CESQL_OK, e;
	bool found = false;
	size_t i;

	e = eval(n->kids[0], ev, &x);
	if (e != CESQL_OK) {
		cesql_value_clear(&x);
		return fail_with(n, e, out);
	}
	for (i = 1; i < n->nkids && !found; i++) {
		e = eval(n->kids[i], ev, &y);
		if (e != CESQL_OK) {
			cesql_value_clear(&x);
			cesql_value_clear(&y);
			return fail_with(n, e, out);
		}
		cast_to(&y, x.type, &err);
		found = values_equal(&x, &y);
		cesql_value_clear(&y);
	}
	cesql_value_clear(&x);
	set_bool(out, found != n->negated);
	return err;
}

static enum cesql_error
eval_call(const struct cesql_node *n, const struct cloudevent *ev,
	  struct cesql_value *out)
{
	struct cesql_value *args;
	enum cesql_error e = CESQL_OK;
	size_t i, done = 0;

	if (n->func < 0)
		return fail_with(n, CESQL_ERR_MISSING_FUNCTION, out);
	args = xcalloc(n->nkids + 1, sizeof(*args));
	for (; done < n->nkids; done++) {
		e = eval(n->kids[done], ev, &args[done]);
		if (e != CESQL_OK) {
			done++;
			break;
		}
	}
	if (e != CESQL_OK)
		fail_with(n, e, out);
	else
		e = funcs[n->func].fn(args, n->nkids, out);
	for (i = 0; i < done; i++)
		cesql_value_clear(&args[i]);
	free(args);
	return e;
}

static enum cesql_error
eval(const struct cesql_node *n, const struct cloudevent *ev,
     struct cesql_value *out)
{
	struct cesql_value v;
	enum cesql_error err = CESQL_OK, e;

	switch (n->kind) {
	case NODE_LITERAL:
		*out = n->lit;
		out->owned = false;
		return CESQL_OK;
	case NODE_ATTRIBUTE:
		return eval_attribute(n, ev, out);
	case NODE_EXISTS:
		set_bool(out, ev != NULL && ev->attrs != NULL &&
				      cJSON_GetObjectItemCaseSensitive(ev->attrs, n->name) != NULL);
		return CESQL_OK;
	case NODE_NOT:
	case NODE_NEGATE:
	case NODE_LIKE:
		e = eval(n->kids[0], ev, &v);
		if (e != CESQL_OK) {
			cesql_value_clear(&v);
			return fail_with(n, e, out);
		}
		if (n->kind == NODE_NOT) {
			set_bool(out, !to_bool(&v, false, &err));
		} else if (n->kind == NODE_NEGATE) {
			set_int(out, clamp(-(int64_t)to_int(&v, &err), &err));
		} else {
			make_string(&v);
			set_bool(out, like_match(v.s, v.len, n->lit.s, n->lit.len) !=
					      n->negated);
		}
		cesql_value_clear(&v);
		return err;
	case NODE_BINARY:
		return eval_binary(n, ev, out);
	case NODE_IN:
		return eval_in(n, ev, out);
	case NODE_CALL:
		return eval_call(n, ev, out);
	}
	return fail_with(n, CESQL_ERR_GENERIC, out);
}

enum cesql_error
cesql_eval(const struct cesql *expr, const struct cloudevent *ev,
	   struct cesql_value *out)
{
	enum cesql_error e = eval(expr->root, ev, out);

	if (out->type == CESQL_STRING && !out->owned)
		set_owned(out, xmemdup(out->s, out->len + 1), out->len);
	return e;
}

bool
cesql_match(const struct cesql *expr, const struct cloudevent *ev)
{
	struct cesql_value v;
	enum cesql_error e = eval(expr->root, ev, &v);
	bool match = e == CESQL_OK && v.type == CESQL_BOOLEAN && v.b;

	cesql_value_clear(&v);
	return match;
}

const char *
cesql_error_name(enum cesql_error e)
{
	switch (e) {
	case CESQL_OK: return "none";
	case CESQL_ERR_PARSE: return "parse";
	case CESQL_ERR_MATH: return "math";
	case CESQL_ERR_CAST: return "cast";
	case CESQL_ERR_MISSING_FUNCTION: return "missingFunction";
	case CESQL_ERR_FUNCTION: return "functionEvaluation";
	case CESQL_ERR_MISSING_ATTRIBUTE: return "missingAttribute";
	case CESQL_ERR_GENERIC: return "generic";
	}
	return "generic";
}
