/* A fixed ring of samples of herald's counters and backlog, and the per-interval figures between them (pure: no clock, no lock). */
#include "statring.h"

#include <stdlib.h>

#include "xalloc.h"

/* The caller serializes every use (stats.c holds a lock). */
struct statring {
	struct statring_sample *s; /* cap of them */
	size_t cap;
	size_t head; /* where the next sample goes */
	size_t len;
};

struct statring *
statring_new(size_t cap)
{
	struct statring *r = xcalloc(1, sizeof(*r));

	r->cap = cap < 2 ? 2 : cap;
	r->s = xcalloc(r->cap, sizeof(*r->s));
	return r;
}

void
statring_free(struct statring *r)
{
	if (r == NULL)
		return;
	free(r->s);
	free(r);
}

void
statring_push(struct statring *r, const struct statring_sample *s)
{
	r->s[r->head] = *s;
	r->head = (r->head + 1) % r->cap;
	if (r->len < r->cap)
		r->len++;
}

size_t
statring_len(const struct statring *r)
{
	return r->len;
}

/* The i-th sample, oldest first (i < len). */
static const struct statring_sample *
nth(const struct statring *r, size_t i)
{
	return &r->s[(r->head + r->cap - r->len + i) % r->cap];
}

bool
statring_last(const struct statring *r, struct statring_sample *out)
{
	if (r->len == 0)
		return false;
	*out = *nth(r, r->len - 1);
	return true;
}

/* What a counter added from a to b; all of b after a reset. */
static unsigned long
delta(unsigned long a, unsigned long b)
{
	return b >= a ? b - a : b;
}

static void
interval_of(const struct statring_sample *a, const struct statring_sample *b,
	    struct statring_interval *out)
{
	out->at = b->at;
	out->seconds = b->mono - a->mono;
	for (size_t i = 0; i < METRICS_NINGEST; i++)
		out->d.ingested[i] = delta(a->c.ingested[i], b->c.ingested[i]);
	for (size_t i = 0; i < METRICS_NOUTCOMES; i++)
		out->d.attempts[i] = delta(a->c.attempts[i], b->c.attempts[i]);
	out->d.failed = delta(a->c.failed, b->c.failed);
	out->backlog_known = b->backlog_known;
	out->due = b->due;
	out->not_due = b->not_due;
	out->oldest_s = b->oldest_s;
}

size_t
statring_intervals(const struct statring *r, double since,
		   struct statring_interval *out, size_t max)
{
	size_t first = 1, n = 0;

	/* the first sample whose interval ends after since */
	while (first < r->len && !(nth(r, first)->mono > since))
		first++;
	if (r->len - first > max)
		first = r->len - max;
	for (size_t i = first; i < r->len && n < max; i++) {
		const struct statring_sample *a = nth(r, i - 1), *b = nth(r, i);

		if (!(b->mono > a->mono))
			continue;
		interval_of(a, b, &out[n++]);
	}
	return n;
}
