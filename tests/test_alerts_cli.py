"""`radar alerts tail|list` against the real broker and DuckDB, and what an alert's payload says."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from app.alerts import SourceView, build_alerts, clean_title
from app.cli import main
from app.processor import Processor
from infra.config import AlertSettings, Settings
from infra.kafka import make_producer
from schemas.alert import Alert
from schemas.envelope import dump_envelope
from schemas.event import Event
from tests import crash_harness
from tests.factories import raw_post

AS_OF = datetime(2026, 4, 20, tzinfo=UTC)


@pytest.fixture
def processed(settings: Settings, tmp_path: Path) -> tuple[Settings, Path, set[str]]:
    """A store and an alerts topic holding the alerts of 24 processed posts; a config file naming both."""
    settings = settings.model_copy(update={"alerts": AlertSettings(min_score=10.0)})
    producer = make_producer(settings.kafka.bootstrap, settings.kafka)
    for i in range(24):
        post = raw_post(i, social=i % 4 == 3)
        producer.send(settings.kafka.raw_topic, key=post.key.encode(), value=dump_envelope(post))
    producer.flush()
    producer.close()
    with Processor(settings, bootstrap=settings.kafka.bootstrap, as_of=AS_OF) as processor:
        assert processor.run_once().total("alerts") > 0
    with duckdb.connect(str(settings.store.path), read_only=True) as con:
        ids = {r[0] for r in con.execute("SELECT alert_id FROM alerts_sent").fetchall()}
    config = crash_harness.write_config(settings, tmp_path / "radar.toml", batch_max_records=1000, alert_min_score=10)
    return settings, config, ids


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(args)
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def _json_lines(out: str) -> list[Alert]:
    return [Alert.model_validate_json(line) for line in out.splitlines() if line.strip()]


def test_list_json_reads_every_recorded_alert_without_kafka(
    processed: tuple[Settings, Path, set[str]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings, config, ids = processed
    code, out, err = _run(["--config", str(config), "alerts", "list", "--json"], capsys)
    assert code == 0, err
    alerts = _json_lines(out)
    assert {a.alert_id for a in alerts} == ids and len(alerts) == len(ids)
    # The broker is not needed: the same store behind an unreachable bootstrap still lists them.
    offline = tmp_path / "offline.toml"
    offline.write_text(config.read_text().replace(settings.kafka.bootstrap, "127.0.0.1:1"))
    code, out, err = _run(["--config", str(offline), "alerts", "list", "--json"], capsys)
    assert code == 0, err
    assert {a.alert_id for a in _json_lines(out)} == ids


def test_list_since_and_the_human_table(
    processed: tuple[Settings, Path, set[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    _, config, ids = processed
    # A date is midnight in the digest timezone (Asia/Shanghai): two days ahead is ahead anywhere.
    later = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    code, out, _ = _run(["--config", str(config), "alerts", "list", "--json", "--since", later], capsys)
    assert code == 0 and out == ""
    hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    code, out, _ = _run(["--config", str(config), "alerts", "list", "--json", "--since", hour_ago], capsys)
    assert {a.alert_id for a in _json_lines(out)} == ids
    code, out, err = _run(["--config", str(config), "alerts", "list", "--since", "last tuesday"], capsys)
    assert code == 1 and "--since must be YYYY-MM-DD or an RFC 3339 time" in err
    code, out, _ = _run(["--config", str(config), "alerts", "list"], capsys)
    assert code == 0 and f"alerts recorded: {len(ids)}" in out and "high" in out


def test_list_rebuilds_alerts_recorded_before_their_json_was_kept(
    processed: tuple[Settings, Path, set[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    settings, config, ids = processed
    with duckdb.connect(str(settings.store.path)) as con:
        con.execute("UPDATE alerts_sent SET record = NULL")  # as rows written before migration 005 are
    code, out, err = _run(["--config", str(config), "alerts", "list", "--json"], capsys)
    assert code == 0, err
    alerts = _json_lines(out)
    assert {a.alert_id for a in alerts} == ids and all(a.title for a in alerts)


def test_tail_json_reads_the_topic_from_the_start(
    processed: tuple[Settings, Path, set[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    _, config, ids = processed
    code, out, err = _run(["--config", str(config), "alerts", "tail", "--json"], capsys)
    assert code == 0, err
    assert {a.alert_id for a in _json_lines(out)} == ids
    code, out, _ = _run(["--config", str(config), "alerts", "tail"], capsys)
    assert code == 0 and f"{len(ids)} alert(s)" in out


def test_tail_without_a_running_embedded_broker_starts_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading an embedded broker that is not running would start an empty one and leave it running."""
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "radar.toml"
    config.write_text("# the defaults: the embedded broker, a store under ./data\n", encoding="utf-8")
    for args in (["alerts", "tail", "--json"], ["alerts", "tail"]):
        code, out, err = _run(["--config", str(config), *args], capsys)
        assert code == 0, err
        assert "the embedded broker is not running, so its topic holds nothing" in " ".join(err.split()), err
        assert "--json" not in args or out == ""
    assert not (tmp_path / "data" / "broker" / "broker.json").exists()


def test_tail_follow_prints_new_alerts_as_they_arrive(
    processed: tuple[Settings, Path, set[str]],
) -> None:
    settings, config, ids = processed
    child = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "--config", str(config), "alerts", "tail", "--json", "--follow"],
        env=crash_harness.child_env(config),
        cwd=crash_harness.ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    try:
        seen = {Alert.model_validate_json(lines.get(timeout=60)).alert_id for _ in ids}
        assert seen == ids
        late = Alert(
            alert_id="ev-late:high",
            event_id="ev-late",
            level="high",
            title="A late alert",
            category="policy",
            signal_score=80,
            verification="corroborated",
            created_at=AS_OF,
        )
        producer = make_producer(settings.kafka.bootstrap, settings.kafka)
        producer.send(settings.kafka.alerts_topic, key=late.alert_id.encode(), value=dump_envelope(late)).get(30)
        producer.close()
        assert Alert.model_validate_json(lines.get(timeout=60)) == late
    finally:
        child.send_signal(signal.SIGTERM)
        child.wait(timeout=30)
    assert child.returncode == 0, child.stderr.read() if child.stderr else ""


# --------------------------------------------------------------------------- payloads


def _event(score: float, title: str = "OpenAI launches GPT-5.4-Cyber") -> Event:
    return Event(
        event_id="ev-1",
        title=title,
        category="security-access",
        first_seen=AS_OF,
        last_seen=AS_OF,
        signal_score=score,
        verification="verified-by-official",
        organisations=("openai",),
    )


def _view(
    item: str, publisher: str, tier: str, url: str | None, minutes: int, title: str = "", source_tier: str | None = None
) -> SourceView:
    return SourceView(
        item, "ev-1", publisher, tier, source_tier or tier, url, AS_OF + timedelta(minutes=minutes), title, False
    )


VIEWS = [
    _view("m1", "AI Wire", "media", "https://news.example.com/1", 0, "OpenAI launches GPT-5.4-Cyber, report says"),
    _view(
        "x1",
        "X",
        "social",
        "https://x.com/a/status/1",
        -30,
        "RT @sam: GPT-5.4-Cyber is here https://t.co/x #AI",
        "social",
    ),
    _view("o1", "OpenAI", "official", "https://openai.com/index/cyber", 10, "Trusted Access for Cyber"),
    _view("m2", "AI Wire", "media", "https://news.example.com/2", 20, "Follow-up"),
]


def test_a_complete_payload() -> None:
    settings = AlertSettings(min_score=70)
    (alert,) = build_alerts([_event(75)], set(), AS_OF, settings, lambda ids: VIEWS)
    assert alert.alert_id == "ev-1:high" and alert.previous_alert_id is None
    assert alert.url == "https://openai.com/index/cyber", "the official source first"
    assert alert.published_at == AS_OF - timedelta(minutes=30), "the first item's publication time"
    assert [(s.publisher, s.tier) for s in alert.sources] == [
        ("OpenAI", "official"),
        ("AI Wire", "media"),
        ("X", "social"),
    ]
    assert alert.organisations == ("openai",)


def test_levels_rise_once_each_and_name_the_previous_alert() -> None:
    settings = AlertSettings(min_score=70, critical_score=85)
    assert build_alerts([_event(60)], set(), AS_OF, settings) == []
    (critical,) = build_alerts([_event(90)], {"ev-1:high"}, AS_OF, settings)
    assert critical.level == "critical" and critical.previous_alert_id == "ev-1:high"
    assert build_alerts([_event(90)], {"ev-1:high", "ev-1:critical"}, AS_OF, settings) == []
    assert build_alerts([_event(75)], {"ev-1:critical"}, AS_OF, settings) == [], "a falling score raises nothing"
    (direct,) = build_alerts([_event(99)], set(), AS_OF, settings)
    assert direct.level == "critical" and direct.previous_alert_id is None


def test_max_event_age_keeps_old_news_from_alerting() -> None:
    """Ops review (session 19): a first run raised alerts for events published weeks before."""
    settings = AlertSettings(min_score=70, max_event_age_hours=48)
    fresh = _event(75)
    old = fresh.model_copy(update={"first_seen": AS_OF - timedelta(days=20), "last_seen": AS_OF - timedelta(days=19)})
    assert build_alerts([old], set(), AS_OF, settings) == [], "old news raises nothing"
    revived = old.model_copy(update={"last_seen": AS_OF - timedelta(hours=1)})
    (alert,) = build_alerts([revived], set(), AS_OF, settings)  # new coverage today: news again
    assert alert.alert_id == "ev-1:high"
    assert len(build_alerts([old], set(), AS_OF, AlertSettings(min_score=70))) == 1, "off by default"


@pytest.mark.parametrize(
    ("title", "views", "expected"),
    [
        ("RT @sam: GPT-5.4-Cyber is here https://t.co/x #AI", VIEWS, "Trusted Access for Cyber"),
        ("RT @sam: GPT-5.4-Cyber is here https://t.co/x #AI", VIEWS[:2], "OpenAI launches GPT-5.4-Cyber, report says"),
        ("RT @sam: GPT-5.4-Cyber is here https://t.co/x #AI #LLM", VIEWS[1:2], "GPT-5.4-Cyber is here"),
        (
            "https://t.co/only-a-link",
            [_view("x", "X", "social", None, 0, "https://t.co/only-a-link", "social")],
            "security-access news from X",
        ),
        ("A " + "very " * 40 + "long headline", [], "A " + ("very " * 23).strip() + "…"),
    ],
    ids=[
        "post-text-replaced-by-the-official-headline",
        "post-text-replaced-by-a-media-headline",
        "post-text-tidied",
        "a-bare-link",
        "truncated-on-a-word",
    ],
)
def test_clean_titles(title: str, views: list[SourceView], expected: str) -> None:
    assert clean_title(title, views, "security-access news from X") == expected


def test_json_lines_are_alert_documents(
    processed: tuple[Settings, Path, set[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    _, config, _ = processed
    _, out, _ = _run(["--config", str(config), "alerts", "list", "--json"], capsys)
    for line in out.splitlines():
        doc = json.loads(line)
        assert doc["schema"] == "alert" and doc["version"] == 1
        assert doc["sources"] and doc["published_at"] and doc["url"]


def test_an_alert_written_before_the_payload_grew_still_parses() -> None:
    from schemas.envelope import parse_envelope

    old = (
        b'{"schema":"alert","version":1,"alert_id":"ev-openai-cyber:high","event_id":"ev-openai-cyber",'
        b'"level":"high","title":"OpenAI expands Trusted Access for Cyber","category":"security-access",'
        b'"signal_score":82.5,"verification":"verified-by-official","reasons":["confirmed by the official blog"],'
        b'"url":null,"created_at":"2026-04-14T17:10:00Z"}'
    )
    alert = parse_envelope(old)
    assert isinstance(alert, Alert) and alert.sources == () and alert.previous_alert_id is None
