-- Core schema: catalog, principals, travellers and the facts every domain records.
-- Tables owned by a traveller (credentials, bookings, presence, check-ins, reviews,
-- complaints, idempotency keys) carry traveller_id in every primary key and unique
-- constraint so that they can be distributed by it (Citus) without cross-shard joins.

CREATE TABLE regions (
    code        text PRIMARY KEY CHECK (code ~ '^[A-Z0-9][A-Z0-9-]{0,31}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    parent_code text REFERENCES regions (code),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX regions_parent_idx ON regions (parent_code);

CREATE TABLE venues (
    id                  uuid PRIMARY KEY,
    region_code         text NOT NULL REFERENCES regions (code),
    name                text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind                text NOT NULL,
    gated               boolean NOT NULL,
    requires_booking    boolean NOT NULL,
    entry_rule          text NOT NULL CHECK (entry_rule ~ '^(single|reentry|daily:[1-9][0-9]{0,2})$'),
    capacity_instant    integer NOT NULL CHECK (capacity_instant > 0),
    capacity_daily      integer NOT NULL CHECK (capacity_daily > 0),
    occupancy_cap_pct   smallint CHECK (occupancy_cap_pct BETWEEN 1 AND 100),
    timezone            text NOT NULL DEFAULT 'Asia/Shanghai',
    lat                 double precision CHECK (lat BETWEEN -90 AND 90),
    lon                 double precision CHECK (lon BETWEEN -180 AND 180),
    max_party_size      smallint NOT NULL DEFAULT 10 CHECK (max_party_size BETWEEN 1 AND 100),
    bookings_per_day    smallint NOT NULL DEFAULT 1 CHECK (bookings_per_day BETWEEN 1 AND 100),
    booking_window_days smallint NOT NULL DEFAULT 14 CHECK (booking_window_days BETWEEN 0 AND 366),
    early_grace_min     smallint NOT NULL DEFAULT 30 CHECK (early_grace_min BETWEEN 0 AND 720),
    late_grace_min      smallint NOT NULL DEFAULT 30 CHECK (late_grace_min BETWEEN 0 AND 720),
    place_code          text NOT NULL UNIQUE,
    rating_sum          bigint NOT NULL DEFAULT 0,
    rating_count        bigint NOT NULL DEFAULT 0,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX venues_region_idx ON venues (region_code);

CREATE TABLE gates (
    id         uuid PRIMARY KEY,
    venue_id   uuid NOT NULL REFERENCES venues (id),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX gates_venue_idx ON gates (venue_id);

CREATE TABLE operators (
    id         uuid PRIMARY KEY,
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE operator_venues (
    operator_id uuid NOT NULL REFERENCES operators (id),
    venue_id    uuid NOT NULL REFERENCES venues (id),
    PRIMARY KEY (operator_id, venue_id)
);

CREATE TABLE planners (
    id         uuid PRIMARY KEY,
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE planner_regions (
    planner_id  uuid NOT NULL REFERENCES planners (id),
    region_code text NOT NULL REFERENCES regions (code),
    PRIMARY KEY (planner_id, region_code)
);

-- Bearer tokens of every principal, stored only as SHA-256 of the token text.
CREATE TABLE api_tokens (
    token_hash   bytea PRIMARY KEY CHECK (length(token_hash) = 32),
    kind         text NOT NULL CHECK (kind IN ('admin', 'operator', 'gate', 'planner', 'traveller')),
    principal_id uuid NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);
CREATE INDEX api_tokens_principal_idx ON api_tokens (principal_id);

CREATE TABLE travellers (
    id           uuid PRIMARY KEY,
    display_name text CHECK (length(display_name) BETWEEN 1 AND 100),
    home_region  text CHECK (home_region ~ '^[A-Z]{2}(-[A-Z0-9]{1,3})?$'),
    created_at   timestamptz NOT NULL DEFAULT now(),
    erased_at    timestamptz
);

-- One TQ1 credential per traveller: the random cred_id is what the QR carries.
-- (Citus: distributed by cred_id, the one lookup a gate can make from a code.)
-- generation is bumped on rotate; every earlier generation is revoked.
-- revoked_all is set on erasure: no generation is valid any more.
CREATE TABLE credentials (
    cred_id        bytea NOT NULL CHECK (length(cred_id) = 16),
    traveller_id   uuid NOT NULL REFERENCES travellers (id),
    generation     integer NOT NULL DEFAULT 1 CHECK (generation >= 1),
    suffix_secret  bytea NOT NULL CHECK (length(suffix_secret) = 32),
    issued_at      timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    revoked_all    boolean NOT NULL DEFAULT false,
    changed_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cred_id)
);
CREATE UNIQUE INDEX credentials_traveller_idx ON credentials (traveller_id);
CREATE INDEX credentials_changed_idx ON credentials (changed_at);

CREATE TABLE slots (
    id         uuid PRIMARY KEY,
    venue_id   uuid NOT NULL REFERENCES venues (id),
    starts_at  timestamptz NOT NULL,
    ends_at    timestamptz NOT NULL,
    capacity   integer NOT NULL CHECK (capacity > 0),
    booked     integer NOT NULL DEFAULT 0 CHECK (booked >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT slots_window_ck CHECK (ends_at > starts_at),
    CONSTRAINT slots_not_oversold_ck CHECK (booked <= capacity),
    CONSTRAINT slots_venue_window_uq UNIQUE (venue_id, starts_at, ends_at)
);

CREATE TABLE bookings (
    id           uuid NOT NULL,
    traveller_id uuid NOT NULL REFERENCES travellers (id),
    slot_id      uuid NOT NULL REFERENCES slots (id),
    venue_id     uuid NOT NULL REFERENCES venues (id),
    party_size   smallint NOT NULL CHECK (party_size BETWEEN 1 AND 100),
    status       text NOT NULL DEFAULT 'booked'
                 CHECK (status IN ('booked', 'cancelled', 'used', 'no_show')),
    starts_at    timestamptz NOT NULL,
    ends_at      timestamptz NOT NULL,
    local_day    date NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    changed_at   timestamptz NOT NULL DEFAULT now(),
    cancelled_at timestamptz,
    used_at      timestamptz,
    PRIMARY KEY (traveller_id, id)
);
CREATE INDEX bookings_traveller_venue_day_idx ON bookings (traveller_id, venue_id, local_day);
CREATE INDEX bookings_venue_day_idx ON bookings (venue_id, local_day);
CREATE INDEX bookings_venue_changed_idx ON bookings (venue_id, changed_at);
CREATE INDEX bookings_slot_idx ON bookings (slot_id);

CREATE TABLE idempotency_keys (
    traveller_id  uuid NOT NULL,
    key           text NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
    request_hash  bytea NOT NULL,
    status_code   smallint,
    response      bytea,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (traveller_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

-- Every scan a gate made, online or uploaded, accepted or rejected, once per (gate, scan_id).
CREATE TABLE scans (
    gate_id      uuid NOT NULL REFERENCES gates (id),
    scan_id      uuid NOT NULL,
    venue_id     uuid NOT NULL REFERENCES venues (id),
    -- the zero uuid for a code that names no traveller (invalid or unknown)
    traveller_id uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000',
    booking_id   uuid,
    direction    text NOT NULL CHECK (direction IN ('in', 'out')),
    decision     text NOT NULL CHECK (decision IN ('accept', 'reject')),
    reason       text NOT NULL,
    party_size   smallint NOT NULL DEFAULT 0,
    device_time  timestamptz NOT NULL,
    server_time  timestamptz NOT NULL DEFAULT now(),
    offline      boolean NOT NULL DEFAULT false,
    conflict     boolean NOT NULL DEFAULT false,
    seq          bigserial NOT NULL,
    PRIMARY KEY (traveller_id, gate_id, scan_id)
);
CREATE INDEX scans_seq_idx ON scans (seq);
CREATE INDEX scans_gate_scan_idx ON scans (gate_id, scan_id);
CREATE INDEX scans_traveller_idx ON scans (traveller_id, device_time);
CREATE INDEX scans_venue_time_idx ON scans (venue_id, device_time);

-- Where a traveller stands at a venue on a local day: the row every entry rule locks.
CREATE TABLE presence (
    traveller_id uuid NOT NULL,
    venue_id     uuid NOT NULL REFERENCES venues (id),
    local_day    date NOT NULL,
    entries      integer NOT NULL DEFAULT 0,
    inside       boolean NOT NULL DEFAULT false,
    party_size   smallint NOT NULL DEFAULT 0,
    last_entry_at timestamptz,
    last_exit_at  timestamptz,
    PRIMARY KEY (traveller_id, venue_id, local_day)
);

-- Occupancy counters per gate and day (no single hot row per venue): inside = sum(ins - outs).
CREATE TABLE gate_counters (
    gate_id   uuid NOT NULL REFERENCES gates (id),
    venue_id  uuid NOT NULL REFERENCES venues (id),
    local_day date NOT NULL,
    ins       bigint NOT NULL DEFAULT 0,
    outs      bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (gate_id, local_day)
);
CREATE INDEX gate_counters_venue_day_idx ON gate_counters (venue_id, local_day);

-- Self check-ins by place code at ungated venues: at most one per traveller, venue and day.
CREATE TABLE checkins (
    traveller_id uuid NOT NULL,
    venue_id     uuid NOT NULL REFERENCES venues (id),
    local_day    date NOT NULL,
    id           uuid NOT NULL,
    checked_in_at timestamptz NOT NULL DEFAULT now(),
    seq          bigserial NOT NULL,
    PRIMARY KEY (traveller_id, venue_id, local_day)
);
CREATE INDEX checkins_seq_idx ON checkins (seq);
CREATE INDEX checkins_venue_time_idx ON checkins (venue_id, checked_in_at);

CREATE TABLE reviews (
    traveller_id uuid NOT NULL,
    id           uuid NOT NULL,
    venue_id     uuid NOT NULL REFERENCES venues (id),
    visit_day    date NOT NULL,
    rating       smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
    text         text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (traveller_id, id),
    CONSTRAINT reviews_one_per_visit_uq UNIQUE (traveller_id, venue_id, visit_day)
);
CREATE INDEX reviews_venue_created_idx ON reviews (venue_id, created_at DESC, id DESC);

CREATE TABLE complaints (
    traveller_id     uuid NOT NULL,
    id               uuid NOT NULL,
    venue_id         uuid NOT NULL REFERENCES venues (id),
    category         text NOT NULL,
    text             text NOT NULL,
    status           text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'answered', 'closed')),
    answer           text,
    answered_at      timestamptz,
    answer_rating    smallint CHECK (answer_rating BETWEEN 1 AND 5),
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (traveller_id, id)
);
CREATE INDEX complaints_id_idx ON complaints (id);
CREATE INDEX complaints_venue_created_idx ON complaints (venue_id, created_at DESC);
