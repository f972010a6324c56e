/* libFuzzer target: the request framing checks (httpcheck_request). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "httpcheck.h"

/*
 * The input is a request head as text: its first line the protocol
 * version, each next line a field, split at its first colon into the name
 * (as it stands) and the value (a line without a colon is a name with no
 * value).  The verdict must be 0, 400 or 501 with the code that goes with
 * it, the same whatever the order of the fields, and an accepted request
 * must hold what the checks promise: names without whitespace or colons,
 * a Host on HTTP/1.1, never Content-Length beside Transfer-Encoding.
 */

#define MAX_FIELDS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
die(const char *what)
{
	fprintf(stderr, "fuzz_httpcheck: %s\n", what);
	abort();
}

static void
check_err(unsigned status, const struct herald_error *err)
{
	if (status == 0)
		return;
	if (status != 400 && status != 501)
		die("a status other than 0, 400 or 501");
	if (strcmp(err->code, status == 400 ? "malformed_request" :
				 "unsupported_transfer_coding") != 0)
		die("a refusal without its code");
	if (err->message[0] == '\0' || strlen(err->message) >= sizeof(err->message))
		die("a refusal without a message");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct httpcheck_field fields[MAX_FIELDS], reversed[MAX_FIELDS];
	struct herald_error err, err2;
	char *text, *line, *save = NULL, *version;
	size_t n = 0, hosts = 0, lengths = 0, codings = 0;
	unsigned status, status2;

	text = malloc(size + 1);
	if (text == NULL)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	version = strtok_r(text, "\n", &save);
	while (n < MAX_FIELDS && (line = strtok_r(NULL, "\n", &save)) != NULL) {
		char *colon = strchr(line, ':');

		if (colon != NULL)
			*colon = '\0';
		fields[n].name = line;
		fields[n].value = colon != NULL ? colon + 1 : NULL;
		n++;
	}

	status = httpcheck_request(version, fields, n, &err);
	check_err(status, &err);
	for (size_t i = 0; i < n; i++)
		reversed[i] = fields[n - 1 - i];
	status2 = httpcheck_request(version, reversed, n, &err2);
	check_err(status2, &err2);
	if (status != status2)
		die("the verdict depends on the order of the fields");

	if (status == 0) {
		for (size_t i = 0; i < n; i++) {
			const char *name = fields[i].name;

			if (name[0] == '\0' || strpbrk(name, " \t:;,\"") != NULL)
				die("a name that is not a token accepted");
			hosts += strcasecmp(name, "Host") == 0;
			lengths += strcasecmp(name, "Content-Length") == 0;
			codings += strcasecmp(name, "Transfer-Encoding") == 0;
		}
		if (hosts > 1 || (hosts == 0 && (version == NULL ||
						  strcmp(version, "HTTP/1.0") != 0)))
			die("a request without exactly one Host accepted");
		if (codings > 1 || (codings == 1 && lengths > 0))
			die("ambiguous framing accepted");
	}
	free(text);
	return 0;
}
