/* PostgreSQL access: connections, migrations, prepared statements. */
#ifndef HERALD_STORE_H
#define HERALD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

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

/* Connect (connect_timeout 3 s unless the URL sets one).  NULL with a
 * message in err on failure. */
struct store_conn *store_connect(const char *url, char *err, size_t errlen);
/* The same, giving up at until_ms (monotime_ms clock; 0: no limit)
 * too, which then bounds the connection as store_set_deadline does. */
struct store_conn *store_connect_by(const char *url, int64_t until_ms,
				    char *err, size_t errlen);
void store_close(struct store_conn *c);
PGconn *store_pg(struct store_conn *c);
/* true when the connection is usable; otherwise tries one reconnect. */
bool store_ensure(struct store_conn *c);

/* Run a prepared statement (preparing it on first use on this connection).
 * Text parameters; values[i] NULL is SQL NULL.  lengths/formats may be NULL
 * (all text).  Returns the result; NULL only when the connection is gone.
 * The caller checks PQresultStatus and PQclears. */
PGresult *store_exec(struct store_conn *c, const struct store_stmt *st,
		     const char *const *values, const int *lengths,
		     const int *formats);

/* The same, without waiting for the answer: true once sent (preparing
 * the statement first may wait).  result_format 1 asks for binary
 * results.  Nothing else may use the connection until store_collect or
 * store_await has returned the result. */
bool store_send(struct store_conn *c, const struct store_stmt *st,
		const char *const *values, const int *lengths,
		const int *formats, int result_format);
/* Take in what has arrived of the answer to store_send, without blocking:
 * false while it is incomplete (call again when the socket is readable);
 * true when done, with the result in *result (NULL when the connection
 * broke, or the answer is later than the timeout and it was dropped). */
bool store_collect(struct store_conn *c, PGresult **result);
/* Wait for the answer to store_send (within the timeout). */
PGresult *store_await(struct store_conn *c);

/* Wait at most timeout_ms for any answer (0: no limit); past it the
 * connection is dropped and the call fails, as if the server were gone. */
void store_set_timeout(struct store_conn *c, int timeout_ms);
/* Wait for nothing past until_ms (monotime_ms clock; 0: no limit):
 * neither an answer (as store_set_timeout) nor a reconnect. */
void store_set_deadline(struct store_conn *c, int64_t until_ms);

/* Run plain SQL with no parameters; the result, NULL when the connection
 * is gone.  The caller PQclears. */
PGresult *store_query(struct store_conn *c, const char *sql);

/* Run plain SQL with no parameters; true on success (message in err). */
bool store_simple(struct store_conn *c, const char *sql, char *err,
		  size_t errlen);

/* Apply every migration not yet applied, each once, under an advisory lock
 * (several instances may start together).  0, or -1 with err. */
int store_migrate(struct store_conn *c, char *err, size_t errlen);

/* true when the database answers and every migration is applied. */
bool store_ready(struct store_conn *c);

/* How long the API waits on PostgreSQL: the deadline of each request a
 * database worker runs (api.c), and of each statement of an ingest's
 * transaction (writer.c).  Past it the answer is 503, leaving a second of
 * the 5 s every request is answered within for the reply to leave. */
#define STORE_API_TIMEOUT_MS 4000

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

/* true when the error means the connection is broken (not a bad query). */
bool store_conn_broken(struct store_conn *c);

#endif
