-- Gate trust (issue #15).
--
-- One record per (gate, scan_id) under any concurrency: the scans primary key carries
-- traveller_id (for Citus), so two batches (or an online scan and a batch) naming one
-- scan id with different codes could each store it. This small ledger, keyed by gate, is
-- the one place a (gate, scan_id) is claimed: gate_scan() and gate_upload() insert here
-- first and store the scan only if they won it. (Citus: distributed by gate_id.)
CREATE TABLE gate_scan_ids (
    gate_id    uuid NOT NULL REFERENCES gates (id),
    scan_id    uuid NOT NULL,
    -- whose scan it is (the zero uuid for a code naming nobody): a retry finds the
    -- stored answer on the traveller's shard of scans
    traveller_id uuid NOT NULL,
    claimed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (gate_id, scan_id)
);
CREATE INDEX gate_scan_ids_claimed_idx ON gate_scan_ids (claimed_at);

-- What the operator must look at, besides double entries (scans.conflict):
--   stale_code     an uploaded entry of a code that was expired, rotated away or erased
--                  when scanned: kept and counted in occupancy (the person walked in),
--                  but not a verified visit (no review);
--   refused_upload an uploaded item beyond its bounds (party larger than its booking, an
--                  exit of nobody inside, a forged code): kept, never counted.
ALTER TABLE scans ADD COLUMN flag text CHECK (flag IN ('stale_code', 'refused_upload'));
CREATE INDEX scans_venue_flag_idx ON scans (venue_id, device_time) WHERE flag IS NOT NULL OR conflict;
