/* The delivery lifecycle: a delivery's states, and what one attempt makes of a delivery (pure). */
#include "delivery.h"

#include <stdio.h>
#include <string.h>

#include "backoff.h"
#include "webhook.h"

static const char *const state_names[] = {
	[DELIVERY_PENDING] = "pending",
	[DELIVERY_SUCCEEDED] = "succeeded",
	[DELIVERY_FAILED] = "failed",
};
#define NSTATES (sizeof(state_names) / sizeof(state_names[0]))

const char *
delivery_state_name(enum delivery_state s)
{
	return (size_t)s < NSTATES ? state_names[s] : "invalid";
}

bool
delivery_state_parse(const char *name, enum delivery_state *out)
{
	for (size_t i = 0; name != NULL && i < NSTATES; i++) {
		if (strcmp(name, state_names[i]) == 0) {
			*out = (enum delivery_state)i;
			return true;
		}
	}
	return false;
}

bool
delivery_state_final(enum delivery_state s)
{
	return s != DELIVERY_PENDING;
}

void
delivery_judge(const struct sub_retry *retry, int attempts, long status,
	       const char *transport, const char *retry_after, time_t now,
	       double u, struct delivery_verdict *out)
{
	long ra_ms = 0;
	enum webhook_outcome o;

	memset(out, 0, sizeof(*out));
	out->state = DELIVERY_PENDING;
	out->attempts = attempts;
	o = transport != NULL ? WEBHOOK_RETRY :
	    webhook_classify(status, retry_after, now, &ra_ms);
	if (transport != NULL)
		snprintf(out->error, sizeof(out->error), "%s", transport);
	else if (o != WEBHOOK_DELIVERED)
		snprintf(out->error, sizeof(out->error), "HTTP %ld", status);
	switch (o) {
	case WEBHOOK_DELIVERED:
		out->state = DELIVERY_SUCCEEDED;
		out->attempts++;
		break;
	case WEBHOOK_DEFER:
		/* not an attempt; nothing more to this subscriber until then */
		out->delay_ms = backoff_wait_ms(
			backoff_delay_ms(retry, attempts > 0 ? attempts : 1, u),
			ra_ms);
		out->block_ms = ra_ms;
		break;
	case WEBHOOK_GONE:
		out->gone = true;
		break;
	case WEBHOOK_RETRY:
		out->attempts++;
		if (out->attempts >= retry->max_attempts)
			out->state = DELIVERY_FAILED;
		else
			out->delay_ms = backoff_delay_ms(retry, out->attempts, u);
		break;
	}
}
