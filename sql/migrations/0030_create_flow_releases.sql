-- Differentially private releases of the planner indicators (issue #16).
--
-- Fixed releases: each closed local day is released once, for every venue at once,
-- with noise drawn by OpenDP (onecode/flows/privacy.py) and stored here. Every planner
-- answer (any range, any scope, JSON or CSV, asked once or a thousand times) is a sum
-- of these stored cells, so repeating a question returns the same numbers and
-- subtracting two answers leaves a sum of noisy cells, never a person.
-- The names match the Citus rollup pattern (deploy/citus/distribute.sql): flow_releases
-- is distributed by venue_id with the rollups, flow_release_days is a reference table.

-- One row per released local day: when, and the privacy parameters it was released with.
CREATE TABLE flow_release_days (
    local_day   date PRIMARY KEY,
    released_at timestamptz NOT NULL DEFAULT now(),
    epsilon     double precision NOT NULL CHECK (epsilon > 0),  -- per traveller-day, all cells
    params      jsonb NOT NULL  -- bounds and, per indicator, sensitivity, scale and epsilon
);

-- One noisy cell: the raw noisy count (it may be negative: sums over days and venues
-- stay unbiased; answers round up to 0 after summing). Every cell of the day's fixed
-- domain is stored, zero-valued truths included: a missing row would tell one apart.
CREATE TABLE flow_releases (
    venue_id  uuid NOT NULL,
    local_day date NOT NULL,
    indicator text NOT NULL,  -- visitors, visits, arrivals, dwell, origins, od
    bucket    text NOT NULL,  -- '' | hour 00..23 | dwell bin 0..5 | home region | to-venue id
    value     integer NOT NULL,
    PRIMARY KEY (venue_id, local_day, indicator, bucket)
);
