/* A writer thread's cache of compiled subscriptions, indexed by event type, for fan-out. */
#ifndef HERALD_SUBCACHE_H
#define HERALD_SUBCACHE_H

#include <stdbool.h>
#include <stddef.h>

#include "herald.h"
#include "store.h"

struct datafilter_view;

struct subcache;

struct subcache *subcache_new(void);

/* Inside the caller's transaction: reload every subscription when the
 * subscription epoch moved since the last load.  STORE_OK, or the
 * failure (logged; the cache is left as it was). */
HERALD_MUST_CHECK enum store_status subcache_refresh(struct subcache *sc,
						     struct store_conn *c);

/* Call fn for every subscription the event matches (whatever its
 * status: paused and disabled ones accumulate deliveries too).  Only
 * subscriptions listing the event's type, or listing no types, are
 * tested.  An operational event (source OPEVENT_SOURCE) matches only
 * subscriptions of its subject's tenant and of admin keys; any other
 * event, only subscriptions whose owner's key has no sources or has one
 * covering the event's source.  view holds the event's data, parsed
 * only if a data filter asks for it and then once (datafilter.h). */
void subcache_match(const struct subcache *sc, const struct cloudevent *ev,
		    struct datafilter_view *view,
		    void (*fn)(void *arg, const char *sub_id,
			       const struct subscription *sub),
		    void *arg);

void subcache_free(struct subcache *sc);

#endif
