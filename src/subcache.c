/* A writer thread's cache of compiled subscriptions, indexed by event type, for fan-out. */
#include "subcache.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fnv1a.h"
#include "jsonexact.h"
#include "log.h"
#include "opevent.h"
#include "srcscope.h"
#include "subscription.h"
#include "xalloc.h"

/*
 * Each writer thread has a cache of its own and no other thread reads it;
 * no locking.  Each subscription is listed in the bucket of every type it
 * names, or in `any` when it names none, so an event is tested only
 * against subscriptions that could match.  The entries are sorted by id
 * (PostgreSQL's uuid order is the byte order of their canonical text).
 *
 * An operational event (source OPEVENT_SOURCE) tells about one
 * subscription, its subject: it goes only to the subscriptions of that
 * subscription's tenant and to those of admin keys, never to another
 * tenant's.
 *
 * A subscription whose owner's key has sources matches only events of
 * those sources, whatever its own source, types and filters say; the
 * sources are read with it (keys never change, but for revocation).
 * herald's own events are not among any key's sources: they follow the
 * rule above.
 */
struct entry {
	char id[37];
	struct subscription sub;
	long long tenant;
	bool admin;    /* its owner may see every tenant's */
	char *sources; /* its owner's, packed (srcscope.h); NULL: no limit */
};

struct bucket {
	const char *type;      /* NULL: empty slot */
	struct entry **subs;
	size_t n, cap;
};

struct subcache {
	long long epoch; /* -1: never loaded */
	struct entry *entries;
	size_t nentries;
	struct bucket *buckets; /* open addressing, nbuckets a power of 2 */
	size_t nbuckets;
	struct entry **any;
	size_t nany;
};

static const struct store_stmt read_epoch = {
	"subcache_epoch", "SELECT epoch FROM subscription_epoch", 0};

static const struct store_stmt read_all = {
	"subcache_all",
	"SELECT s.id, s.config::text, s.status, s.tenant,"
	"  s.tenant = 0 OR coalesce('admin' = ANY (k.scopes), false),"
	"  array_to_json(k.sources)::text"
	" FROM subscription s LEFT JOIN api_key k ON k.id = s.tenant"
	" ORDER BY s.id",
	0};

static struct bucket *
bucket_for(const struct subcache *sc, const char *type, bool insert)
{
	size_t mask = sc->nbuckets - 1, i;

	if (sc->nbuckets == 0)
		return NULL;
	for (i = fnv1a_str(type) & mask;; i = (i + 1) & mask) {
		struct bucket *b = &sc->buckets[i];

		if (b->type == NULL)
			return insert ? b : NULL;
		if (strcmp(b->type, type) == 0)
			return b;
	}
}

static void
push(struct entry ***arr, size_t *n, size_t *cap, struct entry *e)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 4;
		*arr = xrealloc(*arr, *cap * sizeof(**arr));
	}
	(*arr)[(*n)++] = e;
}

static void
clear(struct subcache *sc)
{
	for (size_t i = 0; i < sc->nentries; i++) {
		sub_free(&sc->entries[i].sub);
		free(sc->entries[i].sources);
	}
	free(sc->entries);
	for (size_t i = 0; i < sc->nbuckets; i++)
		free(sc->buckets[i].subs);
	free(sc->buckets);
	free(sc->any);
	sc->entries = NULL;
	sc->nentries = 0;
	sc->buckets = NULL;
	sc->nbuckets = 0;
	sc->any = NULL;
	sc->nany = 0;
}

struct subcache *
subcache_new(void)
{
	struct subcache *sc = xcalloc(1, sizeof(*sc));

	sc->epoch = -1;
	return sc;
}

/* Build the index over loaded entries. */
static void
index_entries(struct subcache *sc)
{
	size_t ntypes = 0, anycap = 0;

	for (size_t i = 0; i < sc->nentries; i++)
		ntypes += sc->entries[i].sub.ntypes;
	sc->nbuckets = 16;
	while (sc->nbuckets < ntypes * 2)
		sc->nbuckets *= 2;
	sc->buckets = xcalloc(sc->nbuckets, sizeof(*sc->buckets));
	for (size_t i = 0; i < sc->nentries; i++) {
		struct entry *e = &sc->entries[i];

		if (e->sub.ntypes == 0) {
			push(&sc->any, &sc->nany, &anycap, e);
			continue;
		}
		for (size_t t = 0; t < e->sub.ntypes; t++) {
			struct bucket *b = bucket_for(sc, e->sub.types[t], true);
			bool dup = false;

			b->type = e->sub.types[t];
			for (size_t k = 0; k < b->n; k++)
				dup |= b->subs[k] == e; /* a type listed twice */
			if (!dup)
				push(&b->subs, &b->n, &b->cap, e);
		}
	}
}

enum store_status
subcache_refresh(struct subcache *sc, struct store_conn *c)
{
	PGresult *r = store_exec(c, &read_epoch, NULL, NULL, NULL);
	enum store_status s = store_check(c, r, PGRES_TUPLES_OK, read_epoch.name);
	long long epoch;
	int n;

	if (s == STORE_OK && PQntuples(r) != 1) {
		log_error("%s: %d rows, not one", read_epoch.name, PQntuples(r));
		s = STORE_QUERY_ERROR;
	}
	if (s != STORE_OK) {
		PQclear(r);
		return s;
	}
	epoch = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	if (epoch == sc->epoch)
		return STORE_OK;

	r = store_exec(c, &read_all, NULL, NULL, NULL);
	s = store_check(c, r, PGRES_TUPLES_OK, read_all.name);
	if (s != STORE_OK) {
		PQclear(r);
		return s;
	}
	clear(sc);
	n = PQntuples(r);
	sc->entries = xcalloc((size_t)n + 1, sizeof(*sc->entries));
	for (int i = 0; i < n; i++) {
		struct entry *e = &sc->entries[sc->nentries];
		struct herald_error err;
		cJSON *config;
		char sources[SRCSCOPE_SIZE];

		if (srcscope_from_stored(PQgetisnull(r, i, 5) ? NULL :
					 PQgetvalue(r, i, 5), sources) != 0) {
			/* left out rather than let through without its limit */
			log_with(LOG_ERROR, &(struct log_ids){
					 .subscription = PQgetvalue(r, i, 0)},
				 "subscription cache: its owner's stored sources "
				 "are invalid");
			continue;
		}
		config = jsonexact_parse(PQgetvalue(r, i, 1),
					 (size_t)PQgetlength(r, i, 1));
		if (config == NULL || sub_parse(config, &e->sub, &err) != 0) {
			log_with(LOG_ERROR, &(struct log_ids){
					 .subscription = PQgetvalue(r, i, 0)},
				 "subscription cache: the stored config is invalid");
			cJSON_Delete(config);
			continue;
		}
		cJSON_Delete(config);
		e->sources = NULL;
		if (srcscope_limited(sources)) {
			e->sources = xmalloc(srcscope_size(sources));
			memcpy(e->sources, sources, srcscope_size(sources));
		}
		sub_status_parse(PQgetvalue(r, i, 2), &e->sub.status);
		e->tenant = strtoll(PQgetvalue(r, i, 3), NULL, 10);
		e->admin = strcmp(PQgetvalue(r, i, 4), "t") == 0;
		snprintf(e->id, sizeof(e->id), "%s", PQgetvalue(r, i, 0));
		sc->nentries++;
	}
	PQclear(r);
	index_entries(sc);
	sc->epoch = epoch;
	log_debug("subscription cache: %zu subscriptions (epoch %lld)",
		  sc->nentries, epoch);
	return STORE_OK;
}

/* The entry of a subscription id, or NULL. */
static const struct entry *
find_entry(const struct subcache *sc, const char *id)
{
	size_t lo = 0, hi = sc->nentries;

	while (id != NULL && lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(sc->entries[mid].id, id);

		if (c == 0)
			return &sc->entries[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* May e receive the event?  An operational event (own): only the tenant
 * of the subscription it is about (about, NULL when gone), and admins.
 * Any other: one of its owner's sources, when the owner has sources. */
static bool
may_see(const struct entry *e, const struct cloudevent *ev,
	const struct entry *about, bool own)
{
	if (!own)
		return e->sources == NULL || srcscope_allows(e->sources, ev->source);
	if (e->admin)
		return true;
	return about != NULL && about->tenant == e->tenant;
}

void
subcache_match(const struct subcache *sc, const struct cloudevent *ev,
	       struct datafilter_view *view,
	       void (*fn)(void *arg, const char *sub_id,
			  const struct subscription *sub),
	       void *arg)
{
	const struct bucket *b = bucket_for(sc, ev->type, false);
	bool own = opevent_source_reserved(ev->source);
	const struct entry *about = own ? find_entry(sc, ev->subject) : NULL;

	if (b != NULL)
		for (size_t i = 0; i < b->n; i++)
			if (may_see(b->subs[i], ev, about, own) &&
			    sub_matches(&b->subs[i]->sub, ev, view))
				fn(arg, b->subs[i]->id, &b->subs[i]->sub);
	for (size_t i = 0; i < sc->nany; i++)
		if (may_see(sc->any[i], ev, about, own) &&
		    sub_matches(&sc->any[i]->sub, ev, view))
			fn(arg, sc->any[i]->id, &sc->any[i]->sub);
}

void
subcache_free(struct subcache *sc)
{
	if (sc == NULL)
		return;
	clear(sc);
	free(sc);
}
