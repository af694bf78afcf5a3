-- Operations (issue 17): admin listings, changes, revocation, slot changes, audit.
-- Listings are keyset pages, newest first: (created_at, id) below the cursor ($2, $3;
-- NULL: from the top), $1 rows.

-- name: operations_select_regions
SELECT r.code, r.name, r.parent_code, r.created_at, r.changed_at, r.default_locale
  FROM regions r
 WHERE ($2::text IS NULL OR r.code > $2::text)
   AND ($3::text IS NULL OR r.parent_code = $3::text)
   AND ($4::text IS NULL OR r.code = $4::text)
 ORDER BY r.code
 LIMIT $1;

-- name: operations_lock_region
SELECT r.code, r.name, r.parent_code, r.default_locale FROM regions r WHERE r.code = $1 FOR UPDATE;

-- name: operations_region_has_ancestor
-- Is $2 the region $1 or below it (a new parent that would make a loop)?
WITH RECURSIVE up AS (
    SELECT code, parent_code FROM regions WHERE code = $2
    UNION
    SELECT r.code, r.parent_code FROM regions r JOIN up ON r.code = up.parent_code
)
SELECT EXISTS (SELECT 1 FROM up WHERE code = $1);

-- name: operations_update_region
UPDATE regions SET name = $2, parent_code = $3, default_locale = $4, changed_at = now()
 WHERE code = $1
RETURNING code, name, parent_code, created_at, changed_at, default_locale;

-- name: operations_select_venues
SELECT v.id, v.region_code, v.name, v.kind, v.gated, v.requires_booking, v.entry_rule,
       v.capacity_instant, v.capacity_daily, v.occupancy_cap_pct, v.timezone, v.lat, v.lon,
       v.max_party_size, v.bookings_per_day, v.booking_window_days,
       v.early_grace_min, v.late_grace_min, v.place_code, v.active, v.deactivated_at,
       v.created_at, v.changed_at,
       v.walkin_quota_pct, v.walkin_release_min, v.offer_expiry_min
  FROM venues v
 WHERE (v.created_at, v.id) < (COALESCE($2::timestamptz, 'infinity'),
                               COALESCE($3::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
   AND ($4::text[] IS NULL OR v.region_code = ANY($4::text[]))
   AND ($5::boolean IS NULL OR v.active = $5::boolean)
   AND ($6::uuid IS NULL OR v.id = $6::uuid)
 ORDER BY v.created_at DESC, v.id DESC
 LIMIT $1;

-- name: operations_lock_venue
SELECT v.id, v.region_code, v.name, v.kind, v.gated, v.requires_booking, v.entry_rule,
       v.capacity_instant, v.capacity_daily, v.occupancy_cap_pct, v.timezone, v.lat, v.lon,
       v.max_party_size, v.bookings_per_day, v.booking_window_days,
       v.early_grace_min, v.late_grace_min, v.active,
       v.walkin_quota_pct, v.walkin_release_min, v.offer_expiry_min
  FROM venues v WHERE v.id = $1 FOR UPDATE;

-- name: operations_venue_counts
-- What a venue change must respect: gates still holding a token, and slots (a time zone
-- change would move the local day of every booking made).
SELECT (SELECT count(*) FROM gates g WHERE g.venue_id = $1 AND g.revoked_at IS NULL) AS live_gates,
       (SELECT count(*) FROM slots s WHERE s.venue_id = $1) AS slots;

-- name: operations_update_venue
UPDATE venues
   SET region_code = $2, name = $3, kind = $4, gated = $5, requires_booking = $6,
       entry_rule = $7, capacity_instant = $8, capacity_daily = $9, occupancy_cap_pct = $10,
       timezone = $11, lat = $12, lon = $13, max_party_size = $14, bookings_per_day = $15,
       booking_window_days = $16, early_grace_min = $17, late_grace_min = $18,
       walkin_quota_pct = $19, walkin_release_min = $20, offer_expiry_min = $21,
       changed_at = now()
 WHERE id = $1;

-- name: operations_set_venue_active
-- No row when the venue is unknown or already in that state.
UPDATE venues
   SET active = $2::boolean,
       deactivated_at = CASE WHEN $2::boolean THEN NULL ELSE now() END,
       changed_at = now()
 WHERE id = $1 AND active <> $2::boolean
RETURNING id, region_code;

-- name: operations_select_gates
SELECT g.id, g.venue_id, g.name, g.created_at, g.revoked_at, v.region_code
  FROM gates g JOIN venues v ON v.id = g.venue_id
 WHERE (g.created_at, g.id) < (COALESCE($2::timestamptz, 'infinity'),
                               COALESCE($3::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
   AND ($4::uuid IS NULL OR g.venue_id = $4::uuid)
   AND ($5::text[] IS NULL OR v.region_code = ANY($5::text[]))
   AND ($6::boolean IS NULL OR (g.revoked_at IS NOT NULL) = $6::boolean)
   AND ($7::uuid IS NULL OR g.id = $7::uuid)
 ORDER BY g.created_at DESC, g.id DESC
 LIMIT $1;

-- name: operations_select_operators
SELECT o.id, o.name, o.created_at, o.revoked_at,
       COALESCE((SELECT array_agg(ov.venue_id ORDER BY ov.venue_id) FROM operator_venues ov
                  WHERE ov.operator_id = o.id), '{}') AS venue_ids
  FROM operators o
 WHERE (o.created_at, o.id) < (COALESCE($2::timestamptz, 'infinity'),
                               COALESCE($3::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
   AND ($4::uuid IS NULL OR EXISTS (SELECT 1 FROM operator_venues ov
                                     WHERE ov.operator_id = o.id AND ov.venue_id = $4::uuid))
   AND ($5::text[] IS NULL OR EXISTS (SELECT 1 FROM operator_venues ov JOIN venues v ON v.id = ov.venue_id
                                       WHERE ov.operator_id = o.id AND v.region_code = ANY($5::text[])))
   AND ($6::boolean IS NULL OR (o.revoked_at IS NOT NULL) = $6::boolean)
   AND ($7::uuid IS NULL OR o.id = $7::uuid)
 ORDER BY o.created_at DESC, o.id DESC
 LIMIT $1;

-- name: operations_select_planners
SELECT p.id, p.name, p.created_at, p.revoked_at,
       COALESCE((SELECT array_agg(pr.region_code ORDER BY pr.region_code) FROM planner_regions pr
                  WHERE pr.planner_id = p.id), '{}') AS region_codes
  FROM planners p
 WHERE (p.created_at, p.id) < (COALESCE($2::timestamptz, 'infinity'),
                               COALESCE($3::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
   AND ($4::text[] IS NULL OR EXISTS (SELECT 1 FROM planner_regions pr
                                       WHERE pr.planner_id = p.id AND pr.region_code = ANY($4::text[])))
   AND ($5::boolean IS NULL OR (p.revoked_at IS NOT NULL) = $5::boolean)
   AND ($6::uuid IS NULL OR p.id = $6::uuid)
 ORDER BY p.created_at DESC, p.id DESC
 LIMIT $1;

-- name: operations_count_live_tokens
-- A second statement, not a subquery of the listings: api_tokens is distributed (by
-- token hash) under Citus and the catalog is a reference table.
SELECT t.principal_id, count(*) AS live_tokens
  FROM api_tokens t
 WHERE t.principal_id = ANY($1::uuid[]) AND t.revoked_at IS NULL
 GROUP BY t.principal_id;

-- name: operations_revoke_gate
UPDATE gates SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1
RETURNING id, venue_id, (SELECT region_code FROM venues v WHERE v.id = venue_id) AS region_code;

-- name: operations_revoke_operator
UPDATE operators SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 RETURNING id;

-- name: operations_revoke_planner
UPDATE planners SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 RETURNING id;

-- name: operations_reinstate_gate
UPDATE gates SET revoked_at = NULL WHERE id = $1
RETURNING id, venue_id, (SELECT region_code FROM venues v WHERE v.id = venue_id) AS region_code;

-- name: operations_reinstate_operator
UPDATE operators SET revoked_at = NULL WHERE id = $1 RETURNING id;

-- name: operations_reinstate_planner
UPDATE planners SET revoked_at = NULL WHERE id = $1 RETURNING id;

-- name: operations_revoke_tokens
-- Every live token of the principal; $2 is the time (a parameter: api_tokens is
-- distributed under Citus). Returns how many were live.
UPDATE api_tokens SET revoked_at = $2::timestamptz
 WHERE principal_id = $1 AND kind = $3 AND revoked_at IS NULL;

-- name: operations_notify_tokens
-- Tell every replica to drop its cached tokens of these principals (delivered at commit).
SELECT pg_notify('onecode_tokens', $1::text);

-- name: operations_insert_audit
INSERT INTO audit_log (id, actor_kind, actor_id, action, object_kind, object_id, venue_id,
                       region_code, before, after, request_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11);

-- name: operations_select_audit
SELECT a.id, a.created_at, a.actor_kind, a.actor_id, a.action, a.object_kind, a.object_id,
       a.venue_id, a.region_code, a.before, a.after, a.request_id
  FROM audit_log a
 WHERE (a.created_at, a.id) < (COALESCE($2::timestamptz, 'infinity'),
                               COALESCE($3::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))
   AND ($4::uuid[] IS NULL OR a.venue_id = ANY($4::uuid[]))
   AND ($5::text IS NULL OR a.actor_kind = $5::text)
   AND ($6::uuid IS NULL OR a.actor_id = $6::uuid)
   AND ($7::text IS NULL OR a.object_kind = $7::text)
   AND ($8::text IS NULL OR a.object_id = $8::text)
   AND ($9::text IS NULL OR a.action = $9::text)
   AND ($10::timestamptz IS NULL OR a.created_at >= $10::timestamptz)
   AND ($11::timestamptz IS NULL OR a.created_at < $11::timestamptz)
   AND ($12::text[] IS NULL OR a.region_code = ANY($12::text[]))
 ORDER BY a.created_at DESC, a.id DESC
 LIMIT $1;

-- name: operations_select_slot
SELECT s.id, s.venue_id, s.starts_at, s.ends_at, c.capacity, c.booked,
       c.capacity - c.booked AS remaining, s.cancelled_at, s.cancel_reason
  FROM slots s JOIN slot_counters c ON c.venue_id = s.venue_id AND c.slot_id = s.id
 WHERE s.id = $1 AND s.venue_id = $2 AND c.venue_id = $2 AND c.slot_id = $1;

-- name: operations_change_slot
SELECT outcome, booked, old_capacity, old_starts_at, old_ends_at
  FROM onecode_change_slot($1::uuid, $2::uuid, $3::integer, $4::timestamptz, $5::timestamptz);

-- name: operations_cancel_slot
SELECT outcome, cancelled_bookings
  FROM onecode_cancel_slot($1::uuid, $2::uuid, $3::text, $4::timestamptz);

-- name: operations_insert_slots_skipping
-- Recurring creation: windows that exist already are skipped, not refused.
-- Each new slot gets its counter row (slot_counters holds the capacity).
WITH input AS (
    SELECT s.id, s.starts_at, s.ends_at, s.capacity
      FROM unnest($2::uuid[], $3::timestamptz[], $4::timestamptz[], $5::int[])
           AS s (id, starts_at, ends_at, capacity)
), created AS (
    INSERT INTO slots (id, venue_id, starts_at, ends_at)
    SELECT i.id, $1, i.starts_at, i.ends_at FROM input i
    ON CONFLICT (venue_id, starts_at, ends_at) DO NOTHING
    RETURNING id, venue_id, starts_at, ends_at, cancelled_at, cancel_reason
), counted AS (
    INSERT INTO slot_counters (venue_id, slot_id, capacity)
    SELECT c.venue_id, c.id, i.capacity FROM created c JOIN input i ON i.id = c.id
    RETURNING slot_id, capacity, booked
)
SELECT c.id, c.venue_id, c.starts_at, c.ends_at, n.capacity, n.booked,
       n.capacity - n.booked AS remaining, c.cancelled_at, c.cancel_reason
  FROM created c JOIN counted n ON n.slot_id = c.id;

-- name: operations_lock_principal_gate
SELECT g.id, g.name, g.venue_id, v.region_code
  FROM gates g JOIN venues v ON v.id = g.venue_id WHERE g.id = $1 FOR UPDATE OF g;

-- name: operations_lock_principal_operator
SELECT o.id, o.name,
       COALESCE((SELECT array_agg(ov.venue_id ORDER BY ov.venue_id) FROM operator_venues ov
                  WHERE ov.operator_id = o.id), '{}') AS scope
  FROM operators o WHERE o.id = $1 FOR UPDATE;

-- name: operations_lock_principal_planner
SELECT p.id, p.name,
       COALESCE((SELECT array_agg(pr.region_code ORDER BY pr.region_code) FROM planner_regions pr
                  WHERE pr.planner_id = p.id), '{}') AS scope
  FROM planners p WHERE p.id = $1 FOR UPDATE;

-- name: operations_rename_gate
UPDATE gates SET name = $2 WHERE id = $1;

-- name: operations_rename_operator
UPDATE operators SET name = $2 WHERE id = $1;

-- name: operations_rename_planner
UPDATE planners SET name = $2 WHERE id = $1;

-- name: operations_drop_operator_venues
DELETE FROM operator_venues WHERE operator_id = $1 AND venue_id <> ALL($2::uuid[]);

-- name: operations_drop_planner_regions
DELETE FROM planner_regions WHERE planner_id = $1 AND region_code <> ALL($2::text[]);
