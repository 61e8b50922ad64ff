"""`radar process --follow` outlives its broker: it reconnects to the new one and goes on."""

from __future__ import annotations

import queue
import threading
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from app.processor import BatchReport, Processor
from infra.broker import EmbeddedBroker
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


def test_follow_reconnects_to_a_restarted_embedded_broker(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        kafka=KafkaSettings(bootstrap="embedded", ack_timeout_s=30),
        store=StoreSettings(path=tmp_path / "data" / "radar.duckdb", lock_timeout_s=30),
        processor={"poll_interval_s": 0.1},
    )
    events: queue.Queue[tuple[str, object]] = queue.Queue()
    stop = threading.Event()
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

            def next_event(kind: str) -> object:
                got, value = events.get(timeout=120)
                assert got == kind, (got, value)
                return value

            records = 0
            while records < 5:
                batch = next_event("batch")
                assert isinstance(batch, BatchReport)
                records += batch.records
            EmbeddedBroker(settings.data_dir).stop()  # what `radar broker stop` does
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
        EmbeddedBroker(settings.data_dir).stop()
    with duckdb.connect(str(settings.store.path), read_only=True) as con:
        ids = {r[0] for r in con.execute("SELECT item_id FROM items").fetchall()}
    assert ids == {raw_post(i).key for i in [*range(5), *range(100, 103)]}
