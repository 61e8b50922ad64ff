"""The embedded broker through the CLI, and topic administration, against a real Tansu."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from kafka import TopicPartition

from infra.broker import EmbeddedBroker, _pid_alive, resolve_bootstrap
from infra.config import KafkaSettings, Settings
from infra.kafka import TopicSpec, ensure_topics, make_consumer, make_producer, read_range
from tests.conftest import wait_for


def _radar(args: list[str], data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RADAR_")}
    env["RADAR_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "broker", *args], capture_output=True, text=True, env=env, timeout=60
    )


def test_cli_start_round_trip_status_stop(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    started = _radar(["start"], data_dir)
    assert started.returncode == 0, started.stderr
    assert "embedded broker started" in started.stdout
    assert "radar.raw.v1" in started.stdout
    state = json.loads((data_dir / "broker" / "broker.json").read_text())
    bootstrap = f"127.0.0.1:{state['port']}"
    try:
        again = _radar(["start"], data_dir)
        assert "already running" in again.stdout and str(state["pid"]) in again.stdout

        kafka = KafkaSettings(bootstrap=bootstrap)
        producer = make_producer(bootstrap, kafka)
        sent = [producer.send("radar.raw.v1", key=f"k{i}".encode(), value=f"v{i}".encode()) for i in range(20)]
        producer.flush()
        metas = [f.get(10) for f in sent]
        producer.close()
        consumer = make_consumer(bootstrap, kafka)
        got = {}
        for partition in {m.partition for m in metas}:
            offsets = [m.offset for m in metas if m.partition == partition]
            tp = TopicPartition("radar.raw.v1", partition)
            for rec in read_range(consumer, tp, min(offsets), max(offsets) + 1):
                got[rec.key] = rec.value
        consumer.close()
        assert got == {f"k{i}".encode(): f"v{i}".encode() for i in range(20)}

        status = _radar(["status"], data_dir)
        assert status.returncode == 0 and "answering" in status.stdout
    finally:
        stopped = _radar(["stop"], data_dir)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    wait_for(lambda: not _pid_alive(state["pid"]), timeout_s=10)
    assert not (data_dir / "broker" / "broker.json").exists()
    after = _radar(["status"], data_dir)
    assert after.returncode == 1 and "not running" in after.stdout


def test_stale_state_file_is_ignored(tmp_path: Path) -> None:
    broker = EmbeddedBroker(tmp_path)
    broker.dir.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    broker.state_path.write_text(
        json.dumps({"pid": dead.pid, "port": 1, "started_at": 0, "log_path": "x", "binary": "tansu"})
    )
    assert broker.state() is None
    assert not broker.state_path.exists()


def test_a_start_interrupted_before_the_broker_answers_leaves_nothing_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review (session 19): Ctrl-C while `radar demo` started the broker left a Tansu in its own session
    that no broker.json named, so neither `broker stop` nor the next demo could find it."""
    import infra.broker

    started: list[subprocess.Popen[bytes]] = []
    real_popen = subprocess.Popen

    def popen(*args: object, **kwargs: object) -> subprocess.Popen[bytes]:
        child = real_popen(*args, **kwargs)  # type: ignore[call-overload]
        started.append(child)
        return child

    def interrupted(*_: object, **__: object) -> bool:
        raise KeyboardInterrupt

    monkeypatch.setattr(infra.broker.subprocess, "Popen", popen)
    monkeypatch.setattr(infra.broker, "_answers_metadata", interrupted)
    broker = EmbeddedBroker(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        broker.ensure_running()
    assert len(started) == 1, "the broker process was started, then the interrupt came"
    assert started[0].poll() is not None and not _pid_alive(started[0].pid)
    assert not broker.state_path.exists()


def test_real_bootstrap_never_starts_anything(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, kafka=KafkaSettings(bootstrap="kafka1:9092,kafka2:9092"))
    assert resolve_bootstrap(settings) == ("kafka1:9092,kafka2:9092", False)
    assert not (tmp_path / "broker").exists()


def test_ensure_topics_is_idempotent_with_configured_partitions(broker: str) -> None:
    suffix = uuid.uuid4().hex[:8]
    kafka = KafkaSettings(
        bootstrap=broker,
        raw_topic=f"t.raw.{suffix}",
        dlq_topic=f"t.dlq.{suffix}",
        alerts_topic=f"t.alerts.{suffix}",
        raw_partitions=4,
        dlq_partitions=2,
        alerts_partitions=1,
    )
    specs = [TopicSpec(kafka.raw_topic, 4), TopicSpec(kafka.dlq_topic, 2), TopicSpec(kafka.alerts_topic, 1)]
    assert sorted(ensure_topics(broker, kafka, specs)) == sorted(s.name for s in specs)
    assert ensure_topics(broker, kafka, specs) == []
    consumer = make_consumer(broker, kafka)
    try:
        counts = {s.name: len(wait_for(lambda s=s: consumer.partitions_for_topic(s.name))) for s in specs}
    finally:
        consumer.close()
    assert counts == {s.name: s.partitions for s in specs}
