-- Events, applied by `onecode migrate` after the migrations (CREATE OR REPLACE).
-- Tables: migration 0019.

-- Record an event in the caller's transaction: it exists if and only if the change that
-- caused it commits. With p_traveller the traveller also sees it in their notifications.
-- Returns the event id (the webhook-id receivers deduplicate on).
CREATE OR REPLACE FUNCTION onecode_emit_event(
    p_type text, p_region text, p_venue uuid, p_payload jsonb, p_traveller uuid DEFAULT NULL
) RETURNS uuid
LANGUAGE plpgsql VOLATILE AS $fn$
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
$fn$;
