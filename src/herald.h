/* Core types shared by herald's modules: events, subscriptions, errors. */
#ifndef HERALD_H
#define HERALD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cJSON.h>

/* On a function whose result says whether it worked: ignoring it is a
 * compile-time warning (an error with --enable-werror). */
#define HERALD_MUST_CHECK __attribute__((warn_unused_result))

/* How an event's data was supplied, which decides how it is rendered. */
enum ce_data_kind {
	CE_DATA_NONE = 0,   /* no data */
	CE_DATA_JSON = 1,   /* data bytes are JSON text; rendered as "data": <value> */
	CE_DATA_TEXT = 2,   /* data bytes are UTF-8 text; rendered as "data": "<string>" */
	CE_DATA_BINARY = 3, /* opaque bytes; rendered as "data_base64" */
};

/*
 * A parsed, validated CloudEvent.  attrs owns every context attribute
 * (required, optional and extensions; never data/data_base64) with its
 * JSON-format type.  The const char pointers point into attrs and are NULL
 * when the attribute is absent.  data holds the payload exactly as it is
 * sent in binary mode (data_len bytes, not NUL-terminated, may be NULL when
 * data_len is 0).
 */
struct cloudevent {
	cJSON *attrs;
	const char *id;
	const char *source;
	const char *specversion;
	const char *type;
	const char *subject;
	const char *datacontenttype;
	const char *dataschema;
	const char *time;
	const char *partitionkey;
	enum ce_data_kind data_kind;
	unsigned char *data;
	size_t data_len;
};

/* Why input was refused: a stable code, the attribute and a sentence. */
struct herald_error {
	char code[48];     /* stable machine code, e.g. "invalid_attribute" */
	char field[96];    /* offending attribute or field; "" when none */
	long index;        /* batch index, -1 when not in a batch */
	char message[256]; /* lower-case human sentence, no trailing period */
};

enum sub_mode {
	SUB_MODE_BINARY = 0,
	SUB_MODE_STRUCTURED = 1,
};

enum sub_ordering {
	SUB_ORDER_PARTITIONKEY = 0, /* key = partitionkey extension; none: unordered */
	SUB_ORDER_SUBJECT = 1,      /* key = subject; none: unordered */
	SUB_ORDER_NONE = 2,         /* no ordering */
	SUB_ORDER_GLOBAL = 3,       /* one FIFO for the whole subscription */
};

enum sub_status {
	SUB_ACTIVE = 0,   /* deliveries flow */
	SUB_PAUSED = 1,   /* set by the user: events accumulate, nothing is sent */
	SUB_DISABLED = 2, /* set by herald (410 Gone): waits for PATCH active */
};

struct sub_retry {
	int max_attempts;
	long initial_ms;
	double multiplier;
	long max_ms;
	double jitter; /* 0..1: +/- this fraction of the delay */
};

struct sub_delivery {
	enum sub_mode mode;
	enum sub_ordering ordering;
	double rate;   /* requests per second; 0 = unlimited */
	int burst;     /* token bucket size */
	int max_in_flight;
	long timeout_ms;
	struct sub_retry retry;
};

struct sub_header {
	char *name;
	char *value;
};

struct filter; /* compiled filter expression, see filter.h */

/* A validated subscription (its configuration, without server state). */
struct subscription {
	char *sink;       /* the URL libcurl is given (libcurl's rendering) */
	char *sink_host;  /* its host, as libcurl reads it; IPv6 unbracketed */
	/* a consumer group ("sinks"): its members, each like sink, and
	 * their hosts; sink and sink_host are then NULL */
	char **sinks;
	char **sink_hosts;
	size_t nsinks;    /* 0: one sink */
	char *source;     /* NULL: any source */
	char **types;     /* NULL when ntypes == 0: any type */
	size_t ntypes;
	cJSON *filters;   /* the filters array as given (normalized), or NULL */
	struct filter *filter; /* compiled filters; NULL matches everything */
	struct sub_header *headers; /* protocolsettings.headers */
	size_t nheaders;
	char *access_token; /* sinkcredential ACCESSTOKEN, NULL when none */
	cJSON *config;    /* Subscriptions API "config" map as given, or NULL */
	struct sub_delivery delivery;
	enum sub_status status;
};

#endif
