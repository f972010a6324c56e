/* Subscriptions: validate request bodies, merge patches, render, match events. */
#ifndef HERALD_SUBSCRIPTION_H
#define HERALD_SUBSCRIPTION_H

#include "herald.h"

/* Validate a create/PUT body (or a stored config) into *sub, filling
 * delivery defaults.  Unknown fields are refused.  Returns 0, or -1 with
 * *err (err->field names the field, e.g. "delivery.retry.max_attempts"). */
int sub_parse(const cJSON *body, struct subscription *sub,
	      struct herald_error *err);

/* The subscription's configuration as JSON, defaults filled in: what is
 * stored and, without sinkcredential, what GET shows.  Never the secret. */
cJSON *sub_to_json(const struct subscription *sub, bool with_credential);

/* Merge a PATCH body into a stored config (top-level fields replace; a
 * "delivery" object merges field by field, "retry" likewise; "sink" and
 * "sinks" replace each other) and return the merged body for sub_parse.  NULL with *err when patch is not an object. */
cJSON *sub_merge_patch(const cJSON *current, const cJSON *patch,
		       struct herald_error *err);

struct datafilter_view;

/* true when the event matches source, types and filters.  view: the
 * event's data, parsed at most once for all the subscriptions matched
 * against it (datafilter.h); NULL makes one for this call. */
bool sub_matches(const struct subscription *sub, const struct cloudevent *ev,
		 struct datafilter_view *view);

/* The delivery ordering key for this event, or NULL when unordered.
 * SUB_ORDER_GLOBAL yields "". */
const char *sub_ordering_key(const struct subscription *sub,
			     const struct cloudevent *ev);

const char *sub_status_name(enum sub_status s);
bool sub_status_parse(const char *s, enum sub_status *out);

void sub_free(struct subscription *sub);

#endif
