-- Slot counters out of the slots table (issue #22, deploy/citus/README.md "slot_counters").
--
-- slots stays the catalog (what, where, when; written when a slot is made, moved or
-- cancelled), a Citus reference table. What every booking writes moves to its own narrow
-- row, distributed by venue_id under Citus: a booking's counter update is then a
-- single-shard write instead of a two-phase commit on every node holding a copy of slots.
--
-- capacity moves with the counters: the rule "no slot is oversold" is the conditional
-- UPDATE of this row plus slot_counters_not_oversold_ck, and both need the capacity in
-- the row the UPDATE locks (a capacity read from another table could be stale under the
-- lock). cancelled is the counter row's copy of slots.cancelled_at IS NOT NULL, written
-- by onecode_cancel_slot in the same transaction under this row's lock, so a booking
-- waiting on the lock sees a cancel that won it.
--
-- Narrow (two uuids, four integers, a boolean) and no index on a counter column, so the
-- per-booking update stays a HOT update; fillfactor leaves room on the page for it.
ALTER TABLE slots ADD CONSTRAINT slots_id_venue_uq UNIQUE (id, venue_id);

CREATE TABLE slot_counters (
    venue_id      uuid NOT NULL REFERENCES venues (id),
    slot_id       uuid NOT NULL,
    capacity      integer NOT NULL CHECK (capacity > 0),
    booked        integer NOT NULL DEFAULT 0 CHECK (booked >= 0),
    walkin_booked integer NOT NULL DEFAULT 0 CHECK (walkin_booked >= 0),
    held          integer NOT NULL DEFAULT 0 CHECK (held >= 0),
    cancelled     boolean NOT NULL DEFAULT false,
    PRIMARY KEY (venue_id, slot_id),
    CONSTRAINT slot_counters_slot_fkey FOREIGN KEY (slot_id, venue_id)
        REFERENCES slots (id, venue_id),
    CONSTRAINT slot_counters_not_oversold_ck CHECK (booked <= capacity),
    CONSTRAINT slot_counters_walkin_within_booked_ck CHECK (walkin_booked <= booked)
) WITH (fillfactor = 70);

-- the data moves as it is: every slot gets its row, with its counters and its cancel
INSERT INTO slot_counters (venue_id, slot_id, capacity, booked, walkin_booked, held, cancelled)
SELECT s.venue_id, s.id, s.capacity, s.booked, s.walkin_booked, s.held,
       s.cancelled_at IS NOT NULL
  FROM slots s;

-- their CHECK constraints (slots_not_oversold_ck, slots_walkin_within_booked_ck) go with them
ALTER TABLE slots
    DROP COLUMN capacity,
    DROP COLUMN booked,
    DROP COLUMN walkin_booked,
    DROP COLUMN held;
