/* Operational events: the CloudEvents herald publishes about its own deliveries, built from the facts the outbox keeps (pure). */
#include "opevent.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cloudevent.h"

static const char *const kind_names[] = {
	[OPEVENT_DELIVERY_FAILED] = "delivery.failed",
	[OPEVENT_SUBSCRIPTION_DISABLED] = "subscription.disabled",
	[OPEVENT_SUBSCRIPTION_BACKLOG] = "subscription.backlog",
};
#define NKINDS (sizeof(kind_names) / sizeof(kind_names[0]))

const char *
opevent_kind_name(enum opevent_kind k)
{
	return (size_t)k < NKINDS ? kind_names[k] : "invalid";
}

bool
opevent_kind_parse(const char *name, enum opevent_kind *out)
{
	for (size_t i = 0; name != NULL && i < NKINDS; i++) {
		if (strcmp(name, kind_names[i]) == 0) {
			*out = (enum opevent_kind)i;
			return true;
		}
	}
	return false;
}

bool
opevent_source_reserved(const char *source)
{
	return source != NULL && strcmp(source, OPEVENT_SOURCE) == 0;
}

static void
add_string_or_null(cJSON *o, const char *name, const char *v)
{
	if (v != NULL)
		cJSON_AddStringToObject(o, name, v);
	else
		cJSON_AddNullToObject(o, name);
}

/* {"seq", "event": {"source", "id", "type"}}, or null when unknown. */
static void
add_delivery(cJSON *o, const struct opevent *op)
{
	cJSON *d, *e;

	if (op->seq <= 0) {
		cJSON_AddNullToObject(o, "delivery");
		return;
	}
	d = cJSON_AddObjectToObject(o, "delivery");
	cJSON_AddNumberToObject(d, "seq", (double)op->seq);
	e = cJSON_AddObjectToObject(d, "event");
	add_string_or_null(e, "source", op->event_source);
	add_string_or_null(e, "id", op->event_id);
	add_string_or_null(e, "type", op->event_type);
}

/* attempts, last_status (null: no HTTP answer), last_error */
static void
add_outcome(cJSON *o, const struct opevent *op)
{
	cJSON_AddNumberToObject(o, "attempts", (double)op->attempts);
	if (op->last_status > 0)
		cJSON_AddNumberToObject(o, "last_status", (double)op->last_status);
	else
		cJSON_AddNullToObject(o, "last_status");
	add_string_or_null(o, "last_error", op->last_error);
}

cJSON *
opevent_data(const struct opevent *op)
{
	cJSON *o = cJSON_CreateObject();

	add_string_or_null(o, "subscription", op->subscription);
	switch (op->kind) {
	case OPEVENT_DELIVERY_FAILED:
		add_delivery(o, op);
		add_outcome(o, op);
		break;
	case OPEVENT_SUBSCRIPTION_DISABLED:
		cJSON_AddStringToObject(o, "status", "disabled");
		add_string_or_null(o, "reason", op->reason);
		add_delivery(o, op);
		add_outcome(o, op);
		break;
	case OPEVENT_SUBSCRIPTION_BACKLOG:
		cJSON_AddNumberToObject(o, "backlog", (double)op->backlog);
		cJSON_AddNumberToObject(o, "threshold", (double)op->threshold);
		break;
	}
	return o;
}

int
opevent_build(const struct opevent *op, struct cloudevent *ev,
	      struct herald_error *err)
{
	const char *kind = opevent_kind_name(op->kind);
	char type[64], id[192];
	cJSON *o;
	int rc;

	memset(ev, 0, sizeof(*ev));
	if ((size_t)op->kind >= NKINDS || op->subscription == NULL ||
	    op->subscription[0] == '\0') {
		memset(err, 0, sizeof(*err));
		err->index = -1;
		snprintf(err->code, sizeof(err->code), "invalid_opevent");
		snprintf(err->message, sizeof(err->message),
			 "an operational event needs a kind and a subscription");
		return -1;
	}
	snprintf(type, sizeof(type), "herald.%s", kind);
	/* the same outbox row always makes the same id: publishing it twice
	 * stores it once */
	if (op->kind == OPEVENT_DELIVERY_FAILED)
		snprintf(id, sizeof(id), "%s/%s/%" PRId64 "/%" PRId64, kind,
			 op->subscription, op->seq, op->outbox_id);
	else
		snprintf(id, sizeof(id), "%s/%s/%" PRId64, kind,
			 op->subscription, op->outbox_id);
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "specversion", "1.0");
	cJSON_AddStringToObject(o, "id", id);
	cJSON_AddStringToObject(o, "source", OPEVENT_SOURCE);
	cJSON_AddStringToObject(o, "type", type);
	cJSON_AddStringToObject(o, "subject", op->subscription);
	if (op->time != NULL)
		cJSON_AddStringToObject(o, "time", op->time);
	cJSON_AddStringToObject(o, "partitionkey", op->subscription);
	cJSON_AddStringToObject(o, "datacontenttype", "application/json");
	cJSON_AddItemToObject(o, "data", opevent_data(op));
	rc = ce_from_json(o, ev, err);
	cJSON_Delete(o);
	return rc;
}
