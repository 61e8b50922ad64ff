-- The outcome of each source's latest ingest runs, for `radar status` (infra/status.py).
-- source_cursors moves only when a validator changes and dead_letters only holds failures,
-- so neither says when a source last worked. One row per source (bounded, upserted by
-- connectors/source_runs.py in the same transaction as the run's cursor and dead letters).
-- Independent of 005: it touches no other table.
CREATE TABLE IF NOT EXISTS source_runs (
    source_name           VARCHAR PRIMARY KEY,
    last_run_at           TIMESTAMPTZ NOT NULL,
    last_run_ok           BOOLEAN NOT NULL,
    last_success_at       TIMESTAMPTZ,           -- latest run without errors
    last_success_produced INTEGER,               -- envelopes that run put on the raw topic
    last_error_at         TIMESTAMPTZ,           -- latest run with errors
    last_error            VARCHAR,               -- its first failure: "<stage>: <one-line reason>"
    consecutive_failures  INTEGER NOT NULL DEFAULT 0
);
