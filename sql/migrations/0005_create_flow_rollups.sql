-- Visitor-flow rollups for planners, kept incrementally from a watermark.
--
-- Watermark: every scan and check-in row records the id of the transaction that
-- inserted it (ingest_xid, xid8, defaults to pg_current_xact_id(): writers change
-- nothing). An advance consumes the rows with  previous horizon <= ingest_xid < H
-- where H = pg_snapshot_xmin(pg_current_snapshot()) is the oldest transaction still
-- running. Every transaction below H has finished, and any transaction that has not yet
-- written gets an xid >= H, so no row can later appear below the horizon: a bigserial
-- seq (allocated before commit) has no such guarantee. Rows of transactions still in
-- flight are consumed by a later advance.

ALTER TABLE scans ADD COLUMN ingest_xid xid8 NOT NULL DEFAULT pg_current_xact_id();
ALTER TABLE checkins ADD COLUMN ingest_xid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX scans_ingest_xid_idx ON scans (ingest_xid);
CREATE INDEX checkins_ingest_xid_idx ON checkins (ingest_xid);

-- One row: how far the rollups have consumed.
CREATE TABLE flow_watermark (
    id            boolean PRIMARY KEY DEFAULT true CHECK (id),
    horizon       xid8 NOT NULL DEFAULT '0',
    rows_consumed bigint NOT NULL DEFAULT 0,
    advances      bigint NOT NULL DEFAULT 0,
    advanced_at   timestamptz
);
INSERT INTO flow_watermark DEFAULT VALUES;

-- The visit set: one row per venue, local hour and traveller (accepted entries and
-- self check-ins). Distinct-traveller counts at any grain and scope union these rows;
-- origin is the traveller's home region when the row was first rolled up, so a later
-- erasure does not rewrite history. Traveller ids never leave the database.
CREATE TABLE flow_visit_hours (
    venue_id     uuid NOT NULL,
    local_hour   timestamp NOT NULL,
    traveller_id uuid NOT NULL,
    entries      integer NOT NULL CHECK (entries > 0),
    origin       text,
    PRIMARY KEY (venue_id, local_hour, traveller_id)
);

-- People in and out per venue and local hour (party sizes), for occupancy.
CREATE TABLE flow_occupancy_hours (
    venue_id   uuid NOT NULL,
    local_hour timestamp NOT NULL,
    people_in  bigint NOT NULL DEFAULT 0,
    people_out bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (venue_id, local_hour)
);

-- Dwell: an accepted entry followed by the next accepted scan of the same traveller at
-- the same venue on the same local day being an exit. Recomputed per touched
-- (traveller, venue, day) so a late offline upload re-pairs correctly.
CREATE TABLE flow_dwell (
    traveller_id uuid NOT NULL,
    venue_id     uuid NOT NULL,
    local_day    date NOT NULL,
    entry_at     timestamptz NOT NULL,
    minutes      integer NOT NULL CHECK (minutes >= 0),
    PRIMARY KEY (traveller_id, venue_id, local_day, entry_at)
);
CREATE INDEX flow_dwell_venue_day_idx ON flow_dwell (venue_id, local_day);

-- Origin-destination: consecutive entries of one traveller on one local day at
-- different venues. Recomputed per touched (traveller, day).
CREATE TABLE flow_trips (
    traveller_id uuid NOT NULL,
    local_day    date NOT NULL,
    from_venue   uuid NOT NULL,
    to_venue     uuid NOT NULL,
    trips        integer NOT NULL CHECK (trips > 0),
    PRIMARY KEY (traveller_id, local_day, from_venue, to_venue)
);
CREATE INDEX flow_trips_day_idx ON flow_trips (local_day, from_venue, to_venue);

-- flows_advance() lives in sql/functions/flows.sql.
