/* The dispatcher's transfers: one attempt's HTTP request with libcurl, from its options to its verdict. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "dispatch_core.h"
#include "log.h"
#include "metrics.h"
#include "monotime.h"
#include "ratelimit.h"
#include "sinkaddr.h"
#include "subhealth.h"
#include "subscription.h"
#include "xalloc.h"

#define RESPONSE_HEAD 1024 /* bytes of a response body kept per attempt */

/* --- libcurl's callbacks --- */

static size_t
on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct job *j = userdata;
	size_t n = size * nmemb, room = RESPONSE_HEAD - j->head_len;

	if (room > 0) {
		size_t take = n < room ? n : room;

		if (j->head == NULL)
			j->head = xmalloc(RESPONSE_HEAD + 1);
		memcpy(j->head + j->head_len, ptr, take);
		j->head_len += take;
		j->head[j->head_len] = '\0';
	}
	return n;
}

static size_t
on_header(char *buf, size_t size, size_t nitems, void *userdata)
{
	struct job *j = userdata;
	size_t n = size * nitems;

	if (n > 12 && strncasecmp(buf, "retry-after:", 12) == 0) {
		size_t vlen = n - 12;

		while (vlen > 0 && (buf[12 + vlen - 1] == '\r' ||
				    buf[12 + vlen - 1] == '\n'))
			vlen--;
		if (vlen >= sizeof(j->retry_after))
			vlen = sizeof(j->retry_after) - 1;
		memcpy(j->retry_after, buf + 12, vlen);
		j->retry_after[vlen] = '\0';
	}
	return n;
}

/* The connect-time SSRF check: refuse a socket to a private address,
 * whatever the name resolved to this time. */
static curl_socket_t
on_open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *addr)
{
	struct job *j = clientp;
	enum sinkaddr_class c;

	(void)purpose;
	c = sinkaddr_classify(&addr->addr);
	if (!sinkaddr_is_allowed(c)) {
		char text[INET6_ADDRSTRLEN] = "?";

		if (addr->family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)&addr->addr)->sin_addr,
				  text, sizeof(text));
		else if (addr->family == AF_INET6)
			inet_ntop(AF_INET6,
				  &((struct sockaddr_in6 *)&addr->addr)->sin6_addr,
				  text, sizeof(text));
		snprintf(j->refused, sizeof(j->refused),
			 "refused to connect to %s address %s",
			 sinkaddr_class_name(c), text);
		j->blocked = true;
		return CURL_SOCKET_BAD;
	}
	return socket(addr->family, addr->socktype, addr->protocol);
}

#if LIBCURL_VERSION_NUM >= 0x075000
/* libcurl resends a request by itself when a reused connection dies
 * before any answer.  That would be an attempt nobody logged, sent
 * without backoff and outside the rate limit: stop it, and let the
 * failure be retried like any other. */
static int
on_prereq(void *clientp, char *primary_ip, char *local_ip, int primary_port,
	  int local_port)
{
	struct job *j = clientp;

	(void)primary_ip;
	(void)local_ip;
	(void)primary_port;
	(void)local_port;
	if (++j->sends > 1) {
		snprintf(j->refused, sizeof(j->refused),
			 "connection closed before a response");
		return CURL_PREREQFUNC_ABORT;
	}
	return CURL_PREREQFUNC_OK;
}
#endif

/* --- an attempt --- */

/* How a transfer without an answer failed, for the attempt's metric. */
static enum metrics_transport
transport_kind(const struct job *j, CURLcode result)
{
	if (j->blocked)
		return METRICS_T_SSRF;
	switch (result) {
	case CURLE_OPERATION_TIMEDOUT:
		return METRICS_T_TIMEOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
		return METRICS_T_CONNECT;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_SHUTDOWN_FAILED:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
		return METRICS_T_TLS;
	default:
		return METRICS_T_OTHER;
	}
}

/* A 2xx: the delivery's end-to-end latency, from its event's commit
 * (received_at, by PostgreSQL's clock) to now (by ours).  Only its first:
 * not when a retry or replay sends a delivered one again, nor for an
 * event older than its subscription, which only a replay delivers. */
static void
count_end_to_end(const struct job *j)
{
	struct timespec ts;
	int64_t now_ms;

	if (j->succeeded_before || j->received_ms < j->sub->created_ms)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	metrics_end_to_end((double)(now_ms - j->received_ms) / 1e3);
}

static double
wall_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The attempt is over (status 0: no answer, for the reason given, of
 * the kind given): judge it and hand the job over to be written back. */
static void
finish(struct dispatch *d, struct job *j, long status, const char *transport,
       enum metrics_transport kind)
{
	int64_t took_us = monotime_us() - j->started_us;
	enum metrics_outcome outcome;
	struct ratelimit *rl;

	j->status = status;
	j->latency_ms = (int)(took_us / 1000);
	delivery_judge(&j->sub->sub.delivery.retry, j->attempts, status,
		       transport, j->retry_after[0] ? j->retry_after : NULL,
		       time(NULL), dispatch_uniform(d), &j->verdict);
	outcome = metrics_outcome_of(status, kind, j->verdict.block_ms > 0);
	metrics_attempt(outcome, (double)took_us / 1e6);
	metrics_subscription_attempt(j->sub->id, outcome);
	subhealth_attempt(j->sub->id, outcome, status, wall_seconds());
	if (outcome == METRICS_SUCCESS)
		count_end_to_end(j);
	if (j->verdict.block_ms > 0 && (rl = jobs_limiter(j)) != NULL)
		ratelimit_block_until(rl, monotime_us() +
					  (int64_t)j->verdict.block_ms * 1000);
	j->attempted = true;
	jobs_move(d, j, JOB_FINISHED);
}

/* A group's member after an attempt sent to it (answered or not): its
 * health, which may take it out of the rotation or put it back. */
static void
member_outcome(struct dispatch *d, struct job *j, long status,
	       enum metrics_transport kind)
{
	struct dmember *m = jobs_member(j->sub, j->sink);
	struct sinkgroup_policy p = {
		(int)d->cfg->group_max_failures,
		(int64_t)d->cfg->group_refused_seconds * 1000000,
		PROBE_MIN_MS, PROBE_MAX_MS};
	enum sinkgroup_outcome o;

	if (m == NULL)
		return; /* not a group, or no longer a member */
	if (status >= 200 && status <= 299)
		o = SINKGROUP_OK;
	else if (j->verdict.block_ms > 0)
		o = SINKGROUP_BUSY;
	else if (status == 0 && kind == METRICS_T_CONNECT)
		o = SINKGROUP_REFUSED;
	else
		o = SINKGROUP_FAILED;
	if (sinkgroup_record(&m->health, &p, o, j->probe, monotime_us()))
		log_with(LOG_INFO, &(struct log_ids){.subscription = j->sub->id,
						     .seq = j->seq},
			 m->health.out ?
			 "dispatch: group member %s is out of rotation after %d failed attempts" :
			 "dispatch: group member %s is back in rotation",
			 m->url, m->health.failures);
}

/* A probe that never went out: the member may be probed again. */
static void
probe_unsent(struct job *j)
{
	struct dmember *m;

	if (j->probe && (m = jobs_member(j->sub, j->sink)) != NULL)
		m->health.probing = false;
}

/* The request's options; libcurl keeps none from a handle's last use
 * that this does not set again. */
static void
set_options(struct dispatch *d, CURL *e, struct job *j)
{
	const struct subscription *sub = &j->sub->sub;

	curl_easy_setopt(e, CURLOPT_URL, j->sink ? j->sink : sub->sink);
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, j->req.body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)j->req.body_len);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, j->hdrs);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, sub->delivery.timeout_ms);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_PROXY, "");
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(e, CURLOPT_PROTOCOLS, CURLPROTO_HTTP | CURLPROTO_HTTPS);
#endif
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, j);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, j);
	curl_easy_setopt(e, CURLOPT_PRIVATE, j);
#if LIBCURL_VERSION_NUM >= 0x075000
	curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, on_prereq);
	curl_easy_setopt(e, CURLOPT_PREREQDATA, j);
#endif
	if (!d->cfg->allow_private_sinks) {
		curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
		curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, j);
	}
}

/* Read the stored event back and build the signed request; NULL, or why
 * it cannot be done. */
static const char *
build_request(struct job *j)
{
	struct dsub *s = j->sub;
	const char *secrets[2];
	size_t nsecrets = 0;
	struct cloudevent ev;
	int built;

	secrets[nsecrets++] = s->secret;
	if (s->prev_secret)
		secrets[nsecrets++] = s->prev_secret;
	if (ce_from_stored(j->attrs, j->data, j->data_len, j->data_kind, &ev) != 0) {
		log_with(LOG_ERROR, &(struct log_ids){.subscription = s->id,
						      .seq = j->seq},
			 "dispatch: the stored event cannot be read back");
		return "the stored event is damaged";
	}
	built = webhook_build(&s->sub, secrets, nsecrets, &ev, j->seq,
			      (long long)j->started_wall, &j->req);
	ce_free(&ev);
	if (built != 0)
		return "cannot sign: malformed secret";
	/* the request holds all of it now */
	free(j->attrs);
	free(j->data);
	j->attrs = NULL;
	j->data = NULL;
	for (size_t i = 0; i < j->req.nheaders; i++)
		j->hdrs = curl_slist_append(j->hdrs, j->req.headers[i]);
	return NULL;
}

bool
transfer_start(struct dispatch *d, struct job *j)
{
	const char *why;
	struct timespec ts;
	CURL *e;

	clock_gettime(CLOCK_REALTIME, &ts);
	j->started_wall = ts.tv_sec;
	j->started_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	j->started_us = monotime_us();
	if ((why = build_request(j)) != NULL)
		goto failed;
	e = d->nspare > 0 ? d->spare[--d->nspare] : curl_easy_init();
	if (e == NULL) {
		why = "out of transfer handles";
		goto failed;
	}
	set_options(d, e, j);
	if (curl_multi_add_handle(d->multi, e) != CURLM_OK) {
		curl_easy_cleanup(e);
		why = "cannot start the transfer";
		goto failed;
	}
	j->easy = e;
	jobs_move(d, j, JOB_IN_FLIGHT);
	return true;
failed:
	probe_unsent(j);
	finish(d, j, 0, why, METRICS_T_OTHER);
	return false;
}

void
transfer_abort(struct dispatch *d, struct job *j)
{
	struct ratelimit *rl;

	curl_multi_remove_handle(d->multi, j->easy);
	curl_easy_cleanup(j->easy);
	j->easy = NULL;
	if ((rl = jobs_limiter(j)) != NULL)
		ratelimit_release(rl);
	probe_unsent(j);
}

void
transfer_reap(struct dispatch *d)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(d->multi, &left)) != NULL) {
		struct job *j = NULL;
		long status = 0;
		CURL *e = m->easy_handle;
		CURLcode result = m->data.result;
		enum metrics_transport kind;
		struct ratelimit *rl;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&j);
		if (result == CURLE_OK)
			curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
		curl_multi_remove_handle(d->multi, e);
		/* every option is set again for the next transfer */
		if (d->nspare < SPARE_EASY)
			d->spare[d->nspare++] = e;
		else
			curl_easy_cleanup(e);
		j->easy = NULL;
		if ((rl = jobs_limiter(j)) != NULL)
			ratelimit_release(rl);
		kind = result == CURLE_OK ? METRICS_T_NONE : transport_kind(j, result);
		if (result == CURLE_OK)
			finish(d, j, status, NULL, kind);
		else
			finish(d, j, 0, j->refused[0] ? j->refused :
					curl_easy_strerror(result), kind);
		member_outcome(d, j, status, kind);
	}
}

void
transfer_free_spares(struct dispatch *d)
{
	while (d->nspare > 0)
		curl_easy_cleanup(d->spare[--d->nspare]);
}
