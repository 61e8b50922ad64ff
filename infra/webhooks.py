"""Webhook delivery of alerts: Standard Webhooks signing, Slack Block Kit, retries, a delivery log.

`[[alerts.webhooks]]` (DESIGN.md §6). The processor records, in the same DuckDB transaction as
`alerts_sent`, one 'pending' row per (webhook, alert) in `webhook_deliveries`; after the commit a
`WebhookDispatcher` thread POSTs them and logs each outcome:

- **at least once**: a row leaves 'pending' only once a 2xx was received (→ 'delivered') or the
  last attempt failed (→ 'dead', plus a dead letter on `radar.dlq.v1` with stage `webhook`);
  a crash anywhere leaves the row pending and the next run delivers it.
- **at most once** per (webhook, alert id), up to one unavoidable window: a receiver that answered
  2xx just before a crash, before the row was marked, gets that one delivery again, with the same
  `webhook-id`, which Standard Webhooks receivers use to drop repeats. A row is claimed with a
  lease in a DuckDB transaction before its POST, so two dispatchers (an overlapping scheduled run)
  never post the same row at once.

Retries: 5xx, 429 (honouring Retry-After) and timeouts/connection errors, with exponential backoff
and jitter up to `max_attempts`; any other status (4xx, a redirect: none are followed) is final.
Targets pass the same address guard as sources: loopback, private and link-local peers are refused
unless the webhook says `local = true`.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import http.client
import json
import logging
import os
import random
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import duckdb

from connectors.urlsafety import FetchError, ParsedTarget, check_url_syntax, is_public_address
from infra.config import ConfigError, Settings, WebhookConfig
from infra.crashpoints import crash_point
from infra.dlq import DeadLetterProducer, make_dead_letter, record_dead_letters
from infra.redact import mask_secrets
from infra.store import Store
from schemas.alert import Alert
from schemas.dead_letter import DeadLetter

if TYPE_CHECKING:
    from kafka import KafkaProducer

__all__ = [
    "DeliveryRow",
    "SharedStore",
    "WebhookDispatcher",
    "list_deliveries",
    "load_secret",
    "request_for",
    "sign",
    "slack_body",
    "verify",
]

log = logging.getLogger(__name__)

_MAX_RESPONSE_BYTES = 64 * 1024
_MAX_TIMESTAMP_SKEW_S = 5 * 60  # the tolerance Standard Webhooks recommends to receivers


# --------------------------------------------------------------------------- signing


def load_secret(value: str) -> bytes:
    """The key bytes of a Standard Webhooks secret: base64 after an optional `whsec_` prefix."""
    text = value.strip()
    text = text.removeprefix("whsec_")
    try:
        key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not a Standard Webhooks secret (whsec_ followed by base64)") from None
    if len(key) < 16:
        raise ValueError("a Standard Webhooks secret needs at least 16 bytes of key (24-64 recommended)")
    return key


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, the Standard Webhooks signature."""
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(key: bytes, headers: dict[str, str], body: bytes, *, now: float | None = None) -> bool:
    """A receiver's check: some v1 signature matches and the timestamp is within 5 minutes."""
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id, stamp, signatures = lower.get("webhook-id"), lower.get("webhook-timestamp"), lower.get("webhook-signature")
    if not (msg_id and stamp and signatures and stamp.isdigit()):
        return False
    if abs((time.time() if now is None else now) - int(stamp)) > _MAX_TIMESTAMP_SKEW_S:
        return False
    expected = sign(key, msg_id, int(stamp), body)
    return any(hmac.compare_digest(expected, s) for s in signatures.split(" ") if s.startswith("v1,"))


# --------------------------------------------------------------------------- bodies


def _slack_escape(text: str) -> str:
    # Slack mrkdwn gives &, < and > control meaning; everything else is literal.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_link(url: str, label: str) -> str:
    safe_url = url.replace("|", "%7C").replace(">", "%3E").replace("<", "%3C")
    return f"<{safe_url}|{_slack_escape(label).replace('|', '¦')}>"


def slack_body(alert: Alert) -> bytes:
    """A Block Kit message a Slack incoming webhook accepts: title, level, category, verification, source."""
    marker = ":rotating_light:" if alert.level == "critical" else ":large_orange_diamond:"
    first = alert.sources[0] if alert.sources else None
    link = (
        _slack_link(alert.url, first.publisher if first else alert.url) if alert.url
        else _slack_escape(first.publisher) if first else "no source link"
    )
    more = f" (+{len(alert.sources) - 1} more)" if len(alert.sources) > 1 else ""
    blocks: list[dict[str, Any]] = [
        # Header text is plain_text, at most 150 characters.
        {"type": "header", "text": {"type": "plain_text", "text": alert.title[:150], "emoji": False}},
        {"type": "section", "fields": [
            {"type": "mrkdwn", "text": f"*Level*\n{marker} {alert.level}"},
            {"type": "mrkdwn", "text": f"*Category*\n{alert.category}"},
            {"type": "mrkdwn", "text": f"*Verification*\n{alert.verification}"},
            {"type": "mrkdwn", "text": f"*Signal*\n{alert.signal_score:g} / 100"},
        ]},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*Source*: {link}{more}"}},
    ]
    context = [f"alert `{_slack_escape(alert.alert_id)}`"]
    if alert.previous_alert_id:
        context.append(f"raised from `{_slack_escape(alert.previous_alert_id)}`")
    if alert.reasons:
        context.append(_slack_escape("; ".join(alert.reasons))[:1500])
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]})
    # `text` is the notification fallback (and what screen readers announce).
    fallback = f"[{alert.level.upper()}] {_slack_escape(alert.title)}"
    return json.dumps({"text": fallback, "blocks": blocks}, ensure_ascii=False).encode()


def request_for(
    webhook: WebhookConfig, alert: Alert, key: bytes | None, *, timestamp: int, user_agent: str
) -> tuple[bytes, dict[str, str]]:
    """Body and headers of one delivery attempt (the signature is over this exact body)."""
    body = slack_body(alert) if webhook.format == "slack" else alert.model_dump_json(by_alias=True).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": user_agent,
        "webhook-id": alert.alert_id,
        "webhook-timestamp": str(timestamp),
    }
    if key is not None:
        headers["webhook-signature"] = sign(key, alert.alert_id, timestamp, body)
    return body, headers


# --------------------------------------------------------------------------- one POST


@dataclass(frozen=True)
class Outcome:
    status: int | None  # None: no HTTP response (timeout, connection, refused address)
    error: str | None
    retryable: bool
    retry_after_s: float | None = None

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def _classify(status: int, retry_after: str | None) -> Outcome:
    if 200 <= status < 300:
        return Outcome(status, None, False)
    wait = float(retry_after) if retry_after and retry_after.strip().isdigit() else None
    if status == 429:
        return Outcome(status, "HTTP 429", True, wait)
    if status >= 500:
        return Outcome(status, f"HTTP {status}", True, wait)
    if 300 <= status < 400:
        return Outcome(status, f"HTTP {status} (redirects are not followed)", False)
    return Outcome(status, f"HTTP {status}", False)


def _connect(target: ParsedTarget, local: bool, timeout_s: float) -> socket.socket:
    infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    candidates = [info for info in infos if local or is_public_address(str(info[4][0]))]
    if not candidates:
        addresses = sorted({str(info[4][0]) for info in infos})
        raise FetchError("unsafe-url", "", f"resolves only to non-public addresses {addresses}: needs local = true")
    error: OSError | None = None
    for family, sock_type, proto, _name, sockaddr in candidates:
        sock = socket.socket(family, sock_type, proto)
        try:
            sock.settimeout(timeout_s)
            sock.connect(sockaddr)
            peer = str(sock.getpeername()[0])
        except OSError as exc:
            sock.close()
            error = exc
            continue
        # The address really connected to decides, not an earlier DNS answer.
        if not local and not is_public_address(peer):
            sock.close()
            raise FetchError("unsafe-url", "", f"peer {peer} is not a public address: needs local = true")
        return sock
    assert error is not None
    raise error


_TLS: ssl.SSLContext | None = None


def post(webhook: WebhookConfig, body: bytes, headers: dict[str, str]) -> Outcome:
    """One POST through the address guard; never raises for network trouble, returns the outcome."""
    global _TLS
    try:
        target = check_url_syntax(webhook.url)
        sock = _connect(target, webhook.local, webhook.timeout_s)
    except FetchError as exc:
        return Outcome(None, f"{exc.reason}: {exc.detail}", False)
    except (OSError, UnicodeError) as exc:
        return Outcome(None, f"connection: {type(exc).__name__}: {exc}", True)
    conn: http.client.HTTPConnection
    try:
        if target.scheme == "https":
            if _TLS is None:
                _TLS = ssl.create_default_context()
            sock = _TLS.wrap_socket(sock, server_hostname=target.host)
            conn = http.client.HTTPSConnection(target.host, target.port, timeout=webhook.timeout_s)
        else:
            conn = http.client.HTTPConnection(target.host, target.port, timeout=webhook.timeout_s)
        conn.sock = sock
        conn.request("POST", target.request_target, body=body, headers={**headers, "Connection": "close"})
        response = conn.getresponse()
        response.read(_MAX_RESPONSE_BYTES)
        return _classify(response.status, response.getheader("Retry-After"))
    except TimeoutError:
        return Outcome(None, f"timeout: no response within {webhook.timeout_s:g} s", True)
    except ssl.SSLCertVerificationError as exc:
        return Outcome(None, f"TLS verification failed ({exc.verify_message})", False)
    except (OSError, http.client.HTTPException) as exc:
        return Outcome(None, f"connection: {type(exc).__name__}: {exc}", True)
    finally:
        sock.close()


# --------------------------------------------------------------------------- the dispatcher


class SharedStore(Store):
    """The processor's store when a dispatcher thread shares the process with it.

    DuckDB refuses a read-only connection while the same process holds a read-write one to the
    file ("different configuration"), so every open here is read-write, and one lock keeps the
    processor's transactions and the dispatcher's out of each other's way.
    """

    def __init__(self, path: str | os.PathLike[str], lock_timeout_s: float = 60.0) -> None:
        super().__init__(path, lock_timeout_s)
        self.lock = threading.RLock()

    @contextlib.contextmanager
    def write(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self.lock, super().write() as con:
            yield con

    @contextlib.contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self.write() as con:
            yield con



def _origin(url: str) -> str:
    # A webhook URL's path can be its credential (Slack, Discord): logs and dead letters get the origin.
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


@dataclass(frozen=True)
class _Claim:
    webhook: WebhookConfig
    alert: Alert
    attempts: int  # before this one


class WebhookDispatcher:
    """Delivers the pending rows of `webhook_deliveries`, in a background thread or on demand.

    `notify()` after each batch commit wakes it; `close()` keeps delivering what is due for up to
    `alerts.drain_timeout_s`, then stops (what is left stays pending for the next run).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        producer: KafkaProducer | None = None,
        store: Store | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        post_fn: Callable[[WebhookConfig, bytes, dict[str, str]], Outcome] = post,
    ) -> None:
        self.settings = settings
        # In the processor: its SharedStore. Alone (`radar alerts deliver`, tests): a store of its own.
        self.store = store or Store(settings.store.path, settings.store.lock_timeout_s)
        self.producer = producer
        self._clock = clock
        self._post = post_fn
        self._owner = uuid.uuid4().hex
        self._random = random.Random()
        self.webhooks: dict[str, WebhookConfig] = {}
        self.keys: dict[str, bytes | None] = {}
        for webhook in settings.alerts.webhooks:
            usable, key = self._key_of(webhook)
            if usable:
                self.webhooks[webhook.key] = webhook
                self.keys[webhook.key] = key
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._drain_deadline = float("inf")
        self._thread: threading.Thread | None = None
        self.delivered = 0  # counts of this dispatcher's outcomes, for reports
        self.dead = 0

    @staticmethod
    def _key_of(webhook: WebhookConfig) -> tuple[bool, bytes | None]:
        if not webhook.secret_env:
            if webhook.format == "standard":
                log.warning("webhook %s has no secret_env: its deliveries are not signed", webhook.key)
            return True, None
        value = os.environ.get(webhook.secret_env)
        if not value:
            # Not a reason to drop what is owed: the rows wait, and go out once the secret is there.
            log.error("webhook %s: env var %s is not set; its deliveries wait", webhook.key, webhook.secret_env)
            return False, None
        try:
            return True, load_secret(value)
        except ValueError as exc:
            raise ConfigError(f"alerts.webhooks {webhook.key}: {webhook.secret_env}: {exc}") from None

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> WebhookDispatcher:
        if self._thread is None and self.webhooks:
            self._thread = threading.Thread(target=self._run, name="webhook-dispatcher", daemon=True)
            self._thread.start()
        return self

    def notify(self) -> None:
        self._wake.set()

    def close(self) -> None:
        if self._thread is None:
            return
        self._drain_deadline = time.monotonic() + self.settings.alerts.drain_timeout_s
        self._closing.set()
        self._wake.set()
        self._thread.join()
        self._thread = None

    def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                wait = self.deliver_due()
            except Exception:  # noqa: BLE001 - one bad pass (a locked store) must not end delivery
                log.exception("webhook delivery pass failed; retrying")
                wait = 5.0
            if self._closing.is_set() and (wait is None or time.monotonic() + wait > self._drain_deadline):
                return
            # Wakes early on notify() (a new commit) or close(); else when the next retry is due.
            self._wake.wait(wait)

    def drain(self, timeout_s: float) -> int:
        """Deliver in this thread until nothing is due within `timeout_s`; return rows still pending."""
        deadline = time.monotonic() + timeout_s
        while True:
            wait = self.deliver_due()
            if wait is None or time.monotonic() + wait > deadline:
                return self.pending()
            self._wake.wait(wait)
            self._wake.clear()

    # ---------------------------------------------------------------- one pass

    def deliver_due(self) -> float | None:
        """Deliver every row due now; return seconds until the next is due (None: nothing pending)."""
        while True:
            claim = self._claim()
            if claim is None:
                return self._next_due()
            self._deliver(claim)

    def pending(self) -> int:
        with self.store.write() as con:
            return int(con.execute("SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'").fetchone()[0])

    def _claim(self) -> _Claim | None:
        """Lease the oldest due row to this dispatcher (one DuckDB transaction), or None."""
        while self.webhooks:
            now = self._clock()
            try:
                with self.store.write() as con:
                    row = con.execute(
                        "SELECT d.webhook, d.alert_id, d.attempts, a.record FROM webhook_deliveries d"
                        " JOIN alerts_sent a USING (alert_id)"
                        " WHERE d.status = 'pending' AND d.webhook IN (SELECT unnest(?))"
                        " AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= ?)"
                        " AND (d.lease_until IS NULL OR d.lease_until <= ?)"
                        " ORDER BY a.sent_at, d.alert_id LIMIT 1",
                        [list(self.webhooks), now, now],
                    ).fetchone()
                    if row is None:
                        return None
                    key, alert_id, attempts, record = row
                    webhook = self.webhooks[key]
                    # The lease outlives the POST's own timeout: a crashed dispatcher's claim lapses by itself.
                    lease = now + timedelta(seconds=webhook.timeout_s * 2 + 5)
                    con.execute(
                        "UPDATE webhook_deliveries SET lease_owner = ?, lease_until = ?, updated_at = now()"
                        " WHERE webhook = ? AND alert_id = ?",
                        [self._owner, lease, key, alert_id],
                    )
            except duckdb.TransactionException:
                # Another dispatcher in this process claimed the same row first: it is theirs.
                return None
            if record is not None:
                return _Claim(webhook, Alert.model_validate_json(record), int(attempts))
            # Recorded before migration 005 kept alert JSON: nothing to send, say so once.
            self._finish(webhook, alert_id, int(attempts), Outcome(None, "alert record missing", False), b"")
        return None

    def _next_due(self) -> float | None:
        if not self.webhooks:
            return None
        with self.store.write() as con:
            row = con.execute(
                "SELECT min(greatest(coalesce(next_attempt_at, now()), coalesce(lease_until, now())))"
                " FROM webhook_deliveries WHERE status = 'pending' AND webhook IN (SELECT unnest(?))",
                [list(self.webhooks)],
            ).fetchone()
        if row is None or row[0] is None:
            return None
        return max(0.0, (row[0] - self._clock()).total_seconds())

    def _deliver(self, claim: _Claim) -> None:
        webhook, alert = claim.webhook, claim.alert
        timestamp = int(self._clock().timestamp())
        body, headers = request_for(webhook, alert, self.keys[webhook.key], timestamp=timestamp,
                                    user_agent=self.settings.fetch.user_agent)
        outcome = self._post(webhook, body, headers)
        if outcome.delivered:
            # The one window of a repeat: the receiver has it, the log does not yet say so.
            crash_point("webhook-after-post")
        self._finish(webhook, alert.alert_id, claim.attempts, outcome, body)

    def _finish(self, webhook: WebhookConfig, alert_id: str, attempts_before: int, outcome: Outcome,
                body: bytes) -> None:
        attempts = attempts_before + 1
        error = mask_secrets(outcome.error)[:500] if outcome.error else None
        letter: DeadLetter | None = None
        if outcome.delivered:
            status, next_at = "delivered", None
            log.info("webhook %s: delivered %s (attempt %d)", webhook.key, alert_id, attempts)
        elif outcome.retryable and attempts < webhook.max_attempts:
            status, next_at = "pending", self._clock() + timedelta(seconds=self._backoff(webhook, attempts, outcome))
            log.info("webhook %s: %s for %s, attempt %d of %d; retrying", webhook.key, error, alert_id,
                     attempts, webhook.max_attempts)
        else:
            status, next_at = "dead", None
            letter = self._dead_letter(webhook, alert_id, attempts, error or "failed", body)
        with self.store.write() as con:
            con.execute(
                "UPDATE webhook_deliveries SET status = ?, attempts = ?, last_status = ?, last_error = ?,"
                " next_attempt_at = ?, lease_owner = NULL, lease_until = NULL, updated_at = now(),"
                " delivered_at = CASE WHEN ? = 'delivered' THEN now() END"
                " WHERE webhook = ? AND alert_id = ?",
                [status, attempts, outcome.status, error, next_at, status, webhook.key, alert_id],
            )
            if letter is not None:
                record_dead_letters(con, [letter])
        if status == "delivered":
            self.delivered += 1
        elif status == "dead":
            self.dead += 1

    def _dead_letter(self, webhook: WebhookConfig, alert_id: str, attempts: int, error: str,
                     body: bytes) -> DeadLetter:
        tried = f"after {attempts} attempts" if attempts > 1 else "not retried"
        letter = make_dead_letter(
            stage="webhook", reason=f"webhook {webhook.key}: alert {alert_id} not delivered, {tried}: {error}",
            original=body, source_name=f"webhook:{webhook.key}", url=_origin(webhook.url),
        )
        log.warning("dead letter [webhook] %s: %s", webhook.key, letter.reason)
        if self.producer is not None:
            # On the DLQ topic before the row says 'dead': a crash between re-sends the same letter id.
            DeadLetterProducer(self.producer, self.settings.kafka.dlq_topic).send([letter])
        return letter

    def _backoff(self, webhook: WebhookConfig, attempts: int, outcome: Outcome) -> float:
        if outcome.retry_after_s is not None:
            return min(webhook.max_backoff_s, outcome.retry_after_s)
        delay = min(webhook.max_backoff_s, webhook.backoff_s * 2 ** (attempts - 1))
        # Equal jitter: never less than half the delay, so retries stay spread but still back off.
        return delay / 2 + self._random.uniform(0, delay / 2)


# --------------------------------------------------------------------------- the delivery log


@dataclass(frozen=True)
class DeliveryRow:
    webhook: str
    alert_id: str
    status: str
    attempts: int
    last_status: int | None
    last_error: str | None
    updated_at: datetime
    delivered_at: datetime | None


def list_deliveries(settings: Settings, *, status: str | None = None, limit: int = 100) -> list[DeliveryRow]:
    store = Store(settings.store.path, settings.store.lock_timeout_s)
    sql = ("SELECT webhook, alert_id, status, attempts, last_status, last_error, updated_at, delivered_at"
           " FROM webhook_deliveries" + (" WHERE status = ?" if status else "")
           + " ORDER BY updated_at DESC, alert_id LIMIT ?")
    params: Sequence[object] = [status, limit] if status else [limit]
    with store.read() as con:
        return [DeliveryRow(*row) for row in con.execute(sql, params).fetchall()]
