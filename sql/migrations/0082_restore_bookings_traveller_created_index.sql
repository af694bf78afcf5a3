-- Migration 0080 dropped bookings (traveller_id, created_at DESC, id DESC), reasoning
-- that the primary key (traveller_id, id) serves the traveller's reads. Measured, it did
-- not: without it the planner reads a traveller's rows for the daily-limit count of
-- every booking through a bitmap scan of the primary key, and bookings fell from
-- 1,463 to 1,226/s on one hot slot and from 1,680 to 1,110/s over 96 slots
-- (bench_bookings, c=64, durable, same machine); with it back, 1,591 and 1,913/s.
CREATE INDEX IF NOT EXISTS bookings_traveller_created_idx
    ON bookings (traveller_id, created_at DESC, id DESC);
