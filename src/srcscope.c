/* Source scopes: the CloudEvents source prefixes a key is limited to, validated, packed and matched (pure). */
#include "srcscope.h"

#include <stdio.h>
#include <string.h>

#include "text.h"

/* What may follow a prefix that ends with a letter or digit: the
 * separators of a URI's parts (RFC 3986 gen-delims), not '.', '-' or
 * another letter, which would go on with the same name. */
static const char boundaries[] = "#/:?";

static void
invalid(struct herald_error *err, const char *field, const char *msg)
{
	snprintf(err->code, sizeof(err->code), "invalid_field");
	snprintf(err->field, sizeof(err->field), "%s", field);
	snprintf(err->message, sizeof(err->message), "%s", msg);
}

int
srcscope_parse(const cJSON *arr, char packed[SRCSCOPE_SIZE],
	       struct herald_error *err)
{
	const cJSON *item;
	size_t used = 0;
	int i = 0;

	packed[0] = '\0';
	if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) < 1 ||
	    cJSON_GetArraySize(arr) > SRCSCOPE_MAX) {
		char msg[128];

		snprintf(msg, sizeof(msg),
			 "sources must be an array of 1 to %d source prefixes "
			 "(leave it out for no limit)", SRCSCOPE_MAX);
		invalid(err, "sources", msg);
		return -1;
	}
	cJSON_ArrayForEach(item, arr) {
		const char *s = cJSON_IsString(item) ? item->valuestring : NULL;
		size_t len = s ? strlen(s) : 0;
		bool ok = len >= 1 && len <= SRCSCOPE_LEN_MAX;

		for (size_t k = 0; ok && k < len; k++)
			ok = s[k] > ' ' && s[k] < 0x7f;
		if (!ok) {
			char field[32], msg[160];

			snprintf(field, sizeof(field), "sources[%d]", i);
			snprintf(msg, sizeof(msg),
				 "%s must be a source prefix of 1 to %d visible "
				 "ASCII characters", field, SRCSCOPE_LEN_MAX);
			invalid(err, field, msg);
			packed[0] = '\0';
			return -1;
		}
		memcpy(packed + used, s, len + 1);
		used += len + 1;
		i++;
	}
	packed[used] = '\0';
	return 0;
}

int
srcscope_from_stored(const char *json, char packed[SRCSCOPE_SIZE])
{
	struct herald_error err;
	cJSON *arr;
	int rc;

	packed[0] = '\0';
	if (json == NULL)
		return 0;
	if ((arr = cJSON_Parse(json)) == NULL)
		return -1;
	rc = srcscope_parse(arr, packed, &err);
	cJSON_Delete(arr);
	return rc;
}

bool
srcscope_limited(const char *packed)
{
	return packed != NULL && packed[0] != '\0';
}

size_t
srcscope_size(const char *packed)
{
	size_t n = 0;

	while (packed[n] != '\0')
		n += strlen(packed + n) + 1;
	return n + 1;
}

cJSON *
srcscope_json(const char *packed)
{
	cJSON *arr;

	if (!srcscope_limited(packed))
		return cJSON_CreateNull();
	arr = cJSON_CreateArray();
	for (const char *p = packed; *p != '\0'; p += strlen(p) + 1)
		cJSON_AddItemToArray(arr, cJSON_CreateString(p));
	return arr;
}

static bool
plain_prefix(const char *prefix, size_t len)
{
	return !text_is_alnum(prefix[len - 1]);
}

bool
srcscope_covers(const char *prefix, const char *source)
{
	size_t len = strlen(prefix);

	if (len == 0 || strncmp(prefix, source, len) != 0)
		return false;
	return source[len] == '\0' || plain_prefix(prefix, len) ||
	       strchr(boundaries, source[len]) != NULL;
}

bool
srcscope_allows(const char *packed, const char *source)
{
	if (!srcscope_limited(packed))
		return true;
	for (const char *p = packed; *p != '\0'; p += strlen(p) + 1)
		if (srcscope_covers(p, source))
			return true;
	return false;
}

void
srcscope_ranges(const char *packed,
		void (*fn)(void *arg, const char *lo, const char *hi),
		void *arg)
{
	char lo[SRCSCOPE_LEN_MAX + 2], hi[SRCSCOPE_LEN_MAX + 2];

	if (!srcscope_limited(packed))
		return;
	for (const char *p = packed; *p != '\0'; p += strlen(p) + 1) {
		size_t len = strlen(p);

		memcpy(lo, p, len + 1);
		memcpy(hi, p, len + 1);
		if (plain_prefix(p, len)) {
			/* every string starting with p: up to p with its
			 * last byte (visible ASCII) one higher */
			hi[len - 1]++;
			fn(arg, lo, hi);
			continue;
		}
		/* p itself: nothing sorts between p and p + "\x01" (text
		 * holds no NUL) */
		hi[len] = '\x01';
		hi[len + 1] = '\0';
		fn(arg, lo, hi);
		/* p followed by each boundary character */
		for (const char *b = boundaries; *b != '\0'; b++) {
			lo[len] = *b;
			lo[len + 1] = '\0';
			hi[len] = (char)(*b + 1);
			hi[len + 1] = '\0';
			fn(arg, lo, hi);
		}
	}
}
