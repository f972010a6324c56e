/* TLS on the API listener: a certificate and key from PEM files, swapped on SIGHUP for new connections. */
#ifndef HERALD_TLS_H
#define HERALD_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <gnutls/abstract.h>

#include "config.h"

/* Check c's tls_* keys and, when tls_cert_file is set, load the files
 * (TLS is then on for the life of the process).  0, or -1 with the
 * reason in err; with both files empty TLS stays off and it is 0. */
int tls_start(const struct config *c, char *err, size_t errlen);

/* Did tls_start turn TLS on? */
bool tls_on(void);

/* SIGHUP: read c's files again and, when they load and differ, hand the
 * new certificate to every handshake from now on.  Logs what it did; on
 * any error the certificate in use is kept. */
void tls_reload(const struct config *c);

/* libmicrohttpd's MHD_OPTION_HTTPS_CERT_CALLBACK: the newest certificate. */
int tls_certificate(gnutls_session_t session, const gnutls_datum_t *req_ca_dn,
		    int nreqs, const gnutls_pk_algorithm_t *pk_algos,
		    int pk_algos_length, gnutls_pcert_st **pcert,
		    unsigned int *pcert_length, gnutls_privkey_t *privkey);

/* A connection opened (before its handshake) and closed: what a
 * connection may still use is kept until it closes.  begin returns what
 * end takes back (NULL when TLS is off). */
void *tls_connection_begin(void);
void tls_connection_end(void *pin);

/* Free every certificate (after the listener stopped). */
void tls_stop(void);

#endif
