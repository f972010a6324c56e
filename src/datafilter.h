/* The "data" filter dialect: JSON Pointer tests on an event's JSON data. */
#ifndef HERALD_DATAFILTER_H
#define HERALD_DATAFILTER_H

#include "herald.h"

struct datafilter;

/* An event's data as JSON, parsed on first use and then shared by every
 * filter matched against the same event.  Initialize, match any number
 * of filters with it, free. */
struct datafilter_view {
	const struct cloudevent *ev;
	cJSON *root;  /* the parsed data; NULL: not JSON (or not parsed yet) */
	bool parsed;  /* the data was looked at (parsed at most once) */
};

void datafilter_view_init(struct datafilter_view *v,
			  const struct cloudevent *ev);

/* The event's data when it is JSON (no datacontenttype, or a JSON one),
 * parsed now if it was not yet; NULL when the event has no JSON data. */
const cJSON *datafilter_view_data(struct datafilter_view *v);

void datafilter_view_free(struct datafilter_view *v);

/* Compile the value of a {"data": ...} expression.  path is the JSON
 * path of that value ("filters[0].data"); on error returns -1 with
 * err->code "invalid_filter" and err->field naming the offending
 * pointer or operator ("filters[0].data./customer/tier.in"). */
int datafilter_compile(const cJSON *spec, const char *path,
		       struct datafilter **out, struct herald_error *err);

bool datafilter_match(const struct datafilter *df, struct datafilter_view *v);

void datafilter_free(struct datafilter *df);

#endif
