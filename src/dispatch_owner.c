/* The dispatcher's partitions: owning a fair share of them while other instances come and go. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch_core.h"
#include "log.h"
#include "metrics.h"
#include "monotime.h"

/*
 * Deliveries are split into STORE_PARTITIONS partitions (keyhead.c says
 * which).  An instance may send a partition's deliveries only while it
 * holds that partition's session advisory lock; when it dies, its session
 * ends, the locks go with it, and the others take its partitions over.
 */

/* The namespace of the partition advisory locks ("herd"). */
#define PART_LOCK_NS_SQL "1751478884"

static const struct store_stmt try_parts = {
	"dispatch_try_parts",
	"SELECT p FROM unnest($1::int4[]) AS p"
	" WHERE pg_try_advisory_lock(" PART_LOCK_NS_SQL ", p)",
	1};

static const struct store_stmt release_part = {
	"dispatch_release_part",
	"SELECT pg_advisory_unlock(" PART_LOCK_NS_SQL ", $1::int4)", 1};

static const struct store_stmt count_instances = {
	"dispatch_count_instances",
	"SELECT count(*) FROM pg_stat_activity"
	" WHERE application_name = 'herald-dispatch'"
	"   AND datname = current_database()",
	0};

void
owner_parts(struct dispatch *d, struct store_array *parts)
{
	store_array_init(parts, STORE_OID_INT4);
	for (int p = 0; p < STORE_PARTITIONS; p++)
		if (d->owned[p])
			store_array_add_int(parts, p);
}

void
owner_forget(struct dispatch *d)
{
	memset(d->owned, 0, sizeof(d->owned));
	memset(d->held_per_part, 0, sizeof(d->held_per_part));
	d->nowned = 0;
	metrics_partitions_owned(0);
}

/* Give back idle partitions beyond the share (stops at a database
 * error). */
static void
release_extra(struct dispatch *d, int target)
{
	for (int p = STORE_PARTITIONS - 1; p >= 0 && d->nowned > target; p--) {
		char part[16];
		const char *pv = part;
		PGresult *r;

		if (!d->owned[p] || d->held_per_part[p] > 0)
			continue;
		snprintf(part, sizeof(part), "%d", p);
		r = store_exec(d->conn, &release_part, &pv, NULL, NULL);
		if (!db_ok(d, r, PGRES_TUPLES_OK, "release partition")) {
			PQclear(r);
			return;
		}
		PQclear(r);
		d->owned[p] = false;
		d->nowned--;
		log_info("dispatch: released partition %d", p);
	}
}

/* Try to take the partitions not owned. */
static void
take_more(struct dispatch *d, int instances)
{
	struct store_array want;
	const char *v;
	int len, fmt = 1, taken = 0;
	PGresult *r;

	store_array_init(&want, STORE_OID_INT4);
	for (int p = 0; p < STORE_PARTITIONS; p++)
		if (!d->owned[p])
			store_array_add_int(&want, p);
	v = store_array_param(&want, &len);
	r = store_exec(d->conn, &try_parts, &v, &len, &fmt);
	store_array_free(&want);
	if (!db_ok(d, r, PGRES_TUPLES_OK, "take partitions")) {
		PQclear(r);
		return;
	}
	for (int i = 0; i < PQntuples(r); i++) {
		int p = atoi(PQgetvalue(r, i, 0));

		if (p < 0 || p >= STORE_PARTITIONS || d->owned[p])
			continue;
		d->owned[p] = true;
		d->nowned++;
		taken++;
	}
	PQclear(r);
	if (taken > 0) {
		/* a dead instance's work, if any, is found and sent at once */
		log_info("dispatch: owning %d of %d partitions (%d instances)",
			 d->nowned, STORE_PARTITIONS, instances);
		d->want_sweep = true;
	}
}

/* Own a fair share of the partitions: ceil(64 / live instances). */
void
owner_rebalance(struct dispatch *d)
{
	PGresult *r;
	int instances, target;

	d->last_rebalance_us = monotime_us();
	r = store_exec(d->conn, &count_instances, NULL, NULL, NULL);
	if (!db_ok(d, r, PGRES_TUPLES_OK, "count instances")) {
		PQclear(r);
		return;
	}
	instances = atoi(PQgetvalue(r, 0, 0));
	PQclear(r);
	if (instances < 1)
		instances = 1;
	target = (STORE_PARTITIONS + instances - 1) / instances;
	if (d->nowned > target)
		release_extra(d, target);
	else if (d->nowned < target)
		take_more(d, instances);
	metrics_partitions_owned(d->nowned);
}
