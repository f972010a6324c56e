/* Group commit: API threads hand events to one writer that commits many per transaction. */
#ifndef HERALD_WRITER_H
#define HERALD_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "herald.h"

/* One request's events.  The submitter fills evs, n, done and arg; the
 * writer fills the rest and then calls done(in, arg) from its own thread.
 * All events of one ingest commit in the same transaction. */
struct ingest {
	struct cloudevent *evs;
	size_t n;
	int64_t *seqs;   /* per event: its seq (the first one for duplicates) */
	bool *duplicate; /* per event: already stored before this request */
	bool ok;         /* false: nothing committed (database unavailable) */
	void (*done)(struct ingest *in, void *arg);
	void *arg;
	struct ingest *next; /* writer's queue link */
};

struct writer;

/* Start the writer thread on its own connection to url. */
struct writer *writer_start(const char *url, long batch_max);

/* Queue an ingest; done is always called exactly once. */
void writer_submit(struct writer *w, struct ingest *in);

/* Commit what is queued and stop the thread; later submissions fail at
 * once (done with ok false). */
void writer_drain(struct writer *w);

/* Free a drained writer. */
void writer_free(struct writer *w);

#endif
