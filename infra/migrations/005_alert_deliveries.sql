-- Alerts people can read back after the embedded broker is gone (`radar alerts list`), and the
-- webhook delivery log (infra/webhooks.py).

-- The full schemas.alert.Alert as it went to radar.alerts.v1 (NULL for alerts recorded before 005).
ALTER TABLE alerts_sent ADD COLUMN record JSON;

-- One row per (webhook, alert), written as 'pending' in the same transaction as alerts_sent, so an
-- alert is recorded if and only if its deliveries are owed; the dispatcher moves each row to
-- 'delivered' right after a 2xx, or to 'dead' (plus a dead letter) after its last attempt.
CREATE TABLE webhook_deliveries (
    webhook         VARCHAR NOT NULL,                -- WebhookConfig.key
    alert_id        VARCHAR NOT NULL,
    status          VARCHAR NOT NULL DEFAULT 'pending',  -- pending | delivered | dead
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_status     INTEGER,                         -- HTTP status of the last attempt; NULL: no response
    last_error      VARCHAR,
    next_attempt_at TIMESTAMPTZ,                     -- NULL: due now
    lease_owner     VARCHAR,                         -- the dispatcher posting it right now
    lease_until     TIMESTAMPTZ,                     -- a crashed dispatcher's claim lapses then
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    delivered_at    TIMESTAMPTZ,
    PRIMARY KEY (webhook, alert_id)
);
