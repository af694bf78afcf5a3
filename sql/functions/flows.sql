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
    dw_t uuid[];
    dw_v uuid[];
    dw_d date[];
    od_t uuid[];
    od_d date[];
    od_one uuid;
    od_day date;
    dw_one uuid;
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
    -- One (traveller, venue, day) at a time, as the trips step below: each statement
    -- names its traveller (scans on that traveller's shard under Citus). The set form,
    -- unnest(...) JOIN scans, failed on the review cluster ("insufficient data left in
    -- message"). On one PostgreSQL the loop costs: bench_flows.py, 50,000 scans,
    -- backlog advance 50,520 -> 21,989 rows/s (both steps per key: 79,648 before either).
    FOR i IN 1 .. coalesce(array_length(dw_t, 1), 0) LOOP
        od_one := dw_t[i];
        dw_one := dw_v[i];
        od_day := dw_d[i];
        DELETE FROM flow_dwell f
         WHERE f.traveller_id = od_one AND f.venue_id = dw_one AND f.local_day = od_day;
        INSERT INTO flow_dwell (traveller_id, venue_id, local_day, entry_at, minutes)
        SELECT od_one, dw_one, od_day, x.device_time,
               floor(extract(epoch FROM x.next_time - x.device_time) / 60)::integer
          FROM (SELECT s.device_time, s.direction,
                       lead(s.direction) OVER w AS next_dir,
                       lead(s.device_time) OVER w AS next_time
                  FROM scans s JOIN venues v ON v.id = s.venue_id
                 WHERE s.traveller_id = od_one AND s.venue_id = dw_one
                   AND s.decision = 'accept'
                   AND s.device_time >= (od_day::timestamp AT TIME ZONE v.timezone)
                   AND s.device_time < ((od_day + 1)::timestamp AT TIME ZONE v.timezone)
                WINDOW w AS (ORDER BY s.device_time, s.seq)) x
         WHERE x.direction = 'in' AND x.next_dir = 'out'
        ON CONFLICT DO NOTHING;
    END LOOP;

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
    -- One (traveller, day) at a time: each statement names its traveller, so under Citus
    -- it runs on that traveller's shard, where scans, checkins and flow_trips are
    -- co-located. A LATERAL join of those tables to unnest() is refused there ("complex
    -- joins are only supported when all distributed tables are co-located").
    FOR i IN 1 .. coalesce(array_length(od_t, 1), 0) LOOP
        od_one := od_t[i];
        od_day := od_d[i];
        DELETE FROM flow_trips f WHERE f.traveller_id = od_one AND f.local_day = od_day;
        INSERT INTO flow_trips (traveller_id, local_day, from_venue, to_venue, trips)
        SELECT od_one, od_day, x.prev_venue, x.venue_id, count(*)
          FROM (SELECT e.venue_id,
                       lag(e.venue_id) OVER (ORDER BY e.at, e.venue_id) AS prev_venue
                  FROM (SELECT s.venue_id, s.device_time AS at
                          FROM scans s JOIN venues v ON v.id = s.venue_id
                         WHERE s.traveller_id = od_one
                           AND s.device_time >= (od_day - 2)::timestamp AT TIME ZONE 'UTC'
                           AND s.device_time < (od_day + 3)::timestamp AT TIME ZONE 'UTC'
                           AND s.decision = 'accept' AND s.direction = 'in'
                           AND (s.device_time AT TIME ZONE v.timezone)::date = od_day
                        UNION ALL
                        SELECT c.venue_id, c.checked_in_at
                          FROM checkins c JOIN venues v ON v.id = c.venue_id
                         WHERE c.traveller_id = od_one
                           AND c.local_day BETWEEN od_day - 1 AND od_day + 1
                           AND (c.checked_in_at AT TIME ZONE v.timezone)::date = od_day) e) x
         WHERE x.prev_venue IS NOT NULL AND x.prev_venue <> x.venue_id
         GROUP BY x.prev_venue, x.venue_id;
    END LOOP;

    UPDATE flow_watermark
       SET horizon = hi, rows_consumed = rows_consumed + n_scans + n_checkins,
           advances = advances + 1, advanced_at = now()
     WHERE id;
    RETURN n_scans + n_checkins;
END
$fn$;
