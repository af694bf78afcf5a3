-- name: places_select_venue_id
SELECT id FROM venues WHERE place_code = $1;

-- name: places_insert_checkin
-- One statement: resolve the code, refuse gated venues, insert today's check-in (local
-- day in the venue's time zone) unless there is one already.
WITH v AS (
    SELECT id, gated, timezone, active FROM venues WHERE place_code = $1
), ins AS (
    INSERT INTO checkins (traveller_id, venue_id, local_day, id)
    SELECT $2, v.id, (now() AT TIME ZONE v.timezone)::date, $3 FROM v
     WHERE NOT v.gated AND v.active
    ON CONFLICT (traveller_id, venue_id, local_day) DO NOTHING
    RETURNING id, venue_id, local_day, checked_in_at
)
SELECT v.id AS venue_id, v.gated, v.active, (now() AT TIME ZONE v.timezone)::date AS today,
       ins.id, ins.local_day, ins.checked_in_at
  FROM v LEFT JOIN ins ON true;

-- name: places_select_checkin
SELECT id, venue_id, local_day, checked_in_at
  FROM checkins WHERE traveller_id = $1 AND venue_id = $2 AND local_day = $3;

-- name: places_select_place_code
SELECT id AS venue_id, place_code, place_code_version AS version, place_code_rotated_at AS rotated_at
  FROM venues WHERE id = $1;

-- name: places_bump_place_code_version
-- Locks the venue row until the transaction ends: concurrent rotations serialize.
UPDATE venues SET place_code_version = place_code_version + 1
 WHERE id = $1
RETURNING place_code_version;

-- name: places_update_place_code
UPDATE venues SET place_code = $2, place_code_rotated_at = now()
 WHERE id = $1
RETURNING id AS venue_id, place_code, place_code_version AS version, place_code_rotated_at AS rotated_at;
