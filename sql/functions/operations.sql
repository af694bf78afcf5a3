-- Operations (issue 17): slot changes and cancellation, decided under the lock of the
-- slot's counter row (slot_counters, onecode_lock_slot), the same lock onecode_book_slot's
-- conditional UPDATE takes: a capacity change and a booking take turns, so capacity never
-- falls below what is booked and no slot is oversold (slot_counters_not_oversold_ck backs
-- both). Outcomes are domain codes.

-- Change a slot's capacity and/or window (NULL: keep). Capacity never below what is
-- booked or held for the waiting list (open offers); times only while nothing is booked.
-- A raised capacity offers the new places to the waiting list (onecode_places_freed).
CREATE OR REPLACE FUNCTION onecode_change_slot(
    p_slot     uuid,
    p_venue    uuid,
    p_capacity integer,
    p_starts   timestamptz,
    p_ends     timestamptz
) RETURNS TABLE (outcome text, booked integer, old_capacity integer,
                 old_starts_at timestamptz, old_ends_at timestamptz)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_cnt   slot_counters%ROWTYPE;
    s       record;
    v_cap   integer;
    v_start timestamptz;
    v_end   timestamptz;
BEGIN
    v_cnt := onecode_lock_slot(p_slot);
    SELECT v_cnt.capacity, v_cnt.booked, v_cnt.held, sl.starts_at, sl.ends_at, sl.cancelled_at INTO s
      FROM slots sl WHERE sl.id = p_slot AND sl.venue_id = p_venue;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found', NULL::integer, NULL::integer,
                            NULL::timestamptz, NULL::timestamptz;
        RETURN;
    END IF;
    v_cap := COALESCE(p_capacity, s.capacity);
    v_start := COALESCE(p_starts, s.starts_at);
    v_end := COALESCE(p_ends, s.ends_at);
    outcome := 'ok';
    IF s.cancelled_at IS NOT NULL THEN
        outcome := 'cancelled';
    ELSIF v_cap < s.booked + s.held THEN
        outcome := 'below_booked';
    ELSIF (v_start <> s.starts_at OR v_end <> s.ends_at) AND s.booked > 0 THEN
        outcome := 'times_locked';
    ELSIF v_end <= v_start OR v_end - v_start >= interval '2 days' THEN
        outcome := 'bad_window';
    ELSE
        BEGIN
            -- the catalog row only when the window moves (a write to every node under
            -- Citus); the capacity is the counter row's
            IF v_start <> s.starts_at OR v_end <> s.ends_at THEN
                UPDATE slots sl SET starts_at = v_start, ends_at = v_end WHERE sl.id = p_slot;
            END IF;
            UPDATE slot_counters sc SET capacity = v_cap
             WHERE sc.venue_id = p_venue AND sc.slot_id = p_slot;
        EXCEPTION WHEN unique_violation THEN
            outcome := 'duplicate_window';
        END;
        IF outcome = 'ok' AND v_cap > s.capacity THEN
            PERFORM onecode_places_freed(p_slot);
        END IF;
    END IF;
    RETURN QUERY SELECT outcome, (s.booked + s.held)::integer, s.capacity::integer,
                        s.starts_at, s.ends_at;
END;
$$;

-- Cancel a slot: it takes no more bookings, and its open bookings become 'cancelled'
-- by the venue with the reason, each with a booking.cancelled_by_venue event the
-- traveller sees in their notifications. Places held for the waiting list are given
-- up (an open offer then cannot be taken). Cancelling twice answers the first cancel.
CREATE OR REPLACE FUNCTION onecode_cancel_slot(
    p_slot   uuid,
    p_venue  uuid,
    p_reason text,
    p_now    timestamptz
) RETURNS TABLE (outcome text, cancelled_bookings integer)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    s      record;
    b      record;
    v_n    integer := 0;
    v_freed integer := 0;
    v_walkin integer := 0;
BEGIN
    PERFORM onecode_lock_slot(p_slot);
    SELECT sl.starts_at, sl.ends_at, sl.cancelled_at, v.region_code INTO s
      FROM slots sl JOIN venues v ON v.id = sl.venue_id
     WHERE sl.id = p_slot AND sl.venue_id = p_venue;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_found', 0;
        RETURN;
    END IF;
    IF s.cancelled_at IS NOT NULL THEN
        RETURN QUERY SELECT 'already_cancelled', 0;
        RETURN;
    END IF;
    IF s.ends_at <= p_now THEN
        RETURN QUERY SELECT 'ended', 0;
        RETURN;
    END IF;
    UPDATE slots sl SET cancelled_at = p_now, cancel_reason = p_reason WHERE sl.id = p_slot;
    FOR b IN
        UPDATE bookings bk
           SET status = 'cancelled', cancelled_at = p_now, changed_at = p_now,
               cancelled_by = 'venue', cancel_reason = p_reason
         WHERE bk.slot_id = p_slot AND bk.status = 'booked'
        RETURNING bk.id, bk.traveller_id, bk.party_size, bk.channel
    LOOP
        v_n := v_n + 1;
        v_freed := v_freed + b.party_size;
        IF b.channel = 'walkin' THEN
            v_walkin := v_walkin + b.party_size;
        END IF;
        PERFORM onecode_emit_event(
            'booking.cancelled_by_venue', s.region_code, p_venue,
            jsonb_build_object('booking_id', b.id, 'slot_id', p_slot, 'venue_id', p_venue,
                               'starts_at', s.starts_at, 'ends_at', s.ends_at,
                               'reason', p_reason),
            b.traveller_id);
    END LOOP;
    -- the counter row learns the cancel under its lock: a booking waiting on it fails
    UPDATE slot_counters sc
       SET booked = sc.booked - v_freed, held = 0,
           walkin_booked = greatest(sc.walkin_booked - v_walkin, 0), cancelled = true
     WHERE sc.venue_id = p_venue AND sc.slot_id = p_slot;
    -- its waiting list ends: an offer round on a cancelled slot expires every entry
    PERFORM onecode_places_freed(p_slot);
    RETURN QUERY SELECT 'ok', v_n;
END;
$$;
