-- The gate's hot path writes less per scan (issue #20). Measured per accepted first entry
-- with pg_stat_statements (bench/profile_gate_scan.py, one connection, durable):
--
-- 1. No foreign keys from the scan path's tables to the catalog. Every insert into scans,
--    gate_scan_ids, gate_counters and presence ran a referential check on gates or
--    venues, and each check takes FOR KEY SHARE on the parent row: four checks per scan,
--    and with one gate (or one venue) every concurrent scan shares a lock on the same
--    row, which PostgreSQL keeps as a MultiXact. The ids come from the authenticated
--    gate token (gate and venue), never from the client; gates and venues are never
--    deleted (revoked_at, active = false), so the checks guarded nothing.
ALTER TABLE scans DROP CONSTRAINT IF EXISTS scans_gate_id_fkey;
ALTER TABLE scans DROP CONSTRAINT IF EXISTS scans_venue_id_fkey;
ALTER TABLE gate_scan_ids DROP CONSTRAINT IF EXISTS gate_scan_ids_gate_id_fkey;
ALTER TABLE gate_counters DROP CONSTRAINT IF EXISTS gate_counters_gate_id_fkey;
ALTER TABLE gate_counters DROP CONSTRAINT IF EXISTS gate_counters_venue_id_fkey;
ALTER TABLE presence DROP CONSTRAINT IF EXISTS presence_venue_id_fkey;

-- 2. Two of the six indexes of scans go. (gate_id, scan_id): the ledger gate_scan_ids
--    answers "was this scan id seen at this gate" (its primary key), for retries and for
--    uploads. (traveller_id, device_time): the primary key (traveller_id, gate_id,
--    scan_id) already leads with the traveller, and a traveller has a handful of scans
--    a day; the visit list sorts them.
DROP INDEX IF EXISTS scans_gate_scan_idx;
DROP INDEX IF EXISTS scans_traveller_idx;

-- 3. The ledger's claim time is append-only: a BRIN index (a few pages for millions of
--    rows, no B-tree insert per scan) serves a retention sweep by claimed_at as well.
DROP INDEX IF EXISTS gate_scan_ids_claimed_idx;
CREATE INDEX gate_scan_ids_claimed_brin ON gate_scan_ids USING brin (claimed_at);

-- 4. Two of the eight indexes of bookings go (an accepted scan marks its booking used, a
--    non-HOT update that writes every index again). (venue_id, changed_at): the offline
--    pack's delta reads a venue's two days by (venue_id, local_day) and filters on the
--    change time. (traveller_id, created_at, id): the primary key (traveller_id, id)
--    leads with the traveller; the traveller's list sorts their bookings.
DROP INDEX IF EXISTS bookings_venue_changed_idx;
DROP INDEX IF EXISTS bookings_traveller_created_idx;
