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

-- name: identity_rotate_credential
-- One statement: the row lock orders racing rotations, each gets its own generation.
UPDATE credentials
   SET generation    = generation + 1,
       suffix_secret = $2,
       issued_at     = now(),
       expires_at    = now() + make_interval(days => $3),
       changed_at    = now()
 WHERE traveller_id = $1 AND NOT revoked_all
RETURNING cred_id, generation, issued_at, expires_at;

-- name: identity_erase_traveller
-- Personal fields go, the random id stays (scans, bookings and reviews keep counting);
-- the credential is revoked in every generation. Free text goes too (issue #16): the
-- traveller's review and complaint texts, and the answers to their complaints (which
-- may quote them), become a fixed marker; ratings, categories, times and counts stay.
-- Returns the traveller id once.
WITH erased AS (
    UPDATE travellers
       SET display_name = NULL, home_region = NULL, erased_at = now()
     WHERE id = $1 AND erased_at IS NULL
    RETURNING id
), revoked AS (
    UPDATE credentials
       SET revoked_all = true, changed_at = now()
     WHERE traveller_id IN (SELECT id FROM erased)
    RETURNING cred_id
), reviews_redacted AS (
    UPDATE reviews SET text = '[erased]'
     WHERE traveller_id = $1 AND EXISTS (SELECT 1 FROM erased)
    RETURNING id
), complaints_redacted AS (
    UPDATE complaints
       SET text = '[erased]', answer = CASE WHEN answer IS NOT NULL THEN '[erased]' END
     WHERE traveller_id = $1 AND EXISTS (SELECT 1 FROM erased)
    RETURNING id
)
SELECT id, (SELECT count(*) FROM revoked) AS credentials,
       (SELECT count(*) FROM reviews_redacted) AS reviews,
       (SELECT count(*) FROM complaints_redacted) AS complaints
  FROM erased;

-- name: identity_select_credential_status
SELECT traveller_id, generation, revoked_all, suffix_secret
  FROM credentials WHERE cred_id = $1;
