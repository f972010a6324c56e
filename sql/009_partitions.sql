-- herald migration 009: event, delivery and attempt in partitions by seq
-- range, one opened every partition_interval, dropped whole once the
-- retention has passed and nothing in them is pending.
--
-- Why seq ranges, opened by time.  Every lookup the dispatcher and the
-- API make names a seq, so each reaches exactly one partition, and the
-- keys stay as they were: event (seq), delivery (subscription_id, seq).
-- A partition covers 2^32 seqs.  Maintenance (herald_partition_maintain,
-- run by one instance at a time) opens the next one when the head has
-- been open for partition_interval, by moving the seq sequence on to the
-- next partition's first value: each partition then holds the events of
-- one interval, their deliveries and their attempts.  (Should 2^32 events
-- arrive within one interval, the sequence simply runs on into the next
-- partition, which always exists ahead.)  seq still only grows; it jumps
-- at each new partition.
--
-- Why partitions.  Removing old data is a DROP TABLE of one partition of
-- each table: its cost does not grow with the data and it leaves nothing
-- to vacuum.  No row of the bulk of the data is ever deleted one by one.
--
-- Identity.  PostgreSQL enforces UNIQUE only within a partition when the
-- partition key is not part of it, so (source, id) is unique per
-- partition, and herald_event_insert makes it unique across them: under a
-- transaction advisory lock per identity, it inserts an event only if no
-- partition holds its identity.  A duplicate is recognised as long as the
-- original is stored.
--
-- The data already stored becomes partition 0 as it is: its tables are
-- renamed and attached, their indexes and constraints kept.  Attaching
-- reads each of the three tables once to check its bounds.  Instances of
-- the previous release cannot insert events into the new layout (their
-- ON CONFLICT names a constraint the parent does not have): stop them
-- before upgrading, as the README says.

-- what depends on the tables' identities rather than their names
DROP VIEW delivery_ready;
ALTER TABLE delivery DROP CONSTRAINT delivery_seq_fkey;

-- the stored data becomes partition 0
ALTER TABLE event RENAME TO event_p0;
ALTER INDEX event_pkey RENAME TO event_p0_pkey;
ALTER INDEX event_source_id_key RENAME TO event_p0_source_id_key;
ALTER INDEX event_type_seq RENAME TO event_p0_type_seq;
ALTER INDEX event_received_at RENAME TO event_p0_received_at;
ALTER INDEX event_source_seq RENAME TO event_p0_source_seq;
ALTER INDEX event_opevent_subject RENAME TO event_p0_opevent_subject;

ALTER TABLE delivery RENAME TO delivery_p0;
ALTER INDEX delivery_pkey RENAME TO delivery_p0_pkey;
ALTER INDEX delivery_due RENAME TO delivery_p0_due;
ALTER INDEX delivery_key RENAME TO delivery_p0_key;
ALTER INDEX delivery_pending RENAME TO delivery_p0_pending;
ALTER INDEX delivery_seq RENAME TO delivery_p0_seq;
ALTER INDEX delivery_state RENAME TO delivery_p0_state;

ALTER TABLE attempt RENAME TO attempt_p0;
ALTER INDEX attempt_pkey RENAME TO attempt_p0_pkey;
ALTER INDEX attempt_delivery RENAME TO attempt_p0_delivery;

-- the partitioned tables, with the indexes every partition gets
CREATE TABLE event (LIKE event_p0 INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
    PARTITION BY RANGE (seq);
ALTER TABLE event ADD PRIMARY KEY (seq);
CREATE INDEX event_type_seq ON event (type, seq);
CREATE INDEX event_received_at ON event (received_at);
CREATE INDEX event_source_seq ON event (source text_pattern_ops, seq);
CREATE INDEX event_opevent_subject ON event ((attrs ->> 'subject'), seq)
    WHERE source = '/herald';
ALTER SEQUENCE event_seq_seq OWNED BY event.seq;

CREATE TABLE delivery (LIKE delivery_p0 INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
    PARTITION BY RANGE (seq);
ALTER TABLE delivery ADD PRIMARY KEY (subscription_id, seq);
ALTER TABLE delivery ADD FOREIGN KEY (subscription_id)
    REFERENCES subscription (id) ON DELETE CASCADE;
CREATE INDEX delivery_due ON delivery (subscription_id, next_attempt_at)
    WHERE state = 'pending' AND ready;
CREATE INDEX delivery_key ON delivery (subscription_id, ordering_key, seq)
    WHERE state = 'pending';
CREATE INDEX delivery_pending ON delivery (subscription_id, next_attempt_at)
    WHERE state = 'pending';
CREATE INDEX delivery_seq ON delivery (seq);
CREATE INDEX delivery_state ON delivery (subscription_id, state, seq);

-- The attempt log has no primary key: one would have to include seq, and
-- nothing looks an attempt up by its id alone.  attempt_p0 keeps its own.
CREATE TABLE attempt (LIKE attempt_p0 INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
    PARTITION BY RANGE (seq);
CREATE INDEX attempt_delivery ON attempt (subscription_id, seq, id);
ALTER SEQUENCE attempt_id_seq OWNED BY attempt.id;

CREATE VIEW delivery_ready AS
    SELECT * FROM delivery WHERE state = 'pending' AND ready;

-- The partitions, oldest first.  A partition is opened when the seq
-- sequence moves into it, and closed when the next one opens;
-- closed_xmax is the transaction horizon at that moment (a writer may
-- still commit an event it drew a seq for before).  clear_since: since
-- when nothing in it has been pending, as maintenance saw it; NULL while
-- something is, or may be.
CREATE TABLE herald_partition (
    n           integer PRIMARY KEY,
    lo          bigint NOT NULL,
    hi          bigint NOT NULL CHECK (hi > lo),
    opened_at   timestamptz,
    closed_at   timestamptz,
    closed_xmax xid8,
    clear_since timestamptz
);

DO $$
DECLARE
    top bigint := greatest((SELECT max(seq) FROM event_p0),
                           (SELECT last_value FROM event_seq_seq), 0);
    hi bigint := ((top >> 32) + 1) << 32;
BEGIN
    EXECUTE format('ALTER TABLE event ATTACH PARTITION event_p0'
                   ' FOR VALUES FROM (MINVALUE) TO (%s)', hi);
    EXECUTE format('ALTER TABLE delivery ATTACH PARTITION delivery_p0'
                   ' FOR VALUES FROM (MINVALUE) TO (%s)', hi);
    EXECUTE format('ALTER TABLE attempt ATTACH PARTITION attempt_p0'
                   ' FOR VALUES FROM (MINVALUE) TO (%s)', hi);
    INSERT INTO herald_partition (n, lo, hi, opened_at)
    VALUES (0, 0, hi, now());
END
$$;

-- Add the partition after the last one: 2^32 seqs from where it ends.
-- Each table is made apart, its bounds as a CHECK, then attached: ATTACH
-- takes a SHARE UPDATE EXCLUSIVE lock on the parent, so inserts and
-- updates go on meanwhile.  Returns the new partition's number.
CREATE FUNCTION herald_partition_add() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    last herald_partition;
    n integer;
    lo bigint;
    hi bigint;
    t text;
BEGIN
    SELECT * INTO STRICT last FROM herald_partition p
     ORDER BY p.n DESC LIMIT 1;
    n := last.n + 1;
    lo := last.hi;
    hi := last.hi + 4294967296;
    FOREACH t IN ARRAY ARRAY['event', 'delivery', 'attempt'] LOOP
        EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS'
                       ' INCLUDING CONSTRAINTS,'
                       ' CHECK (seq >= %s AND seq < %s))',
                       t || '_p' || n, t, lo, hi);
        IF t = 'event' THEN
            EXECUTE format('CREATE UNIQUE INDEX %I ON %I (source, id)',
                           'event_p' || n || '_source_id_key', 'event_p' || n);
        END IF;
        EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I'
                       ' FOR VALUES FROM (%s) TO (%s)',
                       t, t || '_p' || n, lo, hi);
    END LOOP;
    INSERT INTO herald_partition (n, lo, hi) VALUES (n, lo, hi);
    RETURN n;
END
$$;

SELECT herald_partition_add();

-- One round of maintenance (the caller holds the maintenance lock): note
-- which partition the sequence is in; open the next one when the head has
-- been open for width; keep one partition ready ahead; mark the closed
-- partitions with nothing pending.  Returns the number of the partition
-- opened, or NULL.
CREATE FUNCTION herald_partition_maintain(width interval)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    s bigint;
    head herald_partition;
    nxt herald_partition;
    p herald_partition;
    busy boolean;
    opened integer;
BEGIN
    SELECT last_value INTO s FROM event_seq_seq;
    SELECT * INTO STRICT head FROM herald_partition
     WHERE s < hi ORDER BY n LIMIT 1;
    IF head.opened_at IS NULL THEN
        UPDATE herald_partition SET opened_at = now() WHERE n = head.n
        RETURNING * INTO head;
    END IF;
    -- partitions the sequence ran past (more than 2^32 seqs in one
    -- interval) are closed like the others
    UPDATE herald_partition
       SET closed_at = now(),
           closed_xmax = pg_snapshot_xmax(pg_current_snapshot())
     WHERE n < head.n AND closed_at IS NULL;
    IF NOT EXISTS (SELECT 1 FROM herald_partition WHERE n = head.n + 1) THEN
        PERFORM herald_partition_add();
    END IF;
    IF head.opened_at + width <= now() THEN
        SELECT * INTO STRICT nxt FROM herald_partition WHERE n = head.n + 1;
        -- the sequence is still in head: moving it on only skips seqs
        PERFORM setval('event_seq_seq', nxt.lo, false);
        UPDATE herald_partition
           SET closed_at = now(),
               closed_xmax = pg_snapshot_xmax(pg_current_snapshot())
         WHERE n = head.n;
        UPDATE herald_partition SET opened_at = now() WHERE n = nxt.n;
        PERFORM herald_partition_add();
        opened := nxt.n;
    END IF;
    -- A closed partition is clear once every transaction that might still
    -- have been writing to it has ended, and none of its deliveries is
    -- pending (one index probe: delivery_pending).
    FOR p IN SELECT * FROM herald_partition
              WHERE closed_at IS NOT NULL ORDER BY n LOOP
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I'
                       ' WHERE state = ''pending'')', 'delivery_p' || p.n)
           INTO busy;
        IF busy OR pg_snapshot_xmin(pg_current_snapshot()) < p.closed_xmax
        THEN
            IF p.clear_since IS NOT NULL THEN
                UPDATE herald_partition SET clear_since = NULL
                 WHERE n = p.n;
            END IF;
        ELSIF p.clear_since IS NULL THEN
            UPDATE herald_partition SET clear_since = now() WHERE n = p.n;
        END IF;
    END LOOP;
    RETURN opened;
END
$$;

-- Drop the oldest partition that was closed and clear for keep (its
-- event, delivery and attempt tables), checking again under the lock that
-- nothing in it is pending.  The caller sets a short lock_timeout: the
-- drop holds the parents' locks only for as long as it takes.  Returns
-- the number dropped, or NULL.
CREATE FUNCTION herald_partition_drop(keep interval)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    p herald_partition;
    busy boolean;
BEGIN
    SELECT * INTO p FROM herald_partition
     WHERE closed_at <= now() - keep AND clear_since <= now() - keep
     ORDER BY n LIMIT 1 FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    LOCK TABLE event, delivery, attempt IN ACCESS EXCLUSIVE MODE;
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I'
                   ' WHERE state = ''pending'')', 'delivery_p' || p.n)
       INTO busy;
    IF busy THEN
        UPDATE herald_partition SET clear_since = NULL WHERE n = p.n;
        RETURN NULL;
    END IF;
    EXECUTE format('DROP TABLE %I, %I, %I', 'attempt_p' || p.n,
                   'delivery_p' || p.n, 'event_p' || p.n);
    DELETE FROM herald_partition WHERE n = p.n;
    RETURN p.n;
END
$$;

-- A delivery made pending again (retry, requeue, replay) makes its
-- partition busy at once, so that what it then finishes is kept for the
-- whole retention too.
CREATE FUNCTION herald_partition_busy(seqs bigint[]) RETURNS void
LANGUAGE sql AS $$
    UPDATE herald_partition p SET clear_since = NULL
     WHERE p.clear_since IS NOT NULL
       AND EXISTS (SELECT 1 FROM unnest(seqs) q
                    WHERE q >= p.lo AND q < p.hi);
$$;

-- Insert the events of one writer group whose identity no partition
-- holds; seqs are drawn in the arrays' order.  The identities' locks are
-- taken first, ascending (every writer takes them so, after its keys'
-- locks: no deadlock), and held to the end of the transaction; the
-- insert, a later statement, sees what any earlier holder committed.
-- Returns the inserted rows; the caller finds the others' seqs.
CREATE FUNCTION herald_event_insert(srcs text[], ids text[], types text[],
                                    attrs text[], kinds int2[], datas bytea[])
RETURNS TABLE (seq bigint, source text, id text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    PERFORM pg_advisory_xact_lock(1768187246, h.h) -- 'iden'
       FROM (SELECT DISTINCT hashtext(u.s || chr(31) || u.i) AS h
               FROM unnest(srcs, ids) AS u(s, i) ORDER BY 1) h;
    RETURN QUERY
    INSERT INTO event AS e (seq, source, id, type, attrs, data_kind, data)
    SELECT v.q, v.s, v.i, v.t, v.a::jsonb, v.k, v.d
      FROM (SELECT u.*, nextval('event_seq_seq') AS q
              FROM unnest(srcs, ids, types, attrs, kinds, datas)
                   WITH ORDINALITY AS u(s, i, t, a, k, d, o)
             WHERE NOT EXISTS (SELECT 1 FROM event x
                                WHERE x.source = u.s AND x.id = u.i)
             ORDER BY u.o) v
    RETURNING e.seq, e.source, e.id;
END
$$;

-- The three ways a finished delivery is made pending again, as in
-- migration 003, now also marking its partition busy.
CREATE OR REPLACE FUNCTION herald_delivery_retry(sub uuid, q bigint,
                                                 key text,
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
        PERFORM herald_partition_busy(ARRAY[q]);
        PERFORM pg_notify('herald_event', sub::text);
    END IF;
    RETURN done;
END
$$;

CREATE OR REPLACE FUNCTION herald_delivery_requeue_failed(sub uuid,
                                                          seqs bigint[],
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
        PERFORM herald_partition_busy(seqs);
        PERFORM herald_requeued(sub, keys);
    END IF;
    RETURN n;
END
$$;

CREATE OR REPLACE FUNCTION herald_delivery_replay(sub uuid, seqs bigint[],
                                                  keys text[],
                                                  parts integer[],
                                                  key_locks bigint[])
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
        PERFORM herald_partition_busy(seqs);
        PERFORM herald_requeued(sub, keys);
    END IF;
    RETURN n;
END
$$;
