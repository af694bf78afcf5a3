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

-- One advance: a single transaction (the caller's), under an advisory lock so one
-- replica advances at a time. Returns the scan and check-in rows consumed. With
-- wait = false a caller that finds another advance running returns 0 at once.
CREATE FUNCTION flows_advance(wait boolean DEFAULT true) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
    lo xid8;
    hi xid8;
    n_scans bigint;
    n_checkins bigint;
    dw_t uuid[];
    dw_v uuid[];
    dw_d date[];
    od_t uuid[];
    od_d date[];
    zero CONSTANT uuid := '00000000-0000-0000-0000-000000000000';
BEGIN
    IF wait THEN
        PERFORM pg_advisory_xact_lock(7306916064829212753);  -- 'flows advance'
    ELSIF NOT pg_try_advisory_xact_lock(7306916064829212753) THEN
        RETURN 0;
    END IF;
    -- after the lock: a fresh statement snapshot, taken before this transaction has an xid
    hi := pg_snapshot_xmin(pg_current_snapshot());
    SELECT w.horizon INTO lo FROM flow_watermark w WHERE w.id FOR UPDATE;
    IF hi <= lo THEN
        RETURN 0;
    END IF;

    SELECT count(*) INTO n_scans FROM scans s WHERE s.ingest_xid >= lo AND s.ingest_xid < hi;
    SELECT count(*) INTO n_checkins FROM checkins c WHERE c.ingest_xid >= lo AND c.ingest_xid < hi;

    -- visit set: adds entries to (venue, hour, traveller) cells
    INSERT INTO flow_visit_hours AS f (venue_id, local_hour, traveller_id, entries, origin)
    SELECT e.venue_id, e.local_hour, e.traveller_id, count(*), max(t.home_region)
      FROM (SELECT s.venue_id, s.traveller_id,
                   date_trunc('hour', s.device_time AT TIME ZONE v.timezone) AS local_hour
              FROM scans s JOIN venues v ON v.id = s.venue_id
             WHERE s.ingest_xid >= lo AND s.ingest_xid < hi
               AND s.decision = 'accept' AND s.direction = 'in' AND s.traveller_id <> zero
            UNION ALL
            SELECT c.venue_id, c.traveller_id,
                   date_trunc('hour', c.checked_in_at AT TIME ZONE v.timezone)
              FROM checkins c JOIN venues v ON v.id = c.venue_id
             WHERE c.ingest_xid >= lo AND c.ingest_xid < hi) e
      LEFT JOIN travellers t ON t.id = e.traveller_id
     GROUP BY e.venue_id, e.local_hour, e.traveller_id
    ON CONFLICT (venue_id, local_hour, traveller_id) DO UPDATE
       SET entries = f.entries + EXCLUDED.entries,
           origin = COALESCE(f.origin, EXCLUDED.origin);

    -- occupancy: people in and out per hour (every accepted scan, named or not)
    INSERT INTO flow_occupancy_hours AS f (venue_id, local_hour, people_in, people_out)
    SELECT s.venue_id, date_trunc('hour', s.device_time AT TIME ZONE v.timezone),
           COALESCE(sum(greatest(s.party_size, 1)) FILTER (WHERE s.direction = 'in'), 0),
           COALESCE(sum(greatest(s.party_size, 1)) FILTER (WHERE s.direction = 'out'), 0)
      FROM scans s JOIN venues v ON v.id = s.venue_id
     WHERE s.ingest_xid >= lo AND s.ingest_xid < hi AND s.decision = 'accept'
     GROUP BY 1, 2
    ON CONFLICT (venue_id, local_hour) DO UPDATE
       SET people_in = f.people_in + EXCLUDED.people_in,
           people_out = f.people_out + EXCLUDED.people_out;

    -- dwell: recompute the touched (traveller, venue, local day) cells
    SELECT COALESCE(array_agg(k.traveller_id), '{}'), COALESCE(array_agg(k.venue_id), '{}'),
           COALESCE(array_agg(k.d), '{}')
      INTO dw_t, dw_v, dw_d
      FROM (SELECT DISTINCT s.traveller_id, s.venue_id,
                   (s.device_time AT TIME ZONE v.timezone)::date AS d
              FROM scans s JOIN venues v ON v.id = s.venue_id
             WHERE s.ingest_xid >= lo AND s.ingest_xid < hi
               AND s.decision = 'accept' AND s.traveller_id <> zero) k;
    DELETE FROM flow_dwell f
     USING unnest(dw_t, dw_v, dw_d) AS t(traveller_id, venue_id, d)
     WHERE f.traveller_id = t.traveller_id AND f.venue_id = t.venue_id AND f.local_day = t.d;
    INSERT INTO flow_dwell (traveller_id, venue_id, local_day, entry_at, minutes)
    SELECT x.traveller_id, x.venue_id, x.d, x.device_time,
           floor(extract(epoch FROM x.next_time - x.device_time) / 60)::integer
      FROM (SELECT t.traveller_id, t.venue_id, t.d, s.device_time, s.direction,
                   lead(s.direction) OVER w AS next_dir, lead(s.device_time) OVER w AS next_time
              FROM unnest(dw_t, dw_v, dw_d) AS t(traveller_id, venue_id, d)
              JOIN venues v ON v.id = t.venue_id
              JOIN scans s ON s.traveller_id = t.traveller_id AND s.venue_id = t.venue_id
                          AND s.decision = 'accept'
                          AND s.device_time >= (t.d::timestamp AT TIME ZONE v.timezone)
                          AND s.device_time < ((t.d + 1)::timestamp AT TIME ZONE v.timezone)
            WINDOW w AS (PARTITION BY t.traveller_id, t.venue_id, t.d
                         ORDER BY s.device_time, s.seq)) x
     WHERE x.direction = 'in' AND x.next_dir = 'out'
    ON CONFLICT DO NOTHING;

    -- origin-destination: recompute the touched (traveller, local day) sequences
    SELECT COALESCE(array_agg(k.traveller_id), '{}'), COALESCE(array_agg(k.d), '{}')
      INTO od_t, od_d
      FROM (SELECT s.traveller_id, (s.device_time AT TIME ZONE v.timezone)::date AS d
              FROM scans s JOIN venues v ON v.id = s.venue_id
             WHERE s.ingest_xid >= lo AND s.ingest_xid < hi
               AND s.decision = 'accept' AND s.direction = 'in' AND s.traveller_id <> zero
            UNION
            SELECT c.traveller_id, (c.checked_in_at AT TIME ZONE v.timezone)::date
              FROM checkins c JOIN venues v ON v.id = c.venue_id
             WHERE c.ingest_xid >= lo AND c.ingest_xid < hi) k;
    DELETE FROM flow_trips f USING unnest(od_t, od_d) AS t(traveller_id, d)
     WHERE f.traveller_id = t.traveller_id AND f.local_day = t.d;
    INSERT INTO flow_trips (traveller_id, local_day, from_venue, to_venue, trips)
    SELECT x.traveller_id, x.d, x.prev_venue, x.venue_id, count(*)
      FROM (SELECT t.traveller_id, t.d, e.venue_id,
                   lag(e.venue_id) OVER (PARTITION BY t.traveller_id, t.d
                                         ORDER BY e.at, e.venue_id) AS prev_venue
              FROM unnest(od_t, od_d) AS t(traveller_id, d)
              CROSS JOIN LATERAL (
                    SELECT s.venue_id, s.device_time AS at
                      FROM scans s JOIN venues v ON v.id = s.venue_id
                     WHERE s.traveller_id = t.traveller_id
                       AND s.device_time >= (t.d - 2)::timestamp AT TIME ZONE 'UTC'
                       AND s.device_time < (t.d + 3)::timestamp AT TIME ZONE 'UTC'
                       AND s.decision = 'accept' AND s.direction = 'in'
                       AND (s.device_time AT TIME ZONE v.timezone)::date = t.d
                    UNION ALL
                    SELECT c.venue_id, c.checked_in_at
                      FROM checkins c JOIN venues v ON v.id = c.venue_id
                     WHERE c.traveller_id = t.traveller_id
                       AND c.local_day BETWEEN t.d - 1 AND t.d + 1
                       AND (c.checked_in_at AT TIME ZONE v.timezone)::date = t.d) e) x
     WHERE x.prev_venue IS NOT NULL AND x.prev_venue <> x.venue_id
     GROUP BY 1, 2, 3, 4;

    UPDATE flow_watermark
       SET horizon = hi, rows_consumed = rows_consumed + n_scans + n_checkins,
           advances = advances + 1, advanced_at = now()
     WHERE id;
    RETURN n_scans + n_checkins;
END
$fn$;
