"""A restarted embedded broker (memory-only) must not make the processor or connectors skip data."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from app.processor import Processor
from infra.broker import EmbeddedBroker
from infra.config import KafkaSettings, Settings, StoreSettings
from infra.kafka import ensure_topics, make_producer
from infra.recovery import reconcile_raw_topic
from infra.store import Store
from schemas.envelope import dump_envelope
from tests.factories import raw_post

AS_OF = datetime(2026, 4, 20, tzinfo=UTC)


def _settings(tmp_path: Path, bootstrap: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        kafka=KafkaSettings(bootstrap=bootstrap, raw_partitions=1),
        store=StoreSettings(path=tmp_path / "data" / "radar.duckdb"),
    )


def _start(broker: EmbeddedBroker, tmp_path: Path) -> Settings:
    """(Re)start the embedded broker; settings pointing at it, topics created."""
    state, _ = broker.ensure_running()
    settings = _settings(tmp_path, state.bootstrap)
    ensure_topics(state.bootstrap, settings.kafka)
    return settings


def _produce(settings: Settings, first: int, count: int) -> None:
    producer = make_producer(settings.kafka.bootstrap, settings.kafka)
    for i in range(first, first + count):
        post = raw_post(i)
        producer.send(settings.kafka.raw_topic, key=post.key.encode(), value=dump_envelope(post))
    producer.flush()
    producer.close()


def _items(settings: Settings) -> int:
    with duckdb.connect(str(settings.store.path), read_only=True) as con:
        return int(con.execute("SELECT count(*) FROM items").fetchone()[0])


def test_new_topic_that_outgrew_the_stored_offset_is_read_from_zero(tmp_path: Path) -> None:
    broker = EmbeddedBroker(tmp_path / "broker")
    try:
        settings = _start(broker, tmp_path)
        _produce(settings, 0, 5)
        with Processor(settings, bootstrap=settings.kafka.bootstrap, as_of=AS_OF) as processor:
            assert processor.run_once().records == 5
        broker.stop()

        # The new broker's topic is empty; it grows past the old stored offset (5) before we look.
        settings = _start(broker, tmp_path)
        _produce(settings, 100, 8)
        with Processor(settings, bootstrap=settings.kafka.bootstrap, as_of=AS_OF) as processor:
            assert processor.run_once().records == 8
        assert _items(settings) == 13
    finally:
        broker.stop()


def test_cursors_of_entries_that_never_landed_are_forgotten(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="infra.recovery")
    broker = EmbeddedBroker(tmp_path / "broker")
    try:
        settings = _start(broker, tmp_path)
        store = Store(settings.store.path)
        assert reconcile_raw_topic(store, settings.kafka.bootstrap, settings.kafka) is False  # first sight: recorded
        _produce(settings, 0, 1)
        with Processor(settings, bootstrap=settings.kafka.bootstrap, as_of=AS_OF) as processor:
            processor.run_once()
        landed = raw_post(0).key
        with store.write() as con:
            con.execute(
                "INSERT INTO source_seen (source_name, entry_key) VALUES ('ai-wire', ?), ('ai-wire', 'lost')", [landed]
            )
            con.execute("INSERT INTO source_cursors (source_name, etag, since_id) VALUES ('ai-wire', '\"v1\"', '9')")
        assert reconcile_raw_topic(store, settings.kafka.bootstrap, settings.kafka) is False  # same topic: no-op
        broker.stop()

        state, _ = broker.ensure_running()
        ensure_topics(state.bootstrap, settings.kafka)
        assert reconcile_raw_topic(store, state.bootstrap, settings.kafka) is True
        with store.read() as con:
            seen = [r[0] for r in con.execute("SELECT entry_key FROM source_seen").fetchall()]
            cursors = con.execute("SELECT count(*) FROM source_cursors").fetchone()[0]
            offsets = con.execute("SELECT count(*) FROM consumer_offsets").fetchone()[0]
        assert seen == [landed], "an entry that reached items stays seen; the undelivered one is fetched again"
        assert cursors == 0 and offsets == 0
        resets = [r for r in caplog.records if "is a new topic" in r.getMessage()]
        assert [(r.levelno, "1 undelivered" in r.getMessage()) for r in resets] == [(logging.WARNING, True)]
        # Every `radar digest` restarts the memory-only embedded broker: a reset losing nothing is news, not a warning.
        broker.stop()
        state, _ = broker.ensure_running()
        ensure_topics(state.bootstrap, settings.kafka)
        assert reconcile_raw_topic(store, state.bootstrap, settings.kafka) is True
        resets = [r for r in caplog.records if "is a new topic" in r.getMessage()]
        assert (resets[-1].levelno, "0 undelivered" in resets[-1].getMessage()) == (logging.INFO, True)
    finally:
        broker.stop()
