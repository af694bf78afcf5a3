-- Booking rules, applied by `onecode migrate` after the migrations (CREATE OR REPLACE).

-- Whether a slot is on sale to a party now: its first refusal, or no row. One rule for
-- booking (walk-ins too) and for joining the waiting list; the callers have read the
-- slot and its venue (so the hot path reads them once) and pass what it needs.
CREATE OR REPLACE FUNCTION onecode_sale_refusal(
    p_active boolean, p_cancelled_at timestamptz, p_party integer, p_max_party integer,
    p_now timestamptz, p_ends_at timestamptz, p_late_grace_min integer,
    p_local_day date, p_today date, p_window_days integer, p_lottery boolean,
    p_walkin boolean
) RETURNS TABLE (outcome text, body jsonb)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT r.outcome, r.body
      FROM (VALUES
        (1, NOT p_active, 'venue_inactive', '{}'::jsonb),
        (2, p_cancelled_at IS NOT NULL, 'slot_cancelled', '{}'::jsonb),
        (3, p_party > p_max_party, 'party_too_large',
            jsonb_build_object('max_party_size', p_max_party)),
        -- walk-up: a slot under way sells until its end minus the late grace
        (4, p_now >= p_ends_at - make_interval(mins => p_late_grace_min), 'sale_closed',
            '{}'::jsonb),
        (5, p_local_day > p_today + p_window_days, 'outside_window',
            jsonb_build_object('booking_window_days', p_window_days)),
        -- a day given by lottery is not on general sale (the staffed window still sells)
        (6, p_lottery AND NOT p_walkin, 'lottery_open', '{}'::jsonb)
      ) AS r (n, hit, outcome, body)
     WHERE r.hit
     ORDER BY r.n
     LIMIT 1
$fn$;

-- Take party places on a slot, atomically, in one statement from the client.
--
-- Returns one row (outcome, body, replayed). outcome is a domain code, never an HTTP
-- status or a sentence (the service maps it to the error tree, onecode/bookings/outcomes.py):
--   booked           body is the booking
--   slot_not_found   no such slot
--   party_too_large  body {max_party_size}
--   sale_closed      walk-up sale has closed: the slot ends within the venue's late grace
--   outside_window   body {booking_window_days}: too far ahead
--   lottery_open     the day's places are being given by lottery (docs/allocation.md)
--   daily_limit      body {bookings_per_day}: the real-name limit per venue and day
--   slot_full        not enough places left
--   key_in_progress  another request with this Idempotency-Key has not finished
--   key_reused       this Idempotency-Key came with another request body
-- With an idempotency key the key row is inserted first (ON CONFLICT DO NOTHING waits
-- for a concurrent holder of the same key to commit), so that concurrent duplicates make
-- exactly one booking and the losers read the winner's stored answer; a refusal is
-- stored too.
--
-- The per-traveller, per-venue, per-day limit holds under concurrency through a
-- transaction-scoped advisory lock on a hash of (traveller, venue, local day): the
-- count after the lock runs in a fresh snapshot (READ COMMITTED, volatile function),
-- so it sees every booking committed by whoever held the lock before.
--
-- No slot is oversold: the place counter (slot_counters, one narrow row per slot) moves
-- only through the conditional UPDATE (booked + held + n <= capacity - walk-in hold),
-- and slot_counters_not_oversold_ck backs it.
-- A slot under way stays on sale (walk-up) until its end minus the late grace. General
-- sale leaves the walk-in quota alone until it frees (onecode_walkin_hold) and the
-- places held for the waiting list (slot_counters.held); p_channel 'walkin' (the staffed
-- window, an operator's booking) may use the quota and counts in slot_counters.walkin_booked.
CREATE OR REPLACE FUNCTION onecode_book_slot(
    p_traveller    uuid,
    p_slot         uuid,
    p_party        integer,
    p_key          text,
    p_request_hash bytea,
    p_key_ttl      interval,
    p_channel      text DEFAULT 'app'
) RETURNS TABLE (outcome text, body jsonb, replayed boolean)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_key     idempotency_keys%ROWTYPE;
    v_slot    record;
    v_booking record;
    v_day     date;
    v_count   integer;
    v_outcome text;
    v_body    jsonb := '{}'::jsonb;
    v_now     timestamptz := now();
    v_walkin  boolean := p_channel = 'walkin';
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
            IF NOT FOUND OR (v_key.outcome IS NULL AND v_key.status_code IS NULL) THEN
                RETURN QUERY SELECT 'key_in_progress'::text, '{}'::jsonb, false;
                RETURN;
            END IF;
            IF v_key.request_hash <> p_request_hash THEN
                RETURN QUERY SELECT 'key_reused'::text, '{}'::jsonb, false;
                RETURN;
            END IF;
            IF v_key.outcome IS NOT NULL THEN
                RETURN QUERY SELECT v_key.outcome, convert_from(v_key.response, 'UTF8')::jsonb, true;
                RETURN;
            END IF;
            -- a key stored before outcomes (migration 0050): its booking replays; a
            -- refusal is decided afresh below (no side effect either way)
            IF v_key.status_code = 201 THEN
                RETURN QUERY SELECT 'booked'::text, convert_from(v_key.response, 'UTF8')::jsonb, true;
                RETURN;
            END IF;
        END IF;
    END IF;

    SELECT s.id, s.venue_id, s.starts_at, s.ends_at, v.timezone, v.max_party_size,
           v.bookings_per_day, v.booking_window_days, v.late_grace_min,
           v.walkin_quota_pct, v.walkin_release_min,
           v.active, s.cancelled_at,  -- operations (issue 17)
           (s.starts_at AT TIME ZONE v.timezone)::date AS local_day,
           (v_now AT TIME ZONE v.timezone)::date AS today,
           EXISTS (SELECT 1 FROM lotteries l
                    WHERE l.venue_id = s.venue_id AND l.state = 'open'
                      AND l.local_day = (s.starts_at AT TIME ZONE v.timezone)::date) AS lottery
      INTO v_slot
      FROM slots s JOIN venues v ON v.id = s.venue_id
     WHERE s.id = p_slot;

    IF NOT FOUND THEN
        v_outcome := 'slot_not_found';
    ELSE
        SELECT r.outcome, r.body INTO v_outcome, v_body
          FROM onecode_sale_refusal(
                   v_slot.active, v_slot.cancelled_at, p_party, v_slot.max_party_size, v_now,
                   v_slot.ends_at, v_slot.late_grace_min, v_slot.local_day, v_slot.today,
                   v_slot.booking_window_days, v_slot.lottery, v_walkin) AS r;
        v_body := coalesce(v_body, '{}'::jsonb);  -- on sale: no row, the body starts empty
    END IF;
    IF v_outcome IS NULL THEN
        v_day := v_slot.local_day;
        PERFORM pg_advisory_xact_lock(hashtextextended(
            'booking-day/' || p_traveller::text || '/' || v_slot.venue_id::text || '/' || v_day::text, 0));
        SELECT count(*) INTO v_count FROM bookings b
         WHERE b.traveller_id = p_traveller AND b.venue_id = v_slot.venue_id
           AND b.local_day = v_day AND b.status <> 'cancelled';
        IF v_count >= v_slot.bookings_per_day THEN
            v_outcome := 'daily_limit';
            v_body := jsonb_build_object('bookings_per_day', v_slot.bookings_per_day);
        ELSE
            -- the one counter row of the slot (single-shard under Citus: by venue_id)
            UPDATE slot_counters c
               SET booked = c.booked + p_party,
                   walkin_booked = c.walkin_booked + CASE WHEN v_walkin THEN p_party ELSE 0 END
             WHERE c.venue_id = v_slot.venue_id AND c.slot_id = p_slot
               AND NOT c.cancelled  -- a cancel racing this booking wins
               AND c.booked + c.held + p_party <= c.capacity - CASE WHEN v_walkin THEN 0 ELSE
                   onecode_walkin_hold(c.capacity, v_slot.walkin_quota_pct, c.walkin_booked,
                                       v_slot.starts_at, v_slot.walkin_release_min, v_now) END;
            IF NOT FOUND THEN
                v_outcome := 'slot_full';
            ELSE
                -- plain columns in RETURNING (Citus: no non-immutable function there)
                INSERT INTO bookings AS b (id, traveller_id, slot_id, venue_id, party_size,
                                           starts_at, ends_at, local_day, channel)
                VALUES (gen_random_uuid(), p_traveller, p_slot, v_slot.venue_id, p_party,
                        v_slot.starts_at, v_slot.ends_at, v_day, p_channel)
                RETURNING b.id, b.status, b.slot_id, b.venue_id, b.party_size, b.starts_at,
                          b.ends_at, b.local_day, b.created_at, b.channel
                INTO v_booking;
                v_outcome := 'booked';
                v_body := jsonb_build_object(
                    'id', v_booking.id, 'status', v_booking.status, 'slot_id', v_booking.slot_id,
                    'venue_id', v_booking.venue_id, 'party_size', v_booking.party_size,
                    'starts_at', v_booking.starts_at, 'ends_at', v_booking.ends_at,
                    'local_day', v_booking.local_day, 'created_at', v_booking.created_at,
                    'channel', v_booking.channel);
            END IF;
        END IF;
    END IF;

    IF p_key IS NOT NULL THEN
        UPDATE idempotency_keys k
           SET outcome = v_outcome, response = convert_to(v_body::text, 'UTF8')
         WHERE k.traveller_id = p_traveller AND k.key = p_key;
    END IF;
    RETURN QUERY SELECT v_outcome, v_body, false;
END;
$$;
