/* Consumer groups: rendezvous hashing over the members in rotation, least work in flight for unkeyed deliveries, and each member's health (pure). */
#include "sinkgroup.h"

#include <string.h>

#include "fnv1a.h"

/* MurmurHash3's 64-bit finalizer: FNV-1a's low bits mix poorly on short
 * inputs that differ only at the end, which keys and URLs often do. */
static uint64_t
mix64(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

uint64_t
sinkgroup_weight(const char *member, const char *key)
{
	uint64_t h = fnv1a(FNV1A_BASIS, member, strlen(member) + 1); /* with NUL */

	return mix64(fnv1a(h, key, strlen(key)));
}

int
sinkgroup_for_key(const char *const *members, const bool *in_rotation,
		  size_t n, const char *key)
{
	bool any = false;
	int best = -1;
	uint64_t best_w = 0;

	for (size_t i = 0; i < n && !any; i++)
		any = in_rotation[i];
	for (size_t i = 0; i < n; i++) {
		uint64_t w;

		if (any && !in_rotation[i])
			continue;
		w = sinkgroup_weight(members[i], key);
		if (best < 0 || w > best_w) {
			best = (int)i;
			best_w = w;
		}
	}
	return best;
}

int
sinkgroup_least_loaded(const int *in_flight, const bool *eligible, size_t n,
		       size_t start)
{
	int best = -1;

	for (size_t k = 0; k < n; k++) {
		size_t i = (start + k) % n;

		if (eligible[i] && (best < 0 || in_flight[i] < in_flight[best]))
			best = (int)i;
	}
	return best;
}

static void
take_out(struct sinkgroup_health *h, const struct sinkgroup_policy *p,
	 int64_t now_us)
{
	h->out = true;
	h->probing = false;
	h->probe_ms = p->probe_min_ms;
	h->probe_at_us = now_us + (int64_t)h->probe_ms * 1000;
}

bool
sinkgroup_record(struct sinkgroup_health *h, const struct sinkgroup_policy *p,
		 enum sinkgroup_outcome o, bool probe, int64_t now_us)
{
	bool was_out = h->out;

	if (probe)
		h->probing = false;
	switch (o) {
	case SINKGROUP_OK:
		h->out = false;
		h->failures = 0;
		h->refusing = false;
		return was_out;
	case SINKGROUP_BUSY:
		return false;
	case SINKGROUP_REFUSED:
		if (!h->refusing) {
			h->refusing = true;
			h->refused_since_us = now_us;
		}
		break;
	case SINKGROUP_FAILED:
		h->refusing = false;
		break;
	}
	h->failures++;
	if (was_out) {
		/* only the probe's failure says anything new */
		if (probe) {
			h->probe_ms = h->probe_ms * 2 > p->probe_max_ms ?
				      p->probe_max_ms : h->probe_ms * 2;
			h->probe_at_us = now_us + (int64_t)h->probe_ms * 1000;
		}
		return false;
	}
	if (h->failures >= p->max_failures ||
	    (h->refusing && now_us - h->refused_since_us >= p->refused_us)) {
		take_out(h, p, now_us);
		return true;
	}
	return false;
}

bool
sinkgroup_probe_due(const struct sinkgroup_health *h, int64_t now_us)
{
	return h->out && !h->probing && now_us >= h->probe_at_us;
}
