/* Operational events: the CloudEvents herald publishes about its own deliveries, built from the facts the outbox keeps (pure). */
#ifndef HERALD_OPEVENT_H
#define HERALD_OPEVENT_H

#include <stdbool.h>
#include <stdint.h>

#include "herald.h"

/* The source of every operational event; no one else may publish it. */
#define OPEVENT_SOURCE "/herald"

/* What happened.  The names ("delivery.failed"...) are stored in the
 * opevent table (sql/005); the event type is "herald." + the name. */
enum opevent_kind {
	OPEVENT_DELIVERY_FAILED,       /* a delivery given up after its last attempt */
	OPEVENT_SUBSCRIPTION_DISABLED, /* herald disabled a subscription (410) */
	OPEVENT_SUBSCRIPTION_BACKLOG,  /* its pending backlog reached a threshold */
};

/* One outbox row.  Strings may be NULL where the row has NULL. */
struct opevent {
	enum opevent_kind kind;
	int64_t outbox_id;        /* the row's id: part of the event id */
	const char *subscription; /* the subscription it is about */
	const char *time;         /* when it happened, RFC 3339 */
	/* failed, disabled: the delivery concerned (seq 0: none known) */
	int64_t seq;
	const char *event_source, *event_id, *event_type;
	long attempts;
	long last_status;         /* 0: none (no HTTP answer) */
	const char *last_error;
	const char *reason;       /* disabled: why */
	/* backlog */
	int64_t backlog, threshold;
};

/* The stored name of a kind ("delivery.failed"...). */
const char *opevent_kind_name(enum opevent_kind k);
/* The kind named name; false when it is none. */
bool opevent_kind_parse(const char *name, enum opevent_kind *out);

/* true when an event with this source would pass for herald's own. */
bool opevent_source_reserved(const char *source);

/* The event's data, a JSON object (the caller deletes it). */
cJSON *opevent_data(const struct opevent *op);

/* The whole CloudEvent: source OPEVENT_SOURCE, type "herald." + kind,
 * subject and partitionkey the subscription, an id derived from the
 * kind, subscription, seq and outbox row (the same row always gives the
 * same id), time, and the data as application/json.  0, or -1 with
 * err when the facts make no valid event. */
int opevent_build(const struct opevent *op, struct cloudevent *ev,
		  struct herald_error *err);

#endif
