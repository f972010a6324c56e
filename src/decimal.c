/* Exact comparison of JSON number text: sign, leading-digit exponent, then digits. */
#include "decimal.h"

#define EXP_CAP 1000000000000000LL /* 10^15: larger exponents saturate */

/*
 * A number is read as sign x 0.D x 10^(adj + 1) where D, its significant
 * digits, runs from the first to the last non-zero digit of the integer
 * and fraction digits taken together; adj is then the exponent of the
 * leading digit.  Two numbers of the same sign and adj compare by D,
 * digit by digit, the shorter padded with zeros.
 */
struct dec {
	int sign;         /* -1, 0 (the value is zero) or 1 */
	const char *ip;   /* integer digits */
	size_t ilen;
	const char *fp;   /* fraction digits */
	size_t flen;
	size_t first;     /* index of D's first digit in ip ++ fp */
	size_t ndig;      /* length of D */
	long long adj;    /* exponent of the leading digit */
};

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Digit i of the integer digits followed by the fraction digits. */
static char
digit_at(const struct dec *d, size_t i)
{
	return i < d->ilen ? d->ip[i] : d->fp[i - d->ilen];
}

/* Read s[0..len); strict: RFC 8259 only. */
static bool
parse(const char *s, size_t len, bool strict, struct dec *d)
{
	size_t i = 0, n, last, start;
	bool neg = false, eneg = false;
	long long e = 0;

	if (s == NULL)
		return false;
	if (i < len && s[i] == '-') {
		neg = true;
		i++;
	}
	d->ip = s + i;
	while (i < len && is_digit(s[i]))
		i++;
	d->ilen = (size_t)(s + i - d->ip);
	if (d->ilen == 0 || (strict && d->ilen > 1 && d->ip[0] == '0'))
		return false;
	d->fp = s + i;
	d->flen = 0;
	if (i < len && s[i] == '.') {
		d->fp = s + ++i;
		while (i < len && is_digit(s[i]))
			i++;
		d->flen = (size_t)(s + i - d->fp);
		if (strict && d->flen == 0)
			return false;
	}
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			eneg = s[i++] == '-';
		start = i;
		for (; i < len && is_digit(s[i]); i++)
			if (e < EXP_CAP)
				e = e * 10 + (s[i] - '0');
		if (i == start)
			return false;
		if (e > EXP_CAP)
			e = EXP_CAP;
	}
	if (i != len)
		return false;

	n = d->ilen + d->flen;
	for (d->first = 0; d->first < n && digit_at(d, d->first) == '0';)
		d->first++;
	if (d->first == n) {
		d->sign = 0;
		d->ndig = 0;
		d->adj = 0;
		return true;
	}
	for (last = n; digit_at(d, last - 1) == '0';)
		last--;
	d->sign = neg ? -1 : 1;
	d->ndig = last - d->first;
	/* the leading digit sits ilen - first - 1 places left of the point;
	 * both are bounded by len, far below EXP_CAP */
	d->adj = (eneg ? -e : e) + (long long)d->ilen - (long long)d->first - 1;
	return true;
}

/* Compare magnitudes of two non-zero numbers. */
static int
cmp_magnitude(const struct dec *a, const struct dec *b)
{
	size_t i, n = a->ndig < b->ndig ? a->ndig : b->ndig;

	if (a->adj != b->adj)
		return a->adj < b->adj ? -1 : 1;
	for (i = 0; i < n; i++) {
		char x = digit_at(a, a->first + i), y = digit_at(b, b->first + i);

		if (x != y)
			return x < y ? -1 : 1;
	}
	if (a->ndig != b->ndig)
		return a->ndig < b->ndig ? -1 : 1;
	return 0;
}

bool
decimal_valid(const char *s, size_t len, long long maxexp)
{
	struct dec d;

	if (!parse(s, len, true, &d))
		return false;
	return d.sign == 0 || (d.adj >= -maxexp && d.adj <= maxexp);
}

bool
decimal_cmp(const char *a, size_t alen, const char *b, size_t blen, int *cmp)
{
	struct dec x, y;

	if (!parse(a, alen, false, &x) || !parse(b, blen, false, &y))
		return false;
	if (x.sign != y.sign)
		*cmp = x.sign < y.sign ? -1 : 1;
	else if (x.sign == 0)
		*cmp = 0;
	else
		*cmp = x.sign * cmp_magnitude(&x, &y);
	return true;
}
