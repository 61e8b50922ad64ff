"""`radar demo`: the whole pipeline on the bundled sample sources, offline.

It grows with the pipeline: today it brings up the embedded broker, the topics and
the DuckDB store, proves a produce/consume round trip, and says what is not built yet.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from infra.broker import EmbeddedBroker
from infra.config import load_settings
from infra.kafka import ensure_topics, make_consumer, make_producer, partitions_of, read_range
from infra.store import Store
from schemas.dead_letter import DeadLetter
from schemas.envelope import dump_envelope, parse_envelope

__all__ = ["run_demo"]


def run_demo(config_file: Path | None, console: Console) -> None:
    settings = load_settings(config_file)
    started_here = False
    broker = EmbeddedBroker(settings.data_dir, settings.kafka.embedded_port)
    if settings.kafka.embedded:
        state, started_here = broker.ensure_running()
        bootstrap = state.bootstrap
        console.print(f"[bold]broker[/bold]  embedded Tansu on {bootstrap} (pid {state.pid})")
    else:
        bootstrap = settings.kafka.bootstrap
        console.print(f"[bold]broker[/bold]  {bootstrap}")
    try:
        created = ensure_topics(bootstrap, settings.kafka)
        console.print(f"[bold]topics[/bold]  {', '.join(created) or 'all present'}")
        store = Store(settings.store.path, settings.store.lock_timeout_s)
        applied = store.migrate()
        console.print(
            f"[bold]store[/bold]   {settings.store.path} schema v{store.version()} "
            f"({len(applied)} migration(s) applied)"
        )
        _round_trip(bootstrap, settings, console)
        console.print(
            "[yellow]not built yet:[/yellow] connectors (ingest), Beam processing and the digest; "
            "the demo runs them as they land."
        )
    finally:
        if started_here:
            broker.stop()
            console.print("[bold]broker[/bold]  stopped (the demo started it)")


def _round_trip(bootstrap: str, settings, console: Console) -> None:  # type: ignore[no-untyped-def]
    """Send one dead-letter envelope to the DLQ topic and read it back, timed."""
    probe = DeadLetter(
        id=f"demo-probe-{uuid.uuid4()}",
        stage="envelope",
        reason="demo round-trip probe",
        original=b"{}",
        occurred_at=datetime.now(UTC),
    )
    t0 = time.perf_counter()
    producer = make_producer(bootstrap, settings.kafka)
    meta = producer.send(settings.kafka.dlq_topic, key=probe.id.encode(), value=dump_envelope(probe)).get(10)
    producer.close()
    consumer = make_consumer(bootstrap, settings.kafka)
    try:
        tp = next(tp for tp in partitions_of(consumer, settings.kafka.dlq_topic) if tp.partition == meta.partition)
        record = next(read_range(consumer, tp, meta.offset, meta.offset + 1))
    finally:
        consumer.close()
    echoed = parse_envelope(record.value)
    ok = echoed == probe
    console.print(
        f"[bold]kafka[/bold]   produce/consume round trip on {settings.kafka.dlq_topic}: "
        f"{'ok' if ok else 'MISMATCH'} in {1000 * (time.perf_counter() - t0):.0f} ms"
    )
