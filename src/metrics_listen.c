/* The metrics listener (metrics_listen): GET /metrics without a key, nothing else. */
#include "metrics_listen.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "api.h"
#include "log.h"
#include "metrics.h"
#include "xalloc.h"

/* Prometheus scrapes one request at a time; a few more for people. */
#define METRICS_CONNECTIONS 16
#define METRICS_TIMEOUT_S 10

/* Prometheus's text format, version 0.0.4 (as GET /metrics on the API). */
#define EXPOSITION "text/plain; version=0.0.4; charset=utf-8"

/* The daemon's one thread answers every request at once: a scrape reads
 * atomics and the last backlog sample, and never waits for PostgreSQL. */
struct metrics_listen {
	struct MHD_Daemon *daemon;
	int fd;
};

static enum MHD_Result
reply(struct MHD_Connection *conn, unsigned status, const char *type,
      char *body)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(strlen(body), body,
					       MHD_RESPMEM_MUST_FREE);
	if (resp == NULL) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url,
	   const char *method, const char *version, const char *upload_data,
	   size_t *upload_data_size, void **con_cls)
{
	(void)cls;
	(void)version;
	(void)upload_data;
	(void)con_cls;
	*upload_data_size = 0; /* a body is not read */
	if (strcmp(url, "/metrics") != 0)
		return reply(conn, MHD_HTTP_NOT_FOUND, "application/json",
			     xstrdup("{\"error\":\"not_found\",\"message\":"
				     "\"this address serves only GET /metrics\"}"));
	if (strcmp(method, "GET") != 0)
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
			     "application/json",
			     xstrdup("{\"error\":\"method_not_allowed\",\"message\":"
				     "\"only GET is supported on /metrics\"}"));
	return reply(conn, MHD_HTTP_OK, EXPOSITION, metrics_render());
}

struct metrics_listen *
metrics_listen_start(const char *listen_spec)
{
	struct metrics_listen *m = xcalloc(1, sizeof(*m));

	m->fd = api_listen_socket(listen_spec);
	if (m->fd < 0) {
		free(m);
		return NULL;
	}
	m->daemon = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
		MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, NULL,
		MHD_OPTION_LISTEN_SOCKET, (MHD_socket)m->fd,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)METRICS_CONNECTIONS,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)METRICS_TIMEOUT_S,
		MHD_OPTION_END);
	if (m->daemon == NULL) {
		log_error("cannot start the metrics listener on %s", listen_spec);
		close(m->fd);
		free(m);
		return NULL;
	}
	log_info("metrics on %s", listen_spec);
	return m;
}

void
metrics_listen_stop(struct metrics_listen *m)
{
	if (m == NULL)
		return;
	/* closes the listening socket too */
	MHD_stop_daemon(m->daemon);
	free(m);
}
