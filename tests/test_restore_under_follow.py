"""`radar store restore` under a running `radar process --follow`: the follower stops at its next commit
(its kept state belongs to the replaced file), nothing it committed after the backup is written over
the restored file, and a restarted processor replays from the backup's offsets to the same contents as
a run that was never restored."""

from __future__ import annotations

import queue
import threading
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from app.processor import BatchReport, ConcurrentProcessorError, Processor
from infra.config import Settings, StoreSettings
from infra.kafka import make_producer
from infra.store import Store
from schemas.envelope import dump_envelope
from tests.factories import raw_post

AS_OF = datetime(2026, 4, 20, tzinfo=UTC)


def _produce(settings: Settings, numbers: range) -> None:
    producer = make_producer(settings.kafka.bootstrap, settings.kafka)
    for i in numbers:
        post = raw_post(i)
        producer.send(settings.kafka.raw_topic, key=post.key.encode(), value=dump_envelope(post)).get(30)
    producer.close()


def _contents(path: Path) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    with duckdb.connect(str(path), read_only=True) as con:
        items = con.execute("SELECT item_id, event_id, kafka_offset FROM items ORDER BY item_id").fetchall()
        offsets = con.execute("SELECT partition, next_offset FROM consumer_offsets ORDER BY partition").fetchall()
    return items, offsets


def test_a_follower_stops_at_a_restore_and_a_restart_replays_to_the_same_contents(
    settings: Settings, tmp_path: Path
) -> None:
    _produce(settings, range(5))
    with Processor(settings, bootstrap=settings.kafka.bootstrap, as_of=AS_OF) as processor:
        assert processor.run_once().records == 5
    backup = Store(settings.store.path).backup(tmp_path / "after-five.duckdb")

    events: queue.Queue[tuple[str, object]] = queue.Queue()
    stop = threading.Event()
    with Processor(settings, bootstrap=settings.kafka.bootstrap, as_of=AS_OF) as processor:

        def run() -> None:
            try:
                processor.follow(stop.is_set, progress=lambda b: events.put(("batch", b)))
            except Exception as exc:  # noqa: BLE001 - handed to the test thread
                events.put(("error", exc))
            else:
                events.put(("stopped", None))

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        _produce(settings, range(5, 10))
        records = 0
        while records < 5:
            kind, batch = events.get(timeout=120)
            assert kind == "batch" and isinstance(batch, BatchReport), (kind, batch)
            records += batch.records
        # The follower is idle now and has let go of the file (a holder that keeps it is asked for it:
        # tests/test_store.py); what this test proves is what the follower does after the swap.
        kept = Store(settings.store.path, lock_timeout_s=60).restore(backup)
        _produce(settings, range(10, 13))
        kind, error = events.get(timeout=120)
        stop.set()
        worker.join(timeout=60)
    assert kind == "error" and isinstance(error, ConcurrentProcessorError), (kind, error)
    assert "restored under this one" in str(error)
    assert kept is not None and len(_contents(kept)[0]) == 10, "what the follower committed is kept aside"
    assert len(_contents(settings.store.path)[0]) == 5, "nothing of the follower's was written over the backup"

    with Processor(settings, bootstrap=settings.kafka.bootstrap, as_of=AS_OF) as processor:
        processor.run_once()
    reference = Settings(
        data_dir=tmp_path / "reference",
        kafka=settings.kafka,
        store=StoreSettings(path=tmp_path / "reference" / "radar.duckdb", lock_timeout_s=30),
    )
    with Processor(reference, bootstrap=settings.kafka.bootstrap, as_of=AS_OF) as processor:
        processor.run_once()
    restored, uninterrupted = _contents(settings.store.path), _contents(reference.store.path)
    assert len(restored[0]) == 13
    assert restored == uninterrupted
