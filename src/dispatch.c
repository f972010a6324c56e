/* The dispatcher: one thread driving a libcurl multi handle that delivers the pending work of the partitions this instance owns. */
#include "dispatch.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "backoff.h"
#include "cloudevent.h"
#include "keyhead.h"
#include "log.h"
#include "ratelimit.h"
#include "sinkaddr.h"
#include "store.h"
#include "subscription.h"
#include "webhook.h"
#include "xalloc.h"

/*
 * Everything below belongs to the dispatcher thread, except `stopping`,
 * which dispatch_stop sets (then wakes the thread through wakefd).
 *
 * Work flows: fetch (ready, due deliveries of owned partitions) ->
 * a per-subscription queue -> started when the subscription's rate limit
 * allows -> finished -> a result, written back in batches by writeback_send().
 * A job stays in the held set from fetch until its result is written, so
 * it is never fetched twice.
 */

#define HELD_MAX 4096
#define QUEUE_MIN 64          /* a subscription's queue: at least this */
#define REBALANCE_MS 2000
#define POLL_MS 1000          /* look for due retries at least this often */
#define RESPONSE_HEAD 1024    /* bytes of a response body kept per attempt */
#define HASH_BUCKETS 4096
#define SPARE_EASY 256        /* finished transfer handles kept for reuse */
#define DB_TIMEOUT_MS 30000   /* a hung database: drop the session */
#define DB_PAUSE_MS 500       /* after a statement failed */

struct dsub;

/* One delivery taken into memory, from fetch until its result is
 * written. */
struct job {
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

	CURL *easy; /* while in flight */
	struct curl_slist *hdrs;
	struct webhook_request req;
	char *head;        /* the start of the response body, once any */
	size_t head_len;
	char retry_after[64];
	char refused[160]; /* why the connect-time address check refused */
	int sends;         /* times libcurl was about to send the request */
	int64_t started_us;
	time_t started_wall;   /* webhook-timestamp */
	int64_t started_ms;    /* attempt time, Unix ms */

	/* the result, once finished */
	enum {
		JOB_QUEUED,
		JOB_IN_FLIGHT,
		JOB_DONE,    /* an attempt was made: write it */
		JOB_RELEASE, /* not sent: it stays pending, forget it */
	} state;
	const char *new_state; /* "pending", "succeeded", "failed" */
	int new_attempts;
	long delay_ms;
	long status;
	char error[256];
	int latency_ms;
	bool gone; /* 410: disable the subscription */

	struct job *next;  /* queue or results list */
	struct job *hnext; /* held-set chain */
};

/* What the dispatcher knows of one subscription. */
struct dsub {
	char id[37];
	bool active;
	bool seen; /* found by the last load */
	struct subscription sub;
	char *secret, *prev_secret;
	struct ratelimit rl;
	struct job *qhead, *qtail;
	size_t queued;
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

	bool owned[STORE_PARTITIONS];
	int nowned;
	int held_per_part[STORE_PARTITIONS];
	int64_t last_rebalance_us;
	int64_t last_sweep_us;
	int64_t next_retry_us; /* earliest retry written back; 0: none */
	bool want_fetch;       /* some subscription may have work */
	bool want_sweep;       /* ask the database which ones */

	struct dsub *subs[HASH_BUCKETS];
	struct dsub *busy;
	struct job *held[HASH_BUCKETS];
	size_t nheld;
	size_t in_flight;
	struct job *results;   /* to write back */
	size_t nresults;

	/* the one statement in flight on conn, sent by store_send */
	enum { DB_IDLE, DB_FETCH, DB_WRITEBACK } db_op;
	bool fetched_last;     /* the last statement was a fetch */
	int64_t db_pause_us;   /* after a failed write-back: not before then */
	int64_t db_checked_us; /* when the statement in flight was last looked at */
	struct job *writing;   /* the results it is writing back */

	/* One epoll set for every socket the loop waits on: libcurl's (it
	 * says which, through on_socket), the session's, and wakefd.  Told
	 * which socket is ready, libcurl looks at that transfer alone. */
	int epfd, wakefd;
	int pgfd;              /* the session socket as registered; -1: none */
	int64_t curl_due_us;   /* libcurl's timer (on_timer); -1: none */

	CURL *spare[SPARE_EASY]; /* transfer handles to reuse */
	int nspare;

	uint64_t rng;
};

/* --- statements --- */

/* Due, ready deliveries of each named subscription ($2), up to its cap
 * ($3), in the owned partitions ($1), through the per-subscription due
 * index, leaving out those this dispatcher holds already ($5, $6: the
 * subscription's position in $2 and the seq; a hashed set).  Nothing is
 * written: the partitions are this instance's alone, and what it holds
 * lives in its memory.  $4, the sum of the caps, tells the planner how
 * few rows come back. */
static const struct store_stmt fetch_work = {
	"dispatch_fetch",
	"WITH c AS ("
	"  SELECT x.subscription_id, x.seq, x.ordering_key, x.part, x.attempts"
	"  FROM unnest($2::text[], $3::int4[]) WITH ORDINALITY AS a(sid, cap, i)"
	"  CROSS JOIN LATERAL (SELECT d.subscription_id, d.seq, d.ordering_key,"
	"      d.part, d.attempts FROM delivery d"
	"    WHERE d.subscription_id = a.sid::uuid AND d.state = 'pending'"
	"      AND d.ready AND d.next_attempt_at <= now()"
	"      AND d.part = ANY ($1::int4[])"
	"      AND (a.i, d.seq) NOT IN (SELECT h.i, h.q"
	"        FROM unnest($5::int8[], $6::int8[]) AS h(i, q))"
	"    ORDER BY d.next_attempt_at LIMIT a.cap) x"
	"  LIMIT $4)"
	" SELECT c.subscription_id::text, c.seq, c.ordering_key, c.part,"
	"   c.attempts, e.attrs::text, e.data_kind, e.data"
	" FROM c JOIN event e ON e.seq = c.seq",
	6};

/* The subscriptions with due work in the owned partitions: a skip scan
 * over the subscriptions that have any ready delivery, so its cost grows
 * with their number, not with the backlog. */
static const struct store_stmt sweep_work = {
	"dispatch_sweep",
	"WITH RECURSIVE t(sid) AS ("
	"  (SELECT subscription_id FROM delivery"
	"   WHERE state = 'pending' AND ready"
	"   ORDER BY subscription_id LIMIT 1)"
	"  UNION ALL"
	"  SELECT (SELECT d.subscription_id FROM delivery d"
	"          WHERE d.state = 'pending' AND d.ready"
	"            AND d.subscription_id > t.sid"
	"          ORDER BY d.subscription_id LIMIT 1)"
	"  FROM t WHERE t.sid IS NOT NULL)"
	" SELECT t.sid FROM t WHERE t.sid IS NOT NULL AND EXISTS ("
	"   SELECT 1 FROM delivery d WHERE d.subscription_id = t.sid"
	"     AND d.state = 'pending' AND d.ready"
	"     AND d.next_attempt_at <= now() AND d.part = ANY ($1::int4[]))",
	1};

static const struct store_stmt load_subs = {
	"dispatch_load_subs",
	"SELECT id, config::text, status, secret,"
	"  CASE WHEN prev_secret_until > now() THEN prev_secret END"
	" FROM subscription WHERE id = ANY ($1::text[]::uuid[])",
	1};

/* Outcomes, key heads and 410s in one round trip:
 * herald_dispatch_writeback (sql/002). */
#define WRITEBACK_CALL                                                      \
	"herald_dispatch_writeback($1::text[], $2::int8[], $3::text[],"     \
	"  $4::int4[], $5::int8[], $6::int4[], $7::text[], $8::int8[],"     \
	"  $9::int4[], $10::text[], $11::text[], $12::int8[], $13::text[]," \
	"  $14::text[])"
static const struct store_stmt writeback = {
	"dispatch_writeback", "SELECT " WRITEBACK_CALL, 14};

/*
 * The same, committed synchronously, for a batch that moves a key's head.
 * Its success must be on disk before the next delivery of the key is
 * fetched and sent: were it lost in a crash of PostgreSQL after that
 * one went out, the predecessor would be sent again after it.
 */
static const struct store_stmt writeback_durable = {
	"dispatch_writeback_durable",
	"SELECT " WRITEBACK_CALL ", set_config('synchronous_commit', 'on', true)",
	14};

/* The namespace of the partition advisory locks ("herd"). */
#define PART_LOCK_NS_SQL "1751478884"

static const struct store_stmt try_parts = {
	"dispatch_try_parts",
	"SELECT p FROM unnest($1::int4[]) AS p"
	" WHERE pg_try_advisory_lock(" PART_LOCK_NS_SQL ", p)",
	1};

static const struct store_stmt release_part = {
	"dispatch_release_part",
	"SELECT pg_advisory_unlock(" PART_LOCK_NS_SQL ", $1::int4)", 1};

static const struct store_stmt count_instances = {
	"dispatch_count_instances",
	"SELECT count(*) FROM pg_stat_activity"
	" WHERE application_name = 'herald-dispatch'"
	"   AND datname = current_database()",
	0};

/* --- small helpers --- */

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* A uniform number in [0, 1) for jitter (xorshift64*). */
static double
uniform(struct dispatch *d)
{
	d->rng ^= d->rng >> 12;
	d->rng ^= d->rng << 25;
	d->rng ^= d->rng >> 27;
	return (double)((d->rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static size_t
hash_id(const char *id)
{
	uint64_t h = 1469598103934665603ULL;

	while (*id)
		h = (h ^ (unsigned char)*id++) * 1099511628211ULL;
	return (size_t)(h % HASH_BUCKETS);
}

static size_t
hash_job(const char *id, int64_t seq)
{
	return (hash_id(id) * 31 + (size_t)seq) % HASH_BUCKETS;
}

static bool
pg_ok(PGresult *r, ExecStatusType want, const char *what, struct dispatch *d)
{
	if (r != NULL && PQresultStatus(r) == want)
		return true;
	if (!store_conn_broken(d->conn))
		log_error("dispatch: %s: %s", what,
			  r ? PQresultErrorMessage(r) : PQerrorMessage(store_pg(d->conn)));
	return false;
}

/* --- subscriptions --- */

static struct dsub *
sub_find(struct dispatch *d, const char *id)
{
	for (struct dsub *s = d->subs[hash_id(id)]; s; s = s->hnext)
		if (strcmp(s->id, id) == 0)
			return s;
	return NULL;
}

static void
sub_clear(struct dsub *s)
{
	sub_free(&s->sub);
	free(s->secret);
	free(s->prev_secret);
	s->secret = s->prev_secret = NULL;
}

/* Load or refresh the named subscriptions; ones that no longer exist are
 * left unknown.  false on a database error. */
static bool
subs_load(struct dispatch *d, char **ids, size_t n)
{
	struct store_array arr;
	const char *v;
	int len, fmt = 1;
	PGresult *r;
	bool ok;

	store_array_init(&arr, STORE_OID_TEXT);
	for (size_t i = 0; i < n; i++)
		store_array_add(&arr, ids[i], strlen(ids[i]));
	v = store_array_param(&arr, &len);
	r = store_exec(d->conn, &load_subs, &v, &len, &fmt);
	store_array_free(&arr);
	ok = pg_ok(r, PGRES_TUPLES_OK, "load subscriptions", d);
	for (int i = 0; ok && i < PQntuples(r); i++) {
		const char *id = PQgetvalue(r, i, 0);
		struct dsub *s = sub_find(d, id);
		struct subscription sub;
		struct herald_error err;
		cJSON *config = cJSON_Parse(PQgetvalue(r, i, 1));
		int64_t now = now_us();

		if (config == NULL || sub_parse(config, &sub, &err) != 0) {
			log_error("dispatch: subscription %s has an invalid config",
				  id);
			cJSON_Delete(config);
			continue;
		}
		cJSON_Delete(config);
		if (s == NULL) {
			size_t h = hash_id(id);

			s = xcalloc(1, sizeof(*s));
			snprintf(s->id, sizeof(s->id), "%s", id);
			s->hnext = d->subs[h];
			d->subs[h] = s;
			ratelimit_init(&s->rl, sub.delivery.rate, sub.delivery.burst,
				       sub.delivery.max_in_flight, now);
		} else {
			sub_clear(s);
			ratelimit_update(&s->rl, sub.delivery.rate, sub.delivery.burst,
					 sub.delivery.max_in_flight, now);
		}
		s->sub = sub;
		s->seen = true;
		s->active = strcmp(PQgetvalue(r, i, 2), "active") == 0;
		s->secret = xstrdup(PQgetvalue(r, i, 3));
		s->prev_secret = PQgetisnull(r, i, 4) ? NULL :
				 xstrdup(PQgetvalue(r, i, 4));
	}
	PQclear(r);
	return ok;
}

/* --- the held set --- */

static void
held_add(struct dispatch *d, struct job *j)
{
	size_t h = hash_job(j->sub->id, j->seq);

	j->hnext = d->held[h];
	d->held[h] = j;
	d->nheld++;
	d->held_per_part[j->part]++;
}

static bool
held_has(struct dispatch *d, const char *id, int64_t seq)
{
	for (struct job *j = d->held[hash_job(id, seq)]; j; j = j->hnext)
		if (j->seq == seq && strcmp(j->sub->id, id) == 0)
			return true;
	return false;
}

static void
held_remove(struct dispatch *d, struct job *j)
{
	struct job **pp = &d->held[hash_job(j->sub->id, j->seq)];

	for (; *pp; pp = &(*pp)->hnext) {
		if (*pp == j) {
			*pp = j->hnext;
			d->nheld--;
			d->held_per_part[j->part]--;
			return;
		}
	}
}

static void
job_free(struct job *j)
{
	free(j->attrs);
	free(j->data);
	webhook_request_free(&j->req);
	curl_slist_free_all(j->hdrs);
	free(j->head);
	free(j->key);
	free(j);
}

/* --- queues --- */

static size_t
queue_cap(const struct dsub *s)
{
	/* enough to keep max_in_flight busy while a fetch and a write-back
	 * take their turns */
	size_t cap = (size_t)s->sub.delivery.max_in_flight * 4;

	return cap < QUEUE_MIN ? QUEUE_MIN : cap;
}

static void
enqueue(struct dispatch *d, struct job *j)
{
	struct dsub *s = j->sub;

	j->state = JOB_QUEUED;
	j->next = NULL;
	if (s->qtail)
		s->qtail->next = j;
	else
		s->qhead = j;
	s->qtail = j;
	s->queued++;
	if (!s->listed) {
		s->listed = true;
		s->bnext = d->busy;
		d->busy = s;
	}
}

static struct job *
dequeue(struct dsub *s)
{
	struct job *j = s->qhead;

	if (j) {
		s->qhead = j->next;
		if (s->qhead == NULL)
			s->qtail = NULL;
		s->queued--;
		j->next = NULL;
	}
	return j;
}

/* Hand a job over to be written back. */
static void
finish(struct dispatch *d, struct job *j)
{
	j->next = d->results;
	d->results = j;
	d->nresults++;
}

/* Give back every queued job of a subscription (paused, disabled, gone). */
static void
release_queue(struct dispatch *d, struct dsub *s)
{
	struct job *j;

	while ((j = dequeue(s)) != NULL) {
		j->state = JOB_RELEASE;
		finish(d, j);
	}
}

/* --- fetch --- */

/* The owned partitions as an int4[] parameter. */
static void
owned_parts(struct dispatch *d, struct store_array *parts)
{
	store_array_init(parts, STORE_OID_INT4);
	for (int p = 0; p < STORE_PARTITIONS; p++)
		if (d->owned[p])
			store_array_add_int(parts, p);
}

/* Load the subscriptions among ids not known yet; false on a database
 * error. */
static bool
learn_subs(struct dispatch *d, char **ids, size_t n)
{
	char **unknown = xcalloc(n + 1, sizeof(*unknown));
	size_t nunknown = 0;
	bool ok = true;

	for (size_t i = 0; i < n; i++) {
		bool seen = sub_find(d, ids[i]) != NULL;

		for (size_t k = 0; k < nunknown && !seen; k++)
			seen = strcmp(unknown[k], ids[i]) == 0;
		if (!seen)
			unknown[nunknown++] = ids[i];
	}
	if (nunknown > 0)
		ok = subs_load(d, unknown, nunknown);
	free(unknown);
	return ok;
}

/* Mark the subscriptions named in ids as having work (loading unknown
 * ones). */
static bool
mark_work(struct dispatch *d, char **ids, size_t n)
{
	if (!learn_subs(d, ids, n))
		return false;
	for (size_t i = 0; i < n; i++) {
		struct dsub *s = sub_find(d, ids[i]);

		if (s != NULL) {
			s->work = true;
			d->want_fetch = true;
		}
	}
	return true;
}

/* Ask the database which subscriptions have due work in the owned
 * partitions: at start, after taking partitions over, when told to, and
 * every POLL_MS for what nobody announced (another instance's retries). */
static bool
sweep(struct dispatch *d)
{
	struct store_array parts;
	const char *v;
	int len, fmt = 1, n;
	char **ids;
	PGresult *r;
	bool ok;

	d->want_sweep = false;
	d->last_sweep_us = now_us();
	if (d->nowned == 0)
		return true;
	owned_parts(d, &parts);
	v = store_array_param(&parts, &len);
	r = store_exec(d->conn, &sweep_work, &v, &len, &fmt);
	store_array_free(&parts);
	if (!pg_ok(r, PGRES_TUPLES_OK, "sweep", d)) {
		PQclear(r);
		return false;
	}
	n = PQntuples(r);
	ids = xcalloc((size_t)n + 1, sizeof(*ids));
	for (int i = 0; i < n; i++)
		ids[i] = PQgetvalue(r, i, 0);
	ok = mark_work(d, ids, (size_t)n);
	free(ids);
	PQclear(r);
	return ok;
}

/* An integer column of a binary result (int2, int4 or int8). */
static int64_t
bin_int(const PGresult *r, int row, int col)
{
	const unsigned char *p = (const unsigned char *)PQgetvalue(r, row, col);
	int len = PQgetlength(r, row, col);
	uint64_t v = 0;

	if (len < 1 || len > 8)
		return 0;
	for (int i = 0; i < len; i++)
		v = v << 8 | p[i];
	if (len < 8 && (p[0] & 0x80))
		v |= ~(uint64_t)0 << (8 * len); /* sign */
	return (int64_t)v;
}

/* Send the fetch of due work of the subscriptions that may have some,
 * each up to the room in its queue; false when there is nothing to ask
 * or it could not be sent. */
static bool
fetch_send(struct dispatch *d)
{
	struct store_array parts, subs, caps, held_pos, held_seq;
	const char *values[6];
	int lengths[6], formats[6] = {1, 1, 1, 0, 1, 1};
	size_t budget = HELD_MAX - d->nheld, asked = 0;
	char total[24];
	bool sent;

	d->want_fetch = false;
	if (d->nowned == 0 || d->nheld >= HELD_MAX)
		return false;
	store_array_init(&subs, STORE_OID_TEXT);
	store_array_init(&caps, STORE_OID_INT4);
	for (size_t h = 0; h < HASH_BUCKETS && budget > 0; h++) {
		for (struct dsub *s = d->subs[h]; s && budget > 0; s = s->hnext) {
			size_t room;

			s->asked = -1;
			if (!s->work || !s->active || s->queued >= queue_cap(s))
				continue;
			room = queue_cap(s) - s->queued;
			if (room > budget)
				room = budget;
			budget -= room;
			asked += room;
			s->asked = (int)room;
			s->fetched = 0;
			store_array_add(&subs, s->id, strlen(s->id));
			store_array_add_int(&caps, (int64_t)room);
			s->pos = subs.count; /* 1-based, as WITH ORDINALITY */
		}
	}
	if (subs.count == 0) {
		store_array_free(&subs);
		store_array_free(&caps);
		return false;
	}
	/* what we hold of those subscriptions must not come back */
	store_array_init(&held_pos, STORE_OID_INT8);
	store_array_init(&held_seq, STORE_OID_INT8);
	for (size_t h = 0; h < HASH_BUCKETS; h++) {
		for (struct job *j = d->held[h]; j; j = j->hnext) {
			if (j->sub->asked < 0)
				continue;
			store_array_add_int(&held_pos, j->sub->pos);
			store_array_add_int(&held_seq, j->seq);
		}
	}
	owned_parts(d, &parts);
	values[0] = store_array_param(&parts, &lengths[0]);
	values[1] = store_array_param(&subs, &lengths[1]);
	values[2] = store_array_param(&caps, &lengths[2]);
	snprintf(total, sizeof(total), "%zu", asked);
	values[3] = total;
	lengths[3] = 0;
	values[4] = store_array_param(&held_pos, &lengths[4]);
	values[5] = store_array_param(&held_seq, &lengths[5]);
	/* binary results: the event data comes as it is stored */
	sent = store_send(d->conn, &fetch_work, values, lengths, formats, 1);
	store_array_free(&parts);
	store_array_free(&subs);
	store_array_free(&caps);
	store_array_free(&held_pos);
	store_array_free(&held_seq);
	if (sent)
		d->db_op = DB_FETCH;
	return sent;
}

/* Queue the fetched work. */
static void
fetch_done(struct dispatch *d, PGresult *r)
{
	int n;

	if (!pg_ok(r, PGRES_TUPLES_OK, "fetch", d))
		return;
	n = PQntuples(r);
	for (int i = 0; i < n; i++) {
		struct dsub *s = sub_find(d, PQgetvalue(r, i, 0));
		int64_t seq = bin_int(r, i, 1);
		struct job *j;

		if (s == NULL || held_has(d, s->id, seq))
			continue; /* forgotten meanwhile; or already ours */
		s->fetched++;
		j = xcalloc(1, sizeof(*j));
		j->sub = s;
		j->seq = seq;
		j->key = PQgetisnull(r, i, 2) ? NULL : xstrdup(PQgetvalue(r, i, 2));
		j->part = (int)bin_int(r, i, 3);
		j->attempts = (int)bin_int(r, i, 4);
		if (j->part < 0 || j->part >= STORE_PARTITIONS) {
			log_error("dispatch: delivery %lld has no partition",
				  (long long)seq);
			free(j->key);
			free(j);
			continue;
		}
		/* kept as stored: reading it is the attempt's work, when it
		 * starts, rather than a burst here */
		j->attrs = xstrdup(PQgetvalue(r, i, 5));
		if (!PQgetisnull(r, i, 7)) {
			j->data_len = (size_t)PQgetlength(r, i, 7);
			j->data = j->data_len ?
				  xmemdup(PQgetvalue(r, i, 7), j->data_len) : NULL;
		}
		j->data_kind = (enum ce_data_kind)bin_int(r, i, 6);
		held_add(d, j);
		if (!s->active) {
			j->state = JOB_RELEASE;
			finish(d, j);
		} else {
			enqueue(d, j);
		}
	}
	/* a subscription that got less than it asked for has nothing more
	 * due for now; one that got all may have more */
	for (size_t h = 0; h < HASH_BUCKETS; h++)
		for (struct dsub *s = d->subs[h]; s; s = s->hnext)
			if (s->asked >= 0 && s->fetched < s->asked)
				s->work = false;
}

/* --- sending --- */

static size_t
on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct job *j = userdata;
	size_t n = size * nmemb, room = RESPONSE_HEAD - j->head_len;

	if (room > 0) {
		size_t take = n < room ? n : room;

		if (j->head == NULL)
			j->head = xmalloc(RESPONSE_HEAD + 1);
		memcpy(j->head + j->head_len, ptr, take);
		j->head_len += take;
		j->head[j->head_len] = '\0';
	}
	return n;
}

static size_t
on_header(char *buf, size_t size, size_t nitems, void *userdata)
{
	struct job *j = userdata;
	size_t n = size * nitems;

	if (n > 12 && strncasecmp(buf, "retry-after:", 12) == 0) {
		size_t vlen = n - 12;

		while (vlen > 0 && (buf[12 + vlen - 1] == '\r' ||
				    buf[12 + vlen - 1] == '\n'))
			vlen--;
		if (vlen >= sizeof(j->retry_after))
			vlen = sizeof(j->retry_after) - 1;
		memcpy(j->retry_after, buf + 12, vlen);
		j->retry_after[vlen] = '\0';
	}
	return n;
}

/* The connect-time SSRF check: refuse a socket to a private address,
 * whatever the name resolved to this time. */
static curl_socket_t
on_open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *addr)
{
	struct job *j = clientp;
	enum sinkaddr_class c;

	(void)purpose;
	c = sinkaddr_classify(&addr->addr);
	if (!sinkaddr_is_allowed(c)) {
		char text[INET6_ADDRSTRLEN] = "?";

		if (addr->family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)&addr->addr)->sin_addr,
				  text, sizeof(text));
		else if (addr->family == AF_INET6)
			inet_ntop(AF_INET6,
				  &((struct sockaddr_in6 *)&addr->addr)->sin6_addr,
				  text, sizeof(text));
		snprintf(j->refused, sizeof(j->refused),
			 "refused to connect to %s address %s",
			 sinkaddr_class_name(c), text);
		return CURL_SOCKET_BAD;
	}
	return socket(addr->family, addr->socktype, addr->protocol);
}

#if LIBCURL_VERSION_NUM >= 0x075000
/* libcurl resends a request by itself when a reused connection dies
 * before any answer.  That would be an attempt nobody logged, sent
 * without backoff and outside the rate limit: stop it, and let the
 * failure be retried like any other. */
static int
on_prereq(void *clientp, char *primary_ip, char *local_ip, int primary_port,
	  int local_port)
{
	struct job *j = clientp;

	(void)primary_ip;
	(void)local_ip;
	(void)primary_port;
	(void)local_port;
	if (++j->sends > 1) {
		snprintf(j->refused, sizeof(j->refused),
			 "connection closed before a response");
		return CURL_PREREQFUNC_ABORT;
	}
	return CURL_PREREQFUNC_OK;
}
#endif

/* Build the request and add it to the multi handle.  false: give up on
 * this attempt (recorded as failed). */
static bool
start_job(struct dispatch *d, struct job *j)
{
	struct dsub *s = j->sub;
	const char *secrets[2];
	size_t nsecrets = 0;
	struct cloudevent ev;
	int built;
	CURL *e;

	secrets[nsecrets++] = s->secret;
	if (s->prev_secret)
		secrets[nsecrets++] = s->prev_secret;
	{
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		j->started_wall = ts.tv_sec;
		j->started_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	}
	j->started_us = now_us();
	if (ce_from_stored(j->attrs, j->data, j->data_len, j->data_kind, &ev) != 0) {
		log_error("dispatch: event %lld cannot be read back",
			  (long long)j->seq);
		snprintf(j->error, sizeof(j->error), "the stored event is damaged");
		return false;
	}
	built = webhook_build(&s->sub, secrets, nsecrets, &ev, j->seq,
			      (long long)j->started_wall, &j->req);
	ce_free(&ev);
	if (built != 0) {
		snprintf(j->error, sizeof(j->error), "cannot sign: malformed secret");
		return false;
	}
	/* the request holds all of it now */
	free(j->attrs);
	free(j->data);
	j->attrs = NULL;
	j->data = NULL;
	for (size_t i = 0; i < j->req.nheaders; i++)
		j->hdrs = curl_slist_append(j->hdrs, j->req.headers[i]);
	e = d->nspare > 0 ? d->spare[--d->nspare] : curl_easy_init();
	if (e == NULL) {
		snprintf(j->error, sizeof(j->error), "out of transfer handles");
		return false;
	}
	curl_easy_setopt(e, CURLOPT_URL, s->sub.sink);
	curl_easy_setopt(e, CURLOPT_POST, 1L);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, j->req.body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)j->req.body_len);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, j->hdrs);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, s->sub.delivery.timeout_ms);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_PROXY, "");
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(e, CURLOPT_PROTOCOLS, CURLPROTO_HTTP | CURLPROTO_HTTPS);
#endif
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, j);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, j);
	curl_easy_setopt(e, CURLOPT_PRIVATE, j);
#if LIBCURL_VERSION_NUM >= 0x075000
	curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, on_prereq);
	curl_easy_setopt(e, CURLOPT_PREREQDATA, j);
#endif
	if (!d->cfg->allow_private_sinks) {
		curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
		curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, j);
	}
	j->easy = e;
	j->state = JOB_IN_FLIGHT;
	if (curl_multi_add_handle(d->multi, e) != CURLM_OK) {
		curl_easy_cleanup(e);
		j->easy = NULL;
		snprintf(j->error, sizeof(j->error), "cannot start the transfer");
		return false;
	}
	d->in_flight++;
	return true;
}

/* Decide what an attempt means for its delivery. */
static void
judge(struct dispatch *d, struct job *j, long status, const char *transport)
{
	const struct sub_retry *retry = &j->sub->sub.delivery.retry;
	long ra_ms = 0;
	enum webhook_outcome o;

	j->state = JOB_DONE;
	j->status = status;
	j->latency_ms = (int)((now_us() - j->started_us) / 1000);
	o = webhook_classify(status, j->retry_after[0] ? j->retry_after : NULL,
			     time(NULL), &ra_ms);
	if (transport)
		snprintf(j->error, sizeof(j->error), "%s", transport);
	else if (o != WEBHOOK_DELIVERED)
		snprintf(j->error, sizeof(j->error), "HTTP %ld", status);
	j->new_attempts = j->attempts;
	j->new_state = "pending";
	switch (o) {
	case WEBHOOK_DELIVERED:
		j->new_attempts++;
		j->new_state = "succeeded";
		j->error[0] = '\0';
		break;
	case WEBHOOK_DEFER:
		/* not an attempt; nothing more to this subscriber until then */
		j->delay_ms = backoff_wait_ms(
			backoff_delay_ms(retry, j->attempts > 0 ? j->attempts : 1,
					 uniform(d)), ra_ms);
		ratelimit_block_until(&j->sub->rl, now_us() + (int64_t)ra_ms * 1000);
		break;
	case WEBHOOK_GONE:
		j->gone = true;
		break;
	case WEBHOOK_RETRY:
		j->new_attempts++;
		if (j->new_attempts >= retry->max_attempts)
			j->new_state = "failed";
		else
			j->delay_ms = backoff_delay_ms(retry, j->new_attempts,
						       uniform(d));
		break;
	}
}

/* Drain libcurl's finished transfers into results. */
static void
reap(struct dispatch *d)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(d->multi, &left)) != NULL) {
		struct job *j = NULL;
		long status = 0;
		CURL *e = m->easy_handle;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&j);
		if (m->data.result == CURLE_OK) {
			curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
			judge(d, j, status, NULL);
		} else {
			judge(d, j, 0, j->refused[0] ? j->refused :
					curl_easy_strerror(m->data.result));
		}
		curl_multi_remove_handle(d->multi, e);
		/* every option is set again for the next transfer */
		if (d->nspare < SPARE_EASY)
			d->spare[d->nspare++] = e;
		else
			curl_easy_cleanup(e);
		j->easy = NULL;
		d->in_flight--;
		ratelimit_release(&j->sub->rl);
		finish(d, j);
	}
}

/* Start what the rate limits allow; returns the time (us from now) when
 * a limited subscription may go again, or -1 when none waits on time. */
static int64_t
start_allowed(struct dispatch *d)
{
	struct dsub **pp = &d->busy;
	int64_t wait = -1, now = now_us();

	while (*pp) {
		struct dsub *s = *pp;

		while (s->qhead && !atomic_load(&d->stopping)) {
			int64_t next;

			if (!ratelimit_try_acquire(&s->rl, now)) {
				next = ratelimit_next_us(&s->rl, now);
				if (next >= 0 && (wait < 0 || next < wait))
					wait = next;
				break;
			}
			{
				struct job *j = dequeue(s);

				if (!start_job(d, j)) {
					ratelimit_release(&s->rl);
					j->state = JOB_DONE;
					j->new_state = "pending";
					j->new_attempts = j->attempts + 1;
					j->delay_ms = backoff_delay_ms(&s->sub.delivery.retry,
								       j->new_attempts,
								       uniform(d));
					finish(d, j);
				}
			}
		}
		if (s->qhead == NULL) {
			s->listed = false;
			*pp = s->bnext;
		} else {
			pp = &s->bnext;
		}
	}
	return wait;
}

/* --- writing results back --- */

/* The write-back is over: forget what was written, or keep it to be
 * written again. */
static void
writeback_done(struct dispatch *d, bool ok)
{
	int64_t now = now_us();
	struct job *j;

	if (!ok) {
		/* the next write-back takes them again, after a pause */
		d->db_pause_us = now + DB_PAUSE_MS * 1000;
		while ((j = d->writing) != NULL) {
			d->writing = j->next;
			finish(d, j);
		}
		return;
	}
	while ((j = d->writing) != NULL) {
		d->writing = j->next;
		if (j->gone)
			j->sub->active = false;
		/* its key may have a next delivery ready now */
		j->sub->work = true;
		d->want_fetch = true;
		/* wake for our own retries, not just the next sweep */
		if (j->state == JOB_DONE && strcmp(j->new_state, "pending") == 0) {
			int64_t due = now + (int64_t)j->delay_ms * 1000;

			if (j->sub->wake_us == 0 || due < j->sub->wake_us)
				j->sub->wake_us = due;
			if (d->next_retry_us == 0 || due < d->next_retry_us)
				d->next_retry_us = due;
		}
		held_remove(d, j);
		job_free(j);
	}
	/* a subscription disabled by a 410 keeps nothing queued */
	for (struct dsub *s = d->busy; s; s = s->bnext)
		if (!s->active)
			release_queue(d, s);
}

/* Send every result, to be written in one transaction; false when none
 * was sent: there was none, or nothing to write (done at once), or it
 * could not be sent (they stay to be written). */
static bool
writeback_send(struct dispatch *d)
{
	/* herald_dispatch_writeback's parameters: the arrays built here,
	 * then the three of the keys whose heads move (keyhead_params) */
	enum { R_SUB, R_SEQ, R_STATE, R_ATTEMPTS, R_DELAY, R_STATUS, R_ERROR,
	       R_AT, R_LATENCY, R_HEAD, GONE, KEYS, NPARAMS = KEYS + 3 };
	static const uint32_t oids[KEYS] = {
		[R_SUB] = STORE_OID_TEXT, [R_SEQ] = STORE_OID_INT8,
		[R_STATE] = STORE_OID_TEXT, [R_ATTEMPTS] = STORE_OID_INT4,
		[R_DELAY] = STORE_OID_INT8, [R_STATUS] = STORE_OID_INT4,
		[R_ERROR] = STORE_OID_TEXT, [R_AT] = STORE_OID_INT8,
		[R_LATENCY] = STORE_OID_INT4, [R_HEAD] = STORE_OID_TEXT,
		[GONE] = STORE_OID_TEXT};
	struct store_array a[KEYS], locks;
	struct keyhead_set heads = {0};
	const char *values[NPARAMS];
	int lengths[NPARAMS], formats[NPARAMS];
	bool sent = false, nothing;

	if (d->results == NULL)
		return false;
	for (int i = 0; i < KEYS; i++)
		store_array_init(&a[i], oids[i]);
	for (struct job *j = d->results; j; j = j->next) {
		const char *id = j->sub->id;
		int32_t status = (int32_t)j->status;
		const char *err = j->error[0] ? j->error : NULL;

		if (j->state == JOB_RELEASE)
			continue; /* nothing was written for it */
		store_array_add(&a[R_SUB], id, strlen(id));
		store_array_add_int(&a[R_SEQ], j->seq);
		store_array_add(&a[R_STATE], j->new_state, strlen(j->new_state));
		store_array_add_int(&a[R_ATTEMPTS], j->new_attempts);
		store_array_add_int(&a[R_DELAY], j->delay_ms);
		if (status)
			store_array_add_int(&a[R_STATUS], status);
		else
			store_array_add(&a[R_STATUS], NULL, 0);
		store_array_add(&a[R_ERROR], err, err ? strlen(err) : 0);
		store_array_add_int(&a[R_AT], j->started_ms);
		store_array_add_int(&a[R_LATENCY], j->latency_ms);
		/* only text that PostgreSQL will take: valid UTF-8, no NUL */
		if (j->head_len && memchr(j->head, 0, j->head_len) == NULL &&
		    ce_utf8_valid(j->head, j->head_len))
			store_array_add(&a[R_HEAD], j->head, j->head_len);
		else
			store_array_add(&a[R_HEAD], NULL, 0);
		/* a finished delivery hands its key to the next one */
		if (strcmp(j->new_state, "pending") != 0)
			keyhead_add(&heads, id, j->key);
		if (j->gone)
			store_array_add(&a[GONE], id, strlen(id));
	}
	nothing = a[R_SUB].count == 0; /* only jobs handed back unsent */
	if (!nothing) {
		for (int i = 0; i < KEYS; i++)
			values[i] = store_array_param(&a[i], &lengths[i]);
		keyhead_params(&heads, &locks, values + KEYS, lengths + KEYS);
		for (int i = 0; i < NPARAMS; i++)
			formats[i] = 1;
		sent = store_send(d->conn,
				  heads.n ? &writeback_durable : &writeback,
				  values, lengths, formats, 0);
		store_array_free(&locks);
	}
	for (int i = 0; i < KEYS; i++)
		store_array_free(&a[i]);
	keyhead_free(&heads);
	if (!sent && !nothing)
		return false; /* they stay to be written */
	d->writing = d->results;
	d->results = NULL;
	d->nresults = 0;
	if (sent)
		d->db_op = DB_WRITEBACK;
	else
		writeback_done(d, true);
	return sent;
}

/* Take the answer to the statement in flight, if it has come (wait for
 * it when block). */
static void
db_collect(struct dispatch *d, bool block)
{
	PGresult *r;
	int op = d->db_op;

	if (op == DB_IDLE)
		return;
	if (block)
		r = store_await(d->conn);
	else if (!store_collect(d->conn, &r))
		return;
	d->db_op = DB_IDLE;
	if (op == DB_FETCH)
		fetch_done(d, r);
	else
		writeback_done(d, pg_ok(r, PGRES_TUPLES_OK, "write back", d));
	PQclear(r);
}

/* Start the next statement, when none is in flight: fetches and
 * write-backs take turns, so neither waits behind a stream of the
 * other. */
static void
db_next(struct dispatch *d)
{
	if (d->db_op != DB_IDLE || now_us() < d->db_pause_us)
		return;
	if (d->want_fetch && (!d->fetched_last || d->results == NULL)) {
		d->fetched_last = true;
		if (fetch_send(d))
			return;
	}
	d->fetched_last = false;
	writeback_send(d);
}

/* --- partitions --- */

/* Own a fair share of the partitions: ceil(64 / live instances). */
static bool
rebalance(struct dispatch *d)
{
	PGresult *r;
	int instances, target;
	struct store_array want;
	const char *v;
	int len, fmt = 1;

	d->last_rebalance_us = now_us();
	r = store_exec(d->conn, &count_instances, NULL, NULL, NULL);
	if (!pg_ok(r, PGRES_TUPLES_OK, "count instances", d)) {
		PQclear(r);
		return false;
	}
	instances = atoi(PQgetvalue(r, 0, 0));
	PQclear(r);
	if (instances < 1)
		instances = 1;
	target = (STORE_PARTITIONS + instances - 1) / instances;

	if (d->nowned > target) {
		/* give back idle partitions beyond the share */
		for (int p = STORE_PARTITIONS - 1; p >= 0 && d->nowned > target; p--) {
			char part[16];
			const char *pv = part;

			if (!d->owned[p] || d->held_per_part[p] > 0)
				continue;
			snprintf(part, sizeof(part), "%d", p);
			r = store_exec(d->conn, &release_part, &pv, NULL, NULL);
			if (!pg_ok(r, PGRES_TUPLES_OK, "release partition", d)) {
				PQclear(r);
				return false;
			}
			PQclear(r);
			d->owned[p] = false;
			d->nowned--;
			log_info("dispatch: released partition %d", p);
		}
		return true;
	}
	if (d->nowned == target)
		return true;
	store_array_init(&want, STORE_OID_INT4);
	for (int p = 0; p < STORE_PARTITIONS; p++)
		if (!d->owned[p])
			store_array_add_int(&want, p);
	v = store_array_param(&want, &len);
	r = store_exec(d->conn, &try_parts, &v, &len, &fmt);
	store_array_free(&want);
	if (!pg_ok(r, PGRES_TUPLES_OK, "take partitions", d)) {
		PQclear(r);
		return false;
	}
	store_array_init(&want, STORE_OID_INT4);
	for (int i = 0; i < PQntuples(r); i++) {
		int p = atoi(PQgetvalue(r, i, 0));

		if (p < 0 || p >= STORE_PARTITIONS || d->owned[p])
			continue;
		d->owned[p] = true;
		d->nowned++;
		store_array_add_int(&want, p);
	}
	PQclear(r);
	if (want.count > 0) {
		/* a dead instance's work, if any, is found and sent at once */
		log_info("dispatch: owning %d of %d partitions (%d instances)",
			 d->nowned, STORE_PARTITIONS, instances);
		d->want_sweep = true;
	}
	store_array_free(&want);
	return true;
}

/* --- the database session --- */

/* Everything the session held (partitions) is gone with it: stop every
 * transfer, forget all work, start over. */
static void
lose_session(struct dispatch *d)
{
	for (size_t h = 0; h < HASH_BUCKETS; h++) {
		struct job *j = d->held[h], *next;

		for (; j; j = next) {
			next = j->hnext;
			if (j->easy) {
				curl_multi_remove_handle(d->multi, j->easy);
				curl_easy_cleanup(j->easy);
				ratelimit_release(&j->sub->rl);
			}
			job_free(j);
		}
		d->held[h] = NULL;
	}
	for (size_t h = 0; h < HASH_BUCKETS; h++)
		for (struct dsub *s = d->subs[h]; s; s = s->hnext) {
			s->qhead = s->qtail = NULL;
			s->queued = 0;
			s->listed = false;
		}
	d->busy = NULL;
	d->results = NULL;
	d->nresults = 0;
	d->writing = NULL;
	d->db_op = DB_IDLE;
	d->nheld = 0;
	d->in_flight = 0;
	memset(d->owned, 0, sizeof(d->owned));
	memset(d->held_per_part, 0, sizeof(d->held_per_part));
	d->nowned = 0;
}

/*
 * The dispatcher's commits need not wait for the disk: if the database
 * loses its last moments in a crash, the outcomes written then revert,
 * whole transactions at a time, to pending, and those deliveries are sent
 * again, which at-least-once allows.  Ingest commits stay synchronous, and
 * so do write-backs that move a key's head (writeback_durable).
 */
static bool
session_setup(struct dispatch *d)
{
	return store_simple(d->conn, "SET application_name = 'herald-dispatch'",
			    NULL, 0) &&
	       store_simple(d->conn, "SET synchronous_commit = off", NULL, 0) &&
	       store_simple(d->conn, "LISTEN herald_event", NULL, 0) &&
	       store_simple(d->conn, "LISTEN herald_subscription", NULL, 0);
}

/* A deleted subscription: stop its requests in flight at once. */
static void
abort_transfers(struct dispatch *d, struct dsub *s)
{
	for (size_t h = 0; h < HASH_BUCKETS; h++) {
		for (struct job *j = d->held[h]; j; j = j->hnext) {
			if (j->sub != s || j->easy == NULL)
				continue;
			curl_multi_remove_handle(d->multi, j->easy);
			curl_easy_cleanup(j->easy);
			j->easy = NULL;
			d->in_flight--;
			ratelimit_release(&s->rl);
			j->state = JOB_RELEASE;
			finish(d, j);
		}
	}
}

/* A writer (or the API) announced new work: the ids of the subscriptions
 * concerned, comma-separated, or "*" when there were too many to list. */
static void
announced(struct dispatch *d, const char *payload)
{
	char *copy, *tok, *save = NULL, **ids = NULL;
	size_t n = 0;

	if (payload == NULL || payload[0] == '\0' || payload[0] == '*') {
		d->want_sweep = true;
		return;
	}
	copy = xstrdup(payload);
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		ids = xrealloc(ids, (n + 1) * sizeof(*ids));
		ids[n++] = tok;
	}
	if (!mark_work(d, ids, n))
		d->want_sweep = true;
	free(ids);
	free(copy);
}

/* Our own retries that fall due now: their subscriptions have work. */
static void
wake_retries(struct dispatch *d, int64_t now)
{
	d->next_retry_us = 0;
	for (size_t h = 0; h < HASH_BUCKETS; h++) {
		for (struct dsub *s = d->subs[h]; s; s = s->hnext) {
			if (s->wake_us == 0)
				continue;
			if (s->wake_us <= now) {
				s->wake_us = 0;
				s->work = true;
				d->want_fetch = true;
			} else if (d->next_retry_us == 0 || s->wake_us < d->next_retry_us) {
				d->next_retry_us = s->wake_us;
			}
		}
	}
}

/* Act on the notifications taken in: new events want a fetch; a changed subscription
 * is reloaded (or forgotten, with its work, when deleted). */
static void
notifications(struct dispatch *d)
{
	PGnotify *n;

	while ((n = PQnotifies(store_pg(d->conn))) != NULL) {
		if (strcmp(n->relname, "herald_event") == 0) {
			announced(d, n->extra);
		} else if (strcmp(n->relname, "herald_subscription") == 0) {
			struct dsub *s = sub_find(d, n->extra);

			if (s != NULL) {
				char *ids[1] = {s->id};

				/* unless the reload finds it active */
				s->active = false;
				s->seen = false;
				subs_load(d, ids, 1);
				s->work = s->active; /* resumed: its backlog waits */
				if (!s->active)
					release_queue(d, s);
				if (!s->seen)
					abort_transfers(d, s);
			}
			d->want_fetch = true;
		}
		PQfreemem(n);
	}
}

/* epoll tags of the two sockets that are not libcurl's (whose tag is
 * the descriptor itself) */
#define TAG_SESSION (UINT64_C(1) << 32)
#define TAG_WAKE (UINT64_C(2) << 32)
#define MAX_EVENTS 256

/* libcurl says which events of a socket to wait for, or to forget it. */
static int
on_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct dispatch *d = userp;
	struct epoll_event ev = {0};

	(void)e;
	(void)socketp;
	if (what == CURL_POLL_REMOVE) {
		epoll_ctl(d->epfd, EPOLL_CTL_DEL, fd, NULL); /* gone if closed */
		return 0;
	}
	ev.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0) |
		    ((what & CURL_POLL_OUT) ? EPOLLOUT : 0);
	ev.data.u64 = (uint64_t)(unsigned)fd;
	if (epoll_ctl(d->epfd, EPOLL_CTL_MOD, fd, &ev) != 0 &&
	    epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
		log_error("dispatch: cannot watch a socket: %s", strerror(errno));
	return 0;
}

/* libcurl wants to be called in timeout_ms (-1: no timer). */
static int
on_timer(CURLM *m, long timeout_ms, void *userp)
{
	struct dispatch *d = userp;

	(void)m;
	d->curl_due_us = timeout_ms < 0 ? -1 : now_us() + (int64_t)timeout_ms * 1000;
	return 0;
}

/* Watch the session's socket (a new one after a reconnect). */
static void
watch_session(struct dispatch *d)
{
	int fd = PQsocket(store_pg(d->conn));
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG_SESSION};

	if (fd == d->pgfd)
		return;
	d->pgfd = fd;
	/* (a closed socket left the set by itself: never delete by number,
	 * which may be libcurl's now) */
	if (fd >= 0 && epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) != 0 &&
	    (errno != EEXIST || epoll_ctl(d->epfd, EPOLL_CTL_MOD, fd, &ev) != 0))
		log_error("dispatch: cannot watch the session: %s", strerror(errno));
}

/* Wait at most timeout_ms, then let libcurl act on the ready sockets and
 * its timer.  true when the session's socket has input. */
static bool
wait_and_transfer(struct dispatch *d, int timeout_ms)
{
	struct epoll_event evs[MAX_EVENTS];
	bool pg_input = false;
	int n, running;

	if (d->curl_due_us >= 0) {
		int64_t due = d->curl_due_us - now_us();
		int t = due <= 0 ? 0 : (int)((due + 999) / 1000);

		if (t < timeout_ms)
			timeout_ms = t;
	}
	n = epoll_wait(d->epfd, evs, MAX_EVENTS, timeout_ms);
	for (int i = 0; i < n; i++) {
		uint64_t tag = evs[i].data.u64;

		if (tag == TAG_SESSION) {
			pg_input = true;
		} else if (tag == TAG_WAKE) {
			uint64_t v;

			if (read(d->wakefd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				log_error("dispatch: wake: %s", strerror(errno));
		} else {
			uint32_t e = evs[i].events;
			int mask = ((e & EPOLLIN) ? CURL_CSELECT_IN : 0) |
				   ((e & EPOLLOUT) ? CURL_CSELECT_OUT : 0) |
				   ((e & (EPOLLERR | EPOLLHUP)) ? CURL_CSELECT_ERR : 0);

			curl_multi_socket_action(d->multi, (curl_socket_t)tag, mask,
						 &running);
		}
	}
	if (d->curl_due_us >= 0 && now_us() >= d->curl_due_us) {
		d->curl_due_us = -1; /* on_timer sets the next one */
		curl_multi_socket_action(d->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	}
	reap(d);
	return pg_input;
}

/*
 * The loop.  At most one statement is in flight on the session (a fetch
 * or a write-back, sent without waiting); transfers go on while
 * PostgreSQL works, and its socket wakes the loop like theirs do.  The
 * rarer statements (sweep, rebalance, loading subscriptions) run, and
 * wait, only when none is in flight.
 */
static void *
dispatch_main(void *arg)
{
	struct dispatch *d = arg;
	int64_t stop_deadline = 0;
	bool pg_input = true; /* the session's socket may have input */

	rebalance(d);
	d->want_sweep = true;
	for (;;) {
		int64_t now = now_us(), wait_us, limited;
		bool stopping = atomic_load(&d->stopping);

		if (stopping && stop_deadline == 0) {
			stop_deadline = now + (int64_t)d->stop_timeout_ms * 1000;
			/* hand back what has not started */
			for (struct dsub *s = d->busy; s; s = s->bnext)
				release_queue(d, s);
			d->busy = NULL;
		}
		if (stopping && (d->in_flight == 0 || now >= stop_deadline))
			break;
		if (store_conn_broken(d->conn)) {
			lose_session(d);
			d->pgfd = -1; /* a new socket, maybe with the old number */
			if (!store_ensure(d->conn) || !session_setup(d)) {
				struct timespec ts = {0, 500 * 1000000L};

				nanosleep(&ts, NULL);
				continue;
			}
			log_info("dispatch: database session restored");
			rebalance(d);
		}
		/* (a read with nothing there is a wasted system call; but a
		 * statement that never answers must meet its deadline) */
		if (d->db_op != DB_IDLE &&
		    (pg_input || now - d->db_checked_us >= POLL_MS * 1000)) {
			d->db_checked_us = now;
			db_collect(d, false);
		} else if (pg_input) {
			PQconsumeInput(store_pg(d->conn));
		}
		if (d->db_op == DB_IDLE) {
			notifications(d);
			if (d->next_retry_us != 0 && now >= d->next_retry_us)
				wake_retries(d, now);
			if (!stopping && now - d->last_rebalance_us >= REBALANCE_MS * 1000)
				rebalance(d);
			if (!stopping && (d->want_sweep ||
					  now - d->last_sweep_us >= POLL_MS * 1000))
				sweep(d);
			if (stopping)
				d->want_fetch = false;
			db_next(d);
		}
		limited = start_allowed(d);

		wait_us = POLL_MS * 1000;
		if (limited >= 0 && limited < wait_us)
			wait_us = limited;
		if (d->next_retry_us != 0 && d->next_retry_us - now_us() < wait_us)
			wait_us = d->next_retry_us - now_us() > 0 ?
				  d->next_retry_us - now_us() : 0;
		if (d->db_op == DB_IDLE &&
		    (d->want_fetch || d->want_sweep || d->results != NULL)) {
			/* more to do at once, unless a failure asked for a pause */
			int64_t pause = d->db_pause_us - now_us();

			if (pause <= 0)
				wait_us = 0;
			else if (pause < wait_us)
				wait_us = pause;
		}
		watch_session(d);
		pg_input = wait_and_transfer(d, (int)((wait_us + 999) / 1000));
	}
	/* record what finished; the rest stays pending for whoever is next */
	db_collect(d, true);
	if (writeback_send(d))
		db_collect(d, true);
	return NULL;
}

static void
close_fds(struct dispatch *d)
{
	if (d->epfd >= 0)
		close(d->epfd);
	if (d->wakefd >= 0)
		close(d->wakefd);
}

struct dispatch *
dispatch_start(const struct config *cfg)
{
	struct dispatch *d = xcalloc(1, sizeof(*d));
	char err[256];

	d->cfg = cfg;
	d->epfd = d->wakefd = -1;
	d->rng = (uint64_t)time(NULL) ^ ((uint64_t)now_us() << 17) ^ 0x9e3779b97f4a7c15ULL;
	d->conn = store_connect(cfg->database_url, err, sizeof(err));
	if (d->conn == NULL) {
		log_error("dispatch: cannot connect: %s", err);
		free(d);
		return NULL;
	}
	store_set_timeout(d->conn, DB_TIMEOUT_MS);
	if (!session_setup(d)) {
		log_error("dispatch: cannot set up the session");
		goto err;
	}
	d->pgfd = -1;
	d->curl_due_us = -1;
	d->epfd = epoll_create1(EPOLL_CLOEXEC);
	d->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->epfd < 0 || d->wakefd < 0) {
		log_error("dispatch: cannot set up polling: %s", strerror(errno));
		goto err;
	}
	{
		struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG_WAKE};

		if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->wakefd, &ev) != 0)
			goto err;
	}
	d->multi = curl_multi_init();
	if (d->multi == NULL)
		goto err;
	curl_multi_setopt(d->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 64L);
	curl_multi_setopt(d->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
	curl_multi_setopt(d->multi, CURLMOPT_SOCKETDATA, d);
	curl_multi_setopt(d->multi, CURLMOPT_TIMERFUNCTION, on_timer);
	curl_multi_setopt(d->multi, CURLMOPT_TIMERDATA, d);
	if (pthread_create(&d->thread, NULL, dispatch_main, d) != 0) {
		log_error("dispatch: cannot start thread");
		goto err;
	}
	return d;
err:
	if (d->multi)
		curl_multi_cleanup(d->multi);
	close_fds(d);
	store_close(d->conn);
	free(d);
	return NULL;
}

void
dispatch_stop(struct dispatch *d, int timeout_ms)
{
	if (d == NULL)
		return;
	d->stop_timeout_ms = timeout_ms;
	atomic_store(&d->stopping, true);
	{
		uint64_t one = 1;

		if (write(d->wakefd, &one, sizeof(one)) < 0)
			log_error("dispatch: cannot wake: %s", strerror(errno));
	}
	pthread_join(d->thread, NULL);
	lose_session(d);
	for (size_t h = 0; h < HASH_BUCKETS; h++) {
		struct dsub *s = d->subs[h], *next;

		for (; s; s = next) {
			next = s->hnext;
			sub_clear(s);
			free(s);
		}
	}
	while (d->nspare > 0)
		curl_easy_cleanup(d->spare[--d->nspare]);
	curl_multi_cleanup(d->multi);
	close_fds(d);
	store_close(d->conn);
	free(d);
}
