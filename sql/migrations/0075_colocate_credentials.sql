-- Credentials live with their traveller (issue #22, "The Citus path, for real").
--
-- A TQ1 code carries a random cred_id and, by design, no traveller id. Until now
-- credentials were keyed (and, under Citus, distributed) by cred_id, so every statement
-- that reaches them through the traveller (issue, rotate, paper pass, erase, the
-- traveller's code, the gate pack's bookings ⋈ credentials) touched every shard.
--
-- Now credentials are keyed by (traveller_id, cred_id): under Citus on the traveller's
-- shard, beside their bookings, presence and scans. The one reader that starts from a
-- code, the gate, first reads the narrow lookup credential_ids (cred_id -> traveller_id,
-- keyed and distributed by cred_id; written once, in the transaction that creates the
-- credential, never changed: rotation and paper passes make new cred_ids), then the
-- credential by (traveller_id, cred_id). Revocation state stays in one row, credentials.
-- Existing rows are kept: the lookup is filled from them.
CREATE TABLE credential_ids (
    cred_id      bytea NOT NULL CHECK (length(cred_id) = 16),
    traveller_id uuid NOT NULL,
    PRIMARY KEY (cred_id)
);

INSERT INTO credential_ids (cred_id, traveller_id)
SELECT cred_id, traveller_id FROM credentials;

ALTER TABLE credentials DROP CONSTRAINT credentials_pkey;
ALTER TABLE credentials ADD CONSTRAINT credentials_pkey PRIMARY KEY (traveller_id, cred_id);
-- the new primary key leads with traveller_id: the plain traveller index is redundant
DROP INDEX credentials_traveller_all_idx;
