/* Counters, gauges and histograms of what herald does, and their Prometheus text exposition. */
#include "metrics.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

#ifndef PACKAGE_VERSION
#error "PACKAGE_VERSION must come from the build (autoconf config.h)"
#endif

/* Upper bounds, in seconds, of the latency buckets (+Inf is implied). */
static const double seconds_le[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
				    0.1,   0.25,   0.5,   1,    2.5,   5,
				    10,    30};
#define NSECONDS (sizeof(seconds_le) / sizeof(seconds_le[0]))

/* ... and of the writer's batch sizes, in events. */
static const double batch_le[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512};
#define NBATCH (sizeof(batch_le) / sizeof(batch_le[0]))

#define MAX_BUCKETS NSECONDS

struct histogram {
	const double *le;
	size_t nle;
	atomic_ulong bucket[MAX_BUCKETS + 1]; /* not cumulative; last: +Inf */
	atomic_ullong sum_micro; /* the sum, in millionths of the unit */
};

static const char *const ingest_names[] = {
	[METRICS_ACCEPTED] = "accepted",
	[METRICS_DUPLICATE] = "duplicate",
	[METRICS_REJECTED] = "rejected",
};
#define NINGEST (sizeof(ingest_names) / sizeof(ingest_names[0]))

static const char *const outcome_names[] = {
	[METRICS_SUCCESS] = "success",
	[METRICS_HTTP_4XX] = "http_4xx",
	[METRICS_HTTP_5XX] = "http_5xx",
	[METRICS_HTTP_OTHER] = "http_other",
	[METRICS_RETRY_AFTER] = "retry_after",
	[METRICS_TIMEOUT] = "timeout",
	[METRICS_CONNECT] = "connect",
	[METRICS_TLS] = "tls",
	[METRICS_SSRF_BLOCKED] = "ssrf_blocked",
	[METRICS_ERROR] = "error",
};
#define NOUTCOMES (sizeof(outcome_names) / sizeof(outcome_names[0]))

static atomic_ulong ingested[NINGEST];
static struct histogram ingest_duration = {.le = seconds_le, .nle = NSECONDS};
static struct histogram writer_batch = {.le = batch_le, .nle = NBATCH};
static atomic_ulong attempts[NOUTCOMES];
static struct histogram delivery_duration = {.le = seconds_le, .nle = NSECONDS};
static atomic_ulong deliveries_failed;
static atomic_long inflight;
static atomic_long partitions;

enum metrics_outcome
metrics_outcome_of(long status, enum metrics_transport t, bool deferred)
{
	switch (t) {
	case METRICS_T_NONE:
		break;
	case METRICS_T_TIMEOUT:
		return METRICS_TIMEOUT;
	case METRICS_T_CONNECT:
		return METRICS_CONNECT;
	case METRICS_T_TLS:
		return METRICS_TLS;
	case METRICS_T_SSRF:
		return METRICS_SSRF_BLOCKED;
	case METRICS_T_OTHER:
		return METRICS_ERROR;
	}
	if (status >= 200 && status <= 299)
		return METRICS_SUCCESS;
	if (deferred)
		return METRICS_RETRY_AFTER;
	if (status >= 400 && status <= 499)
		return METRICS_HTTP_4XX;
	if (status >= 500 && status <= 599)
		return METRICS_HTTP_5XX;
	return status > 0 ? METRICS_HTTP_OTHER : METRICS_ERROR;
}

static void
observe(struct histogram *h, double v)
{
	size_t i = 0;

	if (!(v >= 0)) /* NaN or negative: a clock step */
		v = 0;
	while (i < h->nle && v > h->le[i])
		i++;
	atomic_fetch_add_explicit(&h->bucket[i], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&h->sum_micro,
				  (unsigned long long)(v * 1e6 + 0.5),
				  memory_order_relaxed);
}

void
metrics_ingested(enum metrics_ingest result, unsigned long n)
{
	if ((size_t)result < NINGEST)
		atomic_fetch_add_explicit(&ingested[result], n,
					  memory_order_relaxed);
}

void
metrics_ingest_duration(double seconds)
{
	observe(&ingest_duration, seconds);
}

void
metrics_writer_batch(unsigned long events)
{
	observe(&writer_batch, (double)events);
}

void
metrics_attempt(enum metrics_outcome o, double seconds)
{
	if ((size_t)o < NOUTCOMES)
		atomic_fetch_add_explicit(&attempts[o], 1, memory_order_relaxed);
	observe(&delivery_duration, seconds);
}

void
metrics_delivery_failed(void)
{
	atomic_fetch_add_explicit(&deliveries_failed, 1, memory_order_relaxed);
}

void
metrics_inflight_add(long delta)
{
	atomic_fetch_add_explicit(&inflight, delta, memory_order_relaxed);
}

void
metrics_partitions_owned(long n)
{
	atomic_store_explicit(&partitions, n, memory_order_relaxed);
}

/* --- the exposition --- */

struct text {
	char *buf;
	size_t len, cap;
};

static void __attribute__((format(printf, 2, 3)))
put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < t->cap - t->len)
			break;
		t->cap = t->cap * 2 + (n > 0 ? (size_t)n : 0);
		t->buf = xrealloc(t->buf, t->cap);
	}
	t->len += (size_t)n;
}

static void
head(struct text *t, const char *name, const char *type, const char *help)
{
	put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
put_histogram(struct text *t, const char *name, const char *help,
	      struct histogram *h)
{
	unsigned long cum = 0;

	head(t, name, "histogram", help);
	for (size_t i = 0; i <= h->nle; i++) {
		cum += atomic_load_explicit(&h->bucket[i], memory_order_relaxed);
		if (i < h->nle)
			put(t, "%s_bucket{le=\"%g\"} %lu\n", name, h->le[i], cum);
		else
			put(t, "%s_bucket{le=\"+Inf\"} %lu\n", name, cum);
	}
	/* the count is the +Inf bucket, so the two always agree */
	put(t, "%s_sum %.6f\n", name,
	    (double)atomic_load_explicit(&h->sum_micro, memory_order_relaxed) /
	    1e6);
	put(t, "%s_count %lu\n", name, cum);
}

char *
metrics_render(void)
{
	struct text t = {xmalloc(4096), 0, 4096};

	t.buf[0] = '\0';
	head(&t, "herald_build_info", "gauge", "herald's version (always 1).");
	put(&t, "herald_build_info{version=\"%s\"} 1\n", PACKAGE_VERSION);

	head(&t, "herald_events_ingested_total", "counter",
	     "Events published: accepted (new), duplicate (already stored), "
	     "rejected (refused requests, one per request).");
	for (size_t i = 0; i < NINGEST; i++)
		put(&t, "herald_events_ingested_total{result=\"%s\"} %lu\n",
		    ingest_names[i],
		    atomic_load_explicit(&ingested[i], memory_order_relaxed));
	put_histogram(&t, "herald_ingest_duration_seconds",
		      "From a publish request's arrival to its answer (commit "
		      "or refusal).", &ingest_duration);
	put_histogram(&t, "herald_writer_batch_events",
		      "Events committed per writer transaction.", &writer_batch);

	head(&t, "herald_delivery_attempts_total", "counter",
	     "Attempts to deliver, by outcome.");
	for (size_t i = 0; i < NOUTCOMES; i++)
		put(&t, "herald_delivery_attempts_total{outcome=\"%s\"} %lu\n",
		    outcome_names[i],
		    atomic_load_explicit(&attempts[i], memory_order_relaxed));
	put_histogram(&t, "herald_delivery_duration_seconds",
		      "The HTTP exchange of an attempt.", &delivery_duration);
	head(&t, "herald_deliveries_failed_total", "counter",
	     "Deliveries given up after their last attempt.");
	put(&t, "herald_deliveries_failed_total %lu\n",
	    atomic_load_explicit(&deliveries_failed, memory_order_relaxed));

	head(&t, "herald_inflight_requests", "gauge",
	     "Requests to sinks in flight from this instance.");
	put(&t, "herald_inflight_requests %ld\n",
	    atomic_load_explicit(&inflight, memory_order_relaxed));
	head(&t, "herald_partitions_owned", "gauge",
	     "Dispatch partitions this instance owns.");
	put(&t, "herald_partitions_owned %ld\n",
	    atomic_load_explicit(&partitions, memory_order_relaxed));
	return t.buf;
}

static void
histogram_reset(struct histogram *h)
{
	for (size_t i = 0; i <= MAX_BUCKETS; i++)
		atomic_store(&h->bucket[i], 0);
	atomic_store(&h->sum_micro, 0);
}

void
metrics_reset(void)
{
	for (size_t i = 0; i < NINGEST; i++)
		atomic_store(&ingested[i], 0);
	for (size_t i = 0; i < NOUTCOMES; i++)
		atomic_store(&attempts[i], 0);
	histogram_reset(&ingest_duration);
	histogram_reset(&writer_batch);
	histogram_reset(&delivery_duration);
	atomic_store(&deliveries_failed, 0);
	atomic_store(&inflight, 0);
	atomic_store(&partitions, 0);
}
