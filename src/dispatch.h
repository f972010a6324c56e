/* The dispatcher: one thread driving a libcurl multi handle that delivers the pending work of the partitions this instance owns. */
#ifndef HERALD_DISPATCH_H
#define HERALD_DISPATCH_H

#include "config.h"

struct dispatch;

/* Connect, take partitions and start the thread; NULL with a logged
 * reason. */
struct dispatch *dispatch_start(const struct config *cfg);

/* Start nothing new, let requests in flight finish (up to timeout_ms),
 * record their outcomes, hand back the rest, stop and free. */
void dispatch_stop(struct dispatch *d, int timeout_ms);

#endif
