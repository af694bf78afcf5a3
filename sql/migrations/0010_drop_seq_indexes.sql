-- Nothing looks scans or check-ins up by seq (the rollups follow ingest_xid; seq only
-- breaks ties within one traveller's rows): one index write less on every scan.
DROP INDEX scans_seq_idx;
DROP INDEX checkins_seq_idx;
