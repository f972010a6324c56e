/* The HTTP core (api.c) as route files see it: requests, routes, replies (internal to the api files). */
#ifndef HERALD_API_HTTP_H
#define HERALD_API_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>
#include <microhttpd.h>

#include "auth.h"
#include "config.h"
#include "dbwork.h"
#include "herald.h"
#include "reqid.h"
#include "store.h"
#include "writer.h"

#define API_MAX_PARAMS 2
#define API_PARAM_MAX 128
#define API_MAX_HEADERS 8 /* set by api_add_header */

struct api_request;

/* One route of the table (api_table.c).  The core admits a request
 * (scope, rate, body size) before its body is read, then runs handler:
 * on a database worker when db is set (its connection suspended
 * meanwhile), else on the HTTP thread, where it must not block. */
struct api_route {
	const char *method;
	const char *pattern; /* "{}" matches one path segment */
	unsigned scope;      /* 0: no auth */
	bool db;             /* the handler uses the database (api_db) */
	void (*handler)(struct api_request *r);
	size_t body_limit;   /* 0: no body expected */
	/* when set, the request's body limit instead (e.g. by content type) */
	size_t (*body_limit_of)(struct api_request *r);
};

/* Everything the handlers may use; read-only after start. */
struct api_env {
	const struct config *cfg;
	struct dbwork *work;
	struct writer *writer;
	const struct api_route *routes;
	size_t nroutes;
};

/* One HTTP request, from its first callback to its completion. */
struct api_request {
	struct MHD_Connection *conn;
	const struct api_env *env;
	const char *method;
	const char *url;
	char params[API_MAX_PARAMS][API_PARAM_MAX]; /* {} segments of the route */
	struct auth_principal who;
	bool authenticated;  /* who holds a checked key */
	char request_id[REQID_SIZE]; /* sent back as X-Request-Id, logged */
	int64_t start_us;    /* monotime_us when its headers arrived */
	const struct api_route *route; /* the matched route */

	char *body;
	size_t body_len, body_cap, body_limit;

	/* the reply */
	unsigned status;
	char *reply; /* JSON text (or content_type's), owned */
	const char *content_type; /* of reply; NULL: application/json */
	char location[256];
	char retry_after[16]; /* Retry-After of a 429 */
	const void *static_reply; /* a body that outlives the request, or NULL */
	size_t static_len;
	const char *headers[API_MAX_HEADERS][2]; /* more: name, value */
	size_t nheaders;
	bool close;           /* Connection: close: the framing was refused */
	size_t reply_bytes;   /* of the body sent, for the access log */

	/* set by a handler that waits (suspended connection): called once
	 * resumed to produce the reply, then state is freed by cleanup */
	bool suspended;
	void (*resume)(struct api_request *r);
	void *state;
	void (*cleanup)(void *state);

	/* the core's: a key lookup or a db handler on a worker */
	struct dbwork_job job;
	struct dbwork_thread *worker; /* while running there */
	unsigned char key_hash[32];
	enum auth_result auth;
};

/* Replies (each sets status and body). */
void api_reply_json(struct api_request *r, unsigned status, cJSON *body);
void api_reply_error(struct api_request *r, unsigned status, const char *code,
		     const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* 400 from a herald_error (adds "field" and "index" when set). */
void api_reply_invalid(struct api_request *r, unsigned status,
		       const struct herald_error *err);
void api_reply_empty(struct api_request *r, unsigned status);
/* A reply that is not JSON: text (malloc'd; the reply owns it now) of
 * content_type (a string that outlives the request). */
void api_reply_text(struct api_request *r, unsigned status,
		    const char *content_type, char *text);
/* A body that outlives the request (a file compiled in), len bytes of
 * content_type (any bytes: it need not be text). */
void api_reply_static(struct api_request *r, unsigned status,
		      const char *content_type, const void *data, size_t len);
/* One more header on the reply; name and value outlive the request.
 * Past API_MAX_HEADERS, logged and left out. */
void api_add_header(struct api_request *r, const char *name,
		    const char *value);
/* 503: the database cannot be reached. */
void api_reply_unavailable(struct api_request *r);
/* The reply to a failed statement: 503 (unavailable) when the database is
 * gone, too slow or the work met a conflict, all worth retrying; 500
 * (internal) when PostgreSQL refused the statement.  The message never
 * holds the database's text: the log has it. */
void api_reply_store(struct api_request *r, enum store_status s);
/* store_check(c, res, want, what); when it fails, replies as
 * api_reply_store does and returns false. */
HERALD_MUST_CHECK bool api_db_ok(struct api_request *r, struct store_conn *c,
				 PGresult *res, ExecStatusType want,
				 const char *what);

/* Suspend the connection until api_wake(r) is called from any thread. */
void api_suspend(struct api_request *r);
void api_wake(struct api_request *r);

/* The request's body parsed as a JSON object/array; replies 400 and
 * returns NULL when it is not. */
cJSON *api_body_json(struct api_request *r);

/* A request header, or NULL. */
const char *api_header(struct api_request *r, const char *name);
/* A query argument, or NULL. */
const char *api_query(struct api_request *r, const char *name);
/* Parse a non-negative integer query argument; false (and a 400 reply)
 * when malformed or out of [min, max]. dflt when absent. */
bool api_query_long(struct api_request *r, const char *name, long long dflt,
		    long long min, long long max, long long *out);

/* The caller's tenant as a query parameter in buf, or NULL for an admin,
 * who sees every tenant. */
const char *api_tenant(struct api_request *r, char *buf, size_t len);

/* true when s is a UUID in its 8-4-4-4-12 hex form. */
bool api_is_uuid(const char *s);

/* The subscription of the path's id (r->params[0]) when it exists and is
 * the caller's: 1, with its stored config (malloc'd) in *config unless
 * config is NULL; 0 (404 replied) or -1 (a database failure replied). */
int api_find_subscription(struct api_request *r, struct store_conn *c,
			  char **config);

/* 404: no subscription with the path's id (r->params[0]). */
void api_reply_no_subscription(struct api_request *r);

/* The path's subscription id (r->params[0]) when it is a UUID; else a 404
 * reply and false. */
bool api_path_subscription(struct api_request *r);

/* s as a decimal 1..INT64_MAX, written canonically into buf; false when it
 * is not one (the caller replies). */
bool api_path_number(const char *s, char *buf, size_t len);

/* o[name] = column col of the row: a number (int8 text), a string, or
 * null when the column is NULL. */
void api_json_int_or_null(cJSON *o, const char *name, const PGresult *res,
			  int row, int col);
void api_json_text_or_null(cJSON *o, const char *name, const PGresult *res,
			   int row, int col);

/* The worker's connection (routes marked db), bounded by the request's
 * deadline; when there is none, reply 503 and return NULL. */
struct store_conn *api_db(struct api_request *r);
/* Done with it: roll back whatever did not commit. */
void api_db_done(struct api_request *r, struct store_conn *c);

#endif
