-- Occupancy counters without a hot row (issue #20).
--
-- gate_counters kept one row per (gate, day), updated by every accepted scan of that
-- gate and locked until commit: every scan through one gate waited for the previous
-- one's commit (16 connections on one gate: 857 scans/s against 2,195/s on 64 gates,
-- gate_scan() alone, bench/profile_gate_scan.py). Every reader sums per venue and day
-- (the cap check, the live figures, the load alerts); nobody reads a gate's own row.
--
-- venue_counters: a venue's day in STRIPES rows; a scan adds to the stripe of the
-- database session it runs in (onecode_counter_stripe(): the backend pid modulo the
-- stripe count), so concurrent scans, which run in different sessions, do not share a
-- row, and the cap check sums at most 16 rows. (Citus: distributed by venue_id.)
CREATE TABLE venue_counters (
    venue_id  uuid     NOT NULL,
    local_day date     NOT NULL,
    stripe    smallint NOT NULL CHECK (stripe BETWEEN 0 AND 15),
    ins       bigint   NOT NULL DEFAULT 0,
    outs      bigint   NOT NULL DEFAULT 0,
    PRIMARY KEY (venue_id, local_day, stripe)
);

INSERT INTO venue_counters (venue_id, local_day, stripe, ins, outs)
SELECT venue_id, local_day, 0, sum(ins), sum(outs)
  FROM gate_counters
 GROUP BY venue_id, local_day;

DROP TABLE gate_counters;
