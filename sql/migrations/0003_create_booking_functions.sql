-- Bookings: the one-round-trip booking function and the indexes the reads and the
-- no-show sweep use. Tables (slots, bookings, idempotency_keys) are in 0001.

-- the no-show sweep only looks at bookings still open
CREATE INDEX bookings_open_ends_idx ON bookings (ends_at) WHERE status = 'booked';
-- a traveller's own list, newest first
CREATE INDEX bookings_traveller_created_idx ON bookings (traveller_id, created_at DESC, id DESC);
-- onecode_book_slot() lives in sql/functions/bookings.sql.
