-- Quiet hours per webhook (infra/webhooks.py): deliveries held during a webhook's quiet window,
-- then ONE summary delivery per (webhook, window) once it has ended. Independent of 006 and 008:
-- it touches only webhook_deliveries (from 005) and a table of its own.

-- 'held': owed but kept back until held_until (the end of the quiet window, UTC);
-- 'summarized': folded into the summary named by summary_id, whose own row says how it went.
ALTER TABLE webhook_deliveries ADD COLUMN held_until TIMESTAMPTZ;
ALTER TABLE webhook_deliveries ADD COLUMN summary_id VARCHAR;

-- One row per (webhook, ended quiet window), created in the same transaction that moves the
-- window's held rows to 'summarized': a crash leaves either both or neither. Delivered like an
-- alert row (lease, retries, 'delivered' | 'dead'), with webhook-id = summary_id.
CREATE TABLE IF NOT EXISTS webhook_summaries (
    webhook         VARCHAR NOT NULL,
    summary_id      VARCHAR NOT NULL,                -- "quiet:<window end, UTC>"
    window_start    TIMESTAMPTZ NOT NULL,
    window_end      TIMESTAMPTZ NOT NULL,
    status          VARCHAR NOT NULL DEFAULT 'pending',  -- pending | delivered | dead
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_status     INTEGER,
    last_error      VARCHAR,
    next_attempt_at TIMESTAMPTZ,
    lease_owner     VARCHAR,
    lease_until     TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    delivered_at    TIMESTAMPTZ,
    PRIMARY KEY (webhook, summary_id)
);
