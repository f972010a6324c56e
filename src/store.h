/* PostgreSQL access: connections, deadlines, migrations, prepared statements, failures classified. */
#ifndef HERALD_STORE_H
#define HERALD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "herald.h"

/* A connection with the set of statements already prepared on it. */
struct store_conn;

/* SQL for a timestamptz column rendered as RFC 3339 UTC text. */
#define STORE_RFC3339(col) \
	"to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

/* A statement: a unique name, its SQL and parameter count.  Define them
 * static const next to the code that runs them. */
struct store_stmt {
	const char *name;
	const char *sql;
	int nparams;
};

/* What became of a statement: the one classification of failures
 * (store_check), which the API turns into 503 or 500. */
enum store_status {
	STORE_OK = 0,      /* the result wanted */
	STORE_GONE,        /* no session: lost, never made, or ended by the
			    * server (SQLSTATE class 08, 57P0x) */
	STORE_TIMEOUT,     /* no answer in time: the connection was dropped
			    * (store_set_timeout, store_set_deadline), or the
			    * server canceled the statement (57014) */
	STORE_CONFLICT,    /* the transaction lost to another (deadlock 40P01,
			    * serialization failure 40001): nothing was done,
			    * and the same work may succeed if tried again */
	STORE_QUERY_ERROR, /* PostgreSQL refused the statement */
};

/* How long the API waits on PostgreSQL: the deadline of each request a
 * database worker runs (api.c), and of an ingest's transaction
 * (writer.c), counted from when the request has arrived
 * whole.  Past it the answer is 503, leaving a second of the 5 s every
 * request is answered within for the reply to leave. */
#define STORE_API_TIMEOUT_MS 4000
/* How long a ROLLBACK after a failure may take, whatever deadline the
 * work that failed had left. */
#define STORE_ROLLBACK_MS 500

/* Connect (connect_timeout 3 s unless the URL sets one).  NULL with a
 * message in err on failure. */
HERALD_MUST_CHECK struct store_conn *store_connect(const char *url, char *err,
						   size_t errlen);
/* The same, giving up at until_ms (monotime_ms clock; 0: no limit) too,
 * which then bounds the connection as store_set_deadline does. */
HERALD_MUST_CHECK struct store_conn *store_connect_by(const char *url,
						      int64_t until_ms,
						      char *err, size_t errlen);
void store_close(struct store_conn *c);
PGconn *store_pg(struct store_conn *c);
/* true when the connection is usable; otherwise tries one reconnect
 * (a failure is logged once per loss of the session). */
HERALD_MUST_CHECK bool store_ensure(struct store_conn *c);
/* Drop the session, whose state is unknown (a ROLLBACK that failed);
 * store_ensure makes a new one. */
void store_disconnect(struct store_conn *c);

/* Run a prepared statement (preparing it on first use on this connection).
 * Text parameters; values[i] NULL is SQL NULL.  lengths/formats may be NULL
 * (all text).  Returns the result, the failed PREPARE's when that failed;
 * NULL when no answer came (the connection is gone or timed out).  The
 * caller checks it with store_check and PQclears. */
HERALD_MUST_CHECK PGresult *store_exec(struct store_conn *c,
				       const struct store_stmt *st,
				       const char *const *values,
				       const int *lengths, const int *formats);

/* The same, without waiting for the answer: true once sent (preparing
 * the statement first may wait; its failure is logged here).
 * result_format 1 asks for binary results.  Nothing else may use the
 * connection until store_collect or store_await has returned the
 * result. */
HERALD_MUST_CHECK bool store_send(struct store_conn *c,
				  const struct store_stmt *st,
				  const char *const *values, const int *lengths,
				  const int *formats, int result_format);
/* Take in what has arrived of the answer to store_send, without blocking:
 * false while it is incomplete (call again when the socket is readable);
 * true when done, with the result in *result (NULL when the connection
 * broke, or the answer is later than the timeout and it was dropped). */
HERALD_MUST_CHECK bool store_collect(struct store_conn *c, PGresult **result);
/* Wait for the answer to store_send (within the timeout). */
HERALD_MUST_CHECK PGresult *store_await(struct store_conn *c);

/*
 * Classify r, the answer (may be NULL) to what (a statement's name or a
 * few words) on c: STORE_OK when its status is want.  A failure is logged
 * here, once: a query error at error level with what, the message and
 * the SQLSTATE; a conflict or a canceled statement at warn; a lost
 * session at warn once per loss of c's session, not once per statement;
 * a timeout of herald's own by the code that dropped the connection.
 */
HERALD_MUST_CHECK enum store_status store_check(struct store_conn *c,
						PGresult *r,
						ExecStatusType want,
						const char *what);
/* What a SQLSTATE stands for (never STORE_OK).  NULL, an error libpq
 * made itself, is STORE_QUERY_ERROR: store_check tells a lost session
 * by the connection's state. */
enum store_status store_classify_sqlstate(const char *sqlstate);
/* r's SQLSTATE, or NULL (no result, or an error libpq made itself). */
const char *store_sqlstate(const PGresult *r);

/* Wait at most timeout_ms for any answer (0: no limit); past it the
 * connection is dropped and the call fails with STORE_TIMEOUT. */
void store_set_timeout(struct store_conn *c, int timeout_ms);
/* Wait for nothing past until_ms (monotime_ms clock; 0: no limit):
 * neither an answer (as store_set_timeout) nor a reconnect. */
void store_set_deadline(struct store_conn *c, int64_t until_ms);

/* Run plain SQL with no parameters; the result, NULL when no answer
 * came (as store_exec).  The caller checks it with store_check and
 * PQclears. */
HERALD_MUST_CHECK PGresult *store_query(struct store_conn *c, const char *sql);

/* Run plain SQL with no parameters; true on success (message in err,
 * nothing logged). */
HERALD_MUST_CHECK bool store_simple(struct store_conn *c, const char *sql,
				    char *err, size_t errlen);

/* A statement on a session store does not manage: the relay's sessions
 * with a producer's database, one of them in the replication protocol,
 * where there are no prepared statements.  The simple protocol when
 * param is NULL, else one text parameter ($1).  The result (NULL when
 * none came), which the caller checks and clears. */
HERALD_MUST_CHECK PGresult *store_exec_unmanaged(PGconn *pg, const char *sql,
						 const char *param);

/* Apply every migration not yet applied, each once, under an advisory lock
 * (several instances may start together).  0, or -1 with err. */
HERALD_MUST_CHECK int store_migrate(struct store_conn *c, char *err,
				    size_t errlen);

/* true when the database answers and every migration is applied (a
 * failed statement is logged as store_check does). */
HERALD_MUST_CHECK bool store_ready(struct store_conn *c);

/* Binary-format one-dimensional arrays for unnest()-style batch
 * statements: build, pass with format 1, free. */
struct store_array {
	unsigned char *buf;
	size_t len, cap;
	uint32_t elem_oid;
	int32_t count;
};
#define STORE_OID_BOOL 16
#define STORE_OID_BYTEA 17
#define STORE_OID_INT8 20
#define STORE_OID_INT2 21
#define STORE_OID_INT4 23
#define STORE_OID_TEXT 25

void store_array_init(struct store_array *a, uint32_t elem_oid);
/* Append one element: bytes (NULL: SQL NULL). */
void store_array_add(struct store_array *a, const void *bytes, size_t len);
void store_array_add_int(struct store_array *a, int64_t v);
/* Finish the header; returns the parameter bytes and sets *len. */
const char *store_array_param(struct store_array *a, int *len);
void store_array_free(struct store_array *a);

/* Deliveries are split into this many dispatch partitions. */
#define STORE_PARTITIONS 64

/* true when the connection is broken or was dropped (not a bad query). */
bool store_conn_broken(struct store_conn *c);

#endif
