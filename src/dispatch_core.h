/* What the dispatcher's parts share: its jobs, subscriptions and state (internal to the dispatch_*.c files). */
#ifndef HERALD_DISPATCH_CORE_H
#define HERALD_DISPATCH_CORE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <curl/curl.h>

#include "cloudevent.h"
#include "config.h"
#include "delivery.h"
#include "ratelimit.h"
#include "sinkgroup.h"
#include "store.h"
#include "webhook.h"

/*
 * Everything here belongs to the dispatcher thread, except `stopping`,
 * which dispatch_stop sets (then wakes the thread through wakefd).
 *
 * Work flows: fetch (ready, due deliveries of owned partitions) -> a
 * per-subscription queue -> started when the subscription's rate limit
 * allows -> finished -> written back in batches.  A job stays in the held
 * set from fetch until its result is written, so it is never fetched
 * twice.
 *
 * The parts: dispatch.c (the loop), dispatch_jobs.c (jobs and their
 * lifecycle, queues, the held set, the subscription table),
 * dispatch_transfer.c (the HTTP request of an attempt, with libcurl),
 * dispatch_db.c (fetch, sweep and write-back), dispatch_owner.c
 * (partition ownership).
 */

#define HELD_MAX 4096
#define QUEUE_MIN 64          /* a subscription's queue: at least this */
#define REBALANCE_MS 2000
#define POLL_MS 1000          /* look for due retries at least this often */
#define HASH_BUCKETS 4096
#define SPARE_EASY 256        /* finished transfer handles kept for reuse */
#define DB_TIMEOUT_MS 30000   /* a hung database: drop the session */
#define DB_PAUSE_MS 500       /* after a statement failed */
#define PROBE_MIN_MS 1000     /* a group member out of rotation: probed after this, */
#define PROBE_MAX_MS 30000    /* doubling after each failed probe, to this */

struct dsub;

/*
 * Where a job (one delivery taken into memory) is.  Every change goes
 * through jobs_move(), which keeps the lists and counts, logs it and
 * refuses an edge not listed there.
 */
enum job_state {
	JOB_FETCHED,   /* just fetched, on no list yet */
	JOB_QUEUED,    /* on its subscription's queue, waiting for its limits */
	JOB_IN_FLIGHT, /* its request is with libcurl (d->flying) */
	JOB_FINISHED,  /* on d->results: to be written back, or released */
	JOB_WRITING,   /* in the write-back in flight (d->writing) */
	JOB_FORGOTTEN, /* written, or dropped with the session: freed */
};

/* A list of jobs in one state, in order. */
struct jlist {
	struct job *head, *tail;
	size_t n;
};

struct job {
	enum job_state state;
	struct dsub *sub;
	int64_t seq;
	char *key; /* NULL: unordered */
	int part;
	int attempts; /* before this one */
	/* the event as stored, read (and freed) when the attempt starts */
	char *attrs;
	unsigned char *data;
	size_t data_len;
	enum ce_data_kind data_kind;
	char *sink;  /* a group's member it is sent to; NULL: the one sink */
	bool probe;  /* sent to probe an out member */
	int64_t received_ms;   /* its event's received_at, Unix ms */
	bool succeeded_before; /* a retry or replay of a delivered one */

	/* the attempt, while in flight */
	CURL *easy;
	struct curl_slist *hdrs;
	struct webhook_request req;
	char *head;        /* the start of the response body, once any */
	size_t head_len;
	char retry_after[64];
	char refused[160]; /* why a callback stopped libcurl, if one did */
	bool blocked;      /* it was the connect-time address check */
	int sends;         /* times libcurl was about to send the request */
	int64_t started_us;
	time_t started_wall; /* webhook-timestamp */
	int64_t started_ms;  /* attempt time, Unix ms */

	/* once finished: an attempt was made (its verdict is written back),
	 * or none was (released: it stays pending, nothing is written) */
	bool attempted;
	struct delivery_verdict verdict;
	long status;
	int latency_ms;

	struct job *prev, *next; /* the list of its state */
	struct job *hnext;       /* held-set chain */
};

/* A consumer group's member: its own limits and health (this
 * instance's view). */
struct dmember {
	char *url;
	struct ratelimit rl;
	struct sinkgroup_health health;
};

/* What the dispatcher knows of one subscription. */
struct dsub {
	char id[37];
	bool active;
	bool seen;  /* found by the last load */
	bool stale; /* a reload failed: load it again before using it */
	struct subscription sub;
	int64_t created_ms; /* its created_at, Unix ms */
	char *secret, *prev_secret;
	struct ratelimit rl;   /* one sink's; a group's are per member */
	struct dmember *members; /* a group's ("sinks"), in their order */
	size_t nmembers;       /* 0: one sink */
	size_t turn;           /* where the next tie of least in flight goes */
	struct jlist queue; /* JOB_QUEUED */
	bool work;          /* may have due work in the database */
	int64_t wake_us;    /* a retry of ours falls due then; 0: none */
	int asked, fetched; /* by the last fetch; asked -1: not asked */
	int pos;            /* its position among those asked */
	bool listed;        /* on the busy list (has queued jobs) */
	struct dsub *bnext; /* busy list */
	struct dsub *hnext; /* table chain */
};

struct dispatch {
	pthread_t thread;
	atomic_bool stopping;
	int stop_timeout_ms;

	const struct config *cfg;
	struct store_conn *conn;
	CURLM *multi;

	/* partitions (dispatch_owner.c) */
	bool owned[STORE_PARTITIONS];
	int nowned;
	int held_per_part[STORE_PARTITIONS];
	int64_t last_rebalance_us;

	int64_t last_sweep_us;
	int64_t next_retry_us; /* earliest retry written back; 0: none */
	bool want_fetch;       /* some subscription may have work */
	bool want_sweep;       /* ask the database which ones */

	/* jobs and subscriptions (dispatch_jobs.c) */
	struct dsub *subs[HASH_BUCKETS];
	struct dsub *busy;
	struct job *held[HASH_BUCKETS];
	size_t nheld;
	struct jlist flying;  /* JOB_IN_FLIGHT */
	struct jlist results; /* JOB_FINISHED */
	struct jlist writing; /* JOB_WRITING */

	/* the one statement in flight on conn (dispatch_db.c) */
	enum { DB_IDLE, DB_FETCH, DB_WRITEBACK } db_op;
	bool fetched_last;     /* the last statement was a fetch */
	int64_t db_pause_us;   /* after a failed write-back: not before then */
	int64_t db_checked_us; /* when the statement in flight was last looked at */

	/* One epoll set for every socket the loop waits on: libcurl's (it
	 * says which, through on_socket), the session's, and wakefd. */
	int epfd, wakefd;
	int pgfd;            /* the session socket as registered; -1: none */
	int64_t curl_due_us; /* libcurl's timer (on_timer); -1: none */

	CURL *spare[SPARE_EASY]; /* transfer handles to reuse */
	int nspare;

	uint64_t rng;
};

/* --- dispatch.c --- */

/* A uniform number in [0, 1) for jitter. */
double dispatch_uniform(struct dispatch *d);

/* --- dispatch_jobs.c --- */

struct dsub *jobs_sub_find(struct dispatch *d, const char *id);
/* The subscription with this id, created (inactive, unloaded) if new. */
struct dsub *jobs_sub_add(struct dispatch *d, const char *id);
void jobs_sub_clear(struct dsub *s);
/* How many jobs a subscription's queue may hold. */
size_t jobs_queue_cap(const struct dsub *s);
/* Match a group's members to its subscription's sinks, keeping the
 * limits and health of those that stay (by URL). */
void jobs_members_update(struct dsub *s, int64_t now_us);
/* The member a job was sent to; NULL when it is gone (or not a group). */
struct dmember *jobs_member(struct dsub *s, const char *url);
/* The limits a job's attempt counts against; NULL when its member is
 * gone. */
struct ratelimit *jobs_limiter(struct job *j);

/* A fetched job, in the held set (JOB_FETCHED). */
struct job *jobs_new(struct dispatch *d, struct dsub *s, int64_t seq,
		     int part);
bool jobs_held(struct dispatch *d, const char *id, int64_t seq);
/* The one writer of a job's state. */
void jobs_move(struct dispatch *d, struct job *j, enum job_state to);
/* Hand back, unsent, every queued job of a subscription (paused,
 * disabled, gone, stopping). */
void jobs_release_queue(struct dispatch *d, struct dsub *s);
/* Drop every job (the session that owned their partitions is gone). */
void jobs_forget_all(struct dispatch *d);
/* Free every subscription (at stop, with no job left). */
void jobs_free_subs(struct dispatch *d);

/* --- dispatch_transfer.c --- */

/* Start a queued job's attempt; false when it could not be made (the job
 * is then finished with that as its verdict). */
HERALD_MUST_CHECK bool transfer_start(struct dispatch *d, struct job *j);
/* Take libcurl's finished transfers: judged and finished. */
void transfer_reap(struct dispatch *d);
/* Stop a job's transfer, unanswered (the job stays in flight). */
void transfer_abort(struct dispatch *d, struct job *j);
void transfer_free_spares(struct dispatch *d);

/* --- dispatch_db.c --- */

bool db_session_setup(struct dispatch *d);
/* Load or refresh the named subscriptions; false on a database error. */
HERALD_MUST_CHECK bool db_subs_load(struct dispatch *d, char **ids, size_t n);
/* Mark the named subscriptions as having work (loading unknown or stale
 * ones); false on a database error. */
HERALD_MUST_CHECK bool db_mark_work(struct dispatch *d, char **ids, size_t n);
/* Ask the database which subscriptions have due work (a failure is
 * logged, and the next sweep is due in POLL_MS anyway). */
void db_sweep(struct dispatch *d);
/* Send the next statement (fetch or write-back) when none is in flight. */
void db_next(struct dispatch *d);
/* Send every finished job's result; false when none was sent. */
bool db_writeback_send(struct dispatch *d);
/* Take the answer to the statement in flight, if it has come (wait for
 * it when block). */
void db_collect(struct dispatch *d, bool block);
/* store_check for the dispatcher: true when r has the status wanted;
 * a failure is logged (as "dispatch: what") unless the session broke,
 * which the loop handles. */
bool db_ok(struct dispatch *d, PGresult *r, ExecStatusType want,
	   const char *what);

/* --- dispatch_owner.c --- */

/* Own a fair share of the partitions (a failure is logged, and the next
 * rebalance is due in REBALANCE_MS anyway). */
void owner_rebalance(struct dispatch *d);
/* The owned partitions as an int4[] parameter (initializes parts). */
void owner_parts(struct dispatch *d, struct store_array *parts);
/* Forget every partition (their locks died with the session). */
void owner_forget(struct dispatch *d);

#endif
