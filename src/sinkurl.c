/* Sink URLs: parsed once, by libcurl's URL API, for validation, the SSRF guard and delivery. */
#include "sinkurl.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "text.h"
#include "xalloc.h"

/*
 * libcurl is the parser: the dispatcher hands sink_url.url to libcurl,
 * and the guard judges sink_url.host, which libcurl took from the same
 * parse, so the two cannot disagree on where a request goes.  herald adds
 * refusals of its own, before and after:
 *
 * - only visible ASCII, none of the characters RFC 3986 leaves out
 *   ("<>\^`{|} and '"'), which other URL parsers read differently (a
 *   backslash is a '/' to a browser, part of the userinfo to libcurl);
 * - the text starts with "http://" or "https://" and a host: libcurl
 *   would also take "http:/host" and "http:///host" as that host;
 * - no userinfo (libcurl is told to refuse it): credentials belong in
 *   sinkcredential, and a sink is shown by GET, so a password in it would
 *   leak; "user@host" is also where a reader mistakes which part is the
 *   host;
 * - no fragment, no IPv6 zone, no port 0, and a host name made of
 *   letters, digits, '.', '-' and '_' (after libcurl's percent-decoding).
 */

#define HTTP_WANT "sink must be an absolute http or https URL"

static int
fail(struct sink_url *out, char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int
fail(struct sink_url *out, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	sinkurl_free(out);
	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* What a refusal by curl_url_set means for a sink. */
static const char *
curl_refusal(CURLUcode rc)
{
	switch (rc) {
	case CURLUE_USER_NOT_ALLOWED:
		return "sink must not contain userinfo (user:password@); "
		       "send a credential with sinkcredential";
	case CURLUE_BAD_PORT_NUMBER:
		return "sink port must be between 1 and 65535";
	case CURLUE_NO_HOST:
		return HTTP_WANT " with a host";
	case CURLUE_UNSUPPORTED_SCHEME:
		return HTTP_WANT;
	case CURLUE_OUT_OF_MEMORY:
		return "out of memory reading the sink";
#if LIBCURL_VERSION_NUM >= 0x075100
	case CURLUE_BAD_HOSTNAME:
		return "sink has an invalid host";
	case CURLUE_BAD_IPV6:
		return "sink has an invalid IPv6 address";
	case CURLUE_BAD_SCHEME:
	case CURLUE_BAD_SLASHES:
		return HTTP_WANT;
#endif
	default:
		return "sink is not a valid URL";
	}
}

/* The characters checked before libcurl sees the text; NULL when fine. */
static const char *
check_chars(const char *text)
{
	const char *s;

	for (s = text; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= 0x20 || c >= 0x7f)
			return "sink must not contain whitespace, control or "
			       "non-ASCII characters";
		if (strchr("\"<>\\^`{|}", c) != NULL)
			return "sink contains a character not allowed in a URL";
		if (c == '#')
			return "sink must not contain a fragment";
	}
	return NULL;
}

/* A host name: letters, digits, '.', '-', '_'. */
static bool
name_ok(const char *h)
{
	if (*h == '\0')
		return false;
	for (; *h; h++)
		if (!text_is_alnum(*h) && *h != '.' && *h != '-' && *h != '_')
			return false;
	return true;
}

/* Take libcurl's host: a bracketed IPv6 literal loses its brackets. */
static bool
take_host(const char *h, struct sink_url *out)
{
	size_t len = strlen(h);

	if (h[0] == '[') {
		struct in6_addr a6;
		char *inner;

		if (len < 3 || h[len - 1] != ']')
			return false;
		inner = xmemdup(h + 1, len - 1);
		inner[len - 2] = '\0';
		if (inet_pton(AF_INET6, inner, &a6) != 1) {
			free(inner);
			return false;
		}
		out->host = inner;
		return true;
	}
	if (!name_ok(h))
		return false;
	out->host = xstrdup(h);
	return true;
}

/* The parts herald keeps, from a handle libcurl accepted the URL into. */
static int
take_parts(CURLU *h, struct sink_url *out, char *err, size_t errlen)
{
	char *part = NULL;
	bool ok;

	if (curl_url_get(h, CURLUPART_SCHEME, &part, 0) != CURLUE_OK)
		return fail(out, err, errlen, HTTP_WANT);
	ok = strcmp(part, "http") == 0 || strcmp(part, "https") == 0;
	curl_free(part);
	if (!ok)
		return fail(out, err, errlen, HTTP_WANT);

	if (curl_url_get(h, CURLUPART_ZONEID, &part, 0) == CURLUE_OK) {
		curl_free(part);
		return fail(out, err, errlen,
			    "sink must not name an IPv6 zone");
	}

	if (curl_url_get(h, CURLUPART_HOST, &part, 0) != CURLUE_OK)
		return fail(out, err, errlen, HTTP_WANT " with a host");
	ok = take_host(part, out);
	curl_free(part);
	if (!ok)
		return fail(out, err, errlen, "sink has an invalid host");

	if (curl_url_get(h, CURLUPART_PORT, &part, 0) == CURLUE_OK) {
		char *end;
		long port = strtol(part, &end, 10);

		ok = *end == '\0' && port >= 1 && port <= 65535;
		curl_free(part);
		if (!ok)
			return fail(out, err, errlen,
				    "sink port must be between 1 and 65535");
		out->port = (int)port;
	}

	if (curl_url_get(h, CURLUPART_URL, &part, 0) != CURLUE_OK)
		return fail(out, err, errlen, "sink is not a valid URL");
	out->url = xstrdup(part);
	curl_free(part);
	return 0;
}

int
sinkurl_parse(const char *text, struct sink_url *out, char *err,
	      size_t errlen)
{
	const char *why, *rest;
	CURLUcode rc;
	CURLU *h;
	int ret;

	memset(out, 0, sizeof(*out));
	if (text == NULL)
		return fail(out, err, errlen, HTTP_WANT);
	if (strnlen(text, SINKURL_MAX + 1) > SINKURL_MAX)
		return fail(out, err, errlen,
			    "sink must be at most %d bytes long", SINKURL_MAX);
	if ((why = check_chars(text)) != NULL)
		return fail(out, err, errlen, "%s", why);
	if (strncasecmp(text, "http://", 7) == 0)
		rest = text + 7;
	else if (strncasecmp(text, "https://", 8) == 0)
		rest = text + 8;
	else
		return fail(out, err, errlen, HTTP_WANT);
	if (*rest == '/')
		return fail(out, err, errlen, HTTP_WANT " with a host");

	h = curl_url();
	if (h == NULL)
		return fail(out, err, errlen, "out of memory reading the sink");
	rc = curl_url_set(h, CURLUPART_URL, text, CURLU_DISALLOW_USER);
	if (rc != CURLUE_OK)
		ret = fail(out, err, errlen, "%s", curl_refusal(rc));
	else
		ret = take_parts(h, out, err, errlen);
	curl_url_cleanup(h);
	return ret;
}

void
sinkurl_free(struct sink_url *u)
{
	if (u == NULL)
		return;
	free(u->url);
	free(u->host);
	memset(u, 0, sizeof(*u));
}
