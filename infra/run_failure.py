"""Tell people a flow run failed: one POST per configured alert webhook, signed like alerts.

Called by the flows' `on_failure` hook (infra/prefect_env.py) with what Prefect knows of the
run; no Prefect import here. The body of a `standard` webhook is

    {"schema": "flow-run-failure", "version": 1, "flow": "ingest", "flow_run_id": "...",
     "flow_run_name": "...", "deployment": "ingest" | null, "state": "Failed",
     "error": "<the first line of the state message>", "occurred_at": "...Z"}

with `webhook-id` = `flow-run-<run id>` (a receiver drops repeats by it), `webhook-timestamp` and
`webhook-signature` by the same Standard Webhooks signing as alerts (`infra.webhooks.sign`), sent
through the same address guard (`infra.webhooks.post`); a `slack` webhook gets a short Block Kit
message. One attempt per webhook, no retry queue: a failing notification is logged, never raised,
so it cannot mask the failure it reports.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from infra.config import Settings, WebhookConfig
from infra.redact import mask_secrets
from infra.webhooks import load_secret, post, sign

__all__ = ["FailureNotice", "notify_failure"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FailureNotice:
    flow: str
    flow_run_id: str
    flow_run_name: str
    state: str
    error: str
    deployment: str | None = None

    def body(self) -> dict[str, object]:
        return {
            "schema": "flow-run-failure",
            "version": 1,
            "flow": self.flow,
            "flow_run_id": self.flow_run_id,
            "flow_run_name": self.flow_run_name,
            "deployment": self.deployment,
            "state": self.state,
            "error": self.error,
            "occurred_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        }


def first_line(message: str | None) -> str:
    line = next((part.strip() for part in (message or "").splitlines() if part.strip()), "")
    return mask_secrets(line)[:500] or "(no message)"


def _slack(notice: FailureNotice) -> bytes:
    text = f"Flow run failed: {notice.flow} / {notice.flow_run_name}"
    esc = notice.error.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f":x: *{text}*\n{esc}"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"run `{notice.flow_run_id}` · {notice.state}"}]},
    ]
    return json.dumps({"text": text, "blocks": blocks}, ensure_ascii=False).encode()


def _key(webhook: WebhookConfig) -> bytes | None:
    value = os.environ.get(webhook.secret_env) if webhook.secret_env else None
    if webhook.secret_env and not value:
        log.error(
            "webhook %s: env var %s is not set; the failure notice goes unsigned", webhook.key, webhook.secret_env
        )
    return load_secret(value) if value else None


def notify_failure(settings: Settings, notice: FailureNotice) -> list[tuple[str, str]]:
    """POST `notice` to every `[[alerts.webhooks]]`; return (webhook key, outcome) pairs."""
    results: list[tuple[str, str]] = []
    msg_id = f"flow-run-{notice.flow_run_id}"
    for webhook in settings.alerts.webhooks:
        try:
            body = (
                _slack(notice) if webhook.format == "slack" else json.dumps(notice.body(), ensure_ascii=False).encode()
            )
            stamp = int(time.time())
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "frontier-radar-ops/1",
                "webhook-id": msg_id,
                "webhook-timestamp": str(stamp),
            }
            key = _key(webhook)
            if key is not None:
                headers["webhook-signature"] = sign(key, msg_id, stamp, body)
            outcome = post(webhook, body, headers)
            verdict = f"HTTP {outcome.status}" if outcome.delivered else (outcome.error or "failed")
        except Exception as exc:  # noqa: BLE001 - a notice must never raise over the failure it reports
            verdict = f"{type(exc).__name__}: {exc}"
        results.append((webhook.key, verdict))
    return results
