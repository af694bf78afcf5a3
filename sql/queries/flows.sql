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

-- name: flows_select_arrivals
-- $4: 'hour' or 'day'; the row with is_total = true is the whole range
SELECT date_trunc($4, f.local_hour) AS bucket,
       GROUPING(date_trunc($4, f.local_hour)) = 1 AS is_total,
       sum(f.entries)::bigint AS visits,
       count(DISTINCT f.traveller_id) AS visitors
  FROM flow_visit_hours f
 WHERE f.venue_id = ANY($1::uuid[])
   AND f.local_hour >= $2::date AND f.local_hour < $3::date + 1
 GROUP BY GROUPING SETS ((date_trunc($4, f.local_hour)), ())
 ORDER BY is_total, bucket;

-- name: flows_select_occupancy
-- per local hour of the day: people in and out, distinct travellers who entered in
-- the hour, and distinct travellers entered so far that day
SELECT h.hour,
       COALESCE(o.people_in, 0)::bigint AS people_in,
       COALESCE(o.people_out, 0)::bigint AS people_out,
       (SELECT count(*)
          FROM flow_visit_hours f
         WHERE f.venue_id = $1
           AND f.local_hour = $2::date + make_interval(hours => h.hour)) AS hour_travellers,
       (SELECT count(DISTINCT f.traveller_id)
          FROM flow_visit_hours f
         WHERE f.venue_id = $1 AND f.local_hour >= $2::date
           AND f.local_hour < $2::date + make_interval(hours => h.hour + 1)) AS travellers
  FROM generate_series(0, 23) AS h(hour)
  LEFT JOIN flow_occupancy_hours o
         ON o.venue_id = $1 AND o.local_hour = $2::date + make_interval(hours => h.hour)
 ORDER BY h.hour;

-- name: flows_select_od_links
SELECT t.from_venue, t.to_venue,
       GROUPING(t.from_venue) = 1 AS is_total,
       sum(t.trips)::bigint AS trips,
       count(DISTINCT t.traveller_id) AS travellers
  FROM flow_trips t
 WHERE t.local_day BETWEEN $2 AND $3
   AND t.from_venue = ANY($1::uuid[]) AND t.to_venue = ANY($1::uuid[])
 GROUP BY GROUPING SETS ((t.from_venue, t.to_venue), ())
 ORDER BY is_total, trips DESC, t.from_venue, t.to_venue;

-- name: flows_select_dwell
-- bins: [0,30) [30,60) [60,120) [120,240) [240,480) [480,) minutes -> 0..5
SELECT width_bucket(d.minutes, ARRAY[30, 60, 120, 240, 480]) AS bin,
       GROUPING(width_bucket(d.minutes, ARRAY[30, 60, 120, 240, 480])) = 1 AS is_total,
       count(*)::bigint AS visits,
       count(DISTINCT d.traveller_id) AS travellers
  FROM flow_dwell d
 WHERE d.venue_id = ANY($1::uuid[]) AND d.local_day BETWEEN $2 AND $3
 GROUP BY GROUPING SETS ((width_bucket(d.minutes, ARRAY[30, 60, 120, 240, 480])), ())
 ORDER BY is_total, bin;

-- name: flows_select_origins
SELECT COALESCE(x.origin, 'unknown') AS home_region,
       GROUPING(COALESCE(x.origin, 'unknown')) = 1 AS is_total,
       count(*)::bigint AS visitors
  FROM (SELECT f.traveller_id, max(f.origin) AS origin
          FROM flow_visit_hours f
         WHERE f.venue_id = ANY($1::uuid[])
           AND f.local_hour >= $2::date AND f.local_hour < $3::date + 1
         GROUP BY f.traveller_id) x
 GROUP BY GROUPING SETS ((COALESCE(x.origin, 'unknown')), ())
 ORDER BY is_total, visitors DESC, home_region;

-- name: flows_select_heatmap
SELECT extract(isodow FROM f.local_hour)::integer AS weekday,
       extract(hour FROM f.local_hour)::integer AS hour,
       sum(f.entries)::bigint AS visits,
       count(DISTINCT f.traveller_id) AS travellers
  FROM flow_visit_hours f
 WHERE f.venue_id = ANY($1::uuid[])
   AND f.local_hour >= $2::date AND f.local_hour < $3::date + 1
 GROUP BY 1, 2
 ORDER BY 1, 2;

-- name: flows_select_booking_venues
WITH sl AS (
    SELECT s.venue_id, count(*) AS slots, sum(s.capacity) AS capacity
      FROM slots s JOIN venues v ON v.id = s.venue_id
     WHERE s.venue_id = ANY($1::uuid[])
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
SELECT r.rating::integer AS rating,
       GROUPING(r.rating) = 1 AS is_total,
       count(*)::bigint AS reviews,
       count(DISTINCT r.traveller_id) AS travellers,
       avg(r.rating)::float8 AS mean
  FROM reviews r JOIN venues v ON v.id = r.venue_id
 WHERE r.venue_id = ANY($1::uuid[])
   AND (r.created_at AT TIME ZONE v.timezone)::date BETWEEN $2 AND $3
 GROUP BY GROUPING SETS ((r.rating), ())
 ORDER BY is_total, rating;

-- name: flows_select_feedback_venues
-- one row per venue, then the scope total (venue_id NULL)
WITH rv AS (
    SELECT r.venue_id, count(*) AS reviews, avg(r.rating)::float8 AS rating_mean,
           count(DISTINCT r.traveller_id) AS reviewers
      FROM reviews r JOIN venues v ON v.id = r.venue_id
     WHERE r.venue_id = ANY($1::uuid[])
       AND (r.created_at AT TIME ZONE v.timezone)::date BETWEEN $2 AND $3
     GROUP BY GROUPING SETS ((r.venue_id), ())
), cp AS (
    SELECT c.venue_id, count(*) AS complaints,
           count(c.answered_at) AS answered,
           percentile_cont(0.5) WITHIN GROUP (
               ORDER BY extract(epoch FROM c.answered_at - c.created_at) / 3600
           )::float8 AS median_hours,
           avg(extract(epoch FROM c.answered_at - c.created_at) / 3600)::float8 AS mean_hours,
           avg(c.answer_rating)::float8 AS answer_rating_mean,
           count(DISTINCT c.traveller_id) AS complainants
      FROM complaints c JOIN venues v ON v.id = c.venue_id
     WHERE c.venue_id = ANY($1::uuid[])
       AND (c.created_at AT TIME ZONE v.timezone)::date BETWEEN $2 AND $3
     GROUP BY GROUPING SETS ((c.venue_id), ())
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

-- name: flows_select_venue_activity
-- the venues of a scope with the distinct travellers who entered them in the range
SELECT v.id, v.name, v.region_code, v.gated,
       (SELECT count(DISTINCT f.traveller_id)
          FROM flow_visit_hours f
         WHERE f.venue_id = v.id
           AND f.local_hour >= $2::date AND f.local_hour < $3::date + 1) AS travellers
  FROM venues v
 WHERE v.id = ANY($1::uuid[]);
