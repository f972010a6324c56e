/* SSRF guard: which addresses a webhook sink may point at. */
#ifndef HERALD_SINKADDR_H
#define HERALD_SINKADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* What kind of address a sink resolves to; only PUBLIC is allowed by
 * default. */
enum sinkaddr_class {
	SINKADDR_PUBLIC,      /* globally routable unicast */
	SINKADDR_LOOPBACK,    /* 127/8, ::1: this host */
	SINKADDR_PRIVATE,     /* RFC 1918, 100.64/10, fc00::/7, fec0::/10 */
	SINKADDR_LINKLOCAL,   /* 169.254/16 (cloud metadata), fe80::/10 */
	SINKADDR_MULTICAST,   /* 224/4, ff00::/8 */
	SINKADDR_UNSPECIFIED, /* 0/8 "this network", :: */
	SINKADDR_RESERVED,    /* documentation, benchmarking, 240/4, broadcast,
			       * unassigned IPv6, or not IPv4/IPv6 at all */
};

/* Classify an AF_INET or AF_INET6 address; IPv6 forms that embed an IPv4
 * address (mapped, compatible, NAT64, 6to4) are classified by that
 * address. */
enum sinkaddr_class sinkaddr_classify(const struct sockaddr *sa);

/* True only for SINKADDR_PUBLIC. */
bool sinkaddr_is_allowed(enum sinkaddr_class c);

/* Lower-case name of a class for messages, e.g. "link-local". */
const char *sinkaddr_class_name(enum sinkaddr_class c);

/* Parse host as an IP literal in any form a resolver or libcurl accepts:
 * IPv4 in 1 to 4 decimal, octal (0177) or hex (0x7f) parts with an
 * optional trailing dot, IPv6 bare or in brackets with an optional zone
 * (stripped).  Returns 0 with *out set, or -1 when host is not a literal. */
int sinkaddr_parse_literal(const char *host, struct sockaddr_storage *out);

/* Decide whether a subscription may use host as its sink: literals are
 * classified, "localhost" and "*.localhost" are loopback, other names are
 * resolved and refused when any address is not public or when they do not
 * resolve.  allow_private accepts every host.  Returns 0 when allowed, or
 * -1 with a sentence in err. */
int sinkaddr_check_host(const char *host, bool allow_private, char *err,
			size_t errlen);

#endif
