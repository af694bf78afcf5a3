-- Events: what happened, written in the same transaction as the change that caused it
-- (a transactional outbox). Webhook delivery reads them; a traveller's own events are
-- also kept for that traveller (GET /v1/me/notifications), so an app without push still
-- sees offers, cancellations by the venue and complaint answers.
--
-- No personal data in an event's payload: ids of venues, slots and bookings, never a
-- name or a home region. The traveller an event concerns is named only in
-- traveller_notifications, on that traveller's shard.

CREATE TABLE events (
    id          uuid PRIMARY KEY,
    type        text NOT NULL CHECK (type ~ '^[a-z][a-z_]*\.[a-z][a-z_]*$'),
    region_code text,
    venue_id    uuid,
    payload     jsonb NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX events_created_idx ON events (created_at, id);

CREATE TABLE traveller_notifications (
    traveller_id uuid NOT NULL REFERENCES travellers (id),
    id           uuid NOT NULL,
    event_id     uuid NOT NULL,
    type         text NOT NULL,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (traveller_id, id)
);

CREATE INDEX traveller_notifications_page_idx
    ON traveller_notifications (traveller_id, created_at DESC, id DESC);
