/* Counters, gauges and histograms of what herald does, and their Prometheus text exposition. */
#ifndef HERALD_METRICS_H
#define HERALD_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Every function here may be called from any thread.  The counters,
 * gauges and histograms are atomics, updated without a lock, and a scrape
 * reads each one once (a histogram's buckets, count and sum may then be a
 * few observations apart, as Prometheus clients allow).  The backlog
 * sample and the per-subscription counters are behind locks of their own.
 */

/* What became of an ingested event: herald_events_ingested_total{result}. */
enum metrics_ingest {
	METRICS_ACCEPTED,  /* new, committed */
	METRICS_DUPLICATE, /* its source and id were stored already */
	METRICS_REJECTED,  /* refused before storing (one per request) */
};
#define METRICS_NINGEST (METRICS_REJECTED + 1)

/* The label of an attempt: herald_delivery_attempts_total{outcome}. */
enum metrics_outcome {
	METRICS_SUCCESS,      /* 2xx */
	METRICS_HTTP_4XX,     /* 4xx, but 429 with Retry-After */
	METRICS_HTTP_5XX,     /* 5xx, but 503 with Retry-After */
	METRICS_HTTP_OTHER,   /* 1xx, 3xx (redirects are not followed) */
	METRICS_RETRY_AFTER,  /* 429/503 with a Retry-After: deferred */
	METRICS_TIMEOUT,      /* no answer within timeout_ms */
	METRICS_CONNECT,      /* no connection (refused, unreachable, DNS) */
	METRICS_TLS,          /* the TLS handshake or certificate failed */
	METRICS_SSRF_BLOCKED, /* the address was refused before connecting */
	METRICS_ERROR,        /* anything else: the connection broke, ... */
};
#define METRICS_NOUTCOMES (METRICS_ERROR + 1)

/* The outcome's label ("success", "http_5xx", ...). */
const char *metrics_outcome_name(enum metrics_outcome o);
/* The ingest result's label ("accepted", ...). */
const char *metrics_ingest_name(enum metrics_ingest i);

/* How an attempt without an HTTP answer failed, as the transfer saw it. */
enum metrics_transport {
	METRICS_T_NONE, /* there was an answer */
	METRICS_T_TIMEOUT,
	METRICS_T_CONNECT,
	METRICS_T_TLS,
	METRICS_T_SSRF,
	METRICS_T_OTHER,
};

/* The outcome label of an attempt (pure): status 0 when there was no
 * answer; deferred when its Retry-After deferred it. */
enum metrics_outcome metrics_outcome_of(long status, enum metrics_transport t,
					bool deferred);

void metrics_ingested(enum metrics_ingest result, unsigned long n);
/* From the request's arrival to its answer being decided. */
void metrics_ingest_duration(double seconds);
/* Events committed in one writer transaction. */
void metrics_writer_batch(unsigned long events);
/* One attempt, and how long its HTTP exchange took. */
void metrics_attempt(enum metrics_outcome o, double seconds);
/* A delivery given up after its last attempt (written as failed). */
void metrics_delivery_failed(void);
/* Requests to sinks in flight, partitions owned (the dispatcher's). */
void metrics_inflight_add(long delta);
void metrics_partitions_owned(long n);
/* Storage partitions kept and the age of the oldest (read by the
 * partition maintenance thread each round); one dropped, or compacted,
 * here. */
void metrics_storage(long npartitions, long oldest_s);
void metrics_storage_dropped(void);
void metrics_storage_compacted(void);

/* From an event's commit (its received_at) to the first 2xx of one of
 * its deliveries. */
void metrics_end_to_end(double seconds);
/* Open connections to the API listener (+1 opened, -1 closed). */
void metrics_http_connections_add(long delta);
/* The API's database workers: how many, and how many run a job. */
void metrics_db_pool_size(long n);
void metrics_db_pool_in_use_add(long delta);

/* The counters as they stand (each read once, as a scrape does). */
struct metrics_counters {
	unsigned long ingested[METRICS_NINGEST];
	unsigned long attempts[METRICS_NOUTCOMES];
	unsigned long failed; /* deliveries given up */
};
void metrics_counters_read(struct metrics_counters *out);

/* --- what the backlog sampler (backlog.c) reads from the database --- */

/* A subscription's status: herald_subscriptions{status}. */
enum metrics_sub_status {
	METRICS_SUB_ACTIVE,
	METRICS_SUB_PAUSED,
	METRICS_SUB_DISABLED,
	METRICS_SUB_NSTATUS
};

/* One subscription's pending deliveries. */
struct metrics_backlog_sub {
	char id[37];     /* its uuid */
	long due;        /* next_attempt_at has come */
	long not_due;    /* waiting for a retry's time */
	double oldest_s; /* now - the oldest due one's next_attempt_at; 0: none */
};

/* One sample: every subscription, with its pending deliveries. */
struct metrics_backlog {
	double sampled_at; /* Unix seconds when it was read; 0: never */
	long due, not_due; /* pending deliveries, over every subscription */
	double oldest_s;   /* the largest oldest_s */
	long subscriptions[METRICS_SUB_NSTATUS];
	struct metrics_backlog_sub *subs; /* malloc'd, nsubs of them */
	size_t nsubs;
};

/* Take b over (its subs included) as the current sample. */
void metrics_backlog_publish(struct metrics_backlog *b);
/* A copy of the current sample (free it with metrics_backlog_free); all
 * zero before the first. */
void metrics_backlog_copy(struct metrics_backlog *out);
/* The same without the subscriptions (out->subs NULL, nothing to free). */
void metrics_backlog_totals(struct metrics_backlog *out);
void metrics_backlog_free(struct metrics_backlog *b);

/* --- per-subscription series (metrics_per_subscription) --- */

/* At most this many subscriptions have attempt counters; attempts of
 * others count only in the totals (and in
 * herald_subscription_series_dropped_total). */
#define METRICS_SUBS_MAX 10000

/* A relay's lag (seconds from a producer's commit to herald's, of the
 * last transaction relayed, 0 once caught up; bytes of WAL the slot still
 * holds) and one event of it rejected: herald_relay_lag_seconds,
 * herald_relay_lag_bytes, herald_relay_rejected_total{relay}.  Up to 64
 * relays have series. */
void metrics_relay_lag(const char *relay, double seconds, double bytes);
void metrics_relay_rejected(const char *relay);

/* Turn the per-subscription series on or off (off forgets their
 * counters); read at every attempt and scrape, so it may change at any
 * time. */
void metrics_set_per_subscription(bool on);
bool metrics_per_subscription(void);
/* One attempt of a subscription (nothing when the series are off). */
void metrics_subscription_attempt(const char *id, enum metrics_outcome o);
/* Forget the counters of subscriptions that are not among the n sorted
 * ids of a sample taken at or after since_ms (monotime_ms): those
 * counted first after it are kept, as the sample may predate them. */
void metrics_subscriptions_keep(const struct metrics_backlog_sub *sorted,
				size_t n, int64_t since_ms);

/* The exposition, malloc'd text (Prometheus text format 0.0.4). */
char *metrics_render(void);

/* Forget every value (for tests). */
void metrics_reset(void);

#endif
