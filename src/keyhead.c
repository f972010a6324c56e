/* Per-key delivery heads: the advisory lock of each (subscription, ordering key), and a delivery's dispatch partition. */
#include "keyhead.h"

#include <stdlib.h>
#include <string.h>

#include "fnv1a.h"
#include "log.h"
#include "xalloc.h"

/*
 * A key has pending deliveries; exactly one of them, normally the oldest,
 * is `ready`.  The SQL functions that change deliveries (sql/002 and 003:
 * the writer's insert, the dispatcher's write-back, retry, requeue and
 * replay) keep that so, each while holding the transaction advisory locks
 * of the keys it touches.  This file names those locks, and the dispatch
 * partition of a delivery; both are computed here only, and never change
 * (tests/unit/check_delivery.c holds their values): instances of two
 * versions running side by side must agree on them.
 */

static const struct store_stmt lock_keys = {
	"keyhead_lock", "SELECT herald_lock_keys($1::int8[])", 1};

int64_t
keyhead_lock_id(const char *sub_id, const char *key)
{
	uint64_t h = FNV1A_BASIS;

	h = fnv1a(h, sub_id, strlen(sub_id));
	h = fnv1a(h, "\x1f", 1);
	h = fnv1a(h, key, strlen(key));
	return (int64_t)(h & 0x7fffffffffffffffULL);
}

int
keyhead_partition(const char *sub_id, const char *key, int64_t seq)
{
	unsigned char le[8]; /* the seq's bytes, least significant first */
	uint64_t h;

	if (key != NULL)
		return (int)((uint64_t)keyhead_lock_id(sub_id, key) %
			     STORE_PARTITIONS);
	for (size_t i = 0; i < sizeof(le); i++)
		le[i] = (unsigned char)((uint64_t)seq >> (8 * i));
	h = fnv1a(FNV1A_BASIS, sub_id, strlen(sub_id));
	h = fnv1a(h, le, sizeof(le));
	return (int)(h % STORE_PARTITIONS);
}

void
keyhead_add(struct keyhead_set *ks, const char *sub_id, const char *key)
{
	if (key == NULL)
		return;
	if (ks->n == 0 && ks->subs.buf == NULL) {
		store_array_init(&ks->subs, STORE_OID_TEXT);
		store_array_init(&ks->keys, STORE_OID_TEXT);
	}
	if (ks->n == ks->cap) {
		ks->cap = ks->cap ? ks->cap * 2 : 64;
		ks->locks = xrealloc(ks->locks, ks->cap * sizeof(*ks->locks));
	}
	ks->locks[ks->n++] = keyhead_lock_id(sub_id, key);
	store_array_add(&ks->subs, sub_id, strlen(sub_id));
	store_array_add(&ks->keys, key, strlen(key));
}

static int
lock_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

const char *
keyhead_locks_param(struct keyhead_set *ks, struct store_array *locks,
		    int *len)
{
	store_array_init(locks, STORE_OID_INT8);
	if (ks->n > 0) { /* (else locks may be NULL, which qsort must not get) */
		qsort(ks->locks, ks->n, sizeof(*ks->locks), lock_cmp);
		for (size_t i = 0; i < ks->n; i++)
			if (i == 0 || ks->locks[i] != ks->locks[i - 1])
				store_array_add_int(locks, ks->locks[i]);
	}
	return store_array_param(locks, len);
}

void
keyhead_params(struct keyhead_set *ks, struct store_array *locks,
	       const char **values, int *lengths)
{
	if (ks->subs.buf == NULL) { /* no key added */
		store_array_init(&ks->subs, STORE_OID_TEXT);
		store_array_init(&ks->keys, STORE_OID_TEXT);
	}
	values[0] = keyhead_locks_param(ks, locks, &lengths[0]);
	values[1] = store_array_param(&ks->subs, &lengths[1]);
	values[2] = store_array_param(&ks->keys, &lengths[2]);
}

enum store_status
keyhead_lock(struct keyhead_set *ks, struct store_conn *c)
{
	struct store_array arr;
	const char *v;
	int len, fmt = 1;
	PGresult *r;
	enum store_status s;

	if (ks->n == 0)
		return STORE_OK;
	v = keyhead_locks_param(ks, &arr, &len);
	r = store_exec(c, &lock_keys, &v, &len, &fmt);
	s = store_check(c, r, PGRES_TUPLES_OK, lock_keys.name);
	PQclear(r);
	store_array_free(&arr);
	return s;
}

void
keyhead_clear(struct keyhead_set *ks)
{
	ks->n = 0;
	store_array_free(&ks->subs);
	store_array_free(&ks->keys);
}

void
keyhead_free(struct keyhead_set *ks)
{
	keyhead_clear(ks);
	free(ks->locks);
	ks->locks = NULL;
	ks->cap = 0;
}
