-- name: complaints_insert_complaint
INSERT INTO complaints (traveller_id, id, venue_id, category, text, created_at)
SELECT $1, $2, v.id, $4, $5, clock_timestamp() FROM venues v WHERE v.id = $3
RETURNING id, venue_id, category, text, status, answer, answered_at, answer_updated_at,
          answer_rating, rated_at, created_at;

-- name: complaints_select_mine
-- Keyset page, newest first: (created_at, id) below the cursor (no cursor: below infinity).
SELECT id, venue_id, category, text, status, answer, answered_at, answer_updated_at,
       answer_rating, rated_at, created_at
  FROM complaints
 WHERE traveller_id = $1
   AND (created_at, id) < (COALESCE($3::timestamptz, 'infinity'),
                           COALESCE($4::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
 ORDER BY created_at DESC, id DESC
 LIMIT $2;

-- name: complaints_select_for_venue
SELECT id, venue_id, category, text, status, answer, answered_at, answer_updated_at,
       answer_rating, rated_at, created_at
  FROM complaints
 WHERE venue_id = $1
   AND ($5::text IS NULL OR status = $5)
   AND (created_at, id) < (COALESCE($3::timestamptz, 'infinity'),
                           COALESCE($4::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
 ORDER BY created_at DESC, id DESC
 LIMIT $2;

-- name: complaints_answer_complaint
-- The first answer fixes answered_at (time to answer); later edits only move answer_updated_at.
-- $2: the venues the operator holds, NULL for an admin; $5: now (a parameter, not now():
-- Citus refuses a non-IMMUTABLE function inside COALESCE of a distributed UPDATE).
UPDATE complaints
   SET answer = $3,
       status = 'answered',
       answered_at = COALESCE(answered_at, $5::timestamptz),
       answer_updated_at = $5::timestamptz,
       answered_by = $4
 WHERE id = $1
   AND ($2::uuid[] IS NULL OR venue_id = ANY($2::uuid[]))
RETURNING id, venue_id, category, text, status, answer, answered_at, answer_updated_at,
          answer_rating, rated_at, created_at, traveller_id;

-- name: complaints_rate_answer
UPDATE complaints
   SET answer_rating = $3, rated_at = now()
 WHERE traveller_id = $1 AND id = $2 AND answered_at IS NOT NULL
RETURNING id, venue_id, category, text, status, answer, answered_at, answer_updated_at,
          answer_rating, rated_at, created_at;

-- name: complaints_select_answered
SELECT answered_at IS NOT NULL AS answered FROM complaints WHERE traveller_id = $1 AND id = $2;
