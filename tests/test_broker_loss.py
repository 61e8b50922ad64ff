"""The broker dies under a running command: one line on stderr, no traceback, nothing committed."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import duckdb
import pytest

from connectors.sample_server import send_body, serve_in_thread
from infra.broker import EmbeddedBroker
from infra.config import KafkaSettings
from infra.kafka import ensure_topics, make_producer
from schemas.envelope import dump_envelope
from tests.factories import raw_post

FEED = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
    b"<item><title>One</title><link>http://127.0.0.1/one</link><guid>g-1</guid></item></channel></rss>"
)


@pytest.fixture
def doomed_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    broker = EmbeddedBroker(tmp_path / "broker")
    broker.ensure_running()
    yield broker
    broker.stop()


def test_ingest_reports_a_lost_broker_in_one_line(doomed_broker: EmbeddedBroker, tmp_path: Path) -> None:
    state = doomed_broker.state()
    assert state is not None

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
            return

        def do_GET(self) -> None:  # noqa: N802 - stdlib name
            # The hand-off: the broker dies exactly when ingest has set up Kafka and fetches.
            doomed_broker.stop()
            send_body(self, 200, FEED, {"Content-Type": "application/rss+xml"})

    with serve_in_thread(Handler) as base_url:
        config = tmp_path / "radar.toml"
        store = tmp_path / "data" / "radar.duckdb"
        config.write_text(
            f'data_dir = "{tmp_path / "data"}"\n[kafka]\nbootstrap = "{state.bootstrap}"\nack_timeout_s = 3\n'
            f'[store]\npath = "{store}"\n[fetch]\nper_host_interval_s = 0\n'
            f'[[sources]]\nname = "feed"\nkind = "feed"\nurl = "{base_url}/feed.xml"\ntier = "media"\nlocal = true\n'
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("RADAR_")}
        result = subprocess.run(
            [sys.executable, "-m", "app.cli", "--config", str(config), "ingest"],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr, result.stderr
    assert "did not acknowledge the 1 envelope(s) of source 'feed'" in " ".join(result.stderr.split())
    with duckdb.connect(str(store), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM source_seen").fetchone()[0] == 0, "cursor not moved"


def test_process_reports_a_broker_lost_under_a_batch_in_one_line(doomed_broker: EmbeddedBroker, tmp_path: Path) -> None:
    """Issue 10 item 8: Beam logged an ERROR traceback above the CLI's line, after ~30 s."""
    state = doomed_broker.state()
    assert state is not None
    kafka = KafkaSettings(bootstrap=state.bootstrap, ack_timeout_s=3)
    ensure_topics(state.bootstrap, kafka)
    producer = make_producer(state.bootstrap, kafka)
    for i in range(3):
        post = raw_post(i)
        producer.send(kafka.raw_topic, key=post.key.encode(), value=dump_envelope(post)).get(10)
    producer.close()
    config = tmp_path / "radar.toml"
    store = tmp_path / "data" / "radar.duckdb"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n[kafka]\nbootstrap = "{state.bootstrap}"\n'
        f'ack_timeout_s = 3\n[store]\npath = "{store}"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("RADAR_")}
    # The hand-off: the processor holds once it has planned the batch (offsets and state read,
    # Beam not started) until the broker is gone, then meets the loss in the pipeline's read.
    env |= {"RADAR_CRASH_AT": "after-state-read:1", "RADAR_CRASH_MODE": "hold"}
    child = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "--config", str(config), "process", "--once"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert child.stderr is not None and child.stdin is not None
        assert child.stderr.readline() == "radar-crash-point after-state-read 1\n"
        doomed_broker.stop()
        child.stdin.write("go on\n")
        child.stdin.flush()
        _stdout, stderr = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 1, stderr
    assert "Traceback" not in stderr and "ERROR" not in stderr, stderr
    assert " ".join(stderr.split()) == (
        f"error: KafkaConnectionError: Kafka at {state.bootstrap} went away during a batch; "
        "nothing of it was committed, the next run processes it again"
    )
    with duckdb.connect(str(store), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM consumer_offsets").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM items").fetchone() == (0,)
