/* libFuzzer target: the replication protocol parsers (pgo_parse_frame, pgo_parse_msg). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgoutput.h"

/*
 * The input is one CopyData frame as the server would send it.  Parsed as
 * a frame and, whole, as a pgoutput message (as is the data of an
 * XLogData frame), nothing may be read outside the input (the copy is
 * exactly its size, for the sanitizer), and what is parsed must lie
 * inside it: a message's prefix is NUL-terminated there, its content ends
 * where the input does.
 */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
die(const char *what)
{
	fprintf(stderr, "fuzz_pgoutput: %s\n", what);
	abort();
}

static void
check_msg(const unsigned char *buf, size_t len)
{
	struct pgo_msg m;

	if (!pgo_parse_msg(buf, len, &m) || m.kind != PGO_MESSAGE)
		return;
	if ((const unsigned char *)m.prefix < buf ||
	    (const unsigned char *)m.prefix + strlen(m.prefix) >= buf + len)
		die("a prefix outside the message");
	if (m.content < buf || m.content + m.content_len != buf + len)
		die("content that does not end the message");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *buf = malloc(size ? size : 1);
	struct pgo_frame f;

	if (buf == NULL)
		return 0;
	memcpy(buf, data, size);
	if (pgo_parse_frame(buf, size, &f)) {
		if (f.kind == PGO_XLOGDATA) {
			if (f.data != buf + 25 || f.len != size - 25)
				die("XLogData not after its 25-byte header");
			check_msg(f.data, f.len);
		} else if (size != 18) {
			die("a keepalive that is not 18 bytes");
		}
	}
	check_msg(buf, size);
	free(buf);
	return 0;
}
