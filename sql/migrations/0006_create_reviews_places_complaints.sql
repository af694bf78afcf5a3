-- Reviews, place codes and complaints (issue 7).
--
-- Place codes become signed tokens: HMAC-SHA256 over (key id, venue id, version) under a
-- server secret kept here, so a forged code is refused before any venue lookup.
-- venues.place_code keeps the one code that currently resolves; rotation bumps the
-- version and replaces it, so the previous code stops resolving.

CREATE TABLE place_code_keys (
    kid        smallint PRIMARY KEY CHECK (kid BETWEEN 1 AND 255),
    secret     bytea NOT NULL CHECK (length(secret) = 32),
    created_at timestamptz NOT NULL DEFAULT now()
);
-- 2 × 122 random bits from pg_strong_random (gen_random_uuid is core since PostgreSQL 13).
INSERT INTO place_code_keys (kid, secret)
VALUES (1, uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()));

ALTER TABLE venues
    ADD COLUMN place_code_version    integer NOT NULL DEFAULT 0 CHECK (place_code_version >= 0),
    ADD COLUMN place_code_rotated_at timestamptz;

-- Reviews: text is stored trimmed, as given (never rendered as HTML by the API).
ALTER TABLE reviews
    ADD CONSTRAINT reviews_text_len_ck CHECK (length(text) BETWEEN 1 AND 2000);

-- Complaints: first-answer time stays fixed (planners' time to answer); later edits and
-- the traveller's rating carry their own timestamps.
ALTER TABLE complaints
    ADD COLUMN answered_by       uuid,
    ADD COLUMN answer_updated_at timestamptz,
    ADD COLUMN rated_at          timestamptz,
    -- categories are an API enum (onecode.complaints.models.Category), free in the table
    ADD CONSTRAINT complaints_category_ck CHECK (length(category) BETWEEN 1 AND 50),
    ADD CONSTRAINT complaints_text_len_ck CHECK (length(text) BETWEEN 1 AND 4000),
    ADD CONSTRAINT complaints_answer_len_ck CHECK (answer IS NULL OR length(answer) BETWEEN 1 AND 4000),
    ADD CONSTRAINT complaints_answered_ck CHECK (status <> 'answered' OR answered_at IS NOT NULL);
CREATE INDEX complaints_traveller_created_idx ON complaints (traveller_id, created_at DESC, id DESC);
-- keyset pages over (created_at, id) per venue (0001's index lacks the id tie-breaker)
CREATE INDEX complaints_venue_page_idx ON complaints (venue_id, created_at DESC, id DESC);
