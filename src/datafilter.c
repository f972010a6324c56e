/* The "data" filter dialect: compile JSON Pointer tests, evaluate them on an event's parsed data. */
#include "datafilter.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decimal.h"
#include "jsonexact.h"
#include "mediatype.h"
#include "xalloc.h"

/*
 * {"data": {"<pointer>": {"<operator>": <operand>, ...}, ...}}
 *
 * Each key is a JSON Pointer (RFC 6901) into the event's data: "" is the
 * whole data, "/a/b" member b of member a, "/items/0" an array's first
 * element; "~1" stands for "/" and "~0" for "~" in a name.  Every pointer
 * and every operator under it must hold.  The operators:
 *
 *   eq, ne       the value equals (does not equal) the operand
 *   in           the value equals one of the operand array's elements
 *   contains     an array value holds an element equal to the operand,
 *                or a string value contains the operand string
 *   prefix,      a string value starts (ends) with the operand string
 *   suffix
 *   exists       true: the pointer resolves; false: it does not
 *   gt, gte,     a number value is greater than (or equal to), less than
 *   lt, lte      (or equal to) the operand number
 *
 * Equality is JSON's: same type, strings byte for byte, numbers by exact
 * decimal value (1 == 1.0 == 1e0, -0 == 0), arrays element by element in
 * order, objects member by member in any order.  Numbers are compared on
 * their text (decimal.h), never as doubles, so integers beyond 2^53 and
 * long decimals compare exactly.  A pointer that does not resolve (no
 * such member or index, or no JSON data at all) fails every operator but
 * exists: false.  In an object holding a name twice, the first counts.
 *
 * The event's data is parsed once, lazily, by its view
 * (struct datafilter_view), however many filters look at it.
 */

#define DATAFILTER_MAX_EXP 1000 /* operand numbers: stored in jsonb as numeric */

enum df_op {
	DF_EQ = 0, /* value equals operand */
	DF_NE,     /* value present and not equal */
	DF_IN,     /* value equals an element of the operand array */
	DF_CONTAINS, /* array holds an equal element / string holds substring */
	DF_PREFIX, /* string value starts with operand */
	DF_SUFFIX, /* string value ends with operand */
	DF_EXISTS, /* pointer resolves (operand true) or not (false) */
	DF_GT,     /* number value > operand */
	DF_GTE,    /* number value >= operand */
	DF_LT,     /* number value < operand */
	DF_LTE,    /* number value <= operand */
};

static const struct {
	const char *name;
	enum df_op op;
} ops[] = {
	{"eq", DF_EQ},         {"ne", DF_NE},         {"in", DF_IN},
	{"contains", DF_CONTAINS}, {"prefix", DF_PREFIX}, {"suffix", DF_SUFFIX},
	{"exists", DF_EXISTS}, {"gt", DF_GT},         {"gte", DF_GTE},
	{"lt", DF_LT},         {"lte", DF_LTE},
};

struct df_test {
	enum df_op op;
	cJSON *operand; /* a copy; numbers keep their exact text */
	const char *num; /* gt/gte/lt/lte: the operand's exact text */
	bool owned;      /* num was allocated here */
	bool want;       /* exists */
};

struct df_pointer {
	char **tokens; /* unescaped reference tokens */
	size_t ntokens;
	struct df_test *tests;
	size_t ntests;
};

struct datafilter {
	struct df_pointer *ptrs;
	size_t nptrs;
};

/* ---- the event's data ---- */

void
datafilter_view_init(struct datafilter_view *v, const struct cloudevent *ev)
{
	v->ev = ev;
	v->root = NULL;
	v->parsed = false;
}

const cJSON *
datafilter_view_data(struct datafilter_view *v)
{
	const struct cloudevent *ev = v->ev;

	if (v->parsed)
		return v->root;
	v->parsed = true;
	if (ev == NULL || ev->data_kind != CE_DATA_JSON || ev->data_len == 0 ||
	    (ev->datacontenttype != NULL &&
	     !mediatype_is_json(ev->datacontenttype)))
		return NULL;
	v->root = jsonexact_parse((const char *)ev->data, ev->data_len);
	return v->root;
}

void
datafilter_view_free(struct datafilter_view *v)
{
	cJSON_Delete(v->root);
	v->root = NULL;
	v->parsed = false;
}

/* ---- compiling ---- */

static int
fail(struct herald_error *err, const char *path, const char *ptr,
     const char *op, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return -1;
	snprintf(err->code, sizeof(err->code), "%s", "invalid_filter");
	snprintf(err->field, sizeof(err->field), "%s%s%s%s%s", path,
		 ptr ? "." : "", ptr ? ptr : "", op ? "." : "", op ? op : "");
	err->index = -1;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return -1;
}

/* Split an RFC 6901 pointer into unescaped tokens; false when malformed. */
static bool
parse_pointer(const char *s, struct df_pointer *p)
{
	size_t n = 0, i;
	const char *c;

	if (s[0] == '\0')
		return true; /* the whole document */
	if (s[0] != '/')
		return false;
	for (c = s; *c; c++) {
		if (*c == '/')
			n++;
		else if (*c == '~' && c[1] != '0' && c[1] != '1')
			return false;
	}
	p->tokens = xcalloc(n, sizeof(*p->tokens));
	p->ntokens = n;
	for (i = 0, c = s + 1; i < n; i++) {
		size_t len = strcspn(c, "/");
		char *t = xmalloc(len + 1), *o = t;

		for (size_t k = 0; k < len; k++) {
			if (c[k] == '~') {
				*o++ = c[k + 1] == '0' ? '~' : '/';
				k++;
			} else {
				*o++ = c[k];
			}
		}
		*o = '\0';
		p->tokens[i] = t;
		c += len + 1;
	}
	return true;
}

/* Every number in v (v itself and all it holds) is a JSON number a
 * filter may hold. */
static bool
numbers_ok(const cJSON *v)
{
	const cJSON *c;
	char buf[32];

	if (cJSON_IsNumber(v) || cJSON_IsRaw(v)) {
		const char *t = jsonexact_number(v, buf, sizeof(buf));

		return t != NULL &&
		       decimal_valid(t, strlen(t), DATAFILTER_MAX_EXP);
	}
	cJSON_ArrayForEach(c, v)
		if (!numbers_ok(c))
			return false;
	return true;
}

static cJSON *
must(cJSON *v)
{
	if (v == NULL)
		abort(); /* out of memory: herald's cJSON hooks abort first */
	return v;
}

static bool
is_number(const cJSON *v)
{
	char buf[32];

	return jsonexact_number(v, buf, sizeof(buf)) != NULL;
}

static int
compile_test(const cJSON *m, struct df_test *t, const char *path,
	     const char *ptr, struct herald_error *err)
{
	const char *op = m->string;
	size_t i;

	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strcmp(op, ops[i].name) == 0)
			break;
	if (i == sizeof(ops) / sizeof(ops[0]))
		return fail(err, path, ptr, op,
			    "unknown data filter operator \"%.32s\" (eq, ne, in, "
			    "contains, prefix, suffix, exists, gt, gte, lt, lte)",
			    op);
	t->op = ops[i].op;
	switch (t->op) {
	case DF_IN:
		if (!cJSON_IsArray(m) || m->child == NULL)
			return fail(err, path, ptr, op,
				    "in takes a non-empty array of values");
		break;
	case DF_PREFIX:
	case DF_SUFFIX:
		if (!cJSON_IsString(m) || m->valuestring[0] == '\0')
			return fail(err, path, ptr, op,
				    "%s takes a non-empty string", op);
		break;
	case DF_EXISTS:
		if (!cJSON_IsBool(m))
			return fail(err, path, ptr, op, "exists takes true or false");
		t->want = cJSON_IsTrue(m);
		return 0;
	case DF_GT:
	case DF_GTE:
	case DF_LT:
	case DF_LTE:
		if (!is_number(m))
			return fail(err, path, ptr, op, "%s takes a number", op);
		break;
	default:
		break;
	}
	if (!numbers_ok(m))
		return fail(err, path, ptr, op,
			    "numbers in data filters must be JSON numbers whose "
			    "exponent lies within -%d and %d",
			    DATAFILTER_MAX_EXP, DATAFILTER_MAX_EXP);
	t->operand = must(cJSON_Duplicate(m, true));
	if (t->op >= DF_GT) {
		char buf[32];

		t->num = jsonexact_number(t->operand, buf, sizeof(buf));
		if (t->num == buf) { /* no kept text: keep the printed one */
			t->num = xstrdup(buf);
			t->owned = true;
		}
	}
	return 0;
}

/* true when a member before m in obj has m's name: stored as jsonb,
 * only the last would survive, so a filter must not repeat a name. */
static bool
named_before(const cJSON *obj, const cJSON *m)
{
	for (const cJSON *p = obj->child; p != NULL && p != m; p = p->next)
		if (strcmp(p->string, m->string) == 0)
			return true;
	return false;
}

/* {"<operator>": <operand>, ...} under one pointer. */
static int
compile_pointer(const cJSON *m, struct df_pointer *p, const char *path,
		struct herald_error *err)
{
	const cJSON *t;
	size_t i = 0;
	int n;

	if (!parse_pointer(m->string, p))
		return fail(err, path, m->string, NULL,
			    "\"%.64s\" is not a JSON Pointer: it must be empty or "
			    "start with /, and ~ must be followed by 0 or 1",
			    m->string);
	if (!cJSON_IsObject(m) || (n = cJSON_GetArraySize(m)) <= 0)
		return fail(err, path, m->string, NULL,
			    "the test of pointer \"%.64s\" must be a non-empty "
			    "object of operators", m->string);
	p->tests = xcalloc((size_t)n, sizeof(*p->tests));
	cJSON_ArrayForEach(t, m) {
		if (named_before(m, t))
			return fail(err, path, m->string, t->string,
				    "operator %.32s is given twice", t->string);
		if (compile_test(t, &p->tests[i], path, m->string, err) < 0)
			return -1;
		p->ntests = ++i;
	}
	return 0;
}

int
datafilter_compile(const cJSON *spec, const char *path,
		   struct datafilter **out, struct herald_error *err)
{
	struct datafilter *df;
	const cJSON *m;
	size_t i = 0;
	int n;

	*out = NULL;
	if (!cJSON_IsObject(spec) || (n = cJSON_GetArraySize(spec)) <= 0)
		return fail(err, path, NULL, NULL,
			    "%s must be a non-empty object of JSON Pointers to "
			    "tests", path);
	df = xcalloc(1, sizeof(*df));
	df->ptrs = xcalloc((size_t)n, sizeof(*df->ptrs));
	cJSON_ArrayForEach(m, spec) {
		if (named_before(spec, m)) {
			datafilter_free(df);
			return fail(err, path, m->string, NULL,
				    "pointer \"%.64s\" is given twice", m->string);
		}
		df->nptrs = ++i;
		if (compile_pointer(m, &df->ptrs[i - 1], path, err) < 0) {
			datafilter_free(df);
			return -1;
		}
	}
	*out = df;
	return 0;
}

void
datafilter_free(struct datafilter *df)
{
	if (df == NULL)
		return;
	for (size_t i = 0; i < df->nptrs; i++) {
		struct df_pointer *p = &df->ptrs[i];

		for (size_t k = 0; k < p->ntokens; k++)
			free(p->tokens[k]);
		free(p->tokens);
		for (size_t k = 0; k < p->ntests; k++) {
			cJSON_Delete(p->tests[k].operand);
			if (p->tests[k].owned)
				free((char *)p->tests[k].num);
		}
		free(p->tests);
	}
	free(df->ptrs);
	free(df);
}

/* ---- matching ---- */

/* RFC 6901 array index: "0" or digits without a leading zero. */
static bool
array_index(const char *t, size_t *out)
{
	size_t v = 0;

	if (t[0] == '\0' || (t[0] == '0' && t[1] != '\0'))
		return false;
	for (; *t; t++) {
		if (*t < '0' || *t > '9' || v > ((size_t)-1 - 9) / 10)
			return false;
		v = v * 10 + (size_t)(*t - '0');
	}
	*out = v;
	return true;
}

static const cJSON *
resolve(const cJSON *v, const struct df_pointer *p)
{
	for (size_t i = 0; v != NULL && i < p->ntokens; i++) {
		const char *t = p->tokens[i];

		if (cJSON_IsObject(v)) {
			const cJSON *c;

			cJSON_ArrayForEach(c, v)
				if (c->string != NULL && strcmp(c->string, t) == 0)
					break;
			v = c;
		} else if (cJSON_IsArray(v)) {
			size_t idx;
			const cJSON *c = NULL;

			if (array_index(t, &idx))
				for (c = v->child; c != NULL && idx > 0; idx--)
					c = c->next;
			v = c;
		} else {
			v = NULL;
		}
	}
	return v;
}

static bool
is_num(const cJSON *v)
{
	return cJSON_IsNumber(v) || cJSON_IsRaw(v);
}

/* Exact comparison of two numbers; false when either has no number text. */
static bool
num_cmp(const cJSON *a, const cJSON *b, int *cmp)
{
	char ba[32], bb[32];
	const char *x = jsonexact_number(a, ba, sizeof(ba)),
		   *y = jsonexact_number(b, bb, sizeof(bb));

	return x != NULL && y != NULL &&
	       decimal_cmp(x, strlen(x), y, strlen(y), cmp);
}

static bool
json_equal(const cJSON *a, const cJSON *b)
{
	const cJSON *x, *y;
	int cmp;

	if (is_num(a) || is_num(b))
		return is_num(a) && is_num(b) && num_cmp(a, b, &cmp) && cmp == 0;
	if (cJSON_IsString(a) || cJSON_IsString(b))
		return cJSON_IsString(a) && cJSON_IsString(b) &&
		       strcmp(a->valuestring, b->valuestring) == 0;
	if (cJSON_IsArray(a) || cJSON_IsArray(b)) {
		if (!cJSON_IsArray(a) || !cJSON_IsArray(b))
			return false;
		for (x = a->child, y = b->child; x != NULL && y != NULL;
		     x = x->next, y = y->next)
			if (!json_equal(x, y))
				return false;
		return x == NULL && y == NULL;
	}
	if (cJSON_IsObject(a) || cJSON_IsObject(b)) {
		if (!cJSON_IsObject(a) || !cJSON_IsObject(b) ||
		    cJSON_GetArraySize(a) != cJSON_GetArraySize(b))
			return false;
		cJSON_ArrayForEach(x, a) {
			cJSON_ArrayForEach(y, b)
				if (strcmp(x->string, y->string) == 0)
					break;
			if (y == NULL || !json_equal(x, y))
				return false;
		}
		return true;
	}
	/* true, false, null */
	return (a->type & 0xFF) == (b->type & 0xFF);
}

static bool
test_holds(const struct df_test *t, const cJSON *v)
{
	const cJSON *e;
	const char *x;
	char buf[32];
	size_t len, n;
	int cmp;

	if (t->op == DF_EXISTS)
		return (v != NULL) == t->want;
	if (v == NULL)
		return false;
	switch (t->op) {
	case DF_EQ:
		return json_equal(v, t->operand);
	case DF_NE:
		return !json_equal(v, t->operand);
	case DF_IN:
		cJSON_ArrayForEach(e, t->operand)
			if (json_equal(v, e))
				return true;
		return false;
	case DF_CONTAINS:
		if (cJSON_IsArray(v)) {
			cJSON_ArrayForEach(e, v)
				if (json_equal(e, t->operand))
					return true;
			return false;
		}
		return cJSON_IsString(v) && cJSON_IsString(t->operand) &&
		       strstr(v->valuestring, t->operand->valuestring) != NULL;
	case DF_PREFIX:
		n = strlen(t->operand->valuestring);
		return cJSON_IsString(v) &&
		       strncmp(v->valuestring, t->operand->valuestring, n) == 0;
	case DF_SUFFIX:
		if (!cJSON_IsString(v))
			return false;
		len = strlen(v->valuestring);
		n = strlen(t->operand->valuestring);
		return len >= n && memcmp(v->valuestring + len - n,
					  t->operand->valuestring, n) == 0;
	default: /* gt, gte, lt, lte */
		if (!cJSON_IsNumber(v) ||
		    (x = jsonexact_number(v, buf, sizeof(buf))) == NULL ||
		    !decimal_cmp(x, strlen(x), t->num, strlen(t->num), &cmp))
			return false;
		switch (t->op) {
		case DF_GT:
			return cmp > 0;
		case DF_GTE:
			return cmp >= 0;
		case DF_LT:
			return cmp < 0;
		default:
			return cmp <= 0;
		}
	}
}

bool
datafilter_match(const struct datafilter *df, struct datafilter_view *v)
{
	const cJSON *data = datafilter_view_data(v);

	for (size_t i = 0; i < df->nptrs; i++) {
		const struct df_pointer *p = &df->ptrs[i];
		const cJSON *at = resolve(data, p);

		for (size_t k = 0; k < p->ntests; k++)
			if (!test_holds(&p->tests[k], at))
				return false;
	}
	return true;
}
