/* API keys: generation, hashing, scopes, and checking a request's bearer key. */
#include "auth.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "log.h"
#include "xalloc.h"

/* How long a key found in the database is trusted without asking again:
 * a key revoked through another instance stops working within this. */
#define CACHE_TTL_S 5
#define CACHE_SLOTS 1024

/*
 * The configured admin key's hash (written once at start-up, read-only
 * afterwards) and a cache of keys found in the database, guarded by
 * cache_lock.
 */
static unsigned char configured_hash[32];
static bool have_configured;

struct cached_key {
	unsigned char hash[32];
	int64_t tenant;
	unsigned scopes;
	char sources[SRCSCOPE_SIZE]; /* packed; "" for no limit */
	time_t expires;
};
static struct cached_key cache[CACHE_SLOTS];
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const scope_names[] = {"publish", "subscribe", "admin"};

static const struct store_stmt lookup_key = {
	"auth_lookup_key",
	"SELECT id, scopes, array_to_json(sources)::text FROM api_key"
	" WHERE key_hash = $1 AND revoked_at IS NULL",
	1};

static const struct store_stmt count_admin = {
	"auth_count_admin",
	"SELECT count(*) FROM api_key"
	" WHERE 'admin' = ANY (scopes) AND revoked_at IS NULL",
	0};

static const struct store_stmt insert_admin = {
	"auth_insert_admin",
	"INSERT INTO api_key (name, key_hash, scopes)"
	" VALUES ('bootstrap-admin', $1, '{admin}')",
	1};

bool
auth_generate_key(char out[AUTH_KEY_SIZE])
{
	unsigned char raw[24];

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return false;
	memcpy(out, "hk_", 3);
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(out + 3 + 2 * i, 3, "%02x", raw[i]);
	OPENSSL_cleanse(raw, sizeof(raw));
	return true;
}

void
auth_hash(const char *key, unsigned char out[32])
{
	SHA256((const unsigned char *)key, strlen(key), out);
}

int
auth_bootstrap(struct store_conn *c, const char *configured)
{
	char key[AUTH_KEY_SIZE];
	unsigned char hash[32];
	const char *values[1];
	int lengths[1] = {32}, formats[1] = {1};
	PGresult *r;
	bool ok;

	if (configured != NULL && configured[0] != '\0') {
		auth_hash(configured, configured_hash);
		have_configured = true;
		return 0;
	}
	r = store_exec(c, &count_admin, NULL, NULL, NULL);
	if (store_check(c, r, PGRES_TUPLES_OK, "count the admin keys") !=
	    STORE_OK) {
		PQclear(r);
		return -1;
	}
	ok = strcmp(PQgetvalue(r, 0, 0), "0") != 0;
	PQclear(r);
	if (ok)
		return 0;
	if (!auth_generate_key(key)) {
		log_error("cannot generate an admin key: no random bytes");
		return -1;
	}
	auth_hash(key, hash);
	values[0] = (const char *)hash;
	r = store_exec(c, &insert_admin, values, lengths, formats);
	ok = store_check(c, r, PGRES_COMMAND_OK, "store the admin key") ==
	     STORE_OK;
	PQclear(r);
	if (!ok)
		return -1;
	/* the only time this key is ever shown */
	log_warn("generated admin key (shown once, store it now): %s", key);
	OPENSSL_cleanse(key, sizeof(key));
	return 0;
}

static size_t
slot_of(const unsigned char hash[32])
{
	return ((size_t)hash[0] << 8 | hash[1]) % CACHE_SLOTS;
}

static bool
cache_find(const unsigned char hash[32], struct auth_principal *who)
{
	struct cached_key *e = &cache[slot_of(hash)];
	bool hit = false;

	pthread_mutex_lock(&cache_lock);
	if (e->expires > time(NULL) && CRYPTO_memcmp(e->hash, hash, 32) == 0) {
		who->tenant = e->tenant;
		who->scopes = e->scopes;
		memcpy(who->sources, e->sources, srcscope_size(e->sources));
		hit = true;
	}
	pthread_mutex_unlock(&cache_lock);
	return hit;
}

static void
cache_store(const unsigned char hash[32], const struct auth_principal *who)
{
	struct cached_key *e = &cache[slot_of(hash)];

	pthread_mutex_lock(&cache_lock);
	memcpy(e->hash, hash, 32);
	e->tenant = who->tenant;
	e->scopes = who->scopes;
	memcpy(e->sources, who->sources, srcscope_size(who->sources));
	e->expires = time(NULL) + CACHE_TTL_S;
	pthread_mutex_unlock(&cache_lock);
}

void
auth_forget(const unsigned char hash[32])
{
	struct cached_key *e = &cache[slot_of(hash)];

	pthread_mutex_lock(&cache_lock);
	if (CRYPTO_memcmp(e->hash, hash, 32) == 0)
		memset(e, 0, sizeof(*e));
	pthread_mutex_unlock(&cache_lock);
}

enum auth_result
auth_check(const char *authorization, struct auth_principal *who,
	   unsigned char hash[32])
{
	const char *key;

	if (authorization == NULL || strncasecmp(authorization, "Bearer ", 7) != 0)
		return AUTH_MISSING;
	key = authorization + 7;
	while (*key == ' ')
		key++;
	if (*key == '\0' || strlen(key) > 256)
		return AUTH_INVALID;
	auth_hash(key, hash);
	if (have_configured && CRYPTO_memcmp(hash, configured_hash, 32) == 0) {
		who->tenant = 0;
		who->scopes = SCOPE_ADMIN | SCOPE_PUBLISH | SCOPE_SUBSCRIBE;
		who->sources[0] = '\0';
		return AUTH_OK;
	}
	if (cache_find(hash, who))
		return AUTH_OK;
	return AUTH_LOOKUP;
}

enum auth_result
auth_lookup(struct store_conn *c, const unsigned char hash[32],
	    struct auth_principal *who)
{
	const char *values[1] = {(const char *)hash};
	int lengths[1] = {32}, formats[1] = {1};
	PGresult *r;
	enum store_status s;
	enum auth_result res;

	r = store_exec(c, &lookup_key, values, lengths, formats);
	s = store_check(c, r, PGRES_TUPLES_OK, "look up an API key");
	if (s == STORE_QUERY_ERROR) {
		res = AUTH_ERROR;
	} else if (s != STORE_OK) {
		res = AUTH_UNAVAILABLE;
	} else if (PQntuples(r) == 0) {
		res = AUTH_INVALID;
	} else {
		who->tenant = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		who->scopes = auth_scopes_from_pg(PQgetvalue(r, 0, 1));
		if (who->scopes & SCOPE_ADMIN)
			who->scopes |= SCOPE_PUBLISH | SCOPE_SUBSCRIBE;
		res = AUTH_OK;
		if (srcscope_from_stored(PQgetisnull(r, 0, 2) ? NULL :
					 PQgetvalue(r, 0, 2), who->sources) != 0) {
			/* never let a key the database holds wrongly through
			 * without its limit */
			log_error("API key %lld: its stored sources are invalid",
				  (long long)who->tenant);
			res = AUTH_ERROR;
		} else {
			cache_store(hash, who);
		}
	}
	PQclear(r);
	return res;
}

bool
auth_scopes_parse(const cJSON *arr, unsigned *scopes)
{
	const cJSON *s;

	*scopes = 0;
	if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) == 0)
		return false;
	cJSON_ArrayForEach(s, arr) {
		bool known = false;

		if (!cJSON_IsString(s))
			return false;
		for (unsigned i = 0; i < 3; i++) {
			if (strcmp(s->valuestring, scope_names[i]) == 0) {
				*scopes |= 1u << i;
				known = true;
			}
		}
		if (!known)
			return false;
	}
	return true;
}

cJSON *
auth_scopes_json(unsigned scopes)
{
	cJSON *arr = cJSON_CreateArray();

	for (unsigned i = 0; i < 3; i++)
		if (scopes & (1u << i))
			cJSON_AddItemToArray(arr, cJSON_CreateString(scope_names[i]));
	return arr;
}

void
auth_scopes_pg(unsigned scopes, char *out, size_t outlen)
{
	size_t n = 0;

	n += (size_t)snprintf(out, outlen, "{");
	for (unsigned i = 0; i < 3 && n < outlen; i++)
		if (scopes & (1u << i))
			n += (size_t)snprintf(out + n, outlen - n, "%s%s",
					      n > 1 ? "," : "", scope_names[i]);
	if (n < outlen)
		snprintf(out + n, outlen - n, "}");
}

unsigned
auth_scopes_from_pg(const char *literal)
{
	unsigned scopes = 0;

	for (unsigned i = 0; i < 3; i++) {
		const char *p = literal;
		size_t len = strlen(scope_names[i]);

		while ((p = strstr(p, scope_names[i])) != NULL) {
			if ((p[-1] == '{' || p[-1] == ',') &&
			    (p[len] == '}' || p[len] == ',')) {
				scopes |= 1u << i;
				break;
			}
			p += len;
		}
	}
	return scopes;
}
