-- herald_publish(event jsonb): emit a CloudEvent for herald from inside the
-- caller's transaction.  Run this file in the PRODUCER's database (not in
-- herald's): psql -d yourdb -f herald_publish.sql.  It is not a migration.
--
-- The event goes into the WAL as a transactional logical decoding message
-- with the prefix 'herald': herald's relay (relay_from) reads it only once
-- the transaction commits, in commit order, and never when it rolls back.
-- Only the attributes every CloudEvent needs are checked here; herald
-- validates the whole event as it does one published over HTTP, and
-- reports one it refuses (herald.relay.rejected) without stopping.

CREATE OR REPLACE FUNCTION herald_publish(event jsonb) RETURNS pg_lsn
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    attr text;
BEGIN
    IF event IS NULL OR jsonb_typeof(event) <> 'object' THEN
        RAISE EXCEPTION 'herald_publish: the event must be a JSON object'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOREACH attr IN ARRAY ARRAY['specversion', 'id', 'source', 'type'] LOOP
        IF jsonb_typeof(event -> attr) IS DISTINCT FROM 'string'
           OR event ->> attr = '' THEN
            RAISE EXCEPTION 'herald_publish: attribute "%" is required (a non-empty string)', attr
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END LOOP;
    IF event ->> 'specversion' <> '1.0' THEN
        RAISE EXCEPTION 'herald_publish: specversion must be "1.0"'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN pg_logical_emit_message(true, 'herald', event::text);
END;
$$;

COMMENT ON FUNCTION herald_publish(jsonb) IS
    'Emit a CloudEvent for herald in this transaction (sent if it commits)';
