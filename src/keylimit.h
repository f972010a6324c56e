/* Per-API-key request rate limits for the HTTP API (token buckets by tenant). */
#ifndef HERALD_KEYLIMIT_H
#define HERALD_KEYLIMIT_H

#include <stdbool.h>
#include <stdint.h>

/* rate: requests per second per key (0: no limit); burst: bucket size
 * (0: rate).  Called again (a reload), it applies to every key at once:
 * a key keeps the tokens it holds, cut to the new burst. */
void keylimit_init(long rate, long burst);

/* Take one request for this tenant.  false when over the limit, with
 * *retry_after_s the whole seconds until one is allowed (at least 1). */
bool keylimit_take(int64_t tenant, long *retry_after_s);

void keylimit_free(void);

#endif
