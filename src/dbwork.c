/* Database work off the HTTP threads: one queue, worker threads that each own a connection, a deadline per job. */
#include "dbwork.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"
#include "metrics.h"
#include "monotime.h"
#include "xalloc.h"

/*
 * The queue (head, tail, stopping) is shared by the submitters (HTTP
 * threads), the workers and the timer thread, and guarded by lock.  A job
 * belongs to whoever took it off the queue under lock: a worker, which
 * runs it, or the timer, which fails it at its deadline; never both.
 * Each worker's connection is its own.  down_until is read and written
 * by every worker, without the lock.
 */
struct dbwork {
	pthread_mutex_t lock;
	pthread_cond_t work;  /* a job was queued, or stopping */
	pthread_cond_t timer; /* the earliest deadline may have moved */
	struct dbwork_job *head, *tail;
	bool stopping;

	char *url;
	struct dbwork_thread *threads;
	size_t nthreads;
	pthread_t timer_thread;
	atomic_int_fast64_t down_until; /* monotime_ms of the end of a refusal */
};

struct dbwork_thread {
	struct dbwork *w;
	pthread_t thread;
	struct store_conn *conn; /* NULL until first needed */
	int64_t deadline_ms;     /* of the job it runs */
};

static void
set_deadline(struct dbwork_thread *t, int64_t deadline_ms)
{
	t->deadline_ms = deadline_ms;
	if (t->conn)
		store_set_deadline(t->conn, deadline_ms);
}

struct store_conn *
dbwork_conn(struct dbwork_thread *t)
{
	struct dbwork *w = t->w;
	int64_t start = monotime_ms();
	bool live = t->conn != NULL && !store_conn_broken(t->conn);
	char err[256];

	/* the down memory spares connects, not a live session of its own */
	if (!live && start < atomic_load(&w->down_until))
		return NULL;
	if (t->conn == NULL) {
		t->conn = store_connect_by(w->url, t->deadline_ms, err, sizeof(err));
		if (t->conn != NULL)
			return t->conn;
		log_warn("database connection failed: %s", err);
	} else if (store_ensure(t->conn)) {
		return t->conn;
	}
	/* Remember the failure, unless it only came from a job that had
	 * too little time left to connect. */
	if (monotime_ms() < t->deadline_ms ||
	    t->deadline_ms - start >= DBWORK_DOWN_MS)
		atomic_store(&w->down_until, monotime_ms() + DBWORK_DOWN_MS);
	return NULL;
}

void
dbwork_settle(struct dbwork_thread *t)
{
	if (t->conn == NULL || store_conn_broken(t->conn) ||
	    PQtransactionStatus(store_pg(t->conn)) == PQTRANS_IDLE)
		return;
	/* its own short wait: the job's deadline may have just passed */
	store_set_deadline(t->conn, monotime_ms() + STORE_ROLLBACK_MS);
	if (!store_simple(t->conn, "ROLLBACK", NULL, 0) &&
	    !store_conn_broken(t->conn))
		/* do not hand an unknown session state to the next job */
		store_disconnect(t->conn);
}

static void *
worker_main(void *arg)
{
	struct dbwork_thread *t = arg;
	struct dbwork *w = t->w;

	for (;;) {
		struct dbwork_job *job;

		pthread_mutex_lock(&w->lock);
		while (w->head == NULL && !w->stopping)
			pthread_cond_wait(&w->work, &w->lock);
		if (w->head == NULL) {
			pthread_mutex_unlock(&w->lock);
			break;
		}
		job = w->head;
		w->head = job->next;
		if (w->head == NULL)
			w->tail = NULL;
		job->next = NULL;
		pthread_mutex_unlock(&w->lock);

		if (job->deadline_ms <= monotime_ms()) {
			job->done(job, false);
			continue;
		}
		set_deadline(t, job->deadline_ms);
		metrics_db_pool_in_use_add(1);
		job->run(job, t);
		dbwork_settle(t);
		metrics_db_pool_in_use_add(-1);
		set_deadline(t, 0);
		job->done(job, true);
	}
	return NULL;
}

static void
abs_time(int64_t at_ms, struct timespec *ts)
{
	int64_t left = at_ms - monotime_ms();

	clock_gettime(CLOCK_MONOTONIC, ts);
	if (left < 0)
		left = 0;
	ts->tv_sec += left / 1000;
	ts->tv_nsec += (long)(left % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Unlink the queued jobs whose deadline has come; *next_ms is the
 * earliest deadline left (0: none).  Called under lock. */
static struct dbwork_job *
take_late(struct dbwork *w, int64_t *next_ms)
{
	struct dbwork_job *late = NULL, *kept = NULL, **pp = &w->head;
	int64_t now = monotime_ms();

	*next_ms = 0;
	while (*pp) {
		struct dbwork_job *j = *pp;

		if (j->deadline_ms <= now) {
			*pp = j->next;
			j->next = late;
			late = j;
		} else {
			if (*next_ms == 0 || j->deadline_ms < *next_ms)
				*next_ms = j->deadline_ms;
			kept = j;
			pp = &j->next;
		}
	}
	w->tail = kept;
	return late;
}

static void
fail_all(struct dbwork_job *job)
{
	while (job) {
		struct dbwork_job *next = job->next;

		job->next = NULL;
		job->done(job, false);
		job = next;
	}
}

/* A job still queued at its deadline is answered then, not whenever a
 * worker frees up. */
static void *
timer_main(void *arg)
{
	struct dbwork *w = arg;
	struct timespec until;
	int64_t next;

	pthread_mutex_lock(&w->lock);
	while (!w->stopping) {
		struct dbwork_job *late = take_late(w, &next);

		if (late) {
			pthread_mutex_unlock(&w->lock);
			fail_all(late);
			pthread_mutex_lock(&w->lock);
			continue;
		}
		if (next == 0) {
			pthread_cond_wait(&w->timer, &w->lock);
		} else {
			abs_time(next, &until);
			pthread_cond_timedwait(&w->timer, &w->lock, &until);
		}
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

void
dbwork_submit(struct dbwork *w, struct dbwork_job *job)
{
	job->next = NULL;
	pthread_mutex_lock(&w->lock);
	if (w->stopping) {
		pthread_mutex_unlock(&w->lock);
		job->done(job, false);
		return;
	}
	if (w->tail)
		w->tail->next = job;
	else
		w->head = job;
	w->tail = job;
	pthread_cond_signal(&w->work);
	pthread_cond_signal(&w->timer);
	pthread_mutex_unlock(&w->lock);
}

/* Stop the started threads and close their connections; the queue is
 * empty or its jobs were taken by the caller.  Later submissions fail at
 * once. */
static void
halt(struct dbwork *w, size_t started, bool timer)
{
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	pthread_cond_broadcast(&w->work);
	pthread_cond_broadcast(&w->timer);
	pthread_mutex_unlock(&w->lock);
	for (size_t i = 0; i < started; i++)
		pthread_join(w->threads[i].thread, NULL);
	if (timer)
		pthread_join(w->timer_thread, NULL);
	for (size_t i = 0; i < w->nthreads; i++) {
		store_close(w->threads[i].conn);
		w->threads[i].conn = NULL;
	}
}

/* Free a halted dbwork. */
static void
release(struct dbwork *w)
{
	free(w->threads);
	free(w->url);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->work);
	pthread_cond_destroy(&w->timer);
	free(w);
}

struct dbwork *
dbwork_start(const char *url, long threads)
{
	struct dbwork *w = xcalloc(1, sizeof(*w));
	pthread_condattr_t attr;
	size_t started = 0;

	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->work, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&w->timer, &attr);
	pthread_condattr_destroy(&attr);
	atomic_init(&w->down_until, 0);
	w->url = xstrdup(url);
	w->nthreads = threads > 0 ? (size_t)threads : 1;
	w->threads = xcalloc(w->nthreads, sizeof(*w->threads));
	for (; started < w->nthreads; started++) {
		w->threads[started].w = w;
		if (pthread_create(&w->threads[started].thread, NULL, worker_main,
				   &w->threads[started]) != 0)
			goto err;
	}
	if (pthread_create(&w->timer_thread, NULL, timer_main, w) != 0)
		goto err;
	metrics_db_pool_size((long)w->nthreads);
	return w;
err:
	log_error("cannot start the database worker threads");
	halt(w, started, false);
	release(w);
	return NULL;
}

void
dbwork_drain(struct dbwork *w)
{
	struct dbwork_job *queued;

	if (w == NULL)
		return;
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	queued = w->head;
	w->head = w->tail = NULL;
	pthread_mutex_unlock(&w->lock);
	fail_all(queued);
	halt(w, w->nthreads, true);
}

void
dbwork_free(struct dbwork *w)
{
	if (w != NULL)
		release(w);
}
