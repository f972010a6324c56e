/* SSRF guard: classify addresses, parse IP literals, check sink hosts. */
#include "sinkaddr.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Longest host name handed to the resolver (NI_MAXHOST). */
#define HOST_MAX 1025

/* Longest IPv6 literal text with a zone that we look at. */
#define V6_TEXT_MAX 64

/*
 * IPv4 ranges that are not public.  From the IANA IPv4 Special-Purpose
 * Address Registry plus 224/4 (multicast); 240/4 includes the limited
 * broadcast address 255.255.255.255.  The whole of 192.0.0.0/24 is refused,
 * including its few anycast assignments: they are never webhook sinks.
 */
static const struct {
	uint32_t net;
	int prefix;
	enum sinkaddr_class cls;
} v4_ranges[] = {
	{0x00000000, 8, SINKADDR_UNSPECIFIED}, /* 0/8 "this network" */
	{0x0a000000, 8, SINKADDR_PRIVATE},     /* 10/8 */
	{0x64400000, 10, SINKADDR_PRIVATE},    /* 100.64/10 shared (CGN) */
	{0x7f000000, 8, SINKADDR_LOOPBACK},    /* 127/8 */
	{0xa9fe0000, 16, SINKADDR_LINKLOCAL},  /* 169.254/16 */
	{0xac100000, 12, SINKADDR_PRIVATE},    /* 172.16/12 */
	{0xc0000000, 24, SINKADDR_RESERVED},   /* 192.0.0/24 IETF assignments */
	{0xc0000200, 24, SINKADDR_RESERVED},   /* 192.0.2/24 TEST-NET-1 */
	{0xc0586300, 24, SINKADDR_RESERVED},   /* 192.88.99/24 old 6to4 relay */
	{0xc0a80000, 16, SINKADDR_PRIVATE},    /* 192.168/16 */
	{0xc6120000, 15, SINKADDR_RESERVED},   /* 198.18/15 benchmarking */
	{0xc6336400, 24, SINKADDR_RESERVED},   /* 198.51.100/24 TEST-NET-2 */
	{0xcb007100, 24, SINKADDR_RESERVED},   /* 203.0.113/24 TEST-NET-3 */
	{0xe0000000, 4, SINKADDR_MULTICAST},   /* 224/4 */
	{0xf0000000, 4, SINKADDR_RESERVED},    /* 240/4 and broadcast */
};

static enum sinkaddr_class
classify_v4(uint32_t a)
{
	size_t i;

	for (i = 0; i < sizeof(v4_ranges) / sizeof(v4_ranges[0]); i++) {
		uint32_t mask = 0xffffffffU << (32 - v4_ranges[i].prefix);

		if ((a & mask) == v4_ranges[i].net)
			return v4_ranges[i].cls;
	}
	return SINKADDR_PUBLIC;
}

static uint32_t
be32(const unsigned char *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	       (uint32_t)b[2] << 8 | b[3];
}

static bool
all_zero(const unsigned char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (b[i] != 0)
			return false;
	return true;
}

/*
 * IPv6: the forms that carry an IPv4 address are judged by that address,
 * so ::ffff:127.0.0.1 or 64:ff9b::10.0.0.1 cannot smuggle in a private
 * target.  Outside the listed ranges only global unicast (2000::/3) is
 * public; 2001::/23 (IETF protocol assignments, Teredo, benchmarking,
 * ORCHID) and the documentation prefixes are reserved.
 */
static enum sinkaddr_class
classify_v6(const unsigned char *b)
{
	if (all_zero(b, 15)) {
		if (b[15] == 0)
			return SINKADDR_UNSPECIFIED; /* :: */
		if (b[15] == 1)
			return SINKADDR_LOOPBACK; /* ::1 */
	}
	/* ::ffff:0:0/96 IPv4-mapped */
	if (all_zero(b, 10) && b[10] == 0xff && b[11] == 0xff)
		return classify_v4(be32(b + 12));
	/* ::ffff:0:0:0/96 IPv4-translated (SIIT) */
	if (all_zero(b, 8) && b[8] == 0xff && b[9] == 0xff && b[10] == 0 &&
	    b[11] == 0)
		return classify_v4(be32(b + 12));
	/* ::/96 IPv4-compatible (deprecated) */
	if (all_zero(b, 12))
		return classify_v4(be32(b + 12));
	/* 64:ff9b::/96 NAT64 well-known prefix */
	if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b) {
		if (all_zero(b + 4, 8))
			return classify_v4(be32(b + 12));
		if (b[4] == 0x00 && b[5] == 0x01)
			return SINKADDR_PRIVATE; /* 64:ff9b:1::/48 local-use */
	}
	/* 100::/64 discard-only */
	if (b[0] == 0x01 && b[1] == 0x00 && all_zero(b + 2, 6))
		return SINKADDR_RESERVED;
	/* 2002::/16 6to4: IPv4 in bits 16..47 */
	if (b[0] == 0x20 && b[1] == 0x02)
		return classify_v4(be32(b + 2));
	/* 2001:db8::/32 documentation */
	if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8)
		return SINKADDR_RESERVED;
	/* 2001::/23 IETF protocol assignments */
	if (b[0] == 0x20 && b[1] == 0x01 && b[2] < 0x02)
		return SINKADDR_RESERVED;
	/* 3fff::/20 documentation */
	if (b[0] == 0x3f && b[1] == 0xff && (b[2] & 0xf0) == 0)
		return SINKADDR_RESERVED;
	if ((b[0] & 0xfe) == 0xfc)
		return SINKADDR_PRIVATE; /* fc00::/7 unique local */
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
		return SINKADDR_LINKLOCAL; /* fe80::/10 */
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)
		return SINKADDR_PRIVATE; /* fec0::/10 site-local, deprecated */
	if (b[0] == 0xff)
		return SINKADDR_MULTICAST; /* ff00::/8 */
	if ((b[0] & 0xe0) != 0x20)
		return SINKADDR_RESERVED; /* outside 2000::/3 */
	return SINKADDR_PUBLIC;
}

enum sinkaddr_class
sinkaddr_classify(const struct sockaddr *sa)
{
	if (sa == NULL)
		return SINKADDR_RESERVED;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		return classify_v4(ntohl(in->sin_addr.s_addr));
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 =
			(const struct sockaddr_in6 *)sa;

		return classify_v6(in6->sin6_addr.s6_addr);
	}
	return SINKADDR_RESERVED;
}

bool
sinkaddr_is_allowed(enum sinkaddr_class c)
{
	return c == SINKADDR_PUBLIC;
}

const char *
sinkaddr_class_name(enum sinkaddr_class c)
{
	switch (c) {
	case SINKADDR_PUBLIC:
		return "public";
	case SINKADDR_LOOPBACK:
		return "loopback";
	case SINKADDR_PRIVATE:
		return "private";
	case SINKADDR_LINKLOCAL:
		return "link-local";
	case SINKADDR_MULTICAST:
		return "multicast";
	case SINKADDR_UNSPECIFIED:
		return "unspecified";
	case SINKADDR_RESERVED:
		return "reserved";
	}
	return "unknown";
}

/*
 * One part of a legacy IPv4 literal, as inet_aton(3) reads it: "0x" + hex
 * digits, "0" + octal digits, or decimal.  Returns the end of the part, or
 * NULL when it is not a number or exceeds 32 bits.
 */
static const char *
v4_part(const char *p, uint32_t *value)
{
	uint64_t v = 0;
	unsigned base = 10;
	int ndigits = 0;

	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	} else if (p[0] == '0' && p[1] >= '0' && p[1] <= '9') {
		base = 8;
		p++;
	}
	for (;; p++, ndigits++) {
		unsigned d;

		if (*p >= '0' && *p <= '9')
			d = (unsigned)(*p - '0');
		else if (base == 16 && *p >= 'a' && *p <= 'f')
			d = (unsigned)(*p - 'a' + 10);
		else if (base == 16 && *p >= 'A' && *p <= 'F')
			d = (unsigned)(*p - 'A' + 10);
		else
			break;
		if (d >= base)
			return NULL; /* 8 or 9 in an octal part */
		v = v * base + d;
		if (v > 0xffffffffU)
			return NULL;
	}
	if (ndigits == 0)
		return NULL;
	*value = (uint32_t)v;
	return p;
}

/*
 * IPv4 in the forms inet_aton(3) and libcurl accept: 1 to 4 parts, the last
 * filling the remaining bytes (127.1, 127.0.1, 2130706433, 0x7f.1).  One
 * trailing dot is accepted as the URL standard does ("127.0.0.1."), so that
 * such a host is judged as the address it names rather than left to DNS.
 */
static bool
parse_v4(const char *s, uint32_t *out)
{
	uint32_t parts[4];
	int n = 0, i;
	uint32_t addr = 0;
	const char *p = s;

	for (;;) {
		if (n == 4)
			return false;
		p = v4_part(p, &parts[n]);
		if (p == NULL)
			return false;
		n++;
		if (*p == '\0')
			break;
		if (*p != '.')
			return false;
		p++;
		if (*p == '\0')
			break; /* one trailing dot */
	}
	for (i = 0; i < n - 1; i++) {
		if (parts[i] > 255)
			return false;
		addr |= parts[i] << (24 - 8 * i);
	}
	if (n < 4 && parts[n - 1] > (0xffffffffU >> (8 * (n - 1))))
		return false;
	if (n == 4 && parts[3] > 255)
		return false;
	*out = addr | parts[n - 1];
	return true;
}

int
sinkaddr_parse_literal(const char *host, struct sockaddr_storage *out)
{
	char buf[V6_TEXT_MAX];
	const char *text = host;
	size_t len, cut;
	uint32_t a;

	if (host == NULL || out == NULL)
		return -1;
	len = strnlen(host, HOST_MAX);
	if (len == 0 || len >= HOST_MAX)
		return -1;

	if (host[0] != '[' && strchr(host, ':') == NULL) {
		struct sockaddr_in *in = (struct sockaddr_in *)out;

		if (!parse_v4(host, &a))
			return -1;
		memset(out, 0, sizeof(*out));
		in->sin_family = AF_INET;
		in->sin_addr.s_addr = htonl(a);
		return 0;
	}

	if (host[0] == '[') {
		if (len < 3 || host[len - 1] != ']')
			return -1;
		text = host + 1;
		len -= 2;
	}
	/* a zone (%eth0, or %25eth0 in URLs) does not change the class */
	cut = strcspn(text, "%");
	if (cut < len)
		len = cut;
	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, text, len);
	buf[len] = '\0';
	{
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;
		struct in6_addr addr;

		if (inet_pton(AF_INET6, buf, &addr) != 1)
			return -1;
		memset(out, 0, sizeof(*out));
		in6->sin6_family = AF_INET6;
		in6->sin6_addr = addr;
	}
	return 0;
}

static void
set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Numeric text of an AF_INET or AF_INET6 address. */
static void
addr_text(const struct sockaddr *sa, char *buf, size_t buflen)
{
	const void *src = NULL;

	if (sa->sa_family == AF_INET)
		src = &((const struct sockaddr_in *)sa)->sin_addr;
	else if (sa->sa_family == AF_INET6)
		src = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (src == NULL ||
	    inet_ntop(sa->sa_family, src, buf, (socklen_t)buflen) == NULL)
		snprintf(buf, buflen, "(address family %d)", sa->sa_family);
}

/* "localhost" and "*.localhost" (RFC 6761), any case, optional final dot. */
static bool
is_localhost_name(const char *host)
{
	size_t len = strlen(host);

	if (len > 0 && host[len - 1] == '.')
		len--;
	if (len < 9 || strncasecmp(host + len - 9, "localhost", 9) != 0)
		return false;
	return len == 9 || host[len - 10] == '.';
}

#define ALLOW_HINT "set allow_private_sinks to allow it"

int
sinkaddr_check_host(const char *host, bool allow_private, char *err,
		    size_t errlen)
{
	struct sockaddr_storage ss;
	struct addrinfo hints, *res = NULL, *ai;
	char text[INET6_ADDRSTRLEN + 32];
	enum sinkaddr_class c;
	int rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (host == NULL || host[0] == '\0') {
		set_err(err, errlen, "sink host is empty");
		return -1;
	}
	if (allow_private)
		return 0;
	if (strnlen(host, HOST_MAX) >= HOST_MAX) {
		set_err(err, errlen, "sink host is too long");
		return -1;
	}

	if (sinkaddr_parse_literal(host, &ss) == 0) {
		c = sinkaddr_classify((const struct sockaddr *)&ss);
		if (sinkaddr_is_allowed(c))
			return 0;
		addr_text((const struct sockaddr *)&ss, text, sizeof(text));
		if (strcmp(text, host) == 0)
			set_err(err, errlen,
				"sink address %s is %s; " ALLOW_HINT, text,
				sinkaddr_class_name(c));
		else
			set_err(err, errlen,
				"sink address %s (%s) is %s; " ALLOW_HINT, host,
				text, sinkaddr_class_name(c));
		return -1;
	}

	if (is_localhost_name(host)) {
		set_err(err, errlen, "sink host %s is loopback; " ALLOW_HINT,
			host);
		return -1;
	}

	/* a sink must resolve: an unresolvable name cannot be judged */
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc != 0) {
		set_err(err, errlen, "sink host %s does not resolve: %s", host,
			gai_strerror(rc));
		return -1;
	}
	rc = 0;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		c = sinkaddr_classify(ai->ai_addr);
		if (sinkaddr_is_allowed(c))
			continue;
		addr_text(ai->ai_addr, text, sizeof(text));
		set_err(err, errlen,
			"sink host %s resolves to %s, which is %s; " ALLOW_HINT,
			host, text, sinkaddr_class_name(c));
		rc = -1;
		break;
	}
	if (res == NULL) {
		set_err(err, errlen, "sink host %s does not resolve", host);
		rc = -1;
	}
	freeaddrinfo(res);
	return rc;
}
