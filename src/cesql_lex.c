/* CESQL lexer: splits an expression into tokens, keywords case-insensitive, columns counted in characters. */
#include "cesql_core.h"

#include <stdlib.h>
#include <string.h>

#include "text.h"
#include "xalloc.h"

/*
 * Tokens: integers (digits only; a sign is an operator the parser folds
 * into a literal), strings in '' or "" (a backslash before the delimiter,
 * or the delimiter doubled, stands for the delimiter; any other backslash
 * is kept, so LIKE patterns see their \% and \_), names ([A-Za-z0-9_]+,
 * not all digits), keywords (names matched case-insensitively) and the
 * operators ( ) , + - * / % = != <> < <= > >=.  Blanks are space, tab, CR
 * and LF.
 */

static const struct {
	const char *word;
	enum cesql_tok kind;
} keywords[] = {
	{"AND", TOK_AND}, {"OR", TOK_OR}, {"XOR", TOK_XOR},
	{"NOT", TOK_NOT}, {"LIKE", TOK_LIKE}, {"IN", TOK_IN},
	{"EXISTS", TOK_EXISTS}, {"TRUE", TOK_TRUE}, {"FALSE", TOK_FALSE},
};

void
cesql_lex_init(struct cesql_lexer *lx, const char *text, size_t len)
{
	lx->p = text;
	lx->end = text + len;
	lx->column = 1;
}

/* Step over n bytes, counting the characters (UTF-8 lead bytes). */
static void
advance(struct cesql_lexer *lx, size_t n)
{
	for (; n > 0 && lx->p < lx->end; n--, lx->p++)
		if (((unsigned char)*lx->p & 0xc0) != 0x80)
			lx->column++;
}

static bool
is_word_char(char c)
{
	return text_is_alnum(c) || c == '_';
}

static bool
word_is(const char *p, size_t n, const char *kw)
{
	size_t i;

	if (strlen(kw) != n)
		return false;
	for (i = 0; i < n; i++) {
		char c = p[i];

		if (c >= 'a' && c <= 'z')
			c = (char)(c - 'a' + 'A');
		if (c != kw[i])
			return false;
	}
	return true;
}

static void
lex_word(struct cesql_lexer *lx, struct cesql_token *tok)
{
	const char *p = lx->p;
	bool digits = true;
	size_t n = 0, i;

	while (p + n < lx->end && is_word_char(p[n])) {
		if (!text_is_digit(p[n]))
			digits = false;
		n++;
	}
	if (digits) {
		int64_t v = 0;

		for (i = 0; i < n; i++)
			if (v <= INT32_MAX)
				v = v * 10 + (p[i] - '0');
		tok->kind = TOK_INTEGER;
		tok->num = v;
		advance(lx, n);
		return;
	}
	for (i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
		if (word_is(p, n, keywords[i].word)) {
			tok->kind = keywords[i].kind;
			advance(lx, n);
			return;
		}
	tok->kind = TOK_NAME;
	tok->text = xmalloc(n + 1); /* the text need not be NUL-terminated */
	memcpy(tok->text, p, n);
	tok->text[n] = '\0';
	tok->len = n;
	advance(lx, n);
}

static void
lex_string(struct cesql_lexer *lx, struct cesql_token *tok)
{
	char q = *lx->p;
	const char *p = lx->p + 1;
	char *out = xmalloc((size_t)(lx->end - lx->p));
	size_t n = 0;

	for (;;) {
		if (p >= lx->end) {
			free(out);
			tok->kind = TOK_ERROR;
			tok->why = "unterminated string literal";
			return;
		}
		if (*p == '\\' && p + 1 < lx->end) {
			if (p[1] != q)
				out[n++] = '\\';
			out[n++] = p[1];
			p += 2;
		} else if (*p == q && p + 1 < lx->end && p[1] == q) {
			out[n++] = q;
			p += 2;
		} else if (*p == q) {
			p++;
			break;
		} else {
			out[n++] = *p++;
		}
	}
	out[n] = '\0';
	tok->kind = TOK_STRING;
	tok->text = out;
	tok->len = n;
	advance(lx, (size_t)(p - lx->p));
}

void
cesql_lex_next(struct cesql_lexer *lx, struct cesql_token *tok)
{
	char c, d;

	memset(tok, 0, sizeof(*tok));
	while (lx->p < lx->end && (*lx->p == ' ' || *lx->p == '\t' ||
				   *lx->p == '\r' || *lx->p == '\n'))
		advance(lx, 1);
	tok->column = lx->column;
	if (lx->p >= lx->end) {
		tok->kind = TOK_END;
		return;
	}
	c = *lx->p;
	d = lx->p + 1 < lx->end ? lx->p[1] : '\0';
	if (is_word_char(c)) {
		lex_word(lx, tok);
		return;
	}
	if (c == '\'' || c == '"') {
		lex_string(lx, tok);
		return;
	}
	switch (c) {
	case '(': tok->kind = TOK_LPAREN; break;
	case ')': tok->kind = TOK_RPAREN; break;
	case ',': tok->kind = TOK_COMMA; break;
	case '+': tok->kind = TOK_PLUS; break;
	case '-': tok->kind = TOK_MINUS; break;
	case '*': tok->kind = TOK_STAR; break;
	case '/': tok->kind = TOK_SLASH; break;
	case '%': tok->kind = TOK_PERCENT; break;
	case '=': tok->kind = TOK_EQ; break;
	case '!':
		if (d != '=') {
			tok->kind = TOK_ERROR;
			tok->why = "unexpected character '!' (did you mean !=?)";
			return;
		}
		tok->kind = TOK_NE;
		advance(lx, 2);
		return;
	case '<':
		if (d == '=' || d == '>') {
			tok->kind = d == '=' ? TOK_LE : TOK_NE;
			advance(lx, 2);
			return;
		}
		tok->kind = TOK_LT;
		break;
	case '>':
		if (d == '=') {
			tok->kind = TOK_GE;
			advance(lx, 2);
			return;
		}
		tok->kind = TOK_GT;
		break;
	default:
		tok->kind = TOK_ERROR;
		tok->why = "unexpected character";
		return;
	}
	advance(lx, 1);
}
