/* Storage maintenance: a new partition every partition_interval, old ones dropped once past the retention. */
#ifndef HERALD_PARTITION_H
#define HERALD_PARTITION_H

struct partition;

/* Start the maintenance thread on its own connection: every instance
 * runs one, and one at a time does the work.  interval_s: the width of
 * a partition in seconds; retention_s: how long a partition is kept once
 * closed and clear (0: for ever).  NULL (logged) when it cannot start. */
struct partition *partition_start(const char *url, long interval_s,
				  long retention_s);

/* Stop and free (NULL is fine). */
void partition_stop(struct partition *p);

#endif
