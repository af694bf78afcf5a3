-- Offline gate uploads: one set-based call per batch. Uploaded decisions are facts:
-- stored once per (gate, scan_id), counted in occupancy, never re-judged. A second
-- accepted entry beyond the venue's rule (single, daily:N) on one local day is kept
-- and flagged as a conflict for the operator.

CREATE OR REPLACE FUNCTION gate_upload(
    p_gate        uuid,
    p_venue       uuid,
    p_scan_ids    uuid[],
    p_travellers  uuid[],
    p_directions  text[],
    p_decisions   text[],
    p_reasons     text[],
    p_party       smallint[],
    p_times       timestamptz[]
) RETURNS TABLE (scan_id uuid, status text)
LANGUAGE plpgsql AS $$
DECLARE
    v_tz   text;
    v_rule text;
    v_max  integer;
    v_new  uuid[];
BEGIN
    SELECT v.timezone, v.entry_rule INTO v_tz, v_rule FROM venues v WHERE v.id = p_venue;
    v_max := CASE
        WHEN v_rule = 'single' THEN 1
        WHEN v_rule LIKE 'daily:%' THEN split_part(v_rule, ':', 2)::integer
    END;

    WITH ins AS (
        INSERT INTO scans AS s (gate_id, scan_id, venue_id, traveller_id, direction, decision,
                                reason, party_size, device_time, offline)
        SELECT p_gate, u.scan_id, p_venue, u.traveller_id, u.direction, u.decision, u.reason,
               u.party_size, u.device_time, true
          FROM unnest(p_scan_ids, p_travellers, p_directions, p_decisions, p_reasons, p_party,
                      p_times) AS u (scan_id, traveller_id, direction, decision, reason,
                                     party_size, device_time)
        ON CONFLICT DO NOTHING
        RETURNING s.scan_id
    )
    SELECT coalesce(array_agg(ins.scan_id), '{}') INTO v_new FROM ins;

    IF cardinality(v_new) > 0 THEN
        -- entries beyond the rule that day, counting every gate's earlier entries
        IF v_max IS NOT NULL THEN
            UPDATE scans s SET conflict = true
             WHERE s.gate_id = p_gate AND s.scan_id = ANY (v_new)
               AND s.decision = 'accept' AND s.direction = 'in'
               AND s.traveller_id <> '00000000-0000-0000-0000-000000000000'
               AND (SELECT count(*) FROM scans o
                     WHERE o.traveller_id = s.traveller_id
                       AND o.venue_id = s.venue_id
                       AND o.decision = 'accept' AND o.direction = 'in'
                       AND o.device_time >= date_trunc('day', s.device_time AT TIME ZONE v_tz) AT TIME ZONE v_tz
                       AND (o.device_time, o.gate_id, o.scan_id) < (s.device_time, s.gate_id, s.scan_id)
                   ) >= v_max;
        END IF;

        INSERT INTO gate_counters AS c (gate_id, venue_id, local_day, ins, outs)
        SELECT p_gate, p_venue, (s.device_time AT TIME ZONE v_tz)::date,
               coalesce(sum(s.party_size) FILTER (WHERE s.direction = 'in'), 0),
               coalesce(sum(s.party_size) FILTER (WHERE s.direction = 'out'), 0)
          FROM scans s
         WHERE s.gate_id = p_gate AND s.scan_id = ANY (v_new) AND s.decision = 'accept'
         GROUP BY 3
        ON CONFLICT (gate_id, local_day)
        DO UPDATE SET ins = c.ins + excluded.ins, outs = c.outs + excluded.outs;

        INSERT INTO presence AS p (traveller_id, venue_id, local_day, entries, inside, party_size,
                                   last_entry_at, last_exit_at)
        SELECT s.traveller_id, p_venue, (s.device_time AT TIME ZONE v_tz)::date,
               count(*) FILTER (WHERE s.direction = 'in'),
               (array_agg(s.direction ORDER BY s.device_time DESC))[1] = 'in',
               max(s.party_size),
               max(s.device_time) FILTER (WHERE s.direction = 'in'),
               max(s.device_time) FILTER (WHERE s.direction = 'out')
          FROM scans s
         WHERE s.gate_id = p_gate AND s.scan_id = ANY (v_new) AND s.decision = 'accept'
           AND s.traveller_id <> '00000000-0000-0000-0000-000000000000'
         GROUP BY s.traveller_id, 3
        ON CONFLICT (traveller_id, venue_id, local_day) DO UPDATE SET
            entries = p.entries + excluded.entries,
            inside = CASE
                WHEN greatest(excluded.last_entry_at, excluded.last_exit_at)
                     >= coalesce(greatest(p.last_entry_at, p.last_exit_at), '-infinity')
                THEN excluded.inside ELSE p.inside END,
            party_size = greatest(p.party_size, excluded.party_size),
            last_entry_at = greatest(p.last_entry_at, excluded.last_entry_at),
            last_exit_at = greatest(p.last_exit_at, excluded.last_exit_at);

        UPDATE bookings b
           SET status = 'used', used_at = e.first_in, changed_at = now()
          FROM (SELECT s.traveller_id, (s.device_time AT TIME ZONE v_tz)::date AS day,
                       min(s.device_time) AS first_in
                  FROM scans s
                 WHERE s.gate_id = p_gate AND s.scan_id = ANY (v_new)
                   AND s.decision = 'accept' AND s.direction = 'in'
                 GROUP BY 1, 2) e
         WHERE b.traveller_id = e.traveller_id AND b.venue_id = p_venue
           AND b.local_day = e.day AND b.status IN ('booked', 'no_show');
    END IF;

    RETURN QUERY
    SELECT u.scan_id,
           CASE WHEN NOT (u.scan_id = ANY (v_new)) THEN 'duplicate'
                WHEN s.conflict THEN 'conflict'
                ELSE 'recorded' END
      FROM unnest(p_scan_ids, p_travellers) AS u (scan_id, traveller_id)
      LEFT JOIN scans s
        ON s.traveller_id = u.traveller_id AND s.gate_id = p_gate AND s.scan_id = u.scan_id;
END;
$$;
