-- herald migration 010: compaction of old partitions that a few pending
-- deliveries keep.
--
-- A partition past the retention is dropped only once nothing in it is
-- pending (009), so a subscription paused for weeks would keep every
-- partition since, with all the other subscriptions' finished deliveries
-- in them.  Compaction replaces such a partition by one holding only what
-- must stay: the pending deliveries, those finished within the retention,
-- their events and their attempts.  The seqs do not change (the new
-- tables take the same range), so order per key and identities hold.
--
-- It reads the old partition first, blocking no one, for what stays; then,
-- under the parents' locks (the caller's lock_timeout bounds the wait),
-- copies that, swaps the tables and drops the old ones.  Only the copy of
-- what stays happens under the locks, so a partition is compacted only
-- when that is small (max_kept) and at most half of it.  A delivery made
-- pending again in between (retry, requeue, replay) bumps the partition's
-- busy_gen, which calls the compaction off; the next round reads again.

ALTER TABLE herald_partition
    ADD COLUMN busy_gen bigint NOT NULL DEFAULT 0,
    ADD COLUMN compacted_at timestamptz;

CREATE OR REPLACE FUNCTION herald_partition_busy(seqs bigint[]) RETURNS void
LANGUAGE sql AS $$
    UPDATE herald_partition p
       SET clear_since = NULL, busy_gen = p.busy_gen + 1
     WHERE p.closed_at IS NOT NULL
       AND EXISTS (SELECT 1 FROM unnest(seqs) q
                    WHERE q >= p.lo AND q < p.hi);
$$;

-- Compact the oldest partition closed for keep that something pending
-- keeps, and was not looked at within keep.  Returns its number, the
-- deliveries kept and the deliveries it held; no row when there was
-- nothing to do (or it was called off, or not worth it: then it is looked
-- at again after keep).
CREATE FUNCTION herald_partition_compact(keep interval, max_kept bigint)
RETURNS TABLE (part integer, kept bigint, held bigint)
LANGUAGE plpgsql AS $$
DECLARE
    p herald_partition;
    lo text;
    t text;
BEGIN
    SELECT * INTO p FROM herald_partition h
     WHERE h.closed_at <= now() - keep AND h.clear_since IS NULL
       AND (h.compacted_at IS NULL OR h.compacted_at <= now() - keep)
       AND pg_snapshot_xmin(pg_current_snapshot()) >= h.closed_xmax
     ORDER BY h.n LIMIT 1;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    UPDATE herald_partition SET compacted_at = now() WHERE n = p.n;

    -- what stays, read without blocking anyone
    EXECUTE format('CREATE TEMP TABLE herald_keep ON COMMIT DROP AS'
                   ' SELECT subscription_id, seq FROM %I'
                   ' WHERE state = ''pending'' OR updated_at > now() - $1',
                   'delivery_p' || p.n) USING keep;
    SELECT count(*) INTO kept FROM herald_keep;
    EXECUTE format('SELECT count(*) FROM %I', 'delivery_p' || p.n) INTO held;
    IF kept > max_kept OR kept * 2 > held THEN
        RETURN;
    END IF;

    LOCK TABLE event, delivery, attempt IN ACCESS EXCLUSIVE MODE;
    IF (SELECT h.busy_gen FROM herald_partition h WHERE h.n = p.n)
       <> p.busy_gen THEN
        RETURN;
    END IF;
    -- (pending then, or finished since: in herald_keep; none is pending
    -- that was not: busy_gen)
    lo := CASE WHEN p.n = 0 THEN 'MINVALUE' ELSE p.lo::text END;
    FOREACH t IN ARRAY ARRAY['event', 'delivery', 'attempt'] LOOP
        EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS'
                       ' INCLUDING CONSTRAINTS)', t || '_c' || p.n, t);
    END LOOP;
    EXECUTE format('INSERT INTO %I SELECT d.* FROM %I d'
                   ' JOIN herald_keep k USING (subscription_id, seq)',
                   'delivery_c' || p.n, 'delivery_p' || p.n);
    EXECUTE format('INSERT INTO %I SELECT e.* FROM %I e'
                   ' WHERE e.seq IN (SELECT k.seq FROM herald_keep k)',
                   'event_c' || p.n, 'event_p' || p.n);
    EXECUTE format('INSERT INTO %I SELECT a.* FROM %I a'
                   ' JOIN herald_keep k USING (subscription_id, seq)',
                   'attempt_c' || p.n, 'attempt_p' || p.n);
    EXECUTE format('CREATE UNIQUE INDEX %I ON %I (source, id)',
                   'event_c' || p.n || '_source_id_key', 'event_c' || p.n);
    FOREACH t IN ARRAY ARRAY['attempt', 'delivery', 'event'] LOOP
        EXECUTE format('ALTER TABLE %I DETACH PARTITION %I', t,
                       t || '_p' || p.n);
        EXECUTE format('DROP TABLE %I', t || '_p' || p.n);
        EXECUTE format('ALTER TABLE %I RENAME TO %I', t || '_c' || p.n,
                       t || '_p' || p.n);
        EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I'
                       ' FOR VALUES FROM (%s) TO (%s)',
                       t, t || '_p' || p.n, lo, p.hi);
    END LOOP;
    part := p.n;
    RETURN NEXT;
END
$$;
