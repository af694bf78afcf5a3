-- GENERATED: the schema that sql/migrations/ + sql/functions/ produce (pg_dump).
-- Do not edit; regenerate with
--   ONECODE_WRITE_SCHEMA=1 python -m pytest tests/integration/test_schema_snapshot.py

CREATE FUNCTION public.flows_advance(wait boolean DEFAULT true) RETURNS bigint
    LANGUAGE plpgsql
    AS $$
DECLARE
    lo xid8;
    hi xid8;
    n_scans bigint;
    n_checkins bigint;
    zero CONSTANT uuid := '00000000-0000-0000-0000-000000000000';
BEGIN
    IF wait THEN
        PERFORM pg_advisory_xact_lock(7306916064829212753);  -- 'flows advance'
    ELSIF NOT pg_try_advisory_xact_lock(7306916064829212753) THEN
        RETURN 0;
    END IF;
    -- after the lock: a fresh statement snapshot, taken before this transaction has an xid
    hi := pg_snapshot_xmin(pg_current_snapshot());
    SELECT w.horizon INTO lo FROM flow_watermark w WHERE w.id FOR UPDATE;
    IF hi <= lo THEN
        RETURN 0;
    END IF;

    SELECT count(*) INTO n_scans FROM scans s WHERE s.ingest_xid >= lo AND s.ingest_xid < hi;
    SELECT count(*) INTO n_checkins FROM checkins c WHERE c.ingest_xid >= lo AND c.ingest_xid < hi;

    -- visit set: adds entries to (venue, hour, traveller) cells
    INSERT INTO flow_visit_hours AS f (venue_id, local_hour, traveller_id, entries, origin)
    SELECT e.venue_id, e.local_hour, e.traveller_id, count(*), max(t.home_region)
      FROM (SELECT s.venue_id, s.traveller_id,
                   date_trunc('hour', s.device_time AT TIME ZONE v.timezone) AS local_hour
              FROM scans s JOIN venues v ON v.id = s.venue_id
             WHERE s.ingest_xid >= lo AND s.ingest_xid < hi
               AND s.decision = 'accept' AND s.direction = 'in' AND s.traveller_id <> zero
            UNION ALL
            SELECT c.venue_id, c.traveller_id,
                   date_trunc('hour', c.checked_in_at AT TIME ZONE v.timezone)
              FROM checkins c JOIN venues v ON v.id = c.venue_id
             WHERE c.ingest_xid >= lo AND c.ingest_xid < hi) e
      LEFT JOIN travellers t ON t.id = e.traveller_id
     GROUP BY e.venue_id, e.local_hour, e.traveller_id
    ON CONFLICT (venue_id, local_hour, traveller_id) DO UPDATE
       SET entries = f.entries + EXCLUDED.entries,
           origin = COALESCE(f.origin, EXCLUDED.origin);

    -- occupancy: people in and out per hour (every accepted scan, named or not)
    INSERT INTO flow_occupancy_hours AS f (venue_id, local_hour, people_in, people_out)
    SELECT s.venue_id, date_trunc('hour', s.device_time AT TIME ZONE v.timezone),
           COALESCE(sum(greatest(s.party_size, 1)) FILTER (WHERE s.direction = 'in'), 0),
           COALESCE(sum(greatest(s.party_size, 1)) FILTER (WHERE s.direction = 'out'), 0)
      FROM scans s JOIN venues v ON v.id = s.venue_id
     WHERE s.ingest_xid >= lo AND s.ingest_xid < hi AND s.decision = 'accept'
     GROUP BY 1, 2
    ON CONFLICT (venue_id, local_hour) DO UPDATE
       SET people_in = f.people_in + EXCLUDED.people_in,
           people_out = f.people_out + EXCLUDED.people_out;

    -- dwell: recompute the touched (traveller, venue, local day) cells.
    -- Set-based and co-located (deploy/citus/README.md, "The rules"): scans and flow_dwell
    -- are both on the traveller's shard, every subquery is tied to them by traveller_id,
    -- and each window is partitioned by traveller_id. No array and no set-returning
    -- function is joined (unnest(...) JOIN scans failed on the review cluster:
    -- "insufficient data left in message"). The INSERT reads the scans of the touched
    -- travellers (one primary-key probe each on one PostgreSQL) and keeps the cells that
    -- hold a scan of this advance; joining the cells themselves let the planner probe
    -- scans by (venue, time) instead, 25 times slower on a backlog without statistics.
    DELETE FROM flow_dwell f
     USING (SELECT DISTINCT k.traveller_id, k.venue_id,
                   (k.device_time AT TIME ZONE v.timezone)::date AS d
              FROM scans k JOIN venues v ON v.id = k.venue_id
             WHERE k.ingest_xid >= lo AND k.ingest_xid < hi
               AND k.decision = 'accept' AND k.traveller_id <> zero) t
     WHERE f.traveller_id = t.traveller_id AND f.venue_id = t.venue_id AND f.local_day = t.d;
    INSERT INTO flow_dwell (traveller_id, venue_id, local_day, entry_at, minutes)
    SELECT x.traveller_id, x.venue_id, x.d, x.device_time,
           floor(extract(epoch FROM x.next_time - x.device_time) / 60)::integer
      FROM (SELECT s.traveller_id, s.venue_id, s.d, s.device_time, s.direction,
                   lead(s.direction) OVER w AS next_dir, lead(s.device_time) OVER w AS next_time,
                   bool_or(s.fresh) OVER cell AS touched
              FROM (SELECT s.traveller_id, s.venue_id, s.device_time, s.direction, s.seq,
                           (s.device_time AT TIME ZONE v.timezone)::date AS d,
                           s.ingest_xid >= lo AND s.ingest_xid < hi AS fresh
                      FROM scans s JOIN venues v ON v.id = s.venue_id
                     WHERE s.decision = 'accept'
                       AND s.traveller_id IN (SELECT k.traveller_id FROM scans k
                                               WHERE k.ingest_xid >= lo AND k.ingest_xid < hi
                                                 AND k.decision = 'accept'
                                                 AND k.traveller_id <> zero)) s
            WINDOW cell AS (PARTITION BY s.traveller_id, s.venue_id, s.d),
                   w AS (cell ORDER BY s.device_time, s.seq)) x
     WHERE x.touched AND x.direction = 'in' AND x.next_dir = 'out'
    ON CONFLICT DO NOTHING;

    -- origin-destination: recompute the touched (traveller, local day) sequences, in the
    -- same co-located form: the keys (a UNION of scans and checkins, traveller_id first in
    -- both) joined on traveller_id to a UNION ALL of both (traveller_id first in both) and
    -- to flow_trips. The branches read one table each, so on one PostgreSQL every key is
    -- a primary-key probe of scans and of checkins.
    DELETE FROM flow_trips f
     USING (SELECT s.traveller_id, (s.device_time AT TIME ZONE v.timezone)::date AS d
              FROM scans s JOIN venues v ON v.id = s.venue_id
             WHERE s.ingest_xid >= lo AND s.ingest_xid < hi
               AND s.decision = 'accept' AND s.direction = 'in' AND s.traveller_id <> zero
            UNION
            SELECT c.traveller_id, (c.checked_in_at AT TIME ZONE v.timezone)::date
              FROM checkins c JOIN venues v ON v.id = c.venue_id
             WHERE c.ingest_xid >= lo AND c.ingest_xid < hi) t
     WHERE f.traveller_id = t.traveller_id AND f.local_day = t.d;
    INSERT INTO flow_trips (traveller_id, local_day, from_venue, to_venue, trips)
    SELECT x.traveller_id, x.d, x.prev_venue, x.venue_id, count(*)
      FROM (SELECT t.traveller_id, t.d, e.venue_id,
                   lag(e.venue_id) OVER (PARTITION BY t.traveller_id, t.d
                                         ORDER BY e.at, e.venue_id) AS prev_venue
              FROM (SELECT s.traveller_id, (s.device_time AT TIME ZONE v.timezone)::date AS d
                      FROM scans s JOIN venues v ON v.id = s.venue_id
                     WHERE s.ingest_xid >= lo AND s.ingest_xid < hi
                       AND s.decision = 'accept' AND s.direction = 'in'
                       AND s.traveller_id <> zero
                    UNION
                    SELECT c.traveller_id, (c.checked_in_at AT TIME ZONE v.timezone)::date
                      FROM checkins c JOIN venues v ON v.id = c.venue_id
                     WHERE c.ingest_xid >= lo AND c.ingest_xid < hi) t
              JOIN (SELECT s.traveller_id, s.venue_id, s.device_time AS at
                      FROM scans s
                     WHERE s.decision = 'accept' AND s.direction = 'in'
                    UNION ALL
                    SELECT c.traveller_id, c.venue_id, c.checked_in_at
                      FROM checkins c) e ON e.traveller_id = t.traveller_id
              JOIN venues v ON v.id = e.venue_id
             WHERE (e.at AT TIME ZONE v.timezone)::date = t.d) x
     WHERE x.prev_venue IS NOT NULL AND x.prev_venue <> x.venue_id
     GROUP BY x.traveller_id, x.d, x.prev_venue, x.venue_id;

    UPDATE flow_watermark
       SET horizon = hi, rows_consumed = rows_consumed + n_scans + n_checkins,
           advances = advances + 1, advanced_at = now()
     WHERE id;
    RETURN n_scans + n_checkins;
END
$$;

CREATE FUNCTION public.gate_entry_limit(p_rule text) RETURNS integer
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $_$
    SELECT CASE
        WHEN p_rule = 'single' THEN 1
        WHEN p_rule = 'reentry' THEN NULL
        WHEN p_rule ~ '^daily:[1-9][0-9]{0,2}$' THEN substring(p_rule FROM 7)::integer
    END
$_$;

CREATE FUNCTION public.gate_hmac_pads(p_key bytea, OUT ipad bytea, OUT opad bytea) RETURNS record
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
    AS $$
DECLARE
    k bytea;
BEGIN
    IF length(p_key) > 64 THEN
        RAISE EXCEPTION 'gate_hmac_pads: key longer than 64 bytes';
    END IF;
    k := p_key || decode(repeat('00', 64 - length(p_key)), 'hex');
    ipad := k;
    opad := k;
    FOR i IN 0..63 LOOP
        ipad := set_byte(ipad, i, get_byte(k, i) # 54);   -- 0x36
        opad := set_byte(opad, i, get_byte(k, i) # 92);   -- 0x5c
    END LOOP;
END
$$;

CREATE FUNCTION public.gate_hmac_sha256(p_key bytea, p_msg bytea) RETURNS bytea
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$
    SELECT sha256(p.opad || sha256(p.ipad || p_msg)) FROM gate_hmac_pads(p_key) AS p
$$;

CREATE FUNCTION public.gate_scan(p_gate_id uuid, p_venue_id uuid, p_scan_id uuid, p_direction text, p_device_time timestamp with time zone, p_verdict text, p_cred_id bytea, p_generation integer, p_body text, p_suffix bytea) RETURNS TABLE(decision text, reason text, party_size integer, booking_id uuid, replayed boolean, credential text)
    LANGUAGE plpgsql
    AS $$
#variable_conflict use_column
DECLARE
    zero      constant uuid := '00000000-0000-0000-0000-000000000000';
    now_at    constant timestamptz := now();
    v         record;
    cred      record;
    bk        record;
    pr        record;
    prior     record;
    traveller uuid := zero;
    v_day     date;
    v_reason  text;
    v_party   integer := 0;
    v_booking uuid;
    v_accept  boolean := false;
    v_inside  bigint;
    v_cap     integer;
    v_room    boolean := true;
    v_fresh   boolean := false;
    v_known   boolean := false;
    v_kind    text;
BEGIN
    -- the credential, when the signature is good (even for an expired or not yet valid
    -- code: its fields are authentic)
    IF p_cred_id IS NOT NULL THEN
        -- the code names its cred_id only: its traveller from the lookup (by cred_id),
        -- then the credential on the traveller's shard (two primary-key reads, each on
        -- one shard; a cred_id of nobody reads the zero uuid's)
        SELECT l.traveller_id INTO traveller FROM credential_ids l WHERE l.cred_id = p_cred_id;
        traveller := coalesce(traveller, zero);
        SELECT c.traveller_id, c.generation, c.revoked_all, c.suffix_secret, c.kind,
               c.booking_id
          INTO cred FROM credentials c
         WHERE c.traveller_id = traveller AND c.cred_id = p_cred_id;
        v_known := FOUND;
        IF v_known THEN
            traveller := cred.traveller_id;
            v_kind := cred.kind;
        ELSE
            traveller := zero;
        END IF;
    END IF;

    -- 1. retries: one (gate, scan_id) is decided once, online or uploaded. The claim in
    -- the ledger is the serialization point: a concurrent claim of the same pair (a
    -- retry, or a batch naming the id) waits for this one to commit and then loses,
    -- and answers what the first claim stored.
    INSERT INTO gate_scan_ids (gate_id, scan_id, traveller_id)
    VALUES (p_gate_id, p_scan_id, traveller)
    ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        -- two single-shard reads (the ledger by gate, the scan by its traveller)
        SELECT l.traveller_id INTO traveller
          FROM gate_scan_ids l WHERE l.gate_id = p_gate_id AND l.scan_id = p_scan_id;
        SELECT s.decision, s.reason, s.party_size, s.booking_id INTO prior
          FROM scans s
         WHERE s.traveller_id = traveller AND s.gate_id = p_gate_id AND s.scan_id = p_scan_id;
        IF FOUND THEN
            RETURN QUERY SELECT prior.decision, prior.reason, prior.party_size::integer,
                                prior.booking_id, true, v_kind;
        ELSE  -- claimed long ago, the scan row since deleted (retention): never re-decided
            RETURN QUERY SELECT 'reject'::text, 'invalid_code'::text, 0, NULL::uuid, true,
                                NULL::text;
        END IF;
        RETURN;
    END IF;

    SELECT ve.requires_booking, gate_entry_limit(ve.entry_rule) AS entry_limit,
           ve.capacity_instant, ve.occupancy_cap_pct, ve.timezone, ve.early_grace_min,
           ve.late_grace_min, coalesce(ve.live_code_required, ve.gated) AS live_code,
           ve.active  -- operations (issue 17)
      INTO v FROM venues ve WHERE ve.id = p_venue_id;
    v_day := (now_at AT TIME ZONE v.timezone)::date;

    <<decide>>
    BEGIN
        -- 2. the code itself. p_cred_id is set whenever the signature is good, even
        -- for an expired or not yet valid code (its fields are authentic).
        IF p_cred_id IS NULL THEN
            v_reason := CASE WHEN p_verdict = 'ok' THEN 'invalid_code' ELSE p_verdict END;
            EXIT decide;
        END IF;
        -- an exit of an authentic pass is never blocked, whatever the state of the pass
        -- (expired, rotated, erased, even a credential no row knows): it closes the
        -- presence if there is one, else it is accepted and flagged, never counted
        IF p_direction = 'out' AND NOT v_known THEN
            v_accept := true;
            v_reason := 'not_inside';
            v_party := 1;
            EXIT decide;
        END IF;
        IF p_direction = 'out' THEN
            SELECT p.inside, p.party_size INTO pr FROM presence p
             WHERE p.traveller_id = traveller AND p.venue_id = p_venue_id AND p.local_day = v_day
               FOR UPDATE;
            v_accept := true;
            IF FOUND AND pr.inside THEN
                v_reason := 'ok';
                v_party := greatest(pr.party_size, 1);
                UPDATE presence p SET inside = false, last_exit_at = now_at
                 WHERE p.traveller_id = traveller AND p.venue_id = p_venue_id AND p.local_day = v_day;
                INSERT INTO venue_counters AS g (venue_id, local_day, stripe, outs)
                VALUES (p_venue_id, v_day, onecode_counter_stripe(), v_party)
                ON CONFLICT (venue_id, local_day, stripe) DO UPDATE SET outs = g.outs + EXCLUDED.outs;
            ELSE
                v_reason := 'not_inside';   -- accepted and flagged; not counted
                v_party := CASE WHEN FOUND THEN greatest(pr.party_size, 1) ELSE 1 END;
            END IF;
            EXIT decide;
        END IF;

        -- operations (issue 17): a deactivated venue admits nobody (exits still pass)
        IF NOT v.active THEN
            v_reason := 'venue_inactive';
            EXIT decide;
        END IF;

        IF p_verdict <> 'ok' THEN
            v_reason := p_verdict;          -- expired_code, not_yet_valid
            EXIT decide;
        END IF;
        IF NOT v_known OR cred.revoked_all OR p_generation <> cred.generation THEN
            v_reason := 'revoked_code';     -- rotated, erased, or the credential is gone
            EXIT decide;
        END IF;
        IF p_suffix IS NOT NULL THEN
            IF NOT gate_suffix_ok(cred.suffix_secret, p_body, p_suffix, now_at) THEN
                v_reason := 'screenshot_code';
                EXIT decide;
            END IF;
        ELSIF v.live_code AND cred.kind = 'phone' THEN
            v_reason := 'static_code';      -- a screenshot cut to the static text
            EXIT decide;
        END IF;

        -- 3. the entitlement here and now (a paper pass: its own booking only). Bookings
        -- of yesterday, today and tomorrow (local days): a window reaches across midnight
        -- both ways (late grace after a slot of yesterday, early grace before tomorrow's).
        IF v.requires_booking OR cred.kind = 'paper' THEN
            SELECT b.id, b.party_size INTO bk FROM bookings b
             WHERE b.traveller_id = traveller AND b.venue_id = p_venue_id
               AND b.local_day BETWEEN v_day - 1 AND v_day + 1
               AND b.status IN ('booked', 'used')
               AND (cred.booking_id IS NULL OR b.id = cred.booking_id)
               AND now_at >= b.starts_at - make_interval(mins => v.early_grace_min)
               AND now_at < b.ends_at + make_interval(mins => v.late_grace_min)
             ORDER BY (b.status = 'booked') DESC, b.starts_at
             LIMIT 1;
            IF NOT FOUND THEN
                IF EXISTS (SELECT 1 FROM bookings b
                            WHERE b.traveller_id = traveller AND b.venue_id = p_venue_id
                              AND b.local_day BETWEEN v_day - 1 AND v_day + 1
                              AND b.status IN ('booked', 'used')
                              AND (cred.booking_id IS NULL OR b.id = cred.booking_id)
                              AND now_at < b.starts_at - make_interval(mins => v.early_grace_min)) THEN
                    v_reason := 'too_early';
                ELSIF EXISTS (SELECT 1 FROM bookings b
                               WHERE b.traveller_id = traveller AND b.venue_id = p_venue_id
                                 AND b.local_day BETWEEN v_day - 1 AND v_day + 1
                                 AND b.status IN ('booked', 'used')
                                 AND (cred.booking_id IS NULL OR b.id = cred.booking_id)) THEN
                    v_reason := 'too_late';
                ELSIF EXISTS (SELECT 1 FROM bookings b
                               WHERE b.traveller_id = traveller
                                 AND b.local_day BETWEEN v_day - 1 AND v_day + 1
                                 AND b.venue_id <> p_venue_id
                                 AND b.status IN ('booked', 'used')
                                 AND (cred.booking_id IS NULL OR b.id = cred.booking_id)) THEN
                    v_reason := 'wrong_venue';
                ELSE
                    v_reason := 'no_booking';
                END IF;
                EXIT decide;
            END IF;
            v_booking := bk.id;
            v_party := bk.party_size;
        ELSE
            v_party := 1;   -- free entry: one person, still counted
        END IF;

        -- 4. the live occupancy cap, read first so that the common case below is one
        -- INSERT. Near the cap, accepts of the venue take turns (a venue advisory lock,
        -- always taken before the presence row lock) so racing gates cannot overshoot.
        IF v.occupancy_cap_pct IS NOT NULL THEN
            v_cap := (v.capacity_instant::bigint * v.occupancy_cap_pct / 100)::integer;
            SELECT COALESCE(sum(g.ins - g.outs), 0) INTO v_inside FROM venue_counters g
             WHERE g.venue_id = p_venue_id AND g.local_day = v_day;
            IF v_inside + v_party > v_cap - 200 THEN
                PERFORM pg_advisory_xact_lock(hashtextextended(p_venue_id::text, 11));
                SELECT COALESCE(sum(g.ins - g.outs), 0) INTO v_inside FROM venue_counters g
                 WHERE g.venue_id = p_venue_id AND g.local_day = v_day;
            END IF;
            v_room := v_inside + v_party <= v_cap;
        END IF;

        -- 5. the entry rule, under the lock of the traveller's presence row of the day
        -- (the row that makes two gates scanning one pass take turns). A first entry of
        -- the day with room is a single INSERT; an existing row is locked and judged.
        IF v_room THEN
            INSERT INTO presence (traveller_id, venue_id, local_day, entries, inside,
                                  party_size, last_entry_at)
            VALUES (traveller, p_venue_id, v_day, 1, true, v_party, now_at)
            ON CONFLICT DO NOTHING;
            v_fresh := FOUND;
        END IF;
        IF NOT v_fresh THEN
            SELECT p.entries, p.inside INTO pr FROM presence p
             WHERE p.traveller_id = traveller AND p.venue_id = p_venue_id AND p.local_day = v_day
               FOR UPDATE;
            IF FOUND THEN
                IF pr.entries >= v.entry_limit THEN
                    v_reason := 'already_used'; EXIT decide;
                ELSIF pr.inside THEN
                    v_reason := 'already_inside'; EXIT decide;   -- anti-passback
                END IF;
            END IF;
            IF NOT v_room THEN
                v_reason := 'venue_full'; EXIT decide;
            END IF;
            UPDATE presence p SET entries = p.entries + 1, inside = true, party_size = v_party,
                                  last_entry_at = now_at
             WHERE p.traveller_id = traveller AND p.venue_id = p_venue_id AND p.local_day = v_day;
        END IF;

        -- 6. accept: the booking is used, the venue's counter counts the party
        v_accept := true;
        v_reason := 'ok';
        IF v_booking IS NOT NULL THEN
            UPDATE bookings b SET status = 'used', used_at = now_at, changed_at = now_at
             WHERE b.traveller_id = traveller AND b.id = v_booking AND b.status = 'booked';
        END IF;
        INSERT INTO venue_counters AS g (venue_id, local_day, stripe, ins)
        VALUES (p_venue_id, v_day, onecode_counter_stripe(), v_party)
        ON CONFLICT (venue_id, local_day, stripe) DO UPDATE SET ins = g.ins + EXCLUDED.ins;
    END decide;

    IF NOT v_accept THEN
        v_party := 0;
    END IF;
    INSERT INTO scans (gate_id, scan_id, venue_id, traveller_id, booking_id, direction,
                       decision, reason, party_size, device_time, server_time)
    VALUES (p_gate_id, p_scan_id, p_venue_id, traveller, v_booking, p_direction,
            CASE WHEN v_accept THEN 'accept' ELSE 'reject' END, v_reason, v_party,
            p_device_time, now_at)
    ON CONFLICT DO NOTHING;
    RETURN QUERY SELECT CASE WHEN v_accept THEN 'accept' ELSE 'reject' END, v_reason,
                        v_party, v_booking, false, v_kind;
END
$$;

CREATE FUNCTION public.gate_scan_batch(p_venue_id uuid, p_gate_ids uuid[], p_scan_ids uuid[], p_directions text[], p_device_times timestamp with time zone[], p_verdicts text[], p_cred_ids bytea[], p_generations integer[], p_bodies text[], p_suffixes bytea[]) RETURNS TABLE(i integer, decision text, reason text, party_size integer, booking_id uuid, replayed boolean, credential text)
    LANGUAGE plpgsql
    AS $$
DECLARE
    k integer;
BEGIN
    INSERT INTO venue_counters AS g (venue_id, local_day, stripe)
    SELECT ve.id, (now() AT TIME ZONE ve.timezone)::date, onecode_counter_stripe()
      FROM venues ve WHERE ve.id = p_venue_id
    ON CONFLICT (venue_id, local_day, stripe) DO UPDATE SET ins = g.ins;
    FOR k IN
        SELECT u.k::integer FROM unnest(p_cred_ids, p_scan_ids) WITH ORDINALITY AS u (c, s, k)
         ORDER BY u.c NULLS FIRST, u.s
    LOOP
        RETURN QUERY
        SELECT k, r.decision, r.reason, r.party_size, r.booking_id, r.replayed, r.credential
          FROM gate_scan(p_gate_ids[k], p_venue_id, p_scan_ids[k], p_directions[k],
                         p_device_times[k], p_verdicts[k], p_cred_ids[k], p_generations[k],
                         p_bodies[k], p_suffixes[k]) AS r;
    END LOOP;
END
$$;

CREATE FUNCTION public.gate_suffix_ok(p_secret bytea, p_body text, p_suffix bytea, p_now timestamp with time zone) RETURNS boolean
    LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
    AS $$
DECLARE
    step bigint := floor(extract(epoch FROM p_now) / 30)::bigint;
    msg  bytea := convert_to(p_body, 'SQL_ASCII');
    pads record;
    ok   boolean := false;
BEGIN
    IF length(p_suffix) <> 4 THEN
        RETURN false;
    END IF;
    SELECT * INTO pads FROM gate_hmac_pads(p_secret);
    FOR s IN greatest(step - 1, 0)..step + 1 LOOP
        -- int8send is the big-endian 8-byte form of the step; every step is checked
        ok := ok OR substring(sha256(pads.opad || sha256(pads.ipad || msg || int8send(s)))
                              FROM 1 FOR 4) = p_suffix;
    END LOOP;
    RETURN ok;
END
$$;

CREATE FUNCTION public.gate_upload(p_gate uuid, p_venue uuid, p_scan_ids uuid[], p_travellers uuid[], p_directions text[], p_decisions text[], p_reasons text[], p_party smallint[], p_times timestamp with time zone[], p_flags text[]) RETURNS TABLE(scan_id uuid, status text, reason text, flag text)
    LANGUAGE plpgsql
    SET enable_seqscan TO 'off'
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

CREATE FUNCTION public.onecode_accept_offer(p_traveller uuid, p_entry uuid, p_now timestamp with time zone) RETURNS TABLE(outcome text, body jsonb, replayed boolean)
    LANGUAGE plpgsql
    AS $$
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

CREATE TABLE public.lottery_applications (
    id uuid NOT NULL,
    traveller_id uuid NOT NULL,
    lottery_id uuid NOT NULL,
    slot_id uuid NOT NULL,
    party_size smallint NOT NULL,
    ticket bytea,
    rank integer,
    result text DEFAULT 'pending'::text NOT NULL,
    booking_id uuid,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT lottery_applications_party_size_check CHECK (((party_size >= 1) AND (party_size <= 100))),
    CONSTRAINT lottery_applications_result_check CHECK ((result = ANY (ARRAY['pending'::text, 'won'::text, 'waitlisted'::text, 'lost'::text])))
);

CREATE FUNCTION public.onecode_application_json(p_app public.lottery_applications) RETURNS jsonb
    LANGUAGE sql IMMUTABLE
    AS $$
    SELECT jsonb_build_object(
        'id', p_app.id, 'lottery_id', p_app.lottery_id, 'slot_id', p_app.slot_id,
        'party_size', p_app.party_size, 'result', p_app.result, 'rank', p_app.rank,
        'booking_id', p_app.booking_id, 'created_at', p_app.created_at);
$$;

CREATE FUNCTION public.onecode_book_slot(p_traveller uuid, p_slot uuid, p_party integer, p_key text, p_request_hash bytea, p_key_ttl interval, p_channel text DEFAULT 'app'::text) RETURNS TABLE(outcome text, body jsonb, replayed boolean)
    LANGUAGE plpgsql
    AS $$
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

CREATE TABLE public.bookings (
    id uuid NOT NULL,
    traveller_id uuid NOT NULL,
    slot_id uuid NOT NULL,
    venue_id uuid NOT NULL,
    party_size smallint NOT NULL,
    status text DEFAULT 'booked'::text NOT NULL,
    starts_at timestamp with time zone NOT NULL,
    ends_at timestamp with time zone NOT NULL,
    local_day date NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    changed_at timestamp with time zone DEFAULT now() NOT NULL,
    cancelled_at timestamp with time zone,
    used_at timestamp with time zone,
    cancelled_by text,
    cancel_reason text,
    channel text DEFAULT 'app'::text NOT NULL,
    CONSTRAINT bookings_cancel_reason_ck CHECK (((cancel_reason IS NULL) OR ((length(cancel_reason) >= 1) AND (length(cancel_reason) <= 500)))),
    CONSTRAINT bookings_cancelled_by_ck CHECK (((cancelled_by IS NULL) OR (cancelled_by = ANY (ARRAY['traveller'::text, 'venue'::text])))),
    CONSTRAINT bookings_channel_check CHECK ((channel = ANY (ARRAY['app'::text, 'walkin'::text, 'waitlist'::text, 'lottery'::text]))),
    CONSTRAINT bookings_party_size_check CHECK (((party_size >= 1) AND (party_size <= 100))),
    CONSTRAINT bookings_status_check CHECK ((status = ANY (ARRAY['booked'::text, 'cancelled'::text, 'used'::text, 'no_show'::text])))
);

CREATE FUNCTION public.onecode_booking_json(p_booking public.bookings) RETURNS jsonb
    LANGUAGE sql IMMUTABLE
    AS $$
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

CREATE FUNCTION public.onecode_cancel_booking(p_traveller uuid, p_booking uuid, p_now timestamp with time zone) RETURNS TABLE(outcome text, body jsonb)
    LANGUAGE plpgsql
    AS $$
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

CREATE FUNCTION public.onecode_cancel_slot(p_slot uuid, p_venue uuid, p_reason text, p_now timestamp with time zone) RETURNS TABLE(outcome text, cancelled_bookings integer)
    LANGUAGE plpgsql
    AS $$
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

CREATE FUNCTION public.onecode_change_slot(p_slot uuid, p_venue uuid, p_capacity integer, p_starts timestamp with time zone, p_ends timestamp with time zone) RETURNS TABLE(outcome text, booked integer, old_capacity integer, old_starts_at timestamp with time zone, old_ends_at timestamp with time zone)
    LANGUAGE plpgsql
    AS $$
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

CREATE FUNCTION public.onecode_counter_stripe() RETURNS smallint
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
    SELECT (pg_backend_pid() % 16)::smallint
$$;

CREATE FUNCTION public.onecode_emit_event(p_type text, p_region text, p_venue uuid, p_payload jsonb, p_traveller uuid DEFAULT NULL::uuid) RETURNS uuid
    LANGUAGE plpgsql
    AS $$
DECLARE
    ev uuid := gen_random_uuid();
BEGIN
    INSERT INTO events (id, type, region_code, venue_id, payload)
    VALUES (ev, p_type, p_region, p_venue, p_payload);
    IF p_traveller IS NOT NULL THEN
        INSERT INTO traveller_notifications (traveller_id, id, event_id, type, payload)
        VALUES (p_traveller, gen_random_uuid(), ev, p_type, p_payload);
    END IF;
    RETURN ev;
END
$$;

CREATE FUNCTION public.onecode_join_waitlist(p_traveller uuid, p_slot uuid, p_party integer, p_now timestamp with time zone) RETURNS TABLE(outcome text, body jsonb)
    LANGUAGE plpgsql
    AS $$
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

CREATE FUNCTION public.onecode_leave_waitlist(p_traveller uuid, p_entry uuid, p_now timestamp with time zone) RETURNS TABLE(outcome text, body jsonb)
    LANGUAGE plpgsql
    AS $$
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

CREATE TABLE public.slot_counters (
    venue_id uuid NOT NULL,
    slot_id uuid NOT NULL,
    capacity integer NOT NULL,
    booked integer DEFAULT 0 NOT NULL,
    walkin_booked integer DEFAULT 0 NOT NULL,
    held integer DEFAULT 0 NOT NULL,
    cancelled boolean DEFAULT false NOT NULL,
    CONSTRAINT slot_counters_booked_check CHECK ((booked >= 0)),
    CONSTRAINT slot_counters_capacity_check CHECK ((capacity > 0)),
    CONSTRAINT slot_counters_held_check CHECK ((held >= 0)),
    CONSTRAINT slot_counters_not_oversold_ck CHECK ((booked <= capacity)),
    CONSTRAINT slot_counters_walkin_booked_check CHECK ((walkin_booked >= 0)),
    CONSTRAINT slot_counters_walkin_within_booked_ck CHECK ((walkin_booked <= booked))
)
WITH (fillfactor='70');

CREATE FUNCTION public.onecode_lock_slot(p_slot uuid) RETURNS public.slot_counters
    LANGUAGE plpgsql
    AS $$
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

CREATE FUNCTION public.onecode_lottery_apply(p_traveller uuid, p_lottery uuid, p_slot uuid, p_party integer, p_now timestamp with time zone) RETURNS TABLE(outcome text, body jsonb)
    LANGUAGE plpgsql
    AS $$
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

CREATE FUNCTION public.onecode_lottery_draw(p_lottery uuid, p_now timestamp with time zone) RETURNS TABLE(outcome text, winners integer, waitlisted integer)
    LANGUAGE plpgsql
    AS $$
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

CREATE FUNCTION public.onecode_offer_round(p_slot uuid, p_now timestamp with time zone) RETURNS TABLE(offers integer, expired integer, next_run timestamp with time zone)
    LANGUAGE plpgsql
    AS $$
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

CREATE FUNCTION public.onecode_places_freed(p_slot uuid) RETURNS integer
    LANGUAGE plpgsql
    AS $$
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

CREATE FUNCTION public.onecode_queue_offer_round(p_slot uuid, p_at timestamp with time zone) RETURNS void
    LANGUAGE sql
    AS $$
    INSERT INTO allocation_jobs (kind, slot_id, run_at)
    SELECT 'offer', p_slot, p_at
     WHERE NOT EXISTS (SELECT 1 FROM allocation_jobs j
                        WHERE j.kind = 'offer' AND j.slot_id = p_slot AND j.run_at <= p_at);
$$;

CREATE FUNCTION public.onecode_release_no_shows(p_now timestamp with time zone, p_limit integer) RETURNS integer
    LANGUAGE plpgsql
    AS $$
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

CREATE FUNCTION public.onecode_sale_refusal(p_active boolean, p_cancelled_at timestamp with time zone, p_party integer, p_max_party integer, p_now timestamp with time zone, p_ends_at timestamp with time zone, p_late_grace_min integer, p_local_day date, p_today date, p_window_days integer, p_lottery boolean, p_walkin boolean) RETURNS TABLE(outcome text, body jsonb)
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
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
$$;

CREATE TABLE public.waitlist_entries (
    id uuid NOT NULL,
    traveller_id uuid NOT NULL,
    slot_id uuid NOT NULL,
    venue_id uuid NOT NULL,
    local_day date NOT NULL,
    party_size smallint NOT NULL,
    "position" bigint NOT NULL,
    state text DEFAULT 'waiting'::text NOT NULL,
    source text DEFAULT 'traveller'::text NOT NULL,
    offered_at timestamp with time zone,
    expires_at timestamp with time zone,
    booking_id uuid,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    changed_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT waitlist_entries_party_size_check CHECK (((party_size >= 1) AND (party_size <= 100))),
    CONSTRAINT waitlist_entries_source_check CHECK ((source = ANY (ARRAY['traveller'::text, 'lottery'::text]))),
    CONSTRAINT waitlist_entries_state_check CHECK ((state = ANY (ARRAY['waiting'::text, 'offer'::text, 'booked'::text, 'expired'::text, 'left'::text]))),
    CONSTRAINT waitlist_offer_expires_ck CHECK (((state <> 'offer'::text) OR (expires_at IS NOT NULL)))
);

CREATE FUNCTION public.onecode_waitlist_json(p_entry public.waitlist_entries, p_now timestamp with time zone) RETURNS jsonb
    LANGUAGE sql STABLE
    AS $$
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

CREATE FUNCTION public.onecode_walkin_hold(p_capacity integer, p_quota_pct integer, p_walkin_booked integer, p_starts_at timestamp with time zone, p_release_min integer, p_now timestamp with time zone) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
    SELECT CASE
        WHEN p_starts_at - p_now <= make_interval(mins => p_release_min) THEN 0
        ELSE greatest((p_capacity * p_quota_pct) / 100 - p_walkin_booked, 0)
    END;
$$;

CREATE FUNCTION public.webhooks_region_path(p_code text) RETURNS text[]
    LANGUAGE sql STABLE
    AS $$
    WITH RECURSIVE up AS (
        SELECT r.code, r.parent_code, 0 AS depth FROM regions r WHERE r.code = p_code
        UNION ALL
        SELECT r.code, r.parent_code, u.depth + 1
          FROM regions r JOIN up u ON r.code = u.parent_code
         WHERE u.depth < 32
    )
    SELECT array_agg(up.code) FROM up
$$;

CREATE TABLE public.allocation_jobs (
    id bigint NOT NULL,
    kind text NOT NULL,
    slot_id uuid,
    lottery_id uuid,
    run_at timestamp with time zone DEFAULT now() NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    last_error text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT allocation_jobs_kind_check CHECK ((kind = ANY (ARRAY['offer'::text, 'draw'::text]))),
    CONSTRAINT allocation_jobs_target_ck CHECK ((((kind = 'offer'::text) AND (slot_id IS NOT NULL)) OR ((kind = 'draw'::text) AND (lottery_id IS NOT NULL))))
);

CREATE SEQUENCE public.allocation_jobs_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.allocation_jobs_id_seq OWNED BY public.allocation_jobs.id;

CREATE TABLE public.api_tokens (
    token_hash bytea NOT NULL,
    kind text NOT NULL,
    principal_id uuid NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    revoked_at timestamp with time zone,
    CONSTRAINT api_tokens_kind_check CHECK ((kind = ANY (ARRAY['admin'::text, 'operator'::text, 'gate'::text, 'planner'::text, 'traveller'::text]))),
    CONSTRAINT api_tokens_token_hash_check CHECK ((length(token_hash) = 32))
);

CREATE TABLE public.audit_log (
    id uuid NOT NULL,
    created_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    actor_kind text NOT NULL,
    actor_id uuid NOT NULL,
    action text NOT NULL,
    object_kind text NOT NULL,
    object_id text NOT NULL,
    venue_id uuid,
    region_code text,
    before jsonb,
    after jsonb,
    request_id text,
    CONSTRAINT audit_log_action_check CHECK ((action ~ '^[a-z_]+\.[a-z_]+$'::text)),
    CONSTRAINT audit_log_actor_kind_check CHECK ((actor_kind = ANY (ARRAY['admin'::text, 'operator'::text, 'cli'::text]))),
    CONSTRAINT audit_log_request_id_check CHECK (((request_id IS NULL) OR (length(request_id) <= 200)))
);

CREATE TABLE public.checkins (
    traveller_id uuid NOT NULL,
    venue_id uuid NOT NULL,
    local_day date NOT NULL,
    id uuid NOT NULL,
    checked_in_at timestamp with time zone DEFAULT now() NOT NULL,
    seq bigint NOT NULL,
    ingest_xid xid8 DEFAULT pg_current_xact_id() NOT NULL
);

CREATE SEQUENCE public.checkins_seq_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.checkins_seq_seq OWNED BY public.checkins.seq;

CREATE TABLE public.complaints (
    traveller_id uuid NOT NULL,
    id uuid NOT NULL,
    venue_id uuid NOT NULL,
    category text NOT NULL,
    text text NOT NULL,
    status text DEFAULT 'open'::text NOT NULL,
    answer text,
    answered_at timestamp with time zone,
    answer_rating smallint,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    answered_by uuid,
    answer_updated_at timestamp with time zone,
    rated_at timestamp with time zone,
    CONSTRAINT complaints_answer_len_ck CHECK (((answer IS NULL) OR ((length(answer) >= 1) AND (length(answer) <= 4000)))),
    CONSTRAINT complaints_answer_rating_check CHECK (((answer_rating >= 1) AND (answer_rating <= 5))),
    CONSTRAINT complaints_answered_ck CHECK (((status <> 'answered'::text) OR (answered_at IS NOT NULL))),
    CONSTRAINT complaints_category_ck CHECK (((length(category) >= 1) AND (length(category) <= 50))),
    CONSTRAINT complaints_status_check CHECK ((status = ANY (ARRAY['open'::text, 'answered'::text, 'closed'::text]))),
    CONSTRAINT complaints_text_len_ck CHECK (((length(text) >= 1) AND (length(text) <= 4000)))
);

CREATE TABLE public.credential_ids (
    cred_id bytea NOT NULL,
    traveller_id uuid NOT NULL,
    CONSTRAINT credential_ids_cred_id_check CHECK ((length(cred_id) = 16))
);

CREATE TABLE public.credentials (
    cred_id bytea NOT NULL,
    traveller_id uuid NOT NULL,
    generation integer DEFAULT 1 NOT NULL,
    suffix_secret bytea NOT NULL,
    issued_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    revoked_all boolean DEFAULT false NOT NULL,
    changed_at timestamp with time zone DEFAULT now() NOT NULL,
    kind text DEFAULT 'phone'::text NOT NULL,
    booking_id uuid,
    CONSTRAINT credentials_cred_id_check CHECK ((length(cred_id) = 16)),
    CONSTRAINT credentials_generation_check CHECK ((generation >= 1)),
    CONSTRAINT credentials_kind_check CHECK ((kind = ANY (ARRAY['phone'::text, 'paper'::text]))),
    CONSTRAINT credentials_paper_booking_ck CHECK (((kind = 'paper'::text) = (booking_id IS NOT NULL))),
    CONSTRAINT credentials_suffix_secret_check CHECK ((length(suffix_secret) = 32))
);

CREATE TABLE public.events (
    id uuid NOT NULL,
    type text NOT NULL,
    region_code text,
    venue_id uuid,
    payload jsonb NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    fanned_out_at timestamp with time zone,
    CONSTRAINT events_payload_check CHECK ((jsonb_typeof(payload) = 'object'::text)),
    CONSTRAINT events_type_check CHECK ((type ~ '^[a-z][a-z_]*\.[a-z][a-z_]*$'::text))
);

CREATE TABLE public.flow_dwell (
    traveller_id uuid NOT NULL,
    venue_id uuid NOT NULL,
    local_day date NOT NULL,
    entry_at timestamp with time zone NOT NULL,
    minutes integer NOT NULL,
    CONSTRAINT flow_dwell_minutes_check CHECK ((minutes >= 0))
);

CREATE TABLE public.flow_occupancy_hours (
    venue_id uuid NOT NULL,
    local_hour timestamp without time zone NOT NULL,
    people_in bigint DEFAULT 0 NOT NULL,
    people_out bigint DEFAULT 0 NOT NULL
);

CREATE TABLE public.flow_release_days (
    local_day date NOT NULL,
    released_at timestamp with time zone DEFAULT now() NOT NULL,
    epsilon double precision NOT NULL,
    params jsonb NOT NULL,
    CONSTRAINT flow_release_days_epsilon_check CHECK ((epsilon > (0)::double precision))
);

CREATE TABLE public.flow_releases (
    venue_id uuid NOT NULL,
    local_day date NOT NULL,
    indicator text NOT NULL,
    bucket text NOT NULL,
    value integer NOT NULL
);

CREATE TABLE public.flow_trips (
    traveller_id uuid NOT NULL,
    local_day date NOT NULL,
    from_venue uuid NOT NULL,
    to_venue uuid NOT NULL,
    trips integer NOT NULL,
    CONSTRAINT flow_trips_trips_check CHECK ((trips > 0))
);

CREATE TABLE public.flow_visit_hours (
    venue_id uuid NOT NULL,
    local_hour timestamp without time zone NOT NULL,
    traveller_id uuid NOT NULL,
    entries integer NOT NULL,
    origin text,
    CONSTRAINT flow_visit_hours_entries_check CHECK ((entries > 0))
);

CREATE TABLE public.flow_watermark (
    id boolean DEFAULT true NOT NULL,
    horizon xid8 DEFAULT '0'::xid8 NOT NULL,
    rows_consumed bigint DEFAULT 0 NOT NULL,
    advances bigint DEFAULT 0 NOT NULL,
    advanced_at timestamp with time zone,
    CONSTRAINT flow_watermark_id_check CHECK (id)
);

CREATE TABLE public.gate_heartbeats (
    gate_id uuid NOT NULL,
    last_seen_at timestamp with time zone NOT NULL,
    offline_since timestamp with time zone
);

CREATE TABLE public.gate_scan_ids (
    gate_id uuid NOT NULL,
    scan_id uuid NOT NULL,
    traveller_id uuid NOT NULL,
    claimed_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE public.gates (
    id uuid NOT NULL,
    venue_id uuid NOT NULL,
    name text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    revoked_at timestamp with time zone,
    CONSTRAINT gates_name_check CHECK (((length(name) >= 1) AND (length(name) <= 200)))
);

CREATE TABLE public.idempotency_keys (
    traveller_id uuid NOT NULL,
    key text NOT NULL,
    request_hash bytea NOT NULL,
    status_code smallint,
    response bytea,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    outcome text,
    CONSTRAINT idempotency_keys_key_check CHECK (((length(key) >= 1) AND (length(key) <= 200))),
    CONSTRAINT idempotency_keys_outcome_check CHECK ((outcome ~ '^[a-z][a-z_]{0,39}$'::text))
);

CREATE TABLE public.lotteries (
    id uuid NOT NULL,
    venue_id uuid NOT NULL,
    local_day date NOT NULL,
    closes_at timestamp with time zone NOT NULL,
    state text DEFAULT 'open'::text NOT NULL,
    seed bytea NOT NULL,
    seed_sha256 bytea NOT NULL,
    applications integer DEFAULT 0 NOT NULL,
    winners integer DEFAULT 0 NOT NULL,
    drawn_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT lotteries_seed_check CHECK ((length(seed) = 32)),
    CONSTRAINT lotteries_seed_sha256_check CHECK ((length(seed_sha256) = 32)),
    CONSTRAINT lotteries_state_check CHECK ((state = ANY (ARRAY['open'::text, 'drawn'::text])))
);

CREATE TABLE public.operator_venues (
    operator_id uuid NOT NULL,
    venue_id uuid NOT NULL
);

CREATE TABLE public.operators (
    id uuid NOT NULL,
    name text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    revoked_at timestamp with time zone,
    CONSTRAINT operators_name_check CHECK (((length(name) >= 1) AND (length(name) <= 200)))
);

CREATE TABLE public.place_code_keys (
    kid smallint NOT NULL,
    secret bytea NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT place_code_keys_kid_check CHECK (((kid >= 1) AND (kid <= 255))),
    CONSTRAINT place_code_keys_secret_check CHECK ((length(secret) = 32))
);

CREATE TABLE public.planner_regions (
    planner_id uuid NOT NULL,
    region_code text NOT NULL
);

CREATE TABLE public.planners (
    id uuid NOT NULL,
    name text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    revoked_at timestamp with time zone,
    CONSTRAINT planners_name_check CHECK (((length(name) >= 1) AND (length(name) <= 200)))
);

CREATE TABLE public.presence (
    traveller_id uuid NOT NULL,
    venue_id uuid NOT NULL,
    local_day date NOT NULL,
    entries integer DEFAULT 0 NOT NULL,
    inside boolean DEFAULT false NOT NULL,
    party_size smallint DEFAULT 0 NOT NULL,
    last_entry_at timestamp with time zone,
    last_exit_at timestamp with time zone
);

CREATE TABLE public.regions (
    code text NOT NULL,
    name text NOT NULL,
    parent_code text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    changed_at timestamp with time zone DEFAULT now() NOT NULL,
    default_locale text DEFAULT 'zh-CN'::text NOT NULL,
    CONSTRAINT regions_code_check CHECK ((code ~ '^[A-Z0-9][A-Z0-9-]{0,31}$'::text)),
    CONSTRAINT regions_default_locale_check CHECK ((default_locale = ANY (ARRAY['zh-CN'::text, 'en'::text]))),
    CONSTRAINT regions_name_check CHECK (((length(name) >= 1) AND (length(name) <= 200)))
);

CREATE TABLE public.reviews (
    traveller_id uuid NOT NULL,
    id uuid NOT NULL,
    venue_id uuid NOT NULL,
    visit_day date NOT NULL,
    rating smallint NOT NULL,
    text text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT reviews_rating_check CHECK (((rating >= 1) AND (rating <= 5))),
    CONSTRAINT reviews_text_len_ck CHECK (((length(text) >= 1) AND (length(text) <= 2000)))
);

CREATE TABLE public.scans (
    gate_id uuid NOT NULL,
    scan_id uuid NOT NULL,
    venue_id uuid NOT NULL,
    traveller_id uuid DEFAULT '00000000-0000-0000-0000-000000000000'::uuid NOT NULL,
    booking_id uuid,
    direction text NOT NULL,
    decision text NOT NULL,
    reason text NOT NULL,
    party_size smallint DEFAULT 0 NOT NULL,
    device_time timestamp with time zone NOT NULL,
    server_time timestamp with time zone DEFAULT now() NOT NULL,
    offline boolean DEFAULT false NOT NULL,
    conflict boolean DEFAULT false NOT NULL,
    seq bigint NOT NULL,
    ingest_xid xid8 DEFAULT pg_current_xact_id() NOT NULL,
    flag text,
    CONSTRAINT scans_decision_check CHECK ((decision = ANY (ARRAY['accept'::text, 'reject'::text]))),
    CONSTRAINT scans_direction_check CHECK ((direction = ANY (ARRAY['in'::text, 'out'::text]))),
    CONSTRAINT scans_flag_check CHECK ((flag = ANY (ARRAY['stale_code'::text, 'refused_upload'::text])))
);

CREATE SEQUENCE public.scans_seq_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE public.scans_seq_seq OWNED BY public.scans.seq;

CREATE TABLE public.schema_functions (
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE public.schema_migrations (
    version integer NOT NULL,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE public.slots (
    id uuid NOT NULL,
    venue_id uuid NOT NULL,
    starts_at timestamp with time zone NOT NULL,
    ends_at timestamp with time zone NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    cancelled_at timestamp with time zone,
    cancel_reason text,
    CONSTRAINT slots_cancel_reason_ck CHECK (((cancel_reason IS NULL) OR ((length(cancel_reason) >= 1) AND (length(cancel_reason) <= 500)))),
    CONSTRAINT slots_cancelled_ck CHECK (((cancelled_at IS NULL) = (cancel_reason IS NULL))),
    CONSTRAINT slots_window_ck CHECK ((ends_at > starts_at))
);

CREATE TABLE public.traveller_notifications (
    traveller_id uuid NOT NULL,
    id uuid NOT NULL,
    event_id uuid NOT NULL,
    type text NOT NULL,
    payload jsonb NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE public.travellers (
    id uuid NOT NULL,
    display_name text,
    home_region text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    erased_at timestamp with time zone,
    CONSTRAINT travellers_display_name_check CHECK (((length(display_name) >= 1) AND (length(display_name) <= 100))),
    CONSTRAINT travellers_home_region_check CHECK ((home_region ~ '^[A-Z]{2}(-[A-Z0-9]{1,3})?$'::text))
);

CREATE TABLE public.venue_alert_levels (
    venue_id uuid NOT NULL,
    kind text NOT NULL,
    level text NOT NULL,
    local_day date NOT NULL,
    load_pct numeric(6,2) NOT NULL,
    changed_at timestamp with time zone NOT NULL,
    CONSTRAINT venue_alert_levels_kind_check CHECK ((kind = ANY (ARRAY['instant'::text, 'daily'::text]))),
    CONSTRAINT venue_alert_levels_level_check CHECK ((level = ANY (ARRAY['green'::text, 'yellow'::text, 'orange'::text, 'red'::text])))
);

CREATE TABLE public.venue_counters (
    venue_id uuid NOT NULL,
    local_day date NOT NULL,
    stripe smallint NOT NULL,
    ins bigint DEFAULT 0 NOT NULL,
    outs bigint DEFAULT 0 NOT NULL,
    CONSTRAINT venue_counters_stripe_check CHECK (((stripe >= 0) AND (stripe <= 15)))
);

CREATE TABLE public.venue_forecast_alerts (
    venue_id uuid NOT NULL,
    local_day date NOT NULL,
    level text NOT NULL,
    booked integer NOT NULL,
    announced_at timestamp with time zone NOT NULL,
    CONSTRAINT venue_forecast_alerts_level_check CHECK ((level = ANY (ARRAY['yellow'::text, 'orange'::text, 'red'::text])))
);

CREATE TABLE public.venues (
    id uuid NOT NULL,
    region_code text NOT NULL,
    name text NOT NULL,
    kind text NOT NULL,
    gated boolean NOT NULL,
    requires_booking boolean NOT NULL,
    entry_rule text NOT NULL,
    capacity_instant integer NOT NULL,
    capacity_daily integer NOT NULL,
    occupancy_cap_pct smallint,
    timezone text DEFAULT 'Asia/Shanghai'::text NOT NULL,
    lat double precision,
    lon double precision,
    max_party_size smallint DEFAULT 10 NOT NULL,
    bookings_per_day smallint DEFAULT 1 NOT NULL,
    booking_window_days smallint DEFAULT 14 NOT NULL,
    early_grace_min smallint DEFAULT 30 NOT NULL,
    late_grace_min smallint DEFAULT 30 NOT NULL,
    place_code text NOT NULL,
    rating_sum bigint DEFAULT 0 NOT NULL,
    rating_count bigint DEFAULT 0 NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    place_code_version integer DEFAULT 0 NOT NULL,
    place_code_rotated_at timestamp with time zone,
    active boolean DEFAULT true NOT NULL,
    deactivated_at timestamp with time zone,
    changed_at timestamp with time zone DEFAULT now() NOT NULL,
    walkin_quota_pct smallint DEFAULT 0 NOT NULL,
    walkin_release_min smallint DEFAULT 60 NOT NULL,
    offer_expiry_min smallint DEFAULT 15 NOT NULL,
    live_code_required boolean,
    CONSTRAINT venues_active_ck CHECK ((active = (deactivated_at IS NULL))),
    CONSTRAINT venues_booking_window_days_check CHECK (((booking_window_days >= 0) AND (booking_window_days <= 366))),
    CONSTRAINT venues_bookings_per_day_check CHECK (((bookings_per_day >= 1) AND (bookings_per_day <= 100))),
    CONSTRAINT venues_capacity_daily_check CHECK ((capacity_daily > 0)),
    CONSTRAINT venues_capacity_instant_check CHECK ((capacity_instant > 0)),
    CONSTRAINT venues_early_grace_min_check CHECK (((early_grace_min >= 0) AND (early_grace_min <= 720))),
    CONSTRAINT venues_entry_rule_check CHECK ((entry_rule ~ '^(single|reentry|daily:[1-9][0-9]{0,2})$'::text)),
    CONSTRAINT venues_lat_check CHECK (((lat >= ('-90'::integer)::double precision) AND (lat <= (90)::double precision))),
    CONSTRAINT venues_late_grace_min_check CHECK (((late_grace_min >= 0) AND (late_grace_min <= 720))),
    CONSTRAINT venues_lon_check CHECK (((lon >= ('-180'::integer)::double precision) AND (lon <= (180)::double precision))),
    CONSTRAINT venues_max_party_size_check CHECK (((max_party_size >= 1) AND (max_party_size <= 100))),
    CONSTRAINT venues_name_check CHECK (((length(name) >= 1) AND (length(name) <= 200))),
    CONSTRAINT venues_occupancy_cap_pct_check CHECK (((occupancy_cap_pct >= 1) AND (occupancy_cap_pct <= 100))),
    CONSTRAINT venues_offer_expiry_min_check CHECK (((offer_expiry_min >= 1) AND (offer_expiry_min <= 1440))),
    CONSTRAINT venues_place_code_version_check CHECK ((place_code_version >= 0)),
    CONSTRAINT venues_walkin_quota_pct_check CHECK (((walkin_quota_pct >= 0) AND (walkin_quota_pct <= 100))),
    CONSTRAINT venues_walkin_release_min_check CHECK (((walkin_release_min >= 0) AND (walkin_release_min <= 1440)))
);

CREATE SEQUENCE public.waitlist_position_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

CREATE TABLE public.webhook_attempts (
    delivery_id uuid NOT NULL,
    n integer NOT NULL,
    started_at timestamp with time zone NOT NULL,
    duration_ms integer NOT NULL,
    status smallint,
    outcome text NOT NULL,
    error text,
    CONSTRAINT webhook_attempts_outcome_check CHECK ((outcome = ANY (ARRAY['delivered'::text, 'http_error'::text, 'timeout'::text, 'network'::text, 'refused'::text])))
);

CREATE TABLE public.webhook_deliveries (
    id uuid NOT NULL,
    message_id uuid NOT NULL,
    subscription_id uuid NOT NULL,
    event_id uuid,
    event_type text NOT NULL,
    body text NOT NULL,
    state text DEFAULT 'pending'::text NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    next_attempt_at timestamp with time zone DEFAULT now() NOT NULL,
    claim uuid,
    retry_until timestamp with time zone NOT NULL,
    last_status smallint,
    last_error text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    delivered_at timestamp with time zone,
    CONSTRAINT webhook_deliveries_state_check CHECK ((state = ANY (ARRAY['pending'::text, 'delivered'::text, 'dead'::text])))
);

CREATE TABLE public.webhook_hosts (
    host text NOT NULL,
    note text,
    added_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT webhook_hosts_host_check CHECK ((host ~ '^(\*\.)?[a-z0-9._:\[\]-]{1,253}$'::text)),
    CONSTRAINT webhook_hosts_note_check CHECK ((length(note) <= 200))
);

CREATE TABLE public.webhook_subscriptions (
    id uuid NOT NULL,
    owner_kind text NOT NULL,
    owner_id uuid NOT NULL,
    url text NOT NULL,
    events text[] NOT NULL,
    venue_ids uuid[],
    region_codes text[],
    description text,
    enabled boolean DEFAULT true NOT NULL,
    secret_box bytea NOT NULL,
    previous_secret_box bytea,
    previous_secret_until timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT webhook_subscriptions_description_check CHECK ((length(description) <= 200)),
    CONSTRAINT webhook_subscriptions_events_check CHECK (((cardinality(events) >= 1) AND (cardinality(events) <= 50))),
    CONSTRAINT webhook_subscriptions_owner_kind_check CHECK ((owner_kind = ANY (ARRAY['admin'::text, 'operator'::text, 'planner'::text]))),
    CONSTRAINT webhook_subscriptions_url_check CHECK (((length(url) >= 1) AND (length(url) <= 2000)))
);

ALTER TABLE ONLY public.allocation_jobs ALTER COLUMN id SET DEFAULT nextval('public.allocation_jobs_id_seq'::regclass);

ALTER TABLE ONLY public.checkins ALTER COLUMN seq SET DEFAULT nextval('public.checkins_seq_seq'::regclass);

ALTER TABLE ONLY public.scans ALTER COLUMN seq SET DEFAULT nextval('public.scans_seq_seq'::regclass);

ALTER TABLE ONLY public.allocation_jobs
    ADD CONSTRAINT allocation_jobs_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.api_tokens
    ADD CONSTRAINT api_tokens_pkey PRIMARY KEY (token_hash);

ALTER TABLE ONLY public.audit_log
    ADD CONSTRAINT audit_log_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.bookings
    ADD CONSTRAINT bookings_pkey PRIMARY KEY (traveller_id, id);

ALTER TABLE ONLY public.checkins
    ADD CONSTRAINT checkins_pkey PRIMARY KEY (traveller_id, venue_id, local_day);

ALTER TABLE ONLY public.complaints
    ADD CONSTRAINT complaints_pkey PRIMARY KEY (traveller_id, id);

ALTER TABLE ONLY public.credential_ids
    ADD CONSTRAINT credential_ids_pkey PRIMARY KEY (cred_id);

ALTER TABLE ONLY public.credentials
    ADD CONSTRAINT credentials_pkey PRIMARY KEY (traveller_id, cred_id);

ALTER TABLE ONLY public.events
    ADD CONSTRAINT events_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.flow_dwell
    ADD CONSTRAINT flow_dwell_pkey PRIMARY KEY (traveller_id, venue_id, local_day, entry_at);

ALTER TABLE ONLY public.flow_occupancy_hours
    ADD CONSTRAINT flow_occupancy_hours_pkey PRIMARY KEY (venue_id, local_hour);

ALTER TABLE ONLY public.flow_release_days
    ADD CONSTRAINT flow_release_days_pkey PRIMARY KEY (local_day);

ALTER TABLE ONLY public.flow_releases
    ADD CONSTRAINT flow_releases_pkey PRIMARY KEY (venue_id, local_day, indicator, bucket);

ALTER TABLE ONLY public.flow_trips
    ADD CONSTRAINT flow_trips_pkey PRIMARY KEY (traveller_id, local_day, from_venue, to_venue);

ALTER TABLE ONLY public.flow_visit_hours
    ADD CONSTRAINT flow_visit_hours_pkey PRIMARY KEY (venue_id, local_hour, traveller_id);

ALTER TABLE ONLY public.flow_watermark
    ADD CONSTRAINT flow_watermark_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.gate_heartbeats
    ADD CONSTRAINT gate_heartbeats_pkey PRIMARY KEY (gate_id);

ALTER TABLE ONLY public.gate_scan_ids
    ADD CONSTRAINT gate_scan_ids_pkey PRIMARY KEY (gate_id, scan_id);

ALTER TABLE ONLY public.gates
    ADD CONSTRAINT gates_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.idempotency_keys
    ADD CONSTRAINT idempotency_keys_pkey PRIMARY KEY (traveller_id, key);

ALTER TABLE ONLY public.lotteries
    ADD CONSTRAINT lotteries_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.lotteries
    ADD CONSTRAINT lotteries_venue_day_uq UNIQUE (venue_id, local_day);

ALTER TABLE ONLY public.lottery_applications
    ADD CONSTRAINT lottery_applications_one_uq UNIQUE (traveller_id, lottery_id);

ALTER TABLE ONLY public.lottery_applications
    ADD CONSTRAINT lottery_applications_pkey PRIMARY KEY (traveller_id, id);

ALTER TABLE ONLY public.operator_venues
    ADD CONSTRAINT operator_venues_pkey PRIMARY KEY (operator_id, venue_id);

ALTER TABLE ONLY public.operators
    ADD CONSTRAINT operators_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.place_code_keys
    ADD CONSTRAINT place_code_keys_pkey PRIMARY KEY (kid);

ALTER TABLE ONLY public.planner_regions
    ADD CONSTRAINT planner_regions_pkey PRIMARY KEY (planner_id, region_code);

ALTER TABLE ONLY public.planners
    ADD CONSTRAINT planners_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.presence
    ADD CONSTRAINT presence_pkey PRIMARY KEY (traveller_id, venue_id, local_day);

ALTER TABLE ONLY public.regions
    ADD CONSTRAINT regions_pkey PRIMARY KEY (code);

ALTER TABLE ONLY public.reviews
    ADD CONSTRAINT reviews_one_per_visit_uq UNIQUE (traveller_id, venue_id, visit_day);

ALTER TABLE ONLY public.reviews
    ADD CONSTRAINT reviews_pkey PRIMARY KEY (traveller_id, id);

ALTER TABLE ONLY public.scans
    ADD CONSTRAINT scans_pkey PRIMARY KEY (traveller_id, gate_id, scan_id);

ALTER TABLE public.scans
    ADD CONSTRAINT scans_reason_ck CHECK ((reason = ANY (ARRAY['ok'::text, 'not_inside'::text, 'invalid_code'::text, 'unknown_key'::text, 'expired_code'::text, 'not_yet_valid'::text, 'revoked_code'::text, 'screenshot_code'::text, 'static_code'::text, 'no_booking'::text, 'wrong_venue'::text, 'too_early'::text, 'too_late'::text, 'already_used'::text, 'already_inside'::text, 'venue_full'::text, 'no_pack'::text, 'agent_interrupted'::text, 'bad_time'::text, 'party_too_large'::text, 'venue_inactive'::text]))) NOT VALID;

ALTER TABLE ONLY public.schema_functions
    ADD CONSTRAINT schema_functions_pkey PRIMARY KEY (name);

ALTER TABLE ONLY public.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);

ALTER TABLE ONLY public.slot_counters
    ADD CONSTRAINT slot_counters_pkey PRIMARY KEY (venue_id, slot_id);

ALTER TABLE ONLY public.slots
    ADD CONSTRAINT slots_id_venue_uq UNIQUE (id, venue_id);

ALTER TABLE ONLY public.slots
    ADD CONSTRAINT slots_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.slots
    ADD CONSTRAINT slots_venue_window_uq UNIQUE (venue_id, starts_at, ends_at);

ALTER TABLE ONLY public.traveller_notifications
    ADD CONSTRAINT traveller_notifications_pkey PRIMARY KEY (traveller_id, id);

ALTER TABLE ONLY public.travellers
    ADD CONSTRAINT travellers_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.venue_alert_levels
    ADD CONSTRAINT venue_alert_levels_pkey PRIMARY KEY (venue_id, kind);

ALTER TABLE ONLY public.venue_counters
    ADD CONSTRAINT venue_counters_pkey PRIMARY KEY (venue_id, local_day, stripe);

ALTER TABLE ONLY public.venue_forecast_alerts
    ADD CONSTRAINT venue_forecast_alerts_pkey PRIMARY KEY (venue_id, local_day, level);

ALTER TABLE ONLY public.venues
    ADD CONSTRAINT venues_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.venues
    ADD CONSTRAINT venues_place_code_key UNIQUE (place_code);

ALTER TABLE ONLY public.waitlist_entries
    ADD CONSTRAINT waitlist_entries_pkey PRIMARY KEY (traveller_id, id);

ALTER TABLE ONLY public.webhook_attempts
    ADD CONSTRAINT webhook_attempts_pkey PRIMARY KEY (delivery_id, n);

ALTER TABLE ONLY public.webhook_deliveries
    ADD CONSTRAINT webhook_deliveries_event_uq UNIQUE (subscription_id, event_id);

ALTER TABLE ONLY public.webhook_deliveries
    ADD CONSTRAINT webhook_deliveries_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.webhook_hosts
    ADD CONSTRAINT webhook_hosts_pkey PRIMARY KEY (host);

ALTER TABLE ONLY public.webhook_subscriptions
    ADD CONSTRAINT webhook_subscriptions_pkey PRIMARY KEY (id);

CREATE INDEX allocation_jobs_run_idx ON public.allocation_jobs USING btree (run_at);

CREATE INDEX allocation_jobs_slot_idx ON public.allocation_jobs USING btree (slot_id) WHERE (kind = 'offer'::text);

CREATE INDEX api_tokens_principal_idx ON public.api_tokens USING btree (principal_id);

CREATE INDEX audit_log_created_idx ON public.audit_log USING btree (created_at DESC, id DESC);

CREATE INDEX audit_log_object_idx ON public.audit_log USING btree (object_kind, object_id);

CREATE INDEX audit_log_venue_created_idx ON public.audit_log USING btree (venue_id, created_at DESC, id DESC) WHERE (venue_id IS NOT NULL);

CREATE INDEX bookings_open_ends_idx ON public.bookings USING btree (ends_at) WHERE (status = 'booked'::text);

CREATE INDEX bookings_open_starts_idx ON public.bookings USING btree (starts_at) WHERE (status = 'booked'::text);

CREATE INDEX bookings_slot_idx ON public.bookings USING btree (slot_id);

CREATE INDEX bookings_traveller_created_idx ON public.bookings USING btree (traveller_id, created_at DESC, id DESC);

CREATE INDEX bookings_traveller_venue_day_idx ON public.bookings USING btree (traveller_id, venue_id, local_day);

CREATE INDEX bookings_venue_day_idx ON public.bookings USING btree (venue_id, local_day);

CREATE INDEX checkins_ingest_xid_idx ON public.checkins USING btree (ingest_xid);

CREATE INDEX checkins_venue_time_idx ON public.checkins USING btree (venue_id, checked_in_at);

CREATE INDEX complaints_id_idx ON public.complaints USING btree (id);

CREATE INDEX complaints_traveller_created_idx ON public.complaints USING btree (traveller_id, created_at DESC, id DESC);

CREATE INDEX complaints_venue_created_idx ON public.complaints USING btree (venue_id, created_at DESC);

CREATE INDEX complaints_venue_page_idx ON public.complaints USING btree (venue_id, created_at DESC, id DESC);

CREATE INDEX credentials_changed_idx ON public.credentials USING btree (changed_at);

CREATE UNIQUE INDEX credentials_traveller_idx ON public.credentials USING btree (traveller_id) WHERE ((kind = 'phone'::text) AND (NOT revoked_all));

CREATE INDEX events_created_idx ON public.events USING btree (created_at, id);

CREATE INDEX events_fanout_idx ON public.events USING btree (created_at) WHERE (fanned_out_at IS NULL);

CREATE INDEX flow_dwell_venue_day_idx ON public.flow_dwell USING btree (venue_id, local_day);

CREATE INDEX flow_trips_day_idx ON public.flow_trips USING btree (local_day, from_venue, to_venue);

CREATE INDEX gate_scan_ids_claimed_brin ON public.gate_scan_ids USING brin (claimed_at);

CREATE INDEX gates_created_idx ON public.gates USING btree (created_at DESC, id DESC);

CREATE INDEX gates_venue_idx ON public.gates USING btree (venue_id);

CREATE INDEX idempotency_keys_created_idx ON public.idempotency_keys USING btree (created_at);

CREATE INDEX lottery_applications_lottery_idx ON public.lottery_applications USING btree (lottery_id);

CREATE INDEX operator_venues_venue_idx ON public.operator_venues USING btree (venue_id);

CREATE INDEX planner_regions_region_idx ON public.planner_regions USING btree (region_code);

CREATE INDEX regions_parent_idx ON public.regions USING btree (parent_code);

CREATE INDEX reviews_venue_created_idx ON public.reviews USING btree (venue_id, created_at DESC, id DESC);

CREATE INDEX scans_ingest_xid_idx ON public.scans USING btree (ingest_xid);

CREATE INDEX scans_venue_flag_idx ON public.scans USING btree (venue_id, device_time) WHERE ((flag IS NOT NULL) OR conflict);

CREATE INDEX scans_venue_time_idx ON public.scans USING btree (venue_id, device_time);

CREATE INDEX traveller_notifications_page_idx ON public.traveller_notifications USING btree (traveller_id, created_at DESC, id DESC);

CREATE INDEX venues_created_idx ON public.venues USING btree (created_at DESC, id DESC);

CREATE INDEX venues_region_idx ON public.venues USING btree (region_code);

CREATE UNIQUE INDEX waitlist_live_uq ON public.waitlist_entries USING btree (traveller_id, slot_id) WHERE (state = ANY (ARRAY['waiting'::text, 'offer'::text]));

CREATE INDEX waitlist_slot_offers_idx ON public.waitlist_entries USING btree (slot_id, expires_at) WHERE (state = 'offer'::text);

CREATE INDEX waitlist_slot_queue_idx ON public.waitlist_entries USING btree (slot_id, "position") WHERE (state = ANY (ARRAY['waiting'::text, 'offer'::text]));

CREATE INDEX waitlist_traveller_created_idx ON public.waitlist_entries USING btree (traveller_id, created_at DESC);

CREATE INDEX webhook_deliveries_due_idx ON public.webhook_deliveries USING btree (next_attempt_at) WHERE (state = 'pending'::text);

CREATE INDEX webhook_deliveries_log_idx ON public.webhook_deliveries USING btree (subscription_id, created_at DESC, id DESC);

CREATE INDEX webhook_subscriptions_created_idx ON public.webhook_subscriptions USING btree (created_at DESC, id DESC);

CREATE INDEX webhook_subscriptions_owner_idx ON public.webhook_subscriptions USING btree (owner_id, created_at DESC, id DESC);

ALTER TABLE ONLY public.bookings
    ADD CONSTRAINT bookings_slot_id_fkey FOREIGN KEY (slot_id) REFERENCES public.slots(id);

ALTER TABLE ONLY public.bookings
    ADD CONSTRAINT bookings_traveller_id_fkey FOREIGN KEY (traveller_id) REFERENCES public.travellers(id);

ALTER TABLE ONLY public.bookings
    ADD CONSTRAINT bookings_venue_id_fkey FOREIGN KEY (venue_id) REFERENCES public.venues(id);

ALTER TABLE ONLY public.checkins
    ADD CONSTRAINT checkins_venue_id_fkey FOREIGN KEY (venue_id) REFERENCES public.venues(id);

ALTER TABLE ONLY public.complaints
    ADD CONSTRAINT complaints_venue_id_fkey FOREIGN KEY (venue_id) REFERENCES public.venues(id);

ALTER TABLE ONLY public.credentials
    ADD CONSTRAINT credentials_traveller_id_fkey FOREIGN KEY (traveller_id) REFERENCES public.travellers(id);

ALTER TABLE ONLY public.gate_heartbeats
    ADD CONSTRAINT gate_heartbeats_gate_id_fkey FOREIGN KEY (gate_id) REFERENCES public.gates(id);

ALTER TABLE ONLY public.gates
    ADD CONSTRAINT gates_venue_id_fkey FOREIGN KEY (venue_id) REFERENCES public.venues(id);

ALTER TABLE ONLY public.lotteries
    ADD CONSTRAINT lotteries_venue_id_fkey FOREIGN KEY (venue_id) REFERENCES public.venues(id);

ALTER TABLE ONLY public.lottery_applications
    ADD CONSTRAINT lottery_applications_lottery_id_fkey FOREIGN KEY (lottery_id) REFERENCES public.lotteries(id);

ALTER TABLE ONLY public.lottery_applications
    ADD CONSTRAINT lottery_applications_slot_id_fkey FOREIGN KEY (slot_id) REFERENCES public.slots(id);

ALTER TABLE ONLY public.lottery_applications
    ADD CONSTRAINT lottery_applications_traveller_id_fkey FOREIGN KEY (traveller_id) REFERENCES public.travellers(id);

ALTER TABLE ONLY public.operator_venues
    ADD CONSTRAINT operator_venues_operator_id_fkey FOREIGN KEY (operator_id) REFERENCES public.operators(id);

ALTER TABLE ONLY public.operator_venues
    ADD CONSTRAINT operator_venues_venue_id_fkey FOREIGN KEY (venue_id) REFERENCES public.venues(id);

ALTER TABLE ONLY public.planner_regions
    ADD CONSTRAINT planner_regions_planner_id_fkey FOREIGN KEY (planner_id) REFERENCES public.planners(id);

ALTER TABLE ONLY public.planner_regions
    ADD CONSTRAINT planner_regions_region_code_fkey FOREIGN KEY (region_code) REFERENCES public.regions(code);

ALTER TABLE ONLY public.regions
    ADD CONSTRAINT regions_parent_code_fkey FOREIGN KEY (parent_code) REFERENCES public.regions(code);

ALTER TABLE ONLY public.reviews
    ADD CONSTRAINT reviews_venue_id_fkey FOREIGN KEY (venue_id) REFERENCES public.venues(id);

ALTER TABLE ONLY public.slot_counters
    ADD CONSTRAINT slot_counters_slot_fkey FOREIGN KEY (slot_id, venue_id) REFERENCES public.slots(id, venue_id);

ALTER TABLE ONLY public.slot_counters
    ADD CONSTRAINT slot_counters_venue_id_fkey FOREIGN KEY (venue_id) REFERENCES public.venues(id);

ALTER TABLE ONLY public.slots
    ADD CONSTRAINT slots_venue_id_fkey FOREIGN KEY (venue_id) REFERENCES public.venues(id);

ALTER TABLE ONLY public.traveller_notifications
    ADD CONSTRAINT traveller_notifications_traveller_id_fkey FOREIGN KEY (traveller_id) REFERENCES public.travellers(id);

ALTER TABLE ONLY public.venue_alert_levels
    ADD CONSTRAINT venue_alert_levels_venue_id_fkey FOREIGN KEY (venue_id) REFERENCES public.venues(id);

ALTER TABLE ONLY public.venue_forecast_alerts
    ADD CONSTRAINT venue_forecast_alerts_venue_id_fkey FOREIGN KEY (venue_id) REFERENCES public.venues(id);

ALTER TABLE ONLY public.venues
    ADD CONSTRAINT venues_region_code_fkey FOREIGN KEY (region_code) REFERENCES public.regions(code);

ALTER TABLE ONLY public.waitlist_entries
    ADD CONSTRAINT waitlist_entries_slot_id_fkey FOREIGN KEY (slot_id) REFERENCES public.slots(id);

ALTER TABLE ONLY public.waitlist_entries
    ADD CONSTRAINT waitlist_entries_traveller_id_fkey FOREIGN KEY (traveller_id) REFERENCES public.travellers(id);

ALTER TABLE ONLY public.waitlist_entries
    ADD CONSTRAINT waitlist_entries_venue_id_fkey FOREIGN KEY (venue_id) REFERENCES public.venues(id);

ALTER TABLE ONLY public.webhook_attempts
    ADD CONSTRAINT webhook_attempts_delivery_id_fkey FOREIGN KEY (delivery_id) REFERENCES public.webhook_deliveries(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.webhook_deliveries
    ADD CONSTRAINT webhook_deliveries_subscription_id_fkey FOREIGN KEY (subscription_id) REFERENCES public.webhook_subscriptions(id) ON DELETE CASCADE;
