-- herald migration 006: source-scoped keys.
--
-- A key may be limited to CloudEvents source prefixes (api_key.sources):
-- it publishes only events of those sources, its subscriptions match only
-- them, and it reads only them from the event log.  herald validates the
-- prefixes (src/srcscope.c); NULL is no limit, which every key made
-- before this migration keeps.  A key never changes but for its
-- revocation, so neither do the sources of a subscription's owner.
ALTER TABLE api_key ADD COLUMN sources text[]
    CHECK (sources IS NULL OR cardinality(sources) BETWEEN 1 AND 8);

-- A scoped key's page of the log reads each of its source ranges in the
-- index, compared byte by byte (text_pattern_ops: the same whatever the
-- database's collation), with seq beside the source so that "after" is
-- checked in the index too: never a scan of the whole log.  The build
-- reads the log once, and writes to event wait for it.
CREATE INDEX event_source_seq ON event (source text_pattern_ops, seq);

-- herald's own events (source /herald) by the subscription they are about
-- (their subject): a scoped key reads those of its own subscriptions.
CREATE INDEX event_opevent_subject ON event ((attrs ->> 'subject'), seq)
    WHERE source = '/herald';
