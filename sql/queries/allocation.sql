-- Fair allocation (issue #18): the waiting list, walk-ins, lotteries and the worker's
-- jobs. The rules are functions in sql/functions/allocation.sql; time is passed in as
-- now() here (one place), or as $n where a caller chooses it.

-- name: allocation_join_waitlist
SELECT outcome, body FROM onecode_join_waitlist($1::uuid, $2::uuid, $3::integer, now());

-- name: allocation_leave_waitlist
SELECT outcome, body FROM onecode_leave_waitlist($1::uuid, $2::uuid, now());

-- name: allocation_accept_offer
SELECT outcome, body, replayed FROM onecode_accept_offer($1::uuid, $2::uuid, now());

-- name: allocation_select_my_waitlist
SELECT onecode_waitlist_json(w, now()) AS entry
  FROM waitlist_entries w
 WHERE w.traveller_id = $1
 ORDER BY w.created_at DESC, w.id DESC
 LIMIT $2;

-- name: allocation_select_my_entry
SELECT onecode_waitlist_json(w, now()) AS entry
  FROM waitlist_entries w
 WHERE w.traveller_id = $1 AND w.id = $2;

-- name: allocation_select_venue_slot
SELECT s.id FROM slots s WHERE s.id = $1 AND s.venue_id = $2;

-- name: allocation_insert_lottery
WITH lot AS (
    INSERT INTO lotteries (id, venue_id, local_day, closes_at, seed, seed_sha256)
    VALUES ($1, $2, $3, $4, $5, sha256($5))
    ON CONFLICT (venue_id, local_day) DO NOTHING
    RETURNING id, closes_at
), job AS (
    INSERT INTO allocation_jobs (kind, lottery_id, run_at)
    SELECT 'draw', lot.id, lot.closes_at FROM lot
)
SELECT id FROM lot;

-- name: allocation_select_lottery
SELECT l.id, l.venue_id, l.local_day, l.closes_at, l.state, l.applications, l.winners,
       l.drawn_at, l.created_at, encode(l.seed_sha256, 'hex') AS seed_sha256,
       CASE WHEN l.state = 'drawn' THEN encode(l.seed, 'hex') END AS seed
  FROM lotteries l
 WHERE l.id = $1 AND ($2::uuid IS NULL OR l.venue_id = $2);

-- name: allocation_select_open_lotteries
SELECT l.id, l.venue_id, l.local_day, l.closes_at, l.state, l.applications, l.winners,
       l.drawn_at, l.created_at, encode(l.seed_sha256, 'hex') AS seed_sha256,
       CASE WHEN l.state = 'drawn' THEN encode(l.seed, 'hex') END AS seed
  FROM lotteries l
 WHERE l.venue_id = $1 AND l.local_day >= $2
 ORDER BY l.local_day, l.id
 LIMIT 100;

-- The published draw: every application by rank, with its ticket (no traveller ids).
-- name: allocation_select_draw
SELECT a.id AS application_id, a.slot_id, a.party_size, a.rank, a.result,
       encode(a.ticket, 'hex') AS ticket
  FROM lottery_applications a
 WHERE a.lottery_id = $1
 ORDER BY a.rank NULLS LAST, a.id;

-- name: allocation_apply_lottery
SELECT outcome, body FROM onecode_lottery_apply($1::uuid, $2::uuid, $3::uuid, $4::integer, now());

-- name: allocation_select_my_applications
SELECT onecode_application_json(a) AS application
  FROM lottery_applications a
 WHERE a.traveller_id = $1
 ORDER BY a.created_at DESC, a.id DESC
 LIMIT $2;

-- The worker: take the next due job, skipping those another worker holds; the caller
-- deletes it and runs it in the same transaction (a crash puts it back).
-- name: allocation_take_job
SELECT j.id, j.kind, j.slot_id, j.lottery_id, j.attempts
  FROM allocation_jobs j
 WHERE j.run_at <= now()
 ORDER BY j.run_at, j.id
 LIMIT 1
   FOR UPDATE SKIP LOCKED;

-- name: allocation_delete_job
DELETE FROM allocation_jobs WHERE id = $1;

-- A failed job waits before its next try (the error is kept for the operator).
-- name: allocation_retry_job
UPDATE allocation_jobs
   SET attempts = attempts + 1, last_error = $2,
       run_at = now() + make_interval(secs => $3::double precision)
 WHERE id = $1;

-- name: allocation_offer_round
SELECT offers, expired, next_run FROM onecode_offer_round($1::uuid, now());

-- name: allocation_draw_lottery
SELECT outcome, winners, waitlisted FROM onecode_lottery_draw($1::uuid, now());
