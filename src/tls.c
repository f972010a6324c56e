/* TLS on the API listener: a certificate and key from PEM files, swapped on SIGHUP for new connections. */
#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/x509.h>
#include <microhttpd.h>

#include "log.h"
#include "xalloc.h"

/* Largest certificate or key file read: a chain is a few KiB. */
#define TLS_FILE_MAX (256 * 1024)
/* Most certificates in tls_cert_file (the server's, then intermediates). */
#define TLS_CHAIN_MAX 16

/*
 * One generation of credentials per load that changed something.  A
 * handshake gets the newest.  A connection may start its handshake with
 * any generation from the one that was newest when it opened, so a
 * generation is freed only once it is not the newest and no connection
 * opened while it or an older one was the newest remains: the list is
 * freed from its old end, each generation counting the open connections
 * that began under it.
 *
 * All of it is under lock: libmicrohttpd's threads take the newest in
 * handshakes and pin and unpin as connections open and close; main's
 * thread loads at start and on SIGHUP, and frees at exit.
 */
struct creds {
	struct creds *newer;
	gnutls_pcert_st chain[TLS_CHAIN_MAX];
	unsigned int nchain;
	gnutls_privkey_t key;
	unsigned long pins;      /* open connections begun under this one */
	gnutls_datum_t cert_pem; /* the files as read, to tell a change */
	gnutls_datum_t key_pem;
	char subject[256];       /* of the server's certificate, for the log */
	char serial[80];
	char not_after[32];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct creds *oldest; /* NULL: TLS is off */
static struct creds *newest;

static void seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static void
datum_free(gnutls_datum_t *d)
{
	if (d->data != NULL) {
		/* a key's copy should not outlive it in freed memory */
		memset(d->data, 0, d->size);
		free(d->data);
	}
	d->data = NULL;
	d->size = 0;
}

/* Read the PEM file named by setting key (a regular file of at most
 * TLS_FILE_MAX bytes) into *out, NUL-terminated. */
static int
read_pem(const char *key, const char *path, bool secret, gnutls_datum_t *out,
	 char *err, size_t errlen)
{
	struct stat st;
	size_t len = 0;
	char *buf;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		seterr(err, errlen, "%s %s: cannot open: %s", key, path,
		       strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		seterr(err, errlen, "%s %s: not a regular file", key, path);
		close(fd);
		return -1;
	}
	if (st.st_size > TLS_FILE_MAX) {
		seterr(err, errlen, "%s %s: larger than %d bytes", key, path,
		       TLS_FILE_MAX);
		close(fd);
		return -1;
	}
	if (secret && (st.st_mode & (S_IROTH | S_IWOTH)) != 0)
		log_warn("%s %s can be read by every user of this machine; "
			 "chmod o-rwx it", key, path);
	buf = xmalloc(TLS_FILE_MAX + 1);
	/* to the limit, not st_size: the file may grow while read */
	while (len <= TLS_FILE_MAX) {
		ssize_t n = read(fd, buf + len, TLS_FILE_MAX + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			seterr(err, errlen, "%s %s: cannot read: %s", key, path,
			       strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > TLS_FILE_MAX) {
		seterr(err, errlen, "%s %s: larger than %d bytes", key, path,
		       TLS_FILE_MAX);
		goto fail;
	}
	if (len == 0) {
		seterr(err, errlen, "%s %s: empty", key, path);
		goto fail;
	}
	close(fd);
	/* kept at its size; the read buffer is wiped, as it may hold a key */
	out->data = xmalloc(len + 1);
	memcpy(out->data, buf, len);
	out->data[len] = '\0';
	out->size = (unsigned int)len;
	memset(buf, 0, len);
	free(buf);
	return 0;
fail:
	memset(buf, 0, TLS_FILE_MAX + 1);
	free(buf);
	close(fd);
	return -1;
}

static void
creds_free(struct creds *c)
{
	if (c == NULL)
		return;
	for (unsigned int i = 0; i < c->nchain; i++)
		gnutls_pcert_deinit(&c->chain[i]);
	if (c->key != NULL)
		gnutls_privkey_deinit(c->key);
	datum_free(&c->cert_pem);
	datum_free(&c->key_pem);
	free(c);
}

static void
format_time(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (t == (time_t)-1 || gmtime_r(&t, &tm) == NULL)
		snprintf(buf, len, "unknown");
	else
		strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* What the log says of the server's certificate; a warning when it is
 * not valid now (the clock may be wrong: it is served all the same). */
static void
describe(struct creds *c, gnutls_x509_crt_t crt, const char *path)
{
	unsigned char serial[40];
	size_t slen = sizeof(serial), n = 0;
	gnutls_datum_t dn = {NULL, 0};
	time_t now = time(NULL);
	time_t from = gnutls_x509_crt_get_activation_time(crt);
	time_t until = gnutls_x509_crt_get_expiration_time(crt);

	if (gnutls_x509_crt_get_dn3(crt, &dn, 0) == 0) {
		snprintf(c->subject, sizeof(c->subject), "%s", (char *)dn.data);
		gnutls_free(dn.data);
	} else {
		snprintf(c->subject, sizeof(c->subject), "(none)");
	}
	c->serial[0] = '\0';
	if (gnutls_x509_crt_get_serial(crt, serial, &slen) == 0)
		for (size_t i = 0; i < slen && n + 3 < sizeof(c->serial); i++)
			n += (size_t)snprintf(c->serial + n, sizeof(c->serial) - n,
					      "%02x", serial[i]);
	format_time(until, c->not_after, sizeof(c->not_after));
	if (until != (time_t)-1 && until < now)
		log_warn("tls_cert_file %s: the certificate expired at %s; "
			 "clients will refuse it", path, c->not_after);
	else if (from != (time_t)-1 && from > now) {
		char when[32];

		format_time(from, when, sizeof(when));
		log_warn("tls_cert_file %s: the certificate is not valid before "
			 "%s; clients will refuse it until then", path, when);
	}
}

/* Does the private key belong to the certificate? */
static bool
key_matches(gnutls_x509_crt_t crt, gnutls_privkey_t key)
{
	unsigned char a[64], b[64];
	size_t alen = sizeof(a), blen = sizeof(b);
	gnutls_pubkey_t pub;
	bool same = false;

	if (gnutls_pubkey_init(&pub) != 0)
		return false;
	if (gnutls_pubkey_import_privkey(pub, key, 0, 0) == 0 &&
	    gnutls_pubkey_get_key_id(pub, GNUTLS_KEYID_USE_SHA256, a, &alen) == 0 &&
	    gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA256, b, &blen) == 0)
		same = alen == blen && memcmp(a, b, alen) == 0;
	gnutls_pubkey_deinit(pub);
	return same;
}

/* Read and check both files: a chain of certificates, the first of which
 * the key (unencrypted) belongs to.  NULL with the reason in err. */
static struct creds *
creds_load(const char *cert_path, const char *key_path, char *err,
	   size_t errlen)
{
	struct creds *c = xcalloc(1, sizeof(*c));
	gnutls_x509_crt_t crts[TLS_CHAIN_MAX];
	unsigned int ncrts = TLS_CHAIN_MAX;
	int rc;

	if (read_pem("tls_cert_file", cert_path, false, &c->cert_pem, err,
		     errlen) != 0 ||
	    read_pem("tls_key_file", key_path, true, &c->key_pem, err,
		     errlen) != 0)
		goto fail;
	rc = gnutls_x509_crt_list_import(crts, &ncrts, &c->cert_pem,
					 GNUTLS_X509_FMT_PEM,
					 GNUTLS_X509_CRT_LIST_IMPORT_FAIL_IF_EXCEED |
					 GNUTLS_X509_CRT_LIST_FAIL_IF_UNSORTED);
	if (rc <= 0) {
		seterr(err, errlen, "tls_cert_file %s: no usable PEM certificate "
		       "chain (at most %d, the server's first): %s", cert_path,
		       TLS_CHAIN_MAX, rc < 0 ? gnutls_strerror(rc) :
		       "none found");
		goto fail;
	}
	ncrts = (unsigned int)rc;
	if ((rc = gnutls_privkey_init(&c->key)) != 0 ||
	    (rc = gnutls_privkey_import_x509_raw(c->key, &c->key_pem,
						 GNUTLS_X509_FMT_PEM, NULL,
						 0)) != 0) {
		seterr(err, errlen, "tls_key_file %s: not a usable PEM private "
		       "key (an encrypted one is not supported): %s", key_path,
		       gnutls_strerror(rc));
		goto fail_crts;
	}
	if (!key_matches(crts[0], c->key)) {
		seterr(err, errlen, "tls_key_file %s is not the key of the "
		       "certificate in tls_cert_file %s", key_path, cert_path);
		goto fail_crts;
	}
	c->nchain = ncrts;
	rc = gnutls_pcert_import_x509_list(c->chain, crts, &c->nchain, 0);
	if (rc != 0) {
		c->nchain = 0;
		seterr(err, errlen, "tls_cert_file %s: %s", cert_path,
		       gnutls_strerror(rc));
		goto fail_crts;
	}
	describe(c, crts[0], cert_path);
	for (unsigned int i = 0; i < ncrts; i++)
		gnutls_x509_crt_deinit(crts[i]);
	return c;
fail_crts:
	for (unsigned int i = 0; i < ncrts; i++)
		gnutls_x509_crt_deinit(crts[i]);
fail:
	creds_free(c);
	return NULL;
}

static bool
same_datum(const gnutls_datum_t *a, const gnutls_datum_t *b)
{
	return a->size == b->size && memcmp(a->data, b->data, a->size) == 0;
}

/* Free the generations nobody can use any more.  Under lock. */
static void
collect(void)
{
	while (oldest != NULL && oldest != newest && oldest->pins == 0) {
		struct creds *c = oldest;

		oldest = c->newer;
		log_debug("tls: no connection can use serial %s any more; "
			  "freed", c->serial);
		creds_free(c);
	}
}

/* Both files or neither. */
static int
check_pair(const struct config *c, char *err, size_t errlen)
{
	if ((c->tls_cert_file[0] == '\0') != (c->tls_key_file[0] == '\0')) {
		seterr(err, errlen, "tls_cert_file and tls_key_file go together: "
		       "set both for HTTPS, or neither for plain HTTP");
		return -1;
	}
	return 0;
}

int
tls_start(const struct config *c, char *err, size_t errlen)
{
	gnutls_priority_t prio;
	const char *at = NULL;
	struct creds *cr;
	int rc;

	if (check_pair(c, err, errlen) != 0)
		return -1;
	if (c->tls_cert_file[0] == '\0')
		return 0;
	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES ||
	    MHD_is_feature_supported(MHD_FEATURE_HTTPS_CERT_CALLBACK) != MHD_YES) {
		seterr(err, errlen, "tls_cert_file is set but this libmicrohttpd "
		       "was built without HTTPS (or without certificate "
		       "callbacks); serve plain HTTP behind a TLS proxy, or "
		       "build against a libmicrohttpd with GnuTLS");
		return -1;
	}
	rc = gnutls_priority_init(&prio, c->tls_priorities, &at);
	if (rc != 0) {
		seterr(err, errlen, "tls_priorities: invalid at \"%.40s\": %s",
		       at ? at : c->tls_priorities, gnutls_strerror(rc));
		return -1;
	}
	gnutls_priority_deinit(prio);
	cr = creds_load(c->tls_cert_file, c->tls_key_file, err, errlen);
	if (cr == NULL)
		return -1;
	pthread_mutex_lock(&lock);
	oldest = newest = cr;
	pthread_mutex_unlock(&lock);
	log_info("tls: serving %s (serial %s, valid until %s)", cr->subject,
		 cr->serial, cr->not_after);
	return 0;
}

bool
tls_on(void)
{
	bool on;

	pthread_mutex_lock(&lock);
	on = newest != NULL;
	pthread_mutex_unlock(&lock);
	return on;
}

void
tls_reload(const struct config *c)
{
	char err[1024];
	struct creds *cr;
	bool same;

	if (!tls_on()) {
		if (c->tls_cert_file[0] != '\0' || c->tls_key_file[0] != '\0')
			log_warn("reload: the API listener serves plain HTTP; "
				 "turning TLS on needs a restart");
		return;
	}
	if (c->tls_cert_file[0] == '\0' && c->tls_key_file[0] == '\0') {
		log_warn("reload: the API listener serves HTTPS; turning TLS off "
			 "needs a restart, and the certificate in use is kept");
		return;
	}
	if (check_pair(c, err, sizeof(err)) != 0 ||
	    (cr = creds_load(c->tls_cert_file, c->tls_key_file, err,
			     sizeof(err))) == NULL) {
		log_error("reload: %s; the certificate in use is kept", err);
		return;
	}
	pthread_mutex_lock(&lock);
	same = same_datum(&cr->cert_pem, &newest->cert_pem) &&
	       same_datum(&cr->key_pem, &newest->key_pem);
	if (!same) {
		newest->newer = cr;
		newest = cr;
		collect();
	}
	pthread_mutex_unlock(&lock);
	if (same) {
		log_info("reload: the TLS certificate and key are unchanged");
		creds_free(cr);
		return;
	}
	/* cr stays valid: it is the newest until the next reload, on this
	 * thread */
	log_info("tls: serving %s (serial %s, valid until %s) to new "
		 "connections; open ones keep theirs", cr->subject, cr->serial,
		 cr->not_after);
}

int
tls_certificate(gnutls_session_t session, const gnutls_datum_t *req_ca_dn,
		int nreqs, const gnutls_pk_algorithm_t *pk_algos,
		int pk_algos_length, gnutls_pcert_st **pcert,
		unsigned int *pcert_length, gnutls_privkey_t *privkey)
{
	struct creds *c;

	(void)session;
	(void)req_ca_dn;
	(void)nreqs;
	(void)pk_algos;
	(void)pk_algos_length;
	/* the connection pinned this one or an older one when it opened,
	 * so c outlives the handshake */
	pthread_mutex_lock(&lock);
	c = newest;
	pthread_mutex_unlock(&lock);
	if (c == NULL)
		return -1;
	*pcert = c->chain;
	*pcert_length = c->nchain;
	*privkey = c->key;
	return 0;
}

void *
tls_connection_begin(void)
{
	struct creds *c;

	pthread_mutex_lock(&lock);
	c = newest;
	if (c != NULL)
		c->pins++;
	pthread_mutex_unlock(&lock);
	return c;
}

void
tls_connection_end(void *pin)
{
	struct creds *c = pin;

	if (c == NULL)
		return;
	pthread_mutex_lock(&lock);
	c->pins--;
	collect();
	pthread_mutex_unlock(&lock);
}

void
tls_stop(void)
{
	pthread_mutex_lock(&lock);
	while (oldest != NULL) {
		struct creds *c = oldest;

		oldest = c->newer;
		creds_free(c);
	}
	newest = NULL;
	pthread_mutex_unlock(&lock);
}
