/* Character classes, RFC 3339 date-times and month lengths (pure). */
#include "text.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

bool
text_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

bool
text_is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool
text_is_alnum(char c)
{
	return text_is_alpha(c) || text_is_digit(c);
}

bool
text_is_tchar(char c)
{
	return text_is_alnum(c) ||
	       (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

size_t
text_token_len(const char *s)
{
	size_t n = 0;

	while (text_is_tchar(s[n]))
		n++;
	return n;
}

int
text_days_in_month(int year, int month)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30,
				     31, 31, 30, 31, 30, 31};
	bool leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);

	if (month < 1 || month > 12)
		return 0;
	return month == 2 && leap ? 29 : days[month - 1];
}

/* n decimal digits at s into *out; false when one is not a digit. */
static bool
read_digits(const char *s, int n, int *out)
{
	int i, v = 0;

	for (i = 0; i < n; i++) {
		if (!text_is_digit(s[i]))
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

bool
text_rfc3339_valid(const char *s)
{
	int y, mo, d, h, mi, sec, oh, om;
	size_t i = 19;

	if (!read_digits(s, 4, &y) || s[4] != '-' ||
	    !read_digits(s + 5, 2, &mo) || s[7] != '-' ||
	    !read_digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
	    !read_digits(s + 11, 2, &h) || s[13] != ':' ||
	    !read_digits(s + 14, 2, &mi) || s[16] != ':' ||
	    !read_digits(s + 17, 2, &sec))
		return false;
	if (mo < 1 || mo > 12 || d < 1 || d > text_days_in_month(y, mo) ||
	    h > 23 || mi > 59 || sec > 60)
		return false;
	if (s[i] == '.') {
		if (!text_is_digit(s[++i]))
			return false;
		while (text_is_digit(s[i]))
			i++;
	}
	if (s[i] == 'Z' || s[i] == 'z')
		return s[i + 1] == '\0';
	if (s[i] != '+' && s[i] != '-')
		return false;
	if (!read_digits(s + i + 1, 2, &oh) || s[i + 3] != ':' ||
	    !read_digits(s + i + 4, 2, &om) || s[i + 6] != '\0')
		return false;
	return oh <= 23 && om <= 59;
}

bool
text_rfc3339_format(double t, char *buf, size_t len)
{
	double whole = floor(t);
	time_t sec = (time_t)whole;
	int ms = (int)((t - whole) * 1000.0);
	struct tm tm;
	int n;

	if (!(t >= 0 && t < 253402300800.0) || gmtime_r(&sec, &tm) == NULL)
		return false;
	n = snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		     tm.tm_min, tm.tm_sec, ms > 999 ? 999 : ms);
	return n > 0 && (size_t)n < len;
}
