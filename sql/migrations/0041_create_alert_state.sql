-- Alert detectors (issue 21): what the worker last announced, so that it announces a
-- change once, with hysteresis, and a forecast level once per venue and day; and when
-- each gate was last heard from (any request of its token), for gate.offline.

-- the crowd level last announced per venue: kind 'instant' (inside now against
-- capacity_instant) or 'daily' (entries today against capacity_daily, reset each day)
CREATE TABLE venue_alert_levels (
    venue_id   uuid NOT NULL REFERENCES venues (id),
    kind       text NOT NULL CHECK (kind IN ('instant', 'daily')),
    level      text NOT NULL CHECK (level IN ('green', 'yellow', 'orange', 'red')),
    local_day  date NOT NULL,
    load_pct   numeric(6, 2) NOT NULL,
    changed_at timestamptz NOT NULL,
    PRIMARY KEY (venue_id, kind)
);

-- bookings for a day reached a level of capacity_daily: announced once per level
CREATE TABLE venue_forecast_alerts (
    venue_id    uuid NOT NULL REFERENCES venues (id),
    local_day   date NOT NULL,
    level       text NOT NULL CHECK (level IN ('yellow', 'orange', 'red')),
    booked      integer NOT NULL,
    announced_at timestamptz NOT NULL,
    PRIMARY KEY (venue_id, local_day, level)
);

-- flushed from each API process's memory every few seconds (never on the scan path)
CREATE TABLE gate_heartbeats (
    gate_id      uuid PRIMARY KEY REFERENCES gates (id),
    last_seen_at timestamptz NOT NULL,
    -- set when gate.offline was announced; cleared when the gate is heard again
    offline_since timestamptz
);
