/* Group commit: API threads hand events to writer threads that each commit many per transaction. */
#ifndef HERALD_WRITER_H
#define HERALD_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "herald.h"
#include "store.h"

/* One request's events.  The submitter fills evs, n, the seqs and
 * duplicate arrays (n each), deadline_ms, done and arg; a writer thread
 * fills seqs, duplicate and status, then calls done(in, arg) from that
 * thread.  All events of one ingest commit in the same transaction. */
struct ingest {
	struct cloudevent *evs;
	size_t n;
	int64_t *seqs;   /* per event: its seq (the first one for duplicates) */
	bool *duplicate; /* per event: already stored before this request */
	/* STORE_OK: committed; else nothing was, and why: STORE_QUERY_ERROR
	 * when PostgreSQL refused a statement (500), any other when the
	 * database is unavailable or the writer stopping (503) */
	enum store_status status;
	/* answered by then (monotime_ms), a 503 at worst: the transaction
	 * of a group is given until its earliest deadline */
	int64_t deadline_ms;
	void (*done)(struct ingest *in, void *arg);
	void *arg;
	struct ingest *next; /* writer's queue link */
};

struct writer;

/* Start threads writer threads (at least one), each on its own
 * connection to url, taking groups of up to batch_max events from one
 * queue.  NULL when a connection or thread cannot be had. */
struct writer *writer_start(const char *url, long batch_max, long threads);

/* Queue an ingest; done is always called exactly once. */
void writer_submit(struct writer *w, struct ingest *in);

/* Commit what is queued and stop every thread; later submissions fail
 * at once (done with status STORE_GONE). */
void writer_drain(struct writer *w);

/* Free a drained writer. */
void writer_free(struct writer *w);

#endif
