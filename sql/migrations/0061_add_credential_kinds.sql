-- Credentials (issue #15): a traveller's phone code and paper passes are separate rows,
-- each with its own random cred_id, each revocable on its own.
--
-- kind 'phone': the live code of the app (one current row per traveller; rotation
-- revokes it, revoked_all, and inserts a new row with a new random cred_id, so codes
-- before and after a rotation cannot be linked). kind 'paper': a printed pass for one
-- booking (booking_id), accepted online without a live suffix, valid only for that
-- booking's window, revoked on its own (revoked_all) or with the account.
ALTER TABLE credentials
    ADD COLUMN kind text NOT NULL DEFAULT 'phone' CHECK (kind IN ('phone', 'paper')),
    ADD COLUMN booking_id uuid,
    ADD CONSTRAINT credentials_paper_booking_ck CHECK ((kind = 'paper') = (booking_id IS NOT NULL));

-- one current phone credential per traveller (revoked rows are kept as tombstones: the
-- gate pack lists them as revocations until their codes expire)
DROP INDEX credentials_traveller_idx;
CREATE UNIQUE INDEX credentials_traveller_idx ON credentials (traveller_id)
    WHERE kind = 'phone' AND NOT revoked_all;
CREATE INDEX credentials_traveller_all_idx ON credentials (traveller_id);
