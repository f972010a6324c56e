/* Standard Webhooks signatures: secrets, signing and verification. */
#ifndef HERALD_SIGNATURE_H
#define HERALD_SIGNATURE_H

#include <stdbool.h>
#include <stddef.h>

/* Prefix of a herald secret; the rest is the base64 of the key. */
#define SIGNATURE_SECRET_PREFIX "whsec_"

/* Random bytes in a generated secret's key. */
#define SIGNATURE_KEY_BYTES 32

/* Longest key a secret may decode to; longer secrets are refused. */
#define SIGNATURE_KEY_MAX 128

/* Buffer for a generated secret: "whsec_" + 44 base64 chars + NUL. */
#define SIGNATURE_SECRET_SIZE (sizeof(SIGNATURE_SECRET_PREFIX) - 1 + 44 + 1)

/* Buffer for one signature: "v1," + 44 base64 chars + NUL. */
#define SIGNATURE_SIZE (3 + 44 + 1)

/* Write a new secret ("whsec_" + base64 of 32 random bytes) into out.
 * Returns 0, or -1 when out is shorter than SIGNATURE_SECRET_SIZE or the
 * random generator fails. */
int signature_secret_generate(char *out, size_t outlen);

/* Sign "{msg_id}.{timestamp}.{body}" with secret ("whsec_<base64>", or the
 * bare base64) and write "v1,<base64 HMAC-SHA256>" into out (at least
 * SIGNATURE_SIZE bytes).  Returns 0, or -1 on a malformed secret or a short
 * buffer. */
int signature_sign(const char *secret, const char *msg_id, long long timestamp,
		   const unsigned char *body, size_t body_len, char *out,
		   size_t outlen);

/* Write the webhook-signature header value into out: one signature per
 * secret, space-separated, in the given order (nsecrets * SIGNATURE_SIZE
 * bytes always suffice).  Returns 0, or -1 when nsecrets is 0, any secret is
 * malformed or out is too short. */
int signature_header(const char *const *secrets, size_t nsecrets,
		     const char *msg_id, long long timestamp,
		     const unsigned char *body, size_t len, char *out,
		     size_t outlen);

/* True when any "v1," signature in the space-separated header value is the
 * signature of this message under secret (compared in constant time).  The
 * timestamp tolerance is the caller's check. */
bool signature_verify(const char *secret, const char *msg_id,
		      long long timestamp, const unsigned char *body,
		      size_t len, const char *header);

#endif
