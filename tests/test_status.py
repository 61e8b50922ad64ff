"""`radar status [--json]` (DESIGN.md §6): real broker, real DuckDB, real ingest."""

from __future__ import annotations

import json
import socket
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from kafka import KafkaProducer

from app.cli import main
from connectors.ingest import run_ingest
from connectors.sample_server import sample_sources, serve_corpus
from connectors.source_runs import record_source_run
from infra.config import Settings
from infra.dlq import make_dead_letter, record_dead_letters
from infra.status import DEAD_LETTER_GROUPS_SHOWN, PROCESSOR_CONSUMER, collect_status
from infra.store import Store
from schemas.status import Status
from tests.connector_support import source, with_sources


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(tmp_path: Path, settings: Settings | None = None, *, bootstrap: str = "embedded") -> Path:
    """A config file for the CLI naming the test's topics and store (absolute paths)."""
    lines = [f'data_dir = "{tmp_path / "data"}"', "[kafka]", f'bootstrap = "{bootstrap}"']
    if settings is not None:
        kafka = settings.kafka
        lines += [
            f'raw_topic = "{kafka.raw_topic}"',
            f'dlq_topic = "{kafka.dlq_topic}"',
            f'alerts_topic = "{kafka.alerts_topic}"',
        ]
    store = settings.store.path if settings is not None else tmp_path / "data" / "radar.duckdb"
    lines += ["[store]", f'path = "{store}"', "lock_timeout_s = 30"]
    path = tmp_path / "radar.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(args)
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def _produce(bootstrap: str, topic: str, per_partition: dict[int, int]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for partition, n in per_partition.items():
            for i in range(n):
                producer.send(topic, value=f"r{i}".encode(), partition=partition)
        producer.flush(timeout=30)
    finally:
        producer.close(timeout=10)


# --------------------------------------------------------------------------- no broker, no store


def test_no_broker_and_no_store_is_a_status_not_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = _config(tmp_path)  # embedded broker, never started in this data dir
    code, out, err = _run_cli(["-c", str(config), "status", "--json"], capsys)
    assert code == 0, err
    status = Status.model_validate_json(out)  # exactly one JSON document on stdout
    assert json.loads(out)["schema"] == "status"
    assert status.lag.known is False and status.lag.total is None
    assert "embedded broker not running" in (status.lag.reason or "")
    assert status.store.exists is False
    assert status.counts.model_dump() == {"items": 0, "events": 0, "alerts": 0, "dead_letters": 0, "digests": 0}
    assert status.dead_letters.total == 0 and status.last_digest is None and status.sources == []
    # Asking must not create what it reports on: no store, no broker.
    assert not (tmp_path / "data" / "radar.duckdb").exists()
    assert not (tmp_path / "data" / "broker" / "broker.json").exists()

    code, out, err = _run_cli(["-c", str(config), "status"], capsys)
    assert code == 0, err
    flat = " ".join(out.split())
    for heading in (
        "consumer lag: processor on radar.raw.v1",
        "counts",
        "dead letters by stage and reason (0)",
        "sources (0)",
        "last digest",
    ):
        assert heading in flat
    assert "unknown: embedded broker not running" in flat
    assert "Traceback" not in err


def test_unreachable_real_bootstrap_is_unknown_with_the_reason(settings: Settings) -> None:
    dead = settings.model_copy(
        update={"kafka": settings.kafka.model_copy(update={"bootstrap": f"127.0.0.1:{_free_port()}"})}
    )
    status = collect_status(dead)
    assert status.lag.known is False
    assert "Kafka unreachable" in (status.lag.reason or "")


def test_missing_raw_topic_is_unknown_with_the_reason(settings: Settings, broker: str) -> None:
    absent = settings.model_copy(
        update={"kafka": settings.kafka.model_copy(update={"raw_topic": settings.kafka.raw_topic + ".absent"})}
    )
    status = collect_status(absent)
    assert status.lag.known is False
    assert "does not exist" in (status.lag.reason or "")


# --------------------------------------------------------------------------- lag


def test_lag_per_partition_from_stored_offsets_and_partition_ends(settings: Settings, broker: str) -> None:
    topic = settings.kafka.raw_topic
    _produce(broker, topic, {0: 5, 1: 3, 2: 0})
    empty = collect_status(settings)  # no store file yet: nothing committed
    assert empty.lag.known and [(p.partition, p.committed, p.end, p.lag) for p in empty.lag.partitions] == [
        (0, 0, 5, 5),
        (1, 0, 3, 3),
        (2, 0, 0, 0),
    ]
    assert empty.lag.total == 8

    with Store(settings.store.path).write() as con:
        con.executemany(
            "INSERT INTO consumer_offsets (consumer, topic, partition, next_offset) VALUES (?, ?, ?, ?)",
            [
                [PROCESSOR_CONSUMER, topic, 0, 2],
                [PROCESSOR_CONSUMER, topic, 1, 3],
                # Another consumer's offsets are not the processor's lag.
                ["someone-else", topic, 0, 5],
            ],
        )
    status = collect_status(settings)
    assert [(p.partition, p.committed, p.end, p.lag) for p in status.lag.partitions] == [
        (0, 2, 5, 3),
        (1, 3, 3, 0),
        (2, 0, 0, 0),
    ]
    assert status.lag.total == 3 and status.lag.note is None

    # The same figures as the processor's own view of its lag.
    from app.processor import Processor

    with Processor(settings, bootstrap=broker) as processor:
        assert processor.lag() == {p.partition: p.lag for p in status.lag.partitions}


def test_offsets_of_an_older_topic_incarnation_count_as_zero(settings: Settings, broker: str) -> None:
    topic = settings.kafka.raw_topic
    _produce(broker, topic, {0: 4})
    with Store(settings.store.path).write() as con:
        con.execute(
            "INSERT INTO topic_incarnations (topic, topic_id) VALUES (?, ?)",
            [topic, "00000000-dead-beef-0000-000000000001"],
        )
        con.execute(
            "INSERT INTO consumer_offsets (consumer, topic, partition, next_offset) VALUES (?, ?, 0, 4)",
            [PROCESSOR_CONSUMER, topic],
        )
    status = collect_status(settings)
    assert status.lag.partitions[0].lag == 4 and status.lag.partitions[0].committed == 0
    assert "new topic" in (status.lag.note or "")


# --------------------------------------------------------------------------- store contents


def test_counts_dead_letter_groups_sources_and_last_digest(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(UTC)
    configured = with_sources(
        settings,
        [
            source("good-feed", "feed", "http://127.0.0.1:9/good.xml"),
            source("bad-feed", "feed", "http://127.0.0.1:9/bad.xml"),
            source("never-ran", "feed", "http://127.0.0.1:9/never.xml"),
            source("old-store", "feed", "http://127.0.0.1:9/old.xml"),
        ],
    )
    letters = [
        make_dead_letter(
            stage="fetch",
            reason="HTTP 503",
            source_name="bad-feed",
            url=f"http://x/{i}",
            occurred_at=now - timedelta(minutes=i),
        )
        for i in range(3)
    ] + [
        make_dead_letter(
            stage="normalize", reason="no title and no text", source_name="good-feed", url="http://x/n", occurred_at=now
        ),
        # Written before source_runs existed: its dead letter alone says when the source failed.
        make_dead_letter(
            stage="parse",
            reason="not a feed",
            source_name="old-store",
            url="http://x/o",
            occurred_at=now - timedelta(hours=3),
        ),
        make_dead_letter(
            stage="fetch",
            reason="HTTP 404",
            source_name="removed-source",
            url="http://x/r",
            occurred_at=now - timedelta(days=3),
        ),
    ]
    store = Store(settings.store.path)
    with store.write() as con:
        record_dead_letters(con, letters)
        record_source_run(con, "good-feed", ok=True, produced=7, error=None, at=now - timedelta(hours=2))
        record_source_run(con, "good-feed", ok=False, produced=0, error="fetch: timed out", at=now - timedelta(hours=1))
        record_source_run(con, "good-feed", ok=True, produced=0, error=None, at=now)
        record_source_run(con, "bad-feed", ok=False, produced=0, error="fetch: HTTP 503", at=now - timedelta(hours=1))
        record_source_run(con, "bad-feed", ok=False, produced=0, error="fetch: HTTP 503", at=now)
        con.execute("INSERT INTO alerts_sent (alert_id, event_id, level, signal_score) VALUES ('a1', 'e1', 'high', 80)")
        for made, day in ((now - timedelta(days=1), date(2026, 4, 18)), (now, date(2026, 4, 19))):
            con.execute(
                "INSERT INTO digests (digest_date, language, window_from, window_to, timezone, event_ids, record,"
                " created_at) VALUES (?, 'en', ?, ?, 'Asia/Shanghai', ?, '{}', ?)",
                [day, day - timedelta(days=6), day, ["e1", "e2", "e3"], made],
            )

    status = collect_status(configured)
    assert (status.counts.dead_letters, status.counts.alerts, status.counts.digests) == (6, 1, 2)
    assert status.dead_letters.by_stage == {"fetch": 4, "normalize": 1, "parse": 1}
    top = status.dead_letters.groups[0]
    assert (top.stage, top.reason, top.count, top.replayed) == ("fetch", "HTTP 503", 3, 0)
    assert status.dead_letters.groups_total == 4

    by_name = {s.name: s for s in status.sources}
    assert [s.name for s in status.sources] == ["good-feed", "bad-feed", "never-ran", "old-store", "removed-source"]
    good = by_name["good-feed"]
    # The latest success (produced 0: nothing new) and the error before it both stay visible.
    assert good.last_success_at == now and good.last_success_produced == 0
    assert good.last_error == "fetch: timed out" and good.consecutive_failures == 0
    bad = by_name["bad-feed"]
    assert bad.last_success_at is None and bad.last_error_at == now and bad.consecutive_failures == 2
    assert by_name["never-ran"].last_run_at is None and by_name["never-ran"].last_error is None
    assert by_name["old-store"].last_error == "parse: not a feed"
    assert by_name["removed-source"].configured is False
    assert status.last_digest is not None
    assert (status.last_digest.digest_date, status.last_digest.events) == (date(2026, 4, 19), 3)

    # The CLI prints the same document; the human view names what matters.
    config = _config(tmp_path, settings, bootstrap=settings.kafka.bootstrap)
    code, out, err = _run_cli(["-c", str(config), "status", "--json"], capsys)
    assert code == 0, err
    assert Status.model_validate_json(out).counts == status.counts
    code, out, err = _run_cli(["-c", str(config), "status"], capsys)
    flat = " ".join(out.split())
    assert code == 0, err
    assert "dead letters by stage and reason (6)" in flat and "HTTP 503" in flat
    assert "last digest 2026-04-19 (en)" in flat


def test_dead_letter_groups_are_capped_and_the_rest_counted(settings: Settings) -> None:
    now = datetime.now(UTC)
    letters = [
        make_dead_letter(stage="parse", reason=f"missing field f{i}", source_name="s", url=f"u{i}", occurred_at=now)
        for i in range(DEAD_LETTER_GROUPS_SHOWN + 7)
    ]
    with Store(settings.store.path).write() as con:
        record_dead_letters(con, letters)
    status = collect_status(settings)
    assert len(status.dead_letters.groups) == DEAD_LETTER_GROUPS_SHOWN
    assert status.dead_letters.groups_total == DEAD_LETTER_GROUPS_SHOWN + 7


def test_ingest_records_each_sources_last_success_and_last_error(settings: Settings, broker: str) -> None:
    with serve_corpus(hostile=True) as server:
        feed = next(s for s in sample_sources(server.base_url) if s.name == "openai-news")
        empty = source("empty-feed", "feed", server.url("/hostile/feeds/empty.xml"))
        configured = with_sources(settings, [feed, empty])
        before = datetime.now(UTC)
        first = run_ingest(configured)
        run_ingest(configured)  # the feed is unchanged now (304): still a success
    assert first.source("openai-news").produced > 0
    status = collect_status(configured)
    ok, failing = status.sources
    assert ok.last_success_at is not None and ok.last_success_at >= before
    assert ok.last_success_produced == 0 and ok.last_error is None
    assert failing.last_success_at is None and failing.consecutive_failures == 2
    assert failing.last_error is not None and "empty" in failing.last_error
    assert status.lag.known and status.lag.total == sum(r.produced for r in first.sources)


def test_dead_letters_differing_only_in_their_line_or_url_are_one_group(settings: Settings) -> None:
    """Review (session 19): a JSONL source's bad lines ("line 1: …", "line 3: …") and a feed's 404s (each
    naming its URL) filled the status table with one row per dead letter."""
    now = datetime.now(UTC)
    letters = (
        [
            make_dead_letter(
                stage="parse",
                reason=f"line {n}: invalid JSON: EOF while parsing a value at line 1 column {n + 40}",
                source_name="s",
                url=f"u{n}",
                occurred_at=now - timedelta(minutes=10 - n),
            )
            for n in (1, 3, 7)
        ]
        + [
            make_dead_letter(
                stage="fetch",
                reason=f"HTTP 404 [http://127.0.0.1:9/page-{n}.html]",
                source_name="s",
                url=f"http://127.0.0.1:9/page-{n}.html",
                occurred_at=now - timedelta(minutes=n),
            )
            for n in (1, 2)
        ]
        + [make_dead_letter(stage="fetch", reason="HTTP 503", source_name="s", url="v", occurred_at=now)]
        + [
            # A receiver's outage: one dead letter per alert, each naming its alert.
            make_dead_letter(
                stage="webhook",
                reason=f"webhook team: alert ev-{n}:high not delivered, after 20 attempts: HTTP 503",
                source_name="webhook:team",
                url="http://127.0.0.1:9",
                original=f'{{"alert_id": "ev-{n}:high"}}'.encode(),  # the body: what makes each its own
                occurred_at=now,
            )
            for n in (1, 2)
        ]
    )
    with Store(settings.store.path).write() as con:
        record_dead_letters(con, letters)
    groups = {(g.stage, g.reason): g for g in collect_status(settings).dead_letters.groups}
    assert sorted(groups) == [
        ("fetch", "HTTP 404 [<url>]"),
        ("fetch", "HTTP 503"),
        ("parse", "line N: invalid JSON: EOF while parsing a value at line N column N"),
        ("webhook", "webhook team: alert <id> not delivered, after 20 attempts: HTTP 503"),
    ]
    assert groups["webhook", "webhook team: alert <id> not delivered, after 20 attempts: HTTP 503"].count == 2
    lines = groups["parse", "line N: invalid JSON: EOF while parsing a value at line N column N"]
    assert lines.count == 3 and lines.example == "line 7: invalid JSON: EOF while parsing a value at line 1 column 47"
    assert groups["fetch", "HTTP 404 [<url>]"].example == "HTTP 404 [http://127.0.0.1:9/page-1.html]", "the latest"
    assert groups["fetch", "HTTP 503"].example is None, "a reason with nothing replaced is its own example"
