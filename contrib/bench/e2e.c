/*
 * e2e: the benchmark's publisher.  Two modes, both with one keep-alive
 * libcurl easy handle per thread (one thread per connection):
 *
 * paced:  e2e --url U [--key K] --rate R --duration S [--conns N]
 *             [--type T] [--prefix P] [--direct]
 *   Sends R events per second for S seconds, as structured CloudEvents of
 *   about 1 KiB, each at its place in an absolute schedule (event k at
 *   t0 + k/R; thread i sends k = i, i+N, i+2N, ... and sleeps with
 *   clock_nanosleep until then).  Each event carries its send time as
 *   the extension `sentns` (CLOCK_REALTIME ns at the start of the POST).
 *   A request that cannot start on time (its thread still waits for the
 *   previous answer) is stamped with its scheduled time, so a stall shows
 *   in the latencies instead of being hidden.  --direct posts to a plain
 *   receiver: the stamp also goes in a `ce-sentns` header, as herald's
 *   binary mode would send it.
 *
 * load:   e2e --url U [--key K] --count N --batch B [--conns C] [--type T]
 *             [--duration S]
 *   Publishes N events in batches of B (application/cloudevents-batch+json)
 *   as fast as the server takes them; with --duration, starts no batch
 *   after S seconds (the line printed says how many were published).
 *
 * Prints one line of key=value results (counts, rate, and for paced mode
 * the publish round-trip percentiles in microseconds).  Exits 1 when a
 * request failed.
 *
 * Built by contrib/bench/run.sh:
 *   gcc -O2 -o e2e e2e.c -lcurl -lpthread
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#define EVENT_BYTES 1024 /* the size of one event, roughly */

static const char *url, *key = "", *type = "bench.e2e", *prefix = "e2e";
static double rate;
static double duration;
static long conns = 16, count, batch = 100;
static bool direct;

static int64_t t0_mono, t0_real, period_ns, total;
static atomic_long next_batch, sent_events, failures, late;

struct worker {
	pthread_t tid;
	int idx;
	int64_t *rtt; /* paced: publish round trips, ns */
	size_t nrtt;
};

static int64_t
clock_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static size_t
discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

/* One event into buf; stamp < 0: none.  Returns its length. */
static int
render(char *buf, size_t cap, int th, long n, int64_t stamp)
{
	char ext[48] = "", head[640];
	int len, pad;

	if (stamp >= 0)
		snprintf(ext, sizeof(ext), ",\"sentns\":\"%" PRId64 "\"", stamp);
	len = snprintf(head, sizeof(head),
		       "{\"specversion\":\"1.0\",\"type\":\"%s\","
		       "\"source\":\"/bench/publisher\",\"id\":\"%s-%d-%ld\","
		       "\"time\":\"2024-05-01T12:00:00Z\",\"subject\":\"order/%ld\","
		       "\"datacontenttype\":\"application/json\","
		       "\"tenant\":\"acme\",\"region\":\"eu-west-1\"%s,"
		       "\"data\":{\"order\":%ld,\"customer\":\"c-%ld\","
		       "\"currency\":\"EUR\",\"total\":4217,\"note\":\"",
		       type, prefix, th, n, n, ext, n, n % 1000);
	pad = EVENT_BYTES - len - 3;
	if (pad < 0)
		pad = 0;
	if ((size_t)(len + pad + 4) > cap)
		return -1;
	memcpy(buf, head, (size_t)len);
	memset(buf + len, 'x', (size_t)pad);
	memcpy(buf + len + pad, "\"}}", 4);
	return len + pad + 3;
}

static CURL *
new_handle(struct curl_slist **hdrs, const char *ctype)
{
	CURL *h = curl_easy_init();
	char auth[512];

	*hdrs = curl_slist_append(NULL, ctype);
	*hdrs = curl_slist_append(*hdrs, "Expect:");
	if (key[0] != '\0') {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
		*hdrs = curl_slist_append(*hdrs, auth);
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, *hdrs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
	return h;
}

static bool
post(CURL *h, const char *body, size_t len)
{
	long code = 0;

	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)len);
	if (curl_easy_perform(h) != CURLE_OK)
		return false;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	return code >= 200 && code < 300;
}

static void *
paced(void *arg)
{
	struct worker *w = arg;
	struct curl_slist *hdrs;
	CURL *h = new_handle(&hdrs, "Content-Type: application/cloudevents+json");
	struct curl_slist *stamped = NULL;
	char body[EVENT_BYTES + 512];

	w->rtt = calloc((size_t)(total / conns + 2), sizeof(*w->rtt));
	for (int64_t k = w->idx; k < total; k += conns) {
		int64_t due = t0_mono + k * period_ns, now, stamp;
		struct timespec ts = {due / 1000000000, due % 1000000000};
		int len;

		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
		now = clock_ns(CLOCK_MONOTONIC);
		if (now - due > 1000000) { /* more than 1 ms behind */
			atomic_fetch_add(&late, 1);
			stamp = t0_real + (due - t0_mono);
		} else {
			stamp = clock_ns(CLOCK_REALTIME);
		}
		len = render(body, sizeof(body), w->idx, (long)k, stamp);
		if (direct) {
			char line[64];

			curl_slist_free_all(stamped);
			stamped = curl_slist_append(NULL, "Content-Type: application/json");
			stamped = curl_slist_append(stamped, "Expect:");
			snprintf(line, sizeof(line), "ce-sentns: %" PRId64, stamp);
			stamped = curl_slist_append(stamped, line);
			curl_easy_setopt(h, CURLOPT_HTTPHEADER, stamped);
		}
		if (!post(h, body, (size_t)len))
			atomic_fetch_add(&failures, 1);
		else
			atomic_fetch_add(&sent_events, 1);
		w->rtt[w->nrtt++] = clock_ns(CLOCK_REALTIME) - stamp;
	}
	curl_easy_cleanup(h);
	curl_slist_free_all(hdrs);
	curl_slist_free_all(stamped);
	return NULL;
}

static void *
load(void *arg)
{
	struct worker *w = arg;
	struct curl_slist *hdrs;
	CURL *h = new_handle(&hdrs,
			     "Content-Type: application/cloudevents-batch+json");
	size_t cap = (size_t)batch * (EVENT_BYTES + 256) + 16;
	char *body = malloc(cap);
	long nbatches = (count + batch - 1) / batch, b;

	int64_t stop = duration > 0 ? t0_mono + (int64_t)(duration * 1e9) : INT64_MAX;

	while (clock_ns(CLOCK_MONOTONIC) < stop &&
	       (b = atomic_fetch_add(&next_batch, 1)) < nbatches) {
		long first = b * batch, n = count - first < batch ? count - first : batch;
		size_t len = 0;

		body[len++] = '[';
		for (long i = 0; i < n; i++) {
			if (i > 0)
				body[len++] = ',';
			len += (size_t)render(body + len, cap - len, w->idx,
					      first + i, -1);
		}
		body[len++] = ']';
		if (post(h, body, len))
			atomic_fetch_add(&sent_events, n);
		else
			atomic_fetch_add(&failures, 1);
	}
	free(body);
	curl_easy_cleanup(h);
	curl_slist_free_all(hdrs);
	return NULL;
}

static int
cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static void
usage(void)
{
	fprintf(stderr,
		"usage: e2e --url U [--key K] (--rate R --duration S | --count N"
		" [--batch B]) [--conns N] [--type T] [--prefix P] [--direct]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct worker *ws;
	int64_t start, elapsed;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--direct") == 0) {
			direct = true;
			continue;
		}
		if (i + 1 >= argc)
			usage();
		if (strcmp(a, "--url") == 0)
			url = argv[++i];
		else if (strcmp(a, "--key") == 0)
			key = argv[++i];
		else if (strcmp(a, "--rate") == 0)
			rate = atof(argv[++i]);
		else if (strcmp(a, "--duration") == 0)
			duration = atof(argv[++i]);
		else if (strcmp(a, "--conns") == 0)
			conns = atol(argv[++i]);
		else if (strcmp(a, "--count") == 0)
			count = atol(argv[++i]);
		else if (strcmp(a, "--batch") == 0)
			batch = atol(argv[++i]);
		else if (strcmp(a, "--type") == 0)
			type = argv[++i];
		else if (strcmp(a, "--prefix") == 0)
			prefix = argv[++i];
		else
			usage();
	}
	if (url == NULL || conns < 1 || batch < 1 ||
	    (count <= 0 && (rate <= 0 || duration <= 0)))
		usage();
	curl_global_init(CURL_GLOBAL_DEFAULT);
	ws = calloc((size_t)conns, sizeof(*ws));
	if (count <= 0) {
		total = (int64_t)(rate * duration + 0.5);
		period_ns = (int64_t)(1e9 / rate);
	}
	/* start a little later, so every thread is ready for event 0 */
	t0_mono = clock_ns(CLOCK_MONOTONIC) + 100000000;
	t0_real = clock_ns(CLOCK_REALTIME) + 100000000;
	start = clock_ns(CLOCK_MONOTONIC);
	for (long i = 0; i < conns; i++) {
		ws[i].idx = (int)i;
		pthread_create(&ws[i].tid, NULL, count > 0 ? load : paced, &ws[i]);
	}
	for (long i = 0; i < conns; i++)
		pthread_join(ws[i].tid, NULL);
	elapsed = clock_ns(CLOCK_MONOTONIC) - start;
	if (count > 0) {
		printf("mode=load events=%ld failures=%ld seconds=%.3f events_per_s=%.1f\n",
		       atomic_load(&sent_events), atomic_load(&failures),
		       elapsed / 1e9, atomic_load(&sent_events) / (elapsed / 1e9));
	} else {
		size_t n = 0, k = 0;
		int64_t *all;

		for (long i = 0; i < conns; i++)
			n += ws[i].nrtt;
		all = calloc(n ? n : 1, sizeof(*all));
		for (long i = 0; i < conns; i++) {
			memcpy(all + k, ws[i].rtt, ws[i].nrtt * sizeof(*all));
			k += ws[i].nrtt;
		}
		qsort(all, n, sizeof(*all), cmp64);
#define PCT(p) (n ? all[(size_t)((double)(n - 1) * (p))] / 1000 : 0)
		printf("mode=paced events=%ld failures=%ld late=%ld seconds=%.3f"
		       " events_per_s=%.1f publish_p50_us=%" PRId64
		       " publish_p99_us=%" PRId64 " publish_p999_us=%" PRId64 "\n",
		       atomic_load(&sent_events), atomic_load(&failures),
		       atomic_load(&late), elapsed / 1e9,
		       atomic_load(&sent_events) / (elapsed / 1e9), PCT(0.50),
		       PCT(0.99), PCT(0.999));
		free(all);
	}
	for (long i = 0; i < conns; i++)
		free(ws[i].rtt);
	free(ws);
	curl_global_cleanup();
	return atomic_load(&failures) > 0 ? 1 : 0;
}
