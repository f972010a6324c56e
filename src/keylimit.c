/* Per-API-key request rate limits for the HTTP API (token buckets by tenant). */
#include "keylimit.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "monotime.h"
#include "ratelimit.h"
#include "xalloc.h"

#define BUCKETS 1024

/*
 * One bucket per tenant, created on first use and kept: there are as
 * many as API keys that have been used.  The table and the settings are
 * guarded by lock; limited mirrors limit_rate > 0 for the unlimited fast
 * path.  keylimit_init runs at start-up and again on a reload.
 */
struct tenant_limit {
	int64_t tenant;
	struct ratelimit rl;
	struct tenant_limit *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct tenant_limit *table[BUCKETS];
static long limit_rate, limit_burst;
static atomic_bool limited;

void
keylimit_init(long rate, long burst)
{
	int64_t now = monotime_us();

	pthread_mutex_lock(&lock);
	limit_rate = rate;
	limit_burst = burst > 0 ? burst : rate;
	/* the buckets of known keys follow, keeping the tokens they hold */
	for (size_t i = 0; i < BUCKETS; i++)
		for (struct tenant_limit *t = table[i]; t; t = t->next)
			ratelimit_update(&t->rl, (double)limit_rate,
					 (int)limit_burst, 0, now);
	atomic_store(&limited, rate > 0);
	pthread_mutex_unlock(&lock);
}

bool
keylimit_take(int64_t tenant, long *retry_after_s)
{
	size_t h = (size_t)((uint64_t)tenant * 11400714819323198485ULL >> 54) %
		   BUCKETS;
	struct tenant_limit *t;
	int64_t now;
	bool ok;

	if (!atomic_load(&limited))
		return true;
	now = monotime_us();
	pthread_mutex_lock(&lock);
	if (limit_rate <= 0) {
		/* lifted since the check above */
		pthread_mutex_unlock(&lock);
		return true;
	}
	for (t = table[h]; t && t->tenant != tenant; t = t->next)
		;
	if (t == NULL) {
		t = xcalloc(1, sizeof(*t));
		t->tenant = tenant;
		ratelimit_init(&t->rl, (double)limit_rate, (int)limit_burst, 0, now);
		t->next = table[h];
		table[h] = t;
	}
	ok = ratelimit_try_acquire(&t->rl, now);
	if (ok) {
		ratelimit_release(&t->rl); /* a rate, not a concurrency limit */
	} else {
		int64_t wait = ratelimit_next_us(&t->rl, now);

		*retry_after_s = wait > 0 ? (long)((wait + 999999) / 1000000) : 1;
	}
	pthread_mutex_unlock(&lock);
	return ok;
}

void
keylimit_free(void)
{
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < BUCKETS; i++) {
		while (table[i]) {
			struct tenant_limit *t = table[i];

			table[i] = t->next;
			free(t);
		}
	}
	pthread_mutex_unlock(&lock);
}
