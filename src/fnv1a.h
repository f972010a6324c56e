/* FNV-1a, 64 bits: the hash behind key locks, partitions and hash tables (pure). */
#ifndef HERALD_FNV1A_H
#define HERALD_FNV1A_H

#include <stddef.h>
#include <stdint.h>

/*
 * herald's offset basis: the hash of nothing.  It is one digit short of
 * the published 64-bit basis (14695981039346656037), a slip made long ago
 * that stays: key lock ids and partitions are derived from it.
 */
#define FNV1A_BASIS 1469598103934665603ULL

/* Continue hash h over n bytes at p: h = (h ^ byte) * 1099511628211 for
 * each byte.  Key locks and partitions are stored in the database and
 * shared between instances: this function must never change. */
uint64_t fnv1a(uint64_t h, const void *p, size_t n);

/* fnv1a(FNV1A_BASIS, s, strlen(s)). */
uint64_t fnv1a_str(const char *s);

#endif
