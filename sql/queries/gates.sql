-- Gate validation and the traveller's visit history.

-- name: gates_decide_scan
-- the whole online decision in one round trip (sql/functions/gates.sql)
SELECT decision, reason, party_size, booking_id, replayed, credential
  FROM gate_scan($1, $2, $3, $4, $5, $6, $7, $8, $9, $10);

-- name: gates_decide_scans
-- a group of online scans of one venue, one transaction (onecode/gates/batching.py)
SELECT i, decision, reason, party_size, booking_id, replayed, credential
  FROM gate_scan_batch($1, $2::uuid[], $3::uuid[], $4::text[], $5::timestamptz[], $6::text[],
                       $7::bytea[], $8::integer[], $9::text[], $10::bytea[]);

-- name: gates_select_visits
-- own accepted gate scans and place-code check-ins, newest first, before a cursor
SELECT x.kind, x.venue_id, v.name AS venue_name, x.at, x.direction
  FROM (
        (SELECT 'gate' AS kind, s.venue_id, s.device_time AS at, s.direction
           FROM scans s
          WHERE s.traveller_id = $1 AND s.decision = 'accept' AND s.device_time < $2
          ORDER BY s.device_time DESC
          LIMIT $3)
        UNION ALL
        (SELECT 'checkin' AS kind, c.venue_id, c.checked_in_at AS at, NULL AS direction
           FROM checkins c
          WHERE c.traveller_id = $1 AND c.checked_in_at < $2
          ORDER BY c.checked_in_at DESC
          LIMIT $3)
       ) AS x
  JOIN venues v ON v.id = x.venue_id
 ORDER BY x.at DESC, x.kind
 LIMIT $3;
