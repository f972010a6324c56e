/* The dispatcher's jobs: their lifecycle, the queues and lists they move through, the held set, and the subscriptions they belong to. */
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch_core.h"
#include "fnv1a.h"
#include "log.h"
#include "metrics.h"
#include "subscription.h"
#include "xalloc.h"

/* --- the subscription table --- */

static size_t
hash_id(const char *id)
{
	return (size_t)(fnv1a_str(id) % HASH_BUCKETS);
}

static size_t
hash_job(const char *id, int64_t seq)
{
	return (hash_id(id) * 31 + (size_t)seq) % HASH_BUCKETS;
}

struct dsub *
jobs_sub_find(struct dispatch *d, const char *id)
{
	for (struct dsub *s = d->subs[hash_id(id)]; s; s = s->hnext)
		if (strcmp(s->id, id) == 0)
			return s;
	return NULL;
}

struct dsub *
jobs_sub_add(struct dispatch *d, const char *id)
{
	struct dsub *s = jobs_sub_find(d, id);
	size_t h;

	if (s != NULL)
		return s;
	h = hash_id(id);
	s = xcalloc(1, sizeof(*s));
	snprintf(s->id, sizeof(s->id), "%s", id);
	s->hnext = d->subs[h];
	d->subs[h] = s;
	return s;
}

struct dmember *
jobs_member(struct dsub *s, const char *url)
{
	for (size_t i = 0; url != NULL && i < s->nmembers; i++)
		if (s->members[i].url != NULL &&
		    strcmp(s->members[i].url, url) == 0)
			return &s->members[i];
	return NULL;
}

struct ratelimit *
jobs_limiter(struct job *j)
{
	struct dmember *m;

	if (j->sink == NULL)
		return &j->sub->rl;
	m = jobs_member(j->sub, j->sink);
	return m ? &m->rl : NULL;
}

static void
members_free(struct dmember *m, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(m[i].url);
	free(m);
}

void
jobs_members_update(struct dsub *s, int64_t now_us)
{
	const struct subscription *sub = &s->sub;
	const struct sub_delivery *dl = &sub->delivery;
	struct dmember *m = NULL;

	if (sub->nsinks > 0)
		m = xcalloc(sub->nsinks, sizeof(*m));
	for (size_t i = 0; i < sub->nsinks; i++) {
		struct dmember *old = jobs_member(s, sub->sinks[i]);

		if (old != NULL) {
			m[i] = *old;
			free(old->url);
			old->url = NULL; /* moved */
			ratelimit_update(&m[i].rl, dl->rate, dl->burst,
					 dl->max_in_flight, now_us);
		} else {
			ratelimit_init(&m[i].rl, dl->rate, dl->burst,
				       dl->max_in_flight, now_us);
		}
		m[i].url = xstrdup(sub->sinks[i]);
	}
	/* (the ones moved have a NULL url now) */
	members_free(s->members, s->nmembers);
	s->members = m;
	s->nmembers = sub->nsinks;
}

void
jobs_sub_clear(struct dsub *s)
{
	sub_free(&s->sub);
	free(s->secret);
	free(s->prev_secret);
	s->secret = s->prev_secret = NULL;
}

size_t
jobs_queue_cap(const struct dsub *s)
{
	/* enough to keep max_in_flight busy while a fetch and a write-back
	 * take their turns */
	size_t cap = (size_t)s->sub.delivery.max_in_flight * 4 *
		     (s->nmembers > 0 ? s->nmembers : 1);

	return cap < QUEUE_MIN ? QUEUE_MIN : cap;
}

void
jobs_free_subs(struct dispatch *d)
{
	for (size_t h = 0; h < HASH_BUCKETS; h++) {
		struct dsub *s = d->subs[h], *next;

		for (; s; s = next) {
			next = s->hnext;
			jobs_sub_clear(s);
			members_free(s->members, s->nmembers);
			free(s);
		}
		d->subs[h] = NULL;
	}
	d->busy = NULL;
}

/* --- lists --- */

static void
jlist_append(struct jlist *l, struct job *j)
{
	j->next = NULL;
	j->prev = l->tail;
	if (l->tail)
		l->tail->next = j;
	else
		l->head = j;
	l->tail = j;
	l->n++;
}

static void
jlist_remove(struct jlist *l, struct job *j)
{
	if (j->prev)
		j->prev->next = j->next;
	else
		l->head = j->next;
	if (j->next)
		j->next->prev = j->prev;
	else
		l->tail = j->prev;
	j->prev = j->next = NULL;
	l->n--;
}

/* --- the held set --- */

static void
held_add(struct dispatch *d, struct job *j)
{
	size_t h = hash_job(j->sub->id, j->seq);

	j->hnext = d->held[h];
	d->held[h] = j;
	d->nheld++;
	d->held_per_part[j->part]++;
}

bool
jobs_held(struct dispatch *d, const char *id, int64_t seq)
{
	for (struct job *j = d->held[hash_job(id, seq)]; j; j = j->hnext)
		if (j->seq == seq && strcmp(j->sub->id, id) == 0)
			return true;
	return false;
}

static void
held_remove(struct dispatch *d, struct job *j)
{
	struct job **pp = &d->held[hash_job(j->sub->id, j->seq)];

	for (; *pp; pp = &(*pp)->hnext) {
		if (*pp == j) {
			*pp = j->hnext;
			d->nheld--;
			d->held_per_part[j->part]--;
			return;
		}
	}
}

struct job *
jobs_new(struct dispatch *d, struct dsub *s, int64_t seq, int part)
{
	struct job *j = xcalloc(1, sizeof(*j));

	j->state = JOB_FETCHED;
	j->sub = s;
	j->seq = seq;
	j->part = part;
	held_add(d, j);
	return j;
}

static void
job_free(struct job *j)
{
	free(j->attrs);
	free(j->data);
	webhook_request_free(&j->req);
	curl_slist_free_all(j->hdrs);
	free(j->head);
	free(j->key);
	free(j->sink);
	free(j);
}

/* --- the lifecycle --- */

static const char *const state_names[] = {
	[JOB_FETCHED] = "fetched",     [JOB_QUEUED] = "queued",
	[JOB_IN_FLIGHT] = "in flight", [JOB_FINISHED] = "finished",
	[JOB_WRITING] = "writing",     [JOB_FORGOTTEN] = "forgotten",
};

/*
 * The edges a job may take.  Any state may go to forgotten when the
 * session that owned its partition is lost (an attempt in flight is
 * aborted first); otherwise:
 *
 *   fetched   -> queued     its subscription is active
 *   fetched   -> finished   released unsent: its subscription is not
 *   queued    -> in flight  its limits allowed it and its request started
 *   queued    -> finished   released unsent, or its request could not be
 *                           built (a failed attempt)
 *   in flight -> finished   answered, failed, or aborted unanswered
 *   finished  -> writing    a write-back took it
 *   writing   -> finished   that write-back failed: to be written again
 *   writing   -> forgotten  written
 */
static const bool edges[JOB_FORGOTTEN + 1][JOB_FORGOTTEN + 1] = {
	[JOB_FETCHED] = {[JOB_QUEUED] = true, [JOB_FINISHED] = true,
			 [JOB_FORGOTTEN] = true},
	[JOB_QUEUED] = {[JOB_IN_FLIGHT] = true, [JOB_FINISHED] = true,
			[JOB_FORGOTTEN] = true},
	[JOB_IN_FLIGHT] = {[JOB_FINISHED] = true, [JOB_FORGOTTEN] = true},
	[JOB_FINISHED] = {[JOB_WRITING] = true, [JOB_FORGOTTEN] = true},
	[JOB_WRITING] = {[JOB_FINISHED] = true, [JOB_FORGOTTEN] = true},
};

static struct jlist *
list_of(struct dispatch *d, struct job *j, enum job_state s)
{
	switch (s) {
	case JOB_QUEUED:
		return &j->sub->queue;
	case JOB_IN_FLIGHT:
		return &d->flying;
	case JOB_FINISHED:
		return &d->results;
	case JOB_WRITING:
		return &d->writing;
	case JOB_FETCHED:
	case JOB_FORGOTTEN:
		break;
	}
	return NULL;
}

void
jobs_move(struct dispatch *d, struct job *j, enum job_state to)
{
	enum job_state from = j->state;
	struct jlist *l;

	/* a transfer handle exactly while in flight */
	if (!edges[from][to] || (to == JOB_IN_FLIGHT) != (j->easy != NULL)) {
		log_with(LOG_ERROR, &(struct log_ids){.subscription = j->sub->id,
						      .seq = j->seq},
			 "dispatch: a delivery cannot go from %s to %s",
			 state_names[from], state_names[to]);
		assert(!"impossible job state change");
		return;
	}
	log_with(LOG_DEBUG, &(struct log_ids){.subscription = j->sub->id,
					      .seq = j->seq},
		 "dispatch: delivery %s -> %s", state_names[from],
		 state_names[to]);
	if ((l = list_of(d, j, from)) != NULL)
		jlist_remove(l, j);
	if (from == JOB_IN_FLIGHT || to == JOB_IN_FLIGHT)
		metrics_inflight_add(to == JOB_IN_FLIGHT ? 1 : -1);
	j->state = to;
	if (to == JOB_FORGOTTEN) {
		held_remove(d, j);
		job_free(j);
		return;
	}
	if ((l = list_of(d, j, to)) != NULL)
		jlist_append(l, j);
	if (to == JOB_QUEUED && !j->sub->listed) {
		j->sub->listed = true;
		j->sub->bnext = d->busy;
		d->busy = j->sub;
	}
}

void
jobs_release_queue(struct dispatch *d, struct dsub *s)
{
	while (s->queue.head != NULL)
		jobs_move(d, s->queue.head, JOB_FINISHED); /* not attempted */
}

void
jobs_forget_all(struct dispatch *d)
{
	for (size_t h = 0; h < HASH_BUCKETS; h++) {
		while (d->held[h] != NULL) {
			struct job *j = d->held[h];

			if (j->state == JOB_IN_FLIGHT)
				transfer_abort(d, j);
			jobs_move(d, j, JOB_FORGOTTEN);
		}
	}
	for (size_t h = 0; h < HASH_BUCKETS; h++)
		for (struct dsub *s = d->subs[h]; s; s = s->hnext)
			s->listed = false;
	d->busy = NULL;
}
