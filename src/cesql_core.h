/* CESQL internals shared by its lexer, parser and evaluator: tokens, the expression tree, the function table. */
#ifndef HERALD_CESQL_CORE_H
#define HERALD_CESQL_CORE_H

#include "cesql.h"

enum cesql_tok {
	TOK_END = 0,
	TOK_ERROR,   /* bad character or unterminated string */
	TOK_INTEGER, /* digits only, unsigned; value in tok.num */
	TOK_STRING,  /* a quoted literal, unescaped in tok.text */
	TOK_NAME,    /* an identifier or function name, as written */
	TOK_AND, TOK_OR, TOK_XOR, TOK_NOT, TOK_LIKE, TOK_IN, TOK_EXISTS,
	TOK_TRUE, TOK_FALSE,
	TOK_LPAREN, TOK_RPAREN, TOK_COMMA,
	TOK_PLUS, TOK_MINUS, TOK_STAR, TOK_SLASH, TOK_PERCENT,
	TOK_EQ, TOK_NE, TOK_LT, TOK_LE, TOK_GT, TOK_GE,
};

struct cesql_token {
	enum cesql_tok kind;
	size_t column;  /* 1-based, in characters */
	char *text;     /* TOK_STRING, TOK_NAME: malloc'd, NUL-terminated */
	size_t len;
	int64_t num;    /* TOK_INTEGER, saturated past 2^31 */
	const char *why; /* TOK_ERROR: what is wrong */
};

struct cesql_lexer {
	const char *p, *end;
	size_t column;
};

void cesql_lex_init(struct cesql_lexer *lx, const char *text, size_t len);
/* The next token; its text (if any) is the caller's to free. */
void cesql_lex_next(struct cesql_lexer *lx, struct cesql_token *tok);

enum cesql_kind {
	NODE_LITERAL = 0, /* value in lit */
	NODE_ATTRIBUTE,   /* name: a context attribute or extension */
	NODE_EXISTS,      /* name */
	NODE_NOT,         /* kids[0] */
	NODE_NEGATE,      /* kids[0] */
	NODE_BINARY,      /* kids[0] op kids[1] */
	NODE_LIKE,        /* kids[0] [NOT] LIKE lit (the pattern) */
	NODE_IN,          /* kids[0] [NOT] IN (kids[1..]) */
	NODE_CALL,        /* name(kids...), func the table index or -1 */
};

enum cesql_binop {
	OP_AND = 0, OP_OR, OP_XOR,
	OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE,
	OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_MOD,
};

/* What a node yields when the parser can tell (attributes cannot). */
enum cesql_static {
	STATIC_ANY = -1,
	STATIC_BOOLEAN = CESQL_BOOLEAN,
	STATIC_INTEGER = CESQL_INTEGER,
	STATIC_STRING = CESQL_STRING,
};

struct cesql_node {
	enum cesql_kind kind;
	enum cesql_binop op;
	bool negated;           /* NOT LIKE, NOT IN */
	struct cesql_value lit; /* literal, or the LIKE pattern */
	char *name;             /* attribute (lower case) or function (upper case) */
	int func;
	struct cesql_node **kids;
	size_t nkids;
	size_t column;          /* where the node's text starts */
	int depth;              /* 1 for a leaf */
	enum cesql_static yields;
};

struct cesql {
	struct cesql_node *root;
};

/* The function of that upper-case name taking nargs arguments: its index,
 * and the type it returns; -1 when there is none. */
int cesql_func_lookup(const char *name, size_t nargs, enum cesql_type *ret);

#endif
