/* One webhook request for a delivery: body and headers (CloudEvents HTTP binding, Standard Webhooks), and how its answer is judged. */
#ifndef HERALD_WEBHOOK_H
#define HERALD_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "herald.h"

/* The request to send: body bytes and "Name: value" header lines. */
struct webhook_request {
	char *body;
	size_t body_len;
	char **headers;
	size_t nheaders;
};

/* Build the request for event seq to this subscription, signed with each
 * of the secrets (the current one first, then one in its rotation grace)
 * at timestamp (Unix seconds).  0, or -1 when a secret is malformed. */
int webhook_build(const struct subscription *sub, const char *const *secrets,
		  size_t nsecrets, const struct cloudevent *ev, int64_t seq,
		  long long timestamp, struct webhook_request *out);

void webhook_request_free(struct webhook_request *req);

enum webhook_outcome {
	WEBHOOK_DELIVERED, /* 2xx */
	WEBHOOK_RETRY,     /* anything else: counts as an attempt */
	WEBHOOK_DEFER,     /* 429/503 with a usable Retry-After: no attempt used */
	WEBHOOK_GONE,      /* 410: the subscription is disabled */
};

/* Judge an answer.  status 0 means no HTTP answer (timeout, connection
 * error, refused address).  retry_after is the header value or NULL. */
enum webhook_outcome webhook_classify(long status, const char *retry_after,
				      time_t now, long *retry_after_ms);

#endif
