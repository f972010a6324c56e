/* Subscription filters: compile Subscriptions API filter expressions into a tree, match events against it. */
#include "filter.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cesql.h"
#include "cloudevent.h"
#include "datafilter.h"
#include "xalloc.h"

/*
 * Filter expressions are JSON objects with exactly one dialect key:
 *
 *   {"exact":  {"<attribute>": "<value>"}}
 *   {"prefix": {"<attribute>": "<value>"}}
 *   {"suffix": {"<attribute>": "<value>"}}
 *   {"all": [<expression>, ...]}
 *   {"any": [<expression>, ...]}
 *   {"not": <expression>}
 *   {"data":   {"<JSON Pointer>": {"<operator>": <operand>, ...}, ...}}
 *   {"sql":    "<CESQL v1 expression>"}
 *
 * Attribute names are [a-z0-9]+, values non-empty strings; comparisons are
 * case-sensitive on the attribute's canonical string form (integers in
 * decimal, booleans "true"/"false").  The data dialect tests the event's
 * JSON data (datafilter.c).  An absent attribute never matches
 * exact, prefix or suffix, so "not" of such a filter matches.  An "sql"
 * expression (cesql.h) matches when it yields true without an error; it is
 * compiled here, once, and refused when it does not parse, calls a
 * function that does not exist or cannot yield a boolean.  A top-level
 * expression has depth 1; anything
 * deeper than FILTER_MAX_DEPTH is refused, which also bounds the recursion
 * of filter_match.
 *
 * The compiled form is a tree whose children are stored inline in one array
 * per node; leaves keep the attribute name and the value with its length, so
 * matching never touches JSON.
 */

#define FILTER_MAX_DEPTH 32
#define FILTER_PATH_MAX 512
#define FILTER_ATTR_BUF 64 /* backs integer/boolean attribute strings */

enum filter_kind {
	FILTER_EXACT = 0, /* attribute equals value */
	FILTER_PREFIX,    /* attribute starts with value */
	FILTER_SUFFIX,    /* attribute ends with value */
	FILTER_ALL,       /* every child matches */
	FILTER_ANY,       /* at least one child matches */
	FILTER_NOT,       /* the single child does not match */
	FILTER_DATA,      /* the event's JSON data passes data's tests */
	FILTER_SQL,       /* the CESQL expression yields true */
};

struct filter {
	enum filter_kind kind;
	char *attr;          /* leaves: attribute name */
	char *value;         /* leaves: value to compare with */
	size_t value_len;
	struct filter *kids; /* all/any: nkids children; not: exactly one */
	size_t nkids;
	struct datafilter *data; /* data: the compiled tests */
	struct cesql *sql;   /* sql: the compiled expression */
};

/* The JSON path of the expression being compiled, for error messages. */
struct path {
	char buf[FILTER_PATH_MAX];
	size_t len;
};

static size_t
path_push(struct path *p, const char *fmt, ...)
{
	size_t old = p->len;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(p->buf + p->len, sizeof(p->buf) - p->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		p->len += (size_t)n;
	if (p->len >= sizeof(p->buf))
		p->len = sizeof(p->buf) - 1;
	return old;
}

static void
path_pop(struct path *p, size_t old)
{
	p->len = old;
	p->buf[old] = '\0';
}

static int
fail(struct herald_error *err, const struct path *p, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	if (err == NULL)
		return -1;
	snprintf(err->code, sizeof(err->code), "%s", "invalid_filter");
	n = strnlen(p->buf, sizeof(err->field) - 1);
	memcpy(err->field, p->buf, n);
	err->field[n] = '\0';
	err->index = -1;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return -1;
}

static void
free_node(struct filter *f)
{
	size_t i;

	free(f->attr);
	free(f->value);
	for (i = 0; i < f->nkids; i++)
		free_node(&f->kids[i]);
	free(f->kids);
	datafilter_free(f->data);
	f->data = NULL;
	cesql_free(f->sql);
	f->sql = NULL;
	f->attr = NULL;
	f->value = NULL;
	f->kids = NULL;
	f->nkids = 0;
}

static int compile_expr(const cJSON *expr, struct filter *out, struct path *p,
			int depth, struct herald_error *err);

/* exact/prefix/suffix: {"attribute": "value"}; p names the dialect. */
static int
compile_leaf(const cJSON *v, struct filter *out, struct path *p,
	     struct herald_error *err)
{
	const cJSON *m;

	if (!cJSON_IsObject(v) || v->child == NULL || v->child->next != NULL)
		return fail(err, p, "%s must be an object with exactly one attribute",
			    p->buf);
	m = v->child;
	if (m->string == NULL || !ce_attr_name_valid(m->string))
		return fail(err, p, "filter attribute names must be lower-case letters and digits");
	if (!cJSON_IsString(m) || m->valuestring[0] == '\0')
		return fail(err, p, "filter value for attribute %.64s must be a non-empty string",
			    m->string);
	out->attr = xstrdup(m->string);
	out->value_len = strlen(m->valuestring);
	out->value = xmemdup(m->valuestring, out->value_len + 1);
	return 0;
}

/* all/any: a non-empty array of expressions. */
static int
compile_list(const cJSON *v, struct filter *out, struct path *p, int depth,
	     struct herald_error *err)
{
	const cJSON *e;
	size_t i = 0;
	int n;

	if (!cJSON_IsArray(v) || (n = cJSON_GetArraySize(v)) <= 0)
		return fail(err, p, "%s must be a non-empty array of filter expressions",
			    p->buf);
	out->kids = xcalloc((size_t)n, sizeof(*out->kids));
	out->nkids = (size_t)n;
	cJSON_ArrayForEach(e, v) {
		size_t old = path_push(p, "[%zu]", i);

		if (compile_expr(e, &out->kids[i], p, depth + 1, err) < 0)
			return -1;
		path_pop(p, old);
		i++;
	}
	return 0;
}

/* sql: a CESQL expression in a string, refused with the column at fault. */
static int
compile_sql(const cJSON *v, struct filter *out, struct path *p,
	    struct herald_error *err)
{
	char msg[160];
	size_t column = 0;

	if (!cJSON_IsString(v) || v->valuestring[0] == '\0')
		return fail(err, p, "%s must be a non-empty string holding a CESQL expression",
			    p->buf);
	out->sql = cesql_compile(v->valuestring, strlen(v->valuestring),
				 &column, msg, sizeof(msg));
	if (out->sql == NULL ||
	    cesql_check_filter(out->sql, &column, msg, sizeof(msg)) < 0)
		return fail(err, p, "sql expression, column %zu: %s", column,
			    msg);
	return 0;
}

static int
compile_expr(const cJSON *expr, struct filter *out, struct path *p, int depth,
	     struct herald_error *err)
{
	const cJSON *d;
	const char *key;
	size_t old;
	int rc;

	if (depth > FILTER_MAX_DEPTH)
		return fail(err, p, "filters must not be nested more than %d levels deep",
			    FILTER_MAX_DEPTH);
	if (!cJSON_IsObject(expr))
		return fail(err, p, "filter expression must be an object");
	d = expr->child;
	if (d == NULL || d->next != NULL)
		return fail(err, p, "filter expression must have exactly one dialect key");
	key = d->string;
	if (key == NULL || key[0] == '\0')
		return fail(err, p, "filter dialect must not be empty");

	old = path_push(p, ".%s", key);
	if (strcmp(key, "exact") == 0) {
		out->kind = FILTER_EXACT;
		rc = compile_leaf(d, out, p, err);
	} else if (strcmp(key, "prefix") == 0) {
		out->kind = FILTER_PREFIX;
		rc = compile_leaf(d, out, p, err);
	} else if (strcmp(key, "suffix") == 0) {
		out->kind = FILTER_SUFFIX;
		rc = compile_leaf(d, out, p, err);
	} else if (strcmp(key, "all") == 0) {
		out->kind = FILTER_ALL;
		rc = compile_list(d, out, p, depth, err);
	} else if (strcmp(key, "any") == 0) {
		out->kind = FILTER_ANY;
		rc = compile_list(d, out, p, depth, err);
	} else if (strcmp(key, "not") == 0) {
		out->kind = FILTER_NOT;
		if (!cJSON_IsObject(d))
			return fail(err, p, "%s must be a filter expression object",
				    p->buf);
		out->kids = xcalloc(1, sizeof(*out->kids));
		out->nkids = 1;
		rc = compile_expr(d, out->kids, p, depth + 1, err);
	} else if (strcmp(key, "data") == 0) {
		out->kind = FILTER_DATA;
		rc = datafilter_compile(d, p->buf, &out->data, err);
	} else if (strcmp(key, "sql") == 0) {
		out->kind = FILTER_SQL;
		rc = compile_sql(d, out, p, err);
	} else {
		rc = fail(err, p, "unrecognized filter dialect \"%.32s\"", key);
	}
	if (rc == 0)
		path_pop(p, old);
	return rc;
}

int
filter_compile(const cJSON *filters, struct filter **out,
	       struct herald_error *err)
{
	struct filter *root;
	struct path p;
	const cJSON *e;
	size_t i = 0;
	int n;

	*out = NULL;
	p.len = 0;
	path_push(&p, "filters");
	if (filters == NULL || cJSON_IsNull(filters))
		return 0;
	if (!cJSON_IsArray(filters))
		return fail(err, &p, "filters must be an array of filter expressions");
	n = cJSON_GetArraySize(filters);
	if (n <= 0)
		return 0;

	root = xcalloc(1, sizeof(*root));
	if (n == 1) {
		path_push(&p, "[0]");
		if (compile_expr(filters->child, root, &p, 1, err) < 0)
			goto err;
	} else {
		/* several entries: all of them must hold */
		root->kind = FILTER_ALL;
		root->kids = xcalloc((size_t)n, sizeof(*root->kids));
		root->nkids = (size_t)n;
		cJSON_ArrayForEach(e, filters) {
			size_t old = path_push(&p, "[%zu]", i);

			if (compile_expr(e, &root->kids[i], &p, 1, err) < 0)
				goto err;
			path_pop(&p, old);
			i++;
		}
	}
	*out = root;
	return 0;

err:
	filter_free(root);
	return -1;
}

static bool
match_leaf(const struct filter *f, const struct cloudevent *ev)
{
	char buf[FILTER_ATTR_BUF];
	const char *s = ce_attr_string(ev, f->attr, buf, sizeof(buf));
	size_t len;

	if (s == NULL)
		return false;
	switch (f->kind) {
	case FILTER_EXACT:
		return strcmp(s, f->value) == 0;
	case FILTER_PREFIX:
		return strncmp(s, f->value, f->value_len) == 0;
	case FILTER_SUFFIX:
		len = strlen(s);
		return len >= f->value_len &&
		       memcmp(s + len - f->value_len, f->value, f->value_len) == 0;
	default:
		return false;
	}
}

static bool
match_node(const struct filter *f, const struct cloudevent *ev,
	   struct datafilter_view *view)
{
	size_t i;

	switch (f->kind) {
	case FILTER_ALL:
		for (i = 0; i < f->nkids; i++)
			if (!match_node(&f->kids[i], ev, view))
				return false;
		return true;
	case FILTER_ANY:
		for (i = 0; i < f->nkids; i++)
			if (match_node(&f->kids[i], ev, view))
				return true;
		return false;
	case FILTER_NOT:
		return !match_node(&f->kids[0], ev, view);
	case FILTER_DATA:
		return datafilter_match(f->data, view);
	case FILTER_SQL:
		return cesql_match(f->sql, ev);
	default:
		return match_leaf(f, ev);
	}
}

bool
filter_match(const struct filter *f, const struct cloudevent *ev,
	     struct datafilter_view *view)
{
	struct datafilter_view own;
	bool m;

	if (f == NULL)
		return true;
	if (view != NULL)
		return match_node(f, ev, view);
	datafilter_view_init(&own, ev);
	m = match_node(f, ev, &own);
	datafilter_view_free(&own);
	return m;
}

bool
filter_needs_data(const struct filter *f)
{
	if (f == NULL)
		return false;
	if (f->kind == FILTER_DATA)
		return true;
	for (size_t i = 0; i < f->nkids; i++)
		if (filter_needs_data(&f->kids[i]))
			return true;
	return false;
}

void
filter_free(struct filter *f)
{
	if (f == NULL)
		return;
	free_node(f);
	free(f);
}
