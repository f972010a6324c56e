/* Request framing checks (RFC 9112): what the HTTP layer let through that a proxy could read otherwise. */
#include "httpcheck.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* RFC 9110 tchar */
static bool
is_tchar(unsigned char c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool
is_token(const char *s)
{
	if (s == NULL || *s == '\0')
		return false;
	for (; *s; s++)
		if (!is_tchar((unsigned char)*s))
			return false;
	return true;
}

static bool
is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* s without its leading and trailing OWS: *len bytes from the result. */
static const char *
trim(const char *s, size_t *len)
{
	size_t n;

	while (is_ows(*s))
		s++;
	n = strlen(s);
	while (n > 0 && is_ows(s[n - 1]))
		n--;
	*len = n;
	return s;
}

/* 1*DIGIT, optional whitespace around it; its digits without leading
 * zeros in *digits (*len of them, 0 for the value 0). */
static bool
length_digits(const char *v, const char **digits, size_t *len)
{
	size_t n;
	const char *s = trim(v, &n);

	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	while (n > 0 && *s == '0') {
		s++;
		n--;
	}
	*digits = s;
	*len = n;
	return true;
}

static unsigned
refuse(struct herald_error *err, unsigned status, const char *code,
       const char *message)
{
	snprintf(err->code, sizeof(err->code), "%s", code);
	snprintf(err->message, sizeof(err->message), "%s", message);
	err->field[0] = '\0';
	err->index = -1;
	return status;
}

static unsigned
malformed(struct herald_error *err, const char *message)
{
	return refuse(err, 400, "malformed_request", message);
}

unsigned
httpcheck_request(const char *version, const struct httpcheck_field *fields,
		  size_t n, struct herald_error *err)
{
	bool http10 = version != NULL && strcmp(version, "HTTP/1.0") == 0;
	size_t hosts = 0, lengths = 0, codings = 0, first_len = 0;
	const char *first_digits = NULL, *coding = NULL;

	for (size_t i = 0; i < n; i++) {
		const char *name = fields[i].name;
		const char *value = fields[i].value ? fields[i].value : "";

		if (!is_token(name))
			return malformed(err,
					 "a header field name is not a token: no "
					 "whitespace before the colon, no folded "
					 "lines");
		if (strcasecmp(name, "Host") == 0) {
			hosts++;
		} else if (strcasecmp(name, "Content-Length") == 0) {
			const char *d;
			size_t len;

			if (!length_digits(value, &d, &len))
				return malformed(err, "Content-Length must be "
						      "a decimal number of bytes");
			if (lengths++ == 0) {
				first_digits = d;
				first_len = len;
			} else if (len != first_len ||
				   memcmp(d, first_digits, len) != 0) {
				return malformed(err, "the request has several "
						      "Content-Length fields "
						      "that differ");
			}
		} else if (strcasecmp(name, "Transfer-Encoding") == 0) {
			codings++;
			coding = value;
		}
	}
	if (hosts > 1)
		return malformed(err, "the request has more than one Host field");
	if (hosts == 0 && !http10)
		return malformed(err, "an HTTP/1.1 request needs a Host field");
	if (codings > 0 && http10)
		return malformed(err, "Transfer-Encoding is not defined for "
				      "HTTP/1.0");
	if (codings > 0 && lengths > 0)
		return malformed(err, "send either Content-Length or "
				      "Transfer-Encoding, not both");
	if (codings > 0) {
		/* exactly as libmicrohttpd compares it (leading whitespace is
		 * stripped by then), so that both read the body the same way */
		while (is_ows(*coding))
			coding++;
		if (codings > 1 || strcasecmp(coding, "chunked") != 0)
			return refuse(err, 501, "unsupported_transfer_coding",
				      "the only transfer coding herald accepts "
				      "is chunked, alone");
	}
	return 0;
}
