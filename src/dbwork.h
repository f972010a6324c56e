/* Database work off the HTTP threads: one queue, worker threads that each own a connection, a deadline per job. */
#ifndef HERALD_DBWORK_H
#define HERALD_DBWORK_H

#include <stdbool.h>
#include <stdint.h>

#include "store.h"

/* After a failed connect, jobs are refused at once for this long. */
#define DBWORK_DOWN_MS 1000

struct dbwork;
struct dbwork_thread;

/* One piece of work.  The submitter fills every field but next. */
struct dbwork_job {
	int64_t deadline_ms; /* monotime_ms clock: done by then */
	/* On a worker thread, which dbwork_conn gives a connection. */
	void (*run)(struct dbwork_job *job, struct dbwork_thread *t);
	/* Called exactly once, last, from a worker or the timer thread;
	 * ran false: run was not called (the deadline came while the job
	 * waited for a worker, or dbwork_drain). */
	void (*done)(struct dbwork_job *job, bool ran);
	void *arg;
	struct dbwork_job *next; /* the queue's link */
};

/* Start threads workers (at least one) on url, connecting on first use,
 * and the thread that fails jobs whose deadline came in the queue.
 * NULL when a thread cannot be started. */
struct dbwork *dbwork_start(const char *url, long threads);

/* Queue a job. */
void dbwork_submit(struct dbwork *w, struct dbwork_job *job);

/* The worker's connection, usable until the job's deadline and no
 * longer; NULL when the database cannot be reached by then, or could not
 * be within the last DBWORK_DOWN_MS. */
struct store_conn *dbwork_conn(struct dbwork_thread *t);

/* Roll back what the job left open on its connection. */
void dbwork_settle(struct dbwork_thread *t);

/* Let running jobs finish, fail queued ones and stop the threads; a job
 * submitted later fails at once (done with ran false). */
void dbwork_drain(struct dbwork *w);
/* Free a drained dbwork, once nothing can submit to it any more. */
void dbwork_free(struct dbwork *w);

#endif
