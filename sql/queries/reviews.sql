-- name: reviews_insert_review
-- One statement: find the traveller's visits at the venue (accepted entry scans by the
-- local day of the scan in the venue's time zone, and place-code check-ins), pick the
-- most recent day not reviewed yet, insert the review and add it to the venue's rating.
-- The UPDATE takes the venue row lock, so concurrent reviews add up exactly.
WITH venue AS (
    SELECT id, timezone FROM venues WHERE id = $2
), days AS (
    SELECT (s.device_time AT TIME ZONE venue.timezone)::date AS day
      FROM scans s, venue
     WHERE s.traveller_id = $1 AND s.venue_id = venue.id
       AND s.decision = 'accept' AND s.direction = 'in'
       AND s.flag IS NULL  -- a stale code's entry is kept, but not a verified visit
    UNION
    SELECT c.local_day FROM checkins c, venue
     WHERE c.traveller_id = $1 AND c.venue_id = venue.id
), open_day AS (
    SELECT d.day FROM days d
     WHERE NOT EXISTS (SELECT 1 FROM reviews r
                        WHERE r.traveller_id = $1 AND r.venue_id = $2 AND r.visit_day = d.day)
     ORDER BY d.day DESC
     LIMIT 1
), ins AS (
    INSERT INTO reviews (traveller_id, id, venue_id, visit_day, rating, text, created_at)
    SELECT $1, $3, $2, open_day.day, $4, $5, clock_timestamp() FROM open_day
    ON CONFLICT ON CONSTRAINT reviews_one_per_visit_uq DO NOTHING
    RETURNING id, venue_id, visit_day, rating, text, created_at
), agg AS (
    UPDATE venues v SET rating_sum = v.rating_sum + ins.rating,
                        rating_count = v.rating_count + 1
      FROM ins
     WHERE v.id = ins.venue_id
    RETURNING v.rating_sum, v.rating_count
)
SELECT EXISTS (SELECT 1 FROM venue) AS venue_found,
       EXISTS (SELECT 1 FROM days) AS visited,
       EXISTS (SELECT 1 FROM open_day) AS open_visit,
       ins.id, ins.venue_id, ins.visit_day, ins.rating, ins.text, ins.created_at,
       (SELECT CASE WHEN t.erased_at IS NULL THEN t.display_name END
          FROM travellers t WHERE t.id = $1) AS display_name
  FROM (SELECT 1) AS one
  LEFT JOIN ins ON true
  LEFT JOIN agg ON true;

-- name: reviews_select_first_page
SELECT r.id, r.venue_id, r.visit_day, r.rating, r.text, r.created_at,
       CASE WHEN t.erased_at IS NULL THEN t.display_name END AS display_name
  FROM reviews r
  LEFT JOIN travellers t ON t.id = r.traveller_id
 WHERE r.venue_id = $1
 ORDER BY r.created_at DESC, r.id DESC
 LIMIT $2;

-- name: reviews_select_next_page
SELECT r.id, r.venue_id, r.visit_day, r.rating, r.text, r.created_at,
       CASE WHEN t.erased_at IS NULL THEN t.display_name END AS display_name
  FROM reviews r
  LEFT JOIN travellers t ON t.id = r.traveller_id
 WHERE r.venue_id = $1
   AND (r.created_at, r.id) < ($3::timestamptz, $4::uuid)
 ORDER BY r.created_at DESC, r.id DESC
 LIMIT $2;

-- name: reviews_select_rating
SELECT rating_sum, rating_count FROM venues WHERE id = $1;
