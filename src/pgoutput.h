/* The streaming replication protocol as herald's relay reads it: CopyData frames and pgoutput messages (pure). */
#ifndef HERALD_PGOUTPUT_H
#define HERALD_PGOUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Every parser takes a buffer from the server and its length, trusts no
 * length inside it, and points into that buffer (nothing is copied or
 * allocated): the result lives as long as the buffer.  Each returns false
 * when the buffer is not a well-formed message of its kind.
 */

/* A CopyData frame of START_REPLICATION. */
enum pgo_frame_kind {
	PGO_XLOGDATA,  /* 'w': WAL data, here one pgoutput message */
	PGO_KEEPALIVE, /* 'k': the server's position; maybe a reply wanted */
};

struct pgo_frame {
	enum pgo_frame_kind kind;
	uint64_t wal_start;       /* 'w' only: where its data starts */
	uint64_t wal_end;         /* the server's end of WAL */
	int64_t send_time;        /* microseconds since 2000-01-01 */
	bool reply_requested;     /* 'k' only */
	const unsigned char *data; /* 'w' only: the pgoutput message */
	size_t len;
};

bool pgo_parse_frame(const unsigned char *buf, size_t len,
		     struct pgo_frame *out);

/* A pgoutput message (protocol version 1).  Those the relay does not use
 * (relations, rows, types, origins, truncates) are PGO_OTHER. */
enum pgo_msg_kind {
	PGO_BEGIN,   /* 'B' */
	PGO_COMMIT,  /* 'C' */
	PGO_MESSAGE, /* 'M': pg_logical_emit_message */
	PGO_OTHER,
};

struct pgo_msg {
	enum pgo_msg_kind kind;
	/* B: the transaction's final LSN; C: the commit's LSN; M: the
	 * message's LSN */
	uint64_t lsn;
	uint64_t end_lsn;   /* C: the end of the commit record */
	int64_t commit_time; /* B and C: microseconds since 2000-01-01 */
	uint32_t xid;       /* B */
	bool transactional; /* M: emitted with transactional = true */
	const char *prefix; /* M: NUL-terminated inside the buffer */
	const unsigned char *content; /* M */
	size_t content_len;
};

bool pgo_parse_msg(const unsigned char *buf, size_t len, struct pgo_msg *out);

/* The standby status update ('r') reporting written, flushed and applied
 * positions at now (microseconds since 2000-01-01): 34 bytes into out. */
#define PGO_STATUS_LEN 34
void pgo_status_update(unsigned char out[PGO_STATUS_LEN], uint64_t write,
		       uint64_t flush, uint64_t apply, int64_t now,
		       bool reply_requested);

/* Microseconds since 2000-01-01 (PostgreSQL's epoch) of Unix microseconds. */
int64_t pgo_time_from_unix_us(int64_t unix_us);

/* An LSN in PostgreSQL's text form ("16/B374D848") into buf. */
void pgo_lsn_text(uint64_t lsn, char *buf, size_t len);

#endif
