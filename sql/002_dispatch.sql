-- herald migration 002: a lighter write path for the dispatcher.
--
-- The dispatcher writes the outcomes of many attempts at once.  Done as
-- one function call, it is one round trip and one implicit transaction,
-- and the dispatcher keeps delivering while PostgreSQL works on it.

-- Taking a delivery into a dispatcher's memory writes nothing.  The
-- partition's owner is alone to fetch its deliveries, and leaves out of
-- each fetch those it holds already; when it dies, what it held is simply
-- pending for the next owner.  The `claimed` mark (a row version and four
-- index entries per delivery) goes.
DROP INDEX delivery_due;
ALTER TABLE delivery DROP COLUMN claimed;
CREATE INDEX delivery_due ON delivery (subscription_id, next_attempt_at)
    WHERE state = 'pending' AND ready;

-- The attempt log needs no foreign key: it is written only for
-- deliveries that exist (herald_dispatch_writeback checks), and the
-- per-row check locked each delivery row once more.  What the cascade did
-- for a deleted subscription, a statement trigger does.  It runs after
-- the delete has waited out any write-back holding those deliveries, in a
-- snapshot that sees that write-back's attempts.
ALTER TABLE attempt DROP CONSTRAINT attempt_subscription_id_seq_fkey;
CREATE FUNCTION attempt_forget_subscriptions() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM attempt a USING gone g WHERE a.subscription_id = g.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER subscription_forget_attempts AFTER DELETE ON subscription
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION attempt_forget_subscriptions();

-- Make the oldest pending delivery of each (subscription, key) ready,
-- unless one of its key already is.  The caller holds the keys' locks.
CREATE FUNCTION herald_promote_heads(subs text[], keys text[])
RETURNS void LANGUAGE sql AS $$
    UPDATE delivery d SET ready = true
      FROM (SELECT DISTINCT ON (p.subscription_id, p.ordering_key)
                   p.subscription_id, p.ordering_key, p.seq
              FROM delivery p
              JOIN unnest(subs, keys) AS u(s, k)
                ON p.subscription_id = u.s::uuid AND p.ordering_key = u.k
             WHERE p.state = 'pending'
             ORDER BY p.subscription_id, p.ordering_key, p.seq) h
     WHERE d.subscription_id = h.subscription_id AND d.seq = h.seq
       AND NOT d.ready
       AND NOT EXISTS (SELECT 1 FROM delivery r
                        WHERE r.subscription_id = h.subscription_id
                          AND r.ordering_key = h.ordering_key
                          AND r.state = 'pending' AND r.ready);
$$;

-- One batch of outcomes: r_* the attempts made (new state, attempts,
-- delay to the next try in ms, HTTP status, error; and for the attempt
-- log its start in Unix ms, latency and the head of the response); gone
-- the subscriptions whose sink answered 410; key_* the keys whose head
-- moves (key_locks: their lock ids, ascending and distinct).
CREATE FUNCTION herald_dispatch_writeback(
    r_sub text[], r_seq bigint[], r_state text[], r_attempts integer[],
    r_delay bigint[], r_status integer[], r_error text[], r_at bigint[],
    r_latency integer[], r_head text[], gone text[],
    key_locks bigint[], key_sub text[], key_key text[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    -- every herald transaction takes key locks in ascending order
    PERFORM count(pg_advisory_xact_lock(k)) FROM unnest(key_locks) AS k;

    UPDATE delivery d
       SET state = u.st, attempts = u.a,
           next_attempt_at = now() + u.dl * interval '1 millisecond',
           last_status = u.code, last_error = u.err, updated_at = now()
      FROM unnest(r_sub, r_seq, r_state, r_attempts, r_delay, r_status,
                  r_error) AS u(s, q, st, a, dl, code, err)
     WHERE d.subscription_id = u.s::uuid AND d.seq = u.q;

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

    WITH s AS (
        UPDATE subscription
           SET status = 'disabled', status_reason = 'the sink answered 410 Gone',
               updated_at = now()
         WHERE id = ANY (gone::uuid[]) AND status = 'active'
     RETURNING id)
    SELECT count(pg_notify('herald_subscription', s.id::text)) INTO n FROM s;
END
$$;
