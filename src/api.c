/* The HTTP core: a libmicrohttpd daemon serving the routes it is given; auth, bounded bodies, JSON replies. */
#include "api.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <time.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "api_http.h"
#include "cloudevent.h"
#include "httpcheck.h"
#include "keylimit.h"
#include "jsonexact.h"
#include "log.h"
#include "metrics.h"
#include "monotime.h"
#include "tls.h"
#include "xalloc.h"

/* Per connection: request line, headers and read buffer.  libmicrohttpd
 * clears the whole pool before each request of a kept-alive connection,
 * so its size is paid on every request; bodies are streamed, not held. */
#define CONNECTION_POOL (16 * 1024)

/*
 * libmicrohttpd runs handlers on its pool threads, which never wait for
 * PostgreSQL: a request that needs it (a key not in the cache, a route
 * marked db) is suspended and handed to a database worker (dbwork.c),
 * which wakes it when done or at its deadline.  struct api and its env
 * are read-only once started; each api_request belongs to the thread that
 * is serving its connection (or, while suspended, to whoever will wake it).
 */
struct api {
	struct MHD_Daemon *daemon;
	struct api_env env;
	int listen_fd;
	atomic_int active; /* requests begun and not yet completed */
};

/* --- replies --- */

static void
set_reply(struct api_request *r, unsigned status, char *text)
{
	free(r->reply);
	r->status = status;
	r->reply = text;
	r->content_type = NULL;
	r->static_reply = NULL;
	r->static_len = 0;
}

void
api_reply_json(struct api_request *r, unsigned status, cJSON *body)
{
	char *text = cJSON_PrintUnformatted(body);

	cJSON_Delete(body);
	set_reply(r, status, xstrdup(text));
	cJSON_free(text);
}

static cJSON *
error_object(const char *code, const char *message)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "error", code);
	cJSON_AddStringToObject(o, "message", message);
	return o;
}

void
api_reply_error(struct api_request *r, unsigned status, const char *code,
		const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	api_reply_json(r, status, error_object(code, msg));
}

void
api_reply_invalid(struct api_request *r, unsigned status,
		  const struct herald_error *err)
{
	cJSON *o = error_object(err->code[0] ? err->code : "invalid_request",
				err->message[0] ? err->message : "invalid request");

	if (err->field[0])
		cJSON_AddStringToObject(o, "field", err->field);
	if (err->index >= 0)
		cJSON_AddNumberToObject(o, "index", (double)err->index);
	api_reply_json(r, status, o);
}

void
api_reply_text(struct api_request *r, unsigned status,
	       const char *content_type, char *text)
{
	set_reply(r, status, text);
	r->content_type = content_type;
}

void
api_reply_static(struct api_request *r, unsigned status,
		 const char *content_type, const void *data, size_t len)
{
	set_reply(r, status, NULL);
	r->content_type = content_type;
	r->static_reply = data;
	r->static_len = len;
}

void
api_add_header(struct api_request *r, const char *name, const char *value)
{
	if (r->nheaders == API_MAX_HEADERS) {
		log_error("%s %s: more than %d headers; %s left out", r->method,
			  r->url, API_MAX_HEADERS, name);
		return;
	}
	r->headers[r->nheaders][0] = name;
	r->headers[r->nheaders][1] = value;
	r->nheaders++;
}

void
api_reply_empty(struct api_request *r, unsigned status)
{
	set_reply(r, status, NULL);
}

void
api_reply_unavailable(struct api_request *r)
{
	api_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
			"the database is unreachable; try again later");
}

void
api_reply_store(struct api_request *r, enum store_status s)
{
	switch (s) {
	case STORE_OK:
		/* not a failure: a caller's mistake, answered as one */
		api_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
				"the request was not answered");
		break;
	case STORE_GONE:
		api_reply_unavailable(r);
		break;
	case STORE_TIMEOUT:
		api_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
				"the database did not answer in time; try again "
				"later");
		break;
	case STORE_CONFLICT:
		api_reply_error(r, MHD_HTTP_SERVICE_UNAVAILABLE, "unavailable",
				"the operation met a concurrent one and was undone; "
				"try again");
		break;
	case STORE_QUERY_ERROR:
		api_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
				"the database refused the operation; the server "
				"log has the detail");
		break;
	}
}

bool
api_db_ok(struct api_request *r, struct store_conn *c, PGresult *res,
	  ExecStatusType want, const char *what)
{
	enum store_status s = store_check(c, res, want, what);

	if (s != STORE_OK)
		api_reply_store(r, s);
	return s == STORE_OK;
}

/* --- request helpers --- */

const char *
api_header(struct api_request *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *
api_query(struct api_request *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

bool
api_query_long(struct api_request *r, const char *name, long long dflt,
	       long long min, long long max, long long *out)
{
	const char *v = api_query(r, name);
	char *end;
	long long x;

	if (v == NULL || *v == '\0') {
		*out = dflt;
		return true;
	}
	errno = 0;
	x = strtoll(v, &end, 10);
	if (errno != 0 || *end != '\0' || v[0] == '-' || v[0] == '+' ||
	    x < min || x > max) {
		api_reply_error(r, MHD_HTTP_BAD_REQUEST, "invalid_parameter",
				"%s must be an integer from %lld to %lld", name,
				min, max);
		return false;
	}
	*out = x;
	return true;
}

cJSON *
api_body_json(struct api_request *r)
{
	cJSON *j;

	if (r->body_len == 0) {
		api_reply_error(r, MHD_HTTP_BAD_REQUEST, "invalid_json",
				"the request needs a JSON body");
		return NULL;
	}
	/* JSON is UTF-8 (RFC 8259), and PostgreSQL takes nothing else */
	if (!ce_utf8_valid(r->body, r->body_len)) {
		api_reply_error(r, MHD_HTTP_BAD_REQUEST, "invalid_json",
				"the body is not valid UTF-8");
		return NULL;
	}
	/* numbers keep their text: data filters compare them exactly */
	j = jsonexact_parse(r->body, r->body_len);
	if (j == NULL) {
		api_reply_error(r, MHD_HTTP_BAD_REQUEST, "invalid_json",
				"the body is not valid JSON");
		return NULL;
	}
	return j;
}

const char *
api_tenant(struct api_request *r, char *buf, size_t len)
{
	if (r->who.scopes & SCOPE_ADMIN)
		return NULL;
	snprintf(buf, len, "%lld", (long long)r->who.tenant);
	return buf;
}

bool
api_is_uuid(const char *s)
{
	static const char shape[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";

	for (size_t i = 0; i < sizeof(shape) - 1; i++) {
		char ch = s[i];

		if (shape[i] == '-' ? ch != '-' :
		    !((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
		      (ch >= 'A' && ch <= 'F')))
			return false;
	}
	return s[sizeof(shape) - 1] == '\0';
}

void
api_reply_no_subscription(struct api_request *r)
{
	api_reply_error(r, MHD_HTTP_NOT_FOUND, "not_found", "no subscription %s",
			r->params[0]);
}

static const struct store_stmt find_subscription = {
	"api_find_subscription",
	"SELECT s.config::text FROM subscription s"
	" WHERE s.id = $1 AND ($2::bigint IS NULL OR s.tenant = $2)",
	2};

int
api_find_subscription(struct api_request *r, struct store_conn *c,
		      char **config)
{
	char tbuf[24];
	const char *values[2] = {r->params[0], api_tenant(r, tbuf, sizeof(tbuf))};
	PGresult *res = store_exec(c, &find_subscription, values, NULL, NULL);
	int rc;

	if (!api_db_ok(r, c, res, PGRES_TUPLES_OK, find_subscription.name)) {
		rc = -1;
	} else if (PQntuples(res) == 0) {
		api_reply_no_subscription(r);
		rc = 0;
	} else {
		if (config)
			*config = xstrdup(PQgetvalue(res, 0, 0));
		rc = 1;
	}
	PQclear(res);
	return rc;
}

bool
api_path_subscription(struct api_request *r)
{
	if (api_is_uuid(r->params[0]))
		return true;
	api_reply_no_subscription(r);
	return false;
}

bool
api_path_number(const char *s, char *buf, size_t len)
{
	char *end;
	long long v;

	if (s[0] < '0' || s[0] > '9')
		return false;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 1)
		return false;
	snprintf(buf, len, "%lld", v);
	return true;
}

void
api_json_int_or_null(cJSON *o, const char *name, const PGresult *res, int row,
		     int col)
{
	if (PQgetisnull(res, row, col))
		cJSON_AddNullToObject(o, name);
	else
		cJSON_AddNumberToObject(o, name,
					(double)strtoll(PQgetvalue(res, row, col),
							NULL, 10));
}

void
api_json_text_or_null(cJSON *o, const char *name, const PGresult *res, int row,
		      int col)
{
	if (PQgetisnull(res, row, col))
		cJSON_AddNullToObject(o, name);
	else
		cJSON_AddStringToObject(o, name, PQgetvalue(res, row, col));
}

struct store_conn *
api_db(struct api_request *r)
{
	struct store_conn *c = NULL;

	if (r->worker != NULL)
		c = dbwork_conn(r->worker);
	else
		log_error("%s %s: the route is not marked db", r->method, r->url);
	if (c == NULL)
		api_reply_unavailable(r);
	return c;
}

void
api_db_done(struct api_request *r, struct store_conn *c)
{
	(void)c;
	if (r->worker != NULL)
		dbwork_settle(r->worker);
}

void
api_suspend(struct api_request *r)
{
	r->suspended = true;
	MHD_suspend_connection(r->conn);
}

void
api_wake(struct api_request *r)
{
	MHD_resume_connection(r->conn);
}

/* --- routing --- */

/* Match path against pattern, capturing {} segments. */
static bool
match(const char *pattern, const char *path, struct api_request *r)
{
	int np = 0;

	while (*pattern && *path) {
		if (pattern[0] == '{' && pattern[1] == '}') {
			size_t len = strcspn(path, "/");

			if (len == 0 || len >= API_PARAM_MAX || np >= API_MAX_PARAMS)
				return false;
			if (r) {
				memcpy(r->params[np], path, len);
				r->params[np][len] = '\0';
			}
			np++;
			path += len;
			pattern += 2;
		} else if (*pattern++ != *path++) {
			return false;
		}
	}
	return *pattern == '\0' && *path == '\0';
}

/* The route for this request; NULL with *path_known telling 404 from 405. */
static const struct api_route *
find_route(struct api_request *r, bool *path_known)
{
	const struct api_route *routes = r->env->routes;

	*path_known = false;
	for (size_t i = 0; i < r->env->nroutes; i++) {
		if (!match(routes[i].pattern, r->url, NULL))
			continue;
		*path_known = true;
		if (strcmp(routes[i].method, r->method) == 0) {
			match(routes[i].pattern, r->url, r);
			return &routes[i];
		}
	}
	return NULL;
}

/* --- framing: how the body is delimited, before anything else --- */

struct fields {
	struct httpcheck_field *v;
	size_t n, cap;
};

static enum MHD_Result
add_field(void *cls, enum MHD_ValueKind kind, const char *name,
	  const char *value)
{
	struct fields *f = cls;

	(void)kind;
	if (f->n < f->cap)
		f->v[f->n++] = (struct httpcheck_field){name, value};
	return MHD_YES;
}

/* The request's framing as httpcheck sees it; false with a reply (400 or
 * 501) on a connection to be closed: what follows the headers cannot
 * be told apart from a next request. */
static bool
framing_ok(struct api_request *r, const char *version)
{
	struct herald_error err;
	struct fields f = {0};
	unsigned status;
	int n;

	n = MHD_get_connection_values(r->conn, MHD_HEADER_KIND, NULL, NULL);
	f.cap = n > 0 ? (size_t)n : 0;
	f.v = xcalloc(f.cap + 1, sizeof(*f.v));
	MHD_get_connection_values(r->conn, MHD_HEADER_KIND, add_field, &f);
	status = httpcheck_request(version, f.v, f.n, &err);
	free(f.v);
	if (status == 0)
		return true;
	r->close = true;
	api_reply_error(r, status, err.code, "%s", err.message);
	return false;
}

/* --- admission: auth, scope, rate and size, before any body --- */

/* Hand r to a database worker, suspended until it is done, which is
 * within STORE_API_TIMEOUT_MS: a key lookup is handed over as the
 * headers arrive, a route once its body is in (however long a slow
 * client took to send it; the same rule as for a publish). */
static void
to_worker(struct api_request *r,
	  void (*run)(struct dbwork_job *, struct dbwork_thread *),
	  void (*done)(struct dbwork_job *, bool))
{
	r->job.deadline_ms = monotime_ms() + STORE_API_TIMEOUT_MS;
	r->job.run = run;
	r->job.done = done;
	r->job.arg = r;
	/* suspend before handing over: the worker may finish at once */
	api_suspend(r);
	dbwork_submit(r->env->work, &r->job);
}

/* The rest of admission once the key is known.  false with a reply. */
static bool
admit(struct api_request *r, enum auth_result auth)
{
	const struct api_route *rt = r->route;
	long wait_s = 1;
	const char *cl;

	switch (auth) {
	case AUTH_OK:
		r->authenticated = rt->scope != 0;
		break;
	case AUTH_MISSING:
		api_reply_error(r, MHD_HTTP_UNAUTHORIZED, "unauthorized",
				"send an API key as Authorization: Bearer <key>");
		return false;
	case AUTH_INVALID:
		api_reply_error(r, MHD_HTTP_UNAUTHORIZED, "unauthorized",
				"the API key is unknown or revoked");
		return false;
	case AUTH_UNAVAILABLE:
	case AUTH_LOOKUP:
		api_reply_unavailable(r);
		return false;
	case AUTH_ERROR:
		api_reply_store(r, STORE_QUERY_ERROR);
		return false;
	}
	if (rt->scope != 0 && (r->who.scopes & rt->scope) == 0) {
		api_reply_error(r, MHD_HTTP_FORBIDDEN, "forbidden",
				"this API key lacks the %s scope",
				rt->scope == SCOPE_PUBLISH ? "publish" :
				rt->scope == SCOPE_SUBSCRIBE ? "subscribe" : "admin");
		return false;
	}
	if (rt->scope != 0 && !keylimit_take(r->who.tenant, &wait_s)) {
		snprintf(r->retry_after, sizeof(r->retry_after), "%ld", wait_s);
		api_reply_error(r, MHD_HTTP_TOO_MANY_REQUESTS, "rate_limited",
				"this API key is over its request rate; retry in %ld s",
				wait_s);
		return false;
	}
	r->body_limit = rt->body_limit_of ? rt->body_limit_of(r) : rt->body_limit;
	cl = api_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl != NULL && r->body_limit > 0 &&
	    strtoull(cl, NULL, 10) > r->body_limit) {
		api_reply_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "too_large",
				"the body exceeds the limit of %zu bytes",
				r->body_limit);
		return false;
	}
	return true;
}

/* On a worker: ask the database about a key the cache does not hold. */
static void
lookup_run(struct dbwork_job *job, struct dbwork_thread *t)
{
	struct api_request *r = job->arg;
	struct store_conn *c;

	log_set_request(r->request_id);
	c = dbwork_conn(t);
	r->auth = c ? auth_lookup(c, r->key_hash, &r->who) : AUTH_UNAVAILABLE;
	log_set_request(NULL);
}

static void
lookup_done(struct dbwork_job *job, bool ran)
{
	struct api_request *r = job->arg;

	if (!ran)
		r->auth = AUTH_UNAVAILABLE;
	api_wake(r);
}

/* Resumed after the lookup, still before the body. */
static void
lookup_resume(struct api_request *r)
{
	r->resume = NULL;
	admit(r, r->auth);
}

/* First callback of a request: route, authorize and size it before any
 * body is read.  Returns false when a reply is already set; the request
 * may be suspended for a key lookup, admission going on when resumed. */
static bool
begin(struct api_request *r)
{
	const struct api_route *rt;
	enum auth_result auth = AUTH_OK;
	bool known;

	rt = find_route(r, &known);
	if (rt == NULL) {
		if (known)
			api_reply_error(r, MHD_HTTP_METHOD_NOT_ALLOWED,
					"method_not_allowed",
					"%s is not supported on %s", r->method,
					r->url);
		else
			api_reply_error(r, MHD_HTTP_NOT_FOUND, "not_found",
					"no such resource: %s", r->url);
		return false;
	}
	r->route = rt;
	if (rt->scope != 0)
		auth = auth_check(api_header(r, "Authorization"), &r->who,
				  r->key_hash);
	if (auth == AUTH_LOOKUP) {
		r->resume = lookup_resume;
		to_worker(r, lookup_run, lookup_done);
		return true;
	}
	return admit(r, auth);
}

/* --- running a handler on a worker --- */

static void
handler_run(struct dbwork_job *job, struct dbwork_thread *t)
{
	struct api_request *r = job->arg;

	log_set_request(r->request_id);
	r->worker = t;
	r->route->handler(r);
	r->worker = NULL;
	log_set_request(NULL);
}

static void
handler_done(struct dbwork_job *job, bool ran)
{
	struct api_request *r = job->arg;

	if (!ran) /* its deadline came before a worker was free */
		api_reply_store(r, STORE_TIMEOUT);
	else if (r->status == 0)
		api_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
				"the request was not answered");
	api_wake(r);
}

static enum MHD_Result
send_reply(struct api_request *r)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;
	size_t len = r->reply ? strlen(r->reply) : 0;

	if (r->static_reply != NULL) {
		len = r->static_len;
		resp = MHD_create_response_from_buffer(
			len, (void *)(uintptr_t)r->static_reply,
			MHD_RESPMEM_PERSISTENT);
	} else {
		resp = MHD_create_response_from_buffer(len, r->reply,
						       MHD_RESPMEM_MUST_FREE);
		if (resp != NULL)
			r->reply = NULL; /* the response owns it now */
	}
	if (resp == NULL)
		return MHD_NO;
	r->reply_bytes = len;
	MHD_add_response_header(resp, "X-Request-Id", r->request_id);
	for (size_t i = 0; i < r->nheaders; i++)
		MHD_add_response_header(resp, r->headers[i][0], r->headers[i][1]);
	if (len)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
					r->content_type ? r->content_type :
					"application/json");
	if (r->location[0])
		MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION,
					r->location);
	if (r->retry_after[0])
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER,
					r->retry_after);
	if (r->close) /* libmicrohttpd then closes once it is sent */
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION,
					"close");
	if (r->status == MHD_HTTP_METHOD_NOT_ALLOWED) {
		char allow[64] = "";

		const struct api_route *routes = r->env->routes;

		for (size_t i = 0; i < r->env->nroutes; i++) {
			if (match(routes[i].pattern, r->url, NULL) &&
			    strlen(allow) + strlen(routes[i].method) + 3 < sizeof(allow))
				snprintf(allow + strlen(allow),
					 sizeof(allow) - strlen(allow), "%s%s",
					 allow[0] ? ", " : "", routes[i].method);
		}
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	}
	ret = MHD_queue_response(r->conn, r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

/* A body went over its limit while it arrived, whatever its framing.
 * libmicrohttpd takes no response before the end of a body and would
 * read on to it, however long: so the 413 is written on the socket here,
 * and MHD_NO has the library close the connection at once, reading
 * nothing more.  Over TLS the socket is not ours to write: the
 * connection is only closed. */
static enum MHD_Result
refuse_mid_body(struct api_request *r)
{
	const union MHD_ConnectionInfo *fd, *tls;
	char head[384], date[64];
	struct iovec iov[2];
	struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
	time_t now = time(NULL);
	struct tm tm;
	int len;

	free(r->body);
	r->body = NULL;
	r->body_len = 0;
	api_reply_error(r, MHD_HTTP_CONTENT_TOO_LARGE, "too_large",
			"the body exceeds the limit of %zu bytes", r->body_limit);
	r->reply_bytes = strlen(r->reply);
	log_debug("%s %s: the body exceeds %zu bytes; connection closed",
		  r->method, r->url, r->body_limit);
	tls = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_PROTOCOL);
	fd = MHD_get_connection_info(r->conn,
				     MHD_CONNECTION_INFO_CONNECTION_FD);
	if (tls != NULL || fd == NULL)
		return MHD_NO;
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	len = snprintf(head, sizeof(head),
		       "HTTP/1.1 413 Content Too Large\r\n"
		       "Connection: close\r\n"
		       "Date: %s\r\n"
		       "X-Request-Id: %s\r\n"
		       "Content-Type: application/json\r\n"
		       "Content-Length: %zu\r\n\r\n",
		       date, r->request_id, r->reply_bytes);
	if (len < 0 || (size_t)len >= sizeof(head))
		return MHD_NO;
	iov[0] = (struct iovec){.iov_base = head, .iov_len = (size_t)len};
	iov[1] = (struct iovec){.iov_base = r->reply, .iov_len = r->reply_bytes};
	/* nothing else is being sent on the connection while a body is
	 * read; a short write only cuts the answer, the close comes anyway */
	if (sendmsg(fd->connect_fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_debug("413 not sent: %s", strerror(errno));
	return MHD_NO;
}

/* Every call of a request after its first. */
static enum MHD_Result
serve(struct api_request *r, const char *upload_data, size_t *upload_data_size)
{
	if (r->suspended) {
		/* woken: the wait is over */
		r->suspended = false;
		if (r->resume)
			r->resume(r);
		if (r->status != 0)
			return send_reply(r);
		/* admitted after a key lookup; libmicrohttpd repeats the first
		 * call once resumed, then the body and the final call follow */
		if (*upload_data_size == 0)
			return MHD_YES;
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;

		*upload_data_size = 0;
		if (r->body_len + n > r->body_limit)
			return refuse_mid_body(r);
		if (r->body_len + n + 1 > r->body_cap) {
			r->body_cap = r->body_len + n + 1;
			if (r->body_cap < 1024)
				r->body_cap = 1024;
			r->body = xrealloc(r->body, r->body_cap);
		}
		memcpy(r->body + r->body_len, upload_data, n);
		r->body_len += n;
		r->body[r->body_len] = '\0';
		return MHD_YES;
	}
	if (r->status != 0)
		return MHD_YES; /* already answered */
	if (r->route->db) {
		to_worker(r, handler_run, handler_done);
		return MHD_YES;
	}
	r->route->handler(r);
	if (r->suspended)
		return MHD_YES;
	if (r->status == 0)
		api_reply_error(r, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal",
				"the request was not answered");
	return send_reply(r);
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
	   const char *method, const char *version, const char *upload_data,
	   size_t *upload_data_size, void **con_cls)
{
	struct api *a = cls;
	struct api_request *r = *con_cls;
	enum MHD_Result ret;

	if (r == NULL) {
		r = xcalloc(1, sizeof(*r));
		atomic_fetch_add(&a->active, 1);
		r->conn = conn;
		r->env = &a->env;
		r->method = method;
		r->url = url;
		r->start_us = monotime_us();
		reqid_make(MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						       "X-Request-Id"),
			   r->request_id);
		*con_cls = r;
		log_set_request(r->request_id);
		ret = framing_ok(r, version) && begin(r) ? MHD_YES :
							     send_reply(r);
		log_set_request(NULL);
		return ret;
	}
	log_set_request(r->request_id);
	ret = serve(r, upload_data, upload_data_size);
	log_set_request(NULL);
	return ret;
}

/* One line per request at debug: never the query or a header's value. */
static void
access_log(const struct api_request *r, enum MHD_RequestTerminationCode toe)
{
	struct log_ids ids = {.request_id = r->request_id};
	char key[32] = "";

	if (r->authenticated)
		snprintf(key, sizeof(key), " key=%lld", (long long)r->who.tenant);
	log_with(LOG_DEBUG, &ids, "access: %s %s status=%u bytes=%zu ms=%.1f%s%s",
		 r->method, r->url, r->status, r->reply_bytes,
		 (double)(monotime_us() - r->start_us) / 1000.0, key,
		 toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" :
		 " (not completed)");
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
	     enum MHD_RequestTerminationCode toe)
{
	struct api *a = cls;
	struct api_request *r = *con_cls;

	(void)conn;
	if (r == NULL)
		return;
	access_log(r, toe);
	atomic_fetch_sub(&a->active, 1);
	if (r->cleanup && r->state)
		r->cleanup(r->state);
	free(r->body);
	free(r->reply);
	free(r);
	*con_cls = NULL;
}

/* herald_http_connections: a connection opened or closed.  Under TLS it
 * holds on to the certificates its handshake may use (before it starts). */
static void
on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
	      enum MHD_ConnectionNotificationCode toe)
{
	(void)cls;
	(void)conn;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		*socket_context = tls_connection_begin();
		metrics_http_connections_add(1);
	} else {
		tls_connection_end(*socket_context);
		*socket_context = NULL;
		metrics_http_connections_add(-1);
	}
}

/* libmicrohttpd's own messages, as lines of herald's log.  A failed TLS
 * handshake (plain HTTP on the HTTPS port, a client that does not trust
 * the certificate, a scanner) is the client's affair: debug. */
static void
on_mhd_message(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	if (strstr(msg, "handshake") != NULL)
		log_debug("tls: a handshake failed (libmicrohttpd: %s)", msg);
	else
		log_warn("libmicrohttpd: %s", msg);
}

int
api_listen_socket(const char *listen_spec)
{
	char host[256];
	const char *colon, *port;
	struct addrinfo hints, *res = NULL;
	int fd = -1, one = 1, rc;

	if (listen_spec[0] == '[') {
		const char *end = strchr(listen_spec, ']');

		if (end == NULL || end[1] != ':' ||
		    (size_t)(end - listen_spec - 1) >= sizeof(host))
			goto bad;
		memcpy(host, listen_spec + 1, (size_t)(end - listen_spec - 1));
		host[end - listen_spec - 1] = '\0';
		port = end + 2;
	} else {
		colon = strrchr(listen_spec, ':');
		if (colon == NULL || (size_t)(colon - listen_spec) >= sizeof(host))
			goto bad;
		memcpy(host, listen_spec, (size_t)(colon - listen_spec));
		host[colon - listen_spec] = '\0';
		port = colon + 1;
	}
	if (*port == '\0')
		goto bad;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
	if (rc != 0) {
		log_error("listen %s: %s", listen_spec, gai_strerror(rc));
		return -1;
	}
	fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
		log_error("listen %s: %s", listen_spec, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
bad:
	log_error("listen %s: expected host:port or [ipv6]:port", listen_spec);
	return -1;
}

struct api *
api_start(const struct config *cfg, struct writer *writer,
	  const struct api_route *routes, size_t nroutes)
{
	struct api *a = xcalloc(1, sizeof(*a));
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
			 MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
	/* HTTPS when tls_start loaded a certificate: each handshake asks
	 * tls.c for the newest, so that SIGHUP can replace it */
	struct MHD_OptionItem tls_options[] = {
		{MHD_OPTION_HTTPS_CERT_CALLBACK, 0, (void *)tls_certificate},
		{MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)cfg->tls_priorities},
		{MHD_OPTION_END, 0, NULL},
	};
	bool tls = tls_on();

	a->env.cfg = cfg;
	a->env.writer = writer;
	a->env.routes = routes;
	a->env.nroutes = nroutes;
	a->listen_fd = api_listen_socket(cfg->listen);
	if (a->listen_fd < 0) {
		free(a);
		return NULL;
	}
	a->env.work = dbwork_start(cfg->database_url, cfg->db_pool_size);
	if (a->env.work == NULL) {
		close(a->listen_fd);
		free(a);
		return NULL;
	}
	if (tls)
		flags |= MHD_USE_TLS;
	else
		tls_options[0].option = MHD_OPTION_END;
	a->daemon = MHD_start_daemon(
		flags, 0, NULL, NULL, on_request, a,
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_message, NULL,
		MHD_OPTION_ARRAY, tls_options,
		MHD_OPTION_LISTEN_SOCKET, (MHD_socket)a->listen_fd,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->api_threads,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		(unsigned)cfg->max_connections_per_ip,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->connection_timeout,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_POOL,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, a,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,
		MHD_OPTION_END);
	if (a->daemon == NULL) {
		log_error("cannot start the HTTP server on %s", cfg->listen);
		dbwork_drain(a->env.work);
		dbwork_free(a->env.work);
		close(a->listen_fd);
		free(a);
		return NULL;
	}
	log_info("listening on %s (%s)", cfg->listen, tls ? "HTTPS" : "HTTP");
	return a;
}

void
api_quiesce(struct api *a)
{
	MHD_socket fd;

	if (a == NULL)
		return;
	fd = MHD_quiesce_daemon(a->daemon);
	if (fd != MHD_INVALID_SOCKET) {
		close(fd);
		a->listen_fd = -1;
	}
}

void
api_wait_idle(struct api *a, int timeout_ms)
{
	struct timespec tick = {0, 10 * 1000000L};

	for (int waited = 0; a && waited < timeout_ms; waited += 10) {
		if (atomic_load(&a->active) == 0)
			return;
		nanosleep(&tick, NULL);
	}
}

void
api_stop(struct api *a)
{
	if (a == NULL)
		return;
	/* what still waits for a worker is answered 503 first; a request
	 * of a kept-alive connection may still be submitted until the
	 * daemon stops, and is answered 503 at once */
	dbwork_drain(a->env.work);
	/* closes the listening socket too, unless quiesced */
	MHD_stop_daemon(a->daemon);
	dbwork_free(a->env.work);
	free(a);
}
