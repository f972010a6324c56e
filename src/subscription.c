/* Subscriptions: validate request bodies, merge patches, render configs, match events. */
#include "subscription.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "filter.h"
#include "jsonexact.h"
#include "sinkgroup.h"
#include "sinkurl.h"
#include "text.h"
#include "xalloc.h"

/*
 * The body is the CloudEvents Subscriptions API subscription plus herald's
 * "delivery" object.  Rules that are herald's own choice:
 *
 * - "sink" is read by libcurl's URL parser (sinkurl.c), and sub->sink
 *   holds libcurl's rendering of it: what the dispatcher hands libcurl and
 *   what GET shows.  sub->sink_host is the host from that same parse, the
 *   one the SSRF guard judges.  Userinfo is refused.
 * - "sinks" (a consumer group) instead of "sink": 1 to SINKGROUP_MAX
 *   members, each read like "sink", none twice (compared as libcurl
 *   renders them).  Exactly one of the two is required.
 * - A field present with JSON null is treated as absent.  For the required
 *   "sink" that means missing_field.  Entries of maps and arrays
 *   (headers, config, types, filters) must not be null.
 * - Duplicate keys in an object are refused.
 * - "delivery.burst" defaults to "rate" rounded up, at least 1 (so 1 when
 *   the rate is 0, i.e. unlimited).
 * - "delivery.retry.max_ms" defaults to 36000000, or to initial_ms when that
 *   is larger; an explicit max_ms below initial_ms is refused.
 * - In "sinkcredential" only ACCESSTOKEN is supported; "expiration_time" and
 *   "refresh_token" are accepted (as strings) and dropped: struct
 *   subscription has nowhere to keep them.
 * - Header names besides the ones herald sets itself (content-type,
 *   content-length, host, authorization, user-agent, ce-*, webhook-*) also
 *   refuse the hop-by-hop names libcurl manages (connection,
 *   transfer-encoding, te, trailer, upgrade, keep-alive, expect,
 *   proxy-authorization).
 */

#define TYPES_MAX 256
#define HEADERS_MAX 64
#define HEADER_NAME_MAX 256
#define HEADER_VALUE_MAX 4096
#define CONFIG_MAX 64
#define TOKEN_MAX 4096
#define PATH_MAX_LEN 96 /* sizeof(herald_error.field) */

#define DEF_MAX_IN_FLIGHT 8
#define DEF_TIMEOUT_MS 10000L
#define DEF_MAX_ATTEMPTS 10
#define DEF_INITIAL_MS 5000L
#define DEF_MULTIPLIER 4.0
#define DEF_MAX_MS 36000000L
#define DEF_JITTER 0.2

static const char *const mode_names[] = {
	[SUB_MODE_BINARY] = "binary",
	[SUB_MODE_STRUCTURED] = "structured",
};

static const char *const ordering_names[] = {
	[SUB_ORDER_PARTITIONKEY] = "partitionkey",
	[SUB_ORDER_SUBJECT] = "subject",
	[SUB_ORDER_NONE] = "none",
	[SUB_ORDER_GLOBAL] = "global",
};

static const char *const top_fields[] = {
	"sink", "sinks", "protocol", "protocolsettings", "sinkcredential",
	"source", "types", "filters", "config", "delivery", "status", NULL,
};
static const char *const settings_fields[] = {"headers", NULL};
static const char *const credential_fields[] = {
	"credential_type", "access_token", "expiration_time", "refresh_token",
	NULL,
};
static const char *const delivery_fields[] = {
	"mode", "ordering", "rate", "burst", "max_in_flight", "timeout_ms",
	"retry", NULL,
};
static const char *const retry_fields[] = {
	"max_attempts", "initial_ms", "multiplier", "max_ms", "jitter", NULL,
};

static const char *const reserved_headers[] = {
	"content-type", "content-length", "host", "authorization", "user-agent",
	"connection", "transfer-encoding", "te", "trailer", "upgrade",
	"keep-alive", "expect", "proxy-authorization", NULL,
};

static int
fail(struct herald_error *err, const char *code, const char *field,
     const char *fmt, ...)
{
	va_list ap;
	size_t n;

	if (err == NULL)
		return -1;
	snprintf(err->code, sizeof(err->code), "%s", code);
	n = strnlen(field, sizeof(err->field) - 1);
	memcpy(err->field, field, n);
	err->field[n] = '\0';
	err->index = -1;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return -1;
}

/* "prefix.name", or "name" when prefix is empty, bounded to buf. */
static const char *
join(char *buf, size_t len, const char *prefix, const char *name)
{
	snprintf(buf, len, "%s%s%s", prefix, *prefix ? "." : "", name);
	return buf;
}

/* The member, or NULL when absent or JSON null. */
static const cJSON *
get(const cJSON *obj, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	return cJSON_IsNull(v) ? NULL : v;
}

/* Refuse members not in names, and duplicates of known ones. */
static int
check_members(const cJSON *obj, const char *const *names, const char *prefix,
	      struct herald_error *err)
{
	unsigned long seen = 0;
	char path[PATH_MAX_LEN];
	const cJSON *m;
	size_t i;

	cJSON_ArrayForEach(m, obj) {
		const char *key = m->string ? m->string : "";

		for (i = 0; names[i] != NULL; i++)
			if (strcmp(names[i], key) == 0)
				break;
		join(path, sizeof(path), prefix, key);
		if (names[i] == NULL)
			return fail(err, "unknown_field", path,
				    "unknown field %.80s", path);
		if (seen & 1UL << i)
			return fail(err, "invalid_field", path,
				    "field %.80s is given more than once", path);
		seen |= 1UL << i;
	}
	return 0;
}

/* Duplicate keys of a map (compared case-insensitively when nocase). */
static const char *
duplicate_key(const cJSON *obj, bool nocase)
{
	const cJSON *a, *b;

	for (a = obj->child; a != NULL; a = a->next)
		for (b = obj->child; b != a; b = b->next)
			if (nocase ? strcasecmp(a->string, b->string) == 0
				   : strcmp(a->string, b->string) == 0)
				return a->string;
	return NULL;
}

static bool
has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

static int
get_string(const cJSON *v, const char *field, bool nonempty, const char **out,
	   struct herald_error *err)
{
	if (!cJSON_IsString(v))
		return fail(err, "invalid_field", field, "%s must be a string",
			    field);
	if (nonempty && v->valuestring[0] == '\0')
		return fail(err, "invalid_field", field,
			    "%s must not be empty", field);
	*out = v->valuestring;
	return 0;
}

static int
get_long(const cJSON *v, const char *field, long min, long max, long *out,
	 struct herald_error *err)
{
	double d;

	if (!cJSON_IsNumber(v))
		return fail(err, "invalid_field", field,
			    "%s must be an integer", field);
	d = v->valuedouble;
	if (d != floor(d))
		return fail(err, "invalid_field", field,
			    "%s must be an integer", field);
	if (d < (double)min || d > (double)max)
		return fail(err, "invalid_field", field,
			    "%s must be between %ld and %ld", field, min, max);
	*out = (long)d;
	return 0;
}

static int
get_int(const cJSON *v, const char *field, long min, long max, int *out,
	struct herald_error *err)
{
	long l;

	if (get_long(v, field, min, max, &l, err) < 0)
		return -1;
	*out = (int)l;
	return 0;
}

static int
get_double(const cJSON *v, const char *field, double min, double max,
	   double *out, struct herald_error *err)
{
	if (!cJSON_IsNumber(v))
		return fail(err, "invalid_field", field, "%s must be a number",
			    field);
	if (!(v->valuedouble >= min && v->valuedouble <= max))
		return fail(err, "invalid_field", field,
			    "%s must be between %g and %g", field, min, max);
	*out = v->valuedouble;
	return 0;
}

/* The index of s in names[0..n), or -1. */
static int
lookup(const char *const *names, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(names[i], s) == 0)
			return (int)i;
	return -1;
}

static bool
header_reserved(const char *name)
{
	size_t i;

	if (strncasecmp(name, "ce-", 3) == 0 ||
	    strncasecmp(name, "webhook-", 8) == 0)
		return true;
	for (i = 0; reserved_headers[i] != NULL; i++)
		if (strcasecmp(name, reserved_headers[i]) == 0)
			return true;
	return false;
}

static int
parse_headers(const cJSON *h, struct subscription *sub,
	      struct herald_error *err)
{
	const char *f = "protocolsettings.headers";
	char path[PATH_MAX_LEN];
	const cJSON *m;
	const char *dup, *s;
	int n;

	if (!cJSON_IsObject(h))
		return fail(err, "invalid_field", f,
			    "%s must be an object of strings", f);
	n = cJSON_GetArraySize(h);
	if (n > HEADERS_MAX)
		return fail(err, "invalid_field", f,
			    "%s must have at most %d entries", f, HEADERS_MAX);
	if ((dup = duplicate_key(h, true)) != NULL)
		return fail(err, "invalid_field",
			    join(path, sizeof(path), f, dup),
			    "header %.64s is given more than once", dup);
	if (n == 0)
		return 0;
	sub->headers = xcalloc((size_t)n, sizeof(*sub->headers));
	cJSON_ArrayForEach(m, h) {
		const char *name = m->string;

		join(path, sizeof(path), f, name);
		if (name[0] == '\0' || strlen(name) > HEADER_NAME_MAX)
			return fail(err, "invalid_field", path,
				    "header names must be 1 to %d characters",
				    HEADER_NAME_MAX);
		for (s = name; *s; s++)
			if (!text_is_tchar(*s))
				return fail(err, "invalid_field", path,
					    "header name %.64s is not a valid HTTP token",
					    name);
		if (header_reserved(name))
			return fail(err, "invalid_field", path,
				    "header %.64s is set by herald and cannot be configured",
				    name);
		if (!cJSON_IsString(m) || m->valuestring[0] == '\0')
			return fail(err, "invalid_field", path,
				    "header %.64s must have a non-empty string value",
				    name);
		if (has_control(m->valuestring) ||
		    strlen(m->valuestring) > HEADER_VALUE_MAX)
			return fail(err, "invalid_field", path,
				    "header %.64s value must be at most %d bytes without control characters",
				    name, HEADER_VALUE_MAX);
		sub->headers[sub->nheaders].name = xstrdup(name);
		sub->headers[sub->nheaders].value = xstrdup(m->valuestring);
		sub->nheaders++;
	}
	return 0;
}

static int
parse_settings(const cJSON *ps, struct subscription *sub,
	       struct herald_error *err)
{
	const cJSON *h;

	if (!cJSON_IsObject(ps))
		return fail(err, "invalid_field", "protocolsettings",
			    "protocolsettings must be an object");
	if (check_members(ps, settings_fields, "protocolsettings", err) < 0)
		return -1;
	if ((h = get(ps, "headers")) != NULL)
		return parse_headers(h, sub, err);
	return 0;
}

static int
parse_credential(const cJSON *c, struct subscription *sub,
		 struct herald_error *err)
{
	const char *f = "sinkcredential";
	const cJSON *v;
	const char *s;

	if (!cJSON_IsObject(c))
		return fail(err, "invalid_field", f, "%s must be an object", f);
	if (check_members(c, credential_fields, f, err) < 0)
		return -1;

	if ((v = get(c, "credential_type")) == NULL)
		return fail(err, "missing_field", "sinkcredential.credential_type",
			    "sinkcredential.credential_type is required");
	if (!cJSON_IsString(v) || strcmp(v->valuestring, "ACCESSTOKEN") != 0)
		return fail(err, "invalid_field", "sinkcredential.credential_type",
			    "sinkcredential.credential_type must be ACCESSTOKEN");

	if ((v = get(c, "access_token")) == NULL)
		return fail(err, "missing_field", "sinkcredential.access_token",
			    "sinkcredential.access_token is required");
	if (get_string(v, "sinkcredential.access_token", true, &s, err) < 0)
		return -1;
	if (has_control(s) || strlen(s) > TOKEN_MAX)
		return fail(err, "invalid_field", "sinkcredential.access_token",
			    "sinkcredential.access_token must be at most %d bytes without control characters",
			    TOKEN_MAX);

	/* accepted for compatibility with the Subscriptions API, not used */
	if ((v = get(c, "expiration_time")) != NULL &&
	    get_string(v, "sinkcredential.expiration_time", false, &s, err) < 0)
		return -1;
	if ((v = get(c, "refresh_token")) != NULL &&
	    get_string(v, "sinkcredential.refresh_token", false, &s, err) < 0)
		return -1;

	sub->access_token = xstrdup(get(c, "access_token")->valuestring);
	return 0;
}

static int
parse_types(const cJSON *t, struct subscription *sub, struct herald_error *err)
{
	char path[PATH_MAX_LEN];
	const cJSON *m;
	const char *s;
	int n;

	if (!cJSON_IsArray(t))
		return fail(err, "invalid_field", "types",
			    "types must be an array of strings");
	n = cJSON_GetArraySize(t);
	if (n > TYPES_MAX)
		return fail(err, "invalid_field", "types",
			    "types must have at most %d entries", TYPES_MAX);
	if (n == 0)
		return 0;
	sub->types = xcalloc((size_t)n, sizeof(*sub->types));
	cJSON_ArrayForEach(m, t) {
		snprintf(path, sizeof(path), "types[%zu]", sub->ntypes);
		if (get_string(m, path, true, &s, err) < 0)
			return -1;
		sub->types[sub->ntypes++] = xstrdup(s);
	}
	return 0;
}

static int
parse_config(const cJSON *c, struct subscription *sub,
	     struct herald_error *err)
{
	char path[PATH_MAX_LEN];
	const cJSON *m;
	const char *dup;

	if (!cJSON_IsObject(c))
		return fail(err, "invalid_field", "config",
			    "config must be an object of strings");
	if (cJSON_GetArraySize(c) > CONFIG_MAX)
		return fail(err, "invalid_field", "config",
			    "config must have at most %d entries", CONFIG_MAX);
	if ((dup = duplicate_key(c, false)) != NULL)
		return fail(err, "invalid_field",
			    join(path, sizeof(path), "config", dup),
			    "config key %.64s is given more than once", dup);
	cJSON_ArrayForEach(m, c) {
		if (!cJSON_IsString(m))
			return fail(err, "invalid_field",
				    join(path, sizeof(path), "config", m->string),
				    "config values must be strings");
	}
	sub->config = cJSON_Duplicate(c, true);
	return 0;
}

static int
parse_retry(const cJSON *r, struct sub_retry *rt, struct herald_error *err)
{
	const cJSON *v;
	bool max_given = false;

	if (!cJSON_IsObject(r))
		return fail(err, "invalid_field", "delivery.retry",
			    "delivery.retry must be an object");
	if (check_members(r, retry_fields, "delivery.retry", err) < 0)
		return -1;
	if ((v = get(r, "max_attempts")) != NULL &&
	    get_int(v, "delivery.retry.max_attempts", 1, 100, &rt->max_attempts,
		    err) < 0)
		return -1;
	if ((v = get(r, "initial_ms")) != NULL &&
	    get_long(v, "delivery.retry.initial_ms", 0, 86400000L,
		     &rt->initial_ms, err) < 0)
		return -1;
	if ((v = get(r, "multiplier")) != NULL &&
	    get_double(v, "delivery.retry.multiplier", 1.0, 10.0,
		       &rt->multiplier, err) < 0)
		return -1;
	if ((v = get(r, "max_ms")) != NULL) {
		if (get_long(v, "delivery.retry.max_ms", 0, 604800000L,
			     &rt->max_ms, err) < 0)
			return -1;
		max_given = true;
	}
	if ((v = get(r, "jitter")) != NULL &&
	    get_double(v, "delivery.retry.jitter", 0.0, 1.0, &rt->jitter,
		       err) < 0)
		return -1;

	if (rt->max_ms < rt->initial_ms) {
		if (max_given)
			return fail(err, "invalid_field", "delivery.retry.max_ms",
				    "delivery.retry.max_ms must not be less than delivery.retry.initial_ms");
		rt->max_ms = rt->initial_ms;
	}
	return 0;
}

static int
parse_delivery(const cJSON *d, struct sub_delivery *dl,
	       struct herald_error *err)
{
	const cJSON *v;
	bool burst_given = false;
	int i;

	if (!cJSON_IsObject(d))
		return fail(err, "invalid_field", "delivery",
			    "delivery must be an object");
	if (check_members(d, delivery_fields, "delivery", err) < 0)
		return -1;

	if ((v = get(d, "mode")) != NULL) {
		if (!cJSON_IsString(v) ||
		    (i = lookup(mode_names, 2, v->valuestring)) < 0)
			return fail(err, "invalid_field", "delivery.mode",
				    "delivery.mode must be binary or structured");
		dl->mode = (enum sub_mode)i;
	}
	if ((v = get(d, "ordering")) != NULL) {
		if (!cJSON_IsString(v) ||
		    (i = lookup(ordering_names, 4, v->valuestring)) < 0)
			return fail(err, "invalid_field", "delivery.ordering",
				    "delivery.ordering must be partitionkey, subject, none or global");
		dl->ordering = (enum sub_ordering)i;
	}
	if ((v = get(d, "rate")) != NULL &&
	    get_double(v, "delivery.rate", 0.0, 100000.0, &dl->rate, err) < 0)
		return -1;
	if ((v = get(d, "burst")) != NULL) {
		if (get_int(v, "delivery.burst", 1, 100000, &dl->burst, err) < 0)
			return -1;
		burst_given = true;
	}
	if ((v = get(d, "max_in_flight")) != NULL &&
	    get_int(v, "delivery.max_in_flight", 1, 1000, &dl->max_in_flight,
		    err) < 0)
		return -1;
	if ((v = get(d, "timeout_ms")) != NULL &&
	    get_long(v, "delivery.timeout_ms", 100, 120000, &dl->timeout_ms,
		     err) < 0)
		return -1;
	if ((v = get(d, "retry")) != NULL && parse_retry(v, &dl->retry, err) < 0)
		return -1;

	if (!burst_given)
		dl->burst = dl->rate > 1.0 ? (int)ceil(dl->rate) : 1;
	return 0;
}

static void
set_defaults(struct subscription *sub)
{
	struct sub_delivery *d = &sub->delivery;

	d->mode = SUB_MODE_BINARY;
	d->ordering = SUB_ORDER_PARTITIONKEY;
	d->rate = 0;
	d->burst = 1;
	d->max_in_flight = DEF_MAX_IN_FLIGHT;
	d->timeout_ms = DEF_TIMEOUT_MS;
	d->retry.max_attempts = DEF_MAX_ATTEMPTS;
	d->retry.initial_ms = DEF_INITIAL_MS;
	d->retry.multiplier = DEF_MULTIPLIER;
	d->retry.max_ms = DEF_MAX_MS;
	d->retry.jitter = DEF_JITTER;
	sub->status = SUB_ACTIVE;
}

/* A consumer group's members. */
static int
parse_sinks(const cJSON *v, struct subscription *sub, struct herald_error *err)
{
	char why[sizeof(err->message)], path[PATH_MAX_LEN];
	const cJSON *m;
	size_t n, i = 0;

	if (!cJSON_IsArray(v))
		return fail(err, "invalid_field", "sinks",
			    "sinks must be an array of URLs");
	n = (size_t)cJSON_GetArraySize(v);
	if (n < 1 || n > SINKGROUP_MAX)
		return fail(err, "invalid_field", "sinks",
			    "sinks must name 1 to %d URLs", SINKGROUP_MAX);
	sub->sinks = xcalloc(n, sizeof(*sub->sinks));
	sub->sink_hosts = xcalloc(n, sizeof(*sub->sink_hosts));
	cJSON_ArrayForEach(m, v) {
		struct sink_url url;

		snprintf(path, sizeof(path), "sinks[%zu]", i);
		if (!cJSON_IsString(m))
			return fail(err, "invalid_field", path,
				    "%s must be a string", path);
		if (sinkurl_parse(m->valuestring, &url, why, sizeof(why)) < 0)
			return fail(err, "invalid_field", path, "%s", why);
		sub->sinks[i] = url.url;
		sub->sink_hosts[i] = url.host;
		sub->nsinks = ++i;
		for (size_t k = 0; k + 1 < i; k++)
			if (strcmp(sub->sinks[k], url.url) == 0)
				return fail(err, "invalid_field", path,
					    "%s is sinks[%zu] again", path, k);
	}
	return 0;
}

static int
parse_body(const cJSON *body, struct subscription *sub,
	   struct herald_error *err)
{
	struct sink_url url;
	char why[sizeof(err->message)];
	const cJSON *v;
	const char *s;

	if (!cJSON_IsObject(body))
		return fail(err, "invalid_field", "",
			    "subscription must be a JSON object");
	if (check_members(body, top_fields, "", err) < 0)
		return -1;

	if ((v = get(body, "sink")) != NULL && get(body, "sinks") != NULL)
		return fail(err, "invalid_field", "sinks",
			    "sink and sinks are mutually exclusive: give one");
	if (v == NULL && (v = get(body, "sinks")) != NULL) {
		if (parse_sinks(v, sub, err) < 0)
			return -1;
	} else {
		if (v == NULL)
			return fail(err, "missing_field", "sink",
				    "sink (or sinks) is required");
		if (get_string(v, "sink", false, &s, err) < 0)
			return -1;
		if (sinkurl_parse(s, &url, why, sizeof(why)) < 0)
			return fail(err, "invalid_field", "sink", "%s", why);
		/* what libcurl will be given, and the host the guard judges */
		sub->sink = url.url;
		sub->sink_host = url.host;
	}

	if ((v = get(body, "protocol")) != NULL &&
	    (!cJSON_IsString(v) || strcmp(v->valuestring, "HTTP") != 0))
		return fail(err, "invalid_field", "protocol",
			    "protocol must be HTTP");
	if ((v = get(body, "protocolsettings")) != NULL &&
	    parse_settings(v, sub, err) < 0)
		return -1;
	if ((v = get(body, "sinkcredential")) != NULL &&
	    parse_credential(v, sub, err) < 0)
		return -1;
	if ((v = get(body, "source")) != NULL) {
		if (get_string(v, "source", true, &s, err) < 0)
			return -1;
		sub->source = xstrdup(s);
	}
	if ((v = get(body, "types")) != NULL && parse_types(v, sub, err) < 0)
		return -1;
	if ((v = get(body, "filters")) != NULL) {
		if (filter_compile(v, &sub->filter, err) < 0)
			return -1;
		if (cJSON_GetArraySize(v) > 0)
			sub->filters = cJSON_Duplicate(v, true);
	}
	if ((v = get(body, "config")) != NULL && parse_config(v, sub, err) < 0)
		return -1;
	if ((v = get(body, "delivery")) != NULL &&
	    parse_delivery(v, &sub->delivery, err) < 0)
		return -1;
	if ((v = get(body, "status")) != NULL &&
	    (!cJSON_IsString(v) || !sub_status_parse(v->valuestring, &sub->status)))
		return fail(err, "invalid_field", "status",
			    "status must be active, paused or disabled");
	return 0;
}

int
sub_parse(const cJSON *body, struct subscription *sub,
	  struct herald_error *err)
{
	memset(sub, 0, sizeof(*sub));
	set_defaults(sub);
	if (parse_body(body, sub, err) < 0) {
		sub_free(sub);
		memset(sub, 0, sizeof(*sub));
		return -1;
	}
	return 0;
}

cJSON *
sub_to_json(const struct subscription *sub, bool with_credential)
{
	const struct sub_delivery *d = &sub->delivery;
	cJSON *o, *a, *h, *r;
	size_t i;

	o = cJSON_CreateObject();
	if (sub->nsinks > 0) {
		a = cJSON_AddArrayToObject(o, "sinks");
		for (i = 0; i < sub->nsinks; i++)
			cJSON_AddItemToArray(a, cJSON_CreateString(sub->sinks[i]));
	} else {
		cJSON_AddStringToObject(o, "sink", sub->sink ? sub->sink : "");
	}
	cJSON_AddStringToObject(o, "protocol", "HTTP");
	if (sub->source != NULL)
		cJSON_AddStringToObject(o, "source", sub->source);
	if (sub->ntypes > 0) {
		a = cJSON_AddArrayToObject(o, "types");
		for (i = 0; i < sub->ntypes; i++)
			cJSON_AddItemToArray(a, cJSON_CreateString(sub->types[i]));
	}
	if (sub->filters != NULL) {
		/* numbers as written: data filters compare them exactly */
		a = cJSON_Duplicate(sub->filters, true);
		jsonexact_keep(a);
		cJSON_AddItemToObject(o, "filters", a);
	}
	if (sub->nheaders > 0) {
		h = cJSON_AddObjectToObject(cJSON_AddObjectToObject(o, "protocolsettings"),
					    "headers");
		for (i = 0; i < sub->nheaders; i++)
			cJSON_AddStringToObject(h, sub->headers[i].name,
						sub->headers[i].value);
	}
	if (sub->config != NULL)
		cJSON_AddItemToObject(o, "config",
				      cJSON_Duplicate(sub->config, true));
	if (with_credential && sub->access_token != NULL) {
		a = cJSON_AddObjectToObject(o, "sinkcredential");
		cJSON_AddStringToObject(a, "credential_type", "ACCESSTOKEN");
		cJSON_AddStringToObject(a, "access_token", sub->access_token);
	}

	a = cJSON_AddObjectToObject(o, "delivery");
	cJSON_AddStringToObject(a, "mode",
				d->mode == SUB_MODE_STRUCTURED ? "structured"
							       : "binary");
	cJSON_AddStringToObject(a, "ordering",
				(unsigned)d->ordering <= SUB_ORDER_GLOBAL
					? ordering_names[d->ordering]
					: "partitionkey");
	cJSON_AddNumberToObject(a, "rate", d->rate);
	cJSON_AddNumberToObject(a, "burst", d->burst);
	cJSON_AddNumberToObject(a, "max_in_flight", d->max_in_flight);
	cJSON_AddNumberToObject(a, "timeout_ms", (double)d->timeout_ms);
	r = cJSON_AddObjectToObject(a, "retry");
	cJSON_AddNumberToObject(r, "max_attempts", d->retry.max_attempts);
	cJSON_AddNumberToObject(r, "initial_ms", (double)d->retry.initial_ms);
	cJSON_AddNumberToObject(r, "multiplier", d->retry.multiplier);
	cJSON_AddNumberToObject(r, "max_ms", (double)d->retry.max_ms);
	cJSON_AddNumberToObject(r, "jitter", d->retry.jitter);

	cJSON_AddStringToObject(o, "status", sub_status_name(sub->status));
	return o;
}

static void
delete_all(cJSON *obj, const char *key)
{
	while (cJSON_GetObjectItemCaseSensitive(obj, key) != NULL)
		cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
}

static void
put(cJSON *obj, const char *key, cJSON *item)
{
	delete_all(obj, key);
	cJSON_AddItemToObject(obj, key, item);
}

/* RFC 7396 merge of patch into the object target. */
static void
merge_object(cJSON *target, const cJSON *patch)
{
	const cJSON *p;
	cJSON *t;

	cJSON_ArrayForEach(p, patch) {
		if (cJSON_IsNull(p)) {
			delete_all(target, p->string);
		} else if (cJSON_IsObject(p)) {
			t = cJSON_GetObjectItemCaseSensitive(target, p->string);
			if (!cJSON_IsObject(t)) {
				t = cJSON_CreateObject();
				put(target, p->string, t);
			}
			merge_object(t, p);
		} else {
			put(target, p->string, cJSON_Duplicate(p, true));
		}
	}
}

cJSON *
sub_merge_patch(const cJSON *current, const cJSON *patch,
		struct herald_error *err)
{
	const cJSON *p;
	cJSON *out, *t;

	if (!cJSON_IsObject(patch)) {
		fail(err, "invalid_field", "", "patch must be a JSON object");
		return NULL;
	}
	if (get(patch, "sink") != NULL && get(patch, "sinks") != NULL) {
		fail(err, "invalid_field", "sinks",
		     "sink and sinks are mutually exclusive: give one");
		return NULL;
	}
	out = cJSON_IsObject(current) ? cJSON_Duplicate(current, true)
				      : cJSON_CreateObject();
	cJSON_ArrayForEach(p, patch) {
		/* one sink or a group: giving either replaces the other */
		if (!cJSON_IsNull(p) && strcmp(p->string, "sink") == 0)
			delete_all(out, "sinks");
		else if (!cJSON_IsNull(p) && strcmp(p->string, "sinks") == 0)
			delete_all(out, "sink");
		if (cJSON_IsNull(p)) {
			delete_all(out, p->string);
		} else if (strcmp(p->string, "delivery") == 0 &&
			   cJSON_IsObject(p)) {
			t = cJSON_GetObjectItemCaseSensitive(out, "delivery");
			if (!cJSON_IsObject(t)) {
				t = cJSON_CreateObject();
				put(out, "delivery", t);
			}
			merge_object(t, p);
		} else {
			put(out, p->string, cJSON_Duplicate(p, true));
		}
	}
	return out;
}

bool
sub_matches(const struct subscription *sub, const struct cloudevent *ev,
	    struct datafilter_view *view)
{
	size_t i;

	if (sub->source != NULL &&
	    (ev->source == NULL || strcmp(sub->source, ev->source) != 0))
		return false;
	if (sub->ntypes > 0) {
		if (ev->type == NULL)
			return false;
		for (i = 0; i < sub->ntypes; i++)
			if (strcmp(sub->types[i], ev->type) == 0)
				break;
		if (i == sub->ntypes)
			return false;
	}
	return filter_match(sub->filter, ev, view);
}

const char *
sub_ordering_key(const struct subscription *sub, const struct cloudevent *ev)
{
	switch (sub->delivery.ordering) {
	case SUB_ORDER_PARTITIONKEY:
		return ev->partitionkey;
	case SUB_ORDER_SUBJECT:
		return ev->subject;
	case SUB_ORDER_GLOBAL:
		return "";
	case SUB_ORDER_NONE:
	default:
		return NULL;
	}
}

const char *
sub_status_name(enum sub_status s)
{
	switch (s) {
	case SUB_ACTIVE:
		return "active";
	case SUB_PAUSED:
		return "paused";
	case SUB_DISABLED:
		return "disabled";
	}
	return "unknown";
}

bool
sub_status_parse(const char *s, enum sub_status *out)
{
	if (s == NULL)
		return false;
	if (strcmp(s, "active") == 0)
		*out = SUB_ACTIVE;
	else if (strcmp(s, "paused") == 0)
		*out = SUB_PAUSED;
	else if (strcmp(s, "disabled") == 0)
		*out = SUB_DISABLED;
	else
		return false;
	return true;
}

void
sub_free(struct subscription *sub)
{
	size_t i;

	if (sub == NULL)
		return;
	free(sub->sink);
	free(sub->sink_host);
	for (i = 0; i < sub->nsinks; i++) {
		free(sub->sinks[i]);
		free(sub->sink_hosts[i]);
	}
	free(sub->sinks);
	free(sub->sink_hosts);
	free(sub->source);
	for (i = 0; i < sub->ntypes; i++)
		free(sub->types[i]);
	free(sub->types);
	cJSON_Delete(sub->filters);
	filter_free(sub->filter);
	for (i = 0; i < sub->nheaders; i++) {
		free(sub->headers[i].name);
		free(sub->headers[i].value);
	}
	free(sub->headers);
	free(sub->access_token);
	cJSON_Delete(sub->config);
	sub->sink = NULL;
	sub->sink_host = NULL;
	sub->sinks = NULL;
	sub->sink_hosts = NULL;
	sub->nsinks = 0;
	sub->source = NULL;
	sub->types = NULL;
	sub->ntypes = 0;
	sub->filters = NULL;
	sub->filter = NULL;
	sub->headers = NULL;
	sub->nheaders = 0;
	sub->access_token = NULL;
	sub->config = NULL;
}
