-- herald migration 005: operational events, recorded with what causes them.
--
-- herald publishes CloudEvents about its own deliveries (source /herald):
-- a delivery given up after its last attempt, a subscription disabled by
-- a 410, a subscription's backlog reaching a threshold.  Each is written
-- to the outbox table opevent in the same transaction as the change it
-- reports, so neither can be lost without the other.  herald drains the
-- outbox (src/outbox.c): it ingests the rows as ordinary events, whose id
-- is derived from the row, then deletes them; a drain cut short by a crash
-- ingests the same ids again, and deduplication on (source, id) drops
-- them.  The facts are stored raw; src/opevent.c turns them into events.

-- kind: 'delivery.failed', 'subscription.disabled' or
-- 'subscription.backlog'.  No foreign key: a subscription deleted after
-- the fact is still reported.
CREATE TABLE opevent (
    id              bigserial PRIMARY KEY,
    kind            text NOT NULL
                    CHECK (kind IN ('delivery.failed', 'subscription.disabled',
                                    'subscription.backlog')),
    subscription_id uuid NOT NULL,
    seq             bigint,  -- the delivery's event (failed, disabled)
    event_source    text,
    event_id        text,
    event_type      text,
    attempts        integer,
    last_status     integer,
    last_error      text,
    reason          text,    -- disabled: why
    backlog         bigint,  -- backlog: pending deliveries, and the
    threshold       bigint,  -- threshold they reached
    at              timestamptz NOT NULL DEFAULT now()
);

-- Which subscriptions are above their backlog threshold now, so that
-- herald.subscription.backlog is sent once per crossing, whichever
-- instance samples.
CREATE TABLE backlog_alert (
    subscription_id uuid PRIMARY KEY
                    REFERENCES subscription (id) ON DELETE CASCADE,
    above           boolean NOT NULL
);

-- herald_dispatch_writeback as in 002, and in the same transaction the
-- operational events its changes cause: herald.delivery.failed for each
-- delivery it marks failed, unless that delivery carried an operational
-- event itself (one about a delivery of one would never end), and
-- herald.subscription.disabled for each subscription it disables.
CREATE OR REPLACE FUNCTION herald_dispatch_writeback(
    r_sub text[], r_seq bigint[], r_state text[], r_attempts integer[],
    r_delay bigint[], r_status integer[], r_error text[], r_at bigint[],
    r_latency integer[], r_head text[], gone text[],
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
               last_status = u.code, last_error = u.err, updated_at = now()
          FROM unnest(r_sub, r_seq, r_state, r_attempts, r_delay, r_status,
                      r_error) AS u(s, q, st, a, dl, code, err)
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
                         error, response_head)
    SELECT u.s::uuid, u.q, to_timestamp(u.t / 1000.0), u.code, u.ms, u.err,
           u.head
      FROM unnest(r_sub, r_seq, r_at, r_status, r_latency, r_error, r_head)
           AS u(s, q, t, code, ms, err, head)
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

-- A subscription's pending backlog, as sampled: when it reaches
-- threshold (> 0) from below, record herald.subscription.backlog; when
-- it falls below again, arm the next one.  true when an event was
-- recorded.  Several instances may sample: the row lock of backlog_alert
-- makes one crossing one event.
CREATE FUNCTION herald_opevent_backlog(sub uuid, pending bigint,
                                       threshold bigint)
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    was boolean;
    reached boolean := threshold > 0 AND pending >= threshold;
BEGIN
    INSERT INTO backlog_alert (subscription_id, above)
    SELECT sub, false WHERE EXISTS (SELECT 1 FROM subscription WHERE id = sub)
    ON CONFLICT (subscription_id) DO NOTHING;
    SELECT b.above INTO was FROM backlog_alert b
     WHERE b.subscription_id = sub FOR UPDATE;
    IF NOT FOUND OR was = reached THEN
        RETURN false;
    END IF;
    UPDATE backlog_alert b SET above = reached
     WHERE b.subscription_id = sub;
    IF NOT reached THEN
        RETURN false;
    END IF;
    INSERT INTO opevent (kind, subscription_id, backlog, threshold)
    VALUES ('subscription.backlog', sub, pending, threshold);
    PERFORM pg_notify('herald_opevent', '');
    RETURN true;
END
$$;
