/* Counters, gauges and histograms of what herald does, and their Prometheus text exposition. */
#ifndef HERALD_METRICS_H
#define HERALD_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Every function here may be called from any thread: the values are
 * atomics, updated without a lock, and a scrape reads each one once (a
 * histogram's buckets, count and sum may then be a few observations
 * apart, as Prometheus clients allow).
 */

/* What became of an ingested event: herald_events_ingested_total{result}. */
enum metrics_ingest {
	METRICS_ACCEPTED,  /* new, committed */
	METRICS_DUPLICATE, /* its source and id were stored already */
	METRICS_REJECTED,  /* refused before storing (one per request) */
};

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

/* The exposition, malloc'd text (Prometheus text format 0.0.4). */
char *metrics_render(void);

/* Forget every value (for tests). */
void metrics_reset(void);

#endif
