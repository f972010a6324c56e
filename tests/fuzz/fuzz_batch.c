/* libFuzzer target: batch-mode CloudEvents (a JSON array of events). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "cloudevent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
die(const char *what)
{
	fprintf(stderr, "fuzz_batch: %s\n", what);
	abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct herald_error err;
	struct cloudevent *evs;
	size_t n, i;

	if (ce_parse_batch((const char *)data, size, &evs, &n, &err) != 0) {
		if (evs != NULL || n != 0)
			die("refused batch left events behind");
		if (err.code[0] == '\0' || err.message[0] == '\0')
			die("refused without an error code or message");
		return 0;
	}
	if (n > 0 && evs == NULL)
		die("events counted but not returned");
	for (i = 0; i < n; i++) {
		cJSON *json = ce_to_json(&evs[i]);

		if (json == NULL)
			die("ce_to_json failed on a parsed batch member");
		cJSON_Delete(json);
	}
	ce_free_array(evs, n);
	return 0;
}
