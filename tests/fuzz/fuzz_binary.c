/* libFuzzer target: binary-mode CloudEvents from header lines and a body; percent coding. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cloudevent.h"

/*
 * Input layout: header lines ("name: value", '\n'-separated, a trailing
 * '\r' dropped), then a NUL byte, then the body.  Without a NUL the whole
 * input is headers and the body is empty.  A line without ':' is a header
 * without a value (NULL).  A "content-type" line becomes the content type
 * (leading blanks cut, as libmicrohttpd does) and, as the HTTP layer does,
 * stays in the header list too.
 */

#define MAX_HEADERS 2048

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
die(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_binary: %s%s%s\n", what,
		detail ? ": " : "", detail ? detail : "");
	abort();
}

/* Decoding what the encoder made must give back the decoded value, and the
 * encoded form must be a plain header value (visible ASCII, no '"'). */
static void
check_percent(const char *value, size_t len)
{
	char *dec, *enc, *dec2;
	const char *p;

	dec = ce_percent_decode(value, len);
	if (dec == NULL)
		return;
	enc = ce_percent_encode(dec);
	if (enc == NULL)
		die("ce_percent_encode failed", dec);
	for (p = enc; *p != '\0'; p++)
		if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e ||
		    *p == '"')
			die("encoded value holds a byte a header cannot", enc);
	dec2 = ce_percent_decode(enc, strlen(enc));
	if (dec2 == NULL)
		die("encoded value does not decode", enc);
	if (strcmp(dec, dec2) != 0)
		die("percent round trip changed the value", enc);
	free(dec2);
	free(enc);
	free(dec);
}

/* The event rendered and printed, as a structured delivery sends it. */
static char *
render(const struct cloudevent *ev)
{
	cJSON *json = ce_to_json(ev);
	char *text;

	if (json == NULL)
		die("ce_to_json failed on a parsed event", NULL);
	text = cJSON_PrintUnformatted(json);
	if (text == NULL)
		die("cannot print the rendered event", NULL);
	cJSON_Delete(json);
	return text;
}

/* A binary event rendered as JSON must parse as the same structured event. */
static void
check_render(const struct cloudevent *ev)
{
	struct herald_error err;
	struct cloudevent again;
	char *text, *text2;

	text = render(ev);
	if (ce_parse_structured(text, strlen(text), &again, &err) != 0)
		die("rendered binary event does not parse as structured",
		    err.message);
	if (again.data_kind != ev->data_kind)
		die("structured form changed the data kind", text);
	text2 = render(&again);
	if (strcmp(text, text2) != 0)
		die("structured form changed the event", text2);
	cJSON_free(text2);
	ce_free(&again);
	cJSON_free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ce_header headers[MAX_HEADERS];
	struct herald_error err;
	struct cloudevent ev;
	const char *content_type = NULL;
	const uint8_t *nul;
	const char *body = NULL;
	size_t hlen, blen = 0, n = 0;
	char *text, *line, *next;

	/* the raw input as one value: NUL bytes and all */
	check_percent((const char *)data, size);

	nul = memchr(data, '\0', size);
	hlen = nul ? (size_t)(nul - data) : size;
	if (nul != NULL) {
		body = (const char *)nul + 1;
		blen = size - hlen - 1;
	}
	text = malloc(hlen + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, hlen);
	text[hlen] = '\0';

	for (line = text; line != NULL && n < MAX_HEADERS; line = next) {
		char *colon, *end;

		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		end = line + strlen(line);
		if (end > line && end[-1] == '\r')
			*--end = '\0';
		if (*line == '\0')
			continue;
		colon = strchr(line, ':');
		headers[n].name = line;
		headers[n].value = NULL;
		if (colon != NULL) {
			*colon = '\0';
			headers[n].value = colon + 1;
			check_percent(colon + 1, strlen(colon + 1));
			if (strcasecmp(line, "content-type") == 0)
				content_type = colon + 1 + strspn(colon + 1,
								  " \t");
		}
		n++;
	}

	if (ce_parse_binary(headers, n, content_type, body, blen, &ev,
			    &err) == 0) {
		check_render(&ev);
		ce_free(&ev);
	} else if (err.code[0] == '\0' || err.message[0] == '\0') {
		die("refused without an error code or message", NULL);
	}
	free(text);
	return 0;
}
