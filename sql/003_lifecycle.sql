-- herald migration 003: one home for every change to a delivery.
--
-- A delivery is 'pending', 'succeeded' or 'failed' (src/delivery.c names
-- them for the C side).  Order per key rests on one rule: a (subscription,
-- ordering key) with pending deliveries has exactly one of them `ready`,
-- normally its oldest, and only a ready delivery is sent.  Every statement
-- that sets delivery.state or delivery.ready is one of the functions
-- below or in 002 (herald_promote_heads, herald_dispatch_writeback); the C
-- code calls them and writes no such statement of its own.  Each keeps
-- the rule while holding the advisory locks of the keys it touches, taken
-- in ascending order, as every herald transaction takes them (key_locks:
-- their ids, from src/keyhead.c, ascending and distinct).

-- What the dispatcher may send: pending and ready.  Its fetch and sweep
-- read this view; the partial index delivery_due covers it.
CREATE VIEW delivery_ready AS
    SELECT * FROM delivery WHERE state = 'pending' AND ready;

-- Take the keys' locks (see above).
CREATE FUNCTION herald_lock_keys(key_locks bigint[])
RETURNS void LANGUAGE sql AS $$
    SELECT count(pg_advisory_xact_lock(k)) FROM unnest(key_locks) AS k;
$$;

-- The deliveries of newly ingested events (the writer, in the group's
-- transaction, with the keys already locked: it locks them before the
-- events draw their seqs).  A row is ready when unordered, or when it is
-- the group's first of its key (first) and the key has nothing pending.
CREATE FUNCTION herald_delivery_insert(subs text[], seqs bigint[],
                                       keys text[], parts integer[],
                                       first boolean[])
RETURNS void LANGUAGE sql AS $$
    INSERT INTO delivery (subscription_id, seq, ordering_key, part, ready)
    SELECT u.s::uuid, u.q, u.k, u.p,
           u.k IS NULL OR (u.f AND NOT EXISTS (
               SELECT 1 FROM delivery d
                WHERE d.subscription_id = u.s::uuid AND d.ordering_key = u.k
                  AND d.state = 'pending'))
      FROM unnest(subs, seqs, keys, parts, first) AS u(s, q, k, p, f);
$$;

-- Send one finished delivery again.  It is ready unless another delivery
-- of its key is pending (which holds the head, or will be promoted
-- first).  key is the one read with the row: if a replay changed it
-- meanwhile, nothing is done.  true when it was re-queued.
CREATE FUNCTION herald_delivery_retry(sub uuid, q bigint, key text,
                                      key_locks bigint[])
RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    done boolean;
BEGIN
    PERFORM herald_lock_keys(key_locks);
    UPDATE delivery d
       SET state = 'pending', attempts = 0, next_attempt_at = now(),
           updated_at = now(),
           ready = d.ordering_key IS NULL OR NOT EXISTS (
               SELECT 1 FROM delivery o
                WHERE o.subscription_id = d.subscription_id
                  AND o.ordering_key = d.ordering_key
                  AND o.state = 'pending' AND o.seq <> d.seq)
     WHERE d.subscription_id = sub AND d.seq = q AND d.state <> 'pending'
       AND d.ordering_key IS NOT DISTINCT FROM key;
    done := FOUND;
    IF done THEN
        PERFORM pg_notify('herald_event', sub::text);
    END IF;
    RETURN done;
END
$$;

-- After deliveries of a subscription were put back in line: make each
-- key's oldest pending one ready (unless one already is), and tell the
-- dispatchers.
CREATE FUNCTION herald_requeued(sub uuid, keys text[])
RETURNS void LANGUAGE sql AS $$
    SELECT herald_promote_heads(array_fill(sub::text, ARRAY[cardinality(keys)]),
                                keys);
    SELECT pg_notify('herald_event', sub::text);
$$;

-- Re-queue failed deliveries of one subscription (seqs with the keys
-- read with them).  Unordered ones are ready at once; ordered ones wait
-- for herald_promote_heads.  Returns how many were re-queued.
CREATE FUNCTION herald_delivery_requeue_failed(sub uuid, seqs bigint[],
                                               keys text[],
                                               key_locks bigint[])
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    PERFORM herald_lock_keys(key_locks);
    UPDATE delivery d
       SET state = 'pending', attempts = 0, next_attempt_at = now(),
           updated_at = now(), ready = d.ordering_key IS NULL
      FROM unnest(seqs, keys) AS u(q, k)
     WHERE d.subscription_id = sub AND d.seq = u.q AND d.state = 'failed'
       AND d.ordering_key IS NOT DISTINCT FROM u.k;
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        PERFORM herald_requeued(sub, keys);
    END IF;
    RETURN n;
END
$$;

-- Deliver stored events to a subscription again (replay), each under the
-- key and partition the subscription's current ordering gives it.  A new
-- row is inserted; a finished one is sent again; a pending one is left
-- alone and not counted.  Returns how many were (re-)queued.
CREATE FUNCTION herald_delivery_replay(sub uuid, seqs bigint[], keys text[],
                                       parts integer[], key_locks bigint[])
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    PERFORM herald_lock_keys(key_locks);
    INSERT INTO delivery AS d (subscription_id, seq, ordering_key, part,
                               ready)
    SELECT sub, u.q, u.k, u.p, u.k IS NULL
      FROM unnest(seqs, keys, parts) AS u(q, k, p)
    ON CONFLICT (subscription_id, seq) DO UPDATE
       SET state = 'pending', attempts = 0, next_attempt_at = now(),
           updated_at = now(), ordering_key = EXCLUDED.ordering_key,
           part = EXCLUDED.part, ready = EXCLUDED.ordering_key IS NULL
     WHERE d.state <> 'pending';
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        PERFORM herald_requeued(sub, keys);
    END IF;
    RETURN n;
END
$$;
