/* The metrics listener (metrics_listen): GET /metrics without a key, nothing else. */
#ifndef HERALD_METRICS_LISTEN_H
#define HERALD_METRICS_LISTEN_H

struct metrics_listen;

/* Listen on "host:port" (as the API's listen) and serve GET /metrics there;
 * NULL with a logged reason. */
struct metrics_listen *metrics_listen_start(const char *listen_spec);

/* Stop listening and free it; NULL is fine. */
void metrics_listen_stop(struct metrics_listen *m);

#endif
