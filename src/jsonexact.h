/* JSON parsed by cJSON with every number's exact text kept beside its double. */
#ifndef HERALD_JSONEXACT_H
#define HERALD_JSONEXACT_H

#include "herald.h"

/* As cJSON_ParseWithLength (what follows the value is not read), but each
 * number item also holds its text as written in valuestring, so that
 * 9007199254740993 or 1.10 keep every digit.  cJSON_Duplicate copies that
 * text and cJSON_Delete frees it; printing ignores it (see
 * jsonexact_keep).  NULL when s is not JSON. */
cJSON *jsonexact_parse(const char *s, size_t len);

/* The exact text of a number item (its kept text, or its double printed
 * with 17 digits when it has none) or of a raw item holding a JSON
 * number; NULL for anything else.  buf backs the printed form. */
const char *jsonexact_number(const cJSON *v, char *buf, size_t buflen);

/* Turn v, and every number under it, that keeps a valid JSON number
 * text into a raw item of that text, so that cJSON prints it digit for
 * digit.  v may be NULL. */
void jsonexact_keep(cJSON *v);

#endif
