/* FNV-1a, 64 bits: the hash behind key locks, partitions and hash tables (pure). */
#include "fnv1a.h"

#include <string.h>

#define FNV1A_PRIME 1099511628211ULL

uint64_t
fnv1a(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * FNV1A_PRIME;
	return h;
}

uint64_t
fnv1a_str(const char *s)
{
	return fnv1a(FNV1A_BASIS, s, strlen(s));
}
