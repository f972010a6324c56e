-- herald migration 008: consumer groups.
--
-- A subscription with "sinks" sends each delivery to one of them, the
-- member being chosen by the dispatcher when the delivery is sent (never
-- stored ahead).  What is stored is where each attempt went: attempt.sink,
-- and on the delivery the member of its last attempt, delivery.last_sink;
-- both NULL for a subscription with one sink.  Adding nullable columns
-- without a default rewrites nothing.
ALTER TABLE attempt ADD COLUMN sink text;
ALTER TABLE delivery ADD COLUMN last_sink text;

-- herald_dispatch_writeback as in 005, with r_sink: the member each
-- attempt went to (NULL: the subscription's one sink).
CREATE FUNCTION herald_dispatch_writeback(
    r_sub text[], r_seq bigint[], r_state text[], r_attempts integer[],
    r_delay bigint[], r_status integer[], r_error text[], r_at bigint[],
    r_latency integer[], r_head text[], r_sink text[], gone text[],
    key_locks bigint[], key_sub text[], key_key text[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
    failed bigint;
BEGIN
    -- every herald transaction takes key locks in ascending order
    PERFORM count(pg_advisory_xact_lock(k)) FROM unnest(key_locks) AS k;

    WITH w AS (
        UPDATE delivery d
           SET state = u.st, attempts = u.a,
               next_attempt_at = now() + u.dl * interval '1 millisecond',
               last_status = u.code, last_error = u.err, last_sink = u.sk,
               updated_at = now()
          FROM unnest(r_sub, r_seq, r_state, r_attempts, r_delay, r_status,
                      r_error, r_sink) AS u(s, q, st, a, dl, code, err, sk)
         WHERE d.subscription_id = u.s::uuid AND d.seq = u.q
     RETURNING d.subscription_id, d.seq, d.state, d.attempts,
               d.last_status, d.last_error)
    INSERT INTO opevent (kind, subscription_id, seq, event_source, event_id,
                         event_type, attempts, last_status, last_error)
    SELECT 'delivery.failed', w.subscription_id, w.seq, e.source, e.id,
           e.type, w.attempts, w.last_status, w.last_error
      FROM w JOIN event e ON e.seq = w.seq
     WHERE w.state = 'failed' AND e.source <> '/herald'
     ORDER BY w.subscription_id, w.seq;
    GET DIAGNOSTICS failed = ROW_COUNT;

    -- (a delivery deleted meanwhile, with its subscription, logs nothing)
    INSERT INTO attempt (subscription_id, seq, at, status, latency_ms,
                         error, response_head, sink)
    SELECT u.s::uuid, u.q, to_timestamp(u.t / 1000.0), u.code, u.ms, u.err,
           u.head, u.sk
      FROM unnest(r_sub, r_seq, r_at, r_status, r_latency, r_error, r_head,
                  r_sink) AS u(s, q, t, code, ms, err, head, sk)
     WHERE EXISTS (SELECT 1 FROM delivery d
                    WHERE d.subscription_id = u.s::uuid AND d.seq = u.q);

    PERFORM herald_promote_heads(key_sub, key_key);

    -- one herald.subscription.disabled per subscription disabled, with
    -- the delivery that met the 410 (its first in this batch)
    WITH s AS (
        UPDATE subscription
           SET status = 'disabled', status_reason = 'the sink answered 410 Gone',
               updated_at = now()
         WHERE id = ANY (gone::uuid[]) AND status = 'active'
     RETURNING id, status_reason),
    o AS (
        INSERT INTO opevent (kind, subscription_id, seq, event_source,
                             event_id, event_type, attempts, last_status,
                             last_error, reason)
        SELECT 'subscription.disabled', s.id, g.q, e.source, e.id, e.type,
               g.a, g.code, g.err, s.status_reason
          FROM s
          LEFT JOIN LATERAL (
              SELECT u.q, u.a, u.code, u.err
                FROM unnest(r_sub, r_seq, r_attempts, r_status, r_error)
                     AS u(sid, q, a, code, err)
               WHERE u.sid::uuid = s.id AND u.code = 410
               ORDER BY u.q LIMIT 1) g ON true
          LEFT JOIN event e ON e.seq = g.q
         ORDER BY s.id)
    SELECT count(pg_notify('herald_subscription', s.id::text)) INTO n FROM s;

    -- the drainers learn at commit that there is something to publish
    IF failed + n > 0 THEN
        PERFORM pg_notify('herald_opevent', '');
    END IF;
END
$$;

-- The previous signature, for instances of the previous version still
-- running during an upgrade: the same write, with no member recorded.
CREATE OR REPLACE FUNCTION herald_dispatch_writeback(
    r_sub text[], r_seq bigint[], r_state text[], r_attempts integer[],
    r_delay bigint[], r_status integer[], r_error text[], r_at bigint[],
    r_latency integer[], r_head text[], gone text[],
    key_locks bigint[], key_sub text[], key_key text[])
RETURNS void LANGUAGE sql AS $$
    SELECT herald_dispatch_writeback(r_sub, r_seq, r_state, r_attempts,
                                     r_delay, r_status, r_error, r_at,
                                     r_latency, r_head, '{}'::text[], gone,
                                     key_locks, key_sub, key_key);
$$;
