/* One webhook request for a delivery: body and headers (CloudEvents HTTP binding, Standard Webhooks), and how its answer is judged. */
#include "webhook.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backoff.h"
#include "cloudevent.h"
#include "signature.h"
#include "xalloc.h"

#define MAX_SIGNATURES 2

static void
add_header(struct webhook_request *req, const char *name, const char *value)
{
	size_t len = strlen(name) + strlen(value) + 3;
	char *line = xmalloc(len);

	/* "Name:" with no value tells libcurl to leave the header out */
	snprintf(line, len, value[0] ? "%s: %s" : "%s:%s", name, value);
	req->headers = xrealloc(req->headers,
				(req->nheaders + 1) * sizeof(*req->headers));
	req->headers[req->nheaders++] = line;
}

/* Binary mode: each attribute but datacontenttype as a ce- header. */
static void
add_ce_headers(struct webhook_request *req, const struct cloudevent *ev)
{
	const cJSON *a;
	char buf[64];

	cJSON_ArrayForEach(a, ev->attrs) {
		const char *v;
		char name[80], *enc;

		if (strcmp(a->string, "datacontenttype") == 0 ||
		    strlen(a->string) > sizeof(name) - 4)
			continue;
		v = ce_attr_string(ev, a->string, buf, sizeof(buf));
		if (v == NULL)
			continue;
		snprintf(name, sizeof(name), "ce-%s", a->string);
		enc = ce_percent_encode(v);
		add_header(req, name, enc);
		free(enc);
	}
}

int
webhook_build(const struct subscription *sub, const char *const *secrets,
	      size_t nsecrets, const struct cloudevent *ev, int64_t seq,
	      long long timestamp, struct webhook_request *out)
{
	char msg_id[32], ts[24], sig[MAX_SIGNATURES * (SIGNATURE_SIZE + 1)];
	char ua[64];

	memset(out, 0, sizeof(*out));
	if (nsecrets > MAX_SIGNATURES)
		nsecrets = MAX_SIGNATURES;
	if (sub->delivery.mode == SUB_MODE_STRUCTURED) {
		char *text = ce_to_text(ev);

		if (text == NULL)
			return -1;
		out->body = text;
		out->body_len = strlen(text);
		add_header(out, "Content-Type", "application/cloudevents+json");
	} else {
		/* data has no terminating NUL; the copy gets one */
		out->body = xmalloc(ev->data_len + 1);
		if (ev->data_len)
			memcpy(out->body, ev->data, ev->data_len);
		out->body[ev->data_len] = '\0';
		out->body_len = ev->data_len;
		add_ce_headers(out, ev);
		/*
		 * Content-Type is datacontenttype and nothing else: a receiver
		 * reads it back as that attribute, so an event without one
		 * gets none.  The empty value also stops libcurl from adding
		 * its own form content type.
		 */
		add_header(out, "Content-Type",
			   ev->datacontenttype ? ev->datacontenttype : "");
	}
	snprintf(msg_id, sizeof(msg_id), "msg_%lld", (long long)seq);
	snprintf(ts, sizeof(ts), "%lld", timestamp);
	if (signature_header(secrets, nsecrets, msg_id, timestamp,
			     (const unsigned char *)out->body, out->body_len, sig,
			     sizeof(sig)) != 0) {
		webhook_request_free(out);
		return -1;
	}
	add_header(out, "webhook-id", msg_id);
	add_header(out, "webhook-timestamp", ts);
	add_header(out, "webhook-signature", sig);
	for (size_t i = 0; i < sub->nheaders; i++)
		add_header(out, sub->headers[i].name, sub->headers[i].value);
	if (sub->access_token) {
		char *bearer = xmalloc(strlen(sub->access_token) + 8);

		sprintf(bearer, "Bearer %s", sub->access_token);
		add_header(out, "Authorization", bearer);
		free(bearer);
	}
	snprintf(ua, sizeof(ua), "herald/%s", PACKAGE_VERSION);
	add_header(out, "User-Agent", ua);
	/* no 100-continue round trip for large bodies */
	add_header(out, "Expect", "");
	return 0;
}

void
webhook_request_free(struct webhook_request *req)
{
	for (size_t i = 0; i < req->nheaders; i++)
		free(req->headers[i]);
	free(req->headers);
	free(req->body);
	memset(req, 0, sizeof(*req));
}

enum webhook_outcome
webhook_classify(long status, const char *retry_after, time_t now,
		 long *retry_after_ms)
{
	*retry_after_ms = 0;
	if (status >= 200 && status <= 299)
		return WEBHOOK_DELIVERED;
	if (status == 410)
		return WEBHOOK_GONE;
	if ((status == 429 || status == 503) && retry_after != NULL &&
	    backoff_parse_retry_after(retry_after, now, retry_after_ms))
		return WEBHOOK_DEFER;
	return WEBHOOK_RETRY;
}
