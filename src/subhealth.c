/* What this instance's dispatcher saw of each subscription's attempts: its last success, its last failure and the outcomes of its last few, in memory. */
#include "subhealth.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "fnv1a.h"
#include "monotime.h"
#include "xalloc.h"

/*
 * An open-addressing table of at most SUBHEALTH_MAX entries (so at most
 * a third full), under lock, made on the first attempt.  The dispatcher
 * adds to it, the subscriptions list reads it, the backlog sampler
 * prunes it.
 */
#define SLOTS 32768 /* a power of two, >= 2 * SUBHEALTH_MAX */
_Static_assert(SLOTS >= 2 * SUBHEALTH_MAX, "SLOTS too small");
_Static_assert(SUBHEALTH_RECENT <= 32, "the outcomes are bits of a uint32_t");

struct entry {
	char id[37];     /* "": a free slot */
	int64_t first_ms; /* monotime_ms when first seen */
	uint32_t failed_bits; /* the newest outcome in bit 0; 1: failed */
	struct subhealth h;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry *table;
static size_t count;

/* id's entry, or the free slot where it would go. */
static struct entry *
slot(struct entry *t, const char *id)
{
	size_t i = (size_t)fnv1a_str(id) & (SLOTS - 1);

	while (t[i].id[0] != '\0' && strcmp(t[i].id, id) != 0)
		i = (i + 1) & (SLOTS - 1);
	return &t[i];
}

static unsigned
bits_set(uint32_t v)
{
	unsigned n = 0;

	for (; v != 0; v &= v - 1)
		n++;
	return n;
}

void
subhealth_attempt(const char *id, enum metrics_outcome o, long status,
		  double at)
{
	const uint32_t mask = (uint32_t)((1ull << SUBHEALTH_RECENT) - 1);
	bool failed = o != METRICS_SUCCESS;
	struct entry *e;

	if (strlen(id) >= sizeof(e->id))
		return;
	pthread_mutex_lock(&lock);
	if (table == NULL)
		table = xcalloc(SLOTS, sizeof(*table));
	e = slot(table, id);
	if (e->id[0] == '\0') {
		if (count >= SUBHEALTH_MAX) {
			pthread_mutex_unlock(&lock);
			return;
		}
		strcpy(e->id, id);
		e->first_ms = monotime_ms();
		count++;
	}
	e->failed_bits = ((e->failed_bits << 1) | (failed ? 1u : 0u)) & mask;
	if (e->h.recent < SUBHEALTH_RECENT)
		e->h.recent++;
	e->h.recent_failed = bits_set(e->failed_bits);
	if (!failed) {
		e->h.last_success_at = at;
	} else {
		e->h.last_failure_at = at;
		e->h.last_failure = o;
		e->h.last_failure_status = status;
	}
	pthread_mutex_unlock(&lock);
}

bool
subhealth_get(const char *id, struct subhealth *out)
{
	const struct entry *e;
	bool found = false;

	pthread_mutex_lock(&lock);
	if (table != NULL && strlen(id) < sizeof(e->id)) {
		e = slot(table, id);
		if (e->id[0] != '\0') {
			*out = e->h;
			found = true;
		}
	}
	pthread_mutex_unlock(&lock);
	return found;
}

static int
cmp_sub_id(const void *key, const void *elem)
{
	return strcmp(key, ((const struct metrics_backlog_sub *)elem)->id);
}

/* An entry of a subscription that was deleted before the sample. */
static bool
gone(const struct entry *e, const struct metrics_backlog_sub *sorted,
     size_t n, int64_t since_ms)
{
	return e->first_ms < since_ms &&
	       (n == 0 || bsearch(e->id, sorted, n, sizeof(*sorted),
				  cmp_sub_id) == NULL);
}

void
subhealth_keep(const struct metrics_backlog_sub *sorted, size_t n,
	       int64_t since_ms)
{
	struct entry *fresh;
	bool any = false;

	pthread_mutex_lock(&lock);
	/* rebuilt only when one goes (open addressing cannot simply empty
	 * a slot) */
	for (size_t i = 0; table != NULL && i < SLOTS && !any; i++)
		any = table[i].id[0] != '\0' &&
		      gone(&table[i], sorted, n, since_ms);
	if (!any) {
		pthread_mutex_unlock(&lock);
		return;
	}
	fresh = xcalloc(SLOTS, sizeof(*fresh));
	count = 0;
	for (size_t i = 0; i < SLOTS; i++) {
		if (table[i].id[0] == '\0' || gone(&table[i], sorted, n, since_ms))
			continue;
		*slot(fresh, table[i].id) = table[i];
		count++;
	}
	free(table);
	table = fresh;
	pthread_mutex_unlock(&lock);
}

void
subhealth_reset(void)
{
	pthread_mutex_lock(&lock);
	free(table);
	table = NULL;
	count = 0;
	pthread_mutex_unlock(&lock);
}
