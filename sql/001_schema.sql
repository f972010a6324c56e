-- herald schema, version 1: events, subscriptions, deliveries, attempts, API keys.

-- API keys: only the SHA-256 of a key is stored.  Each key is its own tenant.
CREATE TABLE api_key (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL,
    key_hash    bytea NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    scopes      text[] NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

-- The event log.  seq is server order; (source, id) is the CloudEvents
-- identity and deduplicates ingest.  attrs holds every context attribute;
-- data holds the payload bytes exactly, data_kind how they render
-- (0 none, 1 JSON, 2 text, 3 binary).
CREATE TABLE event (
    seq         bigserial PRIMARY KEY,
    source      text NOT NULL,
    id          text NOT NULL,
    type        text NOT NULL,
    attrs       jsonb NOT NULL,
    data_kind   smallint NOT NULL CHECK (data_kind BETWEEN 0 AND 3),
    data        bytea,
    received_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source, id)
);
CREATE INDEX event_type_seq ON event (type, seq);
CREATE INDEX event_received_at ON event (received_at);

-- Subscriptions.  config is the validated, normalized request body
-- (sink, filters, delivery settings, sinkcredential...); tenant is the
-- api_key.id of the owner (0: the bootstrap admin key).
CREATE TABLE subscription (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant            bigint NOT NULL,
    config            jsonb NOT NULL,
    status            text NOT NULL DEFAULT 'active'
                      CHECK (status IN ('active', 'paused', 'disabled')),
    status_reason     text,
    secret            text NOT NULL,
    prev_secret       text,
    prev_secret_until timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscription_tenant ON subscription (tenant);

-- One delivery per (subscription, event).  ordering_key NULL: unordered.
-- part is the dispatch partition (a hash of subscription and key, see
-- dispatch.c).  ready marks what may be sent now: an unordered delivery,
-- or the oldest pending one of its (subscription, key); the writer and the
-- dispatcher keep it so under a per-key transaction advisory lock.
-- claimed marks a delivery the partition's owner has taken into memory;
-- an instance that takes a partition over clears the claims it finds
-- there, so a dead instance's work is sent again at once.
CREATE TABLE delivery (
    subscription_id uuid NOT NULL REFERENCES subscription (id) ON DELETE CASCADE,
    seq             bigint NOT NULL REFERENCES event (seq),
    ordering_key    text,
    part            integer NOT NULL,
    ready           boolean NOT NULL,
    claimed         boolean NOT NULL DEFAULT false,
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'succeeded', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_status     integer,
    last_error      text,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subscription_id, seq)
);
-- what the dispatcher fetches, per subscription in due order, and the
-- skip scan that finds the subscriptions with work
CREATE INDEX delivery_due ON delivery (subscription_id, next_attempt_at)
    WHERE state = 'pending' AND ready AND NOT claimed;
-- the head of a key, and the per-state listings of a subscription
CREATE INDEX delivery_key ON delivery (subscription_id, ordering_key, seq)
    WHERE state = 'pending';
CREATE INDEX delivery_state ON delivery (subscription_id, state, seq);
CREATE INDEX delivery_seq ON delivery (seq);

-- The log of every HTTP attempt of a delivery.
CREATE TABLE attempt (
    id              bigserial PRIMARY KEY,
    subscription_id uuid NOT NULL,
    seq             bigint NOT NULL,
    at              timestamptz NOT NULL DEFAULT now(),
    status          integer,
    latency_ms      integer,
    error           text,
    response_head   text,
    FOREIGN KEY (subscription_id, seq) REFERENCES delivery ON DELETE CASCADE
);
CREATE INDEX attempt_delivery ON attempt (subscription_id, seq, id);

-- Bumped in the same transaction as every subscription change, so a
-- writer that reads it inside its own transaction knows whether its
-- cache of subscriptions is current.
CREATE TABLE subscription_epoch (
    epoch bigint NOT NULL
);
INSERT INTO subscription_epoch VALUES (0);

CREATE FUNCTION subscription_bump_epoch() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE subscription_epoch SET epoch = epoch + 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER subscription_changed
    AFTER INSERT OR UPDATE OR DELETE ON subscription
    FOR EACH STATEMENT EXECUTE FUNCTION subscription_bump_epoch();
