-- Online gate validation: one SQL function decides a scan in one round trip.
--
-- The caller (onecode/gates/service.py) has already parsed the TQ1 text and checked
-- its Ed25519 signature and validity window; it passes the outcome (p_verdict) and,
-- for an authentic code, the credential id, generation and raw screenshot suffix.
-- gate_scan then, in one statement:
--   1. claims the (gate, scan_id) in the gate_scan_ids ledger (retries and batches
--      naming the id wait for the first claim) and returns the stored answer of an
--      earlier attempt, writing nothing new;
--   2. checks the credential (revoked_code) and the anti-screenshot suffix (an HMAC
--      computed here with the built-in sha256(), so no pgcrypto is needed): a code
--      without suffix at a venue requiring a live code is static_code, unless it is a
--      paper pass (kind 'paper', valid for its own booking only); an exit of an
--      authentic pass is accepted whatever the pass's state (never blocked);
--   3. finds the booking whose slot window, widened by the venue's grace minutes,
--      contains now (too_early / too_late / wrong_venue / no_booking), or admits
--      without booking at free-entry venues;
--   4. reads the live occupancy from the venue's counters against the venue's cap;
--   5. locks the traveller's presence row of the local day (the row that serializes
--      two gates scanning one pass at once) and applies the entry rule (limit from
--      gate_entry_limit, and no entry while inside), then the cap;
--   6. records the scan (every scan, accepted or rejected, once) and bumps the venue's
--      counter of the day (the stripe of this session).

-- HMAC-SHA256 (RFC 2104) with the core sha256(): the key's inner and outer pads, then
-- the MAC of a message under those pads. The key is at most 64 bytes.
CREATE OR REPLACE FUNCTION gate_hmac_pads(p_key bytea, OUT ipad bytea, OUT opad bytea)
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
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

CREATE OR REPLACE FUNCTION gate_hmac_sha256(p_key bytea, p_msg bytea) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT sha256(p.opad || sha256(p.ipad || p_msg)) FROM gate_hmac_pads(p_key) AS p
$$;

-- The screenshot suffix: the first 4 bytes of HMAC(secret, body || u64_be(step)),
-- accepted for the current 30 s step and one step either side (the pads once).
CREATE OR REPLACE FUNCTION gate_suffix_ok(p_secret bytea, p_body text, p_suffix bytea, p_now timestamptz)
RETURNS boolean
LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE AS $$
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

-- The entry rule, parsed one way (the Python twin is onecode.gates.rules.EntryRule):
-- entries a traveller has per local day, NULL for any number. Every rule is also
-- anti-passback: no entry while inside.
CREATE OR REPLACE FUNCTION gate_entry_limit(p_rule text) RETURNS integer
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE
        WHEN p_rule = 'single' THEN 1
        WHEN p_rule = 'reentry' THEN NULL
        WHEN p_rule ~ '^daily:[1-9][0-9]{0,2}$' THEN substring(p_rule FROM 7)::integer
    END
$$;

-- The counter row of venue_counters a scan adds to: one of 16 per venue and day, chosen
-- by the database session, so that concurrent scans (different sessions) do not wait
-- for each other's commit on one row (migration 0081).
CREATE OR REPLACE FUNCTION onecode_counter_stripe() RETURNS smallint
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT (pg_backend_pid() % 16)::smallint
$$;

CREATE OR REPLACE FUNCTION gate_scan(
    p_gate_id     uuid,
    p_venue_id    uuid,
    p_scan_id     uuid,
    p_direction   text,
    p_device_time timestamptz,
    p_verdict     text,      -- 'ok' or the verification failure of the code text
    p_cred_id     bytea,     -- NULL unless the signature is good (even if expired)
    p_generation  integer,
    p_body        text,      -- the code text without suffix (for the suffix HMAC)
    p_suffix      bytea      -- the 4 raw suffix bytes, or NULL
)
RETURNS TABLE (decision text, reason text, party_size integer, booking_id uuid, replayed boolean,
               credential text)
LANGUAGE plpgsql VOLATILE AS $$
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

-- Online scans of one venue decided together in one transaction (one commit for the
-- group: onecode/gates/batching.py collects the scans that arrive while the previous
-- group commits). Each item is decided by gate_scan() exactly as alone; the group only
-- shares the transaction. Lock order, so that two groups never wait on each other in a
-- circle: this session's counter row of the venue's day first (every accepted item
-- adds to it), then the items in cred_id order (a traveller's presence and booking rows
-- are taken at their credential's place in both groups). Answers carry the item's
-- index (1-based) in the arrays given.
CREATE OR REPLACE FUNCTION gate_scan_batch(
    p_venue_id     uuid,
    p_gate_ids     uuid[],
    p_scan_ids     uuid[],
    p_directions   text[],
    p_device_times timestamptz[],
    p_verdicts     text[],
    p_cred_ids     bytea[],
    p_generations  integer[],
    p_bodies       text[],
    p_suffixes     bytea[]
)
RETURNS TABLE (i integer, decision text, reason text, party_size integer, booking_id uuid,
               replayed boolean, credential text)
LANGUAGE plpgsql VOLATILE AS $$
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
