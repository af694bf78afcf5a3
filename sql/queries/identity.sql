-- name: identity_insert_traveller
INSERT INTO travellers (id, display_name, home_region) VALUES ($1, $2, $3);

-- name: identity_insert_credential_id
-- The lookup a gate reads first (a code names its cred_id only): written in the
-- transaction that creates the credential, before it. Its primary key is what keeps a
-- cred_id unique across all travellers (credentials are keyed per traveller).
INSERT INTO credential_ids (cred_id, traveller_id) VALUES ($1, $2);

-- name: identity_insert_credential
INSERT INTO credentials (cred_id, traveller_id, suffix_secret, expires_at)
VALUES ($1, $2, $3, $4);

-- name: identity_select_me
SELECT id AS traveller_id, display_name, home_region, created_at
  FROM travellers WHERE id = $1 AND erased_at IS NULL;

-- name: identity_select_credential
-- the traveller's current phone credential
SELECT cred_id, generation, issued_at, expires_at, revoked_all, suffix_secret
  FROM credentials WHERE traveller_id = $1 AND kind = 'phone' AND NOT revoked_all;

-- name: identity_lock_traveller
-- orders racing rotations of one traveller (each then sees the one before it)
SELECT id FROM travellers WHERE id = $1 AND erased_at IS NULL FOR UPDATE;

-- name: identity_rotate_credential
-- The current phone credential is revoked (kept as a tombstone for the gate pack) and a
-- new one with a new random cred_id ($2) takes its place: codes before and after a
-- rotation share nothing. Run after identity_lock_traveller in one transaction.
WITH old AS (
    UPDATE credentials
       SET revoked_all = true, changed_at = now()
     WHERE traveller_id = $1 AND kind = 'phone' AND NOT revoked_all
    RETURNING traveller_id
)
INSERT INTO credentials (cred_id, traveller_id, suffix_secret, expires_at)
SELECT $2, old.traveller_id, $3, now() + make_interval(days => $4) FROM old
RETURNING cred_id, generation, issued_at, expires_at;

-- name: identity_select_booking_traveller
-- whose booking this is, at this venue (an operator issuing a paper pass)
SELECT traveller_id FROM bookings WHERE id = $1 AND venue_id = $2;

-- name: identity_issue_paper_pass
-- A paper pass for one live booking of the traveller ($1, $2), optionally only at one
-- venue ($5): a new credential row (cred_id $3, an unused secret $4) valid until the
-- end of the booking's local day; an earlier paper pass of the booking is revoked.
WITH b AS (
    SELECT b.id, b.traveller_id,
           greatest((b.local_day + 1)::timestamp AT TIME ZONE v.timezone,
                    b.ends_at + make_interval(mins => v.late_grace_min)) AS until
      FROM bookings b JOIN venues v ON v.id = b.venue_id
     WHERE b.traveller_id = $1 AND b.id = $2 AND b.status IN ('booked', 'used')
       AND ($5::uuid IS NULL OR b.venue_id = $5::uuid)
       AND b.ends_at + make_interval(mins => v.late_grace_min) > now()
), old AS (
    UPDATE credentials c
       SET revoked_all = true, changed_at = now()
     WHERE c.traveller_id = $1 AND c.kind = 'paper' AND c.booking_id = $2
       AND NOT c.revoked_all AND EXISTS (SELECT 1 FROM b)
    RETURNING c.cred_id
)
INSERT INTO credentials (cred_id, traveller_id, kind, booking_id, suffix_secret, expires_at)
SELECT $3, b.traveller_id, 'paper', b.id, $4, b.until FROM b
RETURNING cred_id, generation, issued_at, expires_at, booking_id,
          (SELECT count(*) FROM old) AS replaced;

-- name: identity_revoke_paper_pass
-- revokes the booking's paper pass (if any); answers whether the booking is the
-- traveller's at all
WITH revoked AS (
    UPDATE credentials
       SET revoked_all = true, changed_at = now()
     WHERE traveller_id = $1 AND kind = 'paper' AND booking_id = $2 AND NOT revoked_all
    RETURNING cred_id
)
SELECT EXISTS (SELECT 1 FROM bookings WHERE traveller_id = $1 AND id = $2) AS mine,
       (SELECT count(*) FROM revoked) AS revoked;

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
     WHERE traveller_id = $1 AND EXISTS (SELECT 1 FROM erased)
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

