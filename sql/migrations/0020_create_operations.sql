-- Operations (issue 17): deactivate instead of delete, revoke principals, change and
-- cancel slots, and an append-only audit trail of every admin and operator change.

-- A deactivated venue takes no bookings, slots, check-ins or entry scans; its rows stay,
-- so flows, bookings and reviews that refer to it keep their history.
ALTER TABLE venues
    ADD COLUMN active         boolean NOT NULL DEFAULT true,
    ADD COLUMN deactivated_at timestamptz,
    ADD COLUMN changed_at     timestamptz NOT NULL DEFAULT now(),
    ADD CONSTRAINT venues_active_ck CHECK (active = (deactivated_at IS NULL));

ALTER TABLE regions
    ADD COLUMN changed_at timestamptz NOT NULL DEFAULT now();

-- Revoked principals keep their row (scans and complaint answers name them); their
-- tokens are revoked with them. A new token reinstates the principal.
ALTER TABLE gates ADD COLUMN revoked_at timestamptz;
ALTER TABLE operators ADD COLUMN revoked_at timestamptz;
ALTER TABLE planners ADD COLUMN revoked_at timestamptz;

-- A cancelled slot takes no bookings; its bookings are cancelled with the reason.
ALTER TABLE slots
    ADD COLUMN cancelled_at  timestamptz,
    ADD COLUMN cancel_reason text,
    ADD CONSTRAINT slots_cancel_reason_ck
        CHECK (cancel_reason IS NULL OR length(cancel_reason) BETWEEN 1 AND 500),
    ADD CONSTRAINT slots_cancelled_ck CHECK ((cancelled_at IS NULL) = (cancel_reason IS NULL));

-- Who cancelled a booking ('traveller' or 'venue') and, for the venue, why: the
-- traveller sees both on the booking.
ALTER TABLE bookings
    ADD COLUMN cancelled_by  text,
    ADD COLUMN cancel_reason text,
    ADD CONSTRAINT bookings_cancelled_by_ck
        CHECK (cancelled_by IS NULL OR cancelled_by IN ('traveller', 'venue')),
    ADD CONSTRAINT bookings_cancel_reason_ck
        CHECK (cancel_reason IS NULL OR length(cancel_reason) BETWEEN 1 AND 500);

-- Append-only (no query or rule file updates or deletes it: tests/api/test_audit.py
-- checks the SQL): who (principal kind and id, never a token), what (action, object,
-- before -> after), when, and the request id. No traveller data goes in here.
CREATE TABLE audit_log (
    id          uuid PRIMARY KEY,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor_kind  text NOT NULL CHECK (actor_kind IN ('admin', 'operator', 'cli')),
    actor_id    uuid NOT NULL,
    action      text NOT NULL CHECK (action ~ '^[a-z_]+\.[a-z_]+$'),
    object_kind text NOT NULL,
    object_id   text NOT NULL,
    venue_id    uuid,
    region_code text,
    before      jsonb,
    after       jsonb,
    request_id  text CHECK (request_id IS NULL OR length(request_id) <= 200)
);
CREATE INDEX audit_log_created_idx ON audit_log (created_at DESC, id DESC);
CREATE INDEX audit_log_venue_created_idx ON audit_log (venue_id, created_at DESC, id DESC)
    WHERE venue_id IS NOT NULL;
CREATE INDEX audit_log_object_idx ON audit_log (object_kind, object_id);

CREATE INDEX gates_created_idx ON gates (created_at DESC, id DESC);
CREATE INDEX venues_created_idx ON venues (created_at DESC, id DESC);
CREATE INDEX operator_venues_venue_idx ON operator_venues (venue_id);
CREATE INDEX planner_regions_region_idx ON planner_regions (region_code);
