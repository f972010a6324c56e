/* Request framing checks (RFC 9112) over the parsed request line and header fields (pure). */
#ifndef HERALD_HTTPCHECK_H
#define HERALD_HTTPCHECK_H

#include <stddef.h>

#include "herald.h"

/* One header field as the HTTP layer parsed it: the name as sent up to
 * the colon (whitespace kept), the value. */
struct httpcheck_field {
	const char *name;
	const char *value;
};

/* 0 when the request's framing is sound; else the status to answer and
 * close with, err holding its code and message:
 *   400 malformed_request: a field name that is not a token (whitespace
 *       before the colon, a folded line), no Host or more than one on
 *       HTTP/1.1, a Content-Length that is not digits, several that
 *       differ, Content-Length beside Transfer-Encoding, or
 *       Transfer-Encoding on HTTP/1.0;
 *   501 unsupported_transfer_coding: a Transfer-Encoding other than
 *       exactly one "chunked" (any case).
 * version is the request line's protocol, e.g. "HTTP/1.1". */
unsigned httpcheck_request(const char *version,
			   const struct httpcheck_field *fields, size_t n,
			   struct herald_error *err);

#endif
