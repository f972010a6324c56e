/* Subscription filters (CloudEvents Subscriptions API dialects): compile once, evaluate per event. */
#ifndef HERALD_FILTER_H
#define HERALD_FILTER_H

#include "herald.h"

/* Compile a filters array (every entry must hold).  NULL or [] compiles to
 * NULL, which matches everything, and returns 0.  On error returns -1 with
 * err->field naming the JSON path of the bad entry (e.g. "filters[1].not"). */
int filter_compile(const cJSON *filters, struct filter **out,
		   struct herald_error *err);

struct datafilter_view;

/* view: the event's data, parsed lazily and shared across the filters
 * matched against the same event (datafilter.h); NULL makes one for
 * this call. */
bool filter_match(const struct filter *f, const struct cloudevent *ev,
		  struct datafilter_view *view);

/* true when the filter looks at the event's data (a "data" expression). */
bool filter_needs_data(const struct filter *f);

void filter_free(struct filter *f);

#endif
