/* Source scopes: the CloudEvents source prefixes a key is limited to, validated, packed and matched (pure). */
#ifndef HERALD_SRCSCOPE_H
#define HERALD_SRCSCOPE_H

#include <stdbool.h>
#include <stddef.h>

#include <cJSON.h>

#include "herald.h"

#define SRCSCOPE_MAX 8       /* prefixes per key */
#define SRCSCOPE_LEN_MAX 255 /* bytes per prefix */
/* A packed scope: each prefix NUL-terminated, one after the other, and
 * an empty string after the last.  "" (a lone NUL): no limit. */
#define SRCSCOPE_SIZE (SRCSCOPE_MAX * (SRCSCOPE_LEN_MAX + 1) + 1)

/* Validate a "sources" array (1 to SRCSCOPE_MAX strings of 1 to
 * SRCSCOPE_LEN_MAX visible ASCII characters) into packed.  0, or -1 with
 * err (field "sources" or "sources[i]"). */
int srcscope_parse(const cJSON *arr, char packed[SRCSCOPE_SIZE],
		   struct herald_error *err);

/* A key's sources as stored, array_to_json(api_key.sources)::text (NULL:
 * no limit), packed.  0, or -1 when it is not a valid list of sources. */
int srcscope_from_stored(const char *json, char packed[SRCSCOPE_SIZE]);

/* true when packed limits anything (holds a prefix). */
bool srcscope_limited(const char *packed);

/* The bytes packed takes, its final empty string included. */
size_t srcscope_size(const char *packed);

/* The prefixes as a JSON array; a JSON null when packed limits nothing. */
cJSON *srcscope_json(const char *packed);

/*
 * Does prefix cover source?  source must start with prefix, and when the
 * prefix ends with a letter or a digit, the source must end there or go on
 * with one of / : ? #, so that /teamA covers /teamA and /teamA/orders but
 * not /teamAB.  A prefix ending with any other character (/teamA/,
 * com.example.) is a plain string prefix.
 */
bool srcscope_covers(const char *prefix, const char *source);

/* true when packed limits nothing, or one of its prefixes covers source. */
bool srcscope_allows(const char *packed, const char *source);

/* The sources packed allows, as byte-wise ranges [lo, hi) whose union is
 * exactly them: fn is called once per range (for an index range scan). */
void srcscope_ranges(const char *packed,
		     void (*fn)(void *arg, const char *lo, const char *hi),
		     void *arg);

#endif
