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
import functools
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
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import duckdb

from infra.config import ConfigError, Settings, WebhookConfig
from infra.crashpoints import crash_point
from infra.dlq import DeadLetterProducer, make_dead_letter, record_dead_letters
from infra.redact import mask_secrets
from infra.store import HeldSince, Store
from infra.urlsafety import FetchError, ParsedTarget, check_url_syntax, is_public_address
from schemas.alert import Alert, AlertSummary
from schemas.dead_letter import DeadLetter

if TYPE_CHECKING:
    from kafka import KafkaProducer

__all__ = [
    "DeliveryRow",
    "SharedStore",
    "WebhookDispatcher",
    "list_deliveries",
    "load_secret",
    "origin_of",
    "request_for",
    "sign",
    "slack_body",
    "summary_body",
    "summary_id_for",
    "verify",
    "webhook_problems",
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


def webhook_problems(webhook: WebhookConfig) -> tuple[list[str], list[str]]:
    """(what keeps its deliveries from ever arriving, what is merely worth knowing), as far as can be
    told without a network call: `radar config check` says these instead of "OK"."""
    errors: list[str] = []
    notes: list[str] = []
    try:
        target = check_url_syntax(webhook.url)
    except FetchError as exc:
        errors.append(f"url: {exc.detail or exc}")
        target = None
    if target is not None and not webhook.local:
        # Literal addresses and localhost only: a name's address is DNS's answer at delivery time.
        loopback_name = target.host == "localhost" or target.host.endswith(".localhost")
        if loopback_name or (target.ip_literal and not is_public_address(target.host)):
            errors.append(f"{target.host} is a loopback or private address: every delivery fails without local = true")
    if webhook.secret_env:
        value = os.environ.get(webhook.secret_env)
        if not value:
            errors.append(f"env var {webhook.secret_env} is not set: its deliveries wait until it is")
        else:
            try:
                load_secret(value)
            except ValueError as exc:
                errors.append(f"{webhook.secret_env}: {exc}")
    elif webhook.format == "standard":
        notes.append("no secret_env: deliveries are not signed")
    return errors, notes


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
        _slack_link(alert.url, first.publisher if first else alert.url)
        if alert.url
        else _slack_escape(first.publisher)
        if first
        else "no source link"
    )
    more = f" (+{len(alert.sources) - 1} more)" if len(alert.sources) > 1 else ""
    blocks: list[dict[str, Any]] = [
        # Header text is plain_text, at most 150 characters.
        {"type": "header", "text": {"type": "plain_text", "text": alert.title[:150], "emoji": False}},
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*Level*\n{marker} {alert.level}"},
                {"type": "mrkdwn", "text": f"*Category*\n{alert.category}"},
                {"type": "mrkdwn", "text": f"*Verification*\n{alert.verification}"},
                {"type": "mrkdwn", "text": f"*Signal*\n{alert.signal_score:g} / 100"},
            ],
        },
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
            # A request goes out as one small write or two (headers, then a large body): without this,
            # on a kept connection the second waits for the peer's delayed ACK (~40 ms a POST).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
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
# Receivers commonly close keep-alive connections idle for 5 s or more; reuse stays under that.
_KEEP_IDLE_S = 4.0


class KeptConnections:
    """One open connection per webhook between its POSTs (HTTP/1.1 keep-alive).

    A fresh TCP (and TLS) connection per delivery cost ~3.5 ms on loopback and a full handshake
    on the internet. A webhook has one POST in flight at a time, so one kept connection each is
    enough; it was opened through the address guard, so reusing it reaches the same checked peer.
    """

    def __init__(self) -> None:
        self._kept: dict[str, tuple[http.client.HTTPConnection, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> http.client.HTTPConnection | None:
        with self._lock:
            kept = self._kept.pop(key, None)
        if kept is None:
            return None
        conn, used_at = kept
        if time.monotonic() - used_at > _KEEP_IDLE_S:
            conn.close()
            return None
        return conn

    def give(self, key: str, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            old = self._kept.pop(key, None)
            self._kept[key] = (conn, time.monotonic())
        if old is not None:
            old[0].close()

    def close(self) -> None:
        with self._lock:
            kept, self._kept = self._kept, {}
        for conn, _ in kept.values():
            conn.close()


def _open(webhook: WebhookConfig, target: ParsedTarget) -> http.client.HTTPConnection:
    global _TLS
    sock = _connect(target, webhook.local, webhook.timeout_s)
    try:
        conn: http.client.HTTPConnection
        if target.scheme == "https":
            if _TLS is None:
                _TLS = ssl.create_default_context()
            sock = _TLS.wrap_socket(sock, server_hostname=target.host)
            conn = http.client.HTTPSConnection(target.host, target.port, timeout=webhook.timeout_s)
        else:
            conn = http.client.HTTPConnection(target.host, target.port, timeout=webhook.timeout_s)
    except BaseException:
        sock.close()
        raise
    conn.sock = sock
    return conn


def post(
    webhook: WebhookConfig, body: bytes, headers: dict[str, str], connections: KeptConnections | None = None
) -> Outcome:
    """One POST through the address guard; never raises for network trouble, returns the outcome.

    With `connections`, the webhook's kept connection is used when it has one, and the connection
    is kept again when the receiver allows it; otherwise the request asks to close.
    """
    try:
        target = check_url_syntax(webhook.url)
    except FetchError as exc:
        return Outcome(None, f"{exc.reason}: {exc.detail}", False)
    conn = connections.take(webhook.key) if connections is not None else None
    if conn is not None:
        try:
            return _exchange(webhook, target, conn, body, headers, connections)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # The receiver closed the idle connection as the request went out: once more on a new one.
            # (Had it taken the request, the repeat carries the same webhook-id.)
            pass
        except (OSError, http.client.HTTPException) as exc:
            return Outcome(None, f"connection: {type(exc).__name__}: {exc}", True)
    try:
        conn = _open(webhook, target)
    except FetchError as exc:
        return Outcome(None, f"{exc.reason}: {exc.detail}", False)
    except ssl.SSLCertVerificationError as exc:
        return Outcome(None, f"TLS verification failed ({exc.verify_message})", False)
    except (OSError, UnicodeError) as exc:
        return Outcome(None, f"connection: {type(exc).__name__}: {exc}", True)
    try:
        return _exchange(webhook, target, conn, body, headers, connections)
    except (OSError, http.client.HTTPException) as exc:
        return Outcome(None, f"connection: {type(exc).__name__}: {exc}", True)


def _exchange(
    webhook: WebhookConfig,
    target: ParsedTarget,
    conn: http.client.HTTPConnection,
    body: bytes,
    headers: dict[str, str],
    connections: KeptConnections | None,
) -> Outcome:
    """The request and its response on `conn`; `conn` is kept (in `connections`) or closed."""
    keep = False
    try:
        conn.request(
            "POST",
            target.request_target,
            body=body,
            headers=headers if connections is not None else {**headers, "Connection": "close"},
        )
        response = conn.getresponse()
        response.read(_MAX_RESPONSE_BYTES)
        # Reusable only when the body was read whole and the receiver did not ask to close.
        keep = connections is not None and not response.will_close and response.isclosed()
        return _classify(response.status, response.getheader("Retry-After"))
    except TimeoutError:
        return Outcome(None, f"timeout: no response within {webhook.timeout_s:g} s", True)
    except ssl.SSLCertVerificationError as exc:
        return Outcome(None, f"TLS verification failed ({exc.verify_message})", False)
    finally:
        if keep and connections is not None:
            connections.give(webhook.key, conn)
        else:
            conn.close()


# --------------------------------------------------------------------------- the dispatcher


class SharedStore(Store):
    """The processor's store when a dispatcher thread shares the process with it.

    DuckDB refuses a read-only connection while the same process holds a read-write one to the
    file ("different configuration"), so every open here is read-write, and one lock keeps the
    processor's transactions and the dispatcher's out of each other's way. The processor's go
    first: a dispatcher busy with a burst (one transaction per delivery) takes the lock again the
    moment it lets go, and kept a batch's commit waiting for seconds (issue 13, measured).
    """

    def __init__(self, path: str | os.PathLike[str], lock_timeout_s: float = 60.0) -> None:
        super().__init__(path, lock_timeout_s)
        self.lock = threading.RLock()
        self._waiting = 0  # processor transactions waiting for `lock`
        self._turn = threading.Condition()

    @contextlib.contextmanager
    def write(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._turn:
            self._waiting += 1
        try:
            self.lock.acquire()
        finally:
            with self._turn:
                self._waiting -= 1
                self._turn.notify_all()
        try:
            with super().write() as con:
                yield con
        finally:
            self.lock.release()

    def after_writes(self, timeout_s: float = 1.0) -> None:
        """Wait (briefly) until no processor transaction waits for the lock: the dispatcher's turn is after theirs."""
        with self._turn:
            self._turn.wait_for(lambda: self._waiting == 0, timeout=timeout_s)

    @contextlib.contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self.write() as con:
            yield con


def origin_of(url: str) -> str:
    # A webhook URL's path can be its credential (Slack, Discord): logs and dead letters get the origin.
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


# --------------------------------------------------------------------------- quiet-hours summaries


def summary_id_for(window_end: datetime) -> str:
    """The summary's id and webhook-id: one per (webhook, quiet window), stable across runs."""
    return "quiet:" + window_end.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def summary_body(webhook: WebhookConfig, summary: AlertSummary) -> bytes:
    """The one delivery for a quiet window: the AlertSummary JSON, or a Block Kit digest of it."""
    if webhook.format != "slack":
        return summary.model_dump_json(by_alias=True).encode()
    tz = ZoneInfo(summary.timezone)
    span = f"{summary.quiet_from.astimezone(tz):%H:%M}–{summary.quiet_until.astimezone(tz):%H:%M} {summary.timezone}"
    noun = "alert" if summary.count == 1 else "alerts"
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "emoji": False, "text": f"{summary.count} {noun} during quiet hours"[:150]},
        },
        {"type": "context", "elements": [{"type": "mrkdwn", "text": _slack_escape(f"held {span}")}]},
    ]
    # Slack takes at most 50 blocks a message: 40 alerts in full, the rest counted.
    for alert in summary.alerts[:40]:
        marker = ":rotating_light:" if alert.level == "critical" else ":large_orange_diamond:"
        title = _slack_link(alert.url, alert.title[:200]) if alert.url else _slack_escape(alert.title[:200])
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": (
                        f"{marker} *{alert.level}* · {alert.category} · {alert.verification}"
                        f"{' · correction' if alert.correction else ''}\n{title}"
                    ),
                },
            }
        )
    if summary.count > 40:
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"+{summary.count - 40} more: `radar alerts list`"}],
            }
        )
    fallback = f"{summary.count} {noun} during quiet hours ({span})"
    return json.dumps({"text": _slack_escape(fallback), "blocks": blocks}, ensure_ascii=False).encode()


# --------------------------------------------------------------------------- the dispatcher


@dataclass
class _Claim:
    webhook: WebhookConfig
    alert: Alert
    attempts: int  # before this one
    lease_deadline: float  # time.monotonic() after which the lease may have lapsed: post no more
    last_status: int | None = None  # the 2xx status, once POSTed


@dataclass(frozen=True)
class _SummaryClaim:
    webhook: WebhookConfig
    summary_id: str
    window_start: datetime
    window_end: datetime
    attempts: int


_CLAIM_BATCH = 256  # rows leased per webhook per claim: one transaction, then POSTs in order
# The longest the dispatcher keeps the DuckDB file open at a stretch; it lets go sooner when another
# process asks for the file (Store.wanted_since), as the processor's own hold does.
_SESSION_HOLD_S = 10.0
_FOLD_EVERY_S = 1.0  # how often a long delivery pass re-checks quiet hours


class _Session:
    """One DuckDB connection for a burst of small transactions.

    Opening the file when nothing else in the process has it open costs ~30 ms and closing the last
    connection ~15 ms (a checkpoint): per transaction that capped one webhook at ~9 deliveries/s.
    Closed whenever the dispatcher goes idle, at the next transaction once another process has asked
    for the file (`radar status`, `radar alerts list`: `Store.wanted_since`), and at least every
    `_SESSION_HOLD_S`.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._con: duckdb.DuckDBPyConnection | None = None
        self._opened = HeldSince.now()
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        # The processor's SharedStore lock first (it orders its own transactions with ours), then ours.
        outer = self.store.lock if isinstance(self.store, SharedStore) else contextlib.nullcontext()
        if isinstance(self.store, SharedStore):
            self.store.after_writes()
        with outer, self._lock:
            if self._con is not None and self.store.should_let_go(self._opened, _SESSION_HOLD_S):
                self._release()
            if self._con is None:
                self._con = self.store.open_connection()
                self._opened = HeldSince.now()
            con = self._con
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
            except BaseException:
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                raise
            try:
                con.execute("COMMIT")
            except duckdb.Error:
                # A failed COMMIT (a write-write conflict) has already rolled the transaction back.
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                raise

    def close(self) -> None:
        outer = self.store.lock if isinstance(self.store, SharedStore) else contextlib.nullcontext()
        with outer, self._lock:
            self._release()

    def _release(self) -> None:
        if self._con is not None:
            con, self._con = self._con, None
            self.store.close_connection(con)


class WebhookDispatcher:
    """Delivers the pending rows of `webhook_deliveries`, in a background thread or on demand.

    `notify()` after each batch commit wakes it; `close()` keeps delivering what is due for up to
    `alerts.drain_timeout_s`, then stops (what is left stays pending for the next run).

    Webhooks are served side by side (up to `alerts.delivery_concurrency` at once, one POST in
    flight per webhook, so each keeps its order): a slow or hanging target holds only its own
    worker for its own timeout. A retryable failure makes that webhook's other due rows wait for
    the same backoff, so a target that is down is not hammered row after row.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        producer: KafkaProducer | None = None,
        store: Store | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        post_fn: Callable[[WebhookConfig, bytes, dict[str, str]], Outcome] | None = None,
    ) -> None:
        self.settings = settings
        # In the processor: its SharedStore. Alone (`radar alerts deliver`, tests): a store of its own.
        self.store = store or Store(settings.store.path, settings.store.lock_timeout_s)
        self.producer = producer
        self._clock = clock
        self._connections = KeptConnections()
        self._post = post_fn or functools.partial(post, connections=self._connections)
        self._owner = uuid.uuid4().hex
        self._random = random.Random()
        self.webhooks: dict[str, WebhookConfig] = {}
        self.keys: dict[str, bytes | None] = {}
        for webhook in settings.alerts.webhooks:
            usable, key = self._key_of(webhook)
            if usable:
                self.webhooks[webhook.key] = webhook
                self.keys[webhook.key] = key
        self._session = _Session(self.store)
        self._workers = min(settings.alerts.delivery_concurrency, max(1, len(self.webhooks)))
        self._pool: ThreadPoolExecutor | None = None
        self._marker: ThreadPoolExecutor | None = None  # one thread: marks land in POST order
        self._marking: list[Future[None]] = []
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._drain_deadline = float("inf")
        self._thread: threading.Thread | None = None
        self._counts = threading.Lock()
        self.delivered = 0  # counts of this dispatcher's outcomes, for reports
        self.dead = 0
        self.summaries = 0

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
        if self._thread is not None:
            self._drain_deadline = time.monotonic() + self.settings.alerts.drain_timeout_s
            self._closing.set()
            self._wake.set()
            self._thread.join()
            self._thread = None
        for pool in (self._pool, self._marker):
            if pool is not None:
                pool.shutdown(wait=True)
        self._pool = self._marker = None
        self._connections.close()
        self._session.close()

    def _run(self) -> None:
        while True:
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

    # ---------------------------------------------------------------- one pass

    def deliver_due(self) -> float | None:
        """Deliver every row due now; return seconds until the next is due (None: nothing pending)."""
        if not self.webhooks:
            return None
        inflight: dict[str, Future[None]] = {}
        folded_at = -float("inf")
        try:
            while True:
                # Cleared before looking, so a commit or a finished POST from now on wakes the wait below.
                self._wake.clear()
                if time.monotonic() - folded_at >= _FOLD_EVERY_S:
                    try:
                        self._hold_and_fold()
                    except (duckdb.TransactionException, duckdb.ConstraintException):
                        # Another dispatcher held or folded the same rows at this moment: theirs now.
                        log.debug("quiet-hours fold raced another dispatcher; it did the work")
                    folded_at = time.monotonic()
                now = self._clock()
                for key, webhook in self.webhooks.items():
                    if key in inflight or len(inflight) >= self._workers or webhook.quiet_window(now):
                        continue
                    claims = self._claim(webhook)
                    if claims:
                        inflight[key] = self._submit(claims)
                if not inflight:
                    return self._next_due()
                if not any(f.done() for f in inflight.values()):
                    self._wake.wait()
                for key in [k for k, f in inflight.items() if f.done()]:
                    inflight.pop(key).result()
                self._settle_marks(wait=False)
        finally:
            for future in inflight.values():
                # An error above must not leave a POST running unaccounted for: let it finish.
                with contextlib.suppress(Exception):
                    future.result()
            try:
                self._settle_marks(wait=True)
            finally:
                self._session.close()

    def _submit(self, claims: list[_Claim] | _SummaryClaim) -> Future[None]:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="webhook-post")
        future = self._pool.submit(self._work, claims)
        future.add_done_callback(lambda _f: self._wake.set())
        return future

    def outcome(self) -> str:
        """What this dispatcher did, for a command's last line and a flow run's log."""
        return f"{self.delivered} delivered, {self.dead} dead-lettered, {self.pending()} still pending"

    def pending(self) -> int:
        """Rows and summaries still owed and not held back by quiet hours."""
        with self._session.transaction() as con:
            rows = con.execute("SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'").fetchone()[0]
            summaries = con.execute("SELECT count(*) FROM webhook_summaries WHERE status = 'pending'").fetchone()[0]
        self._session.close()
        return int(rows) + int(summaries)

    def _hold_and_fold(self) -> None:
        """Quiet hours: hold what is owed to a webhook in its window; fold each ended window into one summary.

        One transaction: a crash leaves every row of a window either held or summarized, with its
        summary row, never half of it; the summary's id is fixed by the window's end, so it is
        created once.
        """
        now = self._clock()
        quiet = {key: window for key, w in self.webhooks.items() if (window := w.quiet_window(now))}
        with self._session.transaction() as con:
            for key, (_start, end) in quiet.items():
                con.execute(
                    "UPDATE webhook_deliveries SET status = 'held', held_until = ?, updated_at = now()"
                    " WHERE webhook = ? AND status = 'pending' AND (lease_until IS NULL OR lease_until <= ?)",
                    [end, key, now],
                )
            ended = con.execute(
                "SELECT DISTINCT webhook, held_until FROM webhook_deliveries"
                " WHERE status = 'held' AND held_until <= ? AND webhook IN (SELECT unnest(?)) ORDER BY ALL",
                [now, list(self.webhooks)],
            ).fetchall()
            for key, end in ended:
                self._fold(con, self.webhooks[key], end, now)

    def _fold(self, con: duckdb.DuckDBPyConnection, webhook: WebhookConfig, end: datetime, now: datetime) -> None:
        summary_id = summary_id_for(end)
        window = webhook.quiet_window(end - timedelta(microseconds=1))
        start = window[0] if window is not None else end  # quiet hours since removed from the config
        existing = con.execute(
            "SELECT status, lease_until FROM webhook_summaries WHERE webhook = ? AND summary_id = ?",
            [webhook.key, summary_id],
        ).fetchone()
        if existing is None:
            con.execute(
                "INSERT INTO webhook_summaries (webhook, summary_id, window_start, window_end) VALUES (?, ?, ?, ?)",
                [webhook.key, summary_id, start, end],
            )
            joins = True
        else:
            status, lease_until = existing
            # Rows held late (a processor with a slow clock) join the summary only while it has not
            # been posted; once it has, they go out on their own rather than vanish into it.
            joins = status == "pending" and (lease_until is None or lease_until <= now)
            if joins:
                # Touch it: a dispatcher claiming it at this moment then conflicts instead of posting stale.
                con.execute(
                    "UPDATE webhook_summaries SET updated_at = now() WHERE webhook = ? AND summary_id = ?",
                    [webhook.key, summary_id],
                )
        con.execute(
            "UPDATE webhook_deliveries SET status = ?, summary_id = ?, held_until = CASE WHEN ? THEN held_until END,"
            " updated_at = now() WHERE webhook = ? AND status = 'held' AND held_until = ?",
            ["summarized" if joins else "pending", summary_id if joins else None, joins, webhook.key, end],
        )
        log.info(
            "webhook %s: quiet hours ended at %s; %s",
            webhook.key,
            end.isoformat(),
            f"summary {summary_id} owed" if joins else "late rows released",
        )

    def _claim(self, webhook: WebhookConfig) -> list[_Claim] | _SummaryClaim | None:
        """Lease this webhook's due work (one DuckDB transaction): a summary, else its oldest due rows."""
        key = webhook.key
        now = self._clock()
        # The lease outlives the POST's own timeout: a crashed dispatcher's claim lapses by itself.
        lease_s = webhook.timeout_s * 2 + 5
        lease = now + timedelta(seconds=lease_s)
        claimed_at = time.monotonic()
        try:
            with self._session.transaction() as con:
                summary = con.execute(
                    "SELECT summary_id, window_start, window_end, attempts FROM webhook_summaries"
                    " WHERE webhook = ? AND status = 'pending'"
                    " AND (next_attempt_at IS NULL OR next_attempt_at <= ?)"
                    " AND (lease_until IS NULL OR lease_until <= ?) ORDER BY window_end LIMIT 1",
                    [key, now, now],
                ).fetchone()
                if summary is not None:
                    con.execute(
                        "UPDATE webhook_summaries SET lease_owner = ?, lease_until = ?, updated_at = now()"
                        " WHERE webhook = ? AND summary_id = ?",
                        [self._owner, lease, key, summary[0]],
                    )
                    return _SummaryClaim(webhook, summary[0], summary[1], summary[2], int(summary[3]))
                rows = con.execute(
                    "SELECT d.alert_id, d.attempts, a.record FROM webhook_deliveries d"
                    " JOIN alerts_sent a USING (alert_id)"
                    " WHERE d.webhook = ? AND d.status = 'pending'"
                    " AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= ?)"
                    " AND (d.lease_until IS NULL OR d.lease_until <= ?)"
                    " ORDER BY a.sent_at, d.alert_id LIMIT ?",
                    [key, now, now, _CLAIM_BATCH],
                ).fetchall()
                if not rows:
                    return None
                con.execute(
                    "UPDATE webhook_deliveries SET lease_owner = ?, lease_until = ?, updated_at = now()"
                    " WHERE webhook = ? AND alert_id IN (SELECT unnest(?))",
                    [self._owner, lease, key, [r[0] for r in rows]],
                )
        except duckdb.TransactionException:
            # Another dispatcher in this process claimed the same rows first: they are theirs.
            return None
        # No POST may start later than one timeout before the lease lapses.
        deadline = claimed_at + lease_s - webhook.timeout_s - 1
        claims = []
        for alert_id, attempts, record in rows:
            if record is not None:
                claims.append(_Claim(webhook, Alert.model_validate_json(record), int(attempts), deadline))
            else:
                # Recorded before migration 005 kept alert JSON: nothing to send, say so once.
                self._finish(webhook, alert_id, int(attempts), Outcome(None, "alert record missing", False), b"")
        return claims

    def _work(self, work: list[_Claim] | _SummaryClaim) -> None:
        """A worker thread: POST one webhook's claimed rows in order (or its summary).

        Successes are marked `delivered` by one marker thread, in groups, while the POSTs and the
        next claim go on: a DuckDB transaction waits out the processor's batch commit (~0.2 s), and
        one transaction per row, in line, held a webhook to ~90 deliveries/s. Whatever accumulated
        while a group was being marked forms the next group. The rows stay leased to this
        dispatcher until marked, so no one claims them again; a crash can repeat the deliveries
        not yet marked (about one commit's worth), each with its `webhook-id`.
        """
        if isinstance(work, _SummaryClaim):
            self._deliver_summary(work)
            return
        unmarked: list[_Claim] = []
        marking: Future[None] | None = None
        try:
            for i, claim in enumerate(work):
                if time.monotonic() > claim.lease_deadline:
                    self._release(work[i:], None)
                    return
                outcome, body = self._deliver(claim)
                if outcome.delivered:
                    unmarked.append(claim)
                    if marking is None or marking.done():
                        marking, unmarked = self._mark_later(unmarked), []
                    continue
                self._finish(claim.webhook, claim.alert.alert_id, claim.attempts, outcome, body)
                if outcome.retryable and i + 1 < len(work):
                    # The target is failing: the rest of its rows wait out the same backoff.
                    self._release(work[i + 1 :], self._next_attempt_of(claim))
                    return
        finally:
            # Also after an exception: a POSTed row left unmarked would be repeated when its lease lapses.
            self._mark_later(unmarked)

    def _mark_later(self, claims: list[_Claim]) -> Future[None] | None:
        if not claims:
            return None
        with self._counts:
            if self._marker is None:
                self._marker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="webhook-mark")
            future = self._marker.submit(self._mark_delivered, claims)
            self._marking.append(future)
        return future

    def _settle_marks(self, wait: bool) -> None:
        """Surface the markers' errors; with `wait`, first let every queued mark finish."""
        with self._counts:
            futures = list(self._marking)
        for future in futures:
            if wait or future.done():
                with self._counts:
                    self._marking.remove(future)
                future.result()

    def _mark_delivered(self, claims: Sequence[_Claim]) -> None:
        """Mark rows this worker POSTed with a 2xx `delivered`, in one transaction."""
        if not claims:
            return
        with self._session.transaction() as con:
            con.execute(
                "UPDATE webhook_deliveries AS d SET status = 'delivered', attempts = v.attempts,"
                " last_status = v.status, last_error = NULL, next_attempt_at = NULL, lease_owner = NULL,"
                " lease_until = NULL, updated_at = now(), delivered_at = now()"
                " FROM (SELECT unnest(?::VARCHAR[]) AS alert_id, unnest(?::INTEGER[]) AS attempts,"
                "        unnest(?::INTEGER[]) AS status) AS v"
                " WHERE d.webhook = ? AND d.alert_id = v.alert_id",
                [
                    [c.alert.alert_id for c in claims],
                    [c.attempts + 1 for c in claims],
                    [c.last_status for c in claims],
                    claims[0].webhook.key,
                ],
            )
        for claim in claims:
            log.info(
                "webhook %s: delivered %s (attempt %d)", claim.webhook.key, claim.alert.alert_id, claim.attempts + 1
            )
        with self._counts:
            self.delivered += len(claims)

    def _release(self, claims: Sequence[_Claim], next_at: datetime | None) -> None:
        if not claims:
            return
        # Only rows still leased to us: a lease that lapsed may already be someone else's.
        later = " next_attempt_at = ?," if next_at is not None else ""
        with self._session.transaction() as con:
            con.execute(
                f"UPDATE webhook_deliveries SET lease_owner = NULL, lease_until = NULL,{later} updated_at = now()"
                " WHERE webhook = ? AND alert_id IN (SELECT unnest(?)) AND lease_owner = ?",
                [
                    *([next_at] if next_at is not None else []),
                    claims[0].webhook.key,
                    [c.alert.alert_id for c in claims],
                    self._owner,
                ],
            )

    def _next_attempt_of(self, claim: _Claim) -> datetime | None:
        with self._session.transaction() as con:
            row = con.execute(
                "SELECT next_attempt_at FROM webhook_deliveries WHERE webhook = ? AND alert_id = ?",
                [claim.webhook.key, claim.alert.alert_id],
            ).fetchone()
        return row[0] if row else None

    def _next_due(self) -> float | None:
        keys = list(self.webhooks)
        now = self._clock()  # the dispatcher's clock, not DuckDB's now(): they are one in production only
        with self._session.transaction() as con:
            row = con.execute(
                "SELECT min(t) FROM ("
                " SELECT greatest(coalesce(next_attempt_at, $now), coalesce(lease_until, $now)) AS t"
                "  FROM webhook_deliveries WHERE status = 'pending' AND webhook IN (SELECT unnest($keys))"
                " UNION ALL SELECT held_until FROM webhook_deliveries"
                "  WHERE status = 'held' AND webhook IN (SELECT unnest($keys))"
                " UNION ALL SELECT greatest(coalesce(next_attempt_at, $now), coalesce(lease_until, $now))"
                "  FROM webhook_summaries WHERE status = 'pending' AND webhook IN (SELECT unnest($keys)))",
                {"now": now, "keys": keys},
            ).fetchone()
        if row is None or row[0] is None:
            return None
        return max(0.0, (row[0] - now).total_seconds())

    def _deliver(self, claim: _Claim) -> tuple[Outcome, bytes]:
        """POST one alert; the caller records the outcome (`_mark_delivered` or `_finish`)."""
        webhook, alert = claim.webhook, claim.alert
        timestamp = int(self._clock().timestamp())
        body, headers = request_for(
            webhook, alert, self.keys[webhook.key], timestamp=timestamp, user_agent=self.settings.fetch.user_agent
        )
        outcome = self._post(webhook, body, headers)
        if outcome.delivered:
            claim.last_status = outcome.status
            # The window of a repeat: the receiver has it, the log does not yet say so.
            crash_point("webhook-after-post")
        return outcome, body

    def _deliver_summary(self, claim: _SummaryClaim) -> None:
        webhook = claim.webhook
        with self._session.transaction() as con:
            records = [
                r[0]
                for r in con.execute(
                    "SELECT a.record FROM webhook_deliveries d JOIN alerts_sent a USING (alert_id)"
                    " WHERE d.webhook = ? AND d.summary_id = ? AND a.record IS NOT NULL ORDER BY a.sent_at, d.alert_id",
                    [webhook.key, claim.summary_id],
                ).fetchall()
            ]
        alerts = tuple(Alert.model_validate_json(r) for r in records)
        summary = AlertSummary(
            summary_id=claim.summary_id,
            quiet_from=claim.window_start,
            quiet_until=claim.window_end,
            timezone=webhook.timezone or "UTC",
            count=len(alerts),
            alerts=alerts,
        )
        body = summary_body(webhook, summary)
        timestamp = int(self._clock().timestamp())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": self.settings.fetch.user_agent,
            "webhook-id": claim.summary_id,
            "webhook-timestamp": str(timestamp),
        }
        key = self.keys[webhook.key]
        if key is not None:
            headers["webhook-signature"] = sign(key, claim.summary_id, timestamp, body)
        outcome = self._post(webhook, body, headers)
        if outcome.delivered:
            crash_point("webhook-after-post")
        self._finish(webhook, claim.summary_id, claim.attempts, outcome, body, table="webhook_summaries")

    def _finish(
        self,
        webhook: WebhookConfig,
        alert_id: str,
        attempts_before: int,
        outcome: Outcome,
        body: bytes,
        table: str = "webhook_deliveries",
    ) -> None:
        attempts = attempts_before + 1
        error = mask_secrets(outcome.error)[:500] if outcome.error else None
        letter: DeadLetter | None = None
        if outcome.delivered:
            status, next_at = "delivered", None
            log.info("webhook %s: delivered %s (attempt %d)", webhook.key, alert_id, attempts)
        elif outcome.retryable and attempts < webhook.max_attempts:
            status, next_at = "pending", self._clock() + timedelta(seconds=self._backoff(webhook, attempts, outcome))
            log.info(
                "webhook %s: %s for %s, attempt %d of %d; retrying",
                webhook.key,
                error,
                alert_id,
                attempts,
                webhook.max_attempts,
            )
        else:
            status, next_at = "dead", None
            letter = self._dead_letter(webhook, alert_id, attempts, error or "failed", body)
        id_column = "summary_id" if table == "webhook_summaries" else "alert_id"
        with self._session.transaction() as con:
            con.execute(
                f"UPDATE {table} SET status = ?, attempts = ?, last_status = ?, last_error = ?,"  # noqa: S608 - fixed names
                " next_attempt_at = ?, lease_owner = NULL, lease_until = NULL, updated_at = now(),"
                " delivered_at = CASE WHEN ? = 'delivered' THEN now() END"
                f" WHERE webhook = ? AND {id_column} = ?",
                [status, attempts, outcome.status, error, next_at, status, webhook.key, alert_id],
            )
            if letter is not None:
                record_dead_letters(con, [letter])
        with self._counts:
            if status == "delivered":
                self.delivered += 1
                if table == "webhook_summaries":
                    self.summaries += 1
            elif status == "dead":
                self.dead += 1

    def _dead_letter(self, webhook: WebhookConfig, alert_id: str, attempts: int, error: str, body: bytes) -> DeadLetter:
        tried = f"after {attempts} attempts" if attempts > 1 else "not retried"
        what = "summary" if alert_id.startswith("quiet:") else "alert"
        letter = make_dead_letter(
            stage="webhook",
            reason=f"webhook {webhook.key}: {what} {alert_id} not delivered, {tried}: {error}",
            original=body,
            source_name=f"webhook:{webhook.key}",
            url=origin_of(webhook.url),
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
        with self._counts:
            jitter = self._random.uniform(0, delay / 2)
        return delay / 2 + jitter


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
    """The log, newest first: one row per (webhook, alert), and one per quiet-hours summary (id `quiet:...`)."""
    store = Store(settings.store.path, settings.store.lock_timeout_s)
    columns = "webhook, {id} AS alert_id, status, attempts, last_status, last_error, updated_at, delivered_at"
    sql = (
        "SELECT * FROM (SELECT " + columns.format(id="alert_id") + " FROM webhook_deliveries"
        " UNION ALL SELECT "
        + columns.format(id="summary_id")
        + " FROM webhook_summaries)"
        + (" WHERE status = ?" if status else "")
        + " ORDER BY updated_at DESC, alert_id LIMIT ?"
    )
    params: Sequence[object] = [status, limit] if status else [limit]
    with store.read() as con:
        return [DeliveryRow(*row) for row in con.execute(sql, params).fetchall()]


def requeue_deliveries(
    settings: Settings, *, dead: bool = False, due_now: bool = False, webhook: str | None = None
) -> tuple[int, int]:
    """Put deliveries back in line; returns (dead rows revived, pending rows made due now).

    `dead`: rows whose retries ran out (a receiver down longer than its retry window) start again
    as new, attempts at 0, so an alert is never lost to an outage that has ended. `due_now`: rows
    waiting out their backoff are due at once (the receiver is known to be fixed). Alerts and
    quiet-hours summaries alike; `webhook` (a webhook's name, or key) narrows to one. The dead letters
    of the first failure stay, as the record of the outage.
    """
    keys = {w.key for w in settings.alerts.webhooks}
    if webhook is not None and webhook not in keys:
        known = ", ".join(sorted(keys)) or "none configured"
        raise ConfigError(f"--webhook {webhook!r} is not a configured webhook (known: {known})")
    # Rows of a webhook no longer configured stay as they are: no dispatcher would ever claim them.
    params: list[object] = [[webhook] if webhook is not None else sorted(keys)]
    revived = hurried = 0
    with Store(settings.store.path, settings.store.lock_timeout_s).write() as con:
        for table in ("webhook_deliveries", "webhook_summaries"):
            if dead:
                revived += _count(
                    con,
                    f"UPDATE {table} SET status = 'pending', attempts = 0, next_attempt_at = NULL,"
                    " lease_owner = NULL, lease_until = NULL, updated_at = now(),"
                    " last_error = 'requeued after: ' || coalesce(last_error, 'no response')"
                    " WHERE status = 'dead' AND webhook IN (SELECT unnest(?))",
                    params,
                )
            if due_now:
                hurried += _count(
                    con,
                    f"UPDATE {table} SET next_attempt_at = NULL, updated_at = now()"
                    " WHERE status = 'pending' AND next_attempt_at IS NOT NULL AND webhook IN (SELECT unnest(?))",
                    params,
                )
    return revived, hurried


def _count(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[object]) -> int:
    row = con.execute(sql, params).fetchone()
    return int(row[0]) if row else 0
