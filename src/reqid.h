/* Request ids: a caller's X-Request-Id when it is safe to echo and log, else a new random one. */
#ifndef HERALD_REQID_H
#define HERALD_REQID_H

#include <stdbool.h>

/* Longest id kept from a caller. */
#define REQID_MAX 64
#define REQID_SIZE (REQID_MAX + 1)

/* 1 to REQID_MAX characters, each a letter, digit, '-', '_', '.' or ':'. */
bool reqid_valid(const char *s);

/* The id of a request into out: incoming (an X-Request-Id, may be NULL)
 * when valid, else 32 new random hex digits.  true when incoming was
 * kept. */
bool reqid_make(const char *incoming, char out[REQID_SIZE]);

#endif
