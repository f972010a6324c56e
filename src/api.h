/* The HTTP API: a libmicrohttpd daemon serving a route table. */
#ifndef HERALD_API_H
#define HERALD_API_H

#include <stddef.h>

#include "config.h"
#include "writer.h"

struct api;
struct api_route;

/* Listen on cfg->listen and serve the nroutes routes, with
 * cfg->db_pool_size database workers.  NULL with a logged reason. */
struct api *api_start(const struct config *cfg, struct writer *writer,
		      const struct api_route *routes, size_t nroutes);

/* A listening socket on "host:port" or "[v6]:port" (SO_REUSEADDR,
 * close-on-exec); -1 with a logged reason. */
int api_listen_socket(const char *listen_spec);

/* Stop accepting new connections (the first shutdown step). */
void api_quiesce(struct api *a);

/* Wait up to timeout_ms for requests in progress to be answered. */
void api_wait_idle(struct api *a, int timeout_ms);

/* Stop the daemon and free it (after the writer has drained). */
void api_stop(struct api *a);

#endif
