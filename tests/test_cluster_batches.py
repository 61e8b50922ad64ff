"""Same records, same order, same events: however the stream is cut into batches (issue 11 #4).

The sample corpus through its real connectors, produced to a real broker in publish order, then
processed by the real processor into a fresh DuckDB file once in one batch and again in batches
of 30 and of 7 (each batch's clustering state and indexes going through DuckDB, as on a restart),
and through the plain stage functions one record at a time. Every run must give the same events
with the same members and the same duplicates.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from app.processor import Processor
from connectors.arxiv import collect_arxiv
from connectors.base import SourceRun
from connectors.cursors import SourceCursor
from connectors.feed import collect_feed
from connectors.fetch import Fetcher
from connectors.html import collect_html
from connectors.jsonl import collect_jsonl
from connectors.sample_server import sample_sources, serve_corpus
from connectors.x import collect_x
from infra.config import FetchSettings, ProcessorSettings, Settings, StoreSettings
from infra.kafka import KafkaRecord, close_producer, ensure_topics, make_producer
from schemas.common import KafkaCoordinates
from schemas.envelope import dump_envelope
from schemas.item import Item
from schemas.raw import ReceivedRaw
from transforms.batch import decide_batch, prepare_record
from transforms.classify import load_classification_rules
from transforms.cluster import EventIndex, member_from_item
from transforms.dedupe import DedupeIndex, dedupe_signature
from transforms.extract import load_entity_rules
from transforms.normalize import normalize_record

AS_OF = datetime(2026, 4, 20, tzinfo=UTC)
STAMP = int(datetime(2026, 4, 21, tzinfo=UTC).timestamp() * 1000)
COLLECTORS = {
    "feed": collect_feed,
    "html": collect_html,
    "x": collect_x,
    "jsonl": collect_jsonl,
    "arxiv": lambda run: collect_arxiv(run, interval_s=0.0),
}


def _corpus_in_publish_order() -> list[Any]:
    """Every envelope the sample sources give, in the order a live stream would bring them."""
    # One local host serves every sample source: the per-host interval would only add ~30 s.
    fetch = FetchSettings(per_host_interval_s=0)
    envelopes = []
    with serve_corpus() as server, Fetcher(fetch) as fetcher:
        cache: dict[str, str | None] = {}
        for source in sample_sources(server.base_url):
            run = SourceRun(source, fetcher, fetch, SourceCursor(source.name), cache)
            COLLECTORS[source.kind](run)
            envelopes.extend(run.envelopes)
    assert len(envelopes) >= 80

    def when(envelope: Any) -> tuple[datetime, str]:
        item = normalize_record(
            ReceivedRaw(
                envelope=envelope, coordinates=KafkaCoordinates(topic="t", partition=0, offset=0, key=envelope.key)
            )
        )
        if not isinstance(item, Item):
            return (envelope.fetch.fetched_at, envelope.key)
        # Ties go by item id, as dedupe orders a batch: a page and its entry often share a date.
        return (item.published_at or envelope.fetch.fetched_at, item.item_id)

    return sorted(envelopes, key=when)


@pytest.fixture(scope="module")
def corpus() -> list[Any]:
    return _corpus_in_publish_order()


def _processed(settings: Settings, tmp_path: Path, topic: str, batch: int) -> dict[str, Any]:
    store = tmp_path / f"batch-{batch}.duckdb"
    run_settings = settings.model_copy(
        update={
            "kafka": settings.kafka.model_copy(update={"raw_topic": topic}),
            "store": StoreSettings(path=store, lock_timeout_s=30),
            "processor": ProcessorSettings(batch_max_records=batch),
        }
    )
    with Processor(run_settings, bootstrap=settings.kafka.bootstrap, as_of=AS_OF) as processor:
        report = processor.run_once()
    assert report.batches, "nothing was processed"
    with duckdb.connect(str(store), read_only=True) as con:
        items = con.execute("SELECT item_id, event_id, duplicate_of FROM items ORDER BY item_id").fetchall()
        events = con.execute("SELECT event_id, items, category, verification FROM events ORDER BY event_id").fetchall()
    return {"batches": len(report.batches), "items": items, "events": events}


def _one_record_at_a_time(envelopes: list[Any]) -> dict[str, Any]:
    """The stage functions, one record per batch, state carried as DuckDB would hold it."""
    rules = (load_classification_rules(), load_entity_rules())
    threshold = ProcessorSettings().near_duplicate_threshold
    dedupe_index, event_index, cluster_state = DedupeIndex(threshold=threshold), EventIndex(), None
    placed: dict[str, Item] = {}
    for offset, envelope in enumerate(envelopes):
        # Produce time stands in for the Kafka timestamp: one millisecond per record.
        record = KafkaRecord("t", 0, offset, envelope.key.encode(), dump_envelope(envelope), STAMP + offset)
        prepared = prepare_record(record, *rules)
        if not isinstance(prepared, Item):
            continue
        decided = decide_batch(
            [prepared], dedupe_index, event_index, threshold=threshold, as_of=AS_OF, cluster_state=cluster_state
        )
        cluster_state = decided.cluster_state
        for item in decided.items:
            placed[item.item_id] = item
            dedupe_index.add(dedupe_signature(item), item.duplicate_of or item.item_id)
        for absorbed, survivor in decided.merges.items():
            event_index.repoint(absorbed, survivor)
            for item_id, item in placed.items():
                if item.event_id == absorbed:
                    placed[item_id] = item.model_copy(update={"event_id": survivor})
        for item in decided.items:
            if item.event_id is not None:
                event_index.add(member_from_item(placed[item.item_id], placed[item.item_id].event_id))
    return {"items": sorted((i.item_id, i.event_id, i.duplicate_of) for i in placed.values())}


def one_partition_topic(settings: Settings, envelopes: list[Any], name: str) -> Settings:
    """`settings` with a fresh one-partition raw topic holding `envelopes` in order (Kafka order = their order)."""
    topic = f"test.raw.{name}.{uuid.uuid4().hex[:8]}"
    kafka = settings.kafka.model_copy(update={"raw_topic": topic, "raw_partitions": 1})
    ensure_topics(settings.kafka.bootstrap, kafka)
    producer = make_producer(settings.kafka.bootstrap, kafka)
    for envelope in envelopes:
        producer.send(topic, key=envelope.key.encode(), value=dump_envelope(envelope)).get(timeout=30)
    close_producer(producer)
    return settings.model_copy(update={"kafka": kafka})


def test_events_do_not_depend_on_batch_boundaries(settings: Settings, tmp_path: Path, corpus: list[Any]) -> None:
    # One partition: Kafka order is the publish order the records were produced in. (With several,
    # a batch takes a share of each partition, so its cut is not a cut in time.)
    topic = one_partition_topic(settings, corpus, "batches").kafka.raw_topic

    whole = _processed(settings, tmp_path, topic, 1000)
    assert whole["batches"] == 1
    events = {event_id for _, event_id, _ in whole["items"] if event_id}
    assert len(events) >= 15 and len(whole["events"]) == len(events)
    for batch in (30, 7):
        cut = _processed(settings, tmp_path, topic, batch)
        assert cut["batches"] >= len(corpus) // batch
        moved = sorted(set(cut["items"]) - set(whole["items"]))
        assert cut["items"] == whole["items"], f"batches of {batch} placed items differently: {moved}"
        assert cut["events"] == whole["events"], f"batches of {batch} gave other events"
    single = _one_record_at_a_time(corpus)
    assert single["items"] == whole["items"]
