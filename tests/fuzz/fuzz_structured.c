/* libFuzzer target: structured-mode CloudEvents, parsed, rendered and parsed again. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloudevent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
die(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_structured: %s%s%s\n", what,
		detail ? ": " : "", detail ? detail : "");
	abort();
}

/* The event as a structured delivery sends it (and ce_to_json, which
 * must agree on its success). */
static char *
render(const struct cloudevent *ev, const char *what)
{
	cJSON *json = ce_to_json(ev);
	char *text = ce_to_text(ev);

	if (json == NULL || text == NULL)
		die("rendering failed", what);
	cJSON_Delete(json);
	return text;
}

/*
 * The stored form of an event (attributes as JSON text, payload bytes and
 * kind) must rebuild into the same event, as the dispatcher does it.
 */
static void
check_stored(const struct cloudevent *ev, const char *want)
{
	struct cloudevent back;
	char *attrs, *got;

	attrs = cJSON_PrintUnformatted(ev->attrs);
	if (attrs == NULL)
		die("cannot print attributes", NULL);
	if (ce_from_stored(attrs, ev->data, ev->data_len, ev->data_kind,
			   &back) != 0)
		die("ce_from_stored refused a parsed event", attrs);
	got = render(&back, "stored event");
	if (strcmp(want, got) != 0)
		die("stored event renders differently", got);
	free(got);
	ce_free(&back);
	cJSON_free(attrs);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct herald_error err;
	struct cloudevent ev, again;
	char *text, *text2;

	if (ce_parse_structured((const char *)data, size, &ev, &err) != 0) {
		if (err.code[0] == '\0' || err.message[0] == '\0')
			die("refused without an error code or message", NULL);
		return 0;
	}
	text = render(&ev, "parsed event");
	if (ce_parse_structured(text, strlen(text), &again, &err) != 0)
		die("rendered event does not parse again", err.message);
	if (again.data_kind != ev.data_kind)
		die("round trip changed the data kind", text);
	/* data is kept exactly: rendering and parsing again keeps its bytes */
	if (again.data_len != ev.data_len ||
	    (ev.data_len && memcmp(again.data, ev.data, ev.data_len) != 0))
		die("round trip changed the data bytes", text);
	text2 = render(&again, "parsed again");
	if (strcmp(text, text2) != 0)
		die("round trip changed the event", text2);
	check_stored(&ev, text);

	free(text2);
	ce_free(&again);
	free(text);
	ce_free(&ev);
	return 0;
}
