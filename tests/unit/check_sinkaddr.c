/* Unit tests for the SSRF guard (sinkaddr.c) and sink URLs (sinkurl.c); no test needs DNS. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include <check.h>
#include <curl/curl.h>

#include "sinkaddr.h"
#include "sinkurl.h"

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

#define PUB SINKADDR_PUBLIC
#define LOOP SINKADDR_LOOPBACK
#define PRIV SINKADDR_PRIVATE
#define LL SINKADDR_LINKLOCAL
#define MC SINKADDR_MULTICAST
#define UNSP SINKADDR_UNSPECIFIED
#define RES SINKADDR_RESERVED

/* Build a sockaddr from text with inet_pton, independently of the parser
 * under test. */
static void
make_addr(const char *text, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(text, ':') != NULL) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

		in6->sin6_family = AF_INET6;
		ck_assert_msg(inet_pton(AF_INET6, text, &in6->sin6_addr) == 1,
			      "bad test address %s", text);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		in->sin_family = AF_INET;
		ck_assert_msg(inet_pton(AF_INET, text, &in->sin_addr) == 1,
			      "bad test address %s", text);
	}
}

static void
addr_text(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	const void *src = ss->ss_family == AF_INET
		? (const void *)&((const struct sockaddr_in *)ss)->sin_addr
		: (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr;

	ck_assert_ptr_nonnull(inet_ntop(ss->ss_family, src, buf,
					(socklen_t)len));
}

/* ---- classification ---- */

static const struct {
	const char *addr;
	enum sinkaddr_class cls;
} classify_cases[] = {
	/* 0/8 */
	{"0.0.0.0", UNSP},
	{"0.255.255.255", UNSP},
	{"1.0.0.0", PUB},
	{"1.1.1.1", PUB},
	{"8.8.8.8", PUB},
	/* 10/8 */
	{"9.255.255.255", PUB},
	{"10.0.0.0", PRIV},
	{"10.255.255.255", PRIV},
	{"11.0.0.0", PUB},
	/* 100.64/10 */
	{"100.63.255.255", PUB},
	{"100.64.0.0", PRIV},
	{"100.127.255.255", PRIV},
	{"100.128.0.0", PUB},
	/* 127/8 */
	{"126.255.255.255", PUB},
	{"127.0.0.0", LOOP},
	{"127.0.0.1", LOOP},
	{"127.255.255.255", LOOP},
	{"128.0.0.0", PUB},
	/* 169.254/16 */
	{"169.253.255.255", PUB},
	{"169.254.0.0", LL},
	{"169.254.169.254", LL},
	{"169.254.255.255", LL},
	{"169.255.0.0", PUB},
	/* 172.16/12 */
	{"172.15.255.255", PUB},
	{"172.16.0.0", PRIV},
	{"172.31.255.255", PRIV},
	{"172.32.0.0", PUB},
	/* 192.0.0/24, 192.0.2/24 */
	{"191.255.255.255", PUB},
	{"192.0.0.0", RES},
	{"192.0.0.255", RES},
	{"192.0.1.0", PUB},
	{"192.0.2.0", RES},
	{"192.0.2.255", RES},
	{"192.0.3.0", PUB},
	/* 192.88.99/24 */
	{"192.88.98.255", PUB},
	{"192.88.99.1", RES},
	{"192.88.100.0", PUB},
	/* 192.168/16 */
	{"192.167.255.255", PUB},
	{"192.168.0.0", PRIV},
	{"192.168.255.255", PRIV},
	{"192.169.0.0", PUB},
	/* 198.18/15 */
	{"198.17.255.255", PUB},
	{"198.18.0.0", RES},
	{"198.19.255.255", RES},
	{"198.20.0.0", PUB},
	/* 198.51.100/24 */
	{"198.51.99.255", PUB},
	{"198.51.100.0", RES},
	{"198.51.100.255", RES},
	{"198.51.101.0", PUB},
	/* 203.0.113/24 */
	{"203.0.112.255", PUB},
	{"203.0.113.0", RES},
	{"203.0.113.255", RES},
	{"203.0.114.0", PUB},
	/* 224/4, 240/4, broadcast */
	{"223.255.255.255", PUB},
	{"224.0.0.0", MC},
	{"239.255.255.255", MC},
	{"240.0.0.0", RES},
	{"255.255.255.254", RES},
	{"255.255.255.255", RES},

	/* IPv6 basics */
	{"::", UNSP},
	{"::1", LOOP},
	{"2000::", PUB},
	{"2606:4700:4700::1111", PUB},
	{"2a00:1450:4001::1", PUB},
	{"3fff:ffff::1", PUB},
	{"1fff:ffff::1", RES},
	{"4000::1", RES},
	{"5f00::1", RES},
	/* IPv4-mapped */
	{"::ffff:127.0.0.1", LOOP},
	{"::ffff:10.0.0.1", PRIV},
	{"::ffff:169.254.169.254", LL},
	{"::ffff:0.0.0.0", UNSP},
	{"::ffff:8.8.8.8", PUB},
	/* IPv4-translated (SIIT) */
	{"::ffff:0:127.0.0.1", LOOP},
	{"::ffff:0:8.8.8.8", PUB},
	/* IPv4-compatible; ::2 is 0.0.0.2, "this network" */
	{"::127.0.0.1", LOOP},
	{"::10.1.2.3", PRIV},
	{"::8.8.8.8", PUB},
	{"::2", UNSP},
	{"::1:0:0:1", RES},
	/* NAT64 */
	{"64:ff9b::127.0.0.1", LOOP},
	{"64:ff9b::10.0.0.1", PRIV},
	{"64:ff9b::192.168.1.1", PRIV},
	{"64:ff9b::8.8.8.8", PUB},
	{"64:ff9b:1::1", PRIV},
	/* 6to4: IPv4 in bits 16..47 */
	{"2002:7f00:1::", LOOP},
	{"2002:7f00:0001:ffff::1", LOOP},
	{"2002:c0a8:101::1", PRIV},
	{"2002:a9fe:a9fe::", LL},
	{"2002:0808:0808::1", PUB},
	/* 100::/64 discard */
	{"100::", RES},
	{"100::ffff:ffff:ffff:ffff", RES},
	{"100:0:0:1::", RES},
	/* 2001::/23, 2001:db8::/32, 3fff::/20 */
	{"2001::1", RES},
	{"2001:1ff:ffff::1", RES},
	{"2001:200::1", PUB},
	{"2001:db7:ffff::1", PUB},
	{"2001:db8::", RES},
	{"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", RES},
	{"2001:db9::", PUB},
	{"3fff::1", RES},
	{"3fff:fff:ffff::1", RES},
	{"3fff:1000::", PUB},
	/* fc00::/7 */
	{"fbff:ffff::1", RES},
	{"fc00::", PRIV},
	{"fd12:3456:789a::1", PRIV},
	{"fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", PRIV},
	{"fe00::", RES},
	/* fe80::/10, fec0::/10 */
	{"fe7f:ffff::1", RES},
	{"fe80::", LL},
	{"fe80::1", LL},
	{"febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", LL},
	{"fec0::", PRIV},
	{"feff:ffff::1", PRIV},
	/* ff00::/8 */
	{"ff00::", MC},
	{"ff02::1", MC},
	{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", MC},
};

START_TEST(test_classify)
{
	struct sockaddr_storage ss;
	enum sinkaddr_class got;

	make_addr(classify_cases[_i].addr, &ss);
	got = sinkaddr_classify((const struct sockaddr *)&ss);
	ck_assert_msg(got == classify_cases[_i].cls, "%s: got %s, want %s",
		      classify_cases[_i].addr, sinkaddr_class_name(got),
		      sinkaddr_class_name(classify_cases[_i].cls));
}
END_TEST

START_TEST(test_classify_other_family)
{
	struct sockaddr_un un;

	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	ck_assert_int_eq(sinkaddr_classify((const struct sockaddr *)&un),
			 SINKADDR_RESERVED);
	ck_assert_int_eq(sinkaddr_classify(NULL), SINKADDR_RESERVED);
}
END_TEST

static const struct {
	enum sinkaddr_class cls;
	const char *name;
	bool allowed;
} class_cases[] = {
	{PUB, "public", true},
	{LOOP, "loopback", false},
	{PRIV, "private", false},
	{LL, "link-local", false},
	{MC, "multicast", false},
	{UNSP, "unspecified", false},
	{RES, "reserved", false},
};

START_TEST(test_class_names)
{
	ck_assert_str_eq(sinkaddr_class_name(class_cases[_i].cls),
			 class_cases[_i].name);
	ck_assert(sinkaddr_is_allowed(class_cases[_i].cls) ==
		  class_cases[_i].allowed);
}
END_TEST

/* ---- literal parsing ---- */

static const struct {
	const char *host;
	const char *addr; /* canonical text, NULL when not a literal */
} literal_cases[] = {
	{"127.0.0.1", "127.0.0.1"},
	{"8.8.8.8", "8.8.8.8"},
	/* inet_aton legacy forms */
	{"127.1", "127.0.0.1"},
	{"127.0.1", "127.0.0.1"},
	{"0x7f000001", "127.0.0.1"},
	{"0X7F000001", "127.0.0.1"},
	{"2130706433", "127.0.0.1"},
	{"0177.0.0.1", "127.0.0.1"},
	{"0177.0000.0.01", "127.0.0.1"},
	{"0x7f.1", "127.0.0.1"},
	{"0x7f.0x0.0.1", "127.0.0.1"},
	{"0xa9fea9fe", "169.254.169.254"},
	{"0251.0376.0251.0376", "169.254.169.254"},
	{"010.0.0.1", "8.0.0.1"}, /* a leading 0 means octal */
	{"0", "0.0.0.0"},
	{"00", "0.0.0.0"},
	{"0x0", "0.0.0.0"},
	{"4294967295", "255.255.255.255"},
	{"0xffffffff", "255.255.255.255"},
	{"1.16777215", "1.255.255.255"},
	{"1.2.65535", "1.2.255.255"},
	/* one trailing dot, as the URL standard reads it */
	{"127.0.0.1.", "127.0.0.1"},
	{"127.1.", "127.0.0.1"},
	/* IPv6 */
	{"::1", "::1"},
	{"[::1]", "::1"},
	{"[::ffff:127.0.0.1]", "::ffff:127.0.0.1"},
	{"::ffff:7f00:1", "::ffff:127.0.0.1"},
	{"[FE80::1]", "fe80::1"},
	{"fe80::1%eth0", "fe80::1"},
	{"[fe80::1%eth0]", "fe80::1"},
	{"[fe80::1%25eth0]", "fe80::1"},
	{"2001:db8::1", "2001:db8::1"},

	/* names, not literals */
	{"example.com", NULL},
	{"localhost", NULL},
	{"1.2.3.4.example", NULL},
	{"0x1.example", NULL},
	/* more than four parts: not an address; as a name it must resolve */
	{"1.2.3.4.5", NULL},
	{"127.0.0.1.1", NULL},
	/* out of range */
	{"4294967296", NULL},
	{"12345678901234567890", NULL},
	{"256.1.1.1", NULL},
	{"1.2.3.256", NULL},
	{"1.16777216", NULL},
	{"1.2.65536", NULL},
	{"0x100000000", NULL},
	/* malformed numbers */
	{"08.0.0.1", NULL},
	{"0189", NULL},
	{"0x", NULL},
	{"0xg", NULL},
	{"1e3", NULL},
	{"+1", NULL},
	{"-1", NULL},
	{"1..2", NULL},
	{".1.2.3", NULL},
	{"127.0.0.1..", NULL},
	{".", NULL},
	{" 127.0.0.1", NULL},
	{"127.0.0.1 ", NULL},
	{"127.0.0.1/8", NULL},
	{"1.2.3.4:80", NULL},
	{"", NULL},
	/* malformed IPv6 */
	{"[::1", NULL},
	{"::1]", NULL},
	{"[]", NULL},
	{"[127.0.0.1]", NULL},
	{"[::1]:80", NULL},
	{":::", NULL},
	{"::ffff:127.1", NULL},
	{"%eth0", NULL},
	{"[%eth0]", NULL},
	{"example.com:80", NULL},
	{"1:2:3:4:5:6:7:8:9", NULL},
};

START_TEST(test_parse_literal)
{
	struct sockaddr_storage ss;
	char text[INET6_ADDRSTRLEN];
	int rc = sinkaddr_parse_literal(literal_cases[_i].host, &ss);

	if (literal_cases[_i].addr == NULL) {
		ck_assert_msg(rc == -1, "\"%s\" parsed as a literal",
			      literal_cases[_i].host);
		return;
	}
	ck_assert_msg(rc == 0, "\"%s\" not parsed", literal_cases[_i].host);
	addr_text(&ss, text, sizeof(text));
	ck_assert_str_eq(text, literal_cases[_i].addr);
}
END_TEST

START_TEST(test_parse_literal_too_long)
{
	struct sockaddr_storage ss;
	char host[2048];

	memset(host, '1', sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	ck_assert_int_eq(sinkaddr_parse_literal(host, &ss), -1);
	/* an IPv6 literal padded with zeros past any sane length */
	memset(host, '0', 100);
	strcpy(host + 100, "::1");
	ck_assert_int_eq(sinkaddr_parse_literal(host, &ss), -1);
	ck_assert_int_eq(sinkaddr_parse_literal(NULL, &ss), -1);
}
END_TEST

/* ---- sink URLs (sinkurl.c): what libcurl reads ---- */

/* Accepted sinks: the host the guard is given and libcurl's rendering
 * (NULL: not checked, it depends on the libcurl version). */
static const struct {
	const char *url;
	const char *host;
	const char *norm;
	int port;
} url_ok_cases[] = {
	{"https://example.com/hook", "example.com", "https://example.com/hook", 0},
	{"http://example.com", "example.com", "http://example.com/", 0},
	{"HTTPS://Example.COM:8443/x?y", "Example.COM",
	 "https://Example.COM:8443/x?y", 8443},
	{"Http://example.com/", "example.com", "http://example.com/", 0},
	{"http://h:65535", "h", "http://h:65535/", 65535},
	{"http://h:1/", "h", "http://h:1/", 1},
	{"http://[::1]:8080/x", "::1", "http://[::1]:8080/x", 8080},
	{"http://[2001:db8::1]/", "2001:db8::1", "http://[2001:db8::1]/", 0},
	{"http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1", NULL, 0},
	{"https://my_host.internal/p/a%20b", "my_host.internal",
	 "https://my_host.internal/p/a%20b", 0},
	{"http://example.com?q", "example.com", "http://example.com/?q", 0},
	{"http://example.com?x=@evil", "example.com", NULL, 0},
	{"http://example.com/a@b", "example.com", "http://example.com/a@b", 0},
	{"http://example.com/a:b@127.0.0.1", "example.com", NULL, 0},
	/* an empty port is no port */
	{"http://host:/", "host", "http://host/", 0},
	{"http://127.0.0.1./", "127.0.0.1.", "http://127.0.0.1./", 0},
	/* legacy IPv4 forms: newer libcurl writes them out as dotted quads */
	{"http://127.1/", NULL, NULL, 0},
	{"http://0x7f000001/", NULL, NULL, 0},
	{"http://2130706433/", NULL, NULL, 0},
	{"http://0x7f.1/", NULL, NULL, 0},
	{"http://0177.0.0.1/", NULL, NULL, 0},
};

/* The URL libcurl is given, read the way libcurl reads CURLOPT_URL: the
 * host it connects to, brackets taken off. */
static char *
libcurl_host(const char *url)
{
	CURLU *h = curl_url();
	char *part = NULL, *host;
	size_t len;

	ck_assert_ptr_nonnull(h);
	ck_assert_int_eq(curl_url_set(h, CURLUPART_URL, url,
				      CURLU_GUESS_SCHEME |
					      CURLU_NON_SUPPORT_SCHEME),
			 CURLUE_OK);
	ck_assert_int_eq(curl_url_get(h, CURLUPART_HOST, &part, 0), CURLUE_OK);
	len = strlen(part);
	if (part[0] == '[')
		host = strndup(part + 1, len - 2);
	else
		host = strdup(part);
	curl_free(part);
	curl_url_cleanup(h);
	ck_assert_ptr_nonnull(host);
	return host;
}

START_TEST(test_url_ok)
{
	struct sink_url u, again;
	char err[256] = "";
	char *lh;

	ck_assert_msg(sinkurl_parse(url_ok_cases[_i].url, &u, err,
				    sizeof(err)) == 0,
		      "\"%s\" refused: %s", url_ok_cases[_i].url, err);
	if (url_ok_cases[_i].host != NULL)
		ck_assert_str_eq(u.host, url_ok_cases[_i].host);
	if (url_ok_cases[_i].norm != NULL)
		ck_assert_str_eq(u.url, url_ok_cases[_i].norm);
	ck_assert_int_eq(u.port, url_ok_cases[_i].port);
	/* the guard judges the host libcurl will connect to */
	lh = libcurl_host(u.url);
	ck_assert_str_eq(u.host, lh);
	free(lh);
	/* libcurl's rendering reads back as itself */
	ck_assert_int_eq(sinkurl_parse(u.url, &again, err, sizeof(err)), 0);
	ck_assert_str_eq(again.url, u.url);
	ck_assert_str_eq(again.host, u.host);
	ck_assert_int_eq(again.port, u.port);
	sinkurl_free(&again);
	sinkurl_free(&u);
	ck_assert_ptr_null(u.url);
	ck_assert_ptr_null(u.host);
}
END_TEST

#define E_HTTP "sink must be an absolute http or https URL"
#define E_NOHOST "sink must be an absolute http or https URL with a host"
#define E_USER "sink must not contain userinfo"
#define E_CHAR "sink contains a character not allowed in a URL"
#define E_SPACE "sink must not contain whitespace, control or non-ASCII"
#define E_PORT "sink port must be between 1 and 65535"
#define E_HOST "sink has an invalid host"

/* Refused sinks, with the start of the reason. */
static const struct {
	const char *url;
	const char *err;
} url_bad_cases[] = {
	/* userinfo in every shape: refused, so nobody has to agree on it */
	{"http://user:pw@example.com:80/", E_USER},
	{"http://user@example.com", E_USER},
	{"http://user@[2001:db8::1]", E_USER},
	{"http://:@example.com/", E_USER},
	{"http://@example.com/", E_USER},
	{"http://a@b@c/", E_USER},
	{"http://u@x:pw@example.com/", E_USER},
	{"http://u:p:q@example.com/", E_USER},
	{"http://u%40x:p%3A@example.com/", E_USER},
	{"http://%75ser:p%40ss@example.com/", E_USER},
	/* a host in the userinfo position, and the other way round */
	{"http://127.0.0.1@example.com/", E_USER},
	{"http://example.com@127.0.0.1/", E_USER},
	{"http://example.com:80@127.0.0.1/", E_USER},
	{"http://user:pw@0x7f.1/", E_USER},
	/* backslashes: '/' to some parsers, userinfo to libcurl */
	{"http://evil.com\\@127.0.0.1/", E_CHAR},
	{"http://127.0.0.1\\.evil.com/", E_CHAR},
	{"http:\\\\example.com/", E_CHAR},
	{"http://example.com\\path", E_CHAR},
	/* whitespace, controls, non-ASCII */
	{"http://exa mple.com/", E_SPACE},
	{"http://example.com\t/", E_SPACE},
	{" http://example.com/", E_SPACE},
	{"http://example.com/ ", E_SPACE},
	{"http://example.com/\n", E_SPACE},
	{"http://example.com/\x7f", E_SPACE},
	{"http://ex\xc3\xa4mple.com/", E_SPACE},
	{"http://example.com/<x>", E_CHAR},
	/* no host */
	{"http://", E_NOHOST},
	{"http:///path", E_NOHOST},
	{"https:////example.com/", E_NOHOST},
	{"http://:80/", E_NOHOST},
	{"http://?x", E_NOHOST},
	/* not http(s), or not absolute */
	{"ftp://example.com/", E_HTTP},
	{"ws://example.com/", E_HTTP},
	{"file:///etc/passwd", E_HTTP},
	{"gopher://127.0.0.1:6379/_INFO", E_HTTP},
	{"javascript:alert(1)", E_HTTP},
	{"mailto:x@example.com", E_HTTP},
	{"example.com", E_HTTP},
	{"//example.com/", E_HTTP},
	{"http:/example.com", E_HTTP},
	{"http:example.com", E_HTTP},
	{"https//example.com", E_HTTP},
	{"", E_HTTP},
	/* fragments, zones, ports, malformed hosts */
	{"http://example.com/#frag", "sink must not contain a fragment"},
	{"http://example.com#@evil", "sink must not contain a fragment"},
	{"http://[fe80::1%25eth0]/", "sink must not name an IPv6 zone"},
	{"http://host:0/", E_PORT},
	{"http://host:65536/", E_PORT},
	{"http://host:99999/", E_PORT},
	{"http://host:8a/", E_PORT},
	{"http://host:-1/", E_PORT},
	{"http://host:1:2/", E_PORT},
	{"http://[::1]x/", "sink "},
	{"http://[::1/", "sink "},
	{"http://[]/", "sink "},
	{"http://[zz::1]/", "sink "},
	{"http://a]b/", "sink "},
	{"http://a[b/", "sink "},
	{"http://exa!mple.com/", "sink "},
	{"http://a%2fb/", "sink "},
	{"http://a%00b/", "sink "},
};

START_TEST(test_url_bad)
{
	struct sink_url u;
	char err[256] = "";

	ck_assert_msg(sinkurl_parse(url_bad_cases[_i].url, &u, err,
				    sizeof(err)) == -1,
		      "\"%s\" accepted as %s", url_bad_cases[_i].url, u.url);
	ck_assert_ptr_null(u.url);
	ck_assert_ptr_null(u.host);
	ck_assert_msg(strncmp(err, url_bad_cases[_i].err,
			      strlen(url_bad_cases[_i].err)) == 0,
		      "\"%s\": %s", url_bad_cases[_i].url, err);
}
END_TEST

START_TEST(test_url_limits)
{
	struct sink_url u;
	char url[SINKURL_MAX + 2], err[64];

	/* 2048 bytes are fine, 2049 are not */
	memset(url, 'a', sizeof(url));
	memcpy(url, "https://a.example/", 18);
	url[SINKURL_MAX] = '\0';
	ck_assert_int_eq(sinkurl_parse(url, &u, err, sizeof(err)), 0);
	sinkurl_free(&u);
	url[SINKURL_MAX] = 'a';
	url[SINKURL_MAX + 1] = '\0';
	ck_assert_int_eq(sinkurl_parse(url, &u, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "sink must be at most 2048 bytes long");
	/* no err buffer, NULL text */
	ck_assert_int_eq(sinkurl_parse("ftp://x/", &u, NULL, 0), -1);
	ck_assert_int_eq(sinkurl_parse(NULL, &u, err, sizeof(err)), -1);
	sinkurl_free(NULL);
}
END_TEST

/* ---- check_host: literals and localhost, no DNS ---- */

static const struct {
	const char *host;
	bool allow_private;
	int rc;
	const char *err;
} check_cases[] = {
	{"8.8.8.8", false, 0, ""},
	{"2606:4700:4700::1111", false, 0, ""},
	{"[2606:4700:4700::1111]", false, 0, ""},
	{"127.0.0.1", false, -1,
	 "sink address 127.0.0.1 is loopback; "
	 "set allow_private_sinks to allow it"},
	{"0x7f.1", false, -1,
	 "sink address 0x7f.1 (127.0.0.1) is loopback; "
	 "set allow_private_sinks to allow it"},
	{"2130706433", false, -1,
	 "sink address 2130706433 (127.0.0.1) is loopback; "
	 "set allow_private_sinks to allow it"},
	{"10.1.2.3", false, -1,
	 "sink address 10.1.2.3 is private; "
	 "set allow_private_sinks to allow it"},
	{"169.254.169.254", false, -1,
	 "sink address 169.254.169.254 is link-local; "
	 "set allow_private_sinks to allow it"},
	{"0.0.0.0", false, -1,
	 "sink address 0.0.0.0 is unspecified; "
	 "set allow_private_sinks to allow it"},
	{"::1", false, -1,
	 "sink address ::1 is loopback; set allow_private_sinks to allow it"},
	{"[::ffff:10.0.0.1]", false, -1,
	 "sink address [::ffff:10.0.0.1] (::ffff:10.0.0.1) is private; "
	 "set allow_private_sinks to allow it"},
	{"fe80::1%eth0", false, -1,
	 "sink address fe80::1%eth0 (fe80::1) is link-local; "
	 "set allow_private_sinks to allow it"},
	{"224.0.0.1", false, -1,
	 "sink address 224.0.0.1 is multicast; "
	 "set allow_private_sinks to allow it"},
	{"203.0.113.7", false, -1,
	 "sink address 203.0.113.7 is reserved; "
	 "set allow_private_sinks to allow it"},
	{"localhost", false, -1,
	 "sink host localhost is loopback; set allow_private_sinks to allow it"},
	{"LocalHost.", false, -1,
	 "sink host LocalHost. is loopback; "
	 "set allow_private_sinks to allow it"},
	{"api.localhost", false, -1,
	 "sink host api.localhost is loopback; "
	 "set allow_private_sinks to allow it"},
	{"", false, -1, "sink host is empty"},
	{"", true, -1, "sink host is empty"},
	/* allow_private accepts everything, without resolving */
	{"127.0.0.1", true, 0, ""},
	{"localhost", true, 0, ""},
	{"10.1.2.3", true, 0, ""},
	{"name.that.does.not.resolve.invalid", true, 0, ""},
};

START_TEST(test_check_host)
{
	char err[256] = "untouched";
	int rc = sinkaddr_check_host(check_cases[_i].host,
				     check_cases[_i].allow_private, err,
				     sizeof(err));

	ck_assert_msg(rc == check_cases[_i].rc, "%s: rc %d (%s)",
		      check_cases[_i].host, rc, err);
	ck_assert_str_eq(err, check_cases[_i].err);
}
END_TEST

START_TEST(test_check_host_unresolvable)
{
	/* a 64-byte label is not a valid DNS name: the resolver refuses it
	 * without asking a server */
	char host[128], err[256] = "";

	memset(host, 'a', 64);
	strcpy(host + 64, ".invalid");
	ck_assert_int_eq(sinkaddr_check_host(host, false, err, sizeof(err)),
			 -1);
	ck_assert_msg(strstr(err, "does not resolve") != NULL, "err: %s", err);
	ck_assert(strncmp(err, "sink host aaaa", 14) == 0);
}
END_TEST

START_TEST(test_check_host_err_buffers)
{
	char err[16];

	/* a NULL or short err buffer is fine; the message is truncated */
	ck_assert_int_eq(sinkaddr_check_host("127.0.0.1", false, NULL, 0), -1);
	ck_assert_int_eq(sinkaddr_check_host(NULL, false, NULL, 0), -1);
	ck_assert_int_eq(sinkaddr_check_host("127.0.0.1", false, err,
					     sizeof(err)),
			 -1);
	ck_assert_str_eq(err, "sink address 12");
}
END_TEST

/* URL -> host -> check, as subscription validation chains them: every
 * spelling of a private address is refused. */
static const struct {
	const char *url;
	int rc;
} chain_cases[] = {
	{"https://8.8.8.8/hook", 0},
	{"https://[2606:4700:4700::1111]:443/hook", 0},
	{"http://127.0.0.1:8080/hook", -1},
	{"http://127.1/", -1},
	{"http://127.0.1/", -1},
	{"http://0x7f000001/", -1},
	{"http://0X7F000001/", -1},
	{"http://2130706433/", -1},
	{"http://0177.0.0.1/", -1},
	{"http://0x7f.1/", -1},
	{"http://%31%32%37.0.0.1/", -1},
	{"http://[::ffff:127.0.0.1]/", -1},
	{"http://[::ffff:7f00:1]/", -1},
	{"http://[0:0:0:0:0:ffff:7f00:1]/", -1},
	{"http://[::1]/", -1},
	{"http://[::]/", -1},
	{"http://0/", -1},
	{"http://127.0.0.1./", -1},
	{"http://LOCALHOST:9000/", -1},
	{"http://a.localhost/", -1},
	{"http://169.254.169.254/latest/meta-data/", -1},
	{"http://0xa9fea9fe/", -1},
	{"http://10.1/", -1},
	{"http://[64:ff9b::a00:1]/", -1},
	{"http://[2002:c0a8:101::1]/", -1},
	{"http://[fc00::1]/", -1},
};

START_TEST(test_url_then_check)
{
	struct sink_url u;
	char err[256] = "";

	ck_assert_msg(sinkurl_parse(chain_cases[_i].url, &u, err,
				    sizeof(err)) == 0,
		      "%s: %s", chain_cases[_i].url, err);
	ck_assert_msg(sinkaddr_check_host(u.host, false, err, sizeof(err)) ==
			      chain_cases[_i].rc,
		      "%s (host %s): %s", chain_cases[_i].url, u.host, err);
	if (chain_cases[_i].rc != 0)
		ck_assert_msg(strstr(err, "set allow_private_sinks") != NULL,
			      "%s: %s", chain_cases[_i].url, err);
	/* allow_private_sinks lets every one through */
	ck_assert_int_eq(sinkaddr_check_host(u.host, true, err, sizeof(err)),
			 0);
	sinkurl_free(&u);
}
END_TEST

static Suite *
sinkaddr_suite(void)
{
	Suite *s = suite_create("sinkaddr");
	TCase *cls = tcase_create("classify");
	TCase *lit = tcase_create("literal");
	TCase *url = tcase_create("url");
	TCase *chk = tcase_create("check_host");

	tcase_add_loop_test(cls, test_classify, 0, NELEM(classify_cases));
	tcase_add_test(cls, test_classify_other_family);
	tcase_add_loop_test(cls, test_class_names, 0, NELEM(class_cases));
	suite_add_tcase(s, cls);

	tcase_add_loop_test(lit, test_parse_literal, 0, NELEM(literal_cases));
	tcase_add_test(lit, test_parse_literal_too_long);
	suite_add_tcase(s, lit);

	tcase_add_loop_test(url, test_url_ok, 0, NELEM(url_ok_cases));
	tcase_add_loop_test(url, test_url_bad, 0, NELEM(url_bad_cases));
	tcase_add_test(url, test_url_limits);
	suite_add_tcase(s, url);

	tcase_add_loop_test(chk, test_check_host, 0, NELEM(check_cases));
	tcase_add_test(chk, test_check_host_unresolvable);
	tcase_add_test(chk, test_check_host_err_buffers);
	tcase_add_loop_test(chk, test_url_then_check, 0, NELEM(chain_cases));
	suite_add_tcase(s, chk);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(sinkaddr_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
