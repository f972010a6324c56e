/* JSON parsed by cJSON, each number annotated with its text so that no digit is lost. */
#include "jsonexact.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "decimal.h"

/*
 * cJSON keeps a number as a double only.  The numbers of a document
 * appear in its text in the order of a pre-order walk of the parsed
 * tree, so one pass of a small lexer over the text, skipping strings,
 * pairs each number item with its token.  A token starts with '-' or a
 * digit outside a string (true, false and null hold neither) and runs
 * over the characters cJSON's number reader takes; on a document cJSON
 * accepted, that is exactly the text cJSON read.
 */

struct lexer {
	const char *s;
	size_t len, i;
};

static bool
number_char(char c)
{
	return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' ||
	       c == 'e' || c == 'E';
}

/* The next number token, or false when there is none. */
static bool
next_number(struct lexer *lx, size_t *off, size_t *n)
{
	while (lx->i < lx->len) {
		char c = lx->s[lx->i];

		if (c == '"') {
			for (lx->i++; lx->i < lx->len && lx->s[lx->i] != '"'; lx->i++)
				if (lx->s[lx->i] == '\\')
					lx->i++;
			lx->i++;
		} else if (c == '-' || (c >= '0' && c <= '9')) {
			*off = lx->i;
			while (lx->i < lx->len && number_char(lx->s[lx->i]))
				lx->i++;
			*n = lx->i - *off;
			return true;
		} else {
			lx->i++;
		}
	}
	return false;
}

/* Pre-order: give each number its token; false when they run out. */
static bool
annotate(cJSON *v, struct lexer *lx)
{
	for (; v != NULL; v = v->next) {
		if (cJSON_IsNumber(v)) {
			size_t off, n;
			char *t;

			if (!next_number(lx, &off, &n))
				return false;
			t = cJSON_malloc(n + 1);
			if (t == NULL)
				return false;
			memcpy(t, lx->s + off, n);
			t[n] = '\0';
			v->valuestring = t;
		} else if (v->child != NULL && !annotate(v->child, lx)) {
			return false;
		}
	}
	return true;
}

/* Drop the texts of a tree whose numbers did not pair up. */
static void
unannotate(cJSON *v)
{
	for (; v != NULL; v = v->next) {
		if (cJSON_IsNumber(v) && v->valuestring != NULL) {
			cJSON_free(v->valuestring);
			v->valuestring = NULL;
		}
		unannotate(v->child);
	}
}

cJSON *
jsonexact_parse(const char *s, size_t len)
{
	const char *end = NULL;
	struct lexer lx;
	cJSON *root;

	if (s == NULL || len == 0)
		return NULL;
	root = cJSON_ParseWithLengthOpts(s, len, &end, false);
	if (root == NULL)
		return NULL;
	lx.s = s;
	lx.len = end != NULL && end >= s && end <= s + len ? (size_t)(end - s) : len;
	lx.i = 0;
	/* a lone root has no siblings: walk it alone */
	if (cJSON_IsNumber(root) || root->child != NULL) {
		cJSON *next = root->next;

		root->next = NULL;
		if (!annotate(root, &lx))
			unannotate(root); /* cannot happen on text cJSON took */
		root->next = next;
	}
	return root;
}

const char *
jsonexact_number(const cJSON *v, char *buf, size_t buflen)
{
	if (cJSON_IsNumber(v)) {
		if (v->valuestring != NULL)
			return v->valuestring;
		if (!isfinite(v->valuedouble))
			return NULL;
		snprintf(buf, buflen, "%.17g", v->valuedouble);
		return buf;
	}
	if (cJSON_IsRaw(v) && v->valuestring != NULL &&
	    decimal_valid(v->valuestring, strlen(v->valuestring), DECIMAL_EXP_ANY))
		return v->valuestring;
	return NULL;
}

void
jsonexact_keep(cJSON *v)
{
	cJSON *c;

	if (v == NULL)
		return;
	if (cJSON_IsNumber(v) && v->valuestring != NULL &&
	    decimal_valid(v->valuestring, strlen(v->valuestring),
			  DECIMAL_EXP_ANY))
		v->type = cJSON_Raw |
			  (v->type & (cJSON_IsReference | cJSON_StringIsConst));
	cJSON_ArrayForEach(c, v)
		jsonexact_keep(c);
}
