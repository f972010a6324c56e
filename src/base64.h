/* Base64 (RFC 4648, standard alphabet) encoding and strict decoding. */
#ifndef HERALD_BASE64_H
#define HERALD_BASE64_H

#include <stdbool.h>
#include <stddef.h>

/* Encoded length of n bytes, without the NUL. */
size_t base64_encoded_len(size_t n);

/* Encode n bytes into out (base64_encoded_len(n) + 1 bytes); returns the
 * length written, NUL excluded. */
size_t base64_encode(const unsigned char *in, size_t n, char *out);

/* Decode len characters into out (at least len / 4 * 3 + 3 bytes).
 * Padding is optional; whitespace and any other character are refused.
 * Returns false on malformed input, else true with *outlen set. */
bool base64_decode(const char *in, size_t len, unsigned char *out,
		   size_t *outlen);

#endif
