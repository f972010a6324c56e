/* Exact comparison of JSON number text, never through a double. */
#ifndef HERALD_DECIMAL_H
#define HERALD_DECIMAL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

/*
 * Numbers are compared by their exact decimal value: 1, 1.0, 10e-1 and
 * 1e0 are equal, -0 equals 0, 9007199254740993 is greater than
 * 9007199254740992.  Besides RFC 8259 numbers, the looser forms cJSON
 * accepts are read too ("01", "1.", "1.e5"), so that data herald took
 * in compares by the value cJSON saw.  Exponents are exact up to 10^15
 * in absolute value; a larger one counts as 10^15, so such a number
 * still orders exactly against every number whose exponent is within
 * 10^14 (all a filter may hold, see decimal_valid).
 */

/* true when s[0..len) is an RFC 8259 number whose leading digit's
 * exponent (0.01 -> -2, 1 -> 0, 12.5 -> 1) lies within [-maxexp,
 * maxexp]; zero is always within. */
bool decimal_valid(const char *s, size_t len, long long maxexp);

/* decimal_valid without a bound on the exponent */
#define DECIMAL_EXP_ANY LLONG_MAX

/* *cmp = -1, 0 or 1 as a is less than, equal to or greater than b.
 * false (and *cmp untouched) when either is not a number. */
bool decimal_cmp(const char *a, size_t alen, const char *b, size_t blen,
		 int *cmp);

#endif
