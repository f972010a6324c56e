/* Allocation wrappers: herald's one out-of-memory policy (log and abort). */
#ifndef HERALD_XALLOC_H
#define HERALD_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
void *xmemdup(const void *p, size_t n);

#endif
