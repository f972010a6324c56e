/* Character classes, RFC 3339 date-times and month lengths (pure). */
#ifndef HERALD_TEXT_H
#define HERALD_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* ASCII classes, whatever the locale. */
bool text_is_digit(char c);
bool text_is_alpha(char c);
bool text_is_alnum(char c);

/* An HTTP token character (RFC 9110 tchar). */
bool text_is_tchar(char c);

/* How many token characters s starts with. */
size_t text_token_len(const char *s);

/* Days in month (1 to 12) of year, leap years by the Gregorian rule. */
int text_days_in_month(int year, int month);

/* An RFC 3339 date-time, YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm),
 * with every field in range ("T" and "Z" in either case, second 60 for a
 * leap second). */
bool text_rfc3339_valid(const char *s);

/* Unix seconds as an RFC 3339 date-time in UTC to the millisecond
 * ("2024-05-01T12:00:00.250Z") into buf (len >= 32); false when out of
 * range. */
bool text_rfc3339_format(double t, char *buf, size_t len);

#endif
