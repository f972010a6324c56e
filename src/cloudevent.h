/* CloudEvents 1.0: parse and validate structured, batch and binary messages; render them back. */
#ifndef HERALD_CLOUDEVENT_H
#define HERALD_CLOUDEVENT_H

#include "herald.h"

/* One HTTP header as received (name case as sent, value raw). */
struct ce_header {
	const char *name;
	const char *value;
};

/*
 * Each parser returns 0 and fills *ev (or *evs) on success; on failure it
 * returns -1, fills *err and leaves nothing to free.  Bodies need not be
 * NUL-terminated.
 */

/* Structured mode: body is one JSON CloudEvent (application/cloudevents+json).
 * Bodies nesting deeper than 64 levels, holding \u0000 in a string or not
 * valid UTF-8 are refused as invalid_json. */
int ce_parse_structured(const char *body, size_t len, struct cloudevent *ev,
			struct herald_error *err);

/* Batch mode: body is a JSON array of CloudEvents.  On failure err->index
 * names the first invalid member.  *evs is an array of *n events (may be
 * empty) to release with ce_free_array. */
int ce_parse_batch(const char *body, size_t len, struct cloudevent **evs,
		   size_t *n, struct herald_error *err);

/* Binary mode: attributes from ce-* headers (percent-decoded, UTF-8
 * checked), datacontenttype from content_type (NULL when absent), data is
 * the body, kept byte for byte: CE_DATA_JSON when the content type is JSON
 * and the body is JSON, CE_DATA_TEXT for text/ types holding UTF-8 without
 * NUL, else CE_DATA_BINARY; an empty body is CE_DATA_NONE. */
int ce_parse_binary(const struct ce_header *headers, size_t nheaders,
		    const char *content_type, const char *body, size_t len,
		    struct cloudevent *ev, struct herald_error *err);

/* Validate a JSON object as one CloudEvent in the JSON format and take
 * what it needs (the object is not kept).  A null attribute counts as
 * absent; "data": null is an explicit null payload (CE_DATA_JSON "null");
 * a member given twice or more than 512 members is refused. */
int ce_from_json(const cJSON *obj, struct cloudevent *ev,
		 struct herald_error *err);

/* Rebuild a stored event: attrs_json is the JSON object of attributes,
 * data/data_len/kind the stored payload.  Returns 0, or -1 when corrupt. */
int ce_from_stored(const char *attrs_json, const unsigned char *data,
		   size_t data_len, enum ce_data_kind kind,
		   struct cloudevent *ev);

/* The event as a CloudEvents JSON object (data or data_base64 per kind);
 * NULL when CE_DATA_JSON bytes are not JSON.  JSON data goes through
 * cJSON's numbers (doubles): for comparing, not for sending. */
cJSON *ce_to_json(const struct cloudevent *ev);

/* The event as JSON text (malloc'd) with JSON data exactly as received,
 * every digit kept: what herald shows and sends.  NULL as ce_to_json. */
char *ce_to_text(const struct cloudevent *ev);

/* The attribute as a string in its canonical string encoding (integers in
 * decimal, booleans "true"/"false"); NULL when absent.  buf backs
 * non-string values. */
const char *ce_attr_string(const struct cloudevent *ev, const char *name,
			   char *buf, size_t buflen);

/* Percent-decode an HTTP binding header value into a new NUL-terminated
 * string; NULL when a %-escape is malformed, the result is not valid UTF-8
 * or contains a NUL. */
char *ce_percent_decode(const char *in, size_t len);

/* Percent-encode a value for a ce-* header (space, '"', '%', controls and
 * non-ASCII bytes). */
char *ce_percent_encode(const char *in);

/* true when the string is valid UTF-8 of len bytes (no overlongs, no
 * surrogates). */
bool ce_utf8_valid(const char *s, size_t len);

/* true when s is a valid context attribute name: [a-z0-9]+. */
bool ce_attr_name_valid(const char *s);

void ce_free(struct cloudevent *ev);
void ce_free_array(struct cloudevent *evs, size_t n);

#endif
