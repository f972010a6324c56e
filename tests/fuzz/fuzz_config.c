/* libFuzzer target: the config file reader, config_set and the command-line flags. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"

/*
 * The input is written, in place of the previous one, to one memfd made
 * per process and read back through /proc/self/fd/N as a config file.  It
 * is also given to config_set split at the first '=' (key and value
 * bounded), and its lines become the arguments of config_from_args, except
 * those that would name a config file to read.
 */

#define MAX_KV 4096
#define MAX_ARGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int memfd = -1;
static char memfd_path[64];
static FILE *devnull;

static void
die(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_config: %s%s%s\n", what, detail ? ": " : "",
		detail ? detail : "");
	abort();
}

static void
setup(void)
{
	if (memfd >= 0)
		return;
	memfd = memfd_create("herald-fuzz-config", MFD_CLOEXEC);
	if (memfd < 0)
		die("memfd_create failed", NULL);
	snprintf(memfd_path, sizeof(memfd_path), "/proc/self/fd/%d", memfd);
	devnull = fopen("/dev/null", "w");
	if (devnull == NULL)
		die("cannot open /dev/null", NULL);
}

static void
write_memfd(const uint8_t *data, size_t size)
{
	size_t off = 0;

	if (ftruncate(memfd, 0) != 0)
		die("ftruncate failed", NULL);
	while (off < size) {
		ssize_t n = pwrite(memfd, data + off, size - off, (off_t)off);

		if (n <= 0)
			die("pwrite failed", NULL);
		off += (size_t)n;
	}
}

static void
fuzz_file(const uint8_t *data, size_t size)
{
	struct config c, before;
	char err[512];

	write_memfd(data, size);
	config_defaults(&c);
	memcpy(&before, &c, sizeof(c));
	err[0] = '\0';
	if (config_load_file(&c, memfd_path, err, sizeof(err)) != 0) {
		/* a failed load leaves *c exactly as it was, pointers too */
		if (memcmp(&c, &before, sizeof(c)) != 0)
			die("failed load changed the settings", err);
		if (err[0] == '\0')
			die("failed load without a message", NULL);
	}
	config_free(&c);
}

static void
fuzz_set(const uint8_t *data, size_t size)
{
	char kv[MAX_KV + 1], err[256];
	struct config c, before;
	const char *value;
	char *eq;

	if (size > MAX_KV)
		size = MAX_KV;
	memcpy(kv, data, size);
	kv[size] = '\0';
	eq = strchr(kv, '=');
	if (eq != NULL) {
		*eq = '\0';
		value = eq + 1;
	} else {
		value = "";
	}
	config_defaults(&c);
	memcpy(&before, &c, sizeof(c));
	if (config_set(&c, kv, value, err, sizeof(err)) != 0 &&
	    memcmp(&c, &before, sizeof(c)) != 0)
		die("failed config_set changed the settings", err);
	config_free(&c);
}

/* One argument per line; none may name a config file. */
static void
fuzz_args(const uint8_t *data, size_t size)
{
	char *argv[MAX_ARGS + 2];
	char *text, *line, *next;
	struct config c;
	int argc = 0;

	text = malloc(size + 1);
	if (text == NULL)
		return;
	memcpy(text, data, size);
	text[size] = '\0';
	argv[argc++] = "herald";
	for (line = text; line != NULL && argc <= MAX_ARGS; line = next) {
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		if (strcmp(line, "-c") == 0 || strcmp(line, "--config") == 0 ||
		    strncmp(line, "--config=", 9) == 0)
			continue;
		argv[argc++] = line;
	}
	argv[argc] = NULL;
	config_from_args(&c, argc, argv, devnull, devnull);
	config_free(&c);
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup();
	fuzz_file(data, size);
	fuzz_set(data, size);
	fuzz_args(data, size);
	return 0;
}
