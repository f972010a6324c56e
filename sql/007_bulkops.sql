-- herald migration 007: bulk operations (replay, requeue of failed
-- deliveries) as background work.
--
-- A replay over a long history used to run inside its HTTP request.  Now
-- the request records an operation here and answers at once; a runner
-- thread (src/bulkop.c) works through it in chunks, each its own short
-- transaction that calls herald_delivery_replay or
-- herald_delivery_requeue_failed (sql/003, under the keys' locks) and
-- commits the operation's progress (cursor, selected, enqueued) with the
-- deliveries it re-queued.  After a crash or a restart an operation goes
-- on from its cursor: nothing is re-queued twice by one operation.
--
-- kind 'replay' (params {"from_seq": N} or {"since": "<time>"}) or
-- 'requeue_failed' (params {"state": "failed"}).  The operation covers
-- seqs in (cursor, upper_seq]: upper_seq is the newest seq when it was
-- created.  state:
--   queued       recorded, no runner has taken it yet
--   running      a runner works on it (or did, and died: another one
--                takes it over)
--   interrupted  its runner stopped (SIGTERM) between two chunks; the next
--                runner to look resumes it
--   succeeded    every chunk done
--   failed       stopped by an error (error says which)
--   cancelled    cancelled through the API between two chunks; what was
--                re-queued before stays re-queued
CREATE TABLE bulk_operation (
    id              bigserial PRIMARY KEY,
    subscription_id uuid NOT NULL
                    REFERENCES subscription (id) ON DELETE CASCADE,
    kind            text NOT NULL CHECK (kind IN ('replay', 'requeue_failed')),
    params          jsonb NOT NULL,
    state           text NOT NULL DEFAULT 'queued'
                    CHECK (state IN ('queued', 'running', 'interrupted',
                                     'succeeded', 'failed', 'cancelled')),
    cursor          bigint NOT NULL,
    upper_seq       bigint NOT NULL,
    since           timestamptz,
    selected        bigint NOT NULL DEFAULT 0,
    enqueued        bigint NOT NULL DEFAULT 0,
    error           text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    finished_at     timestamptz
);
-- a subscription's operations, newest first
CREATE INDEX bulk_operation_sub ON bulk_operation (subscription_id, id);
-- what the runners look for
CREATE INDEX bulk_operation_active ON bulk_operation (id)
    WHERE state IN ('queued', 'running', 'interrupted');

-- Record an operation unless the subscription (the tenant's, or any for
-- NULL) has cap unfinished ones already.  The subscription's row lock
-- (FOR NO KEY UPDATE: it does not hold back the inserts of deliveries)
-- makes two concurrent creations count one after the other.  Returns the
-- new id; 0 when there is no such subscription; -1 at the cap.
CREATE FUNCTION herald_bulkop_create(sub uuid, owner bigint, op_kind text,
                                     op_params jsonb, op_cursor bigint,
                                     op_since timestamptz, cap integer)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    new_id bigint;
BEGIN
    PERFORM 1 FROM subscription s
      WHERE s.id = sub AND (owner IS NULL OR s.tenant = owner)
      FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    IF (SELECT count(*) FROM bulk_operation o
         WHERE o.subscription_id = sub
           AND o.state IN ('queued', 'running', 'interrupted')) >= cap THEN
        RETURN -1;
    END IF;
    INSERT INTO bulk_operation (subscription_id, kind, params, cursor,
                                upper_seq, since)
    VALUES (sub, op_kind, op_params, op_cursor,
            coalesce((SELECT max(seq) FROM event), 0), op_since)
    RETURNING id INTO new_id;
    PERFORM pg_notify('herald_bulkop', new_id::text);
    RETURN new_id;
END
$$;

-- Take the oldest unfinished operation no other runner holds: a session
-- advisory lock on it (namespace 'bulk'), kept until the runner lets it
-- go or its session ends.  NULL when there is none.
CREATE FUNCTION herald_bulkop_claim()
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    o bigint;
BEGIN
    FOR o IN SELECT id FROM bulk_operation
              WHERE state IN ('queued', 'running', 'interrupted')
              ORDER BY id LOOP
        IF pg_try_advisory_lock(1651862635, (o % 2147483648)::integer) THEN
            -- another runner may have finished it since the loop's read
            IF EXISTS (SELECT 1 FROM bulk_operation
                        WHERE id = o
                          AND state IN ('queued', 'running', 'interrupted'))
            THEN
                RETURN o;
            END IF;
            PERFORM pg_advisory_unlock(1651862635, (o % 2147483648)::integer);
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

-- After deliveries of a subscription were put back in line: make each
-- key's oldest pending one ready (unless one already is), and tell the
-- dispatchers.  Replaces 003's, which gave herald_promote_heads the keys
-- as passed, one per delivery: a chunk of 500 deliveries of one key
-- joined 500 times with every pending delivery of that key, a cost that
-- grew with each chunk of a long replay.  Here each key is looked at
-- once, its head read from delivery_key.
CREATE OR REPLACE FUNCTION herald_requeued(sub uuid, keys text[])
RETURNS void LANGUAGE sql AS $$
    UPDATE delivery d SET ready = true
      FROM (SELECT DISTINCT u.k FROM unnest(keys) AS u(k)
             WHERE u.k IS NOT NULL) u,
           LATERAL (SELECT p.seq FROM delivery p
                     WHERE p.subscription_id = sub AND p.ordering_key = u.k
                       AND p.state = 'pending'
                     ORDER BY p.seq LIMIT 1) h
     WHERE d.subscription_id = sub AND d.seq = h.seq AND NOT d.ready
       AND NOT EXISTS (SELECT 1 FROM delivery r
                        WHERE r.subscription_id = sub
                          AND r.ordering_key = u.k
                          AND r.state = 'pending' AND r.ready);
    SELECT pg_notify('herald_event', sub::text);
$$;
