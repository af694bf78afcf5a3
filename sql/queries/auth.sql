-- name: auth_insert_token
INSERT INTO api_tokens (token_hash, kind, principal_id) VALUES ($1, $2, $3);

-- name: auth_register_token
-- a configured token, registered at every start: already there is fine
INSERT INTO api_tokens (token_hash, kind, principal_id) VALUES ($1, $2, $3)
    ON CONFLICT (token_hash) DO NOTHING;

-- name: auth_select_principal
SELECT t.kind,
       t.principal_id,
       CASE t.kind
         WHEN 'operator' THEN (SELECT array_agg(venue_id) FROM operator_venues WHERE operator_id = t.principal_id)
         WHEN 'gate' THEN (SELECT array_agg(venue_id) FROM gates WHERE id = t.principal_id)
       END AS venue_ids,
       CASE t.kind
         WHEN 'planner' THEN (SELECT array_agg(region_code) FROM planner_regions WHERE planner_id = t.principal_id)
       END AS region_codes
  FROM api_tokens t
 WHERE t.token_hash = $1 AND t.revoked_at IS NULL;

-- name: auth_count_admin_tokens
SELECT count(*) FROM api_tokens WHERE kind = 'admin' AND revoked_at IS NULL;

-- name: auth_revoke_principal_tokens
UPDATE api_tokens SET revoked_at = now() WHERE principal_id = $1 AND revoked_at IS NULL;
