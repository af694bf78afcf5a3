-- An offer round reads a slot's open offers (their places, the first expiry, those due)
-- without walking its whole queue: a 10,000-entry waiting list costs a round a few
-- index entries, not 10,000 (bench/bench_waitlist.py).
CREATE INDEX waitlist_slot_offers_idx ON waitlist_entries (slot_id, expires_at)
    WHERE state = 'offer';
