/* Retry timing: exponential backoff with jitter, and HTTP Retry-After. */
#ifndef HERALD_BACKOFF_H
#define HERALD_BACKOFF_H

#include <stdbool.h>
#include <time.h>

#include "herald.h"

/* Longest wait a Retry-After value can impose, in seconds (7 days). */
#define BACKOFF_RETRY_AFTER_MAX_S 604800L

/*
 * Delay in milliseconds before the retry that follows failed attempt number
 * attempt (1-based).  The base is initial_ms * multiplier^(attempt - 1),
 * capped at max_ms; jitter then scales it by 1 + jitter * (2u - 1), where u
 * is a uniform random number in [0, 1) chosen by the caller.  max_ms is a
 * hard ceiling: the result lies in [base * (1 - jitter), min(base * (1 +
 * jitter), max_ms)], rounded to the nearest millisecond, so at the cap the
 * jitter only shortens the wait.  Out-of-range input is tamed rather than
 * refused: attempt < 1 counts as 1, multiplier < 1 or NaN as 1, jitter is
 * clamped to [0, 1] (NaN: 0), u to [0, 1] (NaN: 0.5), and initial_ms <= 0 or
 * max_ms <= 0 give 0.
 */
long backoff_delay_ms(const struct sub_retry *r, int attempt, double u);

/*
 * Parse an HTTP Retry-After value (RFC 9110 section 10.2.3) received at
 * time now: delta-seconds, or an HTTP-date in IMF-fixdate, RFC 850 or asctime
 * form (names are case-sensitive, the weekday name is not checked against the
 * date).  Surrounding spaces, tabs, CR and LF are ignored.  The delay is
 * clamped to [0, BACKOFF_RETRY_AFTER_MAX_S] seconds, so a date in the past
 * means 0 and a huge number of seconds saturates instead of overflowing.
 * Returns false, leaving *delay_ms alone, when the value is malformed.
 */
bool backoff_parse_retry_after(const char *value, time_t now, long *delay_ms);

/*
 * How long to wait before sending again: max(backoff_ms, retry_after_ms).
 * A negative retry_after_ms means the response carried no Retry-After.
 */
long backoff_wait_ms(long backoff_ms, long retry_after_ms);

#endif
