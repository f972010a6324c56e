/* Counters, gauges and histograms of what herald does, and their Prometheus text exposition. */
#include "metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fnv1a.h"
#include "monotime.h"
#include "xalloc.h"

#ifndef PACKAGE_VERSION
#error "PACKAGE_VERSION must come from the build (autoconf config.h)"
#endif

/* Upper bounds, in seconds, of the latency buckets (+Inf is implied). */
static const double seconds_le[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
				    0.1,   0.25,   0.5,   1,    2.5,   5,
				    10,    30};
#define NSECONDS (sizeof(seconds_le) / sizeof(seconds_le[0]))

/* ... of end-to-end latency, which retries stretch to hours ... */
static const double e2e_le[] = {0.005, 0.01, 0.025, 0.05, 0.1,  0.25,
				0.5,   1,    2.5,   5,    10,   30,
				60,    300,  1800,  3600, 21600, 86400};
#define NE2E (sizeof(e2e_le) / sizeof(e2e_le[0]))

/* ... and of the writer's batch sizes, in events. */
static const double batch_le[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512};
#define NBATCH (sizeof(batch_le) / sizeof(batch_le[0]))

#define MAX_BUCKETS NE2E
_Static_assert(NE2E >= NSECONDS && NE2E >= NBATCH, "MAX_BUCKETS too small");

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
_Static_assert(NINGEST == METRICS_NINGEST, "an ingest result without a name");

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
_Static_assert(NOUTCOMES == METRICS_NOUTCOMES, "an outcome without a name");

static atomic_ulong ingested[NINGEST];
static struct histogram ingest_duration = {.le = seconds_le, .nle = NSECONDS};
static struct histogram writer_batch = {.le = batch_le, .nle = NBATCH};
static atomic_ulong attempts[NOUTCOMES];
static struct histogram delivery_duration = {.le = seconds_le, .nle = NSECONDS};
static struct histogram end_to_end = {.le = e2e_le, .nle = NE2E};
static atomic_ulong deliveries_failed;
static atomic_long inflight;
static atomic_long partitions;
static atomic_long storage_partitions;
static atomic_long storage_oldest_s;
static atomic_ulong storage_dropped;
static atomic_ulong storage_compacted;
static atomic_long http_connections;
static atomic_long db_pool_size;
static atomic_long db_pool_in_use;

/* The relays' series, under relays_lock. */
#define RELAYS_MAX 64
struct relay_series {
	char name[256]; /* "": a free slot */
	double lag_s, lag_bytes;
	unsigned long rejected;
};
static pthread_mutex_t relays_lock = PTHREAD_MUTEX_INITIALIZER;
static struct relay_series relays[RELAYS_MAX];

static const char *const sub_status_names[] = {
	[METRICS_SUB_ACTIVE] = "active",
	[METRICS_SUB_PAUSED] = "paused",
	[METRICS_SUB_DISABLED] = "disabled",
};

/* The last backlog sample, replaced whole by the sampler under
 * backlog_lock; a scrape renders it under the same lock. */
static pthread_mutex_t backlog_lock = PTHREAD_MUTEX_INITIALIZER;
static struct metrics_backlog backlog;

/*
 * Per-subscription attempt counters: an open-addressing table of at most
 * METRICS_SUBS_MAX entries (so at most half full), under subs_lock.  The
 * dispatcher adds to it, a scrape reads it, the sampler prunes it.
 */
#define SUBS_SLOTS 32768 /* a power of two, >= 2 * METRICS_SUBS_MAX */
_Static_assert(SUBS_SLOTS >= 2 * METRICS_SUBS_MAX, "SUBS_SLOTS too small");

struct sub_counters {
	char id[37];     /* "": a free slot */
	int64_t first_ms; /* monotime_ms of its first attempt counted */
	unsigned long attempts[NOUTCOMES];
};

static atomic_bool per_sub;
static pthread_mutex_t subs_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sub_counters *subs_table; /* SUBS_SLOTS; NULL until used */
static size_t subs_count;
static unsigned long subs_dropped; /* attempts of subscriptions past the cap */

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

const char *
metrics_outcome_name(enum metrics_outcome o)
{
	return (size_t)o < NOUTCOMES ? outcome_names[o] : "error";
}

const char *
metrics_ingest_name(enum metrics_ingest i)
{
	return (size_t)i < NINGEST ? ingest_names[i] : "rejected";
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

void
metrics_storage(long npartitions, long oldest_s)
{
	atomic_store_explicit(&storage_partitions, npartitions,
			      memory_order_relaxed);
	atomic_store_explicit(&storage_oldest_s, oldest_s, memory_order_relaxed);
}

void
metrics_storage_dropped(void)
{
	atomic_fetch_add_explicit(&storage_dropped, 1, memory_order_relaxed);
}

void
metrics_storage_compacted(void)
{
	atomic_fetch_add_explicit(&storage_compacted, 1, memory_order_relaxed);
}

void
metrics_end_to_end(double seconds)
{
	observe(&end_to_end, seconds);
}

void
metrics_http_connections_add(long delta)
{
	atomic_fetch_add_explicit(&http_connections, delta, memory_order_relaxed);
}

void
metrics_db_pool_size(long n)
{
	atomic_store_explicit(&db_pool_size, n, memory_order_relaxed);
}

void
metrics_db_pool_in_use_add(long delta)
{
	atomic_fetch_add_explicit(&db_pool_in_use, delta, memory_order_relaxed);
}

void
metrics_counters_read(struct metrics_counters *out)
{
	for (size_t i = 0; i < NINGEST; i++)
		out->ingested[i] = atomic_load_explicit(&ingested[i],
							memory_order_relaxed);
	for (size_t i = 0; i < NOUTCOMES; i++)
		out->attempts[i] = atomic_load_explicit(&attempts[i],
							memory_order_relaxed);
	out->failed = atomic_load_explicit(&deliveries_failed,
					   memory_order_relaxed);
}

/* --- the backlog sample --- */

void
metrics_backlog_free(struct metrics_backlog *b)
{
	free(b->subs);
	memset(b, 0, sizeof(*b));
}

void
metrics_backlog_publish(struct metrics_backlog *b)
{
	struct metrics_backlog old;

	pthread_mutex_lock(&backlog_lock);
	old = backlog;
	backlog = *b;
	pthread_mutex_unlock(&backlog_lock);
	memset(b, 0, sizeof(*b));
	metrics_backlog_free(&old);
}

void
metrics_backlog_copy(struct metrics_backlog *out)
{
	pthread_mutex_lock(&backlog_lock);
	*out = backlog;
	out->subs = NULL;
	if (backlog.nsubs > 0)
		out->subs = xmemdup(backlog.subs,
				    backlog.nsubs * sizeof(*backlog.subs));
	pthread_mutex_unlock(&backlog_lock);
}

void
metrics_backlog_totals(struct metrics_backlog *out)
{
	pthread_mutex_lock(&backlog_lock);
	*out = backlog;
	pthread_mutex_unlock(&backlog_lock);
	out->subs = NULL;
	out->nsubs = 0;
}

/* --- per-subscription counters --- */

/* The slot of id: its entry, or the free slot where it would go. */
static struct sub_counters *
sub_slot(struct sub_counters *table, const char *id)
{
	size_t i = (size_t)fnv1a_str(id) & (SUBS_SLOTS - 1);

	while (table[i].id[0] != '\0' && strcmp(table[i].id, id) != 0)
		i = (i + 1) & (SUBS_SLOTS - 1);
	return &table[i];
}

static void
subs_clear(void)
{
	pthread_mutex_lock(&subs_lock);
	free(subs_table);
	subs_table = NULL;
	subs_count = 0;
	subs_dropped = 0;
	pthread_mutex_unlock(&subs_lock);
}

void
metrics_set_per_subscription(bool on)
{
	if (!atomic_exchange(&per_sub, on) || on)
		return;
	subs_clear(); /* turned off */
}

bool
metrics_per_subscription(void)
{
	return atomic_load_explicit(&per_sub, memory_order_relaxed);
}

void
metrics_subscription_attempt(const char *id, enum metrics_outcome o)
{
	struct sub_counters *c;

	if (!metrics_per_subscription() || (size_t)o >= NOUTCOMES ||
	    strlen(id) >= sizeof(c->id))
		return;
	pthread_mutex_lock(&subs_lock);
	if (subs_table == NULL)
		subs_table = xcalloc(SUBS_SLOTS, sizeof(*subs_table));
	c = sub_slot(subs_table, id);
	if (c->id[0] == '\0') {
		if (subs_count >= METRICS_SUBS_MAX) {
			subs_dropped++;
			pthread_mutex_unlock(&subs_lock);
			return;
		}
		strcpy(c->id, id);
		c->first_ms = monotime_ms();
		subs_count++;
	}
	c->attempts[o]++;
	pthread_mutex_unlock(&subs_lock);
}

static int
cmp_backlog_id(const void *key, const void *elem)
{
	return strcmp(key, ((const struct metrics_backlog_sub *)elem)->id);
}

void
metrics_subscriptions_keep(const struct metrics_backlog_sub *sorted, size_t n,
			   int64_t since_ms)
{
	struct sub_counters *fresh;

	pthread_mutex_lock(&subs_lock);
	if (subs_table == NULL || subs_count == 0) {
		pthread_mutex_unlock(&subs_lock);
		return;
	}
	/* rebuilt, as open addressing cannot simply empty a slot */
	fresh = xcalloc(SUBS_SLOTS, sizeof(*fresh));
	subs_count = 0;
	for (size_t i = 0; i < SUBS_SLOTS; i++) {
		const struct sub_counters *c = &subs_table[i];

		if (c->id[0] == '\0')
			continue;
		if (c->first_ms < since_ms &&
		    bsearch(c->id, sorted, n, sizeof(*sorted),
			    cmp_backlog_id) == NULL)
			continue; /* deleted */
		*sub_slot(fresh, c->id) = *c;
		subs_count++;
	}
	free(subs_table);
	subs_table = fresh;
	pthread_mutex_unlock(&subs_lock);
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

/* A label value, escaped as the text format wants (\\, \", \n). */
static void
put_label_value(struct text *t, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '\\')
			put(t, "\\\\");
		else if (*v == '"')
			put(t, "\\\"");
		else if (*v == '\n')
			put(t, "\\n");
		else
			put(t, "%c", *v);
	}
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

/* The database gauges, from the last sample. */
static void
render_backlog(struct text *t)
{
	pthread_mutex_lock(&backlog_lock);
	head(t, "herald_backlog_sampled_timestamp_seconds", "gauge",
	     "When the backlog gauges were last read from the database "
	     "(Unix time; 0: not yet).");
	put(t, "herald_backlog_sampled_timestamp_seconds %.3f\n",
	    backlog.sampled_at);
	head(t, "herald_backlog_deliveries", "gauge",
	     "Pending deliveries: due (their time has come) and not_due "
	     "(waiting for a retry).");
	put(t, "herald_backlog_deliveries{state=\"due\"} %ld\n", backlog.due);
	put(t, "herald_backlog_deliveries{state=\"not_due\"} %ld\n",
	    backlog.not_due);
	head(t, "herald_backlog_oldest_seconds", "gauge",
	     "How long the oldest due delivery has been due (0: none).");
	put(t, "herald_backlog_oldest_seconds %.3f\n", backlog.oldest_s);
	head(t, "herald_subscriptions", "gauge", "Subscriptions, by status.");
	for (size_t i = 0; i < METRICS_SUB_NSTATUS; i++)
		put(t, "herald_subscriptions{status=\"%s\"} %ld\n",
		    sub_status_names[i], backlog.subscriptions[i]);
	if (metrics_per_subscription()) {
		head(t, "herald_subscription_backlog_deliveries", "gauge",
		     "Pending deliveries of one subscription.");
		for (size_t i = 0; i < backlog.nsubs; i++) {
			put(t, "herald_subscription_backlog_deliveries"
			       "{subscription=\"");
			put_label_value(t, backlog.subs[i].id);
			put(t, "\"} %ld\n",
			    backlog.subs[i].due + backlog.subs[i].not_due);
		}
	}
	pthread_mutex_unlock(&backlog_lock);
}

/* Per-subscription attempts, the outcomes seen only. */
static void
render_subscription_attempts(struct text *t)
{
	pthread_mutex_lock(&subs_lock);
	head(t, "herald_subscription_attempts_total", "counter",
	     "Attempts to deliver to one subscription, by outcome.");
	for (size_t i = 0; subs_table != NULL && i < SUBS_SLOTS; i++) {
		const struct sub_counters *c = &subs_table[i];

		if (c->id[0] == '\0')
			continue;
		for (size_t o = 0; o < NOUTCOMES; o++) {
			if (c->attempts[o] == 0)
				continue;
			put(t, "herald_subscription_attempts_total{subscription=\"");
			put_label_value(t, c->id);
			put(t, "\",outcome=\"%s\"} %lu\n", outcome_names[o],
			    c->attempts[o]);
		}
	}
	head(t, "herald_subscription_series_dropped_total", "counter",
	     "Attempts not counted per subscription: more subscriptions "
	     "than the series allow.");
	put(t, "herald_subscription_series_dropped_total %lu\n", subs_dropped);
	pthread_mutex_unlock(&subs_lock);
}

/* relay's series, made when new; NULL past RELAYS_MAX.  Under relays_lock. */
static struct relay_series *
relay_series(const char *relay)
{
	for (size_t i = 0; i < RELAYS_MAX; i++) {
		if (relays[i].name[0] == '\0') {
			snprintf(relays[i].name, sizeof(relays[i].name), "%s", relay);
			return &relays[i];
		}
		if (strncmp(relays[i].name, relay, sizeof(relays[i].name) - 1) == 0)
			return &relays[i];
	}
	return NULL;
}

void
metrics_relay_lag(const char *relay, double seconds, double bytes)
{
	struct relay_series *r;

	pthread_mutex_lock(&relays_lock);
	if ((r = relay_series(relay)) != NULL) {
		r->lag_s = seconds;
		r->lag_bytes = bytes;
	}
	pthread_mutex_unlock(&relays_lock);
}

void
metrics_relay_rejected(const char *relay)
{
	struct relay_series *r;

	pthread_mutex_lock(&relays_lock);
	if ((r = relay_series(relay)) != NULL)
		r->rejected++;
	pthread_mutex_unlock(&relays_lock);
}

static void
render_relays(struct text *t)
{
	static const char *const names[] = {
		"herald_relay_lag_seconds", "herald_relay_lag_bytes",
		"herald_relay_rejected_total"};
	static const char *const types[] = {"gauge", "gauge", "counter"};
	static const char *const helps[] = {
		"From a producer's commit to herald's of the last transaction "
		"a relay read (0: caught up).",
		"WAL of the producer's database its relay's slot still holds.",
		"Events in a relay's stream that were not valid: skipped."};

	pthread_mutex_lock(&relays_lock);
	for (size_t k = 0; k < 3 && relays[0].name[0] != '\0'; k++) {
		head(t, names[k], types[k], helps[k]);
		for (size_t i = 0; i < RELAYS_MAX && relays[i].name[0]; i++) {
			put(t, "%s{relay=\"", names[k]);
			put_label_value(t, relays[i].name);
			if (k == 0)
				put(t, "\"} %.3f\n", relays[i].lag_s);
			else if (k == 1)
				put(t, "\"} %.0f\n", relays[i].lag_bytes);
			else
				put(t, "\"} %lu\n", relays[i].rejected);
		}
	}
	pthread_mutex_unlock(&relays_lock);
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

	put_histogram(&t, "herald_end_to_end_latency_seconds",
		      "From an event's commit (its received_at) to the first 2xx "
		      "of a delivery of it.", &end_to_end);

	head(&t, "herald_inflight_requests", "gauge",
	     "Requests to sinks in flight from this instance.");
	put(&t, "herald_inflight_requests %ld\n",
	    atomic_load_explicit(&inflight, memory_order_relaxed));
	head(&t, "herald_partitions_owned", "gauge",
	     "Dispatch partitions this instance owns.");
	put(&t, "herald_partitions_owned %ld\n",
	    atomic_load_explicit(&partitions, memory_order_relaxed));
	head(&t, "herald_storage_partitions", "gauge",
	     "Storage partitions kept (each of event, delivery and attempt), "
	     "as this instance last read them.");
	put(&t, "herald_storage_partitions %ld\n",
	    atomic_load_explicit(&storage_partitions, memory_order_relaxed));
	head(&t, "herald_storage_oldest_seconds", "gauge",
	     "Age of the oldest partition kept: how far back the stored "
	     "events go.");
	put(&t, "herald_storage_oldest_seconds %ld\n",
	    atomic_load_explicit(&storage_oldest_s, memory_order_relaxed));
	head(&t, "herald_storage_partitions_dropped_total", "counter",
	     "Partitions this instance dropped past the retention.");
	put(&t, "herald_storage_partitions_dropped_total %lu\n",
	    atomic_load_explicit(&storage_dropped, memory_order_relaxed));
	head(&t, "herald_storage_partitions_compacted_total", "counter",
	     "Partitions past the retention this instance compacted to "
	     "what pending deliveries keep.");
	put(&t, "herald_storage_partitions_compacted_total %lu\n",
	    atomic_load_explicit(&storage_compacted, memory_order_relaxed));
	head(&t, "herald_http_connections", "gauge",
	     "Open connections to the API listener.");
	put(&t, "herald_http_connections %ld\n",
	    atomic_load_explicit(&http_connections, memory_order_relaxed));
	head(&t, "herald_db_pool_size", "gauge",
	     "The API's database workers, each with one connection.");
	put(&t, "herald_db_pool_size %ld\n",
	    atomic_load_explicit(&db_pool_size, memory_order_relaxed));
	head(&t, "herald_db_pool_in_use", "gauge",
	     "The API's database workers running a request.");
	put(&t, "herald_db_pool_in_use %ld\n",
	    atomic_load_explicit(&db_pool_in_use, memory_order_relaxed));
	render_backlog(&t);
	render_relays(&t);
	if (metrics_per_subscription())
		render_subscription_attempts(&t);
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
	histogram_reset(&end_to_end);
	atomic_store(&deliveries_failed, 0);
	atomic_store(&inflight, 0);
	atomic_store(&partitions, 0);
	atomic_store(&storage_partitions, 0);
	atomic_store(&storage_oldest_s, 0);
	atomic_store(&storage_dropped, 0);
	atomic_store(&storage_compacted, 0);
	atomic_store(&http_connections, 0);
	atomic_store(&db_pool_size, 0);
	atomic_store(&db_pool_in_use, 0);
	pthread_mutex_lock(&backlog_lock);
	metrics_backlog_free(&backlog);
	pthread_mutex_unlock(&backlog_lock);
	subs_clear();
	pthread_mutex_lock(&relays_lock);
	memset(relays, 0, sizeof(relays));
	pthread_mutex_unlock(&relays_lock);
}
