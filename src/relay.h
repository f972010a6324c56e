/* The relay: events a producer's transactions emit into its WAL, read from a logical replication slot and published. */
#ifndef HERALD_RELAY_H
#define HERALD_RELAY_H

#include <stddef.h>

#include "config.h"
#include "herald.h"
#include "writer.h"

struct relays;

/* Start one thread per producer database of cfg->relay_from, each
 * publishing through w.  NULL with a logged reason when relay_from names
 * a connection string libpq cannot parse; an empty relay_from starts
 * none (a valid, empty set). */
struct relays *relays_start(const struct config *cfg, struct writer *w);

/* Stop every relay (a batch being committed is finished and confirmed
 * first) and free.  NULL is ignored.  Call before writer_drain. */
void relays_stop(struct relays *rs);

/* What GET /v1/relays shows: a JSON array, one object per relay of this
 * instance (name, slot, owner, flushed and server positions, lag, last
 * error). */
cJSON *relays_status(void);

#endif
