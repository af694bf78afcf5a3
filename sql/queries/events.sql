-- name: events_select_notifications
-- A traveller's notifications, newest first: keyset page below the cursor.
SELECT id, type, payload, created_at
  FROM traveller_notifications
 WHERE traveller_id = $1
   AND (created_at, id) < (COALESCE($3::timestamptz, 'infinity'),
                           COALESCE($4::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
 ORDER BY created_at DESC, id DESC
 LIMIT $2;

-- name: events_delete_notifications
-- Erasure: what the venue told this traveller goes with their personal data.
DELETE FROM traveller_notifications WHERE traveller_id = $1;
