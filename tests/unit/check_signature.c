/* Unit tests for webhook signatures (signature.c) and base64 (base64.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <openssl/crypto.h>

#include "base64.h"
#include "signature.h"

/* Known-answer vector of the Standard Webhooks specification. */
#define KA_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define KA_MSG_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define KA_TIMESTAMP 1614265330LL
#define KA_BODY "{\"test\": 2432232314}"
#define KA_SIGNATURE "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

/* A second secret (key bytes 0x00..0x1f) and its signatures, computed with
 * an independent HMAC-SHA256 implementation. */
#define SECRET2 "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define KA_SIGNATURE2 "v1,O4Gjv1HqPqsMrjmczoggs/sWA8gZD0VyHG+fLh4+ktI="

#define BODY(s) ((const unsigned char *)(s)), (sizeof(s) - 1)

/* ---- signing ---- */

static const struct {
	const char *secret;
	const char *msg_id;
	long long timestamp;
	const char *body;
	size_t body_len;
	const char *signature;
} sign_cases[] = {
	{KA_SECRET, KA_MSG_ID, KA_TIMESTAMP, KA_BODY, sizeof(KA_BODY) - 1,
	 KA_SIGNATURE},
	/* the same key without the whsec_ prefix */
	{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", KA_MSG_ID, KA_TIMESTAMP, KA_BODY,
	 sizeof(KA_BODY) - 1, KA_SIGNATURE},
	{SECRET2, KA_MSG_ID, KA_TIMESTAMP, KA_BODY, sizeof(KA_BODY) - 1,
	 KA_SIGNATURE2},
	/* empty body */
	{KA_SECRET, "msg_1", 0, "", 0,
	 "v1,ij2G0S51rXTp+PMwqJOjeWFLEpktT32X6cQ9P08rbws="},
	/* binary body with a NUL byte, negative timestamp */
	{SECRET2, "msg_42", -5, "a\0b", 3,
	 "v1,8WkYpaYwAzQUcEIt+R7W3Ac1Vq3M13oLRxf7uQS0oII="},
	/* keys 0x00.. of one block (64 bytes, used as is) and longer (100
	 * bytes: hashed first); signatures from the openssl command line */
	{"whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKiss"
	 "LS4vMDEyMzQ1Njc4OTo7PD0+Pw==",
	 KA_MSG_ID, KA_TIMESTAMP, KA_BODY, sizeof(KA_BODY) - 1,
	 "v1,LZ5zuwHTqQH3VM8ERUusjzVQq1FXzemvpR8Mk7Ivp5c="},
	{"whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKiss"
	 "LS4vMDEyMzQ1Njc4OTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltc"
	 "XV5fYGFiYw==",
	 KA_MSG_ID, KA_TIMESTAMP, KA_BODY, sizeof(KA_BODY) - 1,
	 "v1,JV8wMFmHcmxOCRwP3/cAkJqCrbqjmdHRJRhvbbQN5rM="},
};

START_TEST(test_sign_known_answers)
{
	char out[SIGNATURE_SIZE];

	ck_assert_int_eq(signature_sign(sign_cases[_i].secret,
					sign_cases[_i].msg_id,
					sign_cases[_i].timestamp,
					(const unsigned char *)sign_cases[_i].body,
					sign_cases[_i].body_len, out, sizeof(out)),
			 0);
	ck_assert_str_eq(out, sign_cases[_i].signature);
	ck_assert(signature_verify(sign_cases[_i].secret, sign_cases[_i].msg_id,
				   sign_cases[_i].timestamp,
				   (const unsigned char *)sign_cases[_i].body,
				   sign_cases[_i].body_len, out));
}
END_TEST

START_TEST(test_sign_null_empty_body)
{
	char out[SIGNATURE_SIZE];

	ck_assert_int_eq(signature_sign(KA_SECRET, "msg_1", 0, NULL, 0, out,
					sizeof(out)),
			 0);
	ck_assert_str_eq(out, "v1,ij2G0S51rXTp+PMwqJOjeWFLEpktT32X6cQ9P08rbws=");
	/* a NULL body with a length is a caller error */
	ck_assert_int_eq(signature_sign(KA_SECRET, "msg_1", 0, NULL, 1, out,
					sizeof(out)),
			 -1);
}
END_TEST

/* ---- verification ---- */

static const struct {
	const char *name;
	const char *secret;
	const char *msg_id;
	long long timestamp;
	const char *body;
	const char *header;
	bool expect;
} verify_cases[] = {
	{"right signature", KA_SECRET, KA_MSG_ID, KA_TIMESTAMP, KA_BODY,
	 KA_SIGNATURE, true},
	{"changed body", KA_SECRET, KA_MSG_ID, KA_TIMESTAMP,
	 "{\"test\": 2432232315}", KA_SIGNATURE, false},
	{"changed id", KA_SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJel", KA_TIMESTAMP,
	 KA_BODY, KA_SIGNATURE, false},
	{"changed timestamp", KA_SECRET, KA_MSG_ID, KA_TIMESTAMP + 1, KA_BODY,
	 KA_SIGNATURE, false},
	{"other secret", SECRET2, KA_MSG_ID, KA_TIMESTAMP, KA_BODY,
	 KA_SIGNATURE, false},
	{"match among others", KA_SECRET, KA_MSG_ID, KA_TIMESTAMP, KA_BODY,
	 "v1a,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= " KA_SIGNATURE2
	 "  " KA_SIGNATURE,
	 true},
	{"only other scheme", KA_SECRET, KA_MSG_ID, KA_TIMESTAMP, KA_BODY,
	 "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", false},
	{"truncated signature", KA_SECRET, KA_MSG_ID, KA_TIMESTAMP, KA_BODY,
	 "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1O", false},
	{"signature with junk", KA_SECRET, KA_MSG_ID, KA_TIMESTAMP, KA_BODY,
	 KA_SIGNATURE "AAAA", false},
	{"bare v1", KA_SECRET, KA_MSG_ID, KA_TIMESTAMP, KA_BODY, "v1, v1,",
	 false},
	{"empty header", KA_SECRET, KA_MSG_ID, KA_TIMESTAMP, KA_BODY, "",
	 false},
	{"malformed secret", "whsec_!", KA_MSG_ID, KA_TIMESTAMP, KA_BODY,
	 KA_SIGNATURE, false},
};

START_TEST(test_verify_table)
{
	bool got = signature_verify(verify_cases[_i].secret,
				    verify_cases[_i].msg_id,
				    verify_cases[_i].timestamp,
				    (const unsigned char *)verify_cases[_i].body,
				    strlen(verify_cases[_i].body),
				    verify_cases[_i].header);

	ck_assert_msg(got == verify_cases[_i].expect, "%s: got %d",
		      verify_cases[_i].name, got);
}
END_TEST

START_TEST(test_verify_null_header)
{
	ck_assert(!signature_verify(KA_SECRET, KA_MSG_ID, KA_TIMESTAMP,
				    BODY(KA_BODY), NULL));
}
END_TEST

/* ---- constant-time comparison ---- */

/*
 * This program's own CRYPTO_memcmp: the linker binds signature.c's calls to
 * it instead of libcrypto's, so the tests below see every comparison
 * signature_verify makes.  Like OpenSSL's, it reads all len bytes and
 * returns 0 when they are equal, 1 otherwise.
 */
static unsigned ct_calls;
static size_t ct_len;

int
CRYPTO_memcmp(const void *in_a, const void *in_b, size_t len)
{
	const unsigned char *a = in_a, *b = in_b;
	unsigned char x = 0;
	size_t i;

	ct_calls++;
	ct_len = len;
	for (i = 0; i < len; i++)
		x |= a[i] ^ b[i];
	return x != 0;
}

/* "v1," and the base64 of mac[32] into out (SIGNATURE_SIZE bytes). */
static void
v1_of(const unsigned char *mac, char *out)
{
	memcpy(out, "v1,", 3);
	base64_encode(mac, 32, out + 3);
}

/* The MAC is compared whole and in constant time: a signature that differs
 * from the right one in any single bit of any byte is refused, and each
 * verification makes exactly one 32-byte CRYPTO_memcmp. */
START_TEST(test_verify_constant_time)
{
	unsigned char mac[48], bad[32];
	char sig[SIGNATURE_SIZE];
	size_t len;
	int i, bit;

	ck_assert(base64_decode(KA_SIGNATURE + 3, strlen(KA_SIGNATURE) - 3, mac,
				&len));
	ck_assert_uint_eq(len, 32);
	v1_of(mac, sig);
	ct_calls = 0;
	ck_assert(signature_verify(KA_SECRET, KA_MSG_ID, KA_TIMESTAMP,
				   BODY(KA_BODY), sig));
	ck_assert_uint_eq(ct_calls, 1);
	ck_assert_uint_eq(ct_len, 32);
	for (i = 0; i < 32; i++) {
		for (bit = 0; bit < 8; bit++) {
			memcpy(bad, mac, 32);
			bad[i] ^= (unsigned char)(1u << bit);
			v1_of(bad, sig);
			ct_calls = 0;
			ck_assert_msg(!signature_verify(KA_SECRET, KA_MSG_ID,
							KA_TIMESTAMP,
							BODY(KA_BODY), sig),
				      "byte %d bit %d flipped: accepted", i,
				      bit);
			ck_assert_uint_eq(ct_calls, 1);
			ck_assert_uint_eq(ct_len, 32);
		}
	}
}
END_TEST

/* Every well-formed v1 entry of a header is compared the same way. */
START_TEST(test_verify_each_entry_compared)
{
	unsigned char mac[48];
	char a[SIGNATURE_SIZE], b[SIGNATURE_SIZE], header[4 * SIGNATURE_SIZE];
	size_t len;

	ck_assert(base64_decode(KA_SIGNATURE + 3, strlen(KA_SIGNATURE) - 3, mac,
				&len));
	mac[0] ^= 1;
	v1_of(mac, a);
	mac[31] ^= 0x80;
	v1_of(mac, b);
	snprintf(header, sizeof(header), "%s v1a,xyz %s %s", a, b,
		 KA_SIGNATURE);
	ct_calls = 0;
	ck_assert(signature_verify(KA_SECRET, KA_MSG_ID, KA_TIMESTAMP,
				   BODY(KA_BODY), header));
	ck_assert_uint_eq(ct_calls, 3);
	snprintf(header, sizeof(header), "%s %s", a, b);
	ct_calls = 0;
	ck_assert(!signature_verify(KA_SECRET, KA_MSG_ID, KA_TIMESTAMP,
				    BODY(KA_BODY), header));
	ck_assert_uint_eq(ct_calls, 2);
}
END_TEST

/* ---- rotation: one signature per secret ---- */

START_TEST(test_header_two_secrets)
{
	const char *secrets[] = {KA_SECRET, SECRET2};
	char out[2 * SIGNATURE_SIZE];

	ck_assert_int_eq(signature_header(secrets, 2, KA_MSG_ID, KA_TIMESTAMP,
					  BODY(KA_BODY), out, sizeof(out)),
			 0);
	ck_assert_str_eq(out, KA_SIGNATURE " " KA_SIGNATURE2);
	ck_assert(signature_verify(KA_SECRET, KA_MSG_ID, KA_TIMESTAMP,
				   BODY(KA_BODY), out));
	ck_assert(signature_verify(SECRET2, KA_MSG_ID, KA_TIMESTAMP,
				   BODY(KA_BODY), out));
	ck_assert(!signature_verify("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
				    KA_MSG_ID, KA_TIMESTAMP, BODY(KA_BODY), out));
}
END_TEST

START_TEST(test_header_one_secret_matches_sign)
{
	const char *secrets[] = {KA_SECRET};
	char out[SIGNATURE_SIZE];

	ck_assert_int_eq(signature_header(secrets, 1, KA_MSG_ID, KA_TIMESTAMP,
					  BODY(KA_BODY), out, sizeof(out)),
			 0);
	ck_assert_str_eq(out, KA_SIGNATURE);
}
END_TEST

START_TEST(test_header_refusals)
{
	const char *secrets[] = {KA_SECRET, "whsec_Zh=="};
	char out[2 * SIGNATURE_SIZE];

	/* no secret at all */
	ck_assert_int_eq(signature_header(secrets, 0, KA_MSG_ID, KA_TIMESTAMP,
					  BODY(KA_BODY), out, sizeof(out)),
			 -1);
	/* one malformed secret spoils the header, which is left empty */
	ck_assert_int_eq(signature_header(secrets, 2, KA_MSG_ID, KA_TIMESTAMP,
					  BODY(KA_BODY), out, sizeof(out)),
			 -1);
	ck_assert_str_eq(out, "");
}
END_TEST

/* ---- malformed secrets ---- */

static const char *const bad_secrets[] = {
	"",
	"whsec_",
	"whsec_!!!!",
	"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS",   /* 4n+3 digits, bad tail */
	"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw=", /* bad padding */
	"whsec_Zh==",                              /* non-zero trailing bits */
	"whsec_ MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", /* whitespace */
	"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n",
	"whsec_MfKQ9r8GKYqr-wjUPD8ILPZIo2LaLaSw", /* base64url alphabet */
	"WHSEC_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", /* '_' is not base64 */
	/* 132 bytes of key: over SIGNATURE_KEY_MAX */
	"whsec_"
	"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
};

START_TEST(test_bad_secret)
{
	char out[SIGNATURE_SIZE] = "untouched";

	ck_assert_msg(signature_sign(bad_secrets[_i], KA_MSG_ID, KA_TIMESTAMP,
				     BODY(KA_BODY), out, sizeof(out)) == -1,
		      "secret \"%s\" accepted", bad_secrets[_i]);
	ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(test_null_secret)
{
	char out[SIGNATURE_SIZE];

	ck_assert_int_eq(signature_sign(NULL, KA_MSG_ID, KA_TIMESTAMP,
					BODY(KA_BODY), out, sizeof(out)),
			 -1);
}
END_TEST

START_TEST(test_key_one_too_long)
{
	/* 172 digits without padding: 129 bytes of key */
	char secret[6 + 172 + 1];
	char out[SIGNATURE_SIZE];

	memcpy(secret, "whsec_", 6);
	memset(secret + 6, 'A', 172);
	secret[178] = '\0';
	ck_assert_int_eq(signature_sign(secret, KA_MSG_ID, KA_TIMESTAMP,
					BODY(KA_BODY), out, sizeof(out)),
			 -1);
}
END_TEST

START_TEST(test_longest_key_accepted)
{
	/* exactly SIGNATURE_KEY_MAX (128) bytes of key: 171 digits and '=' */
	char secret[6 + 172 + 1];
	char out[SIGNATURE_SIZE];

	memcpy(secret, "whsec_", 6);
	memset(secret + 6, 'A', 171);
	memcpy(secret + 177, "=", 2);
	ck_assert_int_eq(signature_sign(secret, KA_MSG_ID, KA_TIMESTAMP,
					BODY(KA_BODY), out, sizeof(out)),
			 0);
	ck_assert(signature_verify(secret, KA_MSG_ID, KA_TIMESTAMP,
				   BODY(KA_BODY), out));
}
END_TEST

/* ---- short buffers ---- */

START_TEST(test_short_buffers)
{
	const char *secrets[] = {KA_SECRET, SECRET2};
	char out[2 * SIGNATURE_SIZE];

	ck_assert_int_eq(signature_sign(KA_SECRET, KA_MSG_ID, KA_TIMESTAMP,
					BODY(KA_BODY), out, SIGNATURE_SIZE - 1),
			 -1);
	ck_assert_int_eq(signature_sign(KA_SECRET, KA_MSG_ID, KA_TIMESTAMP,
					BODY(KA_BODY), out, 0),
			 -1);
	ck_assert_int_eq(signature_sign(KA_SECRET, KA_MSG_ID, KA_TIMESTAMP,
					BODY(KA_BODY), out, SIGNATURE_SIZE),
			 0);
	ck_assert_int_eq(strlen(out), SIGNATURE_SIZE - 1);
	ck_assert_int_eq(signature_header(secrets, 2, KA_MSG_ID, KA_TIMESTAMP,
					  BODY(KA_BODY), out,
					  2 * SIGNATURE_SIZE - 1),
			 -1);
	ck_assert_str_eq(out, "");
	ck_assert_int_eq(signature_header(secrets, 2, KA_MSG_ID, KA_TIMESTAMP,
					  BODY(KA_BODY), out, 2 * SIGNATURE_SIZE),
			 0);
	ck_assert_int_eq(strlen(out), 2 * SIGNATURE_SIZE - 1);
}
END_TEST

/* ---- secret generation ---- */

START_TEST(test_generate)
{
	char a[SIGNATURE_SECRET_SIZE], b[SIGNATURE_SECRET_SIZE];
	unsigned char key[64];
	size_t keylen;
	char sig[SIGNATURE_SIZE];

	ck_assert_int_eq(SIGNATURE_SECRET_SIZE, 51);
	ck_assert_int_eq(signature_secret_generate(a, sizeof(a)), 0);
	ck_assert_int_eq(signature_secret_generate(b, sizeof(b)), 0);
	ck_assert_int_eq(strlen(a), SIGNATURE_SECRET_SIZE - 1);
	ck_assert(strncmp(a, "whsec_", 6) == 0);
	ck_assert(strncmp(b, "whsec_", 6) == 0);
	ck_assert(base64_decode(a + 6, strlen(a + 6), key, &keylen));
	ck_assert_uint_eq(keylen, SIGNATURE_KEY_BYTES);
	ck_assert_str_ne(a, b);
	/* a generated secret signs and verifies */
	ck_assert_int_eq(signature_sign(a, "msg_7", 7, BODY("x"), sig,
					sizeof(sig)),
			 0);
	ck_assert(signature_verify(a, "msg_7", 7, BODY("x"), sig));
	ck_assert(!signature_verify(b, "msg_7", 7, BODY("x"), sig));
}
END_TEST

START_TEST(test_generate_short_buffer)
{
	char a[SIGNATURE_SECRET_SIZE];

	ck_assert_int_eq(signature_secret_generate(a, sizeof(a) - 1), -1);
	ck_assert_int_eq(signature_secret_generate(NULL, sizeof(a)), -1);
}
END_TEST

/* ---- base64 ---- */

/* RFC 4648 section 10 test vectors */
static const struct {
	const char *plain;
	const char *encoded;
} b64_vectors[] = {
	{"", ""},
	{"f", "Zg=="},
	{"fo", "Zm8="},
	{"foo", "Zm9v"},
	{"foob", "Zm9vYg=="},
	{"fooba", "Zm9vYmE="},
	{"foobar", "Zm9vYmFy"},
};

START_TEST(test_b64_encode)
{
	const char *plain = b64_vectors[_i].plain;
	char out[16];

	ck_assert_uint_eq(base64_encoded_len(strlen(plain)),
			  strlen(b64_vectors[_i].encoded));
	ck_assert_uint_eq(base64_encode((const unsigned char *)plain,
					strlen(plain), out),
			  strlen(b64_vectors[_i].encoded));
	ck_assert_str_eq(out, b64_vectors[_i].encoded);
}
END_TEST

START_TEST(test_b64_decode)
{
	const char *enc = b64_vectors[_i].encoded;
	size_t len = strlen(enc), outlen = 99;
	unsigned char out[16];

	ck_assert(base64_decode(enc, len, out, &outlen));
	ck_assert_uint_eq(outlen, strlen(b64_vectors[_i].plain));
	ck_assert(memcmp(out, b64_vectors[_i].plain, outlen) == 0);

	/* the same without padding */
	while (len > 0 && enc[len - 1] == '=')
		len--;
	outlen = 99;
	ck_assert(base64_decode(enc, len, out, &outlen));
	ck_assert_uint_eq(outlen, strlen(b64_vectors[_i].plain));
	ck_assert(memcmp(out, b64_vectors[_i].plain, outlen) == 0);
}
END_TEST

START_TEST(test_b64_binary_roundtrip)
{
	unsigned char in[256], back[256 + 3];
	char enc[344 + 1];
	size_t i, n, outlen;

	for (i = 0; i < sizeof(in); i++)
		in[i] = (unsigned char)(255 - i);
	n = base64_encode(in, sizeof(in), enc);
	ck_assert_uint_eq(n, 344);
	ck_assert(strspn(enc, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstu"
			      "vwxyz0123456789+/=") == n);
	ck_assert(base64_decode(enc, n, back, &outlen));
	ck_assert_uint_eq(outlen, sizeof(in));
	ck_assert(memcmp(in, back, sizeof(in)) == 0);
}
END_TEST

static const char *const b64_bad[] = {
	"Zg=",    /* padding that does not complete a quantum */
	"Z===",   /* three padding characters */
	"Zm9v=",  /* padding after a full quantum */
	"Zh==",   /* non-zero trailing bits */
	"Zm9=",   /* non-zero trailing bits, one '=' */
	"Z",      /* a single digit cannot encode a byte */
	"Zm9vY",  /* same, after a full quantum */
	"=",      /* padding alone */
	"====",   /* padding alone */
	"Zg==Zg==", /* padding in the middle */
	"Z=g=",   /* padding in the middle */
	"Zm9v!",  /* not in the alphabet */
	"Zm-v",   /* base64url, not standard */
	"Zm_v",   /* base64url, not standard */
	"Zm9v\n", /* whitespace */
	" Zm9v",  /* whitespace */
	"Zm 9v",  /* whitespace */
	"Zm9v\t", /* whitespace */
	"Zm\x80v", /* high byte */
};

START_TEST(test_b64_reject)
{
	unsigned char out[16];
	size_t outlen;

	ck_assert_msg(!base64_decode(b64_bad[_i], strlen(b64_bad[_i]), out,
				     &outlen),
		      "\"%s\" accepted", b64_bad[_i]);
}
END_TEST

START_TEST(test_b64_embedded_nul)
{
	unsigned char out[16];
	size_t outlen;

	ck_assert(!base64_decode("Zm\0v", 4, out, &outlen));
}
END_TEST

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

static Suite *
signature_suite(void)
{
	Suite *s = suite_create("signature");
	TCase *tc = tcase_create("signature");
	TCase *b64 = tcase_create("base64");

	tcase_add_loop_test(tc, test_sign_known_answers, 0, NELEM(sign_cases));
	tcase_add_test(tc, test_sign_null_empty_body);
	tcase_add_loop_test(tc, test_verify_table, 0, NELEM(verify_cases));
	tcase_add_test(tc, test_verify_null_header);
	tcase_add_test(tc, test_verify_constant_time);
	tcase_add_test(tc, test_verify_each_entry_compared);
	tcase_add_test(tc, test_header_two_secrets);
	tcase_add_test(tc, test_header_one_secret_matches_sign);
	tcase_add_test(tc, test_header_refusals);
	tcase_add_loop_test(tc, test_bad_secret, 0, NELEM(bad_secrets));
	tcase_add_test(tc, test_null_secret);
	tcase_add_test(tc, test_longest_key_accepted);
	tcase_add_test(tc, test_key_one_too_long);
	tcase_add_test(tc, test_short_buffers);
	tcase_add_test(tc, test_generate);
	tcase_add_test(tc, test_generate_short_buffer);
	suite_add_tcase(s, tc);

	tcase_add_loop_test(b64, test_b64_encode, 0, NELEM(b64_vectors));
	tcase_add_loop_test(b64, test_b64_decode, 0, NELEM(b64_vectors));
	tcase_add_test(b64, test_b64_binary_roundtrip);
	tcase_add_loop_test(b64, test_b64_reject, 0, NELEM(b64_bad));
	tcase_add_test(b64, test_b64_embedded_nul);
	suite_add_tcase(s, b64);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(signature_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
