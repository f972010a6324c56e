/* The relay: events a producer's transactions emit into its WAL, read from a logical replication slot and published. */
#include "relay.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "cloudevent.h"
#include "log.h"
#include "metrics.h"
#include "monotime.h"
#include "opevent.h"
#include "pgoutput.h"
#include "store.h"
#include "xalloc.h"

/*
 * A producer emits an event with pg_logical_emit_message(true, 'herald',
 * <CloudEvent JSON>) inside its own transaction.  PostgreSQL decodes the
 * message only if that transaction commits, and hands committed
 * transactions to a logical replication slot in commit order.  One relay
 * thread per producer database reads that slot with the streaming
 * replication protocol (START_REPLICATION ... LOGICAL) through pgoutput,
 * the plugin every PostgreSQL ships, with its messages option on; its
 * publication (RELAY_PUBLICATION) covers no table, so only messages and
 * the begin/commit records around them come.
 *
 * The events of the transactions read so far are handed to the writer as
 * one ingest (the path of a published event: validation, deduplication on
 * (source, id), seq, fan-out, ordering) and only once herald has committed
 * them does the relay report the last commit's end as flushed: the slot
 * then lets that WAL go.  A crash anywhere before that report re-reads the
 * transactions from the slot, and deduplication drops what was stored.
 *
 * An event that is not valid is logged, counted and published as
 * herald.relay.rejected (its id from the relay and the message's LSN, so
 * a re-read makes no second one), in the same ingest: the stream goes on.
 *
 * One instance at a time runs a relay: it holds a session advisory lock
 * on the producer's database (so a dead instance's lock goes with its
 * connection) and tries for it every PAUSE_MS otherwise.  The slot itself
 * refuses a second reader.
 *
 * Each relay's fields belong to its thread, but for `stopping` (set by
 * relays_stop, which then wakes the thread through wakefd), the ingest's
 * answer (under lock) and the status shown by relays_status (under
 * status_lock, with the registry).
 */

#define RELAY_PUBLICATION "herald_relay"
#define RELAY_PREFIX "herald"
/* The namespace of the relays' advisory locks ("rela"); the key is the
 * slot name's hashtext. */
#define RELAY_LOCK_NS "1919249505"
#define PAUSE_MS 1000       /* between attempts to own, after a failure */
#define STATUS_MS 2000      /* a status update at least this often */
#define SILENCE_MS 15000    /* no word from the server this long: dead */
#define BATCH_EVENTS 512    /* committed transactions' events per ingest */
#define CONNECT_TIMEOUT "10"

struct relay {
	pthread_t thread;
	bool started;
	atomic_bool stopping;
	int wakefd;
	struct writer *writer;
	char *conninfo;  /* the producer's database */
	char *name;      /* host:port/dbname, in logs, metrics and status */
	char *slot;
	long max_event_bytes;
	long lag_warn;   /* bytes; 0: no warning */
	bool lag_warned;

	PGconn *lock;    /* holds the advisory lock */
	PGconn *repl;    /* replication=database, streaming */
	uint64_t flushed; /* reported: all before it is committed in herald */
	uint64_t wal_end; /* the server's end of WAL, as last said */
	uint64_t confirmed; /* the slot's, when streaming started */
	double lag_s;     /* commit to commit in herald, last batch */
	int64_t last_heard_ms, last_status_ms;

	/* the transaction being read: its events */
	bool in_txn;
	int64_t txn_time;
	struct cloudevent *txn;
	size_t ntxn, captxn;
	/* events of committed transactions not handed to herald yet */
	struct cloudevent *batch;
	size_t nbatch, capbatch;
	uint64_t batch_end;    /* the last of them's commit end */
	int64_t batch_time;    /* and its commit time (PostgreSQL epoch, us) */
	size_t batch_rejected; /* of them, herald.relay.rejected events */

	pthread_mutex_t lock_answer;
	pthread_cond_t answered;
	bool done;

	/* shown by relays_status, under status_lock */
	bool owner;
	uint64_t st_flushed, st_wal_end;
	double st_lag_s;
	char last_error[256];
};

struct relays {
	struct relay *r;
	size_t n;
};

static pthread_mutex_t status_lock = PTHREAD_MUTEX_INITIALIZER;
static struct relays *registry; /* the running set, for relays_status */

static int64_t
pg_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return pgo_time_from_unix_us((int64_t)ts.tv_sec * 1000000 +
				     ts.tv_nsec / 1000);
}

/* Record the last error for GET /v1/relays (and log it). */
static void __attribute__((format(printf, 2, 3)))
fail(struct relay *r, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warn("relay %s: %s", r->name, msg);
	pthread_mutex_lock(&status_lock);
	snprintf(r->last_error, sizeof(r->last_error), "%s", msg);
	pthread_mutex_unlock(&status_lock);
}

/* The first line of libpq's message, without its newline. */
static const char *
pq_error(PGconn *c, char *buf, size_t len)
{
	size_t n;

	snprintf(buf, len, "%s", c ? PQerrorMessage(c) : "no connection");
	n = strcspn(buf, "\n");
	buf[n] = '\0';
	return buf;
}

static void
publish_status(struct relay *r)
{
	double lag_bytes = r->wal_end > r->flushed ?
				   (double)(r->wal_end - r->flushed) : 0;

	pthread_mutex_lock(&status_lock);
	r->st_flushed = r->flushed;
	r->st_wal_end = r->wal_end;
	r->st_lag_s = r->lag_s;
	pthread_mutex_unlock(&status_lock);
	metrics_relay_lag(r->name, r->lag_s, lag_bytes);
	if (r->lag_warn > 0 && lag_bytes > (double)r->lag_warn &&
	    !r->lag_warned) {
		log_warn("relay %s: slot %s is %.0f bytes behind (relay_lag_warn "
			 "%ld): the producer keeps that much WAL",
			 r->name, r->slot, lag_bytes, r->lag_warn);
		r->lag_warned = true;
	} else if (r->lag_warned && lag_bytes <= (double)r->lag_warn) {
		log_info("relay %s: slot %s caught up", r->name, r->slot);
		r->lag_warned = false;
	}
}

static void
set_owner(struct relay *r, bool owner)
{
	pthread_mutex_lock(&status_lock);
	r->owner = owner;
	pthread_mutex_unlock(&status_lock);
}

/* ---------------------------------------------------------------- events */

static void
push(struct cloudevent **arr, size_t *n, size_t *cap, struct cloudevent *ev)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		*arr = xrealloc(*arr, *cap * sizeof(**arr));
	}
	(*arr)[(*n)++] = *ev;
}

static void
forget_txn(struct relay *r)
{
	ce_free_array(r->txn, r->ntxn);
	r->txn = NULL;
	r->ntxn = r->captxn = 0;
	r->in_txn = false;
}

static void
forget_batch(struct relay *r)
{
	ce_free_array(r->batch, r->nbatch);
	r->batch = NULL;
	r->nbatch = r->capbatch = r->batch_rejected = 0;
}

/* herald.relay.rejected for the message at lsn, into the open
 * transaction; false when even that cannot be built. */
static bool
rejected_event(struct relay *r, uint64_t lsn, const char *why,
	       struct cloudevent *ev)
{
	struct herald_error err;
	char lsntext[32], id[512];
	cJSON *o = cJSON_CreateObject(), *d;
	int rc;

	pgo_lsn_text(lsn, lsntext, sizeof(lsntext));
	/* the same message always makes the same id */
	snprintf(id, sizeof(id), "relay.rejected/%s/%s/%s", r->name, r->slot,
		 lsntext);
	cJSON_AddStringToObject(o, "specversion", "1.0");
	cJSON_AddStringToObject(o, "id", id);
	cJSON_AddStringToObject(o, "source", OPEVENT_SOURCE);
	cJSON_AddStringToObject(o, "type", "herald.relay.rejected");
	cJSON_AddStringToObject(o, "subject", r->name);
	cJSON_AddStringToObject(o, "partitionkey", r->name);
	cJSON_AddStringToObject(o, "datacontenttype", "application/json");
	d = cJSON_AddObjectToObject(o, "data");
	cJSON_AddStringToObject(d, "relay", r->name);
	cJSON_AddStringToObject(d, "slot", r->slot);
	cJSON_AddStringToObject(d, "lsn", lsntext);
	cJSON_AddStringToObject(d, "error", why);
	rc = ce_from_json(o, ev, &err);
	cJSON_Delete(o);
	if (rc != 0)
		log_error("relay %s: no herald.relay.rejected for %s: %s",
			  r->name, lsntext, err.message);
	return rc == 0;
}

/* One emitted message of the open transaction: its event, or its
 * rejection. */
static void
take_message(struct relay *r, const struct pgo_msg *m)
{
	struct cloudevent ev;
	struct herald_error err;
	char lsntext[32], why[320];

	pgo_lsn_text(m->lsn, lsntext, sizeof(lsntext));
	memset(&err, 0, sizeof(err));
	err.index = -1;
	if (m->content_len > (size_t)r->max_event_bytes) {
		snprintf(why, sizeof(why), "too_large: larger than %ld bytes",
			 r->max_event_bytes);
	} else if (ce_parse_structured((const char *)m->content,
				       m->content_len, &ev, &err) != 0) {
		snprintf(why, sizeof(why), "%s: %s", err.code, err.message);
	} else if (opevent_source_reserved(ev.source)) {
		ce_free(&ev);
		snprintf(why, sizeof(why),
			 "reserved_source: source %s is reserved for herald's "
			 "operational events", OPEVENT_SOURCE);
	} else {
		push(&r->txn, &r->ntxn, &r->captxn, &ev);
		return;
	}
	log_warn("relay %s: event at %s rejected: %s", r->name, lsntext, why);
	metrics_relay_rejected(r->name);
	metrics_ingested(METRICS_REJECTED, 1);
	if (rejected_event(r, m->lsn, why, &ev)) {
		push(&r->txn, &r->ntxn, &r->captxn, &ev);
		r->batch_rejected++;
	}
}

static void
ingest_done(struct ingest *in, void *arg)
{
	struct relay *r = arg;

	(void)in;
	pthread_mutex_lock(&r->lock_answer);
	r->done = true;
	pthread_cond_signal(&r->answered);
	pthread_mutex_unlock(&r->lock_answer);
}

/* Commit the batch in herald's database; then (only then) it may be
 * reported flushed.  false when it was not committed. */
static bool
commit_batch(struct relay *r)
{
	struct ingest in;
	size_t dups = 0;

	memset(&in, 0, sizeof(in));
	in.evs = r->batch;
	in.n = r->nbatch;
	in.seqs = xcalloc(in.n, sizeof(*in.seqs));
	in.duplicate = xcalloc(in.n, sizeof(*in.duplicate));
	in.deadline_ms = monotime_ms() + STORE_API_TIMEOUT_MS;
	in.done = ingest_done;
	in.arg = r;
	r->done = false;
	writer_submit(r->writer, &in);
	pthread_mutex_lock(&r->lock_answer);
	while (!r->done)
		pthread_cond_wait(&r->answered, &r->lock_answer);
	pthread_mutex_unlock(&r->lock_answer);
	for (size_t i = 0; i < in.n; i++)
		if (in.duplicate[i])
			dups++;
	free(in.seqs);
	free(in.duplicate);
	if (in.status != STORE_OK) {
		fail(r, "%zu events not committed in herald's database yet: "
			"re-reading them from the slot", in.n);
		return false;
	}
	/* the rejections were counted when read */
	metrics_ingested(METRICS_ACCEPTED, in.n - dups - r->batch_rejected);
	metrics_ingested(METRICS_DUPLICATE, dups);
	log_debug("relay %s: %zu events committed (%zu published before)",
		  r->name, in.n, dups);
	r->flushed = r->batch_end;
	r->lag_s = (double)(pg_now_us() - r->batch_time) / 1e6;
	if (r->lag_s < 0)
		r->lag_s = 0;
	forget_batch(r);
	return true;
}

/* ---------------------------------------------------------------- protocol */

static bool
send_status(struct relay *r, bool reply)
{
	unsigned char buf[PGO_STATUS_LEN];
	char e[256];

	pgo_status_update(buf, r->flushed, r->flushed, r->flushed, pg_now_us(),
			  reply);
	if (PQputCopyData(r->repl, (const char *)buf, sizeof(buf)) != 1 ||
	    PQflush(r->repl) != 0) {
		fail(r, "cannot report the position: %s",
		     pq_error(r->repl, e, sizeof(e)));
		return false;
	}
	r->last_status_ms = monotime_ms();
	publish_status(r);
	return true;
}

/* A pgoutput message; false on one that cannot be read. */
static bool
take_xlogdata(struct relay *r, const struct pgo_frame *f)
{
	struct pgo_msg m;

	if (!pgo_parse_msg(f->data, f->len, &m)) {
		fail(r, "a malformed pgoutput message (%zu bytes)", f->len);
		return false;
	}
	switch (m.kind) {
	case PGO_BEGIN:
		forget_txn(r);
		r->in_txn = true;
		r->txn_time = m.commit_time;
		break;
	case PGO_MESSAGE:
		if (strcmp(m.prefix, RELAY_PREFIX) != 0)
			break;
		if (!m.transactional || !r->in_txn) {
			char lsntext[32];

			pgo_lsn_text(m.lsn, lsntext, sizeof(lsntext));
			log_warn("relay %s: non-transactional message at %s "
				 "ignored: emit with transactional true",
				 r->name, lsntext);
			break;
		}
		take_message(r, &m);
		break;
	case PGO_COMMIT:
		for (size_t i = 0; i < r->ntxn; i++)
			push(&r->batch, &r->nbatch, &r->capbatch, &r->txn[i]);
		free(r->txn);
		r->txn = NULL;
		r->ntxn = r->captxn = 0;
		r->in_txn = false;
		if (r->nbatch == 0) {
			r->flushed = m.end_lsn; /* nothing of ours in it */
		} else {
			r->batch_end = m.end_lsn;
			r->batch_time = m.commit_time;
		}
		break;
	case PGO_OTHER:
		break;
	}
	return true;
}

static bool
take_frame(struct relay *r, const unsigned char *buf, size_t len)
{
	struct pgo_frame f;

	if (!pgo_parse_frame(buf, len, &f)) {
		fail(r, "a malformed replication message (%zu bytes)", len);
		return false;
	}
	r->last_heard_ms = monotime_ms();
	if (f.wal_end > r->wal_end)
		r->wal_end = f.wal_end;
	if (f.kind == PGO_XLOGDATA)
		return take_xlogdata(r, &f);
	/* a keepalive: everything before its end was sent, so with nothing
	 * read and not committed, all of it is done with */
	if (!r->in_txn && r->nbatch == 0 && f.wal_end > r->flushed) {
		r->flushed = f.wal_end;
		r->lag_s = 0;
	}
	if (f.reply_requested)
		return send_status(r, false);
	return true;
}

/* ---------------------------------------------------------------- sessions */

static void
close_all(struct relay *r)
{
	if (r->repl != NULL)
		PQfinish(r->repl);
	if (r->lock != NULL)
		PQfinish(r->lock);
	r->repl = r->lock = NULL;
	forget_txn(r);
	forget_batch(r);
	set_owner(r, false);
}

static PGconn *
producer_connect(struct relay *r, bool replication)
{
	const char *keys[] = {"connect_timeout", "dbname", "replication",
			      "application_name", NULL};
	const char *values[] = {CONNECT_TIMEOUT, r->conninfo, "database",
				"herald", NULL};
	char e[256];
	PGconn *c;

	if (!replication) {
		keys[2] = "application_name";
		values[2] = "herald";
		keys[3] = values[3] = NULL;
	}
	c = PQconnectdbParams(keys, values, 1);
	if (PQstatus(c) != CONNECTION_OK) {
		fail(r, "cannot connect%s: %s", replication ? " to replicate" : "",
		     pq_error(c, e, sizeof(e)));
		PQfinish(c);
		return NULL;
	}
	return c;
}

/* A query on the lock session with one text parameter; its result when
 * it has the status wanted, else NULL (logged). */
static PGresult *
query(struct relay *r, const char *sql, const char *param,
      ExecStatusType want)
{
	PGresult *res = store_exec_unmanaged(r->lock, sql, param);
	char e[256];

	if (PQresultStatus(res) != want) {
		snprintf(e, sizeof(e), "%s", PQresultErrorMessage(res));
		e[strcspn(e, "\n")] = '\0';
		fail(r, "%s", e);
		PQclear(res);
		return NULL;
	}
	return res;
}

/* Connect and take the relay's lock: true when this instance owns it. */
static bool
own(struct relay *r)
{
	PGresult *res;
	bool got;

	r->lock = producer_connect(r, false);
	if (r->lock == NULL)
		return false;
	res = query(r, "SELECT pg_try_advisory_lock(" RELAY_LOCK_NS
		       ", hashtext($1))", r->slot, PGRES_TUPLES_OK);
	got = res != NULL && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (!got) {
		PQfinish(r->lock);
		r->lock = NULL;
	}
	return got;
}

/* The publication and the slot, created when missing. */
static bool
prepare(struct relay *r)
{
	PGresult *res;
	bool have;

	res = query(r, "SELECT 1 FROM pg_publication WHERE pubname = $1",
		    RELAY_PUBLICATION, PGRES_TUPLES_OK);
	if (res == NULL)
		return false;
	have = PQntuples(res) > 0;
	PQclear(res);
	if (!have) {
		res = query(r, "CREATE PUBLICATION " RELAY_PUBLICATION, NULL,
			    PGRES_COMMAND_OK);
		if (res == NULL)
			return false;
		PQclear(res);
		log_info("relay %s: publication %s created", r->name,
			 RELAY_PUBLICATION);
	}
	res = query(r, "SELECT 1 FROM pg_replication_slots WHERE slot_name = $1",
		    r->slot, PGRES_TUPLES_OK);
	if (res == NULL)
		return false;
	have = PQntuples(res) > 0;
	PQclear(res);
	if (!have) {
		res = query(r, "SELECT pg_create_logical_replication_slot($1, "
			       "'pgoutput')", r->slot, PGRES_TUPLES_OK);
		if (res == NULL)
			return false;
		PQclear(res);
		log_info("relay %s: slot %s created", r->name, r->slot);
	}
	res = query(r, "SELECT (confirmed_flush_lsn - '0/0')::text FROM "
		       "pg_replication_slots WHERE slot_name = $1", r->slot,
		    PGRES_TUPLES_OK);
	if (res == NULL)
		return false;
	r->confirmed = PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) ?
			       strtoull(PQgetvalue(res, 0, 0), NULL, 10) : 0;
	PQclear(res);
	return true;
}

static bool
start_streaming(struct relay *r)
{
	char sql[512], e[256];
	char *ident;
	PGresult *res;

	r->repl = producer_connect(r, true);
	if (r->repl == NULL)
		return false;
	ident = PQescapeIdentifier(r->repl, r->slot, strlen(r->slot));
	if (ident == NULL) {
		fail(r, "bad slot name: %s", pq_error(r->repl, e, sizeof(e)));
		return false;
	}
	/* 0/0: from where the slot was confirmed */
	snprintf(sql, sizeof(sql),
		 "START_REPLICATION SLOT %s LOGICAL 0/0 (proto_version '1', "
		 "publication_names '" RELAY_PUBLICATION "', messages 'true')",
		 ident);
	PQfreemem(ident);
	res = store_exec_unmanaged(r->repl, sql, NULL);
	if (PQresultStatus(res) != PGRES_COPY_BOTH) {
		snprintf(e, sizeof(e), "%s", PQresultErrorMessage(res));
		e[strcspn(e, "\n")] = '\0';
		fail(r, "cannot start replication: %s", e);
		PQclear(res);
		return false;
	}
	PQclear(res);
	r->last_heard_ms = r->last_status_ms = monotime_ms();
	r->flushed = r->confirmed;
	if (r->wal_end < r->flushed)
		r->wal_end = r->flushed;
	return true;
}

/* Read everything the connection holds; false on a failure. */
static bool
read_available(struct relay *r)
{
	char e[256];

	for (;;) {
		char *buf = NULL;
		int n = PQgetCopyData(r->repl, &buf, 1);
		bool ok;

		if (n == 0)
			return true;
		if (n == -1) {
			PGresult *res = PQgetResult(r->repl);

			snprintf(e, sizeof(e), "%s",
				 res ? PQresultErrorMessage(res) : "");
			e[strcspn(e, "\n")] = '\0';
			fail(r, "the server ended replication: %s", e);
			PQclear(res);
			return false;
		}
		if (n < 0) {
			fail(r, "replication broke: %s",
			     pq_error(r->repl, e, sizeof(e)));
			return false;
		}
		ok = take_frame(r, (const unsigned char *)buf, (size_t)n);
		PQfreemem(buf);
		if (!ok)
			return false;
		if (r->nbatch >= BATCH_EVENTS && !r->in_txn) {
			if (!commit_batch(r) || !send_status(r, false))
				return false;
		}
	}
}

/* Wait for the server, the lock session or relays_stop, up to ms;
 * false when the lock's session broke. */
static bool
wait_io(struct relay *r, int ms)
{
	struct pollfd fds[3] = {{r->wakefd, POLLIN, 0},
				{PQsocket(r->repl), POLLIN, 0},
				{PQsocket(r->lock), POLLIN, 0}};

	if (poll(fds, 3, ms) < 0 && errno != EINTR)
		log_error("relay %s: poll: %s", r->name, strerror(errno));
	if (fds[0].revents & POLLIN) {
		uint64_t v;

		if (read(r->wakefd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			log_error("relay %s: wake: %s", r->name, strerror(errno));
	}
	if (fds[2].revents) {
		/* nothing is asked on it: only its end can come */
		if (!PQconsumeInput(r->lock) || PQstatus(r->lock) != CONNECTION_OK) {
			fail(r, "the session holding the relay's lock ended");
			return false;
		}
	}
	if ((fds[1].revents & (POLLIN | POLLHUP | POLLERR)) &&
	    !PQconsumeInput(r->repl)) {
		char e[256];

		fail(r, "replication broke: %s", pq_error(r->repl, e, sizeof(e)));
		return false;
	}
	return true;
}

/* Stream until stopped or broken. */
static void
stream(struct relay *r)
{
	while (!atomic_load(&r->stopping)) {
		int64_t now;

		if (!read_available(r))
			return;
		if (r->nbatch > 0 && !r->in_txn &&
		    (!commit_batch(r) || !send_status(r, false)))
			return;
		now = monotime_ms();
		if (now - r->last_heard_ms > SILENCE_MS) {
			fail(r, "no word from the server for %d s",
			     SILENCE_MS / 1000);
			return;
		}
		/* asking for an answer keeps the silence check honest */
		if (now - r->last_status_ms >= STATUS_MS && !send_status(r, true))
			return;
		if (!wait_io(r, STATUS_MS))
			return;
	}
	/* what is read and not committed is read again by the next owner */
	(void)send_status(r, false);
}

static void
pause_ms(struct relay *r, int ms)
{
	struct pollfd fd = {r->wakefd, POLLIN, 0};
	uint64_t v;

	if (poll(&fd, 1, ms) > 0 && read(r->wakefd, &v, sizeof(v)) < 0 &&
	    errno != EAGAIN)
		log_error("relay %s: wake: %s", r->name, strerror(errno));
}

static void *
relay_main(void *arg)
{
	struct relay *r = arg;
	bool waiting_logged = false;

	while (!atomic_load(&r->stopping)) {
		if (!own(r)) {
			if (!waiting_logged)
				log_info("relay %s: another instance runs it, "
					 "or the database is unavailable: "
					 "trying every %d ms", r->name, PAUSE_MS);
			waiting_logged = true;
			pause_ms(r, PAUSE_MS);
			continue;
		}
		waiting_logged = false;
		set_owner(r, true);
		if (prepare(r) && start_streaming(r)) {
			log_info("relay %s: reading slot %s", r->name, r->slot);
			pthread_mutex_lock(&status_lock);
			r->last_error[0] = '\0';
			pthread_mutex_unlock(&status_lock);
			stream(r);
		}
		close_all(r);
		if (!atomic_load(&r->stopping))
			pause_ms(r, PAUSE_MS);
	}
	return NULL;
}

/* ---------------------------------------------------------------- set-up */

/* "host:port/dbname" of a connection string; NULL when libpq cannot
 * parse it (*why set). */
static char *
relay_name(const char *conninfo, char **why)
{
	PQconninfoOption *opts = PQconninfoParse(conninfo, why);
	const char *host = "", *port = "5432", *db = "";
	char buf[512];

	if (opts == NULL)
		return NULL;
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
		if (o->val == NULL || o->val[0] == '\0')
			continue;
		if (strcmp(o->keyword, "host") == 0)
			host = o->val;
		else if (strcmp(o->keyword, "port") == 0)
			port = o->val;
		else if (strcmp(o->keyword, "dbname") == 0)
			db = o->val;
	}
	snprintf(buf, sizeof(buf), "%s:%s/%s", host[0] ? host : "local", port,
		 db);
	PQconninfoFree(opts);
	return xstrdup(buf);
}

static void
relay_free(struct relay *r)
{
	if (r->wakefd >= 0)
		close(r->wakefd);
	pthread_mutex_destroy(&r->lock_answer);
	pthread_cond_destroy(&r->answered);
	free(r->conninfo);
	free(r->name);
	free(r->slot);
}

/* Split relay_from at ';' into trimmed, non-empty connection strings. */
static size_t
split(const char *list, char ***out)
{
	char *copy = xstrdup(list), *save = NULL, *tok;
	size_t n = 0;

	*out = NULL;
	for (tok = strtok_r(copy, ";", &save); tok != NULL;
	     tok = strtok_r(NULL, ";", &save)) {
		char *end;

		while (*tok == ' ' || *tok == '\t')
			tok++;
		end = tok + strlen(tok);
		while (end > tok && (end[-1] == ' ' || end[-1] == '\t'))
			*--end = '\0';
		if (*tok == '\0')
			continue;
		*out = xrealloc(*out, (n + 1) * sizeof(**out));
		(*out)[n++] = xstrdup(tok);
	}
	free(copy);
	return n;
}

struct relays *
relays_start(const struct config *cfg, struct writer *w)
{
	struct relays *rs = xcalloc(1, sizeof(*rs));
	char **from;
	size_t n = split(cfg->relay_from, &from);

	rs->r = xcalloc(n ? n : 1, sizeof(*rs->r));
	for (size_t i = 0; i < n; i++) {
		struct relay *r = &rs->r[rs->n];
		char *why = NULL;

		r->wakefd = -1;
		pthread_mutex_init(&r->lock_answer, NULL);
		pthread_cond_init(&r->answered, NULL);
		r->conninfo = from[i];
		from[i] = NULL;
		rs->n++;
		r->name = relay_name(r->conninfo, &why);
		if (r->name == NULL) {
			log_error("relay_from: connection string %zu: %s", i + 1,
				  why ? why : "cannot be parsed");
			PQfreemem(why);
			goto err;
		}
		r->slot = xstrdup(cfg->relay_slot);
		r->writer = w;
		r->max_event_bytes = cfg->max_event_bytes;
		r->lag_warn = cfg->relay_lag_warn;
		r->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (r->wakefd < 0) {
			log_error("relay: eventfd: %s", strerror(errno));
			goto err;
		}
	}
	for (size_t i = 0; i < n; i++)
		free(from[i]);
	free(from);
	from = NULL;
	for (size_t i = 0; i < rs->n; i++) {
		if (pthread_create(&rs->r[i].thread, NULL, relay_main,
				   &rs->r[i]) != 0) {
			log_error("relay: cannot start thread");
			goto err;
		}
		rs->r[i].started = true;
		metrics_relay_lag(rs->r[i].name, 0, 0);
		log_info("relay %s: started (slot %s)", rs->r[i].name,
			 rs->r[i].slot);
	}
	pthread_mutex_lock(&status_lock);
	registry = rs;
	pthread_mutex_unlock(&status_lock);
	return rs;
err:
	if (from != NULL) {
		for (size_t i = 0; i < n; i++)
			free(from[i]);
		free(from);
	}
	relays_stop(rs);
	return NULL;
}

void
relays_stop(struct relays *rs)
{
	uint64_t one = 1;

	if (rs == NULL)
		return;
	pthread_mutex_lock(&status_lock);
	if (registry == rs)
		registry = NULL;
	pthread_mutex_unlock(&status_lock);
	for (size_t i = 0; i < rs->n; i++) {
		atomic_store(&rs->r[i].stopping, true);
		if (rs->r[i].started &&
		    write(rs->r[i].wakefd, &one, sizeof(one)) < 0)
			log_error("relay: wake: %s", strerror(errno));
	}
	for (size_t i = 0; i < rs->n; i++) {
		if (rs->r[i].started)
			pthread_join(rs->r[i].thread, NULL);
		close_all(&rs->r[i]);
		relay_free(&rs->r[i]);
	}
	free(rs->r);
	free(rs);
}

cJSON *
relays_status(void)
{
	cJSON *a = cJSON_CreateArray();
	char lsn[32];

	pthread_mutex_lock(&status_lock);
	for (size_t i = 0; registry != NULL && i < registry->n; i++) {
		const struct relay *r = &registry->r[i];
		cJSON *o = cJSON_CreateObject();
		uint64_t behind = r->st_wal_end > r->st_flushed ?
					  r->st_wal_end - r->st_flushed : 0;

		cJSON_AddStringToObject(o, "name", r->name);
		cJSON_AddStringToObject(o, "slot", r->slot);
		cJSON_AddBoolToObject(o, "owner", r->owner);
		pgo_lsn_text(r->st_flushed, lsn, sizeof(lsn));
		cJSON_AddStringToObject(o, "confirmed_lsn", lsn);
		pgo_lsn_text(r->st_wal_end, lsn, sizeof(lsn));
		cJSON_AddStringToObject(o, "server_lsn", lsn);
		cJSON_AddNumberToObject(o, "lag_bytes", (double)behind);
		cJSON_AddNumberToObject(o, "lag_seconds", r->st_lag_s);
		if (r->last_error[0] != '\0')
			cJSON_AddStringToObject(o, "last_error", r->last_error);
		else
			cJSON_AddNullToObject(o, "last_error");
		cJSON_AddItemToArray(a, o);
	}
	pthread_mutex_unlock(&status_lock);
	return a;
}
