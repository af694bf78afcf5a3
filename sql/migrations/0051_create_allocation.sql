-- Fair allocation (issue #18): walk-up sale, the walk-in quota, no-show release, the
-- waiting list with expiring offers, lotteries, and the durable jobs that make offers
-- and draws. The rules are in sql/functions/allocation.sql; docs/allocation.md.

-- Venue settings (minutes; a share in percent of each slot's capacity).
ALTER TABLE venues
    ADD COLUMN walkin_quota_pct   smallint NOT NULL DEFAULT 0 CHECK (walkin_quota_pct BETWEEN 0 AND 100),
    ADD COLUMN walkin_release_min smallint NOT NULL DEFAULT 60 CHECK (walkin_release_min BETWEEN 0 AND 1440),
    ADD COLUMN offer_expiry_min   smallint NOT NULL DEFAULT 15 CHECK (offer_expiry_min BETWEEN 1 AND 1440);

-- walkin_booked: places of live walk-in bookings (they use the quota first);
-- held: places kept from general sale for the waiting list (open offers, and places
-- freed but not yet offered). booked + held never exceeds capacity when taken by the
-- rules; a capacity lowered under it voids offers on accept (never an oversold slot).
ALTER TABLE slots
    ADD COLUMN walkin_booked integer NOT NULL DEFAULT 0 CHECK (walkin_booked >= 0),
    ADD COLUMN held          integer NOT NULL DEFAULT 0 CHECK (held >= 0),
    ADD CONSTRAINT slots_walkin_within_booked_ck CHECK (walkin_booked <= booked);

-- how a booking was made: the app, the staffed window (walk-in), an accepted offer, a draw
ALTER TABLE bookings
    ADD COLUMN channel text NOT NULL DEFAULT 'app'
        CHECK (channel IN ('app', 'walkin', 'waitlist', 'lottery'));

-- the no-show release looks at bookings still open by their start
CREATE INDEX bookings_open_starts_idx ON bookings (starts_at) WHERE status = 'booked';

-- Waiting list entries: a traveller's place in the queue of one slot.
-- position orders the queue (lottery losers enter in draw order); an offer holds
-- party_size places of slots.held until expires_at.
CREATE SEQUENCE waitlist_position_seq;
CREATE TABLE waitlist_entries (
    id           uuid NOT NULL,
    traveller_id uuid NOT NULL REFERENCES travellers (id),
    slot_id      uuid NOT NULL REFERENCES slots (id),
    venue_id     uuid NOT NULL REFERENCES venues (id),
    local_day    date NOT NULL,
    party_size   smallint NOT NULL CHECK (party_size BETWEEN 1 AND 100),
    position     bigint NOT NULL,
    state        text NOT NULL DEFAULT 'waiting'
                 CHECK (state IN ('waiting', 'offer', 'booked', 'expired', 'left')),
    source       text NOT NULL DEFAULT 'traveller' CHECK (source IN ('traveller', 'lottery')),
    offered_at   timestamptz,
    expires_at   timestamptz,
    booking_id   uuid,
    created_at   timestamptz NOT NULL DEFAULT now(),
    changed_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (traveller_id, id),
    CONSTRAINT waitlist_offer_expires_ck CHECK (state <> 'offer' OR expires_at IS NOT NULL)
);
-- one live entry per traveller and slot
CREATE UNIQUE INDEX waitlist_live_uq ON waitlist_entries (traveller_id, slot_id)
    WHERE state IN ('waiting', 'offer');
-- the queue of a slot, in order
CREATE INDEX waitlist_slot_queue_idx ON waitlist_entries (slot_id, position)
    WHERE state IN ('waiting', 'offer');
CREATE INDEX waitlist_traveller_created_idx ON waitlist_entries (traveller_id, created_at DESC);

-- Lotteries: applications for one local day of a venue until closes_at, then a draw.
-- seed_sha256 is published when the lottery opens; the seed itself at the draw, so
-- anyone can recompute the order (docs/allocation.md).
CREATE TABLE lotteries (
    id          uuid PRIMARY KEY,
    venue_id    uuid NOT NULL REFERENCES venues (id),
    local_day   date NOT NULL,
    closes_at   timestamptz NOT NULL,
    state       text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'drawn')),
    seed        bytea NOT NULL CHECK (length(seed) = 32),
    seed_sha256 bytea NOT NULL CHECK (length(seed_sha256) = 32),
    applications integer NOT NULL DEFAULT 0,
    winners     integer NOT NULL DEFAULT 0,
    drawn_at    timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT lotteries_venue_day_uq UNIQUE (venue_id, local_day)
);

CREATE TABLE lottery_applications (
    id           uuid NOT NULL,
    traveller_id uuid NOT NULL REFERENCES travellers (id),
    lottery_id   uuid NOT NULL REFERENCES lotteries (id),
    slot_id      uuid NOT NULL REFERENCES slots (id),
    party_size   smallint NOT NULL CHECK (party_size BETWEEN 1 AND 100),
    ticket       bytea,
    rank         integer,
    result       text NOT NULL DEFAULT 'pending'
                 CHECK (result IN ('pending', 'won', 'waitlisted', 'lost')),
    booking_id   uuid,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (traveller_id, id),
    -- one application per real-name traveller and lottery
    CONSTRAINT lottery_applications_one_uq UNIQUE (traveller_id, lottery_id)
);
CREATE INDEX lottery_applications_lottery_idx ON lottery_applications (lottery_id);

-- Durable jobs (SKIP LOCKED; why not a task-queue library: docs/allocation.md).
-- 'offer': an offer round for slot_id; 'draw': the draw of lottery_id. A job is taken
-- and done in one transaction and deleted by it: a crash puts it back.
CREATE TABLE allocation_jobs (
    id         bigserial PRIMARY KEY,
    kind       text NOT NULL CHECK (kind IN ('offer', 'draw')),
    slot_id    uuid,
    lottery_id uuid,
    run_at     timestamptz NOT NULL DEFAULT now(),
    attempts   integer NOT NULL DEFAULT 0,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT allocation_jobs_target_ck CHECK (
        (kind = 'offer' AND slot_id IS NOT NULL) OR (kind = 'draw' AND lottery_id IS NOT NULL))
);
CREATE INDEX allocation_jobs_run_idx ON allocation_jobs (run_at);
CREATE INDEX allocation_jobs_slot_idx ON allocation_jobs (slot_id) WHERE kind = 'offer';
