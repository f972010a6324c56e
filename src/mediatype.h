/* Media types (RFC 9110): syntax, essence, the JSON and text families (pure). */
#ifndef HERALD_MEDIATYPE_H
#define HERALD_MEDIATYPE_H

#include <stdbool.h>
#include <stddef.h>

/* type "/" subtype *(OWS ";" OWS name "=" (token / quoted-string)). */
bool mediatype_valid(const char *s);

/* The "type/subtype" of a Content-Type value, lower-cased into buf
 * (leading spaces and tabs skipped, parameters cut, truncated to fit);
 * "" when ct is NULL. */
void mediatype_essence(const char *ct, char *buf, size_t len);

/* Subtype "json" or "...+json", any case. */
bool mediatype_is_json(const char *s);

/* Top-level type "text", any case. */
bool mediatype_is_text(const char *s);

#endif
