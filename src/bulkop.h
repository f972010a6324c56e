/* Bulk operations (replay, requeue of failed deliveries): the runner thread that works through them in chunks. */
#ifndef HERALD_BULKOP_H
#define HERALD_BULKOP_H

/* Unfinished (queued, running, interrupted) operations one subscription
 * may have; a request for another is refused (409). */
#define BULKOP_MAX_ACTIVE 2
/* Seqs looked at per chunk, each chunk its own transaction. */
#define BULKOP_CHUNK 500

struct bulkop;

/* Start the runner on its own connection to url; NULL with a logged
 * reason. */
struct bulkop *bulkop_start(const char *url);

/* Ask the runner to stop between two chunks, without waiting. */
void bulkop_quit(struct bulkop *b);

/* Stop it (the chunk in progress commits or rolls back first; the
 * operation is left interrupted, to resume at the next start) and free.
 * NULL is ignored. */
void bulkop_stop(struct bulkop *b);

#endif
