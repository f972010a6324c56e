/* Base64 (RFC 4648, standard alphabet) encoding and strict decoding. */
#include "base64.h"

static const char alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t
base64_encoded_len(size_t n)
{
	return (n + 2) / 3 * 4;
}

size_t
base64_encode(const unsigned char *in, size_t n, char *out)
{
	size_t i, o = 0;

	for (i = 0; i + 2 < n; i += 3) {
		unsigned long v = (unsigned long)in[i] << 16 |
				  (unsigned long)in[i + 1] << 8 | in[i + 2];
		out[o++] = alphabet[v >> 18 & 63];
		out[o++] = alphabet[v >> 12 & 63];
		out[o++] = alphabet[v >> 6 & 63];
		out[o++] = alphabet[v & 63];
	}
	if (i < n) {
		unsigned long v = (unsigned long)in[i] << 16;

		if (i + 1 < n)
			v |= (unsigned long)in[i + 1] << 8;
		out[o++] = alphabet[v >> 18 & 63];
		out[o++] = alphabet[v >> 12 & 63];
		out[o++] = i + 1 < n ? alphabet[v >> 6 & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

static int
sextet(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

bool
base64_decode(const char *in, size_t len, unsigned char *out, size_t *outlen)
{
	unsigned long acc = 0;
	size_t i, o = 0, digits;
	int bits = 0;

	/* at most two '=' and only at the end, completing a quantum */
	digits = len;
	while (digits > 0 && in[digits - 1] == '=')
		digits--;
	if (len - digits > 2 || (len != digits && len % 4 != 0))
		return false;
	if (digits % 4 == 1)
		return false;
	for (i = 0; i < digits; i++) {
		int v = sextet((unsigned char)in[i]);

		if (v < 0)
			return false;
		acc = (acc << 6 | (unsigned long)v) & 0xffffff;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits & 0xff);
		}
	}
	/* the unused low bits of the last digit must be zero */
	if (bits > 0 && (acc & ((1UL << bits) - 1)) != 0)
		return false;
	*outlen = o;
	return true;
}
