-- Booking answers are domain outcomes (issue #14 item 3): an idempotency key stores the
-- outcome code of its first answer ('booked', 'slot_full', ...) beside the response, no
-- HTTP status. status_code stays for keys written before this migration (a stored 201
-- still replays; a stored refusal is decided afresh, which changes nothing) until they
-- expire (the idempotency TTL, 24 hours by default).
ALTER TABLE idempotency_keys
    ADD COLUMN outcome text CHECK (outcome ~ '^[a-z][a-z_]{0,39}$');
