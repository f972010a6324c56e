-- herald migration 011: the identity check of herald_event_insert (009)
-- probes each partition's (source, id) index per event.
--
-- Written as NOT EXISTS, the check could be planned as an anti-join that
-- reads every partition of event whole, and plpgsql keeps that plan
-- while the table grows: each writer group then read the whole log, and
-- end-to-end latency grew with it.  A scalar subquery with LIMIT is not
-- turned into a join: it runs once per event, as index probes.
CREATE OR REPLACE FUNCTION herald_event_insert(srcs text[], ids text[],
                                               types text[], attrs text[],
                                               kinds int2[], datas bytea[])
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
             WHERE (SELECT 1 FROM event x
                     WHERE x.source = u.s AND x.id = u.i LIMIT 1) IS NULL
             ORDER BY u.o) v
    RETURNING e.seq, e.source, e.id;
END
$$;
