-- Planner indicators: every query reads the flow_* rollups (or, for bookings and
-- feedback, their own small tables by venue and day), never raw scans.
-- $1 is always the scope's venue ids; $2, $3 the inclusive local date range.

-- name: flows_advance_rollups
-- $1: wait for a running advance (true) or return 0 at once (false)
SELECT flows_advance($1);

-- name: flows_select_watermark
SELECT horizon::text AS horizon, rows_consumed, advances, advanced_at FROM flow_watermark;

-- name: flows_select_region_path
WITH RECURSIVE up AS (
    SELECT code, parent_code, 0 AS depth FROM regions WHERE code = $1
    UNION ALL
    SELECT r.code, r.parent_code, u.depth + 1
      FROM regions r JOIN up u ON r.code = u.parent_code
     WHERE u.depth < 32
)
SELECT (SELECT name FROM regions WHERE code = $1) AS name,
       (SELECT array_agg(code) FROM up) AS path;

-- name: flows_select_venue_path
WITH RECURSIVE up AS (
    SELECT r.code, r.parent_code, 0 AS depth
      FROM regions r JOIN venues v ON v.region_code = r.code
     WHERE v.id = $1
    UNION ALL
    SELECT r.code, r.parent_code, u.depth + 1
      FROM regions r JOIN up u ON r.code = u.parent_code
     WHERE u.depth < 32
)
SELECT v.id, v.name, v.region_code, v.timezone, v.capacity_instant, v.capacity_daily,
       (SELECT array_agg(code) FROM up) AS path
  FROM venues v
 WHERE v.id = $1;

-- name: flows_select_scope_venues
WITH RECURSIVE tree AS (
    SELECT code FROM regions WHERE code = $1
    UNION
    SELECT r.code FROM regions r JOIN tree t ON r.parent_code = t.code
)
SELECT v.id, v.name, v.region_code, v.lat, v.lon
  FROM venues v
 WHERE v.id = $2::uuid OR v.region_code IN (SELECT code FROM tree)
 ORDER BY v.name, v.id;

-- name: flows_select_occupancy
-- per local hour of the day: people in and out (party sizes), for the crowd level at
-- the end of each hour (the counts themselves never reach a planner, issue #16)
SELECT h.hour,
       COALESCE(o.people_in, 0)::bigint AS people_in,
       COALESCE(o.people_out, 0)::bigint AS people_out
  FROM generate_series(0, 23) AS h(hour)
  LEFT JOIN flow_occupancy_hours o
         ON o.venue_id = $1 AND o.local_hour = $2::date + make_interval(hours => h.hour)
 ORDER BY h.hour;

-- name: flows_select_booking_venues
WITH sl AS (
    SELECT s.venue_id, count(*) AS slots, sum(c.capacity) AS capacity
      FROM slots s JOIN venues v ON v.id = s.venue_id
      JOIN slot_counters c ON c.venue_id = s.venue_id AND c.slot_id = s.id
     WHERE s.venue_id = ANY($1::uuid[]) AND c.venue_id = ANY($1::uuid[])
       AND (s.starts_at AT TIME ZONE v.timezone)::date BETWEEN $2 AND $3
     GROUP BY s.venue_id
), bk AS (
    SELECT b.venue_id,
           count(*) AS bookings,
           count(*) FILTER (WHERE b.status = 'used') AS used,
           count(*) FILTER (WHERE b.status = 'no_show') AS no_show,
           count(*) FILTER (WHERE b.status = 'cancelled') AS cancelled,
           COALESCE(sum(b.party_size) FILTER (WHERE b.status <> 'cancelled'), 0) AS places,
           count(DISTINCT b.traveller_id) AS travellers
      FROM bookings b
     WHERE b.venue_id = ANY($1::uuid[]) AND b.local_day BETWEEN $2 AND $3
     GROUP BY b.venue_id
)
SELECT v.id AS venue_id, v.name,
       COALESCE(sl.slots, 0)::bigint AS slots, COALESCE(sl.capacity, 0)::bigint AS capacity,
       COALESCE(bk.bookings, 0)::bigint AS bookings, COALESCE(bk.used, 0)::bigint AS used,
       COALESCE(bk.no_show, 0)::bigint AS no_show,
       COALESCE(bk.cancelled, 0)::bigint AS cancelled,
       COALESCE(bk.places, 0)::bigint AS places, COALESCE(bk.travellers, 0)::bigint AS travellers
  FROM venues v
  LEFT JOIN sl ON sl.venue_id = v.id
  LEFT JOIN bk ON bk.venue_id = v.id
 WHERE v.id = ANY($1::uuid[])
 ORDER BY v.name, v.id;

-- name: flows_select_booking_lead_times
-- bins of whole days from booking to slot start: [0,1) [1,2) [2,4) [4,8) [8,15) [15,) -> 0..5
SELECT width_bucket(x.days, ARRAY[1, 2, 4, 8, 15]) AS bin,
       GROUPING(width_bucket(x.days, ARRAY[1, 2, 4, 8, 15])) = 1 AS is_total,
       count(*)::bigint AS bookings,
       count(DISTINCT x.traveller_id) AS travellers,
       count(*) FILTER (WHERE x.status = 'used')::bigint AS used,
       count(*) FILTER (WHERE x.status = 'no_show')::bigint AS no_show
  FROM (SELECT b.traveller_id, b.status,
               greatest(floor(extract(epoch FROM b.starts_at - b.created_at) / 86400), 0)::integer
                   AS days
          FROM bookings b
         WHERE b.venue_id = ANY($1::uuid[]) AND b.local_day BETWEEN $2 AND $3) x
 GROUP BY GROUPING SETS ((width_bucket(x.days, ARRAY[1, 2, 4, 8, 15])), ())
 ORDER BY is_total, bin;

-- name: flows_select_ratings
-- per rating, then the total (distinct travellers cannot be summed from the rows); two
-- aggregates in UNION ALL, not GROUPING SETS, which Citus does not run
SELECT rating, is_total, reviews, travellers, mean FROM (
    SELECT r.rating::integer AS rating, false AS is_total,
           count(*)::bigint AS reviews,
           count(DISTINCT r.traveller_id) AS travellers,
           avg(r.rating)::float8 AS mean
      FROM reviews r JOIN venues v ON v.id = r.venue_id
     WHERE r.venue_id = ANY($1::uuid[])
       AND (r.created_at AT TIME ZONE v.timezone)::date BETWEEN $2 AND $3
     GROUP BY r.rating
    UNION ALL
    SELECT NULL::integer, true,
           count(*)::bigint,
           count(DISTINCT r.traveller_id),
           avg(r.rating)::float8
      FROM reviews r JOIN venues v ON v.id = r.venue_id
     WHERE r.venue_id = ANY($1::uuid[])
       AND (r.created_at AT TIME ZONE v.timezone)::date BETWEEN $2 AND $3
) t
 ORDER BY is_total, rating;

-- name: flows_select_feedback_venues
-- one row per venue, then the scope total (venue_id NULL); each total is its own
-- aggregate in UNION ALL (distinct counts and medians cannot be summed from the rows),
-- not GROUPING SETS, which Citus does not run
WITH r AS (
    SELECT r.venue_id, r.rating, r.traveller_id
      FROM reviews r JOIN venues v ON v.id = r.venue_id
     WHERE r.venue_id = ANY($1::uuid[])
       AND (r.created_at AT TIME ZONE v.timezone)::date BETWEEN $2 AND $3
), rv AS (
    SELECT r.venue_id, count(*) AS reviews, avg(r.rating)::float8 AS rating_mean,
           count(DISTINCT r.traveller_id) AS reviewers
      FROM r GROUP BY r.venue_id
    UNION ALL
    SELECT NULL::uuid, count(*), avg(r.rating)::float8, count(DISTINCT r.traveller_id)
      FROM r
), c AS (
    SELECT c.venue_id, c.answered_at, c.created_at, c.answer_rating, c.traveller_id
      FROM complaints c JOIN venues v ON v.id = c.venue_id
     WHERE c.venue_id = ANY($1::uuid[])
       AND (c.created_at AT TIME ZONE v.timezone)::date BETWEEN $2 AND $3
), cp AS (
    SELECT c.venue_id, count(*) AS complaints,
           count(c.answered_at) AS answered,
           percentile_cont(0.5) WITHIN GROUP (
               ORDER BY extract(epoch FROM c.answered_at - c.created_at) / 3600
           )::float8 AS median_hours,
           avg(extract(epoch FROM c.answered_at - c.created_at) / 3600)::float8 AS mean_hours,
           avg(c.answer_rating)::float8 AS answer_rating_mean,
           count(DISTINCT c.traveller_id) AS complainants
      FROM c GROUP BY c.venue_id
    UNION ALL
    SELECT NULL::uuid, count(*), count(c.answered_at),
           percentile_cont(0.5) WITHIN GROUP (
               ORDER BY extract(epoch FROM c.answered_at - c.created_at) / 3600
           )::float8,
           avg(extract(epoch FROM c.answered_at - c.created_at) / 3600)::float8,
           avg(c.answer_rating)::float8,
           count(DISTINCT c.traveller_id)
      FROM c
), keys AS (
    SELECT v.id AS venue_id, v.name FROM venues v WHERE v.id = ANY($1::uuid[])
    UNION ALL
    SELECT NULL::uuid, NULL::text
)
SELECT k.venue_id, k.name,
       COALESCE(rv.reviews, 0)::bigint AS reviews, rv.rating_mean,
       COALESCE(rv.reviewers, 0)::bigint AS reviewers,
       COALESCE(cp.complaints, 0)::bigint AS complaints,
       COALESCE(cp.answered, 0)::bigint AS answered,
       cp.median_hours, cp.mean_hours, cp.answer_rating_mean,
       COALESCE(cp.complainants, 0)::bigint AS complainants
  FROM keys k
  LEFT JOIN rv ON rv.venue_id IS NOT DISTINCT FROM k.venue_id
  LEFT JOIN cp ON cp.venue_id IS NOT DISTINCT FROM k.venue_id
 ORDER BY k.venue_id IS NULL, k.name, k.venue_id;

-- --- differentially private releases (onecode/flows/privacy.py, migration 0030) ---------

-- name: flows_lock_release_day
-- $1 + $2: the release lock's base key plus the day's ordinal (one lock per day)
SELECT pg_advisory_xact_lock($1::bigint + $2::bigint);

-- name: flows_select_release_day
SELECT EXISTS (SELECT 1 FROM flow_release_days WHERE local_day = $1);

-- name: flows_insert_release_day
INSERT INTO flow_release_days (local_day, epsilon, params) VALUES ($1, $2, $3::jsonb);

-- name: flows_select_closed_days
-- $1, $2: the range; $3: seconds after a day has ended in every venue's time zone.
-- A day is closed once that moment has passed and a rollup advance has run after it.
SELECT g.d::date AS local_day,
       EXISTS (SELECT 1 FROM flow_release_days r WHERE r.local_day = g.d::date) AS released
  FROM generate_series($1::date, $2::date, interval '1 day') AS g(d)
 WHERE (SELECT max((g.d::date + 1)::timestamp AT TIME ZONE v.timezone) FROM venues v)
       + make_interval(secs => $3) <= least(now(), (SELECT advanced_at FROM flow_watermark))
 ORDER BY 1;

-- name: flows_select_release_venues
-- the venues a day's release covers: open by then (created, or with data, on or before
-- that local day), each with its top region (trips are released within one top region)
WITH RECURSIVE up AS (
    SELECT r.code, r.code AS top, r.parent_code, 0 AS depth FROM regions r
    UNION ALL
    SELECT u.code, p.code, p.parent_code, u.depth + 1
      FROM up u JOIN regions p ON p.code = u.parent_code
     WHERE u.depth < 32
)
SELECT v.id, (SELECT u.top FROM up u WHERE u.code = v.region_code AND u.parent_code IS NULL) AS root
  FROM venues v
 WHERE (v.created_at AT TIME ZONE v.timezone)::date <= $1
    OR EXISTS (SELECT 1 FROM flow_visit_hours f
                WHERE f.venue_id = v.id AND f.local_hour < $1::date + 1)
 ORDER BY v.id;

-- name: flows_select_release_truth
-- The true, contribution-bounded cells of one local day ($1) for the venues $2: each
-- traveller's first $3 venues of the day count, once each (visits: at most $4 entries),
-- with the first dwell pair there and at most $5 trips between those venues.
WITH seen AS (
    SELECT f.traveller_id, f.venue_id, min(f.local_hour) AS first_hour,
           sum(f.entries) AS entries, max(f.origin) AS origin
      FROM flow_visit_hours f
     WHERE f.venue_id = ANY($2::uuid[])
       AND f.local_hour >= $1::date AND f.local_hour < $1::date + 1
     GROUP BY f.traveller_id, f.venue_id
), kept AS (
    SELECT s.traveller_id, s.venue_id, s.first_hour, s.entries, s.origin
      FROM (SELECT s.*, row_number() OVER (PARTITION BY s.traveller_id
                                           ORDER BY s.first_hour, s.venue_id) AS n
              FROM seen s) s
     WHERE s.n <= $3
), dw AS (
    SELECT k.venue_id, width_bucket(d.minutes, ARRAY[30, 60, 120, 240, 480]) AS bin
      FROM kept k
      CROSS JOIN LATERAL (
            SELECT d.minutes FROM flow_dwell d
             WHERE d.traveller_id = k.traveller_id AND d.venue_id = k.venue_id
               AND d.local_day = $1
             ORDER BY d.entry_at
             LIMIT 1) d
), od AS (
    SELECT t.from_venue, t.to_venue
      FROM (SELECT t.from_venue, t.to_venue,
                   row_number() OVER (PARTITION BY t.traveller_id
                                      ORDER BY kf.first_hour, t.from_venue, t.to_venue) AS n
              FROM flow_trips t
              JOIN kept kf ON kf.traveller_id = t.traveller_id AND kf.venue_id = t.from_venue
              JOIN kept kt ON kt.traveller_id = t.traveller_id AND kt.venue_id = t.to_venue
             WHERE t.local_day = $1) t
     WHERE t.n <= $5
)
SELECT venue_id, 'visitors' AS indicator, '' AS bucket, count(*)::bigint AS value
  FROM kept GROUP BY venue_id
UNION ALL
SELECT venue_id, 'visits', '', sum(least(entries, $4))::bigint FROM kept GROUP BY venue_id
UNION ALL
SELECT venue_id, 'arrivals', to_char(first_hour, 'HH24'), count(*)::bigint
  FROM kept GROUP BY venue_id, to_char(first_hour, 'HH24')
UNION ALL
SELECT venue_id, 'origins', COALESCE(origin, ''), count(*)::bigint
  FROM kept GROUP BY venue_id, COALESCE(origin, '')
UNION ALL
SELECT venue_id, 'dwell', bin::text, count(*)::bigint FROM dw GROUP BY venue_id, bin
UNION ALL
SELECT from_venue, 'od', to_venue::text, count(*)::bigint FROM od GROUP BY from_venue, to_venue;

-- name: flows_select_released
-- one indicator's released cells over a scope ($1) and range ($2, $3), summed over the
-- scope's venues per day and bucket, with the number of cells summed
SELECT r.local_day, r.bucket, sum(r.value)::bigint AS value, count(*)::bigint AS cells
  FROM flow_releases r
 WHERE r.venue_id = ANY($1::uuid[]) AND r.local_day BETWEEN $2 AND $3 AND r.indicator = $4
 GROUP BY r.local_day, r.bucket
 ORDER BY r.local_day, r.bucket;

-- name: flows_select_released_links
-- trips between the scope's venues ($1, and as text $4), summed over the range, per (from, to)
SELECT r.venue_id AS from_venue, r.bucket::uuid AS to_venue, sum(r.value)::bigint AS value,
       count(*)::bigint AS cells
  FROM flow_releases r
 WHERE r.venue_id = ANY($1::uuid[]) AND r.local_day BETWEEN $2 AND $3 AND r.indicator = 'od'
   AND r.bucket = ANY($4::text[])
 GROUP BY r.venue_id, r.bucket
 ORDER BY r.venue_id, r.bucket;

-- name: flows_select_release_days
SELECT local_day, epsilon FROM flow_release_days WHERE local_day BETWEEN $1 AND $2
 ORDER BY local_day;

-- name: flows_select_release_ledger
SELECT d.local_day, d.released_at, d.epsilon,
       (SELECT count(*) FROM flow_releases r WHERE r.local_day = d.local_day) AS cells
  FROM flow_release_days d
 WHERE d.local_day BETWEEN $1 AND $2
 ORDER BY d.local_day;

-- name: flows_select_release_start
-- where the rollup loop's releases resume: after the last released day, or at the
-- first day with any visit
SELECT COALESCE((SELECT max(local_day) + 1 FROM flow_release_days),
                (SELECT min(local_hour)::date FROM flow_visit_hours)) AS first;

-- --- retention (onecode/flows/retention.py) ---------------------------------------------
-- Raw facts older than the retention cutoff ($1), once the rollups have consumed them,
-- and the traveller-level rollups of released local days up to $2. The released cells
-- (flow_releases) and the per-hour people counts (flow_occupancy_hours) stay.

-- name: flows_delete_expired_scans
DELETE FROM scans s
 WHERE s.venue_id IN (SELECT v.id FROM venues v)
   AND s.device_time < $1
   AND s.ingest_xid < (SELECT w.horizon FROM flow_watermark w);

-- name: flows_delete_expired_checkins
DELETE FROM checkins c
 WHERE c.venue_id IN (SELECT v.id FROM venues v)
   AND c.checked_in_at < $1
   AND c.ingest_xid < (SELECT w.horizon FROM flow_watermark w);

-- name: flows_delete_expired_visit_hours
DELETE FROM flow_visit_hours f
 WHERE f.venue_id IN (SELECT v.id FROM venues v)
   AND f.local_hour < $1::date + 1
   AND f.local_hour::date IN (SELECT r.local_day FROM flow_release_days r WHERE r.local_day <= $1);

-- name: flows_delete_expired_dwell
DELETE FROM flow_dwell f
 WHERE f.local_day IN (SELECT r.local_day FROM flow_release_days r WHERE r.local_day <= $1);

-- name: flows_delete_expired_trips
DELETE FROM flow_trips f
 WHERE f.local_day IN (SELECT r.local_day FROM flow_release_days r WHERE r.local_day <= $1);

-- name: flows_select_venue_activity
-- the venues of a scope ($1) with their released (noisy) visitors summed over the range
SELECT v.id, v.name, v.region_code, v.gated,
       COALESCE((SELECT sum(r.value)
                   FROM flow_releases r
                  WHERE r.venue_id = v.id AND r.local_day BETWEEN $2 AND $3
                    AND r.indicator = 'visitors' AND r.bucket = ''), 0)::bigint AS visitors
  FROM venues v
 WHERE v.id = ANY($1::uuid[]);
