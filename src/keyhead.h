/* Per-key delivery heads: the advisory lock of each (subscription, ordering key), and a delivery's dispatch partition. */
#ifndef HERALD_KEYHEAD_H
#define HERALD_KEYHEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* The transaction advisory lock id of one (subscription, key). */
int64_t keyhead_lock_id(const char *sub_id, const char *key);

/* The dispatch partition of a delivery: by key when ordered (so one
 * owner sees a whole key), else spread by seq. */
int keyhead_partition(const char *sub_id, const char *key, int64_t seq);

/* The keys one transaction touches.  Zero-initialize, add, then lock
 * (keyhead_lock) or pass them to a statement that locks them
 * (keyhead_locks_param, keyhead_params), free. */
struct keyhead_set {
	struct store_array subs, keys; /* built lazily */
	int64_t *locks;
	size_t n, cap;
};

/* Add a key (NULL, an unordered delivery, is ignored). */
void keyhead_add(struct keyhead_set *ks, const char *sub_id, const char *key);

/* Take every key's lock, in ascending id order so that no two herald
 * transactions can deadlock.  Inside a transaction; STORE_OK, or the
 * failure (logged). */
HERALD_MUST_CHECK enum store_status keyhead_lock(struct keyhead_set *ks,
						 struct store_conn *c);

/* The distinct lock ids, ascending, as an int8[] binary parameter
 * (built in locks, which the caller frees); its length in *len. */
const char *keyhead_locks_param(struct keyhead_set *ks,
				struct store_array *locks, int *len);

/* The set as the three binary array parameters of one statement that
 * takes it whole: the distinct lock ids, ascending (int8[], built in
 * locks, which the caller frees), the subscriptions and the keys
 * (text[], kept in ks).  Fills values[0..2] and lengths[0..2]. */
void keyhead_params(struct keyhead_set *ks, struct store_array *locks,
		    const char **values, int *lengths);

/* Forget the keys (for the next transaction). */
void keyhead_clear(struct keyhead_set *ks);
void keyhead_free(struct keyhead_set *ks);

#endif
