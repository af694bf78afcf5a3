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
INSERT INTO webhook_deliveries (id, subscription_id, event_type, body, retry_until)
VALUES ($1, $2, $3, $4, $5)
RETURNING id, event_type, state, attempts, next_attempt_at, retry_until, created_at,
          delivered_at, last_status, last_error;

-- name: webhooks_select_deliveries
SELECT id, event_type, state, attempts, next_attempt_at, retry_until, created_at,
       delivered_at, last_status, last_error
  FROM webhook_deliveries
 WHERE subscription_id = $1
   AND ($2::text IS NULL OR state = $2)
   AND ($4::timestamptz IS NULL OR (created_at, id) < ($4, $5::uuid))
 ORDER BY created_at DESC, id DESC
 LIMIT $3;

-- name: webhooks_select_delivery
SELECT id, event_type, state, attempts, next_attempt_at, retry_until, created_at,
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
RETURNING id, event_type, state, attempts, next_attempt_at, retry_until, created_at,
          delivered_at, last_status, last_error;

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
RETURNING d.id, d.subscription_id, d.event_type, d.body, d.attempts, d.retry_until,
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
