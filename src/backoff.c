/* Retry timing: exponential backoff with jitter, and HTTP Retry-After. */
#include "backoff.h"

#include <math.h>
#include <string.h>

#include "text.h"

static const char *const wkday_short[] = {
	"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun",
};
static const char *const wkday_long[] = {
	"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
	"Sunday",
};
static const char *const month_name[] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

long
backoff_delay_ms(const struct sub_retry *r, int attempt, double u)
{
	double mult = r->multiplier;
	double jitter = r->jitter;
	double cap, base, d;

	if (r->initial_ms <= 0 || r->max_ms <= 0)
		return 0;
	if (attempt < 1)
		attempt = 1;
	if (!(mult >= 1.0))
		mult = 1.0;
	if (!(jitter > 0.0))
		jitter = 0.0;
	else if (jitter > 1.0)
		jitter = 1.0;
	if (isnan(u))
		u = 0.5;
	else if (u < 0.0)
		u = 0.0;
	else if (u > 1.0)
		u = 1.0;

	/*
	 * Everything stays in double until the end: pow() saturates to
	 * HUGE_VAL for huge attempt counts and the cap absorbs it, so no
	 * integer ever overflows.
	 */
	cap = (double)r->max_ms;
	base = (double)r->initial_ms * pow(mult, (double)(attempt - 1));
	if (!(base < cap))
		base = cap;
	d = base * (1.0 + jitter * (2.0 * u - 1.0));
	if (d >= cap)
		return r->max_ms;
	if (!(d > 0.0))
		return 0;
	/* 0 < d < cap <= LONG_MAX, so the conversion is in range. */
	return (long)(d + 0.5);
}

long
backoff_wait_ms(long backoff_ms, long retry_after_ms)
{
	return retry_after_ms > backoff_ms ? retry_after_ms : backoff_ms;
}

static bool
is_ows(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Consume the literal s. */
static bool
eat(const char **p, const char *s)
{
	size_t n = strlen(s);

	if (strncmp(*p, s, n) != 0)
		return false;
	*p += n;
	return true;
}

/* Consume one of the n names in table; its index goes to *idx. */
static bool
eat_name(const char **p, const char *const *table, int n, int *idx)
{
	for (int i = 0; i < n; i++) {
		if (eat(p, table[i])) {
			*idx = i;
			return true;
		}
	}
	return false;
}

/* Consume exactly n digits. */
static bool
eat_digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!text_is_digit((*p)[i]))
			return false;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return true;
}

/* time-of-day = hour ":" minute ":" second, all 2DIGIT. */
static bool
eat_time(const char **p, struct tm *tm)
{
	return eat_digits(p, 2, &tm->tm_hour) && eat(p, ":") &&
	       eat_digits(p, 2, &tm->tm_min) && eat(p, ":") &&
	       eat_digits(p, 2, &tm->tm_sec);
}

/*
 * RFC 9110 section 5.6.7: a two-digit year that would lie more than 50
 * years in the future is the most recent past year with those digits.  So
 * the year is the one ending in yy within [now - 49, now + 50].
 */
static bool
rfc850_year(int yy, time_t now, int *year)
{
	struct tm cur;
	int y;

	if (gmtime_r(&now, &cur) == NULL)
		return false;
	y = cur.tm_year + 1900;
	*year = y - y % 100 + yy;
	if (*year > y + 50)
		*year -= 100;
	else if (*year < y - 49)
		*year += 100;
	return true;
}

/* IMF-fixdate after the weekday: ", 06 Nov 1994 08:49:37 GMT" */
static bool
parse_imf_fixdate(const char *p, const char *end, struct tm *tm, int *year)
{
	return eat(&p, ", ") && eat_digits(&p, 2, &tm->tm_mday) &&
	       eat(&p, " ") && eat_name(&p, month_name, 12, &tm->tm_mon) &&
	       eat(&p, " ") && eat_digits(&p, 4, year) && eat(&p, " ") &&
	       eat_time(&p, tm) && eat(&p, " GMT") && p == end;
}

/* asctime after the weekday: " Nov  6 08:49:37 1994" */
static bool
parse_asctime(const char *p, const char *end, struct tm *tm, int *year)
{
	if (!eat(&p, " ") || !eat_name(&p, month_name, 12, &tm->tm_mon) ||
	    !eat(&p, " "))
		return false;
	if (!(eat(&p, " ") ? eat_digits(&p, 1, &tm->tm_mday) :
			     eat_digits(&p, 2, &tm->tm_mday)))
		return false;
	return eat(&p, " ") && eat_time(&p, tm) && eat(&p, " ") &&
	       eat_digits(&p, 4, year) && p == end;
}

/* RFC 850 after the weekday: ", 06-Nov-94 08:49:37 GMT" */
static bool
parse_rfc850(const char *p, const char *end, time_t now, struct tm *tm,
	     int *year)
{
	int yy;

	return eat(&p, ", ") && eat_digits(&p, 2, &tm->tm_mday) &&
	       eat(&p, "-") && eat_name(&p, month_name, 12, &tm->tm_mon) &&
	       eat(&p, "-") && eat_digits(&p, 2, &yy) && eat(&p, " ") &&
	       eat_time(&p, tm) && eat(&p, " GMT") && p == end &&
	       rfc850_year(yy, now, year);
}

/*
 * Parse an HTTP-date (IMF-fixdate, RFC 850 or asctime) spanning [p, end)
 * into tm (UTC) and check that the fields name a real date and time.
 */
static bool
parse_http_date(const char *p, const char *end, time_t now, struct tm *tm)
{
	const char *q = p;
	int wday, year = 0;
	bool ok;

	memset(tm, 0, sizeof(*tm));
	if (eat_name(&q, wkday_long, 7, &wday))
		ok = parse_rfc850(q, end, now, tm, &year);
	else if (eat_name(&q, wkday_short, 7, &wday))
		ok = *q == ',' ? parse_imf_fixdate(q, end, tm, &year) :
				 parse_asctime(q, end, tm, &year);
	else
		ok = false;
	if (!ok)
		return false;
	if (tm->tm_mday < 1 || tm->tm_mday > text_days_in_month(year, tm->tm_mon + 1) ||
	    tm->tm_hour > 23 || tm->tm_min > 59 || tm->tm_sec > 60)
		return false;
	tm->tm_year = year - 1900;
	return true;
}

bool
backoff_parse_retry_after(const char *value, time_t now, long *delay_ms)
{
	const char *p, *end;
	long secs = 0;

	if (value == NULL)
		return false;
	p = value;
	while (is_ows(*p))
		p++;
	end = p + strlen(p);
	while (end > p && is_ows(end[-1]))
		end--;
	if (p == end)
		return false;

	if (text_is_digit(*p)) {
		/* delta-seconds saturate, never overflow (RFC 9111 1.2.2) */
		for (; p < end; p++) {
			if (!text_is_digit(*p))
				return false;
			if (secs < BACKOFF_RETRY_AFTER_MAX_S)
				secs = secs * 10 + (*p - '0');
		}
	} else {
		struct tm tm;
		time_t when;

		/*
		 * The date parser stops at end, so trailing whitespace does
		 * not need a copy: it only has to reach end exactly.
		 */
		if (!parse_http_date(p, end, now, &tm))
			return false;
		when = timegm(&tm);
		if (when <= now)
			secs = 0;
		else if (when - BACKOFF_RETRY_AFTER_MAX_S > now)
			secs = BACKOFF_RETRY_AFTER_MAX_S;
		else
			secs = (long)(when - now);
	}
	if (secs > BACKOFF_RETRY_AFTER_MAX_S)
		secs = BACKOFF_RETRY_AFTER_MAX_S;
	*delay_ms = secs * 1000;
	return true;
}
