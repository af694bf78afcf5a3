-- name: offline_select_pack_venue
SELECT id, entry_rule, requires_booking, gated, timezone, early_grace_min, late_grace_min,
       capacity_instant, occupancy_cap_pct, active,
       (now() AT TIME ZONE timezone)::date AS today
  FROM venues WHERE id = $1;

-- name: offline_select_entitlements
SELECT b.id, c.cred_id, b.party_size,
       extract(epoch FROM b.starts_at)::bigint AS starts_at,
       extract(epoch FROM b.ends_at)::bigint AS ends_at,
       b.status
  FROM bookings b
  JOIN credentials c ON c.traveller_id = b.traveller_id
                    AND NOT c.revoked_all AND (c.kind = 'phone' OR c.booking_id = b.id)
 WHERE b.venue_id = $1
   AND b.local_day BETWEEN $2 AND $2 + 1
   AND (($3::timestamptz IS NULL AND b.status IN ('booked', 'used'))
        OR b.changed_at > $3::timestamptz OR c.changed_at > $3::timestamptz);

-- name: offline_select_revocations
-- revoked credentials whose codes have not expired yet (an expired code is refused
-- by its signed expiry anyway), and rotated generations
SELECT cred_id, CASE WHEN revoked_all THEN 2147483647 ELSE generation END AS min_generation
  FROM credentials
 WHERE (generation > 1 OR revoked_all)
   AND expires_at > now() - interval '1 day'
   AND ($1::timestamptz IS NULL OR changed_at > $1::timestamptz);

-- name: offline_select_credential_travellers
-- whose the uploaded codes are (the lookup by cred_id: the codes name nobody)
SELECT cred_id, traveller_id FROM credential_ids WHERE cred_id = ANY ($1::bytea[]);

-- name: offline_select_credentials
-- the credentials of those codes, on their travellers' shards ($1 travellers, $2 cred_ids)
SELECT cred_id, traveller_id, generation, revoked_all, changed_at
  FROM credentials
 WHERE traveller_id = ANY ($1::uuid[]) AND cred_id = ANY ($2::bytea[]);

-- name: offline_select_existing_scans
-- the (gate, scan_id) ledger: every scan id this gate ever had decided, online or uploaded
SELECT scan_id, traveller_id FROM gate_scan_ids WHERE gate_id = $1 AND scan_id = ANY ($2::uuid[]);

-- name: offline_upload_scans
SELECT scan_id, status, reason, flag FROM gate_upload($1, $2, $3, $4, $5, $6, $7, $8, $9, $10);

-- name: offline_select_conflicts
-- double entries (scans.conflict, with the earlier entries of the day) and the
-- uploaded items the operator must see (flag: stale_code, refused_upload)
SELECT s.scan_id, s.gate_id, s.device_time, s.offline, s.party_size, s.reason,
       CASE WHEN s.conflict THEN 'double_entry' ELSE s.flag END AS kind,
       (s.device_time AT TIME ZONE v.timezone)::date AS local_day,
       (SELECT coalesce(json_agg(json_build_object(
                   'scan_id', o.scan_id, 'gate_id', o.gate_id,
                   'scanned_at', o.device_time, 'offline', o.offline)
                   ORDER BY o.device_time), '[]'::json)
          FROM scans o
         WHERE o.traveller_id = s.traveller_id AND o.venue_id = s.venue_id
           AND o.decision = 'accept' AND o.direction = 'in'
           AND o.device_time >= date_trunc('day', s.device_time AT TIME ZONE v.timezone) AT TIME ZONE v.timezone
           AND (o.device_time, o.gate_id, o.scan_id) < (s.device_time, s.gate_id, s.scan_id)
       )::text AS earlier
  FROM scans s JOIN venues v ON v.id = s.venue_id
 WHERE s.venue_id = $1 AND (s.conflict OR s.flag IS NOT NULL)
   AND s.device_time >= $2
 ORDER BY s.device_time DESC
 LIMIT $3;
