/* Sink URLs: parsed once, by libcurl's URL API, for validation, the SSRF guard and delivery. */
#ifndef HERALD_SINKURL_H
#define HERALD_SINKURL_H

#include <stddef.h>

/* Longest sink URL accepted, in bytes. */
#define SINKURL_MAX 2048

/* A sink URL as libcurl reads it. */
struct sink_url {
	char *url;  /* libcurl's own rendering: what CURLOPT_URL is given */
	char *host; /* the host libcurl connects to: a name, an IPv4
		     * address, or an IPv6 address without brackets */
	int port;   /* the explicit port, or 0 for the scheme's default */
};

/*
 * Parse text as an absolute http or https URL with a host, no userinfo,
 * no fragment, no IPv6 zone and only visible ASCII.  libcurl decides what
 * the parts are; herald only refuses what it does not want.  Returns 0
 * with *out filled (release with sinkurl_free), or -1 with *out zeroed and
 * a sentence in err.
 */
int sinkurl_parse(const char *text, struct sink_url *out, char *err,
		  size_t errlen);

void sinkurl_free(struct sink_url *u);

#endif
