/* Media types (RFC 9110): syntax, essence, the JSON and text families (pure). */
#include "mediatype.h"

#include <string.h>
#include <strings.h>

#include "text.h"

static bool
is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* A quoted-string starting at s[*i] == '"': past its end, or false. */
static bool
skip_quoted(const char *s, size_t *i)
{
	size_t j;

	for (j = *i + 1; s[j] != '"'; j++) {
		unsigned char c = (unsigned char)s[j];

		if (c == '\\') {
			if (s[++j] == '\0')
				return false;
			continue;
		}
		if (c == '\0' || (c < 0x20 && c != '\t') || c == 0x7f)
			return false;
	}
	*i = j + 1;
	return true;
}

bool
mediatype_valid(const char *s)
{
	size_t i, n;

	n = text_token_len(s);
	if (n == 0 || s[n] != '/')
		return false;
	i = n + 1;
	n = text_token_len(s + i);
	if (n == 0)
		return false;
	i += n;
	for (;;) {
		while (is_ows(s[i]))
			i++;
		if (s[i] == '\0')
			return true;
		if (s[i++] != ';')
			return false;
		while (is_ows(s[i]))
			i++;
		n = text_token_len(s + i);
		if (n == 0 || s[i + n] != '=')
			return false;
		i += n + 1;
		if (s[i] == '"') {
			if (!skip_quoted(s, &i))
				return false;
		} else {
			n = text_token_len(s + i);
			if (n == 0)
				return false;
			i += n;
		}
	}
}

/* Length of the "type/subtype" part (parameters cut). */
static size_t
essence_len(const char *s)
{
	size_t n = 0;

	while (s[n] != '\0' && s[n] != ';' && !is_ows(s[n]))
		n++;
	return n;
}

void
mediatype_essence(const char *ct, char *buf, size_t len)
{
	size_t i, n;

	if (len == 0)
		return;
	buf[0] = '\0';
	if (ct == NULL)
		return;
	while (is_ows(*ct))
		ct++;
	n = essence_len(ct);
	if (n > len - 1)
		n = len - 1;
	for (i = 0; i < n; i++)
		buf[i] = (char)(ct[i] >= 'A' && ct[i] <= 'Z' ? ct[i] + 32 : ct[i]);
	buf[n] = '\0';
}

bool
mediatype_is_json(const char *s)
{
	size_t n = essence_len(s);
	const char *slash = memchr(s, '/', n);
	size_t sub;

	if (slash == NULL)
		return false;
	sub = n - (size_t)(slash + 1 - s);
	if (sub == 4 && strncasecmp(slash + 1, "json", 4) == 0)
		return true;
	return sub > 5 && strncasecmp(s + n - 5, "+json", 5) == 0;
}

bool
mediatype_is_text(const char *s)
{
	return strncasecmp(s, "text/", 5) == 0;
}
