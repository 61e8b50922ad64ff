"""Webhooks against a real receiver on 127.0.0.1 and a real DuckDB file: signing, retries, dead letters,
routing, Slack bodies, config, and the processor delivering once per (webhook, alert) across crashes."""

from __future__ import annotations

import base64
import json
import logging
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from app.alerts import record_alerts
from app.processor import Processor
from infra.config import AlertSettings, ConfigError, Settings, WebhookConfig, load_settings
from infra.dlq import replay_dead_letters
from infra.kafka import close_producer, end_offsets, make_consumer, make_producer, partitions_of, read_range
from infra.store import Store
from infra.webhooks import WebhookDispatcher, load_secret, requeue_deliveries, sign, slack_body, verify
from schemas.alert import Alert, AlertSource
from schemas.dead_letter import DeadLetter
from schemas.envelope import dump_envelope, parse_envelope
from tests import crash_harness
from tests.factories import raw_post
from tests.webhook_support import HANG, receiver

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
SECRET_ENV = "RADAR_TEST_WEBHOOK_SECRET_X"  # not a RADAR_<SECTION>__ key: conftest's cleanup is for those
AS_OF = datetime(2026, 4, 20, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)


def _hook(url: str, **extra: object) -> WebhookConfig:
    fields: dict[str, object] = {
        "url": url,
        "secret_env": SECRET_ENV,
        "local": True,
        "timeout_s": 5,
        "backoff_s": 0.01,
        "max_backoff_s": 0.05,
    }
    fields.update(extra)
    return WebhookConfig(**fields)  # type: ignore[arg-type]


def _with_hooks(settings: Settings, *hooks: WebhookConfig, **alerts: object) -> Settings:
    return settings.model_copy(update={"alerts": AlertSettings(webhooks=list(hooks), **alerts)})  # type: ignore[arg-type]


def _alert(i: int, level: str = "high", category: str = "security-access") -> Alert:
    return Alert(
        alert_id=f"ev-{i}:{level}",
        event_id=f"ev-{i}",
        level=level,
        title=f"OpenAI <ships> model {i} & more",
        category=category,
        signal_score=90.0 if level == "critical" else 75.0,
        verification="verified-by-official",
        reasons=("confirmed by the official blog",),
        url=f"https://openai.com/index/{i}",
        created_at=AS_OF,
        published_at=AS_OF,
        sources=(
            AlertSource(publisher="OpenAI", tier="official", url=f"https://openai.com/index/{i}"),
            AlertSource(publisher="AI Wire", tier="media", url=f"https://news.example.com/{i}"),
        ),
    )


def _record(settings: Settings, alerts: list[Alert]) -> int:
    """What the processor's commit does for alerts: alerts_sent rows, then their JSON and deliveries."""
    with Store(settings.store.path).write() as con:
        for a in alerts:
            con.execute(
                "INSERT INTO alerts_sent (alert_id, event_id, level, signal_score) VALUES (?, ?, ?, ?)",
                [a.alert_id, a.event_id, a.level, a.signal_score],
            )
        return record_alerts(con, alerts, settings.alerts)


def _log(settings: Settings) -> dict[str, tuple[str, int, int | None]]:
    with duckdb.connect(str(settings.store.path), read_only=True) as con:
        rows = con.execute("SELECT alert_id, status, attempts, last_status FROM webhook_deliveries").fetchall()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def _topic(settings: Settings, topic: str) -> list[object]:
    consumer = make_consumer(settings.kafka.bootstrap, settings.kafka)
    try:
        tps = partitions_of(consumer, topic)
        ends = end_offsets(consumer, tps)
        return [parse_envelope(r.value) for tp in tps for r in read_range(consumer, tp, 0, ends[tp])]
    finally:
        consumer.close()


@pytest.fixture
def producer(settings: Settings) -> Iterator[object]:
    p = make_producer(settings.kafka.bootstrap, settings.kafka)
    yield p
    close_producer(p)


# --------------------------------------------------------------------------- signing


def test_signature_matches_the_standard_webhooks_test_vector() -> None:
    # The example of the Standard Webhooks specification / reference libraries.
    key = load_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    body = b'{"test": 2432232314}'
    signature = sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    headers = {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": signature,
    }
    assert verify(key, headers, body, now=1614265330 + 10)
    assert not verify(key, headers, body + b" ", now=1614265330 + 10)
    assert not verify(key, headers, body, now=1614265330 + 3600), "a replay an hour later is refused"


@pytest.mark.parametrize("bad", ["whsec_not base64!", "whsec_" + base64.b64encode(b"short").decode()])
def test_unusable_secrets_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        load_secret(bad)


def test_a_signed_standard_delivery_verifies_with_the_reference_library(settings: Settings) -> None:
    with receiver() as r:
        settings = _with_hooks(settings, _hook(r.url))
        alert = _alert(1)
        assert _record(settings, [alert]) == 1
        dispatcher = WebhookDispatcher(settings)
        assert dispatcher.drain(10) == 0
        assert len(r.requests) == 1
    got = r.requests[0]
    assert got.headers["webhook-id"] == alert.alert_id
    assert got.headers["Content-Type"] == "application/json"
    # Independent check: the `standardwebhooks` package (PyPI), which also checks the timestamp.
    payload = Webhook(SECRET).verify(got.body, got.headers)
    assert payload["alert_id"] == alert.alert_id
    assert Alert.model_validate_json(got.body) == alert
    assert verify(load_secret(SECRET), got.headers, got.body)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(got.body.replace(b"75.0", b"99.0"), got.headers)
    assert _log(settings) == {alert.alert_id: ("delivered", 1, 200)}


def test_a_keep_alive_receiver_gets_every_delivery_over_one_connection(settings: Settings) -> None:
    with receiver(keep_alive=True) as r:
        settings = _with_hooks(settings, _hook(r.url))
        alerts = [_alert(i) for i in range(6)]
        _record(settings, alerts)
        assert WebhookDispatcher(settings).drain(10) == 0
    assert [q.headers["webhook-id"] for q in r.requests] == sorted(a.alert_id for a in alerts)
    assert len({q.peer for q in r.requests}) == 1, "one TCP connection for the burst"
    assert all(q.headers.get("Connection") != "close" for q in r.requests)
    assert {status for status, _, _ in _log(settings).values()} == {"delivered"}


def test_a_kept_connection_the_receiver_dropped_is_replaced_without_loss_or_repeat(settings: Settings) -> None:
    # The receiver keeps no connection past its answer yet never says so: every kept connection is
    # stale at the next POST, which must go out again, once, on a new connection.
    with receiver(keep_alive=True, drop_after=True) as r:
        settings = _with_hooks(settings, _hook(r.url))
        alerts = [_alert(i) for i in range(4)]
        _record(settings, alerts)
        assert WebhookDispatcher(settings).drain(10) == 0
    assert [q.headers["webhook-id"] for q in r.requests] == sorted(a.alert_id for a in alerts)
    assert len({q.peer for q in r.requests}) == 4
    assert _log(settings) == {a.alert_id: ("delivered", 1, 200) for a in alerts}


# --------------------------------------------------------------------------- retries and dead letters


def test_5xx_and_429_are_retried_with_the_same_id_until_success(settings: Settings) -> None:
    with receiver(script=[500, 429, 503], retry_after="0") as r:
        settings = _with_hooks(settings, _hook(r.url))
        _record(settings, [_alert(1)])
        assert WebhookDispatcher(settings).drain(10) == 0
    assert [q.status for q in r.requests] == [500, 429, 503, 200]
    assert {q.headers["webhook-id"] for q in r.requests} == {"ev-1:high"}
    for q in r.requests:
        Webhook(SECRET).verify(q.body, q.headers)  # every attempt is signed afresh
    assert _log(settings) == {"ev-1:high": ("delivered", 4, 200)}


def test_a_4xx_is_not_retried_and_becomes_a_dead_letter(settings: Settings, producer: object) -> None:
    with receiver(script=[400]) as r:
        settings = _with_hooks(settings, _hook(r.url, name="team"))
        _record(settings, [_alert(1), _alert(2)])
        dispatcher = WebhookDispatcher(settings, producer=producer)  # type: ignore[arg-type]
        assert dispatcher.drain(10) == 0
    assert [q.status for q in r.requests] == [400, 200], "one attempt for the refused one; the next goes on"
    assert _log(settings) == {"ev-1:high": ("dead", 1, 400), "ev-2:high": ("delivered", 1, 200)}
    letters = [d for d in _topic(settings, settings.kafka.dlq_topic) if isinstance(d, DeadLetter)]
    assert len(letters) == 1 and letters[0].stage == "webhook"
    assert "ev-1:high" in letters[0].reason and "HTTP 400" in letters[0].reason and "not retried" in letters[0].reason
    assert letters[0].url == r.url.rsplit("/", 1)[0], "the origin only: a webhook path can be a credential"
    with duckdb.connect(str(settings.store.path), read_only=True) as con:
        assert con.execute("SELECT stage, source_name FROM dead_letters").fetchall() == [("webhook", "webhook:team")]


def test_the_last_failed_attempt_dead_letters(settings: Settings, producer: object) -> None:
    with receiver(default=503) as r:
        settings = _with_hooks(settings, _hook(r.url, max_attempts=3))
        _record(settings, [_alert(1)])
        WebhookDispatcher(settings, producer=producer).drain(10)  # type: ignore[arg-type]
    assert len(r.requests) == 3
    assert _log(settings) == {"ev-1:high": ("dead", 3, 503)}
    letter = next(d for d in _topic(settings, settings.kafka.dlq_topic) if isinstance(d, DeadLetter))
    assert "after 3 attempts" in letter.reason
    assert Alert.model_validate_json(letter.original).alert_id == "ev-1:high", "the body is kept for a resend"


def test_a_dead_delivery_is_sent_again_once_requeued(settings: Settings, producer: object) -> None:
    """Ops review (session 19): a receiver down longer than the retry window lost its alert for good:
    neither `radar dlq replay` nor `radar alerts deliver` could send it again."""
    with receiver(default=503) as down:
        settings = _with_hooks(settings, _hook(down.url, name="team", max_attempts=2))
        _record(settings, [_alert(1)])
        WebhookDispatcher(settings, producer=producer).drain(10)  # type: ignore[arg-type]
    assert _log(settings) == {"ev-1:high": ("dead", 2, 503)}
    # The DLQ replay names the way to resend it, not "re-run radar ingest" (which raises no alert again).
    replay = replay_dead_letters(settings)
    assert replay.replayed == 0, replay
    assert "`radar alerts deliver --requeue-dead` sends them again" in (replay.skip_reason or ""), replay
    with receiver() as back:
        settings = _with_hooks(settings, _hook(back.url, name="team", max_attempts=2))
        with pytest.raises(ConfigError, match="'nope' is not a configured webhook"):
            requeue_deliveries(settings, dead=True, webhook="nope")
        assert requeue_deliveries(settings, dead=True, webhook="team") == (1, 0)
        assert WebhookDispatcher(settings, producer=producer).drain(10) == 0  # type: ignore[arg-type]
        assert requeue_deliveries(settings, dead=True) == (0, 0), "nothing dead is left"
    assert [q.headers["webhook-id"] for q in back.requests] == ["ev-1:high"], "the same id: receivers dedupe by it"
    assert _log(settings) == {"ev-1:high": ("delivered", 1, 200)}


def test_radar_alerts_deliver_requeue_dead_sends_a_dead_delivery_again(settings: Settings, tmp_path: Path) -> None:
    with receiver(default=503) as down:
        dead_settings = _with_hooks(settings, _hook(down.url, name="team", max_attempts=1))
        _record(dead_settings, [_alert(1)])
        WebhookDispatcher(dead_settings).drain(10)
    assert _log(dead_settings) == {"ev-1:high": ("dead", 1, 503)}
    with receiver() as back:
        config = crash_harness.write_config(settings, tmp_path / "radar.toml", batch_max_records=8, alert_min_score=10)
        with config.open("a") as handle:
            handle.write(
                f'[[alerts.webhooks]]\nname = "team"\nurl = "{back.url}"\nsecret_env = "{SECRET_ENV}"\nlocal = true\n'
            )
        result = _run_child(
            [sys.executable, "-m", "app.cli", "alerts", "deliver", "--requeue-dead", "--webhook", "team"], config
        )
    assert result.returncode == 0, result.stderr
    out = " ".join(result.stdout.split())
    assert "requeued 1 dead deliveries" in out and "delivered 1, dead-lettered 0, still pending 0" in out, out
    assert [q.headers["webhook-id"] for q in back.requests] == ["ev-1:high"]


def test_now_makes_a_backed_off_delivery_due_at_once(settings: Settings) -> None:
    with receiver(script=[503]) as r:
        settings = _with_hooks(settings, _hook(r.url, backoff_s=3600, max_backoff_s=3600))
        _record(settings, [_alert(1)])
        assert WebhookDispatcher(settings).drain(1) == 1, "after a 503 it waits an hour"
        assert requeue_deliveries(settings, due_now=True) == (0, 1)
        assert WebhookDispatcher(settings).drain(10) == 0
    assert [q.status for q in r.requests] == [503, 200]


def test_a_timeout_is_retried(settings: Settings) -> None:
    with receiver(script=[HANG]) as r:
        settings = _with_hooks(settings, _hook(r.url, timeout_s=0.5))
        _record(settings, [_alert(1)])
        assert WebhookDispatcher(settings).drain(20) == 0
    assert [q.status for q in r.requests] == [HANG, 200]
    assert _log(settings)["ev-1:high"] == ("delivered", 2, 200)


def test_loopback_needs_local_true(settings: Settings) -> None:
    with receiver() as r:
        settings = _with_hooks(settings, _hook(r.url, local=False))
        _record(settings, [_alert(1)])
        WebhookDispatcher(settings).drain(10)
    assert r.requests == []
    with duckdb.connect(str(settings.store.path), read_only=True) as con:
        status, error = con.execute("SELECT status, last_error FROM webhook_deliveries").fetchone()
    assert status == "dead" and "needs local = true" in error


def test_a_missing_secret_keeps_deliveries_waiting(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    with receiver() as r:
        settings = _with_hooks(settings, _hook(r.url))
        _record(settings, [_alert(1)])
        monkeypatch.delenv(SECRET_ENV)
        assert WebhookDispatcher(settings).drain(1) == 1
        assert r.requests == []
        monkeypatch.setenv(SECRET_ENV, SECRET)
        assert WebhookDispatcher(settings).drain(10) == 0
    assert len(r.requests) == 1


def test_two_dispatchers_at_once_post_each_alert_once(settings: Settings) -> None:
    import threading

    with receiver() as r:
        settings = _with_hooks(settings, _hook(r.url))
        _record(settings, [_alert(i) for i in range(12)])
        a, b = WebhookDispatcher(settings), WebhookDispatcher(settings)
        threads = [threading.Thread(target=d.drain, args=(20,)) for d in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert Counter(q.headers["webhook-id"] for q in r.requests) == Counter({f"ev-{i}:high": 1 for i in range(12)})


# --------------------------------------------------------------------------- routing and formats


def test_routing_by_level_and_category(settings: Settings) -> None:
    settings = _with_hooks(
        settings,
        _hook("http://127.0.0.1:9/all", name="all"),
        _hook("http://127.0.0.1:9/critical", name="critical", min_level="critical"),
        _hook("http://127.0.0.1:9/capital", name="capital", categories=["capital"]),
    )
    alerts = [_alert(1), _alert(2, "critical"), _alert(3, category="capital")]
    assert _record(settings, alerts) == 3 + 1 + 1
    with duckdb.connect(str(settings.store.path), read_only=True) as con:
        owed = set(con.execute("SELECT webhook, alert_id FROM webhook_deliveries").fetchall())
        recorded = {r[0]: json.loads(r[1]) for r in con.execute("SELECT alert_id, record FROM alerts_sent").fetchall()}
    assert owed == {
        ("all", "ev-1:high"),
        ("all", "ev-2:critical"),
        ("all", "ev-3:high"),
        ("critical", "ev-2:critical"),
        ("capital", "ev-3:high"),
    }
    assert recorded["ev-2:critical"]["level"] == "critical"


def test_slack_format_is_block_kit(settings: Settings) -> None:
    alert = _alert(7, "critical").model_copy(update={"previous_alert_id": "ev-7:high"})
    body = json.loads(slack_body(alert))
    assert body["text"] == "[CRITICAL] OpenAI &lt;ships&gt; model 7 &amp; more"
    header, fields, source, context = body["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": alert.title, "emoji": False}}
    texts = [f["text"] for f in fields["fields"]]
    assert texts[0].endswith("critical") and "security-access" in texts[1] and "verified-by-official" in texts[2]
    assert source["text"]["text"] == "*Source*: <https://openai.com/index/7|OpenAI> (+1 more)"
    assert "ev-7:high" in context["elements"][0]["text"]
    with receiver() as r:
        settings = _with_hooks(settings, _hook(r.url, format="slack"))
        _record(settings, [alert])
        WebhookDispatcher(settings).drain(10)
    assert json.loads(r.requests[0].body) == body
    Webhook(SECRET).verify(r.requests[0].body, r.requests[0].headers)


# --------------------------------------------------------------------------- configuration


def test_webhook_tables_and_old_url_lists_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "radar.toml"
    config.write_text(
        "[alerts]\nmin_score = 60\n"
        f'[[alerts.webhooks]]\nurl = "https://hooks.example.com/radar"\nsecret_env = "{SECRET_ENV}"\n'
        'format = "standard"\nmin_level = "high"\n'
        '[[alerts.webhooks]]\nurl = "https://hooks.slack.com/services/T0/B0/XXXX"\nformat = "slack"\n'
        'min_level = "critical"\ncategories = ["capital", "policy"]\n'
    )
    settings = load_settings(config)
    standard, slack = settings.alerts.webhooks
    assert (standard.format, standard.secret_env, standard.local) == ("standard", SECRET_ENV, False)
    assert (slack.min_level, slack.categories) == ("critical", ["capital", "policy"])
    shown = json.dumps(settings.redacted())
    assert "XXXX" not in shown and "https://hooks.slack.com/***" in shown
    old = tmp_path / "old.toml"
    old.write_text('[alerts]\nwebhooks = ["https://hooks.example.com/a", "https://hooks.example.com/b"]\n')
    assert [w.url for w in load_settings(old).alerts.webhooks] == [
        "https://hooks.example.com/a",
        "https://hooks.example.com/b",
    ]
    monkeypatch.setenv("RADAR_ALERTS__WEBHOOKS", '["https://hooks.example.com/env"]')
    assert [w.url for w in load_settings(None).alerts.webhooks] == ["https://hooks.example.com/env"]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('url = "http://127.0.0.1:9/x"\nlocal = "yes"', "alerts.webhooks.0.local"),
        ('url = "ftp://example.com/x"', "alerts.webhooks.0.url"),
        ('url = "https://a.example/x"\nformat = "teams"', "alerts.webhooks.0.format"),
        ('url = "https://a.example/x"\nmin_level = "low"', "alerts.webhooks.0.min_level"),
        ('url = "https://a.example/x"\ncategories = ["gossip"]', "alerts.webhooks.0.categories"),
        ('url = "https://a.example/x"\nsurprise = 1', "alerts.webhooks.0.surprise: unknown key"),
    ],
)
def test_bad_webhook_tables_name_the_key(tmp_path: Path, table: str, message: str) -> None:
    config = tmp_path / "radar.toml"
    config.write_text(f"[[alerts.webhooks]]\n{table}\n")
    with pytest.raises(ConfigError, match=message):
        load_settings(config)


def test_the_signing_secret_never_reaches_a_log_line(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    _hook("https://hooks.example.com/x")  # validating the table registers the secret
    with caplog.at_level(logging.INFO):
        logging.getLogger("infra.webhooks").warning("receiver echoed %s", SECRET)
    assert SECRET not in caplog.text and "***" in caplog.text


# --------------------------------------------------------------------------- the processor


def _produce(settings: Settings, count: int) -> None:
    producer = make_producer(settings.kafka.bootstrap, settings.kafka)
    for i in range(count):
        post = raw_post(i, social=i % 4 == 3)
        producer.send(settings.kafka.raw_topic, key=post.key.encode(), value=dump_envelope(post))
    producer.flush()
    producer.close()


def test_the_processor_delivers_each_alert_it_records(settings: Settings) -> None:
    _produce(settings, 24)
    with receiver() as r:
        settings = _with_hooks(settings, _hook(r.url), min_score=10.0)
        with Processor(settings, bootstrap=settings.kafka.bootstrap, as_of=AS_OF) as processor:
            report = processor.run_once()
        # close() drained the deliveries: every recorded alert reached the receiver once.
    assert report.total("alerts") > 0
    with duckdb.connect(str(settings.store.path), read_only=True) as con:
        recorded = {r[0] for r in con.execute("SELECT alert_id FROM alerts_sent").fetchall()}
    got = Counter(q.headers["webhook-id"] for q in r.requests)
    assert set(got) == recorded and set(got.values()) == {1}
    for q in r.requests:
        alert = Alert.model_validate(Webhook(SECRET).verify(q.body, q.headers))
        assert alert.sources and alert.url == alert.sources[0].url and alert.published_at is not None
        assert "http" not in alert.title


def _run_child(command: list[str], config: Path) -> subprocess.CompletedProcess[str]:
    """A radar command in a child process, on `config`, with the webhook secret set."""
    return subprocess.run(
        command,
        env={**crash_harness.child_env(config), SECRET_ENV: SECRET},
        cwd=crash_harness.ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _crash_config(settings: Settings, path: Path, hook_url: str) -> Path:
    crash_harness.write_config(settings, path, batch_max_records=8, alert_min_score=10)
    with path.open("a") as handle:
        handle.write(
            f'drain_timeout_s = 60\n[[alerts.webhooks]]\nurl = "{hook_url}"\nsecret_env = "{SECRET_ENV}"\n'
            "local = true\ntimeout_s = 2\nbackoff_s = 0.05\n"
        )
    return path


def test_crashes_between_sending_and_recording_deliver_each_alert_once(settings: Settings, tmp_path: Path) -> None:
    """Processor crashes around the alert send, the commit and the webhook POST; then a replay."""
    _produce(settings, 40)
    command = crash_harness.process_command()
    with receiver() as r:
        config = _crash_config(settings, tmp_path / "crash.toml", r.url)

        def env(crash: crash_harness.Crash | None = None) -> dict[str, str]:
            return {**crash_harness.child_env(config, crash), SECRET_ENV: SECRET}

        # Alerts on the topic, nothing recorded: nothing may reach the webhook yet.
        crash = crash_harness.Crash("after-alert-send", 1, "exit")
        crash_harness.crash_once(command, env(crash), crash)
        assert r.requests == []
        # Offsets, alerts and their owed deliveries written but not committed (a real SIGKILL while the
        # transaction is open): all of it is redone, nothing was owed yet.
        crash = crash_harness.Crash("commit-before-end", 1, "kill")
        crash_harness.crash_once(command, env(crash), crash)
        assert r.requests == []
        # A receiver answered 2xx and the log did not say so yet: the one repeat there can be. (The
        # dispatcher posts one delivery at a time, so exactly one is in flight when this child dies.)
        crash = crash_harness.Crash("webhook-after-post", 1, "exit")
        crash_harness.crash_once(command, env(crash), crash)
        in_flight = [q.headers["webhook-id"] for q in r.requests]
        code, stderr = crash_harness.run(command, env())
        assert code == 0, stderr
        # Replay the raw topic from offset 0: every alert is already recorded, none goes out again.
        with duckdb.connect(str(settings.store.path)) as con:
            con.execute("DELETE FROM consumer_offsets")
        before_replay = len(r.requests)
        code, stderr = crash_harness.run(command, env())
        assert code == 0, stderr
        assert len(r.requests) == before_replay
    with duckdb.connect(str(settings.store.path), read_only=True) as con:
        recorded = {row[0] for row in con.execute("SELECT alert_id FROM alerts_sent").fetchall()}
        log = dict(con.execute("SELECT alert_id, status FROM webhook_deliveries").fetchall())
    got = Counter(q.headers["webhook-id"] for q in r.requests)
    assert recorded and set(got) == recorded, "every recorded alert reached the webhook"
    assert set(log.values()) == {"delivered"} and set(log) == recorded
    assert len(in_flight) == 1, in_flight
    assert {k: n for k, n in got.items() if n > 1} == {in_flight[0]: 2}, "only the in-flight one repeats"
    topic = Counter(a.alert_id for a in _topic(settings, settings.kafka.alerts_topic))  # type: ignore[attr-defined]
    assert set(topic) == recorded
    for q in r.requests:
        Webhook(SECRET).verify(q.body, q.headers)
        assert q.headers["webhook-id"] == Alert.model_validate_json(q.body).alert_id


def test_process_once_reports_what_its_webhooks_delivered_and_dead_lettered(settings: Settings, tmp_path: Path) -> None:
    """Its summary once said "0 dead letters" while every delivery to a webhook died."""
    _produce(settings, 24)
    with receiver() as r:
        config = _crash_config(settings, tmp_path / "radar.toml", r.url)
        with config.open("a") as handle:
            # Loopback without `local = true`: refused by the address guard, dead on the first attempt.
            handle.write('[[alerts.webhooks]]\nname = "refused"\nurl = "http://127.0.0.1:9/hook"\n')
        result = _run_child(crash_harness.process_command(), config)
        assert result.returncode == 0, result.stderr
        delivered = len(r.requests)
    assert delivered > 0
    line = next(x for x in result.stdout.splitlines() if x.startswith("webhooks:"))
    assert line == (
        f"webhooks: {delivered} delivered, {delivered} dead-lettered, 0 still pending; "
        "`radar alerts deliveries` shows why"
    ), result.stdout
