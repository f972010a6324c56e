/* Request ids: a caller's X-Request-Id when it is safe to echo and log, else a new random one. */
#include "reqid.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <openssl/rand.h>

#include "monotime.h"
#include "text.h"

bool
reqid_valid(const char *s)
{
	size_t n = 0;

	if (s == NULL)
		return false;
	for (; s[n] != '\0'; n++) {
		if (n == REQID_MAX)
			return false;
		if (!text_is_alnum(s[n]) && strchr("-_.:", s[n]) == NULL)
			return false;
	}
	return n > 0;
}

bool
reqid_make(const char *incoming, char out[REQID_SIZE])
{
	static atomic_uint_fast64_t counter;
	unsigned char raw[16];

	if (reqid_valid(incoming)) {
		strcpy(out, incoming);
		return true;
	}
	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		/* no random bytes: still unique within this process */
		uint64_t a = (uint64_t)monotime_us();
		uint64_t b = atomic_fetch_add(&counter, 1);

		memcpy(raw, &a, 8);
		memcpy(raw + 8, &b, 8);
	}
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(out + 2 * i, 3, "%02x", raw[i]);
	return false;
}
