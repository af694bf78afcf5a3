-- Gate trust (issues #14, #15).
--
-- scans.reason takes only the known reason codes (onecode.gates.rules.ScanReason; a test
-- keeps this list and the enum in step). NOT VALID: rows an older server stored (an
-- upload could carry any reason) stay readable; every new row is checked.
ALTER TABLE scans ADD CONSTRAINT scans_reason_ck CHECK (reason IN (
    'ok', 'not_inside', 'invalid_code', 'unknown_key', 'expired_code', 'not_yet_valid',
    'revoked_code', 'screenshot_code', 'static_code', 'no_booking', 'wrong_venue',
    'too_early', 'too_late', 'already_used', 'already_inside', 'venue_full', 'no_pack',
    'agent_interrupted', 'bad_time', 'party_too_large', 'venue_inactive'
)) NOT VALID;

-- An online gate refuses a code without a live (30 s) suffix: a screenshot cut to the
-- static text is static_code. NULL follows the venue's gated flag (required at gated
-- venues); a venue may relax it (false) or require it anywhere (true).
ALTER TABLE venues ADD COLUMN live_code_required boolean;
