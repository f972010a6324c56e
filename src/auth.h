/* API keys: generation, hashing, scopes, and checking a request's bearer key. */
#ifndef HERALD_AUTH_H
#define HERALD_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#include "srcscope.h"
#include "store.h"

enum auth_scope {
	SCOPE_PUBLISH = 1,
	SCOPE_SUBSCRIBE = 2,
	SCOPE_ADMIN = 4, /* admin may do everything */
};

/* Who is calling.  tenant is the key's id; the bootstrap key is 0.
 * sources: the source prefixes the key is limited to, packed (srcscope.h);
 * "" for no limit, always so for an admin key. */
struct auth_principal {
	int64_t tenant;
	unsigned scopes;
	char sources[SRCSCOPE_SIZE];
};

enum auth_result {
	AUTH_OK = 0,
	AUTH_MISSING,     /* no Authorization header, or not Bearer */
	AUTH_INVALID,     /* unknown or revoked key */
	AUTH_UNAVAILABLE, /* the database could not be asked (gone, too slow) */
	AUTH_ERROR,       /* the database refused the lookup (logged) */
	AUTH_LOOKUP,      /* not in the cache: only auth_lookup can tell */
};

#define AUTH_KEY_SIZE 52 /* "hk_" + 48 hex digits + NUL */

/* A new random key; false when the random source fails. */
bool auth_generate_key(char out[AUTH_KEY_SIZE]);

/* SHA-256 of the key: what the database stores. */
void auth_hash(const char *key, unsigned char out[32]);

/* Make sure an admin key exists.  configured (may be NULL or ""): kept in
 * memory, never stored.  Otherwise, when the database has no admin key,
 * one is generated, stored hashed and logged once.  0 or -1. */
int auth_bootstrap(struct store_conn *c, const char *configured);

/* Check an Authorization header value (may be NULL) without touching
 * the database: AUTH_LOOKUP, with the key's hash in hash, when the key
 * is not cached. */
enum auth_result auth_check(const char *authorization,
			    struct auth_principal *who, unsigned char hash[32]);

/* Look a key's hash up in the database (a found key is cached):
 * AUTH_OK, AUTH_INVALID, AUTH_UNAVAILABLE or AUTH_ERROR. */
enum auth_result auth_lookup(struct store_conn *c, const unsigned char hash[32],
			     struct auth_principal *who);

/* Drop a revoked key from the cache. */
void auth_forget(const unsigned char hash[32]);

/* "publish"/"subscribe"/"admin" array <-> scope bits.  Parse returns
 * false on an unknown or empty scope list. */
bool auth_scopes_parse(const cJSON *arr, unsigned *scopes);
cJSON *auth_scopes_json(unsigned scopes);
/* Postgres text[] literal of the scopes, e.g. {publish,admin}. */
void auth_scopes_pg(unsigned scopes, char *out, size_t outlen);
unsigned auth_scopes_from_pg(const char *literal);

#endif
