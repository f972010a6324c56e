/* The streaming replication protocol as herald's relay reads it: CopyData frames and pgoutput messages (pure). */
#include "pgoutput.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Seconds from 1970-01-01 to 2000-01-01. */
#define PG_EPOCH_UNIX_S INT64_C(946684800)

/* A cursor over a message: every read checks what is left first. */
struct rd {
	const unsigned char *p;
	size_t left;
};

static bool
get_u8(struct rd *r, uint8_t *v)
{
	if (r->left < 1)
		return false;
	*v = r->p[0];
	r->p++;
	r->left--;
	return true;
}

static bool
get_u32(struct rd *r, uint32_t *v)
{
	if (r->left < 4)
		return false;
	*v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 |
	     (uint32_t)r->p[2] << 8 | (uint32_t)r->p[3];
	r->p += 4;
	r->left -= 4;
	return true;
}

static bool
get_u64(struct rd *r, uint64_t *v)
{
	uint32_t hi = 0, lo = 0;

	if (r->left < 8)
		return false;
	(void)get_u32(r, &hi);
	(void)get_u32(r, &lo);
	*v = (uint64_t)hi << 32 | lo;
	return true;
}

static bool
get_i64(struct rd *r, int64_t *v)
{
	uint64_t u;

	if (!get_u64(r, &u))
		return false;
	memcpy(v, &u, sizeof(*v)); /* two's complement, as sent */
	return true;
}

/* A NUL-terminated string inside the buffer. */
static bool
get_cstr(struct rd *r, const char **s)
{
	const unsigned char *nul = memchr(r->p, '\0', r->left);

	if (nul == NULL)
		return false;
	*s = (const char *)r->p;
	r->left -= (size_t)(nul - r->p) + 1;
	r->p = nul + 1;
	return true;
}

bool
pgo_parse_frame(const unsigned char *buf, size_t len, struct pgo_frame *out)
{
	struct rd r = {buf, len};
	uint8_t tag, reply;

	memset(out, 0, sizeof(*out));
	if (buf == NULL || !get_u8(&r, &tag))
		return false;
	switch (tag) {
	case 'w':
		out->kind = PGO_XLOGDATA;
		if (!get_u64(&r, &out->wal_start) || !get_u64(&r, &out->wal_end) ||
		    !get_i64(&r, &out->send_time))
			return false;
		out->data = r.p;
		out->len = r.left;
		return true;
	case 'k':
		out->kind = PGO_KEEPALIVE;
		if (!get_u64(&r, &out->wal_end) || !get_i64(&r, &out->send_time) ||
		    !get_u8(&r, &reply))
			return false;
		out->reply_requested = reply != 0;
		return r.left == 0;
	default:
		return false;
	}
}

bool
pgo_parse_msg(const unsigned char *buf, size_t len, struct pgo_msg *out)
{
	struct rd r = {buf, len};
	uint8_t tag, flags;
	uint32_t clen;

	memset(out, 0, sizeof(*out));
	if (buf == NULL || !get_u8(&r, &tag))
		return false;
	switch (tag) {
	case 'B':
		out->kind = PGO_BEGIN;
		return get_u64(&r, &out->lsn) && get_i64(&r, &out->commit_time) &&
		       get_u32(&r, &out->xid) && r.left == 0;
	case 'C':
		out->kind = PGO_COMMIT;
		return get_u8(&r, &flags) && get_u64(&r, &out->lsn) &&
		       get_u64(&r, &out->end_lsn) &&
		       get_i64(&r, &out->commit_time) && r.left == 0;
	case 'M':
		/* protocol 1: no xid (that comes with streaming, from 2) */
		out->kind = PGO_MESSAGE;
		if (!get_u8(&r, &flags) || !get_u64(&r, &out->lsn) ||
		    !get_cstr(&r, &out->prefix) || !get_u32(&r, &clen))
			return false;
		if (clen != r.left)
			return false;
		out->transactional = (flags & 1) != 0;
		out->content = r.p;
		out->content_len = clen;
		return true;
	default:
		out->kind = PGO_OTHER;
		return true;
	}
}

static unsigned char *
put_u64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--)
		*p++ = (unsigned char)(v >> (i * 8));
	return p;
}

void
pgo_status_update(unsigned char out[PGO_STATUS_LEN], uint64_t write,
		  uint64_t flush, uint64_t apply, int64_t now,
		  bool reply_requested)
{
	unsigned char *p = out;
	uint64_t t;

	memcpy(&t, &now, sizeof(t));
	*p++ = 'r';
	p = put_u64(p, write);
	p = put_u64(p, flush);
	p = put_u64(p, apply);
	p = put_u64(p, t);
	*p = reply_requested ? 1 : 0;
}

int64_t
pgo_time_from_unix_us(int64_t unix_us)
{
	return unix_us - PG_EPOCH_UNIX_S * 1000000;
}

void
pgo_lsn_text(uint64_t lsn, char *buf, size_t len)
{
	snprintf(buf, len, "%" PRIX32 "/%" PRIX32, (uint32_t)(lsn >> 32),
		 (uint32_t)lsn);
}
