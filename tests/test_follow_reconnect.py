"""`radar process --follow` outlives its broker: it reconnects to the new one and goes on. An embedded
broker that crashed it starts again; one an operator stopped (`radar broker stop`) it waits for."""

from __future__ import annotations

import os
import queue
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from app.processor import BatchReport, Processor
from infra.broker import BrokerStopped, EmbeddedBroker, resolve_bootstrap
from infra.config import KafkaSettings, Settings, StoreSettings
from infra.kafka import make_producer
from schemas.envelope import dump_envelope
from tests.factories import raw_post

AS_OF = datetime(2026, 4, 20, tzinfo=UTC)


def _produce(bootstrap: str, settings: Settings, numbers: range) -> None:
    producer = make_producer(bootstrap, settings.kafka)
    for i in numbers:
        post = raw_post(i)
        producer.send(settings.kafka.raw_topic, key=post.key.encode(), value=dump_envelope(post)).get(30)
    producer.close()


def _settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        kafka=KafkaSettings(bootstrap="embedded", ack_timeout_s=30),
        store=StoreSettings(path=tmp_path / "data" / "radar.duckdb", lock_timeout_s=30),
        processor={"poll_interval_s": 0.1},
    )


def _follow_through(settings: Settings, lose_broker: Callable[[EmbeddedBroker], None], *, waits: bool) -> None:
    """Follow 5 records, lose the broker, and follow 3 more on whatever broker comes back. `waits`: the
    processor must not start one itself, so the test starts it (as `radar broker start` does) after
    seeing that nothing did for a few seconds."""
    events: queue.Queue[tuple[str, object]] = queue.Queue()
    stop = threading.Event()
    broker = EmbeddedBroker(settings.data_dir)
    try:
        with Processor(settings, as_of=AS_OF) as processor:
            first = processor.bootstrap
            _produce(first, settings, range(5))

            def run() -> None:
                try:
                    processor.follow(
                        stop.is_set,
                        progress=lambda b: events.put(("batch", b)),
                        on_reconnect=lambda lost, now: events.put(("reconnect", (lost, now))),
                    )
                except Exception as exc:  # noqa: BLE001 - handed to the test thread, which fails on it
                    events.put(("error", exc))

            worker = threading.Thread(target=run, daemon=True)
            worker.start()

            def next_event(kind: str, timeout: float = 120) -> object:
                got, value = events.get(timeout=timeout)
                assert got == kind, (got, value)
                return value

            records = 0
            while records < 5:
                batch = next_event("batch")
                assert isinstance(batch, BatchReport)
                records += batch.records
            lose_broker(broker)
            if waits:
                with pytest.raises(queue.Empty):
                    events.get(timeout=2.5)  # no reconnect, no error: it waits (a restart takes < 1 s)
                assert broker.state() is None, "the follower started the broker an operator stopped"
                broker.ensure_running()  # what `radar broker start` does
            lost, now = next_event("reconnect")  # type: ignore[misc]
            assert lost == first and now != first
            _produce(now, settings, range(100, 103))
            records = 0
            while records < 3:  # the follower may take them in more than one batch
                batch = next_event("batch")
                assert isinstance(batch, BatchReport)
                records += batch.records
            assert records == 3
            stop.set()
            worker.join(timeout=60)
            assert not worker.is_alive()
    finally:
        stop.set()
        broker.stop()
    with duckdb.connect(str(settings.store.path), read_only=True) as con:
        ids = {r[0] for r in con.execute("SELECT item_id FROM items").fetchall()}
    assert ids == {raw_post(i).key for i in [*range(5), *range(100, 103)]}


def _crash(broker: EmbeddedBroker) -> None:
    state = broker.state()
    assert state is not None
    os.kill(state.pid, signal.SIGKILL)


def test_follow_starts_a_crashed_embedded_broker_again_and_goes_on(tmp_path: Path) -> None:
    _follow_through(_settings(tmp_path), _crash, waits=False)


def test_follow_waits_for_an_embedded_broker_stopped_on_purpose_and_goes_on_once_started(tmp_path: Path) -> None:
    _follow_through(_settings(tmp_path), lambda broker: broker.stop(deliberate=True), waits=True)


def test_a_deliberate_stop_holds_only_a_follower_and_any_start_lifts_it(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    broker = EmbeddedBroker(settings.data_dir)
    try:
        broker.ensure_running()
        broker.stop(deliberate=True)
        on_purpose = r"stopped on purpose \(`radar broker stop` or `make ops-down`\); `radar broker start` starts it"
        with pytest.raises(BrokerStopped, match=on_purpose):
            resolve_bootstrap(settings, restart_stopped=False)
        assert broker.state() is None
        # Any other command that needs Kafka (ingest, process --once) starts it, as before.
        bootstrap, started = resolve_bootstrap(settings)
        assert started and broker.state() is not None
        assert resolve_bootstrap(settings, restart_stopped=False) == (bootstrap, False), "the mark is gone"
        broker.stopped_path.write_text("stale\n")  # a mark beside a running broker holds nothing
        assert resolve_bootstrap(settings, restart_stopped=False) == (bootstrap, False)
        assert not broker.stopped_path.exists()
        broker.stop()  # a stop that is not an operator's leaves no mark
        assert resolve_bootstrap(settings, restart_stopped=False)[1], "started again after a plain stop"
    finally:
        broker.stop()


def test_follow_stopped_by_ctrl_c_says_what_it_did(tmp_path: Path) -> None:
    """Ops review (session 19): `radar process --follow` stopped by SIGINT printed no summary."""
    import subprocess
    import sys

    settings = _settings(tmp_path)
    config = tmp_path / "radar.toml"
    config.write_text(f'data_dir = "{settings.data_dir}"\n[kafka]\nbootstrap = "embedded"\n', encoding="utf-8")
    broker = EmbeddedBroker(settings.data_dir)
    try:
        bootstrap, _ = resolve_bootstrap(settings)
        _produce(bootstrap, settings, range(5))
        env = {k: v for k, v in os.environ.items() if not k.startswith("RADAR_")}
        child = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "--config", str(config), "process", "--follow"]
            + ["--as-of", AS_OF.isoformat()],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert child.stdout is not None
        records, lines = 0, []
        while records < 5:
            line = child.stdout.readline()
            assert line, (lines, child.stderr.read() if child.poll() is not None else "")
            lines.append(line)
            if line.startswith("batch: "):
                records += int(line.split()[1])
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=60)
    finally:
        broker.stop()
    assert child.returncode == 0, err
    assert "stopped after 5 records in " in out and "5 items" in out and "0 dead letters" in out, out
