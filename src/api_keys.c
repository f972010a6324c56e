/* The API key routes: create, list and revoke keys (admin), and the calling key's own scopes; each key is its own tenant. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "api_keys.h"
#include "srcscope.h"
#include "xalloc.h"

#define NAME_MAX_LEN 200

static const struct store_stmt insert_key = {
	"keys_insert",
	"INSERT INTO api_key (name, key_hash, scopes, sources)"
	" VALUES ($1, $2, $3::text[],"
	"   (SELECT array_agg(s) FROM json_array_elements_text($4::json) s))"
	" RETURNING id, " STORE_RFC3339("created_at"),
	4};

static const struct store_stmt list_keys = {
	"keys_list",
	"SELECT id, name, scopes, " STORE_RFC3339("created_at") ", "
	STORE_RFC3339("revoked_at") ", array_to_json(sources)::text"
	" FROM api_key ORDER BY id",
	0};

static const struct store_stmt revoke_key = {
	"keys_revoke",
	"UPDATE api_key SET revoked_at = now()"
	" WHERE id = $1 AND revoked_at IS NULL RETURNING key_hash",
	1};

static cJSON *
key_object(const char *id, const char *name, unsigned scopes,
	   cJSON *sources, const char *created_at)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "id", id);
	cJSON_AddStringToObject(o, "name", name);
	cJSON_AddItemToObject(o, "scopes", auth_scopes_json(scopes));
	cJSON_AddItemToObject(o, "sources", sources);
	cJSON_AddStringToObject(o, "created_at", created_at);
	return o;
}

/* The body's "sources" (absent or null: no limit) into packed; false
 * after a 400 reply. */
static bool
parse_sources(struct api_request *r, const cJSON *body, unsigned scopes,
	      char packed[SRCSCOPE_SIZE])
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(body, "sources");
	struct herald_error err;

	packed[0] = '\0';
	if (arr == NULL || cJSON_IsNull(arr))
		return true;
	memset(&err, 0, sizeof(err));
	err.index = -1;
	if (srcscope_parse(arr, packed, &err) != 0) {
		api_reply_invalid(r, MHD_HTTP_BAD_REQUEST, &err);
		return false;
	}
	if (scopes & SCOPE_ADMIN) {
		/* it could make itself a key without the limit */
		snprintf(err.code, sizeof(err.code), "invalid_field");
		snprintf(err.field, sizeof(err.field), "sources");
		snprintf(err.message, sizeof(err.message),
			 "an admin key sees every source: it cannot have sources");
		api_reply_invalid(r, MHD_HTTP_BAD_REQUEST, &err);
		return false;
	}
	return true;
}

void
api_keys_create(struct api_request *r)
{
	cJSON *body, *item, *o;
	const cJSON *name, *scopes;
	unsigned bits;
	char key[AUTH_KEY_SIZE], scopes_pg[64], sources[SRCSCOPE_SIZE];
	char *sources_json = NULL;
	unsigned char hash[32];
	const char *values[4];
	int lengths[4] = {0, 32, 0, 0}, formats[4] = {0, 1, 0, 0};
	struct store_conn *c;
	PGresult *res;

	if ((body = api_body_json(r)) == NULL)
		return;
	if (!cJSON_IsObject(body)) {
		api_reply_error(r, MHD_HTTP_BAD_REQUEST, "invalid_field",
				"the body must be a JSON object");
		goto out;
	}
	cJSON_ArrayForEach(item, body) {
		if (strcmp(item->string, "name") != 0 &&
		    strcmp(item->string, "scopes") != 0 &&
		    strcmp(item->string, "sources") != 0) {
			api_reply_error(r, MHD_HTTP_BAD_REQUEST, "unknown_field",
					"unknown field \"%s\"", item->string);
			goto out;
		}
	}
	name = cJSON_GetObjectItemCaseSensitive(body, "name");
	scopes = cJSON_GetObjectItemCaseSensitive(body, "scopes");
	if (!cJSON_IsString(name) || name->valuestring[0] == '\0' ||
	    strlen(name->valuestring) > NAME_MAX_LEN) {
		api_reply_error(r, MHD_HTTP_BAD_REQUEST, "invalid_field",
				"name must be a string of 1 to %d bytes",
				NAME_MAX_LEN);
		goto out;
	}
	if (!auth_scopes_parse(scopes, &bits)) {
		api_reply_error(r, MHD_HTTP_BAD_REQUEST, "invalid_field",
				"scopes must be a non-empty array of \"publish\", "
				"\"subscribe\" and \"admin\"");
		goto out;
	}
	if (!parse_sources(r, body, bits, sources))
		goto out;
	if (!auth_generate_key(key)) {
		api_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
				"no random bytes for a key");
		goto out;
	}
	auth_hash(key, hash);
	auth_scopes_pg(bits, scopes_pg, sizeof(scopes_pg));
	values[0] = name->valuestring;
	values[1] = (const char *)hash;
	values[2] = scopes_pg;
	if (srcscope_limited(sources)) {
		cJSON *arr = srcscope_json(sources);

		sources_json = cJSON_PrintUnformatted(arr);
		cJSON_Delete(arr);
	}
	values[3] = sources_json;
	if ((c = api_db(r)) == NULL)
		goto out;
	res = store_exec(c, &insert_key, values, lengths, formats);
	if (api_db_ok(r, c, res, PGRES_TUPLES_OK, insert_key.name)) {
		o = key_object(PQgetvalue(res, 0, 0), name->valuestring, bits,
			       srcscope_json(sources), PQgetvalue(res, 0, 1));
		cJSON_AddStringToObject(o, "key", key);
		api_reply_json(r, MHD_HTTP_CREATED, o);
		snprintf(r->location, sizeof(r->location), "/v1/keys/%s",
			 PQgetvalue(res, 0, 0));
	}
	PQclear(res);
	api_db_done(r, c);
out:
	OPENSSL_cleanse(key, sizeof(key));
	cJSON_free(sources_json);
	cJSON_Delete(body);
}

void
api_keys_list(struct api_request *r)
{
	struct store_conn *c;
	PGresult *res;
	cJSON *arr;

	if ((c = api_db(r)) == NULL)
		return;
	res = store_exec(c, &list_keys, NULL, NULL, NULL);
	if (api_db_ok(r, c, res, PGRES_TUPLES_OK, list_keys.name)) {
		arr = cJSON_CreateArray();
		for (int i = 0; i < PQntuples(res); i++) {
			/* as stored: a JSON array, or null for no limit */
			cJSON *sources = PQgetisnull(res, i, 5) ? NULL :
					 cJSON_Parse(PQgetvalue(res, i, 5));
			cJSON *o;

			o = key_object(PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
				       auth_scopes_from_pg(PQgetvalue(res, i, 2)),
				       sources ? sources : cJSON_CreateNull(),
				       PQgetvalue(res, i, 3));

			if (PQgetisnull(res, i, 4))
				cJSON_AddNullToObject(o, "revoked_at");
			else
				cJSON_AddStringToObject(o, "revoked_at",
							PQgetvalue(res, i, 4));
			cJSON_AddItemToArray(arr, o);
		}
		api_reply_json(r, MHD_HTTP_OK, arr);
	}
	PQclear(res);
	api_db_done(r, c);
}

void
api_keys_delete(struct api_request *r)
{
	struct store_conn *c;
	const char *values[1] = {r->params[0]};
	PGresult *res;
	char *end;
	size_t hlen = 0;
	unsigned char *hash;

	/* digits that fit a bigint, or no key has that id */
	errno = 0;
	(void)strtoll(r->params[0], &end, 10);
	if (r->params[0][0] < '0' || r->params[0][0] > '9' || *end != '\0' ||
	    errno != 0) {
		api_reply_error(r, MHD_HTTP_NOT_FOUND, "not_found",
				"no API key %s", r->params[0]);
		return;
	}
	if ((c = api_db(r)) == NULL)
		return;
	res = store_exec(c, &revoke_key, values, NULL, NULL);
	if (!api_db_ok(r, c, res, PGRES_TUPLES_OK, revoke_key.name)) {
		/* answered */
	} else if (PQntuples(res) == 0) {
		api_reply_error(r, MHD_HTTP_NOT_FOUND, "not_found",
				"no API key %s", r->params[0]);
	} else {
		hash = PQunescapeBytea((const unsigned char *)PQgetvalue(res, 0, 0),
				       &hlen);
		if (hash && hlen == 32)
			auth_forget(hash);
		PQfreemem(hash);
		api_reply_empty(r, MHD_HTTP_NO_CONTENT);
	}
	PQclear(res);
	api_db_done(r, c);
}

/* The calling key: its id, scopes and sources (any key; no database: the
 * core has checked it already), for a client deciding what to offer. */
void
api_keys_self(struct api_request *r)
{
	cJSON *o = cJSON_CreateObject();
	char id[32];

	snprintf(id, sizeof(id), "%lld", (long long)r->who.tenant);
	cJSON_AddStringToObject(o, "id", id);
	cJSON_AddItemToObject(o, "scopes", auth_scopes_json(r->who.scopes));
	cJSON_AddItemToObject(o, "sources", srcscope_json(r->who.sources));
	api_reply_json(r, MHD_HTTP_OK, o);
}
