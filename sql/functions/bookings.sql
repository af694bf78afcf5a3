-- Booking rules, applied by `onecode migrate` after the migrations (CREATE OR REPLACE).

-- Take party places on a slot, atomically, in one statement from the client.
--
-- Returns one row (status_code, body, replayed): 201 with the booking as body, or a
-- 4xx with {code, detail}. With an idempotency key the key row is inserted first
-- (ON CONFLICT DO NOTHING waits for a concurrent holder of the same key to commit),
-- so that concurrent duplicates make exactly one booking and the losers read the
-- winner's stored answer; a 4xx answer is stored too.
--
-- The per-traveller, per-venue, per-day limit holds under concurrency through a
-- transaction-scoped advisory lock on a hash of (traveller, venue, local day): the
-- count after the lock runs in a fresh snapshot (READ COMMITTED, volatile function),
-- so it sees every booking committed by whoever held the lock before.
--
-- No slot is oversold: the place counter moves only through the conditional UPDATE
-- (booked + n <= capacity), and slots_not_oversold_ck backs it.
CREATE OR REPLACE FUNCTION onecode_book_slot(
    p_traveller    uuid,
    p_slot         uuid,
    p_party        integer,
    p_key          text,
    p_request_hash bytea,
    p_key_ttl      interval
) RETURNS TABLE (status_code integer, body jsonb, replayed boolean)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_key    idempotency_keys%ROWTYPE;
    v_slot   record;
    v_day    date;
    v_count  integer;
    v_status integer;
    v_body   jsonb;
BEGIN
    IF p_key IS NOT NULL THEN
        -- an expired key is forgotten: the request runs afresh
        DELETE FROM idempotency_keys k
         WHERE k.traveller_id = p_traveller AND k.key = p_key
           AND k.created_at < now() - p_key_ttl;
        INSERT INTO idempotency_keys (traveller_id, key, request_hash)
        VALUES (p_traveller, p_key, p_request_hash)
        ON CONFLICT (traveller_id, key) DO NOTHING;
        IF NOT FOUND THEN
            -- someone holds this key (and has committed: the insert waited for it)
            SELECT * INTO v_key FROM idempotency_keys k
             WHERE k.traveller_id = p_traveller AND k.key = p_key;
            IF NOT FOUND OR v_key.status_code IS NULL THEN
                RETURN QUERY SELECT 409, jsonb_build_object(
                    'code', 'idempotency.in_progress',
                    'detail', 'A request with this Idempotency-Key is still being processed.'), false;
                RETURN;
            END IF;
            IF v_key.request_hash <> p_request_hash THEN
                RETURN QUERY SELECT 422, jsonb_build_object(
                    'code', 'idempotency.key_reused',
                    'detail', 'This Idempotency-Key was used with a different request body.'), false;
                RETURN;
            END IF;
            RETURN QUERY SELECT v_key.status_code::integer,
                                convert_from(v_key.response, 'UTF8')::jsonb, true;
            RETURN;
        END IF;
    END IF;

    SELECT s.id, s.venue_id, s.starts_at, s.ends_at, v.timezone, v.max_party_size,
           v.bookings_per_day, v.booking_window_days,
           v.active, s.cancelled_at,  -- operations (issue 17)
           (s.starts_at AT TIME ZONE v.timezone)::date AS local_day,
           (now() AT TIME ZONE v.timezone)::date AS today
      INTO v_slot
      FROM slots s JOIN venues v ON v.id = s.venue_id
     WHERE s.id = p_slot;

    IF NOT FOUND THEN
        v_status := 404;
        v_body := jsonb_build_object('code', 'slots.not_found', 'detail', 'No such slot.');
    -- operations (issue 17): a deactivated venue and a cancelled slot take no bookings
    ELSIF NOT v_slot.active THEN
        v_status := 409;
        v_body := jsonb_build_object('code', 'venues.inactive', 'detail',
            'This venue is closed: it takes no bookings.');
    ELSIF v_slot.cancelled_at IS NOT NULL THEN
        v_status := 409;
        v_body := jsonb_build_object('code', 'slots.cancelled', 'detail',
            'This slot has been cancelled by the venue.');
    ELSIF p_party > v_slot.max_party_size THEN
        v_status := 422;
        v_body := jsonb_build_object('code', 'bookings.party_too_large', 'detail',
            format('This venue takes parties of at most %s.', v_slot.max_party_size));
    ELSIF v_slot.starts_at <= now() THEN
        v_status := 422;
        v_body := jsonb_build_object('code', 'bookings.outside_window', 'detail',
            'This slot has already started.');
    ELSIF v_slot.local_day > v_slot.today + v_slot.booking_window_days THEN
        v_status := 422;
        v_body := jsonb_build_object('code', 'bookings.outside_window', 'detail',
            format('This venue takes bookings at most %s days ahead.', v_slot.booking_window_days));
    ELSE
        v_day := v_slot.local_day;
        PERFORM pg_advisory_xact_lock(hashtextextended(
            'booking-day/' || p_traveller::text || '/' || v_slot.venue_id::text || '/' || v_day::text, 0));
        SELECT count(*) INTO v_count FROM bookings b
         WHERE b.traveller_id = p_traveller AND b.venue_id = v_slot.venue_id
           AND b.local_day = v_day AND b.status <> 'cancelled';
        IF v_count >= v_slot.bookings_per_day THEN
            v_status := 409;
            v_body := jsonb_build_object('code', 'bookings.daily_limit', 'detail',
                format('At most %s booking(s) per traveller, venue and day.', v_slot.bookings_per_day));
        ELSE
            UPDATE slots s SET booked = s.booked + p_party
             WHERE s.id = p_slot AND s.booked + p_party <= s.capacity
               AND s.cancelled_at IS NULL;  -- a cancel racing this booking wins
            IF NOT FOUND THEN
                v_status := 409;
                v_body := jsonb_build_object('code', 'bookings.slot_full', 'detail',
                    'Not enough places left in this slot.');
            ELSE
                INSERT INTO bookings AS b (id, traveller_id, slot_id, venue_id, party_size,
                                           starts_at, ends_at, local_day)
                VALUES (gen_random_uuid(), p_traveller, p_slot, v_slot.venue_id, p_party,
                        v_slot.starts_at, v_slot.ends_at, v_day)
                RETURNING jsonb_build_object(
                    'id', b.id, 'status', b.status, 'slot_id', b.slot_id,
                    'venue_id', b.venue_id, 'party_size', b.party_size,
                    'starts_at', b.starts_at, 'ends_at', b.ends_at,
                    'local_day', b.local_day, 'created_at', b.created_at)
                INTO v_body;
                v_status := 201;
            END IF;
        END IF;
    END IF;

    IF p_key IS NOT NULL THEN
        UPDATE idempotency_keys k
           SET status_code = v_status, response = convert_to(v_body::text, 'UTF8')
         WHERE k.traveller_id = p_traveller AND k.key = p_key;
    END IF;
    RETURN QUERY SELECT v_status, v_body, false;
END;
$$;
