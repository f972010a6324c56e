/* Webhook receiver for the integration tests: records requests, misbehaves on request. */

/*
 * Usage: receiver --port N [--portfile FILE]
 *
 * Listens on 127.0.0.1:N (0: any free port) and writes the port number to
 * FILE once it is listening.  Every request except the control paths below is
 * recorded in memory and answered as its query string asks; counters are
 * kept per path (the URL without its query):
 *
 *   status=NNN            answer NNN (default 204)
 *   fail=N                the first N requests to the path answer 500 (or
 *                         status=), later ones 204
 *   fail_rate=P&seed=S    answer 500 (or status=) with probability P; the
 *                         draws come from a PRNG per path seeded with S
 *   retry_after=V         add "Retry-After: V"; with retry_after_times=N
 *                         only the first N requests answer status= (default
 *                         503) with the header, later ones 204
 *   delay_ms=N            wait N ms (at most 60000) before answering
 *   drop=N                close the first N requests' connections without
 *                         any response; drop=all closes every one
 *   redirect=URL          answer 302 with "Location: URL"
 *   body=TEXT             response body
 *
 * Control paths (not recorded):
 *   GET  /_requests[?path=/x]  JSON array of the recorded requests, oldest
 *                              first; each is {"n", "time_ms", "method",
 *                              "path", "query", "headers", "body" or
 *                              "body_base64", "response"}, where n counts
 *                              the requests to that path from 1, headers
 *                              have lower-case names, and response is
 *                              {"status", "headers", "body", "delay_ms"} or
 *                              {"dropped": true, "delay_ms"}
 *   GET  /_stats[?path=/x]     {"count", "max_concurrent", "concurrent"}
 *   POST /_reset               forget every request and counter
 *   GET  /_health              200
 *
 * Locking: every global below is guarded by state_lock.  Request threads
 * (one per connection) take it briefly; nothing sleeps while holding it.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#define MAX_BODY_BYTES		(8u * 1024 * 1024)
#define MAX_RECORDS		1000000u
#define MAX_DELAY_MS		60000L
#define PATH_BUCKETS		1024u

/* Counters of one path; never freed, so request threads may keep pointers. */
typedef struct path_state
{
	struct path_state *next;
	char	   *path;
	unsigned long count;		/* requests answered (or dropped) so far */
	int			concurrent;		/* requests being handled now */
	int			max_concurrent;
	bool		rng_seeded;
	uint64_t	rng;
} path_state;

/* One recorded request, serialized once. */
typedef struct record
{
	path_state *ps;
	char	   *json;
	size_t		len;
} record;

/* Per-request state, created by the URI log callback. */
typedef struct request
{
	char	   *uri;			/* raw request target, query included */
	bool		started;
	bool		control;
	path_state *ps;				/* NULL for control paths */
	bool		counted;		/* in ps->concurrent and total_concurrent */
	char	   *body;
	size_t		body_len;
	size_t		body_cap;
	bool		too_large;
} request;

static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;
static path_state *paths[PATH_BUCKETS];
static record *records;
static size_t nrecords;
static size_t records_cap;
static unsigned long total_count;
static int total_concurrent;
static int total_max_concurrent;

static atomic_bool stopping;	/* set once by main at shutdown */

static void die(const char *fmt,...) __attribute__((format(printf, 1, 2), noreturn));

static void
die(const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	fputs("receiver: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static void *
xmalloc_or_die(size_t n)
{
	void	   *p = malloc(n ? n : 1);

	if (p == NULL)
		die("out of memory allocating %zu bytes", n);
	return p;
}

static char *
xstrdup_or_die(const char *s)
{
	size_t		n = strlen(s) + 1;
	char	   *p = xmalloc_or_die(n);

	memcpy(p, s, n);
	return p;
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double) ts.tv_sec * 1000.0 + (double) ts.tv_nsec / 1e6;
}

/* Sleep ms milliseconds in short slices, giving up early on shutdown. */
static void
sleep_ms(long ms)
{
	while (ms > 0 && !atomic_load(&stopping))
	{
		long		step = ms < 50 ? ms : 50;
		struct timespec ts = {0, step * 1000000L};

		nanosleep(&ts, NULL);
		ms -= step;
	}
}

static uint64_t
splitmix64(uint64_t *state)
{
	uint64_t	z = (*state += UINT64_C(0x9E3779B97F4A7C15));

	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

static unsigned
hash_str(const char *s)
{
	uint32_t	h = 2166136261u;

	for (; *s; s++)
		h = (h ^ (unsigned char) *s) * 16777619u;
	return h % PATH_BUCKETS;
}

/* Find or create the counters of path; caller holds state_lock. */
static path_state *
path_lookup(const char *path)
{
	unsigned	b = hash_str(path);
	path_state *ps;

	for (ps = paths[b]; ps != NULL; ps = ps->next)
		if (strcmp(ps->path, path) == 0)
			return ps;
	ps = xmalloc_or_die(sizeof(*ps));
	memset(ps, 0, sizeof(*ps));
	ps->path = xstrdup_or_die(path);
	ps->next = paths[b];
	paths[b] = ps;
	return ps;
}

/* Find the counters of path without creating them; caller holds state_lock. */
static path_state *
path_find(const char *path)
{
	path_state *ps;

	for (ps = paths[hash_str(path)]; ps != NULL; ps = ps->next)
		if (strcmp(ps->path, path) == 0)
			return ps;
	return NULL;
}

static bool
utf8_valid(const unsigned char *s, size_t n)
{
	size_t		i = 0;

	while (i < n)
	{
		unsigned char c = s[i];
		size_t		len;
		uint32_t	cp;

		if (c == 0)
			return false;		/* not representable as a C string */
		if (c < 0x80)
		{
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF)
		{
			len = 2;
			cp = c & 0x1F;
		}
		else if (c >= 0xE0 && c <= 0xEF)
		{
			len = 3;
			cp = c & 0x0F;
		}
		else if (c >= 0xF0 && c <= 0xF4)
		{
			len = 4;
			cp = c & 0x07;
		}
		else
			return false;
		if (n - i < len)
			return false;
		for (size_t k = 1; k < len; k++)
		{
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
			cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += len;
	}
	return true;
}

static char *
base64_alloc(const unsigned char *in, size_t n)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char	   *out = xmalloc_or_die((n + 2) / 3 * 4 + 1);
	char	   *o = out;
	size_t		i;

	for (i = 0; i + 2 < n; i += 3)
	{
		uint32_t	v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8 | in[i + 2];

		*o++ = alphabet[v >> 18];
		*o++ = alphabet[(v >> 12) & 63];
		*o++ = alphabet[(v >> 6) & 63];
		*o++ = alphabet[v & 63];
	}
	if (i < n)
	{
		uint32_t	v = (uint32_t) in[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t) in[i + 1] << 8;
		*o++ = alphabet[v >> 18];
		*o++ = alphabet[(v >> 12) & 63];
		*o++ = i + 1 < n ? alphabet[(v >> 6) & 63] : '=';
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

/* Query parameter as a long; false when absent or not a number. */
static bool
arg_long(struct MHD_Connection *conn, const char *name, long *out)
{
	const char *v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name);
	char	   *end;
	long		n;

	if (v == NULL || *v == '\0')
		return false;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno != 0 || *end != '\0')
		return false;
	*out = n;
	return true;
}

static const char *
arg_str(struct MHD_Connection *conn, const char *name)
{
	return MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name);
}

static enum MHD_Result
add_header(void *cls, enum MHD_ValueKind kind, const char *key,
		   const char *value)
{
	cJSON	   *headers = cls;
	char	   *name = xstrdup_or_die(key);
	cJSON	   *old;

	(void) kind;
	for (char *p = name; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char) (*p - 'A' + 'a');
	if (value == NULL)
		value = "";
	old = cJSON_GetObjectItemCaseSensitive(headers, name);
	if (old != NULL && cJSON_IsString(old))
	{
		size_t		n = strlen(old->valuestring) + strlen(value) + 3;
		char	   *joined = xmalloc_or_die(n);

		snprintf(joined, n, "%s, %s", old->valuestring, value);
		cJSON_ReplaceItemInObjectCaseSensitive(headers, name,
											   cJSON_CreateString(joined));
		free(joined);
	}
	else
		cJSON_AddStringToObject(headers, name, value);
	free(name);
	return MHD_YES;
}

static enum MHD_Result
send_text(struct MHD_Connection *conn, unsigned status, const char *ctype,
		  const char *body, size_t len)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(len, (void *) body,
										   MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return MHD_NO;
	if (ctype != NULL)
		MHD_add_response_header(resp, "Content-Type", ctype);
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result
send_json(struct MHD_Connection *conn, unsigned status, cJSON *doc)
{
	char	   *s = cJSON_PrintUnformatted(doc);
	enum MHD_Result ret;

	if (s == NULL)
		die("out of memory printing JSON");
	ret = send_text(conn, status, "application/json", s, strlen(s));
	free(s);
	return ret;
}

static enum MHD_Result
control_requests(struct MHD_Connection *conn)
{
	const char *path = arg_str(conn, "path");
	char	   *out;
	size_t		len = 1;
	size_t		pos = 0;
	enum MHD_Result ret;

	pthread_mutex_lock(&state_lock);
	for (size_t i = 0; i < nrecords; i++)
		if (path == NULL || strcmp(records[i].ps->path, path) == 0)
			len += records[i].len + 1;
	out = xmalloc_or_die(len + 2);
	out[pos++] = '[';
	for (size_t i = 0; i < nrecords; i++)
	{
		if (path != NULL && strcmp(records[i].ps->path, path) != 0)
			continue;
		if (pos > 1)
			out[pos++] = ',';
		memcpy(out + pos, records[i].json, records[i].len);
		pos += records[i].len;
	}
	pthread_mutex_unlock(&state_lock);
	out[pos++] = ']';
	ret = send_text(conn, MHD_HTTP_OK, "application/json", out, pos);
	free(out);
	return ret;
}

static enum MHD_Result
control_stats(struct MHD_Connection *conn)
{
	const char *path = arg_str(conn, "path");
	cJSON	   *doc = cJSON_CreateObject();
	double		count = 0,
				maxc = 0,
				cur = 0;
	enum MHD_Result ret;

	pthread_mutex_lock(&state_lock);
	if (path == NULL)
	{
		count = (double) total_count;
		maxc = total_max_concurrent;
		cur = total_concurrent;
	}
	else
	{
		path_state *ps = path_find(path);

		if (ps != NULL)
		{
			count = (double) ps->count;
			maxc = ps->max_concurrent;
			cur = ps->concurrent;
		}
	}
	pthread_mutex_unlock(&state_lock);
	cJSON_AddNumberToObject(doc, "count", count);
	cJSON_AddNumberToObject(doc, "max_concurrent", maxc);
	cJSON_AddNumberToObject(doc, "concurrent", cur);
	ret = send_json(conn, MHD_HTTP_OK, doc);
	cJSON_Delete(doc);
	return ret;
}

/* Forget records and counters; in-flight requests keep their path_state. */
static void
reset_all(void)
{
	pthread_mutex_lock(&state_lock);
	for (size_t i = 0; i < nrecords; i++)
		free(records[i].json);
	free(records);
	records = NULL;
	nrecords = records_cap = 0;
	total_count = 0;
	total_max_concurrent = total_concurrent;
	for (unsigned b = 0; b < PATH_BUCKETS; b++)
		for (path_state *ps = paths[b]; ps != NULL; ps = ps->next)
		{
			ps->count = 0;
			ps->max_concurrent = ps->concurrent;
			ps->rng_seeded = false;
		}
	pthread_mutex_unlock(&state_lock);
}

/* At exit, after the daemon stopped: no request thread is left. */
static void
free_paths(void)
{
	for (unsigned b = 0; b < PATH_BUCKETS; b++)
	{
		path_state *ps = paths[b];

		while (ps != NULL)
		{
			path_state *next = ps->next;

			free(ps->path);
			free(ps);
			ps = next;
		}
		paths[b] = NULL;
	}
}

static enum MHD_Result
handle_control(struct MHD_Connection *conn, const char *url, const char *method)
{
	bool		get = strcmp(method, "GET") == 0;

	if (strcmp(url, "/_health") == 0 && get)
		return send_text(conn, MHD_HTTP_OK, "text/plain", "ok\n", 3);
	if (strcmp(url, "/_requests") == 0 && get)
		return control_requests(conn);
	if (strcmp(url, "/_stats") == 0 && get)
		return control_stats(conn);
	if (strcmp(url, "/_reset") == 0 && strcmp(method, "POST") == 0)
	{
		reset_all();
		return send_text(conn, MHD_HTTP_NO_CONTENT, NULL, "", 0);
	}
	return send_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain",
					 "method not allowed\n", 19);
}

static bool
is_control(const char *url)
{
	return strcmp(url, "/_health") == 0 || strcmp(url, "/_requests") == 0 ||
		strcmp(url, "/_stats") == 0 || strcmp(url, "/_reset") == 0;
}

/* What to answer one recorded request with. */
typedef struct plan
{
	unsigned	status;
	bool		drop;
	long		delay_ms;
	const char *retry_after;
	const char *location;
	const char *body;
} plan;

/*
 * Decide the answer for the n-th request to ps (1-based); caller holds
 * state_lock because the PRNG lives in ps.
 */
static void
make_plan(struct MHD_Connection *conn, path_state *ps, unsigned long n,
		  plan *p)
{
	long		status = 0,
				fail = 0,
				times = 0,
				drop = 0,
				delay = 0,
				seed = 1;
	bool		has_status = arg_long(conn, "status", &status) &&
		status >= 100 && status <= 999;
	bool		has_fail = arg_long(conn, "fail", &fail);
	bool		has_times = arg_long(conn, "retry_after_times", &times);
	const char *rate_s = arg_str(conn, "fail_rate");
	const char *drop_s = arg_str(conn, "drop");
	bool		limited = has_fail || has_times || rate_s != NULL;
	bool		bad = false;

	memset(p, 0, sizeof(*p));
	p->retry_after = arg_str(conn, "retry_after");
	p->location = arg_str(conn, "redirect");
	p->body = arg_str(conn, "body");

	if (has_fail && n <= (unsigned long) (fail < 0 ? 0 : fail))
		bad = true;
	if (has_times && n <= (unsigned long) (times < 0 ? 0 : times))
		bad = true;
	if (rate_s != NULL)
	{
		double		rate = strtod(rate_s, NULL);
		double		draw;

		if (!ps->rng_seeded)
		{
			arg_long(conn, "seed", &seed);
			ps->rng = (uint64_t) seed;
			ps->rng_seeded = true;
		}
		draw = (double) (splitmix64(&ps->rng) >> 11) * 0x1.0p-53;
		if (draw < rate)
			bad = true;
	}

	if (limited)
		p->status = bad ? (has_status ? (unsigned) status :
						   (has_times ? 503 : 500)) : 204;
	else
		p->status = has_status ? (unsigned) status : 204;

	if (p->retry_after != NULL)
	{
		bool		send = has_times ? n <= (unsigned long) (times < 0 ? 0 : times)
		: (!limited || bad);

		if (!send)
			p->retry_after = NULL;
	}
	if (p->location != NULL)
		p->status = 302;

	if (drop_s != NULL)
	{
		if (strcmp(drop_s, "all") == 0 || strcmp(drop_s, "always") == 0)
			p->drop = true;
		else if (arg_long(conn, "drop", &drop) && drop > 0 &&
				 n <= (unsigned long) drop)
			p->drop = true;
	}
	if (arg_long(conn, "delay_ms", &delay) && delay > 0)
		p->delay_ms = delay > MAX_DELAY_MS ? MAX_DELAY_MS : delay;
}

static char *
build_record(struct MHD_Connection *conn, request *req, const char *url,
			 const char *method, unsigned long n, const plan *p)
{
	cJSON	   *rec = cJSON_CreateObject();
	cJSON	   *headers = cJSON_CreateObject();
	cJSON	   *resp = cJSON_CreateObject();
	const char *q = strchr(req->uri, '?');
	char	   *s;

	cJSON_AddNumberToObject(rec, "n", (double) n);
	cJSON_AddNumberToObject(rec, "time_ms", now_ms());
	cJSON_AddStringToObject(rec, "method", method);
	cJSON_AddStringToObject(rec, "path", url);
	cJSON_AddStringToObject(rec, "query", q != NULL ? q + 1 : "");
	MHD_get_connection_values(conn, MHD_HEADER_KIND, add_header, headers);
	cJSON_AddItemToObject(rec, "headers", headers);
	if (req->too_large)
		cJSON_AddBoolToObject(rec, "body_too_large", true);
	else if (utf8_valid((const unsigned char *) req->body, req->body_len))
	{
		char	   *text = xmalloc_or_die(req->body_len + 1);

		if (req->body_len > 0)
			memcpy(text, req->body, req->body_len);
		text[req->body_len] = '\0';
		cJSON_AddStringToObject(rec, "body", text);
		free(text);
	}
	else
	{
		char	   *b64 = base64_alloc((const unsigned char *) req->body,
									   req->body_len);

		cJSON_AddStringToObject(rec, "body_base64", b64);
		free(b64);
	}

	if (p->drop)
		cJSON_AddBoolToObject(resp, "dropped", true);
	else
	{
		cJSON	   *rh = cJSON_CreateObject();

		cJSON_AddNumberToObject(resp, "status", p->status);
		if (p->retry_after != NULL)
			cJSON_AddStringToObject(rh, "retry-after", p->retry_after);
		if (p->location != NULL)
			cJSON_AddStringToObject(rh, "location", p->location);
		cJSON_AddItemToObject(resp, "headers", rh);
		cJSON_AddStringToObject(resp, "body", p->body != NULL ? p->body : "");
	}
	cJSON_AddNumberToObject(resp, "delay_ms", (double) p->delay_ms);
	cJSON_AddItemToObject(rec, "response", resp);

	s = cJSON_PrintUnformatted(rec);
	if (s == NULL)
		die("out of memory printing JSON");
	cJSON_Delete(rec);
	return s;
}

/*
 * The request stops counting as concurrent once its answer is decided,
 * before the response is queued: herald cannot see the answer before
 * then, so a next request it sends because of this one never overlaps.
 */
static void
leave(request *req)
{
	if (!req->counted)
		return;
	pthread_mutex_lock(&state_lock);
	req->ps->concurrent--;
	total_concurrent--;
	req->counted = false;
	pthread_mutex_unlock(&state_lock);
}

static enum MHD_Result
answer(struct MHD_Connection *conn, request *req, const char *url,
	   const char *method)
{
	plan		p;
	unsigned long n;
	char	   *json;
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (req->too_large)
	{
		leave(req);
		return send_text(conn, 413, "text/plain",
						 "body too large\n", 15);
	}

	pthread_mutex_lock(&state_lock);
	n = ++req->ps->count;
	total_count++;
	make_plan(conn, req->ps, n, &p);
	pthread_mutex_unlock(&state_lock);

	/* Serialize outside the lock, then append in arrival order. */
	json = build_record(conn, req, url, method, n, &p);
	pthread_mutex_lock(&state_lock);
	if (nrecords < MAX_RECORDS)
	{
		if (nrecords == records_cap)
		{
			size_t		cap = records_cap ? records_cap * 2 : 1024;
			record	   *r = realloc(records, cap * sizeof(*r));

			if (r == NULL)
				die("out of memory recording requests");
			records = r;
			records_cap = cap;
		}
		records[nrecords].ps = req->ps;
		records[nrecords].json = json;
		records[nrecords].len = strlen(json);
		nrecords++;
		json = NULL;
	}
	pthread_mutex_unlock(&state_lock);
	free(json);

	sleep_ms(p.delay_ms);
	leave(req);
	if (p.drop)
		return MHD_NO;

	resp = MHD_create_response_from_buffer(p.body ? strlen(p.body) : 0,
										   (void *) (p.body ? p.body : ""),
										   MHD_RESPMEM_MUST_COPY);
	if (resp == NULL)
		return MHD_NO;
	if (p.body != NULL)
		MHD_add_response_header(resp, "Content-Type", "text/plain");
	if (p.retry_after != NULL)
		MHD_add_response_header(resp, "Retry-After", p.retry_after);
	if (p.location != NULL)
		MHD_add_response_header(resp, "Location", p.location);
	ret = MHD_queue_response(conn, p.status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void *
on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	request    *req = xmalloc_or_die(sizeof(*req));

	(void) cls;
	(void) conn;
	memset(req, 0, sizeof(*req));
	req->uri = xstrdup_or_die(uri != NULL ? uri : "");
	return req;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
		   const char *method, const char *version, const char *upload_data,
		   size_t *upload_data_size, void **con_cls)
{
	request    *req = *con_cls;

	(void) cls;
	(void) version;
	if (req == NULL)
		return MHD_NO;
	if (!req->started)
	{
		req->started = true;
		req->control = is_control(url);
		if (!req->control)
		{
			pthread_mutex_lock(&state_lock);
			req->ps = path_lookup(url);
			req->counted = true;
			req->ps->concurrent++;
			if (req->ps->concurrent > req->ps->max_concurrent)
				req->ps->max_concurrent = req->ps->concurrent;
			total_concurrent++;
			if (total_concurrent > total_max_concurrent)
				total_max_concurrent = total_concurrent;
			pthread_mutex_unlock(&state_lock);
		}
		return MHD_YES;
	}
	if (*upload_data_size > 0)
	{
		size_t		n = *upload_data_size;

		*upload_data_size = 0;
		if (req->too_large || req->control)
			return MHD_YES;
		if (req->body_len + n > MAX_BODY_BYTES)
		{
			req->too_large = true;
			return MHD_YES;
		}
		if (req->body_len + n > req->body_cap)
		{
			size_t		cap = req->body_cap ? req->body_cap : 4096;
			char	   *b;

			while (cap < req->body_len + n)
				cap *= 2;
			b = realloc(req->body, cap);
			if (b == NULL)
				die("out of memory reading a body");
			req->body = b;
			req->body_cap = cap;
		}
		memcpy(req->body + req->body_len, upload_data, n);
		req->body_len += n;
		return MHD_YES;
	}
	if (req->control)
		return handle_control(conn, url, method);
	return answer(conn, req, url, method);
}

static void
on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	request    *req = *con_cls;

	(void) cls;
	(void) conn;
	(void) toe;
	if (req == NULL)
		return;
	leave(req);
	free(req->uri);
	free(req->body);
	free(req);
	*con_cls = NULL;
}

static void
write_portfile(const char *file, unsigned port)
{
	size_t		n = strlen(file) + 8;
	char	   *tmp = xmalloc_or_die(n);
	FILE	   *f;

	snprintf(tmp, n, "%s.tmp", file);
	f = fopen(tmp, "w");
	if (f == NULL)
		die("cannot write %s: %s", tmp, strerror(errno));
	fprintf(f, "%u\n", port);
	if (fclose(f) != 0 || rename(tmp, file) != 0)
		die("cannot write %s: %s", file, strerror(errno));
	free(tmp);
}

static void
usage(void)
{
	fprintf(stderr, "usage: receiver --port N [--portfile FILE]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	long		port = -1;
	const char *portfile = NULL;
	struct sockaddr_in addr;
	struct MHD_Daemon *d;
	const union MHD_DaemonInfo *info;
	sigset_t	sigs;
	int			sig;

	for (int i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--port") == 0 && i + 1 < argc)
		{
			char	   *end;

			port = strtol(argv[++i], &end, 10);
			if (*end != '\0' || port < 0 || port > 65535)
				usage();
		}
		else if (strcmp(argv[i], "--portfile") == 0 && i + 1 < argc)
			portfile = argv[++i];
		else
			usage();
	}
	if (port < 0)
		usage();

	/* Threads started from here on inherit the mask; main waits for them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t) port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

	d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION |
						 MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
						 MHD_USE_ERROR_LOG,
						 0, NULL, NULL, on_request, NULL,
						 MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &addr,
						 MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
						 MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
						 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) 120,
						 MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned) 1,
						 MHD_OPTION_END);
	if (d == NULL)
		die("cannot listen on 127.0.0.1:%ld", port);
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	if (info == NULL || info->port == 0)
		die("cannot learn the listening port");
	if (portfile != NULL)
		write_portfile(portfile, info->port);
	fprintf(stderr, "receiver: listening on 127.0.0.1:%u\n", info->port);

	if (sigwait(&sigs, &sig) != 0)
		die("sigwait failed");
	atomic_store(&stopping, true);
	MHD_stop_daemon(d);
	reset_all();
	free_paths();
	return 0;
}
