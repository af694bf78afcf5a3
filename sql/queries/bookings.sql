-- Bookings: book (one statement through onecode_book_slot), read, cancel, sweep.
-- A booking still 'booked' at its start (or its making, for walk-up) + the venue's late
-- grace reads as 'no_show' even before the periodic sweep has released it
-- (onecode_release_no_shows, sql/functions/allocation.sql).

-- name: bookings_insert_booking
SELECT outcome, body, replayed
  FROM onecode_book_slot($1::uuid, $2::uuid, $3::integer, $4::text, $5::bytea,
                         make_interval(hours => $6::integer));

-- A booking at the staffed window (an operator for a walk-in traveller): may use the
-- venue's walk-in quota.
-- name: bookings_insert_walkin_booking
SELECT outcome, body, replayed
  FROM onecode_book_slot($1::uuid, $2::uuid, $3::integer, NULL, NULL, interval '0',
                         'walkin');

-- name: bookings_select_booking
SELECT b.id,
       CASE WHEN b.status = 'booked'
                 AND greatest(b.starts_at, b.created_at)
                     + make_interval(mins => v.late_grace_min::integer) <= now()
            THEN 'no_show' ELSE b.status END AS status,
       b.slot_id, b.venue_id, b.party_size, b.starts_at, b.ends_at, b.local_day, b.created_at,
       b.channel, b.cancelled_at, b.cancelled_by, b.cancel_reason
  FROM bookings b JOIN venues v ON v.id = b.venue_id
 WHERE b.traveller_id = $1 AND b.id = $2;

-- name: bookings_select_my_bookings
SELECT * FROM (
    SELECT b.id,
           CASE WHEN b.status = 'booked'
                     AND greatest(b.starts_at, b.created_at)
                         + make_interval(mins => v.late_grace_min::integer) <= now()
                THEN 'no_show' ELSE b.status END AS status,
           b.slot_id, b.venue_id, b.party_size, b.starts_at, b.ends_at, b.local_day, b.created_at,
           b.channel, b.cancelled_at, b.cancelled_by, b.cancel_reason
      FROM bookings b JOIN venues v ON v.id = b.venue_id
     WHERE b.traveller_id = $1
) AS mine
 WHERE $2::text IS NULL OR mine.status = $2::text
 ORDER BY mine.created_at DESC, mine.id DESC
 LIMIT $3;

-- Cancel and free the places (offered to the waiting list first): one statement.
-- name: bookings_cancel_booking
SELECT outcome, body FROM onecode_cancel_booking($1::uuid, $2::uuid, now());

-- Release the places of bookings unused by their start + late grace (at most $1).
-- name: bookings_release_no_shows
SELECT onecode_release_no_shows(now(), $1::integer);

-- name: bookings_delete_expired_keys
DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(hours => $1::integer);
