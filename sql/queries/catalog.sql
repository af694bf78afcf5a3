-- name: catalog_insert_region
INSERT INTO regions (code, name, parent_code, default_locale) VALUES ($1, $2, $3, $4)
ON CONFLICT (code) DO NOTHING
RETURNING code, name, parent_code, default_locale;

-- name: catalog_update_region_locale
UPDATE regions SET default_locale = $2 WHERE code = $1
RETURNING code, name, parent_code, default_locale;

-- name: catalog_select_region_locale
SELECT default_locale FROM regions WHERE code = $1;

-- name: catalog_region_exists
SELECT EXISTS (SELECT 1 FROM regions WHERE code = $1);

-- name: catalog_select_missing_regions
SELECT c FROM unnest($1::text[]) AS c WHERE NOT EXISTS (SELECT 1 FROM regions WHERE code = c);

-- name: catalog_select_region_tree
WITH RECURSIVE tree AS (
    SELECT code FROM regions WHERE code = ANY($1::text[])
    UNION
    SELECT r.code FROM regions r JOIN tree t ON r.parent_code = t.code
)
SELECT array_agg(code) FROM tree;

-- name: catalog_insert_venue
INSERT INTO venues (id, region_code, name, kind, gated, requires_booking, entry_rule,
                    capacity_instant, capacity_daily, occupancy_cap_pct, timezone, lat, lon,
                    max_party_size, bookings_per_day, booking_window_days,
                    early_grace_min, late_grace_min, live_code_required, place_code,
                    walkin_quota_pct, walkin_release_min, offer_expiry_min)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
        $20, $21, $22, $23)
RETURNING id;

-- name: catalog_select_venues
SELECT v.id, v.region_code, v.name, v.kind, v.gated, v.requires_booking, v.entry_rule,
       v.capacity_instant, v.capacity_daily, v.occupancy_cap_pct, v.timezone, v.lat, v.lon,
       v.max_party_size, v.bookings_per_day, v.booking_window_days,
       v.early_grace_min, v.late_grace_min, v.place_code,
       coalesce(v.live_code_required, v.gated) AS live_code_required,
       v.walkin_quota_pct, v.walkin_release_min, v.offer_expiry_min,
       CASE WHEN v.rating_count > 0 THEN round(v.rating_sum::numeric / v.rating_count, 2)::float8 END AS rating,
       v.rating_count,
       COALESCE((SELECT sum(c.ins - c.outs) FROM venue_counters c
                  WHERE c.venue_id = v.id
                    AND c.local_day = (now() AT TIME ZONE v.timezone)::date), 0)::bigint AS inside
  FROM venues v
 WHERE ($1::uuid IS NULL OR v.id = $1)
   AND ($2::text[] IS NULL OR v.region_code = ANY($2::text[]))
 ORDER BY v.name, v.id
 LIMIT 1000;

-- name: catalog_venue_exists
SELECT EXISTS (SELECT 1 FROM venues WHERE id = $1);

-- name: catalog_select_missing_venues
SELECT v FROM unnest($1::uuid[]) AS v WHERE NOT EXISTS (SELECT 1 FROM venues WHERE id = v);

-- name: catalog_insert_gate
INSERT INTO gates (id, venue_id, name) VALUES ($1, $2, $3);

-- name: catalog_insert_operator
INSERT INTO operators (id, name) VALUES ($1, $2);

-- name: catalog_insert_operator_venues
INSERT INTO operator_venues (operator_id, venue_id)
SELECT $1, v FROM unnest($2::uuid[]) AS v ON CONFLICT DO NOTHING;

-- name: catalog_insert_planner
INSERT INTO planners (id, name) VALUES ($1, $2);

-- name: catalog_insert_planner_regions
INSERT INTO planner_regions (planner_id, region_code)
SELECT $1, r FROM unnest($2::text[]) AS r ON CONFLICT DO NOTHING;

-- name: catalog_insert_slots
-- each slot is a catalog row (slots) and its counter row (slot_counters, the capacity)
WITH input AS (
    SELECT s.id, s.starts_at, s.ends_at, s.capacity
      FROM unnest($2::uuid[], $3::timestamptz[], $4::timestamptz[], $5::int[])
           AS s (id, starts_at, ends_at, capacity)
), created AS (
    INSERT INTO slots (id, venue_id, starts_at, ends_at)
    SELECT i.id, $1, i.starts_at, i.ends_at FROM input i
    RETURNING id, venue_id, starts_at, ends_at
), counted AS (
    INSERT INTO slot_counters (venue_id, slot_id, capacity)
    SELECT c.venue_id, c.id, i.capacity FROM created c JOIN input i ON i.id = c.id
    RETURNING slot_id, capacity
)
SELECT c.id, c.venue_id, c.starts_at, c.ends_at, n.capacity,
       n.capacity - onecode_walkin_hold(n.capacity, v.walkin_quota_pct, 0, c.starts_at,
                                        v.walkin_release_min, now()) AS remaining,
       n.capacity AS walkin_remaining
  FROM created c JOIN counted n ON n.slot_id = c.id JOIN venues v ON v.id = c.venue_id

-- remaining: what general sale can take now (less the walk-in hold and the places held
-- for the waiting list); walkin_remaining: what the staffed window can still take
-- name: catalog_select_slots_for_day
SELECT s.id, s.venue_id, s.starts_at, s.ends_at, c.capacity,
       greatest(c.capacity - c.booked - c.held
                - onecode_walkin_hold(c.capacity, v.walkin_quota_pct, c.walkin_booked,
                                      s.starts_at, v.walkin_release_min, now()), 0) AS remaining,
       greatest(c.capacity - c.booked - c.held, 0) AS walkin_remaining
  FROM slots s JOIN venues v ON v.id = s.venue_id
  JOIN slot_counters c ON c.venue_id = s.venue_id AND c.slot_id = s.id
 WHERE s.venue_id = $1 AND c.venue_id = $1  -- one shard of slot_counters under Citus
   AND s.cancelled_at IS NULL  -- a cancelled slot is not offered (operations, issue 17)
   AND s.starts_at >= ($2::date::timestamp AT TIME ZONE v.timezone)
   AND s.starts_at < (($2::date + 1)::timestamp AT TIME ZONE v.timezone)
 ORDER BY s.starts_at, s.id;

-- name: catalog_select_live
SELECT v.id AS venue_id, v.capacity_instant, v.occupancy_cap_pct,
       COALESCE(sum(c.ins - c.outs), 0)::bigint AS inside,
       COALESCE(sum(c.ins), 0)::bigint AS entries_today
  FROM venues v
  LEFT JOIN venue_counters c
         ON c.venue_id = v.id AND c.local_day = (now() AT TIME ZONE v.timezone)::date
 WHERE v.id = $1
 GROUP BY v.id;

-- name: catalog_select_venue_state
-- What slot creation must respect; FOR SHARE: a concurrent deactivation or change of
-- the venue (which locks it FOR UPDATE) waits for these slots, or they for it.
SELECT v.active, v.gated, v.capacity_daily, v.region_code, v.timezone
  FROM venues v WHERE v.id = $1 FOR SHARE;

-- name: catalog_select_place_keys
SELECT kid, secret FROM place_code_keys ORDER BY kid;
