/* CESQL parser: builds the expression tree by recursive descent, with bounded length and depth. */
#include "cesql_core.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloudevent.h"
#include "xalloc.h"

/*
 * Precedence, tightest first (CESQL v1 section 3.6), left to right within
 * a level:
 *
 *   function calls, literals, attributes, EXISTS name, ( expression )
 *   NOT x, -x                      (prefix; NOT a = b is (NOT a) = b)
 *   x [NOT] LIKE 'pattern', x [NOT] IN (y, ...)
 *   *  /  %
 *   +  -
 *   =  !=  <>  <  <=  >  >=
 *   AND  OR  XOR                   (one level: a OR b AND c is (a OR b) AND c)
 *
 * A minus before an integer literal makes a negative literal, which is how
 * -2147483648 can be written.  Attribute names are case-insensitive and
 * kept in lower case (CloudEvents names are); function names are kept in
 * upper case.  Recursion is bounded by CESQL_MAX_DEPTH levels of nesting,
 * and so is the depth of the tree, which bounds the evaluator's recursion.
 */

struct parser {
	struct cesql_lexer lx;
	struct cesql_token tok; /* the current token */
	int nesting;
	bool failed;
	size_t err_column;
	char *msg;
	size_t msglen;
};

static void
free_node(struct cesql_node *n)
{
	size_t i;

	if (n == NULL)
		return;
	for (i = 0; i < n->nkids; i++)
		free_node(n->kids[i]);
	free(n->kids);
	free(n->name);
	cesql_value_clear(&n->lit);
	free(n);
}

static void
fail(struct parser *ps, size_t column, const char *fmt, ...)
{
	va_list ap;

	if (ps->failed)
		return;
	ps->failed = true;
	ps->err_column = column;
	if (ps->msg == NULL || ps->msglen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(ps->msg, ps->msglen, fmt, ap);
	va_end(ap);
}

static void
next(struct parser *ps)
{
	free(ps->tok.text);
	cesql_lex_next(&ps->lx, &ps->tok);
}

static const char *
describe(const struct cesql_token *t)
{
	switch (t->kind) {
	case TOK_END: return "the end of the expression";
	case TOK_ERROR: return "an invalid character";
	case TOK_INTEGER: return "an integer";
	case TOK_STRING: return "a string";
	case TOK_NAME: return "a name";
	case TOK_AND: return "AND";
	case TOK_OR: return "OR";
	case TOK_XOR: return "XOR";
	case TOK_NOT: return "NOT";
	case TOK_LIKE: return "LIKE";
	case TOK_IN: return "IN";
	case TOK_EXISTS: return "EXISTS";
	case TOK_TRUE: return "TRUE";
	case TOK_FALSE: return "FALSE";
	case TOK_LPAREN: return "'('";
	case TOK_RPAREN: return "')'";
	case TOK_COMMA: return "','";
	case TOK_PLUS: return "'+'";
	case TOK_MINUS: return "'-'";
	case TOK_STAR: return "'*'";
	case TOK_SLASH: return "'/'";
	case TOK_PERCENT: return "'%'";
	case TOK_EQ: return "'='";
	case TOK_NE: return "'!='";
	case TOK_LT: return "'<'";
	case TOK_LE: return "'<='";
	case TOK_GT: return "'>'";
	case TOK_GE: return "'>='";
	}
	return "a token";
}

/* Complain about the current token. */
static void
unexpected(struct parser *ps, const char *wanted)
{
	if (ps->tok.kind == TOK_ERROR)
		fail(ps, ps->tok.column, "%s", ps->tok.why);
	else
		fail(ps, ps->tok.column, "expected %s, found %s", wanted,
		     describe(&ps->tok));
}

static struct cesql_node *
new_node(enum cesql_kind kind, size_t column, enum cesql_static yields)
{
	struct cesql_node *n = xcalloc(1, sizeof(*n));

	n->kind = kind;
	n->column = column;
	n->func = -1;
	n->depth = 1;
	n->yields = yields;
	return n;
}

static void
add_kid(struct cesql_node *n, struct cesql_node *kid)
{
	n->kids = xrealloc(n->kids, (n->nkids + 1) * sizeof(*n->kids));
	n->kids[n->nkids++] = kid;
}

/* Fix the node's depth from its children; NULL (freed) when too deep. */
static struct cesql_node *
finish(struct parser *ps, struct cesql_node *n)
{
	size_t i;

	for (i = 0; i < n->nkids; i++)
		if (n->kids[i]->depth + 1 > n->depth)
			n->depth = n->kids[i]->depth + 1;
	if (n->depth > CESQL_MAX_DEPTH) {
		fail(ps, n->column, "expression nested more than %d levels deep",
		     CESQL_MAX_DEPTH);
		free_node(n);
		return NULL;
	}
	return n;
}

static struct cesql_node *
literal_int(size_t column, int32_t v)
{
	struct cesql_node *n = new_node(NODE_LITERAL, column, STATIC_INTEGER);

	n->lit.type = CESQL_INTEGER;
	n->lit.i = v;
	return n;
}

/* Take the current string token as a literal's value. */
static void
take_string(struct parser *ps, struct cesql_value *v)
{
	v->type = CESQL_STRING;
	v->s = ps->tok.text;
	v->len = ps->tok.len;
	v->owned = true;
	ps->tok.text = NULL;
}

static struct cesql_node *parse_expr(struct parser *ps);
static struct cesql_node *parse_unary(struct parser *ps);

static bool
name_is_attribute(const char *s)
{
	for (; *s; s++)
		if (*s == '_')
			return false;
	return true;
}

static bool
name_is_function(const char *s)
{
	if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      *s == '_'))
			return false;
	return true;
}

/* ( expression [, expression]... ) into n's children after those it has;
 * the current token is the '('.  empty_ok allows (). */
static bool
parse_list(struct parser *ps, struct cesql_node *n, bool empty_ok)
{
	next(ps);
	if (empty_ok && ps->tok.kind == TOK_RPAREN) {
		next(ps);
		return true;
	}
	for (;;) {
		struct cesql_node *e = parse_expr(ps);

		if (e == NULL)
			return false;
		add_kid(n, e);
		if (ps->tok.kind == TOK_COMMA) {
			next(ps);
			continue;
		}
		if (ps->tok.kind != TOK_RPAREN) {
			unexpected(ps, "',' or ')'");
			return false;
		}
		next(ps);
		return true;
	}
}

static struct cesql_node *
parse_name(struct parser *ps)
{
	size_t column = ps->tok.column;
	char *name = ps->tok.text;
	struct cesql_node *n;
	enum cesql_type ret;
	char *c;

	ps->tok.text = NULL;
	next(ps);
	if (ps->tok.kind == TOK_LPAREN) {
		if (!name_is_function(name)) {
			fail(ps, column, "\"%.32s\" is not a function name", name);
			free(name);
			return NULL;
		}
		for (c = name; *c; c++)
			if (*c >= 'a' && *c <= 'z')
				*c = (char)(*c - 'a' + 'A');
		n = new_node(NODE_CALL, column, STATIC_BOOLEAN);
		n->name = name;
		if (!parse_list(ps, n, true)) {
			free_node(n);
			return NULL;
		}
		n->func = cesql_func_lookup(name, n->nkids, &ret);
		if (n->func >= 0)
			n->yields = (enum cesql_static)ret;
		return finish(ps, n);
	}
	if (!name_is_attribute(name)) {
		fail(ps, column, "\"%.32s\" is not an attribute name (letters and digits)",
		     name);
		free(name);
		return NULL;
	}
	for (c = name; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	n = new_node(NODE_ATTRIBUTE, column, STATIC_ANY);
	n->name = name;
	return n;
}

static struct cesql_node *
parse_primary(struct parser *ps)
{
	size_t column = ps->tok.column;
	struct cesql_node *n;

	switch (ps->tok.kind) {
	case TOK_INTEGER:
		if (ps->tok.num > INT32_MAX) {
			fail(ps, column, "integer literal out of the 32-bit range");
			return NULL;
		}
		n = literal_int(column, (int32_t)ps->tok.num);
		next(ps);
		return n;
	case TOK_STRING:
		n = new_node(NODE_LITERAL, column, STATIC_STRING);
		take_string(ps, &n->lit);
		next(ps);
		return n;
	case TOK_TRUE:
	case TOK_FALSE:
		n = new_node(NODE_LITERAL, column, STATIC_BOOLEAN);
		n->lit.type = CESQL_BOOLEAN;
		n->lit.b = ps->tok.kind == TOK_TRUE;
		next(ps);
		return n;
	case TOK_LPAREN:
		next(ps);
		n = parse_expr(ps);
		if (n == NULL)
			return NULL;
		if (ps->tok.kind != TOK_RPAREN) {
			unexpected(ps, "')'");
			free_node(n);
			return NULL;
		}
		next(ps);
		return n;
	case TOK_EXISTS:
		next(ps);
		if (ps->tok.kind != TOK_NAME || !name_is_attribute(ps->tok.text)) {
			unexpected(ps, "an attribute name after EXISTS");
			return NULL;
		}
		n = parse_name(ps);
		if (n == NULL)
			return NULL;
		if (n->kind != NODE_ATTRIBUTE) {
			fail(ps, n->column, "EXISTS takes an attribute name");
			free_node(n);
			return NULL;
		}
		n->kind = NODE_EXISTS;
		n->column = column;
		n->yields = STATIC_BOOLEAN;
		return n;
	case TOK_NAME:
		return parse_name(ps);
	default:
		unexpected(ps, "an expression");
		return NULL;
	}
}

/* NOT x, -x, +integer, or a primary. */
static struct cesql_node *
parse_unary_inner(struct parser *ps)
{
	size_t column = ps->tok.column;
	struct cesql_node *n, *k;
	enum cesql_tok op = ps->tok.kind;

	if (op == TOK_MINUS || op == TOK_PLUS) {
		next(ps);
		if (ps->tok.kind == TOK_INTEGER) {
			int64_t v = op == TOK_MINUS ? -ps->tok.num : ps->tok.num;

			if (v < INT32_MIN || v > INT32_MAX) {
				fail(ps, column, "integer literal out of the 32-bit range");
				return NULL;
			}
			next(ps);
			return literal_int(column, (int32_t)v);
		}
		if (op == TOK_PLUS) {
			unexpected(ps, "an integer after '+'");
			return NULL;
		}
	} else if (op == TOK_NOT) {
		next(ps);
	} else {
		return parse_primary(ps);
	}
	k = parse_unary(ps);
	if (k == NULL)
		return NULL;
	n = new_node(op == TOK_NOT ? NODE_NOT : NODE_NEGATE, column,
		     op == TOK_NOT ? STATIC_BOOLEAN : STATIC_INTEGER);
	add_kid(n, k);
	return finish(ps, n);
}

static struct cesql_node *
parse_unary(struct parser *ps)
{
	struct cesql_node *n;

	if (++ps->nesting > CESQL_MAX_DEPTH) {
		fail(ps, ps->tok.column, "expression nested more than %d levels deep",
		     CESQL_MAX_DEPTH);
		ps->nesting--;
		return NULL;
	}
	n = parse_unary_inner(ps);
	ps->nesting--;
	return n;
}

/* unary followed by any number of [NOT] LIKE 'p' and [NOT] IN (...). */
static struct cesql_node *
parse_postfix(struct parser *ps)
{
	struct cesql_node *x = parse_unary(ps), *n;
	bool negated;

	while (x != NULL) {
		negated = false;
		if (ps->tok.kind == TOK_NOT) {
			negated = true;
			next(ps);
			if (ps->tok.kind != TOK_LIKE && ps->tok.kind != TOK_IN) {
				unexpected(ps, "LIKE or IN after NOT");
				free_node(x);
				return NULL;
			}
		}
		if (ps->tok.kind == TOK_LIKE) {
			next(ps);
			if (ps->tok.kind != TOK_STRING) {
				unexpected(ps, "a string literal as the LIKE pattern");
				free_node(x);
				return NULL;
			}
			n = new_node(NODE_LIKE, x->column, STATIC_BOOLEAN);
			take_string(ps, &n->lit);
			next(ps);
		} else if (ps->tok.kind == TOK_IN) {
			next(ps);
			n = new_node(NODE_IN, x->column, STATIC_BOOLEAN);
			add_kid(n, x);
			x = NULL;
			if (ps->tok.kind != TOK_LPAREN) {
				unexpected(ps, "'(' after IN");
				free_node(n);
				return NULL;
			}
			if (!parse_list(ps, n, false)) {
				free_node(n);
				return NULL;
			}
		} else {
			break;
		}
		n->negated = negated;
		if (x != NULL)
			add_kid(n, x);
		x = finish(ps, n);
	}
	return x;
}

typedef struct cesql_node *(*parse_fn)(struct parser *);

/* One left-associative level: operand (op operand)*. */
static struct cesql_node *
parse_level(struct parser *ps, parse_fn operand, const enum cesql_tok *toks,
	    const enum cesql_binop *ops, size_t nops)
{
	struct cesql_node *l = operand(ps), *r, *n;
	size_t i;

	while (l != NULL) {
		for (i = 0; i < nops && ps->tok.kind != toks[i]; i++)
			;
		if (i == nops)
			break;
		next(ps);
		r = operand(ps);
		if (r == NULL) {
			free_node(l);
			return NULL;
		}
		n = new_node(NODE_BINARY, l->column,
			     ops[i] >= OP_ADD ? STATIC_INTEGER : STATIC_BOOLEAN);
		n->op = ops[i];
		add_kid(n, l);
		add_kid(n, r);
		l = finish(ps, n);
	}
	return l;
}

static struct cesql_node *
parse_mul(struct parser *ps)
{
	static const enum cesql_tok t[] = {TOK_STAR, TOK_SLASH, TOK_PERCENT};
	static const enum cesql_binop o[] = {OP_MUL, OP_DIV, OP_MOD};

	return parse_level(ps, parse_postfix, t, o, 3);
}

static struct cesql_node *
parse_add(struct parser *ps)
{
	static const enum cesql_tok t[] = {TOK_PLUS, TOK_MINUS};
	static const enum cesql_binop o[] = {OP_ADD, OP_SUB};

	return parse_level(ps, parse_mul, t, o, 2);
}

static struct cesql_node *
parse_cmp(struct parser *ps)
{
	static const enum cesql_tok t[] = {TOK_EQ, TOK_NE, TOK_LT,
					   TOK_LE, TOK_GT, TOK_GE};
	static const enum cesql_binop o[] = {OP_EQ, OP_NE, OP_LT,
					     OP_LE, OP_GT, OP_GE};

	return parse_level(ps, parse_add, t, o, 6);
}

static struct cesql_node *
parse_expr(struct parser *ps)
{
	static const enum cesql_tok t[] = {TOK_AND, TOK_OR, TOK_XOR};
	static const enum cesql_binop o[] = {OP_AND, OP_OR, OP_XOR};

	return parse_level(ps, parse_cmp, t, o, 3);
}

struct cesql *
cesql_compile(const char *text, size_t len, size_t *column, char *msg,
	      size_t msglen)
{
	struct parser ps;
	struct cesql_node *root;
	struct cesql *expr;

	memset(&ps, 0, sizeof(ps));
	ps.msg = msg;
	ps.msglen = msglen;
	if (msg != NULL && msglen > 0)
		msg[0] = '\0';
	if (len > CESQL_MAX_LENGTH) {
		fail(&ps, 1, "expression longer than %d bytes", CESQL_MAX_LENGTH);
		goto err;
	}
	if (!ce_utf8_valid(text, len) || memchr(text, '\0', len) != NULL) {
		fail(&ps, 1, "expression is not valid UTF-8 text");
		goto err;
	}
	cesql_lex_init(&ps.lx, text, len);
	cesql_lex_next(&ps.lx, &ps.tok);
	root = parse_expr(&ps);
	if (root != NULL && ps.tok.kind != TOK_END) {
		unexpected(&ps, "an operator or the end of the expression");
		free_node(root);
		root = NULL;
	}
	free(ps.tok.text);
	if (root == NULL)
		goto err;
	expr = xcalloc(1, sizeof(*expr));
	expr->root = root;
	return expr;

err:
	if (column != NULL)
		*column = ps.err_column;
	return NULL;
}

static const char *
type_name(enum cesql_static t)
{
	switch (t) {
	case STATIC_INTEGER: return "an integer";
	case STATIC_STRING: return "a string";
	default: return "a boolean";
	}
}

static const struct cesql_node *
find_missing_function(const struct cesql_node *n)
{
	const struct cesql_node *m;
	size_t i;

	if (n->kind == NODE_CALL && n->func < 0)
		return n;
	for (i = 0; i < n->nkids; i++)
		if ((m = find_missing_function(n->kids[i])) != NULL)
			return m;
	return NULL;
}

int
cesql_check_filter(const struct cesql *expr, size_t *column, char *msg,
		   size_t msglen)
{
	const struct cesql_node *m = find_missing_function(expr->root);

	if (m != NULL) {
		*column = m->column;
		snprintf(msg, msglen, "no function %s taking %zu argument%s",
			 m->name, m->nkids, m->nkids == 1 ? "" : "s");
		return -1;
	}
	if (expr->root->yields != STATIC_ANY &&
	    expr->root->yields != STATIC_BOOLEAN) {
		*column = 1;
		snprintf(msg, msglen, "the expression yields %s, a filter needs a boolean",
			 type_name(expr->root->yields));
		return -1;
	}
	return 0;
}

void
cesql_free(struct cesql *expr)
{
	if (expr == NULL)
		return;
	free_node(expr->root);
	free(expr);
}
