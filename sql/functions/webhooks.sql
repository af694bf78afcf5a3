-- Webhooks, applied by `onecode migrate` after the migrations (CREATE OR REPLACE).
-- Tables: migrations 0040 (subscriptions, deliveries) and 0041 (alert state).

-- A region with its chain of parents (a planner of CN-GZ hears of CN-GZ-AS's venues).
CREATE OR REPLACE FUNCTION webhooks_region_path(p_code text) RETURNS text[]
LANGUAGE sql STABLE AS $fn$
    WITH RECURSIVE up AS (
        SELECT r.code, r.parent_code, 0 AS depth FROM regions r WHERE r.code = p_code
        UNION ALL
        SELECT r.code, r.parent_code, u.depth + 1
          FROM regions r JOIN up u ON r.code = u.parent_code
         WHERE u.depth < 32
    )
    SELECT array_agg(up.code) FROM up
$fn$;
