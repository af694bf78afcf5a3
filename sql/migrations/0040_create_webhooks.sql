-- Signed webhooks (issue 21): the admin's allow-list of receiver hosts, subscriptions,
-- and the delivery queue that is also the delivery log. The worker claims due rows with
-- FOR UPDATE SKIP LOCKED and leases them by moving next_attempt_at forward: a worker
-- killed mid-delivery leaves a row that falls due again when its lease ends.

CREATE TABLE webhook_hosts (
    host     text PRIMARY KEY CHECK (host ~ '^(\*\.)?[a-z0-9._:\[\]-]{1,253}$'),
    note     text CHECK (length(note) <= 200),
    added_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_subscriptions (
    id                    uuid PRIMARY KEY,
    owner_kind            text NOT NULL CHECK (owner_kind IN ('admin', 'operator', 'planner')),
    owner_id              uuid NOT NULL,
    url                   text NOT NULL CHECK (length(url) BETWEEN 1 AND 2000),
    events                text[] NOT NULL CHECK (cardinality(events) BETWEEN 1 AND 50),
    -- filters within the owner's scope; NULL is the owner's whole scope
    venue_ids             uuid[],
    region_codes          text[],
    description           text CHECK (length(description) <= 200),
    enabled               boolean NOT NULL DEFAULT true,
    -- the signing secret, sealed with the server's webhook key (never returned again)
    secret_box            bytea NOT NULL,
    -- after a rotation the old secret also signs until previous_secret_until
    previous_secret_box   bytea,
    previous_secret_until timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_subscriptions_owner_idx
    ON webhook_subscriptions (owner_id, created_at DESC, id DESC);
CREATE INDEX webhook_subscriptions_created_idx
    ON webhook_subscriptions (created_at DESC, id DESC);

-- One message to one subscription. message_id is the webhook-id: the event's id (the
-- same for every subscription, every attempt and every replay), or the delivery's own
-- for a test ping; body holds the exact bytes sent.
CREATE TABLE webhook_deliveries (
    id              uuid PRIMARY KEY,
    message_id      uuid NOT NULL,
    subscription_id uuid NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    event_id        uuid,  -- the events row it came from; NULL for a test ping
    event_type      text NOT NULL,
    body            text NOT NULL,
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    -- set while a worker holds the row (its lease is next_attempt_at); the result is
    -- recorded only by the claim that sent it
    claim           uuid,
    retry_until     timestamptz NOT NULL,
    last_status     smallint,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    CONSTRAINT webhook_deliveries_event_uq UNIQUE (subscription_id, event_id)
);
CREATE INDEX webhook_deliveries_due_idx
    ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_log_idx
    ON webhook_deliveries (subscription_id, created_at DESC, id DESC);

CREATE TABLE webhook_attempts (
    delivery_id uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    n           integer NOT NULL,
    started_at  timestamptz NOT NULL,
    duration_ms integer NOT NULL,
    status      smallint,  -- the receiver's HTTP status; NULL without an answer
    outcome     text NOT NULL
                CHECK (outcome IN ('delivered', 'http_error', 'timeout', 'network', 'refused')),
    error       text,
    PRIMARY KEY (delivery_id, n)
);

-- The fan-out's cursor is a mark on each event, not a position: event ids are random and
-- commit out of order, so "after the last one seen" would skip an event whose
-- transaction committed late. The worker takes unmarked events with SKIP LOCKED.
ALTER TABLE events ADD COLUMN fanned_out_at timestamptz;
CREATE INDEX events_fanout_idx ON events (created_at) WHERE fanned_out_at IS NULL;
