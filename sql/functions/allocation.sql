-- Fair allocation rules (issue #18; docs/allocation.md): the walk-in hold, the waiting
-- list (join, leave, offer rounds, accept), the no-show release and lotteries.
-- Applied by `onecode migrate` (CREATE OR REPLACE). Every function takes the time as
-- p_now (tests move it; Citus wants no now() beside column references in an UPDATE) and
-- answers a domain outcome code; onecode/allocation/outcomes.py maps it to HTTP.
--
-- Lock order, everywhere: a job row, then the slot's counter row (slot_counters, taken
-- by onecode_lock_slot), then waiting-list entries, then bookings. An offer round and an
-- accept both take the counter row first, so they never deadlock, and everything that
-- moves a slot's counters is serialized on that row (a booking's conditional UPDATE
-- takes the same row lock).

-- Places of a slot still kept for walk-ins at p_now: the venue's share of the capacity
-- less what walk-in bookings already use, until walkin_release_min before the start,
-- when the rest frees into general sale.
CREATE OR REPLACE FUNCTION onecode_walkin_hold(
    p_capacity integer, p_quota_pct integer, p_walkin_booked integer,
    p_starts_at timestamptz, p_release_min integer, p_now timestamptz
) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN p_starts_at - p_now <= make_interval(mins => p_release_min) THEN 0
        ELSE greatest((p_capacity * p_quota_pct) / 100 - p_walkin_booked, 0)
    END;
$$;

-- Places freed on a slot (a cancellation, a capacity raised, a no-show released, an
-- offer left or declined): when someone waits, every free place is held from general
-- sale at once (in the caller's transaction) and an offer round is queued; the round
-- offers them in order and gives back what nobody waiting can take. Returns the places
-- held for the waiting list. Called by the bookings and slots rules; the operations
-- rules call it when a slot's capacity is raised and when a slot is cancelled (its
-- round then expires every entry).
-- The slot's counter row, locked FOR UPDATE (the lock every counter change takes).
-- The venue comes from the catalog first: under Citus slot_counters is distributed by
-- venue_id, and a FOR UPDATE must name its one shard. NULL fields: no such slot.
CREATE OR REPLACE FUNCTION onecode_lock_slot(p_slot uuid) RETURNS slot_counters
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_venue uuid;
    v_row   slot_counters%ROWTYPE;
BEGIN
    SELECT s.venue_id INTO v_venue FROM slots s WHERE s.id = p_slot;
    SELECT * INTO v_row FROM slot_counters c
     WHERE c.venue_id = v_venue AND c.slot_id = p_slot
       FOR UPDATE;
    RETURN v_row;
END;
$$;

CREATE OR REPLACE FUNCTION onecode_places_freed(p_slot uuid) RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_held  integer := 0;
    v_venue uuid;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM waitlist_entries w
                    WHERE w.slot_id = p_slot AND w.state IN ('waiting', 'offer')) THEN
        RETURN 0;
    END IF;
    -- a cancelled slot holds nothing: its round expires the entries
    SELECT s.venue_id INTO v_venue FROM slots s WHERE s.id = p_slot;
    UPDATE slot_counters c SET held = greatest(c.capacity - c.booked, c.held)
     WHERE c.venue_id = v_venue AND c.slot_id = p_slot AND NOT c.cancelled
    RETURNING c.held INTO v_held;
    PERFORM onecode_queue_offer_round(p_slot, now());
    RETURN coalesce(v_held, 0);
END;
$$;

-- Queue an offer round for the slot at p_at, unless one is queued already by then
-- (a duplicate that slips through is harmless: a round is idempotent).
CREATE OR REPLACE FUNCTION onecode_queue_offer_round(p_slot uuid, p_at timestamptz)
RETURNS void
LANGUAGE sql VOLATILE AS $$
    INSERT INTO allocation_jobs (kind, slot_id, run_at)
    SELECT 'offer', p_slot, p_at
     WHERE NOT EXISTS (SELECT 1 FROM allocation_jobs j
                        WHERE j.kind = 'offer' AND j.slot_id = p_slot AND j.run_at <= p_at);
$$;

-- One offer round for a slot: expire offers past their time (and every live entry once
-- the slot's sale has closed), then offer the free places to the first waiting entries
-- that fit, in order, each until p_now + the venue's offer_expiry_min (at most until the
-- sale closes). A waiting traveller who meanwhile reached the real-name limit is passed
-- over (their entry expires). slot_counters.held becomes the places under open offers; the rest
-- goes back to general sale. Queues the next round for the first expiry.
CREATE OR REPLACE FUNCTION onecode_offer_round(p_slot uuid, p_now timestamptz)
RETURNS TABLE (offers integer, expired integer, next_run timestamptz)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_slot    record;
    v_cnt     slot_counters%ROWTYPE;
    v_closes  timestamptz;
    v_closed  boolean;
    v_open    integer;
    v_free    integer;
    v_offers  integer := 0;
    v_expired integer := 0;
    v_count   integer;
    v_next    timestamptz;
    v_until   timestamptz;
    r         record;
BEGIN
    v_cnt := onecode_lock_slot(p_slot);
    SELECT s.id, s.venue_id, s.starts_at, s.ends_at, v.active, v.region_code,
           v.late_grace_min, v.offer_expiry_min, v.walkin_quota_pct, v.walkin_release_min,
           v.bookings_per_day
      INTO v_slot
      FROM slots s JOIN venues v ON v.id = s.venue_id
     WHERE s.id = p_slot;
    IF NOT FOUND OR v_cnt.slot_id IS NULL THEN
        RETURN QUERY SELECT 0, 0, NULL::timestamptz;
        RETURN;
    END IF;
    v_closes := v_slot.ends_at - make_interval(mins => v_slot.late_grace_min);
    -- past the sale's close, a cancelled slot, a deactivated venue: every entry ends
    v_closed := p_now >= v_closes OR v_cnt.cancelled OR NOT v_slot.active;

    -- offers due (the offers index), or every live entry once the sale has closed
    FOR r IN SELECT w.traveller_id, w.id FROM waitlist_entries w
              WHERE w.slot_id = p_slot AND w.state = 'offer' AND w.expires_at <= p_now
                AND NOT v_closed
              UNION ALL
             SELECT w.traveller_id, w.id FROM waitlist_entries w
              WHERE w.slot_id = p_slot AND w.state IN ('waiting', 'offer') AND v_closed
    LOOP
        UPDATE waitlist_entries w SET state = 'expired', changed_at = p_now
         WHERE w.traveller_id = r.traveller_id AND w.id = r.id
           AND w.state IN ('waiting', 'offer');
        GET DIAGNOSTICS v_count = ROW_COUNT;
        v_expired := v_expired + v_count;
    END LOOP;

    SELECT coalesce(sum(w.party_size), 0) INTO v_open FROM waitlist_entries w
     WHERE w.slot_id = p_slot AND w.state = 'offer';
    v_free := v_cnt.capacity - v_cnt.booked - v_open
              - onecode_walkin_hold(v_cnt.capacity, v_slot.walkin_quota_pct,
                                    v_cnt.walkin_booked, v_slot.starts_at,
                                    v_slot.walkin_release_min, p_now);
    v_until := least(p_now + make_interval(mins => v_slot.offer_expiry_min), v_closes);

    IF NOT v_closed AND v_free > 0 THEN
        FOR r IN SELECT w.traveller_id, w.id, w.party_size, w.local_day, w.position
                   FROM waitlist_entries w
                  WHERE w.slot_id = p_slot AND w.state = 'waiting'
                  ORDER BY w.position
        LOOP
            EXIT WHEN v_free <= 0;
            CONTINUE WHEN r.party_size > v_free;
            SELECT count(*) INTO v_count FROM bookings b
             WHERE b.traveller_id = r.traveller_id AND b.venue_id = v_slot.venue_id
               AND b.local_day = r.local_day AND b.status <> 'cancelled';
            IF v_count >= v_slot.bookings_per_day THEN
                UPDATE waitlist_entries w SET state = 'expired', changed_at = p_now
                 WHERE w.traveller_id = r.traveller_id AND w.id = r.id AND w.state = 'waiting';
                v_expired := v_expired + 1;
                CONTINUE;
            END IF;
            UPDATE waitlist_entries w
               SET state = 'offer', offered_at = p_now, expires_at = v_until, changed_at = p_now
             WHERE w.traveller_id = r.traveller_id AND w.id = r.id AND w.state = 'waiting';
            IF FOUND THEN
                v_free := v_free - r.party_size;
                v_open := v_open + r.party_size;
                v_offers := v_offers + 1;
                PERFORM onecode_emit_event(
                    'waitlist.offer_made', v_slot.region_code, v_slot.venue_id,
                    jsonb_build_object('entry_id', r.id, 'slot_id', p_slot,
                                       'party_size', r.party_size, 'expires_at', v_until,
                                       'position', r.position),
                    r.traveller_id);
            END IF;
        END LOOP;
    END IF;

    UPDATE slot_counters c SET held = v_open
     WHERE c.venue_id = v_slot.venue_id AND c.slot_id = p_slot;

    SELECT min(w.expires_at) INTO v_next FROM waitlist_entries w
     WHERE w.slot_id = p_slot AND w.state = 'offer';
    IF v_next IS NULL AND NOT v_closed AND EXISTS (
        SELECT 1 FROM waitlist_entries w WHERE w.slot_id = p_slot AND w.state = 'waiting') THEN
        v_next := v_closes;  -- nobody holds an offer: the waiting entries end at the close
    END IF;
    IF v_next IS NOT NULL THEN
        PERFORM onecode_queue_offer_round(p_slot, v_next);
    END IF;
    RETURN QUERY SELECT v_offers, v_expired, v_next;
END;
$$;

-- A waiting-list entry as its traveller sees it (a live entry past the sale's close, on
-- a cancelled slot or a closed venue reads as expired before the round has written it).
CREATE OR REPLACE FUNCTION onecode_waitlist_json(p_entry waitlist_entries, p_now timestamptz)
RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'id', p_entry.id, 'slot_id', p_entry.slot_id, 'venue_id', p_entry.venue_id,
        'local_day', p_entry.local_day, 'party_size', p_entry.party_size,
        'state', CASE WHEN p_entry.state IN ('waiting', 'offer')
                           AND (p_now >= s.ends_at - make_interval(mins => v.late_grace_min)
                                OR s.cancelled_at IS NOT NULL OR NOT v.active
                                OR (p_entry.state = 'offer' AND p_entry.expires_at <= p_now))
                      THEN 'expired' ELSE p_entry.state END,
        'position', p_entry.position, 'source', p_entry.source,
        'ahead', CASE WHEN p_entry.state = 'waiting' THEN
                     (SELECT count(*) FROM waitlist_entries o
                       WHERE o.slot_id = p_entry.slot_id AND o.state IN ('waiting', 'offer')
                         AND o.position < p_entry.position) END,
        'offered_at', p_entry.offered_at,
        'expires_at', CASE WHEN p_entry.state = 'offer' THEN p_entry.expires_at END,
        'booking_id', p_entry.booking_id, 'created_at', p_entry.created_at,
        'starts_at', s.starts_at, 'ends_at', s.ends_at)
      FROM slots s JOIN venues v ON v.id = s.venue_id
     WHERE s.id = p_entry.slot_id;
$$;

-- Join the waiting list of a full slot. Outcomes: joined (body the entry),
-- slot_not_found, venue_inactive, slot_cancelled, party_too_large {max_party_size}, sale_closed, outside_window
-- {booking_window_days}, lottery_open, slot_not_full (book instead), already_waiting
-- (body the live entry), daily_limit {bookings_per_day}: live bookings plus live
-- entries of the traveller at the venue that day are held to the real-name limit.
CREATE OR REPLACE FUNCTION onecode_join_waitlist(
    p_traveller uuid, p_slot uuid, p_party integer, p_now timestamptz
) RETURNS TABLE (outcome text, body jsonb)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_slot  record;
    v_cnt   slot_counters%ROWTYPE;
    v_entry waitlist_entries%ROWTYPE;
    v_count integer;
BEGIN
    SELECT s.id, s.venue_id, s.starts_at, s.ends_at, s.cancelled_at, v.active,
           v.max_party_size, v.bookings_per_day, v.booking_window_days,
           v.late_grace_min, v.walkin_quota_pct, v.walkin_release_min,
           (s.starts_at AT TIME ZONE v.timezone)::date AS local_day,
           (p_now AT TIME ZONE v.timezone)::date AS today,
           EXISTS (SELECT 1 FROM lotteries l
                    WHERE l.venue_id = s.venue_id AND l.state = 'open'
                      AND l.local_day = (s.starts_at AT TIME ZONE v.timezone)::date) AS lottery
      INTO v_slot
      FROM slots s JOIN venues v ON v.id = s.venue_id
     WHERE s.id = p_slot;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'slot_not_found'::text, '{}'::jsonb;
        RETURN;
    END IF;
    -- on sale as a booking would be (a waiting list is never the staffed window's)
    RETURN QUERY SELECT r.outcome, r.body FROM onecode_sale_refusal(
        v_slot.active, v_slot.cancelled_at, p_party, v_slot.max_party_size, p_now,
        v_slot.ends_at, v_slot.late_grace_min, v_slot.local_day, v_slot.today,
        v_slot.booking_window_days, v_slot.lottery, false) AS r;
    IF FOUND THEN
        RETURN;
    END IF;
    SELECT * INTO v_entry FROM waitlist_entries w
     WHERE w.traveller_id = p_traveller AND w.slot_id = p_slot
       AND w.state IN ('waiting', 'offer');
    IF FOUND THEN
        RETURN QUERY SELECT 'already_waiting'::text, onecode_waitlist_json(v_entry, p_now);
        RETURN;
    END IF;
    SELECT * INTO v_cnt FROM slot_counters c
     WHERE c.venue_id = v_slot.venue_id AND c.slot_id = p_slot;
    IF v_cnt.capacity - v_cnt.booked - v_cnt.held
       - onecode_walkin_hold(v_cnt.capacity, v_slot.walkin_quota_pct, v_cnt.walkin_booked,
                             v_slot.starts_at, v_slot.walkin_release_min, p_now) >= p_party THEN
        RETURN QUERY SELECT 'slot_not_full'::text, '{}'::jsonb;
        RETURN;
    END IF;
    -- the same lock as a booking of this traveller, venue and day
    PERFORM pg_advisory_xact_lock(hashtextextended(
        'booking-day/' || p_traveller::text || '/' || v_slot.venue_id::text || '/'
        || v_slot.local_day::text, 0));
    SELECT (SELECT count(*) FROM bookings b
             WHERE b.traveller_id = p_traveller AND b.venue_id = v_slot.venue_id
               AND b.local_day = v_slot.local_day AND b.status <> 'cancelled')
         + (SELECT count(*) FROM waitlist_entries w
             WHERE w.traveller_id = p_traveller AND w.venue_id = v_slot.venue_id
               AND w.local_day = v_slot.local_day AND w.state IN ('waiting', 'offer'))
      INTO v_count;
    IF v_count >= v_slot.bookings_per_day THEN
        RETURN QUERY SELECT 'daily_limit'::text,
                            jsonb_build_object('bookings_per_day', v_slot.bookings_per_day);
        RETURN;
    END IF;
    INSERT INTO waitlist_entries AS w (id, traveller_id, slot_id, venue_id, local_day,
                                       party_size, position, created_at, changed_at)
    VALUES (gen_random_uuid(), p_traveller, p_slot, v_slot.venue_id, v_slot.local_day,
            p_party, nextval('waitlist_position_seq'), p_now, p_now)
    RETURNING * INTO v_entry;
    RETURN QUERY SELECT 'joined'::text, onecode_waitlist_json(v_entry, p_now);
END;
$$;

-- Leave the waiting list (an open offer is declined: its places go to the next in
-- line). Outcomes: left (body the entry); entry_not_found; an entry already booked,
-- expired or left answers left with the entry as it is (leaving twice changes nothing).
CREATE OR REPLACE FUNCTION onecode_leave_waitlist(
    p_traveller uuid, p_entry uuid, p_now timestamptz
) RETURNS TABLE (outcome text, body jsonb)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_slot  uuid;
    v_entry waitlist_entries%ROWTYPE;
    v_was   text;
BEGIN
    SELECT w.slot_id INTO v_slot FROM waitlist_entries w
     WHERE w.traveller_id = p_traveller AND w.id = p_entry;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'entry_not_found'::text, '{}'::jsonb;
        RETURN;
    END IF;
    PERFORM onecode_lock_slot(v_slot);
    SELECT * INTO v_entry FROM waitlist_entries w
     WHERE w.traveller_id = p_traveller AND w.id = p_entry FOR UPDATE;
    v_was := v_entry.state;
    IF v_was IN ('waiting', 'offer') THEN
        UPDATE waitlist_entries w SET state = 'left', changed_at = p_now
         WHERE w.traveller_id = p_traveller AND w.id = p_entry
        RETURNING * INTO v_entry;
        IF v_was = 'offer' THEN
            UPDATE slot_counters c SET held = greatest(c.held - v_entry.party_size, 0)
             WHERE c.venue_id = v_entry.venue_id AND c.slot_id = v_slot;
            PERFORM onecode_places_freed(v_slot);
        END IF;
    END IF;
    RETURN QUERY SELECT 'left'::text, onecode_waitlist_json(v_entry, p_now);
END;
$$;

-- Accept an offer: the held places become a booking (channel 'waitlist'), atomically.
-- Idempotent: accepting again answers the same booking (replayed). Outcomes: booked
-- (body the booking), entry_not_found, no_offer {state}, offer_expired, daily_limit
-- {bookings_per_day}, slot_full (capacity was lowered under the offer, or the slot was
-- cancelled: the offer is void).
CREATE OR REPLACE FUNCTION onecode_accept_offer(
    p_traveller uuid, p_entry uuid, p_now timestamptz
) RETURNS TABLE (outcome text, body jsonb, replayed boolean)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_slot_id uuid;
    v_slot    record;
    v_entry   waitlist_entries%ROWTYPE;
    v_booking bookings%ROWTYPE;
    v_count   integer;
BEGIN
    SELECT w.slot_id INTO v_slot_id FROM waitlist_entries w
     WHERE w.traveller_id = p_traveller AND w.id = p_entry;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'entry_not_found'::text, '{}'::jsonb, false;
        RETURN;
    END IF;
    -- the counter row first (the lock order of every allocation rule), then the entry
    PERFORM onecode_lock_slot(v_slot_id);
    SELECT s.id, s.venue_id, s.starts_at, s.ends_at, v.bookings_per_day
      INTO v_slot
      FROM slots s JOIN venues v ON v.id = s.venue_id
     WHERE s.id = v_slot_id;
    SELECT * INTO v_entry FROM waitlist_entries w
     WHERE w.traveller_id = p_traveller AND w.id = p_entry FOR UPDATE;

    IF v_entry.state = 'booked' THEN
        RETURN QUERY SELECT 'booked'::text, onecode_booking_json(b), true
          FROM bookings b WHERE b.traveller_id = p_traveller AND b.id = v_entry.booking_id;
        RETURN;
    END IF;
    IF v_entry.state <> 'offer' THEN
        RETURN QUERY SELECT 'no_offer'::text, jsonb_build_object('state', v_entry.state), false;
        RETURN;
    END IF;
    IF v_entry.expires_at <= p_now THEN
        RETURN QUERY SELECT 'offer_expired'::text, '{}'::jsonb, false;
        RETURN;
    END IF;

    PERFORM pg_advisory_xact_lock(hashtextextended(
        'booking-day/' || p_traveller::text || '/' || v_slot.venue_id::text || '/'
        || v_entry.local_day::text, 0));
    SELECT count(*) INTO v_count FROM bookings b
     WHERE b.traveller_id = p_traveller AND b.venue_id = v_slot.venue_id
       AND b.local_day = v_entry.local_day AND b.status <> 'cancelled';
    IF v_count >= v_slot.bookings_per_day THEN
        RETURN QUERY SELECT 'daily_limit'::text,
                            jsonb_build_object('bookings_per_day', v_slot.bookings_per_day), false;
        RETURN;
    END IF;

    UPDATE slot_counters c
       SET held = c.held - v_entry.party_size, booked = c.booked + v_entry.party_size
     WHERE c.venue_id = v_slot.venue_id AND c.slot_id = v_slot_id
       AND c.held >= v_entry.party_size
       AND c.booked + v_entry.party_size <= c.capacity
       AND NOT c.cancelled;
    IF NOT FOUND THEN
        UPDATE waitlist_entries w SET state = 'expired', changed_at = p_now
         WHERE w.traveller_id = p_traveller AND w.id = p_entry;
        UPDATE slot_counters c SET held = greatest(c.held - v_entry.party_size, 0)
         WHERE c.venue_id = v_slot.venue_id AND c.slot_id = v_slot_id;
        RETURN QUERY SELECT 'slot_full'::text, '{}'::jsonb, false;
        RETURN;
    END IF;
    INSERT INTO bookings AS b (id, traveller_id, slot_id, venue_id, party_size,
                               starts_at, ends_at, local_day, channel, created_at, changed_at)
    VALUES (gen_random_uuid(), p_traveller, v_slot_id, v_slot.venue_id, v_entry.party_size,
            v_slot.starts_at, v_slot.ends_at, v_entry.local_day, 'waitlist', p_now, p_now)
    RETURNING b.* INTO v_booking;
    UPDATE waitlist_entries w SET state = 'booked', booking_id = v_booking.id, changed_at = p_now
     WHERE w.traveller_id = p_traveller AND w.id = p_entry;
    RETURN QUERY SELECT 'booked'::text, onecode_booking_json(v_booking), false;
END;
$$;

-- A booking as its traveller sees it (the shape of POST /v1/bookings).
CREATE OR REPLACE FUNCTION onecode_booking_json(p_booking bookings) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object(
        'id', p_booking.id, 'status', p_booking.status, 'slot_id', p_booking.slot_id,
        'venue_id', p_booking.venue_id, 'party_size', p_booking.party_size,
        'starts_at', p_booking.starts_at, 'ends_at', p_booking.ends_at,
        'local_day', p_booking.local_day, 'created_at', p_booking.created_at,
        'channel', p_booking.channel,
        -- operations (issue 17): who cancelled, and the venue's reason
        'cancelled_at', p_booking.cancelled_at, 'cancelled_by', p_booking.cancelled_by,
        'cancel_reason', p_booking.cancel_reason);
$$;

-- The no-show release: a booking still unused at its start (or its making, for a
-- walk-up booking made later) + the venue's late grace becomes no_show and its places
-- return to the slot, for the waiting list first and then walk-up sale. At most p_limit
-- bookings per call (the caller repeats while it gets p_limit), so no sweep holds slot
-- rows for long. Returns how many were released.
CREATE OR REPLACE FUNCTION onecode_release_no_shows(p_now timestamptz, p_limit integer)
RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    r         record;
    v_done    integer := 0;
    v_slots   uuid[] := '{}';
    v_slot    uuid;
    v_party   integer;
    v_channel text;
BEGIN
    FOR r IN SELECT b.traveller_id, b.id, b.slot_id, b.venue_id
               FROM bookings b JOIN venues v ON v.id = b.venue_id
              WHERE b.status = 'booked'
                AND b.starts_at < p_now
                AND greatest(b.starts_at, b.created_at)
                    + make_interval(mins => v.late_grace_min::integer) <= p_now
              ORDER BY b.starts_at
              LIMIT p_limit
    LOOP
        -- the counter row first (lock order), then the booking; a gate marking it used
        -- meanwhile wins (status is no longer 'booked'). Two statements, each on one
        -- shard under Citus (the booking's traveller, the slot's venue).
        PERFORM onecode_lock_slot(r.slot_id);
        UPDATE bookings b SET status = 'no_show', changed_at = p_now
         WHERE b.traveller_id = r.traveller_id AND b.id = r.id AND b.status = 'booked'
        RETURNING b.party_size, b.channel INTO v_party, v_channel;
        IF FOUND THEN
            UPDATE slot_counters c
               SET booked = c.booked - v_party,
                   walkin_booked = CASE WHEN v_channel = 'walkin'
                                        THEN greatest(c.walkin_booked - v_party, 0)
                                        ELSE c.walkin_booked END
             WHERE c.venue_id = r.venue_id AND c.slot_id = r.slot_id;
            v_done := v_done + 1;
            IF NOT r.slot_id = ANY (v_slots) THEN
                v_slots := v_slots || r.slot_id;
            END IF;
        END IF;
    END LOOP;
    FOREACH v_slot IN ARRAY v_slots LOOP
        PERFORM onecode_places_freed(v_slot);
    END LOOP;
    RETURN v_done;
END;
$$;

-- Cancel an own booking before its slot starts: the places are freed (and offered to
-- the waiting list). Outcomes: cancelled (body the booking), booking_not_found,
-- already_cancelled (body), already_used, too_late.
CREATE OR REPLACE FUNCTION onecode_cancel_booking(
    p_traveller uuid, p_booking uuid, p_now timestamptz
) RETURNS TABLE (outcome text, body jsonb)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_booking bookings%ROWTYPE;
BEGIN
    SELECT * INTO v_booking FROM bookings b
     WHERE b.traveller_id = p_traveller AND b.id = p_booking;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'booking_not_found'::text, '{}'::jsonb;
        RETURN;
    END IF;
    PERFORM onecode_lock_slot(v_booking.slot_id);
    UPDATE bookings b
       SET status = 'cancelled', cancelled_at = p_now, changed_at = p_now,
           cancelled_by = 'traveller'  -- operations (issue 17): who cancelled
     WHERE b.traveller_id = p_traveller AND b.id = p_booking AND b.status = 'booked'
       AND b.starts_at > p_now
    RETURNING b.* INTO v_booking;
    IF NOT FOUND THEN
        SELECT * INTO v_booking FROM bookings b
         WHERE b.traveller_id = p_traveller AND b.id = p_booking;
        RETURN QUERY SELECT CASE v_booking.status
                                WHEN 'cancelled' THEN 'already_cancelled'
                                WHEN 'used' THEN 'already_used'
                                ELSE 'too_late' END,
                            onecode_booking_json(v_booking);
        RETURN;
    END IF;
    UPDATE slot_counters c
       SET booked = c.booked - v_booking.party_size,
           walkin_booked = CASE WHEN v_booking.channel = 'walkin'
                                THEN greatest(c.walkin_booked - v_booking.party_size, 0)
                                ELSE c.walkin_booked END
     WHERE c.venue_id = v_booking.venue_id AND c.slot_id = v_booking.slot_id;
    PERFORM onecode_places_freed(v_booking.slot_id);
    RETURN QUERY SELECT 'cancelled'::text, onecode_booking_json(v_booking);
END;
$$;

-- Apply to a lottery: one application per real-name traveller and lottery, for one
-- slot of its day, until it closes. Outcomes: applied (body the application),
-- lottery_not_found, lottery_closed, slot_not_in_lottery, party_too_large
-- {max_party_size}, already_applied (body the application).
CREATE OR REPLACE FUNCTION onecode_lottery_apply(
    p_traveller uuid, p_lottery uuid, p_slot uuid, p_party integer, p_now timestamptz
) RETURNS TABLE (outcome text, body jsonb)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_lot record;
    v_app lottery_applications%ROWTYPE;
BEGIN
    SELECT l.id, l.venue_id, l.local_day, l.closes_at, l.state, v.max_party_size, v.timezone
      INTO v_lot
      FROM lotteries l JOIN venues v ON v.id = l.venue_id
     WHERE l.id = p_lottery;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'lottery_not_found'::text, '{}'::jsonb;
        RETURN;
    END IF;
    IF v_lot.state <> 'open' OR p_now >= v_lot.closes_at THEN
        RETURN QUERY SELECT 'lottery_closed'::text, '{}'::jsonb;
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM slots s
                    WHERE s.id = p_slot AND s.venue_id = v_lot.venue_id
                      AND (s.starts_at AT TIME ZONE v_lot.timezone)::date = v_lot.local_day) THEN
        RETURN QUERY SELECT 'slot_not_in_lottery'::text, '{}'::jsonb;
        RETURN;
    END IF;
    IF p_party > v_lot.max_party_size THEN
        RETURN QUERY SELECT 'party_too_large'::text,
                            jsonb_build_object('max_party_size', v_lot.max_party_size);
        RETURN;
    END IF;
    INSERT INTO lottery_applications AS a (id, traveller_id, lottery_id, slot_id, party_size,
                                           created_at)
    VALUES (gen_random_uuid(), p_traveller, p_lottery, p_slot, p_party, p_now)
    ON CONFLICT (traveller_id, lottery_id) DO NOTHING
    RETURNING * INTO v_app;
    IF NOT FOUND THEN
        SELECT * INTO v_app FROM lottery_applications a
         WHERE a.traveller_id = p_traveller AND a.lottery_id = p_lottery;
        RETURN QUERY SELECT 'already_applied'::text, onecode_application_json(v_app);
        RETURN;
    END IF;
    UPDATE lotteries l SET applications = l.applications + 1 WHERE l.id = p_lottery;
    RETURN QUERY SELECT 'applied'::text, onecode_application_json(v_app);
END;
$$;

CREATE OR REPLACE FUNCTION onecode_application_json(p_app lottery_applications) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object(
        'id', p_app.id, 'lottery_id', p_app.lottery_id, 'slot_id', p_app.slot_id,
        'party_size', p_app.party_size, 'result', p_app.result, 'rank', p_app.rank,
        'booking_id', p_app.booking_id, 'created_at', p_app.created_at);
$$;

-- The draw, once the lottery has closed (the worker runs it at closes_at). Each
-- application's ticket is SHA-256(seed || application id as 16 bytes); applications are
-- taken in ticket order (ties by id), each booked on its slot while places remain
-- (capacity less the walk-in hold and what is booked or held), else put on that slot's
-- waiting list in the same order. Anyone with the seed (published at the draw; its
-- SHA-256 when the lottery opened) and the application ids can redo it. Never more than
-- capacity: every place goes through the same conditional UPDATE as a booking.
-- Outcomes: drawn, not_yet, already_drawn, lottery_not_found.
CREATE OR REPLACE FUNCTION onecode_lottery_draw(p_lottery uuid, p_now timestamptz)
RETURNS TABLE (outcome text, winners integer, waitlisted integer)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_lot     record;
    r         record;
    v_rank    integer := 0;
    v_won     integer := 0;
    v_waiting integer := 0;
    v_booking uuid;
    v_result  text;
    v_entry   uuid;
BEGIN
    SELECT l.*, v.region_code, v.walkin_quota_pct, v.walkin_release_min
      INTO v_lot
      FROM lotteries l JOIN venues v ON v.id = l.venue_id
     WHERE l.id = p_lottery
       FOR UPDATE OF l;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'lottery_not_found'::text, 0, 0;
        RETURN;
    END IF;
    IF v_lot.state = 'drawn' THEN
        RETURN QUERY SELECT 'already_drawn'::text, v_lot.winners, 0;
        RETURN;
    END IF;
    IF p_now < v_lot.closes_at THEN
        RETURN QUERY SELECT 'not_yet'::text, 0, 0;
        RETURN;
    END IF;
    -- the counter rows of the day's slots, in a fixed order (the lock order); one
    -- venue, so one shard under Citus
    PERFORM 1 FROM slot_counters c
     WHERE c.venue_id = v_lot.venue_id
       AND c.slot_id IN (SELECT s.id FROM slots s JOIN venues v ON v.id = s.venue_id
                          WHERE s.venue_id = v_lot.venue_id
                            AND (s.starts_at AT TIME ZONE v.timezone)::date = v_lot.local_day)
     ORDER BY c.slot_id FOR UPDATE;

    FOR r IN SELECT a.traveller_id, a.id, a.slot_id, a.party_size,
                    sha256(v_lot.seed || uuid_send(a.id)) AS ticket, s.starts_at, s.ends_at
               FROM lottery_applications a JOIN slots s ON s.id = a.slot_id
              WHERE a.lottery_id = p_lottery
              ORDER BY 5, a.id
    LOOP
        v_rank := v_rank + 1;
        v_booking := NULL;
        v_entry := NULL;
        UPDATE slot_counters c SET booked = c.booked + r.party_size
         WHERE c.venue_id = v_lot.venue_id AND c.slot_id = r.slot_id
           AND c.booked + c.held + r.party_size <= c.capacity
               - onecode_walkin_hold(c.capacity, v_lot.walkin_quota_pct, c.walkin_booked,
                                     r.starts_at, v_lot.walkin_release_min, p_now);
        IF FOUND THEN
            INSERT INTO bookings AS b (id, traveller_id, slot_id, venue_id, party_size,
                                       starts_at, ends_at, local_day, channel,
                                       created_at, changed_at)
            VALUES (gen_random_uuid(), r.traveller_id, r.slot_id, v_lot.venue_id,
                    r.party_size, r.starts_at, r.ends_at, v_lot.local_day, 'lottery',
                    p_now, p_now)
            RETURNING b.id INTO v_booking;
            v_result := 'won';
            v_won := v_won + 1;
        ELSE
            INSERT INTO waitlist_entries AS w (id, traveller_id, slot_id, venue_id, local_day,
                                               party_size, position, source, created_at,
                                               changed_at)
            VALUES (gen_random_uuid(), r.traveller_id, r.slot_id, v_lot.venue_id,
                    v_lot.local_day, r.party_size, nextval('waitlist_position_seq'),
                    'lottery', p_now, p_now)
            ON CONFLICT DO NOTHING
            RETURNING w.id INTO v_entry;
            v_result := CASE WHEN v_entry IS NULL THEN 'lost' ELSE 'waitlisted' END;
            v_waiting := v_waiting + CASE WHEN v_entry IS NULL THEN 0 ELSE 1 END;
        END IF;
        UPDATE lottery_applications a
           SET ticket = r.ticket, rank = v_rank, result = v_result, booking_id = v_booking
         WHERE a.traveller_id = r.traveller_id AND a.id = r.id;
        PERFORM onecode_emit_event(
            'lottery.drawn', v_lot.region_code, v_lot.venue_id,
            jsonb_build_object('lottery_id', p_lottery, 'application_id', r.id,
                               'slot_id', r.slot_id, 'result', v_result, 'rank', v_rank,
                               'booking_id', v_booking, 'waitlist_entry_id', v_entry),
            r.traveller_id);
    END LOOP;

    UPDATE lotteries l SET state = 'drawn', drawn_at = p_now, winners = v_won
     WHERE l.id = p_lottery;
    RETURN QUERY SELECT 'drawn'::text, v_won, v_waiting;
END;
$$;
