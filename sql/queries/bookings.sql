-- Bookings: book (one statement through onecode_book_slot), read, cancel, sweep.
-- A booking still 'booked' after its slot ended (+ the venue's late grace) reads as
-- 'no_show' even before the periodic sweep has written it.

-- name: bookings_insert_booking
SELECT status_code, body, replayed
  FROM onecode_book_slot($1::uuid, $2::uuid, $3::integer, $4::text, $5::bytea,
                         make_interval(hours => $6::integer));

-- name: bookings_select_booking
SELECT b.id,
       CASE WHEN b.status = 'booked'
                 AND b.ends_at + make_interval(mins => v.late_grace_min::integer) < now()
            THEN 'no_show' ELSE b.status END AS status,
       b.slot_id, b.venue_id, b.party_size, b.starts_at, b.ends_at, b.local_day, b.created_at,
       b.cancelled_at, b.cancelled_by, b.cancel_reason
  FROM bookings b JOIN venues v ON v.id = b.venue_id
 WHERE b.traveller_id = $1 AND b.id = $2;

-- name: bookings_select_my_bookings
SELECT * FROM (
    SELECT b.id,
           CASE WHEN b.status = 'booked'
                     AND b.ends_at + make_interval(mins => v.late_grace_min::integer) < now()
                THEN 'no_show' ELSE b.status END AS status,
           b.slot_id, b.venue_id, b.party_size, b.starts_at, b.ends_at, b.local_day, b.created_at,
           b.cancelled_at, b.cancelled_by, b.cancel_reason
      FROM bookings b JOIN venues v ON v.id = b.venue_id
     WHERE b.traveller_id = $1
) AS mine
 WHERE $2::text IS NULL OR mine.status = $2::text
 ORDER BY mine.created_at DESC, mine.id DESC
 LIMIT $3;

-- Cancel and free the places in one statement; no row when nothing changed (the
-- caller then reads the booking to say why).
-- name: bookings_cancel_booking
WITH cancelled AS (
    UPDATE bookings b
       SET status = 'cancelled', cancelled_at = now(), changed_at = now(), cancelled_by = 'traveller'
     WHERE b.traveller_id = $1 AND b.id = $2 AND b.status = 'booked' AND b.starts_at > now()
    RETURNING b.id, b.status, b.slot_id, b.venue_id, b.party_size, b.starts_at, b.ends_at,
              b.local_day, b.created_at, b.cancelled_at
), freed AS (
    UPDATE slots s SET booked = s.booked - c.party_size
      FROM cancelled c
     WHERE s.id = c.slot_id
    RETURNING s.id
)
SELECT c.id, c.status, c.slot_id, c.venue_id, c.party_size, c.starts_at, c.ends_at,
       c.local_day, c.created_at, c.cancelled_at, 'traveller' AS cancelled_by
  FROM cancelled c;

-- name: bookings_mark_no_shows
UPDATE bookings b
   SET status = 'no_show', changed_at = now()
  FROM venues v
 WHERE v.id = b.venue_id
   AND b.status = 'booked'
   AND b.ends_at < now()
   AND b.ends_at + make_interval(mins => v.late_grace_min::integer) < now();

-- name: bookings_delete_expired_keys
DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(hours => $1::integer);
