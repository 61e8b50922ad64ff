-- Hourly aggregates for the digest's trends and dashboards (flows/rollup.py).
-- One row per (hour, scope, key): scope 'event' keys by event_id, scope 'category' by
-- category. A rollup deletes and re-inserts its hours in one transaction, so re-running
-- an hour replaces it instead of doubling it.
CREATE TABLE IF NOT EXISTS rollup_hourly (
    hour         TIMESTAMPTZ NOT NULL,               -- start of the UTC hour
    scope        VARCHAR NOT NULL,                   -- event | category
    key          VARCHAR NOT NULL,                   -- event_id or category
    category     VARCHAR,
    mentions     INTEGER NOT NULL DEFAULT 0,         -- items published in the hour
    publishers   INTEGER NOT NULL DEFAULT 0,         -- distinct publishers among them
    new_events   INTEGER NOT NULL DEFAULT 0,         -- events first seen in the hour
    signal_score DOUBLE NOT NULL DEFAULT 0,          -- event score when rolled up (sum per category)
    score_change DOUBLE NOT NULL DEFAULT 0,          -- vs the latest earlier rollup row of the same key
    computed_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (hour, scope, key)
);
CREATE INDEX IF NOT EXISTS rollup_hourly_key ON rollup_hourly (scope, key, hour);
