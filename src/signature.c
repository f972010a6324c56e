/* Standard Webhooks signatures: secrets, HMAC-SHA256 signing, verification. */
#include "signature.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "base64.h"
#include "xalloc.h"

#define PREFIX_LEN (sizeof(SIGNATURE_SECRET_PREFIX) - 1)
#define MAC_LEN 32
#define MAC_B64_LEN 44 /* base64_encoded_len(MAC_LEN) */

/* longest base64 text of a secret, and the buffer base64_decode needs for it */
#define SECRET_B64_MAX ((SIGNATURE_KEY_MAX + 2) / 3 * 4)
#define KEY_BUF_SIZE (SECRET_B64_MAX / 4 * 3 + 3)

/*
 * Decode a secret ("whsec_<base64>" or bare base64) into its key.  Returns
 * the key length, or 0 when the secret is empty, not strict base64 or longer
 * than SIGNATURE_KEY_MAX bytes.
 */
static size_t
secret_key(const char *secret, unsigned char key[KEY_BUF_SIZE])
{
	size_t len, keylen;

	if (secret == NULL)
		return 0;
	if (strncmp(secret, SIGNATURE_SECRET_PREFIX, PREFIX_LEN) == 0)
		secret += PREFIX_LEN;
	len = strnlen(secret, SECRET_B64_MAX + 1);
	if (len == 0 || len > SECRET_B64_MAX)
		return 0;
	if (!base64_decode(secret, len, key, &keylen) || keylen == 0 ||
	    keylen > SIGNATURE_KEY_MAX) {
		OPENSSL_cleanse(key, KEY_BUF_SIZE);
		return 0;
	}
	return keylen;
}

/*
 * Build the signed content "{msg_id}.{timestamp}.{body}" in a new buffer;
 * NULL when its length would overflow.
 */
static unsigned char *
signed_content(const char *msg_id, long long timestamp,
	       const unsigned char *body, size_t body_len, size_t *len)
{
	char ts[32];
	size_t idlen = strlen(msg_id), tslen, head, total;
	unsigned char *buf;
	int n;

	n = snprintf(ts, sizeof(ts), "%lld", timestamp);
	if (n < 0 || (size_t)n >= sizeof(ts))
		return NULL;
	tslen = (size_t)n;
	if (idlen > SIZE_MAX / 2)
		return NULL;
	head = idlen + 1 + tslen + 1;
	if (body_len > SIZE_MAX - head)
		return NULL;
	total = head + body_len;
	buf = xmalloc(total);
	memcpy(buf, msg_id, idlen);
	buf[idlen] = '.';
	memcpy(buf + idlen + 1, ts, tslen);
	buf[head - 1] = '.';
	if (body_len > 0)
		memcpy(buf + head, body, body_len);
	*len = total;
	return buf;
}

/* SHA-256, looked up once.  OpenSSL 3's HMAC() looks its algorithms up
 * on every call, a good part of its cost for a webhook-sized message. */
static const EVP_MD *sha256;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void
find_sha256(void)
{
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
	sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
#else
	sha256 = EVP_sha256();
#endif
}

#define HMAC_BLOCK 64 /* SHA-256's block size */

/* One HMAC pass: H((k ^ pad) || m). */
static bool
padded_digest(EVP_MD_CTX *ctx, const unsigned char k[HMAC_BLOCK],
	      unsigned char pad, const unsigned char *m, size_t len,
	      unsigned char out[MAC_LEN])
{
	unsigned char block[HMAC_BLOCK];
	bool ok;

	for (size_t i = 0; i < HMAC_BLOCK; i++)
		block[i] = k[i] ^ pad;
	ok = EVP_DigestInit_ex(ctx, sha256, NULL) == 1 &&
	     EVP_DigestUpdate(ctx, block, HMAC_BLOCK) == 1 &&
	     EVP_DigestUpdate(ctx, m, len) == 1 &&
	     EVP_DigestFinal_ex(ctx, out, NULL) == 1;
	OPENSSL_cleanse(block, sizeof(block));
	return ok;
}

/* HMAC-SHA256 (RFC 2104): H((K ^ opad) || H((K ^ ipad) || m)). */
static bool
hmac_sha256(const unsigned char *key, size_t keylen, const unsigned char *msg,
	    size_t len, unsigned char mac[MAC_LEN])
{
	unsigned char k[HMAC_BLOCK] = {0}, inner[MAC_LEN];
	EVP_MD_CTX *ctx;
	bool ok;

	pthread_once(&sha256_once, find_sha256);
	if (sha256 == NULL || (ctx = EVP_MD_CTX_new()) == NULL)
		return false;
	if (keylen > HMAC_BLOCK)
		ok = EVP_Digest(key, keylen, k, NULL, sha256, NULL) == 1;
	else
		ok = (memcpy(k, key, keylen), true);
	ok = ok && padded_digest(ctx, k, 0x36, msg, len, inner) &&
	     padded_digest(ctx, k, 0x5c, inner, MAC_LEN, mac);
	EVP_MD_CTX_free(ctx);
	OPENSSL_cleanse(k, sizeof(k));
	OPENSSL_cleanse(inner, sizeof(inner));
	return ok;
}

/* HMAC-SHA256 of content under secret into mac; false on a bad secret. */
static bool
content_mac(const char *secret, const unsigned char *content, size_t len,
	    unsigned char mac[MAC_LEN])
{
	unsigned char key[KEY_BUF_SIZE];
	size_t keylen;
	bool ok;

	keylen = secret_key(secret, key);
	if (keylen == 0)
		return false;
	ok = hmac_sha256(key, keylen, content, len, mac);
	OPENSSL_cleanse(key, sizeof(key));
	return ok;
}

/* Write "v1,<base64 mac>" of content into out (SIGNATURE_SIZE bytes). */
static bool
content_signature(const char *secret, const unsigned char *content,
		  size_t len, char out[SIGNATURE_SIZE])
{
	unsigned char mac[MAC_LEN];

	if (!content_mac(secret, content, len, mac))
		return false;
	memcpy(out, "v1,", 3);
	base64_encode(mac, MAC_LEN, out + 3);
	return true;
}

int
signature_secret_generate(char *out, size_t outlen)
{
	unsigned char key[SIGNATURE_KEY_BYTES];

	if (out == NULL || outlen < SIGNATURE_SECRET_SIZE)
		return -1;
	if (RAND_bytes(key, sizeof(key)) != 1)
		return -1;
	memcpy(out, SIGNATURE_SECRET_PREFIX, PREFIX_LEN);
	base64_encode(key, sizeof(key), out + PREFIX_LEN);
	OPENSSL_cleanse(key, sizeof(key));
	return 0;
}

int
signature_sign(const char *secret, const char *msg_id, long long timestamp,
	       const unsigned char *body, size_t body_len, char *out,
	       size_t outlen)
{
	return signature_header(&secret, 1, msg_id, timestamp, body, body_len,
				out, outlen);
}

int
signature_header(const char *const *secrets, size_t nsecrets,
		 const char *msg_id, long long timestamp,
		 const unsigned char *body, size_t len, char *out,
		 size_t outlen)
{
	unsigned char *content;
	size_t clen, i, pos = 0;
	int rc = -1;

	if (secrets == NULL || nsecrets == 0 || msg_id == NULL ||
	    out == NULL || outlen == 0 || (body == NULL && len > 0))
		return -1;
	out[0] = '\0';
	content = signed_content(msg_id, timestamp, body, len, &clen);
	if (content == NULL)
		return -1;
	for (i = 0; i < nsecrets; i++) {
		char sig[SIGNATURE_SIZE];
		size_t need = (i > 0 ? 1 : 0) + 3 + MAC_B64_LEN;

		if (need >= outlen - pos)
			goto out;
		if (!content_signature(secrets[i], content, clen, sig))
			goto out;
		if (i > 0)
			out[pos++] = ' ';
		memcpy(out + pos, sig, 3 + MAC_B64_LEN);
		pos += 3 + MAC_B64_LEN;
		out[pos] = '\0';
	}
	rc = 0;
out:
	if (rc != 0)
		out[0] = '\0';
	free(content);
	return rc;
}

bool
signature_verify(const char *secret, const char *msg_id, long long timestamp,
		 const unsigned char *body, size_t len, const char *header)
{
	unsigned char expect[MAC_LEN];
	unsigned char *content;
	const char *p;
	size_t clen;
	bool ok;

	if (msg_id == NULL || header == NULL || (body == NULL && len > 0))
		return false;
	content = signed_content(msg_id, timestamp, body, len, &clen);
	if (content == NULL)
		return false;
	ok = content_mac(secret, content, clen, expect);
	free(content);
	if (!ok)
		return false;

	for (p = header; *p != '\0';) {
		unsigned char got[MAC_B64_LEN];
		size_t toklen, gotlen;

		if (*p == ' ' || *p == '\t') {
			p++;
			continue;
		}
		toklen = strcspn(p, " \t");
		/* other schemes (e.g. v1a) and malformed entries are skipped */
		if (toklen > 3 && toklen - 3 <= MAC_B64_LEN &&
		    strncmp(p, "v1,", 3) == 0 &&
		    base64_decode(p + 3, toklen - 3, got, &gotlen) &&
		    gotlen == MAC_LEN &&
		    CRYPTO_memcmp(got, expect, MAC_LEN) == 0)
			return true;
		p += toklen;
	}
	return false;
}
