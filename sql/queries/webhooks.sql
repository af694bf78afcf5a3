-- Webhooks: the host allow-list, subscriptions, and the delivery queue (which is also the
-- delivery log). An owner of NULL is an admin's unlimited view.

-- name: webhooks_select_hosts
SELECT host, note, added_at FROM webhook_hosts ORDER BY host;

-- name: webhooks_insert_host
INSERT INTO webhook_hosts (host, note) VALUES ($1, $2)
ON CONFLICT (host) DO UPDATE SET note = EXCLUDED.note
RETURNING host, note, added_at;

-- name: webhooks_delete_host
DELETE FROM webhook_hosts WHERE host = $1 RETURNING host;

-- name: webhooks_select_region_paths
-- each asked region with its chain of parents (NULL path: no such region)
WITH RECURSIVE up AS (
    SELECT a.code AS asked, r.code, r.parent_code, 0 AS depth
      FROM unnest($1::text[]) AS a (code) JOIN regions r ON r.code = a.code
    UNION ALL
    SELECT u.asked, r.code, r.parent_code, u.depth + 1
      FROM regions r JOIN up u ON r.code = u.parent_code
     WHERE u.depth < 32
)
SELECT a.code, (SELECT array_agg(up.code) FROM up WHERE up.asked = a.code) AS path
  FROM unnest($1::text[]) AS a (code);

-- name: webhooks_insert_subscription
INSERT INTO webhook_subscriptions
       (id, owner_kind, owner_id, url, events, venue_ids, region_codes, description,
        enabled, secret_box)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
RETURNING id, url, events, venue_ids, region_codes, description, enabled, owner_kind,
          created_at, updated_at, previous_secret_until;

-- name: webhooks_select_subscription
SELECT id, url, events, venue_ids, region_codes, description, enabled, owner_kind,
       created_at, updated_at, previous_secret_until
  FROM webhook_subscriptions
 WHERE id = $1 AND ($2::uuid IS NULL OR owner_id = $2);

-- name: webhooks_lock_subscription
SELECT id, url, events, venue_ids, region_codes, description, enabled, owner_kind,
       created_at, updated_at, previous_secret_until
  FROM webhook_subscriptions
 WHERE id = $1 AND ($2::uuid IS NULL OR owner_id = $2)
   FOR UPDATE;

-- name: webhooks_select_subscriptions
SELECT id, url, events, venue_ids, region_codes, description, enabled, owner_kind,
       created_at, updated_at, previous_secret_until
  FROM webhook_subscriptions
 WHERE ($1::uuid IS NULL OR owner_id = $1)
   AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4::uuid))
 ORDER BY created_at DESC, id DESC
 LIMIT $2;

-- name: webhooks_update_subscription
UPDATE webhook_subscriptions
   SET url = $2, events = $3, venue_ids = $4, region_codes = $5, description = $6,
       enabled = $7, updated_at = $8
 WHERE id = $1
RETURNING id, url, events, venue_ids, region_codes, description, enabled, owner_kind,
          created_at, updated_at, previous_secret_until;

-- name: webhooks_delete_subscription
DELETE FROM webhook_subscriptions
 WHERE id = $1 AND ($2::uuid IS NULL OR owner_id = $2)
RETURNING id;

-- name: webhooks_rotate_secret
UPDATE webhook_subscriptions
   SET previous_secret_box = secret_box, previous_secret_until = $4, secret_box = $3,
       updated_at = $5
 WHERE id = $1 AND ($2::uuid IS NULL OR owner_id = $2)
RETURNING previous_secret_until;

-- name: webhooks_insert_ping
INSERT INTO webhook_deliveries (id, message_id, subscription_id, event_type, body, retry_until)
VALUES ($1, $1, $2, $3, $4, $5)
RETURNING id, message_id, event_type, state, attempts, next_attempt_at, retry_until, created_at,
          delivered_at, last_status, last_error;

-- name: webhooks_select_deliveries
SELECT id, message_id, event_type, state, attempts, next_attempt_at, retry_until, created_at,
       delivered_at, last_status, last_error
  FROM webhook_deliveries
 WHERE subscription_id = $1
   AND ($2::text IS NULL OR state = $2)
   AND ($4::timestamptz IS NULL OR (created_at, id) < ($4, $5::uuid))
 ORDER BY created_at DESC, id DESC
 LIMIT $3;

-- name: webhooks_select_delivery
SELECT id, message_id, event_type, state, attempts, next_attempt_at, retry_until, created_at,
       delivered_at, last_status, last_error, body
  FROM webhook_deliveries
 WHERE subscription_id = $1 AND id = $2;

-- name: webhooks_select_attempts
SELECT n, started_at, duration_ms, status, outcome, error
  FROM webhook_attempts
 WHERE delivery_id = $1
 ORDER BY n;

-- name: webhooks_replay_delivery
-- a delivered or dead-lettered message goes again, with the same webhook-id
UPDATE webhook_deliveries
   SET state = 'pending', next_attempt_at = $3, retry_until = $4, claim = NULL
 WHERE subscription_id = $1 AND id = $2 AND state <> 'pending'
RETURNING id, message_id, event_type, state, attempts, next_attempt_at, retry_until,
          created_at, delivered_at, last_status, last_error;

-- name: webhooks_claim_deliveries
-- take due messages of enabled subscriptions; the lease is the new next_attempt_at
WITH due AS (
    SELECT d.id
      FROM webhook_deliveries d
      JOIN webhook_subscriptions s ON s.id = d.subscription_id
     WHERE d.state = 'pending' AND d.next_attempt_at <= $4 AND s.enabled
     ORDER BY d.next_attempt_at
     LIMIT $1
       FOR UPDATE OF d SKIP LOCKED
)
UPDATE webhook_deliveries d
   SET attempts = d.attempts + 1, next_attempt_at = $2, claim = $3
  FROM due, webhook_subscriptions s
 WHERE d.id = due.id AND s.id = d.subscription_id
RETURNING d.id, d.message_id, d.subscription_id, d.event_type, d.body, d.attempts, d.retry_until,
          s.url, s.secret_box,
          CASE WHEN s.previous_secret_until > $4 THEN s.previous_secret_box END
              AS previous_secret_box;

-- name: webhooks_record_attempt
-- only the claim that sent the message records its outcome
WITH d AS (
    UPDATE webhook_deliveries
       SET state = $3, next_attempt_at = $4, claim = NULL, last_status = $5, last_error = $6,
           delivered_at = CASE WHEN $3 = 'delivered' THEN $8 ELSE delivered_at END
     WHERE id = $1 AND claim = $2
 RETURNING id, attempts
)
INSERT INTO webhook_attempts (delivery_id, n, started_at, duration_ms, status, outcome, error)
SELECT d.id, d.attempts, $7, $9, $5, $10, $6 FROM d
ON CONFLICT (delivery_id, n) DO NOTHING
RETURNING delivery_id;

-- name: webhooks_select_queue
SELECT state, count(*)::bigint AS n,
       min(created_at) FILTER (WHERE state = 'pending') AS oldest
  FROM webhook_deliveries
 GROUP BY state;

-- name: webhooks_select_venue_paths
-- each asked venue with its region's chain of parents (no row: no such venue)
WITH RECURSIVE up AS (
    SELECT v.id AS asked, r.code, r.parent_code, 0 AS depth
      FROM venues v JOIN regions r ON r.code = v.region_code
     WHERE v.id = ANY($1::uuid[])
    UNION ALL
    SELECT u.asked, r.code, r.parent_code, u.depth + 1
      FROM regions r JOIN up u ON r.code = u.parent_code
     WHERE u.depth < 32
)
SELECT asked AS id, array_agg(code) AS path FROM up GROUP BY asked;

-- name: webhooks_fan_out
-- Unmarked events become one message per matching subscription, and are marked, in one
-- statement. A subscription matches by event type, its filters, and its owner's scope
-- now (an operator's venues, a planner's regions and the regions below them; a revoked
-- operator or planner hears nothing).
-- $1: batch size, $2: retry_until of the new messages, $3: now.
WITH ev AS (
    SELECT e.id, e.type, e.venue_id, e.payload, e.created_at,
           COALESCE(e.region_code, v.region_code) AS region_code
      FROM events e LEFT JOIN venues v ON v.id = e.venue_id
     WHERE e.fanned_out_at IS NULL
     ORDER BY e.created_at
     LIMIT $1
       FOR UPDATE OF e SKIP LOCKED
), scoped AS (
    SELECT ev.*, webhooks_region_path(ev.region_code) AS path FROM ev
), ins AS (
    INSERT INTO webhook_deliveries
           (id, message_id, subscription_id, event_id, event_type, body, retry_until)
    SELECT gen_random_uuid(), sc.id, s.id, sc.id, sc.type,
           jsonb_build_object(
               'type', sc.type,
               'timestamp', to_char(sc.created_at AT TIME ZONE 'UTC',
                                    'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               'data', sc.payload || jsonb_strip_nulls(jsonb_build_object(
                   'venue_id', sc.venue_id, 'region_code', sc.region_code))
           )::text,
           $2
      FROM scoped sc
      JOIN webhook_subscriptions s ON s.enabled AND sc.type = ANY (s.events)
     WHERE (s.venue_ids IS NULL OR sc.venue_id = ANY (s.venue_ids))
       AND (s.region_codes IS NULL OR sc.path && s.region_codes)
       AND CASE s.owner_kind
             WHEN 'admin' THEN true
             WHEN 'operator' THEN EXISTS (
                 SELECT 1 FROM operator_venues ov JOIN operators o ON o.id = ov.operator_id
                  WHERE ov.operator_id = s.owner_id AND ov.venue_id = sc.venue_id
                    AND o.revoked_at IS NULL)
             WHEN 'planner' THEN EXISTS (
                 SELECT 1 FROM planner_regions pr JOIN planners p ON p.id = pr.planner_id
                  WHERE pr.planner_id = s.owner_id AND pr.region_code = ANY (sc.path)
                    AND p.revoked_at IS NULL)
             ELSE false
           END
    ON CONFLICT (subscription_id, event_id) DO NOTHING
    RETURNING 1
), marked AS (
    UPDATE events e SET fanned_out_at = $3 FROM ev WHERE e.id = ev.id RETURNING 1
)
SELECT (SELECT count(*) FROM marked) AS events, (SELECT count(*) FROM ins) AS deliveries;

-- name: webhooks_select_loads
-- Every venue's people inside now and entries today (its local day), from the venue
-- counters the scans keep.
SELECT v.id, v.region_code, v.capacity_instant, v.capacity_daily,
       (now() AT TIME ZONE v.timezone)::date AS local_day,
       COALESCE(sum(c.ins - c.outs), 0)::bigint AS inside,
       COALESCE(sum(c.ins), 0)::bigint AS entries
  FROM venues v
  LEFT JOIN venue_counters c
         ON c.venue_id = v.id AND c.local_day = (now() AT TIME ZONE v.timezone)::date
 WHERE v.active
 GROUP BY v.id;

-- name: webhooks_select_alert_levels
SELECT venue_id, kind, level, local_day FROM venue_alert_levels;

-- name: webhooks_upsert_alert_level
INSERT INTO venue_alert_levels (venue_id, kind, level, local_day, load_pct, changed_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (venue_id, kind) DO UPDATE
   SET level = EXCLUDED.level, local_day = EXCLUDED.local_day,
       load_pct = EXCLUDED.load_pct, changed_at = EXCLUDED.changed_at;

-- name: webhooks_select_booked_days
-- places booked per venue and local day, from today for $1 days
SELECT v.id, v.region_code, v.capacity_daily,
       (s.starts_at AT TIME ZONE v.timezone)::date AS local_day,
       sum(c.booked)::bigint AS booked
  FROM slots s JOIN venues v ON v.id = s.venue_id
  JOIN slot_counters c ON c.venue_id = s.venue_id AND c.slot_id = s.id
 WHERE v.active AND s.cancelled_at IS NULL
   AND s.starts_at >= date_trunc('day', now() AT TIME ZONE v.timezone) AT TIME ZONE v.timezone
   AND s.starts_at < (date_trunc('day', now() AT TIME ZONE v.timezone)
                      + make_interval(days => $1)) AT TIME ZONE v.timezone
 GROUP BY v.id, 4
HAVING sum(c.booked) > 0;

-- name: webhooks_insert_forecast_alert
INSERT INTO venue_forecast_alerts (venue_id, local_day, level, booked, announced_at)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT DO NOTHING
RETURNING level;

-- name: webhooks_upsert_heartbeats
INSERT INTO gate_heartbeats (gate_id, last_seen_at)
SELECT g.id, t.at
  FROM unnest($1::uuid[], $2::timestamptz[]) AS t (gate_id, at)
  JOIN gates g ON g.id = t.gate_id
ON CONFLICT (gate_id) DO UPDATE
   SET last_seen_at = GREATEST(gate_heartbeats.last_seen_at, EXCLUDED.last_seen_at),
       offline_since = CASE WHEN EXCLUDED.last_seen_at > gate_heartbeats.offline_since
                            THEN NULL ELSE gate_heartbeats.offline_since END;

-- name: webhooks_mark_gates_offline
-- gates last heard before $1 and not yet announced: mark them, return them to announce
-- (a revoked gate, or one of a deactivated venue, is silent on purpose)
UPDATE gate_heartbeats h
   SET offline_since = $2
  FROM gates g JOIN venues v ON v.id = g.venue_id
 WHERE g.id = h.gate_id AND h.last_seen_at < $1 AND h.offline_since IS NULL
   AND g.revoked_at IS NULL AND v.active
RETURNING h.gate_id, g.name, g.venue_id, v.region_code, h.last_seen_at;

-- name: webhooks_try_detector_lock
SELECT pg_try_advisory_xact_lock(7021);

-- name: webhooks_select_levels_in_region
-- the level last announced for each active venue of region $1 and the regions below it
WITH RECURSIVE tree AS (
    SELECT code FROM regions WHERE code = $1
    UNION
    SELECT r.code FROM regions r JOIN tree t ON r.parent_code = t.code
)
SELECT v.id AS venue_id, v.name AS venue_name, a.kind, a.level, a.changed_at
  FROM venues v JOIN venue_alert_levels a ON a.venue_id = v.id
 WHERE v.region_code IN (SELECT code FROM tree) AND v.active
 ORDER BY v.name, v.id, a.kind;

-- name: webhooks_select_recent_alerts
-- the newest crowd and operations events of region $1 and the regions below it
WITH RECURSIVE tree AS (
    SELECT code FROM regions WHERE code = $1
    UNION
    SELECT r.code FROM regions r JOIN tree t ON r.parent_code = t.code
)
SELECT e.id, e.type, e.venue_id, v.name AS venue_name, e.payload, e.created_at
  FROM events e LEFT JOIN venues v ON v.id = e.venue_id
 WHERE e.type = ANY ($2::text[])
   AND COALESCE(e.region_code, v.region_code) IN (SELECT code FROM tree)
 ORDER BY e.created_at DESC, e.id DESC
 LIMIT $3;

-- name: webhooks_prune_log
-- delivered and dead messages (with their attempts) older than $1 go, $2 at a time
DELETE FROM webhook_deliveries
 WHERE id IN (SELECT id FROM webhook_deliveries
               WHERE state <> 'pending' AND created_at < $1
               LIMIT $2);
