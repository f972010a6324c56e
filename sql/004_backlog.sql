-- herald migration 004: an index of pending deliveries for the backlog gauges.
--
-- The metrics' backlog sampler (src/backlog.c) counts, every few seconds,
-- the pending deliveries of each subscription, due and not yet due, and
-- finds the oldest due one.  delivery_due holds only the ready ones (a
-- key's head), and delivery_key lacks next_attempt_at: either would make
-- it read far more.  This index holds every pending delivery with the
-- two columns the sampler reads, and nothing else: a finished delivery's
-- entry goes at the next vacuum, so the sampler's scan follows the
-- backlog, not the history of delivered ones.
CREATE INDEX delivery_pending ON delivery (subscription_id, next_attempt_at)
    WHERE state = 'pending';
