-- name: identity_insert_traveller
INSERT INTO travellers (id, display_name, home_region) VALUES ($1, $2, $3);

-- name: identity_insert_credential
INSERT INTO credentials (cred_id, traveller_id, suffix_secret, expires_at)
VALUES ($1, $2, $3, $4);

-- name: identity_select_me
SELECT id AS traveller_id, display_name, home_region, created_at
  FROM travellers WHERE id = $1 AND erased_at IS NULL;

-- name: identity_select_credential
SELECT cred_id, generation, issued_at, expires_at, revoked_all, suffix_secret
  FROM credentials WHERE traveller_id = $1;
