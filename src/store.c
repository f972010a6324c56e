/* PostgreSQL access: connections, deadlines, migrations, prepared statements, failures classified. */
#include "store.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "migrations.h"
#include "monotime.h"
#include "xalloc.h"

/* Advisory lock key taken while migrating ("herald" in ASCII). */
#define MIGRATE_LOCK_KEY "114784919972964"

/*
 * A store_conn belongs to one thread: the writers', the dispatcher's and
 * each database worker's of the API (dbwork.c) are their own.
 */
struct store_conn {
	PGconn *pg;
	char *url;
	const struct store_stmt **prepared; /* statements prepared on pg */
	size_t nprepared, capprepared;
	int timeout_ms; /* longest wait for an answer; 0: no limit */
	int64_t until_ms;     /* no wait past this (monotime_ms); 0: none */
	int64_t deadline_ms;  /* of what store_send sent; 0: none */
	PGresult *collected;  /* its first result, while more are awaited */
	bool timed_out;   /* the session was dropped for want of an answer */
	bool loss_logged; /* the loss of the session has been logged */
};

/* What store_collect took in of an answer no one will read now. */
static void
drop_collected(struct store_conn *c)
{
	PQclear(c->collected);
	c->collected = NULL;
}

/* Server notices ("relation already exists, skipping") are debug chatter. */
static void
on_notice(void *arg, const char *message)
{
	size_t n = strlen(message);

	(void)arg;
	while (n > 0 && message[n - 1] == '\n')
		n--;
	log_debug("postgresql: %.*s", (int)n, message);
}

/* Copy libpq's message to err without its trailing newline. */
static void
set_error(char *err, size_t errlen, const char *msg)
{
	size_t n;

	if (err == NULL || errlen == 0)
		return;
	snprintf(err, errlen, "%s", msg);
	n = strlen(err);
	while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == ' '))
		err[--n] = '\0';
}

/* Drive a connection started with PQconnectStartParams until it is
 * made or fails, giving up at until_ms: libpq's connect_timeout counts
 * whole seconds only, and a frozen server accepts the TCP connection
 * but never answers the startup packet. */
static bool
connect_poll(PGconn *pg, int64_t until_ms, char *err, size_t errlen)
{
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;

	for (;;) {
		struct pollfd pfd = {PQsocket(pg), 0, 0};
		int64_t left = until_ms - monotime_ms();
		int n;

		if (st == PGRES_POLLING_OK)
			return true;
		if (st == PGRES_POLLING_FAILED) {
			set_error(err, errlen, PQerrorMessage(pg));
			return false;
		}
		pfd.events = st == PGRES_POLLING_READING ? POLLIN : POLLOUT;
		if (left <= 0 || (n = poll(&pfd, 1, (int)left)) == 0) {
			set_error(err, errlen, "no answer in time");
			return false;
		}
		if (n < 0 && errno != EINTR) {
			set_error(err, errlen, strerror(errno));
			return false;
		}
		if (n > 0)
			st = PQconnectPoll(pg);
	}
}

/* Connect; NULL with a message in err.  until_ms (0: none) bounds the
 * wait besides the connect_timeout. */
static PGconn *
connect_url(const char *url, int64_t until_ms, char *err, size_t errlen)
{
	/* connect_timeout first so the URL's own value wins */
	const char *keys[] = {"connect_timeout", "application_name", "dbname",
			      NULL};
	const char *vals[] = {"3", "herald", url, NULL};
	PGconn *pg;
	bool ok;

	if (until_ms == 0) {
		pg = PQconnectdbParams(keys, vals, 1);
		ok = pg != NULL && PQstatus(pg) == CONNECTION_OK;
		if (!ok)
			set_error(err, errlen, pg ? PQerrorMessage(pg) : "out of memory");
	} else {
		pg = PQconnectStartParams(keys, vals, 1);
		ok = pg != NULL && PQstatus(pg) != CONNECTION_BAD &&
		     connect_poll(pg, until_ms, err, errlen);
		if (pg == NULL || PQstatus(pg) == CONNECTION_BAD)
			set_error(err, errlen, pg ? PQerrorMessage(pg) : "out of memory");
	}
	if (!ok) {
		PQfinish(pg);
		return NULL;
	}
	PQsetNoticeProcessor(pg, on_notice, NULL);
	return pg;
}

struct store_conn *
store_connect_by(const char *url, int64_t until_ms, char *err, size_t errlen)
{
	struct store_conn *c;
	PGconn *pg = connect_url(url, until_ms, err, errlen);

	if (pg == NULL)
		return NULL;
	c = xcalloc(1, sizeof(*c));
	c->pg = pg;
	c->url = xstrdup(url);
	c->until_ms = until_ms;
	return c;
}

struct store_conn *
store_connect(const char *url, char *err, size_t errlen)
{
	return store_connect_by(url, 0, err, errlen);
}

void
store_close(struct store_conn *c)
{
	if (c == NULL)
		return;
	drop_collected(c);
	PQfinish(c->pg);
	free(c->prepared);
	free(c->url);
	free(c);
}

PGconn *
store_pg(struct store_conn *c)
{
	return c->pg;
}

bool
store_conn_broken(struct store_conn *c)
{
	return c->pg == NULL || PQstatus(c->pg) != CONNECTION_OK;
}

/*
 * A session the server ended while it sat idle (a restart, a terminated
 * backend) still reads CONNECTION_OK until it is used.  Read what is
 * pending without blocking: the first read takes in the server's farewell,
 * the second meets the end of the stream and marks the connection bad.
 */
static void
notice_closed(PGconn *pg)
{
	if (PQstatus(pg) != CONNECTION_OK ||
	    PQtransactionStatus(pg) != PQTRANS_IDLE)
		return;
	for (int i = 0; i < 2; i++)
		if (!PQconsumeInput(pg))
			return;
}

bool
store_ensure(struct store_conn *c)
{
	char err[256];
	PGconn *pg;

	if (c->pg != NULL)
		notice_closed(c->pg);
	if (!store_conn_broken(c))
		return true;
	pg = connect_url(c->url, c->until_ms, err, sizeof(err));
	if (pg == NULL) {
		if (!c->loss_logged)
			log_warn("cannot reconnect to postgresql: %s", err);
		c->loss_logged = true;
		return false;
	}
	PQfinish(c->pg);
	c->pg = pg;
	c->nprepared = 0; /* prepared statements died with the old session */
	c->timed_out = false;
	c->loss_logged = false;
	drop_collected(c);
	log_info("reconnected to postgresql");
	return true;
}

void
store_disconnect(struct store_conn *c)
{
	drop_collected(c);
	PQfinish(c->pg);
	c->pg = NULL;
	c->nprepared = 0;
}

static bool
is_prepared(const struct store_conn *c, const struct store_stmt *st)
{
	for (size_t i = 0; i < c->nprepared; i++)
		if (c->prepared[i] == st)
			return true;
	return false;
}

void
store_set_timeout(struct store_conn *c, int timeout_ms)
{
	c->timeout_ms = timeout_ms;
}

void
store_set_deadline(struct store_conn *c, int64_t until_ms)
{
	c->until_ms = until_ms;
}

/* A server that stops answering (hung, or a network that drops packets)
 * must not hold a caller forever: give up on the connection. */
static void
abandon(struct store_conn *c)
{
	log_warn("postgresql did not answer in time; dropping the connection");
	store_disconnect(c);
	c->timed_out = true;
	c->loss_logged = true; /* just now */
}

/* Take in what has arrived without blocking; true once the statement is
 * complete, with its first result in *out (NULL: the connection broke). */
static bool
take_results(struct store_conn *c, PGresult **out)
{
	PGresult *r;

	while (!PQisBusy(c->pg)) {
		r = PQgetResult(c->pg);
		if (r == NULL) {
			*out = c->collected;
			c->collected = NULL;
			return true;
		}
		if (c->collected == NULL) {
			c->collected = r;
		} else if (PQresultStatus(r) == PGRES_FATAL_ERROR &&
			   PQresultStatus(c->collected) != PGRES_FATAL_ERROR) {
			/* several statements (a migration): the failure is the
			 * answer */
			PQclear(c->collected);
			c->collected = r;
		} else {
			PQclear(r); /* one statement: one result */
		}
	}
	return false;
}

/* The result of what was just sent, waiting until its deadline.  NULL
 * when the connection broke or was abandoned. */
static PGresult *
await(struct store_conn *c)
{
	PGresult *r;

	for (;;) {
		struct pollfd pfd = {PQsocket(c->pg), POLLIN, 0};

		if (take_results(c, &r))
			return r;
		if (c->deadline_ms > 0) {
			int64_t left = c->deadline_ms - monotime_ms();
			int n;

			if (left <= 0 ||
			    ((n = poll(&pfd, 1, (int)left)) == 0) ||
			    (n < 0 && errno != EINTR)) {
				drop_collected(c);
				abandon(c);
				return NULL;
			}
		} else {
			poll(&pfd, 1, -1);
		}
		if (!PQconsumeInput(c->pg)) {
			drop_collected(c);
			return NULL;
		}
	}
}

static void
start_clock(struct store_conn *c)
{
	c->deadline_ms = c->timeout_ms > 0 ? monotime_ms() + c->timeout_ms : 0;
	if (c->until_ms > 0 &&
	    (c->deadline_ms == 0 || c->until_ms < c->deadline_ms))
		c->deadline_ms = c->until_ms;
}

PGresult *
store_query(struct store_conn *c, const char *sql)
{
	if (store_conn_broken(c) || !PQsendQuery(c->pg, sql))
		return NULL;
	start_clock(c);
	return await(c);
}

/* Prepare st on this connection unless it is already.  false on
 * failure, with the failed result in *failed (NULL: no answer). */
static bool
prepare(struct store_conn *c, const struct store_stmt *st, PGresult **failed)
{
	PGresult *r = NULL;

	*failed = NULL;
	if (is_prepared(c, st))
		return true;
	if (PQsendPrepare(c->pg, st->name, st->sql, st->nparams, NULL)) {
		start_clock(c);
		r = await(c);
	}
	if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK) {
		*failed = r;
		return false;
	}
	PQclear(r);
	if (c->nprepared == c->capprepared) {
		c->capprepared = c->capprepared ? c->capprepared * 2 : 16;
		c->prepared = xrealloc(c->prepared,
				       c->capprepared * sizeof(*c->prepared));
	}
	c->prepared[c->nprepared++] = st;
	return true;
}

/* Send st, prepared; false when it cannot be sent, with the failed
 * PREPARE's result in *failed (NULL: no answer). */
static bool
send_prepared(struct store_conn *c, const struct store_stmt *st,
	      const char *const *values, const int *lengths,
	      const int *formats, int result_format, PGresult **failed)
{
	*failed = NULL;
	if (store_conn_broken(c) || !prepare(c, st, failed) ||
	    !PQsendQueryPrepared(c->pg, st->name, st->nparams, values, lengths,
				 formats, result_format))
		return false;
	start_clock(c);
	return true;
}

static enum store_status report(struct store_conn *c, PGresult *r,
				ExecStatusType want, const char *what);

bool
store_send(struct store_conn *c, const struct store_stmt *st,
	   const char *const *values, const int *lengths, const int *formats,
	   int result_format)
{
	PGresult *failed;

	if (send_prepared(c, st, values, lengths, formats, result_format,
			  &failed))
		return true;
	/* no result will tell the caller: say it here */
	report(c, failed, PGRES_COMMAND_OK, st->name);
	PQclear(failed);
	return false;
}

bool
store_collect(struct store_conn *c, PGresult **result)
{
	*result = NULL;
	if (store_conn_broken(c))
		return true;
	if (!PQconsumeInput(c->pg)) {
		drop_collected(c);
		return true;
	}
	if (take_results(c, result))
		return true;
	if (c->deadline_ms > 0 && monotime_ms() >= c->deadline_ms) {
		drop_collected(c);
		abandon(c);
		return true;
	}
	return false;
}

PGresult *
store_await(struct store_conn *c)
{
	if (store_conn_broken(c))
		return NULL;
	return await(c);
}

PGresult *
store_exec(struct store_conn *c, const struct store_stmt *st,
	   const char *const *values, const int *lengths, const int *formats)
{
	PGresult *failed;

	if (!send_prepared(c, st, values, lengths, formats, 0, &failed))
		return failed; /* the caller's store_check reports it */
	return await(c);
}

/* --- failures --- */

enum store_status
store_classify_sqlstate(const char *sqlstate)
{
	if (sqlstate == NULL || strlen(sqlstate) != 5)
		return STORE_QUERY_ERROR;
	if (strncmp(sqlstate, "08", 2) == 0 || /* connection exception */
	    strncmp(sqlstate, "57P0", 4) == 0) /* shutdown, crash, dropped */
		return STORE_GONE;
	if (strcmp(sqlstate, "57014") == 0) /* query_canceled */
		return STORE_TIMEOUT;
	if (strcmp(sqlstate, "40001") == 0 || /* serialization_failure */
	    strcmp(sqlstate, "40P01") == 0)   /* deadlock_detected */
		return STORE_CONFLICT;
	return STORE_QUERY_ERROR;
}

const char *
store_sqlstate(const PGresult *r)
{
	return r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
}

/* What r means, logging nothing. */
static enum store_status
classify(struct store_conn *c, const PGresult *r, ExecStatusType want)
{
	enum store_status s;

	if (r == NULL)
		return c->timed_out ? STORE_TIMEOUT : STORE_GONE;
	if (PQresultStatus(r) == want)
		return STORE_OK;
	s = store_classify_sqlstate(store_sqlstate(r));
	/* a session that ended with the statement (a FATAL error, a
	 * connection libpq saw close) is gone, whatever the code says */
	if (s == STORE_QUERY_ERROR && store_conn_broken(c))
		s = c->timed_out ? STORE_TIMEOUT : STORE_GONE;
	return s;
}

/* r's message on one line (libpq's when r is NULL), into buf. */
static const char *
message_of(struct store_conn *c, const PGresult *r, char *buf, size_t len)
{
	const char *primary = NULL, *detail = NULL;

	if (r != NULL && PQresultStatus(r) != PGRES_FATAL_ERROR &&
	    PQresultStatus(r) != PGRES_NONFATAL_ERROR) {
		snprintf(buf, len, "unexpected result %s",
			 PQresStatus(PQresultStatus(r)));
		return buf;
	}
	if (r != NULL) {
		primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
		detail = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL);
		if (primary == NULL)
			primary = PQresultErrorMessage(r);
	}
	if (primary == NULL || primary[0] == '\0')
		primary = c->pg ? PQerrorMessage(c->pg) : "no connection";
	if (detail != NULL)
		snprintf(buf, len, "%s (%s)", primary, detail);
	else
		snprintf(buf, len, "%s", primary);
	/* libpq's own messages end in a newline, some span lines */
	for (char *p = buf; *p; p++)
		if (*p == '\n')
			*p = ' ';
	for (size_t n = strlen(buf); n > 0 && buf[n - 1] == ' '; n--)
		buf[n - 1] = '\0';
	return buf;
}

static enum store_status
report(struct store_conn *c, PGresult *r, ExecStatusType want,
       const char *what)
{
	enum store_status s = classify(c, r, want);
	const char *state = store_sqlstate(r);
	char msg[512];

	switch (s) {
	case STORE_OK:
		break;
	case STORE_GONE:
		if (!c->loss_logged)
			log_warn("%s: lost the connection to postgresql: %s", what,
				 message_of(c, r, msg, sizeof(msg)));
		c->loss_logged = true;
		break;
	case STORE_TIMEOUT:
		if (r != NULL) /* the server's cancel: herald's own is logged */
			log_warn("%s: %s (SQLSTATE %s)", what,
				 message_of(c, r, msg, sizeof(msg)),
				 state ? state : "none");
		break;
	case STORE_CONFLICT:
		log_warn("%s: %s (SQLSTATE %s)", what,
			 message_of(c, r, msg, sizeof(msg)), state);
		break;
	case STORE_QUERY_ERROR:
		log_error("%s: %s (SQLSTATE %s)", what,
			  message_of(c, r, msg, sizeof(msg)),
			  state ? state : "none");
		break;
	}
	return s;
}

enum store_status
store_check(struct store_conn *c, PGresult *r, ExecStatusType want,
	    const char *what)
{
	return report(c, r, want, what);
}

bool
store_simple(struct store_conn *c, const char *sql, char *err, size_t errlen)
{
	PGresult *r = store_query(c, sql);
	/* rows or none, either is success (PQresultStatus(NULL) is an error) */
	ExecStatusType want = PQresultStatus(r) == PGRES_TUPLES_OK ?
			      PGRES_TUPLES_OK : PGRES_COMMAND_OK;
	enum store_status s = classify(c, r, want);
	char msg[512];

	if (s != STORE_OK && err)
		snprintf(err, errlen, "%s", message_of(c, r, msg, sizeof(msg)));
	PQclear(r);
	return s == STORE_OK;
}

/* The highest applied migration version in r, or -1. */
static int
version_of(const PGresult *r)
{
	return PQntuples(r) == 1 ? atoi(PQgetvalue(r, 0, 0)) : -1;
}

PGresult *
store_exec_unmanaged(PGconn *pg, const char *sql, const char *param)
{
	if (param == NULL)
		return PQexec(pg, sql);
	return PQexecParams(pg, sql, 1, NULL, &param, NULL, NULL, 0);
}

#define APPLIED_VERSION "SELECT coalesce(max(version), 0) FROM herald_migration"

int
store_migrate(struct store_conn *c, char *err, size_t errlen)
{
	int rc = -1, have;

	if (!store_simple(c, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")",
			  err, errlen))
		return -1;
	if (!store_simple(c,
			  "CREATE TABLE IF NOT EXISTS herald_migration ("
			  " version integer PRIMARY KEY,"
			  " name text NOT NULL,"
			  " applied_at timestamptz NOT NULL DEFAULT now())",
			  err, errlen))
		goto out;
	{
		PGresult *r = store_query(c, APPLIED_VERSION);
		char msg[512];

		have = classify(c, r, PGRES_TUPLES_OK) == STORE_OK ?
		       version_of(r) : -1;
		if (have < 0)
			snprintf(err, errlen, "cannot read herald_migration: %s",
				 message_of(c, r, msg, sizeof(msg)));
		PQclear(r);
		if (have < 0)
			goto out;
	}
	for (size_t i = 0; i < n_migrations; i++) {
		const struct migration *m = &migrations[i];
		char vbuf[16];
		const char *params[2] = {vbuf, m->name};
		PGresult *r;
		bool ok;

		if (m->version <= have)
			continue;
		log_info("applying migration %s", m->name);
		if (!store_simple(c, "BEGIN", err, errlen))
			goto out;
		if (!store_simple(c, m->sql, err, errlen)) {
			char msg[512];

			snprintf(msg, sizeof(msg), "%s", err);
			snprintf(err, errlen, "migration %s failed: %s", m->name,
				 msg);
			goto rollback;
		}
		snprintf(vbuf, sizeof(vbuf), "%d", m->version);
		r = PQexecParams(c->pg,
				 "INSERT INTO herald_migration (version, name)"
				 " VALUES ($1, $2)",
				 2, NULL, params, NULL, NULL, 0);
		ok = classify(c, r, PGRES_COMMAND_OK) == STORE_OK;
		if (!ok) {
			char msg[512];

			snprintf(err, errlen, "%s", message_of(c, r, msg, sizeof(msg)));
		}
		PQclear(r);
		if (!ok || !store_simple(c, "COMMIT", err, errlen))
			goto rollback;
	}
	rc = 0;
	goto out;
rollback:
	if (!store_simple(c, "ROLLBACK", NULL, 0))
		log_debug("migrations: the rollback failed too; the failed "
			  "transaction ends with the session");
out:
	if (!store_simple(c, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")",
			  NULL, 0))
		log_debug("migrations: the unlock failed; the lock ends with "
			  "the session");
	return rc;
}

bool
store_ready(struct store_conn *c)
{
	PGresult *r;
	bool ok;

	if (!store_ensure(c))
		return false;
	r = store_query(c, APPLIED_VERSION);
	ok = store_check(c, r, PGRES_TUPLES_OK, "read the schema version") ==
	     STORE_OK && version_of(r) == migrations[n_migrations - 1].version;
	PQclear(r);
	return ok;
}

/* --- binary arrays --- */

#define ARRAY_HEADER 20 /* ndim, flags, elemtype, dim size, lower bound */

static void
array_reserve(struct store_array *a, size_t more)
{
	if (a->len + more <= a->cap)
		return;
	while (a->cap < a->len + more)
		a->cap = a->cap ? a->cap * 2 : 256;
	a->buf = xrealloc(a->buf, a->cap);
}

static void
put32(unsigned char *p, uint32_t v)
{
	v = htonl(v);
	memcpy(p, &v, 4);
}

void
store_array_init(struct store_array *a, uint32_t elem_oid)
{
	memset(a, 0, sizeof(*a));
	a->elem_oid = elem_oid;
	array_reserve(a, ARRAY_HEADER);
	a->len = ARRAY_HEADER;
}

void
store_array_add(struct store_array *a, const void *bytes, size_t len)
{
	if (bytes == NULL) {
		array_reserve(a, 4);
		put32(a->buf + a->len, 0xffffffffu);
		a->len += 4;
	} else {
		array_reserve(a, 4 + len);
		put32(a->buf + a->len, (uint32_t)len);
		if (len)
			memcpy(a->buf + a->len + 4, bytes, len);
		a->len += 4 + len;
	}
	a->count++;
}

void
store_array_add_int(struct store_array *a, int64_t v)
{
	unsigned char b[8];
	uint64_t u = (uint64_t)v;
	size_t n = a->elem_oid == STORE_OID_INT8 ? 8 :
		   a->elem_oid == STORE_OID_INT4 ? 4 : 2;

	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)(u >> (8 * (n - 1 - i)));
	store_array_add(a, b, n);
}

const char *
store_array_param(struct store_array *a, int *len)
{
	if (a->count == 0) {
		/* an empty array has no dimensions */
		put32(a->buf, 0);
		put32(a->buf + 4, 0);
		put32(a->buf + 8, a->elem_oid);
		*len = 12;
		return (const char *)a->buf;
	}
	put32(a->buf, 1);
	put32(a->buf + 4, 0);
	put32(a->buf + 8, a->elem_oid);
	put32(a->buf + 12, (uint32_t)a->count);
	put32(a->buf + 16, 1);
	*len = (int)a->len;
	return (const char *)a->buf;
}

void
store_array_free(struct store_array *a)
{
	free(a->buf);
	memset(a, 0, sizeof(*a));
}

