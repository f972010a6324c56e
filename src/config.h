/* Configuration: one table of keys, read from a key = value file and overridden by flags. */
#ifndef HERALD_CONFIG_H
#define HERALD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "log.h"

struct config {
	char *listen;            /* host:port of the API */
	char *database_url;      /* libpq connection string or URI */
	char *admin_key;         /* bootstrap admin key; "" = env or generated */
	bool allow_private_sinks;
	long max_event_bytes;    /* largest single event body */
	long max_batch_bytes;    /* largest batch request body */
	enum log_level log_level;
	enum log_format log_format;
	long api_threads;        /* libmicrohttpd thread pool size */
	long db_pool_size;       /* API database workers (one connection each) */
	long max_connections;    /* concurrent HTTP connections */
	long connection_timeout; /* seconds of client inactivity */
	long writer_batch_max;   /* events per group-commit transaction */
	long writers;            /* group-commit threads, each a connection */
	long max_connections_per_ip; /* 0: no limit */
	long api_rate;           /* API requests per second per key; 0: none */
	long api_burst;          /* bucket size; 0: api_rate */
	long secret_grace;       /* seconds an old secret keeps signing */
	long backlog_alert;      /* a subscription's backlog reported; 0: off */
	long group_max_failures; /* a group member's failures in a row: out */
	long group_refused_seconds; /* a group member refusing this long: out */
	char *tls_cert_file;     /* PEM certificate chain; "" = plain HTTP */
	char *tls_key_file;      /* PEM private key of tls_cert_file */
	char *tls_priorities;    /* GnuTLS priority string */
	char *metrics_listen;    /* host:port of GET /metrics without a key; "" = none */
	bool metrics_per_subscription; /* per-subscription series */
	long retention;          /* seconds a finished partition is kept; 0: for ever */
	long partition_interval; /* seconds one partition covers */
	char *relay_from;        /* producers' conninfos, ';'-separated; "" = none */
	char *relay_slot;        /* the slot read on each of them */
	long relay_lag_warn;     /* bytes a slot holds before a warning; 0: never */
};

/* Fill every field with its default.  *c must hold no strings yet (it is
 * overwritten, not freed): call config_free first to reset a used one. */
void config_defaults(struct config *c);

/* Read a key = value file over *c ('#' comments, "quoted" values, last
 * repeat wins).  Returns 0, or -1 with a message that names the file and
 * line in err ("herald.conf:12: unknown key \"lisen\""); on -1, *c is left
 * exactly as it was, so a failed reload keeps the old settings. */
int config_load_file(struct config *c, const char *path, char *err,
		     size_t errlen);

/* Set one key from its string form, as the file and flags do.  Returns 0,
 * or -1 with a message in err (unknown key, bad value, out of range) and *c
 * unchanged. */
int config_set(struct config *c, const char *key, const char *value,
	       char *err, size_t errlen);

enum config_action {
	CONFIG_RUN = 0,     /* start the daemon */
	CONFIG_EXIT_OK = 1, /* --help or --version printed; exit 0 */
	CONFIG_EXIT_ERR = 2 /* usage error printed; exit 1 */
};

/* Defaults, then -c FILE, then the flags in order (one --KEY-NAME VALUE per
 * key, or --KEY-NAME=VALUE; a bool flag alone, or followed by an argument
 * starting with '-', means true), so flags override the file wherever -c
 * stands.  Prints --help/--version/errors to the given streams.  *c needs
 * config_free afterwards whatever the result. */
enum config_action config_from_args(struct config *c, int argc, char **argv,
				    FILE *out, FILE *errout);

/* Names of every key, NULL-terminated (for checks and docs). */
const char *const *config_key_names(void);

/* What SIGHUP does with a changed value of key. */
enum config_reload {
	RELOAD_RESTART = 0, /* kept until herald restarts; the change is logged */
	RELOAD_LIVE = 1     /* applied at once */
};
enum config_reload config_key_reload(const char *key);

/* A deep copy of src into dst (which holds no strings yet). */
void config_copy(struct config *dst, const struct config *src);

/* Does key hold different values in a and b?  false for an unknown key. */
bool config_key_differs(const struct config *a, const struct config *b,
			const char *key);
/* Set key in dst to its value in src. */
void config_copy_key(struct config *dst, const struct config *src,
		     const char *key);
/* key's value in c as the file would give it, into buf (cut to len). */
void config_value_text(const struct config *c, const char *key, char *buf,
		       size_t len);

/* The FILE of the last -c/--config in argv, or NULL. */
const char *config_file_arg(int argc, char **argv);
/* What config_from_args would set now (defaults, the -c file as it reads
 * today, then the flags), into *c; argv is one config_from_args accepted.
 * Returns 0, or -1 with a message in err ("herald.conf:3: ...", or no -c)
 * and *c unchanged. */
int config_reread(struct config *c, int argc, char **argv, char *err,
		  size_t errlen);

/* Free the strings and set them to NULL; calling it twice is harmless. */
void config_free(struct config *c);

#endif
