-- Flow rollups, applied by `onecode migrate` after the migrations (CREATE OR REPLACE).
-- The tables and the watermark design are described in migration 0005.

-- One advance: a single transaction (the caller's), under an advisory lock so one
-- replica advances at a time. Returns the scan and check-in rows consumed. With
-- wait = false a caller that finds another advance running returns 0 at once.
CREATE OR REPLACE FUNCTION flows_advance(wait boolean DEFAULT true) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $fn$
DECLARE
    lo xid8;
    hi xid8;
    n_scans bigint;
    n_checkins bigint;
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

    -- dwell: recompute the touched (traveller, venue, local day) cells.
    -- Set-based and co-located (deploy/citus/README.md, "The rules"): scans and flow_dwell
    -- are both on the traveller's shard, every subquery is tied to them by traveller_id,
    -- and each window is partitioned by traveller_id. No array and no set-returning
    -- function is joined (unnest(...) JOIN scans failed on the review cluster:
    -- "insufficient data left in message"). The INSERT reads the scans of the touched
    -- travellers (one primary-key probe each on one PostgreSQL) and keeps the cells that
    -- hold a scan of this advance; joining the cells themselves let the planner probe
    -- scans by (venue, time) instead, 25 times slower on a backlog without statistics.
    DELETE FROM flow_dwell f
     USING (SELECT DISTINCT k.traveller_id, k.venue_id,
                   (k.device_time AT TIME ZONE v.timezone)::date AS d
              FROM scans k JOIN venues v ON v.id = k.venue_id
             WHERE k.ingest_xid >= lo AND k.ingest_xid < hi
               AND k.decision = 'accept' AND k.traveller_id <> zero) t
     WHERE f.traveller_id = t.traveller_id AND f.venue_id = t.venue_id AND f.local_day = t.d;
    INSERT INTO flow_dwell (traveller_id, venue_id, local_day, entry_at, minutes)
    SELECT x.traveller_id, x.venue_id, x.d, x.device_time,
           floor(extract(epoch FROM x.next_time - x.device_time) / 60)::integer
      FROM (SELECT s.traveller_id, s.venue_id, s.d, s.device_time, s.direction,
                   lead(s.direction) OVER w AS next_dir, lead(s.device_time) OVER w AS next_time,
                   bool_or(s.fresh) OVER cell AS touched
              FROM (SELECT s.traveller_id, s.venue_id, s.device_time, s.direction, s.seq,
                           (s.device_time AT TIME ZONE v.timezone)::date AS d,
                           s.ingest_xid >= lo AND s.ingest_xid < hi AS fresh
                      FROM scans s JOIN venues v ON v.id = s.venue_id
                     WHERE s.decision = 'accept'
                       AND s.traveller_id IN (SELECT k.traveller_id FROM scans k
                                               WHERE k.ingest_xid >= lo AND k.ingest_xid < hi
                                                 AND k.decision = 'accept'
                                                 AND k.traveller_id <> zero)) s
            WINDOW cell AS (PARTITION BY s.traveller_id, s.venue_id, s.d),
                   w AS (cell ORDER BY s.device_time, s.seq)) x
     WHERE x.touched AND x.direction = 'in' AND x.next_dir = 'out'
    ON CONFLICT DO NOTHING;

    -- origin-destination: recompute the touched (traveller, local day) sequences, in the
    -- same co-located form: the keys (a UNION of scans and checkins, traveller_id first in
    -- both) joined on traveller_id to a UNION ALL of both (traveller_id first in both) and
    -- to flow_trips. The branches read one table each, so on one PostgreSQL every key is
    -- a primary-key probe of scans and of checkins.
    DELETE FROM flow_trips f
     USING (SELECT s.traveller_id, (s.device_time AT TIME ZONE v.timezone)::date AS d
              FROM scans s JOIN venues v ON v.id = s.venue_id
             WHERE s.ingest_xid >= lo AND s.ingest_xid < hi
               AND s.decision = 'accept' AND s.direction = 'in' AND s.traveller_id <> zero
            UNION
            SELECT c.traveller_id, (c.checked_in_at AT TIME ZONE v.timezone)::date
              FROM checkins c JOIN venues v ON v.id = c.venue_id
             WHERE c.ingest_xid >= lo AND c.ingest_xid < hi) t
     WHERE f.traveller_id = t.traveller_id AND f.local_day = t.d;
    INSERT INTO flow_trips (traveller_id, local_day, from_venue, to_venue, trips)
    SELECT x.traveller_id, x.d, x.prev_venue, x.venue_id, count(*)
      FROM (SELECT t.traveller_id, t.d, e.venue_id,
                   lag(e.venue_id) OVER (PARTITION BY t.traveller_id, t.d
                                         ORDER BY e.at, e.venue_id) AS prev_venue
              FROM (SELECT s.traveller_id, (s.device_time AT TIME ZONE v.timezone)::date AS d
                      FROM scans s JOIN venues v ON v.id = s.venue_id
                     WHERE s.ingest_xid >= lo AND s.ingest_xid < hi
                       AND s.decision = 'accept' AND s.direction = 'in'
                       AND s.traveller_id <> zero
                    UNION
                    SELECT c.traveller_id, (c.checked_in_at AT TIME ZONE v.timezone)::date
                      FROM checkins c JOIN venues v ON v.id = c.venue_id
                     WHERE c.ingest_xid >= lo AND c.ingest_xid < hi) t
              JOIN (SELECT s.traveller_id, s.venue_id, s.device_time AS at
                      FROM scans s
                     WHERE s.decision = 'accept' AND s.direction = 'in'
                    UNION ALL
                    SELECT c.traveller_id, c.venue_id, c.checked_in_at
                      FROM checkins c) e ON e.traveller_id = t.traveller_id
              JOIN venues v ON v.id = e.venue_id
             WHERE (e.at AT TIME ZONE v.timezone)::date = t.d) x
     WHERE x.prev_venue IS NOT NULL AND x.prev_venue <> x.venue_id
     GROUP BY x.traveller_id, x.d, x.prev_venue, x.venue_id;

    UPDATE flow_watermark
       SET horizon = hi, rows_consumed = rows_consumed + n_scans + n_checkins,
           advances = advances + 1, advanced_at = now()
     WHERE id;
    RETURN n_scans + n_checkins;
END
$fn$;
