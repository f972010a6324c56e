/* Unit tests for the replication protocol parsers (pgoutput.c): frames and messages as data tables. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pgoutput.h"

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* A message as bytes: a string literal's bytes (sizeof - 1 of them). */
#define BYTES(s) (const unsigned char *)(s), sizeof(s) - 1

#define U64_1 "\0\0\0\0\0\0\0\1"
#define LSN_A "\0\0\0\x16\xB3\x74\xD8\x48" /* 16/B374D848 */
#define LSN_B "\0\0\0\x16\xB3\x74\xD9\x00"
#define TS "\0\x02\xA0\x00\0\0\0\0"

static const struct {
	const unsigned char *buf;
	size_t len;
	bool ok;
	enum pgo_frame_kind kind;
	uint64_t wal_end;
	bool reply;
	size_t datalen;
} frames[] = {
	/* keepalive: end, time, reply wanted */
	{BYTES("k" LSN_A TS "\1"), true, PGO_KEEPALIVE, 0x16B374D848ULL, true, 0},
	{BYTES("k" LSN_A TS "\0"), true, PGO_KEEPALIVE, 0x16B374D848ULL, false, 0},
	/* one byte short, one too many */
	{BYTES("k" LSN_A TS), false, PGO_KEEPALIVE, 0, false, 0},
	{BYTES("k" LSN_A TS "\0\0"), false, PGO_KEEPALIVE, 0, false, 0},
	/* XLogData: start, end, time, then the message */
	{BYTES("w" U64_1 LSN_B TS "Mxyz"), true, PGO_XLOGDATA, 0x16B374D900ULL,
	 false, 4},
	{BYTES("w" U64_1 LSN_B TS), true, PGO_XLOGDATA, 0x16B374D900ULL, false, 0},
	{BYTES("w" U64_1 LSN_B "\0\0\0"), false, PGO_XLOGDATA, 0, false, 0},
	{BYTES("w"), false, PGO_XLOGDATA, 0, false, 0},
	/* unknown tag, empty */
	{BYTES("x" LSN_A TS "\0"), false, PGO_KEEPALIVE, 0, false, 0},
	{BYTES(""), false, PGO_KEEPALIVE, 0, false, 0},
};

START_TEST(test_frames)
{
	struct pgo_frame f;
	bool ok = pgo_parse_frame(frames[_i].buf, frames[_i].len, &f);

	ck_assert_int_eq(ok, frames[_i].ok);
	if (!ok)
		return;
	ck_assert_int_eq(f.kind, frames[_i].kind);
	ck_assert_uint_eq(f.wal_end, frames[_i].wal_end);
	ck_assert_int_eq(f.reply_requested, frames[_i].reply);
	ck_assert_uint_eq(f.len, frames[_i].datalen);
	if (f.kind == PGO_XLOGDATA) {
		ck_assert_uint_eq(f.wal_start, 1);
		ck_assert_ptr_eq(f.data, frames[_i].buf + 25);
	}
}
END_TEST

static const struct {
	const unsigned char *buf;
	size_t len;
	bool ok;
	enum pgo_msg_kind kind;
	uint64_t lsn, end_lsn;
	bool transactional;
	const char *prefix;
	const char *content; /* NULL: none checked */
} msgs[] = {
	{BYTES("B" LSN_A TS "\0\0\x02\x9A"), true, PGO_BEGIN, 0x16B374D848ULL, 0,
	 false, NULL, NULL},
	{BYTES("B" LSN_A TS "\0\0\x02"), false, PGO_BEGIN, 0, 0, false, NULL, NULL},
	{BYTES("C\0" LSN_A LSN_B TS), true, PGO_COMMIT, 0x16B374D848ULL,
	 0x16B374D900ULL, false, NULL, NULL},
	{BYTES("C\0" LSN_A LSN_B TS "\0"), false, PGO_COMMIT, 0, 0, false, NULL,
	 NULL},
	{BYTES("C\0" LSN_A LSN_B), false, PGO_COMMIT, 0, 0, false, NULL, NULL},
	/* message: flags, lsn, prefix, length, content */
	{BYTES("M\1" LSN_A "herald\0\0\0\0\2{}"), true, PGO_MESSAGE,
	 0x16B374D848ULL, 0, true, "herald", "{}"},
	{BYTES("M\0" LSN_A "herald\0\0\0\0\0"), true, PGO_MESSAGE,
	 0x16B374D848ULL, 0, false, "herald", ""},
	{BYTES("M\1" LSN_A "\0\0\0\0\1x"), true, PGO_MESSAGE, 0x16B374D848ULL, 0,
	 true, "", "x"},
	/* a length past the end, short of it, a huge one, no NUL */
	{BYTES("M\1" LSN_A "herald\0\0\0\0\3{}"), false, PGO_MESSAGE, 0, 0,
	 false, NULL, NULL},
	{BYTES("M\1" LSN_A "herald\0\0\0\0\1{}"), false, PGO_MESSAGE, 0, 0,
	 false, NULL, NULL},
	{BYTES("M\1" LSN_A "herald\0\xFF\xFF\xFF\xFF{}"), false, PGO_MESSAGE, 0,
	 0, false, NULL, NULL},
	{BYTES("M\1" LSN_A "herald"), false, PGO_MESSAGE, 0, 0, false, NULL,
	 NULL},
	{BYTES("M\1" LSN_A "herald\0\0\0"), false, PGO_MESSAGE, 0, 0, false,
	 NULL, NULL},
	{BYTES("M"), false, PGO_MESSAGE, 0, 0, false, NULL, NULL},
	/* relations, rows and the rest are not read */
	{BYTES("I\0\0\0\1N"), true, PGO_OTHER, 0, 0, false, NULL, NULL},
	{BYTES("R"), true, PGO_OTHER, 0, 0, false, NULL, NULL},
	{BYTES(""), false, PGO_OTHER, 0, 0, false, NULL, NULL},
};

START_TEST(test_msgs)
{
	struct pgo_msg m;
	bool ok = pgo_parse_msg(msgs[_i].buf, msgs[_i].len, &m);

	ck_assert_int_eq(ok, msgs[_i].ok);
	if (!ok)
		return;
	ck_assert_int_eq(m.kind, msgs[_i].kind);
	ck_assert_uint_eq(m.lsn, msgs[_i].lsn);
	ck_assert_uint_eq(m.end_lsn, msgs[_i].end_lsn);
	if (m.kind == PGO_BEGIN)
		ck_assert_uint_eq(m.xid, 0x29A);
	if (m.kind == PGO_BEGIN || m.kind == PGO_COMMIT)
		ck_assert_int_eq(m.commit_time, INT64_C(0x0002A00000000000));
	if (m.kind != PGO_MESSAGE)
		return;
	ck_assert_int_eq(m.transactional, msgs[_i].transactional);
	ck_assert_str_eq(m.prefix, msgs[_i].prefix);
	ck_assert_uint_eq(m.content_len, strlen(msgs[_i].content));
	ck_assert(memcmp(m.content, msgs[_i].content, m.content_len) == 0);
	/* the content ends where the buffer does */
	ck_assert_ptr_eq(m.content + m.content_len, msgs[_i].buf + msgs[_i].len);
}
END_TEST

/* Every prefix of a valid message is refused, never read past. */
START_TEST(test_truncated)
{
	static const unsigned char msg[] = "M\1" LSN_A "herald\0\0\0\0\2{}";
	static const unsigned char frame[] = "k" LSN_A TS "\1";
	struct pgo_msg m;
	struct pgo_frame f;

	for (size_t n = 0; n < sizeof(msg) - 1; n++) {
		unsigned char *copy = malloc(n + 1); /* exact size for ASan */

		memcpy(copy, msg, n);
		ck_assert(!pgo_parse_msg(copy, n, &m));
		free(copy);
	}
	for (size_t n = 0; n < sizeof(frame) - 1; n++) {
		unsigned char *copy = malloc(n + 1);

		memcpy(copy, frame, n);
		ck_assert(!pgo_parse_frame(copy, n, &f));
		free(copy);
	}
}
END_TEST

START_TEST(test_status_update)
{
	static const unsigned char want[PGO_STATUS_LEN] =
		"r" LSN_A LSN_B "\0\0\0\0\0\0\0\0" TS "\1";
	unsigned char out[PGO_STATUS_LEN];

	pgo_status_update(out, 0x16B374D848ULL, 0x16B374D900ULL, 0,
			  INT64_C(0x0002A00000000000), true);
	ck_assert(memcmp(out, want, sizeof(out)) == 0);
}
END_TEST

START_TEST(test_lsn_and_time)
{
	char buf[32];

	pgo_lsn_text(0x16B374D848ULL, buf, sizeof(buf));
	ck_assert_str_eq(buf, "16/B374D848");
	pgo_lsn_text(0, buf, sizeof(buf));
	ck_assert_str_eq(buf, "0/0");
	/* 2000-01-01T00:00:00Z is PostgreSQL's zero */
	ck_assert_int_eq(pgo_time_from_unix_us(INT64_C(946684800000000)), 0);
	ck_assert_int_eq(pgo_time_from_unix_us(INT64_C(946684801000000)), 1000000);
}
END_TEST

static Suite *
pgoutput_suite(void)
{
	Suite *s = suite_create("pgoutput");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_frames, 0, NELEM(frames));
	tcase_add_loop_test(tc, test_msgs, 0, NELEM(msgs));
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_status_update);
	tcase_add_test(tc, test_lsn_and_time);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(pgoutput_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
