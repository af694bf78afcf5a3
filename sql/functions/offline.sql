-- Offline gate uploads: one call per batch. Uploaded decisions are facts (the gate let
-- people through): stored once per (gate, scan_id), never re-judged into loss. But one
-- credential can never move occupancy beyond its party:
--
--   * each item is claimed in the gate_scan_ids ledger first (one record per
--     (gate, scan_id) whatever else races: another batch, an online scan);
--   * an accepted item's party is bounded by the traveller's booking of that local day
--     (without one, the venue's max_party_size); beyond it the item is refused
--     (party_too_large), kept for the operator (flag refused_upload), never counted;
--   * the traveller's presence of the day is replayed in scan time order: an entry
--     counts when the traveller is outside (while inside: only what is left of the
--     party's bound), an exit only when inside and only the people who went in; an item older than the presence's last event counts nothing
--     (it is kept). An exit the gate said was of someone inside who is not is refused
--     (not_inside), kept, never counted; counters never go below zero;
--   * double entries are found over everything stored for the traveller and day, in
--     scan time order, whatever the upload order: an accepted entry past the venue's
--     entry limit, or while the traveller was inside (no exit since the last entry), is
--     flagged (scans.conflict), and every item that takes part answers 'conflict';
--   * p_flags carries the caller's judgement per item: 'stale_code' (expired, rotated
--     away or erased when scanned: counted, flagged, no verified visit) or
--     'refused_upload' (a forged or absurd item, already turned into a rejection).

CREATE OR REPLACE FUNCTION gate_upload(
    p_gate        uuid,
    p_venue       uuid,
    p_scan_ids    uuid[],
    p_travellers  uuid[],
    p_directions  text[],
    p_decisions   text[],
    p_reasons     text[],
    p_party       smallint[],
    p_times       timestamptz[],
    p_flags       text[]
) RETURNS TABLE (scan_id uuid, status text, reason text, flag text)
LANGUAGE plpgsql
-- Every read here goes by a key (the traveller's scans and presence, the ledger). A table
-- that grew from empty since its last ANALYZE (a new install, a first busy day) made the
-- planner read all of scans once per traveller of the batch: 32 s for 100,000 uploads.
SET enable_seqscan = off
AS $$
DECLARE
    zero     constant uuid := '00000000-0000-0000-0000-000000000000';
    v        record;
    it       record;
    v_new    uuid[];
    n        integer := cardinality(p_scan_ids);
    o_dec    text[] := p_decisions;
    o_reason text[] := p_reasons;
    o_party  smallint[] := p_party;
    o_flag   text[] := p_flags;
    g_trav   uuid;
    g_day    date;
    g_bound  integer;
    g_inside boolean;
    g_party  integer;
    g_last   timestamptz;
    g_in_at  timestamptz;
    g_out_at timestamptz;
    g_ins    integer;
    v_events bigint;
BEGIN
    SELECT ve.timezone, gate_entry_limit(ve.entry_rule) AS entry_limit, ve.max_party_size,
           ve.region_code
      INTO v FROM venues ve WHERE ve.id = p_venue;

    -- 1. the ledger: the items this call wins (sorted, so racing batches lock in order)
    WITH claimed AS (
        INSERT INTO gate_scan_ids AS l (gate_id, scan_id, traveller_id)
        SELECT p_gate, u.id, u.traveller_id
          FROM unnest(p_scan_ids, p_travellers) AS u (id, traveller_id) ORDER BY u.id
        ON CONFLICT DO NOTHING
        RETURNING l.scan_id
    )
    SELECT coalesce(array_agg(claimed.scan_id), '{}') INTO v_new FROM claimed;

    -- not accepted by the gate: stored as they came, never counted
    FOR i IN 1..n LOOP
        IF o_dec[i] <> 'accept' THEN
            o_party[i] := 0;
        END IF;
    END LOOP;

    -- 2. the accepted new items, per traveller and local day in scan time order (the
    -- presence rows are taken in one order: racing batches cannot deadlock)
    FOR it IN
        SELECT u.i::integer AS i, u.traveller_id, u.direction, u.reason, u.party, u.t,
               (u.t AT TIME ZONE v.timezone)::date AS day
          FROM unnest(p_scan_ids, p_travellers, p_directions, p_decisions, p_reasons,
                      p_party, p_times)
               WITH ORDINALITY AS u (scan_id, traveller_id, direction, decision, reason,
                                     party, t, i)
         WHERE u.scan_id = ANY (v_new) AND u.decision = 'accept'
           AND u.traveller_id <> zero
         ORDER BY u.traveller_id, 7, u.t, u.scan_id
    LOOP
        IF g_trav IS DISTINCT FROM it.traveller_id OR g_day IS DISTINCT FROM it.day THEN
            IF g_trav IS NOT NULL THEN
                UPDATE presence p
                   SET entries = p.entries + g_ins, inside = g_inside, party_size = g_party,
                       last_entry_at = g_in_at, last_exit_at = g_out_at
                 WHERE p.traveller_id = g_trav AND p.venue_id = p_venue AND p.local_day = g_day;
            END IF;
            g_trav := it.traveller_id;
            g_day := it.day;
            INSERT INTO presence AS p (traveller_id, venue_id, local_day)
            VALUES (g_trav, p_venue, g_day) ON CONFLICT DO NOTHING;
            SELECT p.inside, p.party_size, p.last_entry_at, p.last_exit_at
              INTO g_inside, g_party, g_in_at, g_out_at
              FROM presence p
             WHERE p.traveller_id = g_trav AND p.venue_id = p_venue AND p.local_day = g_day
               FOR UPDATE;
            g_last := greatest(g_in_at, g_out_at);
            g_ins := 0;
            SELECT coalesce(max(b.party_size), v.max_party_size) INTO g_bound
              FROM bookings b
             WHERE b.traveller_id = g_trav AND b.venue_id = p_venue AND b.local_day = g_day;
        END IF;

        IF it.party > g_bound THEN
            o_dec[it.i] := 'reject';
            o_reason[it.i] := 'party_too_large';
            o_party[it.i] := 0;
            o_flag[it.i] := 'refused_upload';
        ELSIF it.direction = 'in' THEN
            g_ins := g_ins + 1;
            IF g_last IS NOT NULL AND it.t < g_last THEN
                o_party[it.i] := 0;   -- older than what is known of the day: kept only
            ELSIF NOT g_inside THEN
                g_inside := true;
                g_party := greatest(it.party, 1);
                o_party[it.i] := g_party;
                g_last := it.t;
            ELSE                      -- inside already: at most the rest of the party
                o_party[it.i] := least(greatest(it.party, 1), greatest(g_bound - g_party, 0));
                g_party := g_party + o_party[it.i];
                g_last := it.t;
            END IF;
            g_in_at := greatest(g_in_at, it.t);
        ELSIF g_inside AND (g_last IS NULL OR it.t >= g_last) THEN
            g_inside := false;
            o_party[it.i] := greatest(g_party, 1);   -- the people who went in
            g_last := it.t;
            g_out_at := greatest(g_out_at, it.t);
        ELSIF it.reason = 'not_inside' THEN
            o_party[it.i] := 0;       -- the gate knew: an exit without entry, as online
        ELSE
            o_dec[it.i] := 'reject';
            o_reason[it.i] := 'not_inside';
            o_party[it.i] := 0;
            o_flag[it.i] := 'refused_upload';
        END IF;
    END LOOP;
    IF g_trav IS NOT NULL THEN
        UPDATE presence p
           SET entries = p.entries + g_ins, inside = g_inside, party_size = g_party,
               last_entry_at = g_in_at, last_exit_at = g_out_at
         WHERE p.traveller_id = g_trav AND p.venue_id = p_venue AND p.local_day = g_day;
    END IF;

    IF cardinality(v_new) > 0 THEN
        -- 3. the scans, once each
        INSERT INTO scans AS s (gate_id, scan_id, venue_id, traveller_id, direction, decision,
                                reason, party_size, device_time, offline, flag)
        SELECT p_gate, u.scan_id, p_venue, u.traveller_id, u.direction, u.decision, u.reason,
               u.party_size, u.device_time, true, u.flag
          FROM unnest(p_scan_ids, p_travellers, p_directions, o_dec, o_reason, o_party,
                      p_times, o_flag)
               AS u (scan_id, traveller_id, direction, decision, reason, party_size,
                     device_time, flag)
         WHERE u.scan_id = ANY (v_new)
        ON CONFLICT DO NOTHING;

        -- 4. the venue's counters count what was counted (this session's stripe)
        INSERT INTO venue_counters AS c (venue_id, local_day, stripe, ins, outs)
        SELECT p_venue, (u.t AT TIME ZONE v.timezone)::date, onecode_counter_stripe(),
               coalesce(sum(u.party) FILTER (WHERE u.direction = 'in'), 0),
               coalesce(sum(u.party) FILTER (WHERE u.direction = 'out'), 0)
          FROM unnest(p_scan_ids, p_directions, o_dec, o_party, p_times)
               AS u (scan_id, direction, decision, party, t)
         WHERE u.scan_id = ANY (v_new) AND u.decision = 'accept' AND u.party > 0
         GROUP BY 2
        ON CONFLICT (venue_id, local_day, stripe)
        DO UPDATE SET ins = c.ins + excluded.ins, outs = c.outs + excluded.outs;

        -- 5. the bookings the entries used
        UPDATE bookings b
           SET status = 'used', used_at = e.first_in, changed_at = now()
          FROM (SELECT u.traveller_id, (u.t AT TIME ZONE v.timezone)::date AS day,
                       min(u.t) AS first_in
                  FROM unnest(p_scan_ids, p_travellers, p_directions, o_dec, p_times)
                       AS u (scan_id, traveller_id, direction, decision, t)
                 WHERE u.scan_id = ANY (v_new) AND u.decision = 'accept' AND u.direction = 'in'
                   AND u.traveller_id <> zero
                 GROUP BY 1, 2) e
         WHERE b.traveller_id = e.traveller_id AND b.venue_id = p_venue
           AND b.local_day = e.day AND b.status IN ('booked', 'no_show');

        -- 6. double entries, over everything stored for each traveller and day touched,
        -- in scan time order (whatever the upload order)
        WITH touched AS (
            SELECT DISTINCT u.traveller_id, (u.t AT TIME ZONE v.timezone)::date AS day
              FROM unnest(p_scan_ids, p_travellers, o_dec, p_times)
                   AS u (scan_id, traveller_id, decision, t)
             WHERE u.scan_id = ANY (v_new) AND u.decision = 'accept'
               AND u.traveller_id <> zero
        ), ordered AS (
            SELECT s.traveller_id, s.gate_id, s.scan_id, s.direction, s.conflict,
                   count(*) FILTER (WHERE s.direction = 'in') OVER w AS ins_so_far,
                   lag(s.direction) OVER w AS before
              FROM touched t
              JOIN scans s
                -- by the traveller's index only (a handful of rows): written so that the
                -- venue's (venue_id, device_time) index, which holds the whole venue's
                -- day, cannot be chosen (it was, and each batch read every scan of it)
                ON s.traveller_id = t.traveller_id AND (s.venue_id = p_venue) IS TRUE
               AND s.decision = 'accept'
               AND (s.device_time AT TIME ZONE v.timezone)::date = t.day
            WINDOW w AS (PARTITION BY s.traveller_id, t.day
                         ORDER BY s.device_time, s.gate_id, s.scan_id)
        )
        , changed AS (
            UPDATE scans s
               SET conflict = x.now_conflict
              FROM (SELECT o.traveller_id, o.gate_id, o.scan_id,
                           coalesce(o.direction = 'in'
                                    AND (o.ins_so_far > v.entry_limit OR o.before = 'in'),
                                    false) AS now_conflict
                      FROM ordered o) x
             WHERE s.traveller_id = x.traveller_id AND s.gate_id = x.gate_id
               AND s.scan_id = x.scan_id AND s.conflict IS DISTINCT FROM x.now_conflict
            RETURNING s.scan_id, s.gate_id, s.device_time, s.offline, s.conflict
        )
        -- each newly found double entry is an event for the venue's operators (webhooks);
        -- nothing personal in it: the operator reads the conflict list
        SELECT count(onecode_emit_event(
                   'gate.conflict_found', v.region_code, p_venue,
                   jsonb_build_object('scan_id', c.scan_id, 'gate_id', c.gate_id,
                                      'scanned_at', c.device_time, 'offline', c.offline,
                                      'local_day', (c.device_time AT TIME ZONE v.timezone)::date)))
          INTO v_events
          FROM changed c WHERE c.conflict;
    END IF;

    -- 7. the answer per item
    RETURN QUERY
    SELECT u.scan_id,
           CASE WHEN NOT (u.scan_id = ANY (v_new)) THEN 'duplicate'
                WHEN s.flag = 'refused_upload' THEN 'rejected'
                WHEN s.decision = 'accept' AND s.direction = 'in'
                     AND (s.conflict OR EXISTS (
                          SELECT 1 FROM scans o  -- by the traveller's index (as step 6)
                           WHERE o.traveller_id = s.traveller_id
                             AND (o.venue_id = s.venue_id) IS TRUE
                             AND o.conflict AND o.decision = 'accept' AND o.direction = 'in'
                             AND (o.device_time AT TIME ZONE v.timezone)::date
                                 = (s.device_time AT TIME ZONE v.timezone)::date
                             AND (o.device_time, o.gate_id, o.scan_id)
                                 > (s.device_time, s.gate_id, s.scan_id)))
                     THEN 'conflict'
                ELSE 'recorded' END,
           CASE WHEN u.scan_id = ANY (v_new) AND s.flag = 'refused_upload' THEN s.reason END,
           CASE WHEN u.scan_id = ANY (v_new) AND s.flag = 'stale_code' THEN s.flag END
      FROM unnest(p_scan_ids, p_travellers) AS u (scan_id, traveller_id)
      LEFT JOIN scans s
        ON s.traveller_id = u.traveller_id AND s.gate_id = p_gate AND s.scan_id = u.scan_id;
END;
$$;
