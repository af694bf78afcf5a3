-- Distribute onecode's schema over a Citus cluster.
--
-- Run with psql on the Citus coordinator, after `onecode migrate` has created the
-- schema there (Citus propagates later migrations' DDL to the workers by itself).
-- Re-running it is safe: a table Citus already holds is left as it is, so after a
-- migration that adds a table, run it again to distribute the new one.
--
--   SELECT citus_set_coordinator_host('<coordinator host>', 5432);  -- once per cluster
--   SELECT citus_add_node('<worker host>', 5432);                  -- per worker
--   psql "$DATABASE_URL" -v ON_ERROR_STOP=1 -f deploy/citus/distribute.sql
--
-- It runs in one transaction: either everything is distributed or nothing is. Existing
-- rows are copied into the shards. The classification (and the reasons) is checked
-- against the migrated schema by tests/integration/test_citus_ready.py; when a migration
-- adds a table, classify it there and here. See deploy/README.md, "The Citus path".

\set ON_ERROR_STOP on
BEGIN;

-- Foreign keys to reference tables and co-located tables are re-created below; in one
-- transaction Citus needs the sequential mode for that.
SET LOCAL citus.multi_shard_modify_mode TO 'sequential';
-- 64 shards: several per core on a first cluster of 2-4 workers, room to rebalance later.
SET LOCAL citus.shard_count TO 64;

-- 1. Single-node-only invariants (the test lists them in SINGLE_NODE_ONLY): none since
--    migration 0075 put credentials on their traveller's shard.

-- 2. Set the foreign keys aside: Citus wants each side distributed before a
--    key joins them. They come back in step 6, and Citus validates every one of them.
CREATE TEMP TABLE onecode_fks ON COMMIT DROP AS
-- The table is kept by NAME (::regclass::text), not by OID: citus_add_local_table_to_metadata
-- turns a table into its shard ("gate_counters_102914"), and a key re-added by OID would
-- land on the shard ("relation ... is a shard relation", seen on a real cluster).
SELECT con.conrelid::regclass::text AS tbl, con.conname AS name,
       pg_get_constraintdef(con.oid) AS def
  FROM pg_constraint con
 WHERE con.contype = 'f' AND con.connamespace = 'public'::regnamespace;

-- Already distributed (a re-run): pg_dist_partition names every table Citus holds.
CREATE OR REPLACE FUNCTION pg_temp.onecode_citus_has(rel regclass) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE found boolean;
BEGIN
    IF to_regclass('pg_dist_partition') IS NULL THEN
        RETURN false;
    END IF;
    EXECUTE 'SELECT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = $1)'
       INTO found USING rel;
    RETURN found;
END $$;

-- The distribution column of a table Citus already holds (NULL for none, or for a
-- reference or local table).
CREATE OR REPLACE FUNCTION pg_temp.onecode_citus_column(rel regclass) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE col text;
BEGIN
    IF to_regclass('pg_dist_partition') IS NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE 'SELECT column_to_column_name(logicalrelid, partkey) FROM pg_dist_partition
              WHERE logicalrelid = $1 AND partkey IS NOT NULL'
       INTO col USING rel;
    RETURN col;
END $$;

DO $$
DECLARE fk record;
BEGIN
    FOR fk IN SELECT * FROM onecode_fks LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', fk.tbl, fk.name);
    END LOOP;
END $$;

-- A cluster distributed by distribute.sql before migration 0075 dropped the key from
-- credentials to travellers (it was not co-located then): put it back in step 6.
INSERT INTO onecode_fks (tbl, name, def)
SELECT 'credentials', 'credentials_traveller_id_fkey',
       'FOREIGN KEY (traveller_id) REFERENCES travellers(id)'
 WHERE NOT EXISTS (SELECT 1 FROM onecode_fks WHERE name = 'credentials_traveller_id_fkey');

-- 3. Reference tables: the read-mostly catalog, copied to every node, so every shard
--    joins with it locally. slots is the slot catalog only (what, where, when, a
--    cancel): what a booking writes is in slot_counters (migration 0070), distributed
--    below, so a booking no longer writes a reference table (see README).
SELECT create_reference_table('regions') WHERE NOT pg_temp.onecode_citus_has('regions');
SELECT create_reference_table('venues') WHERE NOT pg_temp.onecode_citus_has('venues');
SELECT create_reference_table('gates') WHERE NOT pg_temp.onecode_citus_has('gates');
SELECT create_reference_table('operators') WHERE NOT pg_temp.onecode_citus_has('operators');
SELECT create_reference_table('operator_venues') WHERE NOT pg_temp.onecode_citus_has('operator_venues');
SELECT create_reference_table('planners') WHERE NOT pg_temp.onecode_citus_has('planners');
SELECT create_reference_table('planner_regions') WHERE NOT pg_temp.onecode_citus_has('planner_regions');
SELECT create_reference_table('slots') WHERE NOT pg_temp.onecode_citus_has('slots');
SELECT create_reference_table('place_code_keys') WHERE NOT pg_temp.onecode_citus_has('place_code_keys');
SELECT create_reference_table('lotteries') WHERE NOT pg_temp.onecode_citus_has('lotteries');
-- webhooks: the host allow-list and the subscriptions, read by every fan-out and claim
SELECT create_reference_table('webhook_hosts') WHERE NOT pg_temp.onecode_citus_has('webhook_hosts');
SELECT create_reference_table('webhook_subscriptions') WHERE NOT pg_temp.onecode_citus_has('webhook_subscriptions');
-- alert state: what the detectors announced (written on a change, once per level)
SELECT create_reference_table('venue_alert_levels') WHERE NOT pg_temp.onecode_citus_has('venue_alert_levels');
SELECT create_reference_table('venue_forecast_alerts') WHERE NOT pg_temp.onecode_citus_has('venue_forecast_alerts');

-- 4. Distributed tables.
-- Everything a traveller owns, on the traveller's shard: a traveller's request and a
-- gate scan (scan row + presence row) are single-shard. travellers' column is `id`;
-- the others name it traveller_id; Citus co-locates by value and type (uuid), not name.
SELECT create_distributed_table('travellers', 'id', colocate_with => 'none')
 WHERE NOT pg_temp.onecode_citus_has('travellers');
SELECT create_distributed_table('bookings', 'traveller_id', colocate_with => 'travellers')
 WHERE NOT pg_temp.onecode_citus_has('bookings');
SELECT create_distributed_table('presence', 'traveller_id', colocate_with => 'travellers')
 WHERE NOT pg_temp.onecode_citus_has('presence');
SELECT create_distributed_table('checkins', 'traveller_id', colocate_with => 'travellers')
 WHERE NOT pg_temp.onecode_citus_has('checkins');
SELECT create_distributed_table('reviews', 'traveller_id', colocate_with => 'travellers')
 WHERE NOT pg_temp.onecode_citus_has('reviews');
SELECT create_distributed_table('complaints', 'traveller_id', colocate_with => 'travellers')
 WHERE NOT pg_temp.onecode_citus_has('complaints');
SELECT create_distributed_table('idempotency_keys', 'traveller_id', colocate_with => 'travellers')
 WHERE NOT pg_temp.onecode_citus_has('idempotency_keys');
-- scans of codes that name nobody carry the zero uuid: they share one shard (a bounded
-- hot spot only under a flood of garbage codes, which rate limiting caps anyway).
SELECT create_distributed_table('scans', 'traveller_id', colocate_with => 'travellers')
 WHERE NOT pg_temp.onecode_citus_has('scans');
SELECT create_distributed_table('traveller_notifications', 'traveller_id', colocate_with => 'travellers')
 WHERE NOT pg_temp.onecode_citus_has('traveller_notifications');
-- waiting-list entries and lottery applications (docs/allocation.md): the traveller's
SELECT create_distributed_table('waitlist_entries', 'traveller_id', colocate_with => 'travellers')
 WHERE NOT pg_temp.onecode_citus_has('waitlist_entries');
SELECT create_distributed_table('lottery_applications', 'traveller_id', colocate_with => 'travellers')
 WHERE NOT pg_temp.onecode_citus_has('lottery_applications');

-- Slot counters (capacity, booked, walk-in, held; migration 0070), by venue_id: the
-- counter update of a booking, a cancel or an offer is single-shard (no 2PC on every
-- node, as a reference slots table made it); a venue's day listing and a lottery draw
-- read one shard. Its own co-location group: nothing joins it with the venue rollups.
SELECT create_distributed_table('slot_counters', 'venue_id', colocate_with => 'none')
 WHERE NOT pg_temp.onecode_citus_has('slot_counters');

-- A traveller's credentials, on the traveller's shard (migration 0075): issue, rotate,
-- paper passes, erase and the traveller's code are single-shard, and the gate pack's
-- bookings ⋈ credentials is a co-located join.
SELECT create_distributed_table('credentials', 'traveller_id', colocate_with => 'travellers')
 WHERE NOT pg_temp.onecode_citus_has('credentials');
-- A cluster distributed before migration 0075 holds credentials by cred_id: move them to
-- their travellers' shards, and give back the one-current-phone-credential rule that
-- could not be a unique index then (the earlier script left a plain index of that name).
SELECT alter_distributed_table('credentials', distribution_column => 'traveller_id',
                               colocate_with => 'travellers')
 WHERE pg_temp.onecode_citus_column('credentials') = 'cred_id';
DO $$
BEGIN
    IF NOT (SELECT indisunique FROM pg_index
             WHERE indexrelid = 'credentials_traveller_idx'::regclass) THEN
        DROP INDEX credentials_traveller_idx;
        CREATE UNIQUE INDEX credentials_traveller_idx ON credentials (traveller_id)
            WHERE kind = 'phone' AND NOT revoked_all;
    END IF;
END $$;
-- The cred_id is the only key a gate can read from a TQ1 code (the code holds no
-- traveller id, by design): the lookup cred_id -> traveller, by cred_id, keeps the
-- gate's first read single-shard; then it reads the traveller's shard.
SELECT create_distributed_table('credential_ids', 'cred_id', colocate_with => 'none')
 WHERE NOT pg_temp.onecode_citus_has('credential_ids');
-- The (gate, scan_id) ledger: claimed once per scan by the gate that made it
-- (docs/gates.md), always looked up by both columns.
SELECT create_distributed_table('gate_scan_ids', 'gate_id', colocate_with => 'none')
 WHERE NOT pg_temp.onecode_citus_has('gate_scan_ids');
-- A bearer token is only ever looked up by its SHA-256.
SELECT create_distributed_table('api_tokens', 'token_hash', colocate_with => 'none')
 WHERE NOT pg_temp.onecode_citus_has('api_tokens');

-- Origin-destination trips and dwell times are recomputed per traveller from that
-- traveller's scans (and check-ins) by one co-located INSERT ... SELECT each in
-- flows_advance: on the traveller's shard. The rollup horizon stays on the coordinator.
SELECT create_distributed_table('flow_trips', 'traveller_id', colocate_with => 'travellers')
 WHERE NOT pg_temp.onecode_citus_has('flow_trips');
SELECT create_distributed_table('flow_dwell', 'traveller_id', colocate_with => 'travellers')
 WHERE NOT pg_temp.onecode_citus_has('flow_dwell');
-- A cluster distributed before this change holds flow_dwell by venue_id, with the venue
-- rollups: move it to its travellers' shards. cascade_to_colocated => false leaves the
-- venue rollups where they are (it breaks only flow_dwell's co-location with them).
SELECT alter_distributed_table('flow_dwell', distribution_column => 'traveller_id',
                               colocate_with => 'travellers', cascade_to_colocated => false)
 WHERE pg_temp.onecode_citus_column('flow_dwell') = 'venue_id';
SELECT citus_add_local_table_to_metadata('flow_watermark') WHERE NOT pg_temp.onecode_citus_has('flow_watermark');

-- Rollup tables (flows) by venue_id, co-located with each other: a planner's query for
-- a venue is single-shard, a region's is a parallel fan-out over small rows. Rollup
-- state without a venue_id (watermarks) is a small reference table.
DO $$
DECLARE t record; first regclass;
BEGIN
    FOR t IN
        SELECT c.oid::regclass AS rel,
               EXISTS (SELECT 1 FROM pg_attribute a
                        WHERE a.attrelid = c.oid AND a.attname = 'venue_id'
                          AND NOT a.attisdropped) AS by_venue
          FROM pg_class c
         WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
           AND NOT c.relispartition
           AND c.relname ~ '(^|_)(rollups?|flows?|watermarks?)(_|$)'
           AND c.relname NOT IN ('flow_trips', 'flow_dwell', 'flow_watermark')
         ORDER BY c.relname
    LOOP
        IF pg_temp.onecode_citus_has(t.rel) THEN
            first := coalesce(first, CASE WHEN t.by_venue THEN t.rel END);
            CONTINUE;
        END IF;
        IF NOT t.by_venue THEN
            PERFORM create_reference_table(t.rel);
        ELSIF first IS NULL THEN
            PERFORM create_distributed_table(t.rel, 'venue_id', colocate_with => 'none');
            first := t.rel;
        ELSE
            PERFORM create_distributed_table(t.rel, 'venue_id', colocate_with => first::text);
        END IF;
    END LOOP;
END $$;

-- Occupancy counters (migration 0081): a venue's day in 16 stripes, updated by every
-- accepted scan and summed per venue by the cap check: distributed by venue_id (in the
-- primary key), the sum is single-shard and the update touches one worker, not the
-- coordinator.
SELECT create_distributed_table('venue_counters', 'venue_id', colocate_with => 'none')
 WHERE NOT pg_temp.onecode_citus_has('venue_counters');

-- 5. Local to the coordinator (Citus local tables).
--    The audit trail (migration 0020): appended by every admin and operator change in
--    that change's transaction, read by admins; small, and never joined with shards.
SELECT citus_add_local_table_to_metadata('audit_log') WHERE NOT pg_temp.onecode_citus_has('audit_log');
--    The event outbox: appended in the transaction of the change, read in order by the
--    webhook worker on the coordinator; no key to distribute by that a reader uses.
SELECT citus_add_local_table_to_metadata('events') WHERE NOT pg_temp.onecode_citus_has('events');
--    The allocation worker's job queue: written by the rules in the change's transaction,
--    taken with SKIP LOCKED by the workers on the coordinator.
SELECT citus_add_local_table_to_metadata('allocation_jobs') WHERE NOT pg_temp.onecode_citus_has('allocation_jobs');
-- The webhook queue and its attempt log: claimed with FOR UPDATE SKIP LOCKED by the
-- delivery workers, which talk to the coordinator (docs/webhooks.md).
SELECT citus_add_local_table_to_metadata('webhook_deliveries') WHERE NOT pg_temp.onecode_citus_has('webhook_deliveries');
SELECT citus_add_local_table_to_metadata('webhook_attempts') WHERE NOT pg_temp.onecode_citus_has('webhook_attempts');
-- when each gate was last heard from: upserted by every API process every few seconds
SELECT citus_add_local_table_to_metadata('gate_heartbeats') WHERE NOT pg_temp.onecode_citus_has('gate_heartbeats');
-- schema_migrations and schema_functions stay plain local tables of the coordinator.

-- 6. Put the foreign keys back; Citus refuses any that crosses shards.
DO $$
DECLARE fk record;
BEGIN
    FOR fk IN SELECT * FROM onecode_fks ORDER BY name LOOP
        EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I %s', fk.tbl, fk.name, fk.def);
    END LOOP;
END $$;

COMMIT;
