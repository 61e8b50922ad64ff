"""The one-gather pipeline (`ProcessRecords`) gives exactly what the per-stage composition gives.

Same records in, over two batches (so the second sees the first as cross-batch state), through
`ProcessRecordsByStage` (one PTransform per stage: three gathers, side inputs) and through
`ProcessRecords` (per-record stages fused, one gather, dedupe -> cluster -> score in one DoFn):
the items, events and dead letters must be equal.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from app.pipeline import run_batch
from app.read import OffsetRange
from infra.config import ProcessorSettings, Settings
from infra.kafka import KafkaRecord, end_offsets, make_consumer, make_producer, partitions_of
from schemas.common import SourceRef
from schemas.envelope import dump_envelope
from schemas.item import Item
from schemas.raw import Fetch, RawPage, RawPost, ReferencedPost, SocialMeta
from tests.factories import WEEK_START, feed_source, raw_post, x_source
from transforms.batch import BatchState, ProcessRecords, ProcessRecordsByStage, decide_batch
from transforms.cluster import EventIndex, member_from_item
from transforms.dedupe import DedupeIndex, dedupe_signature
from transforms.events import ClusterState

OPTIONS = PipelineOptions(flags=[], runner="FnApiRunner")
AS_OF = datetime(2026, 4, 20, tzinfo=UTC)
THRESHOLD = 0.8
PAGES = Path(__file__).resolve().parent.parent / "connectors" / "sample_corpus" / "site" / "pages"


def _pages(n: int) -> list[RawPage]:
    source = SourceRef(name="pages", kind="html", tier="media", publisher="Pages", url="http://127.0.0.1/pages/")
    pages = []
    for i, path in enumerate(sorted(PAGES.rglob("*.html"))[:n]):
        body = path.read_bytes()
        try:
            html = body.decode("utf-8")
        except UnicodeDecodeError:
            html = body.decode("gb18030", errors="replace")
        url = f"http://127.0.0.1/pages/{path.relative_to(PAGES).as_posix()}"
        fetch = Fetch(
            requested_url=url,
            final_url=url,
            status=200,
            fetched_at=WEEK_START + timedelta(hours=i),
            content_type="text/html; charset=utf-8",
        )
        pages.append(RawPage(key=url, source=source, fetch=fetch, html=html))
    return pages


def _variants() -> list[Any]:
    """Exact, near and native-id duplicates, a retweet, an official voice, an amount in Chinese."""
    base = raw_post(4)
    official = feed_source("openai-news", tier="official", publisher="OpenAI")
    when = WEEK_START + timedelta(hours=30)
    fetch = Fetch(requested_url="http://127.0.0.1/feed", final_url="http://127.0.0.1/feed", status=200, fetched_at=when)
    text = "OpenAI raises $122 billion to expand compute for GPT-5 training, the company said on Monday."
    return [
        # Re-syndicated under another key: same text (content), same URL (url).
        base.model_copy(
            update={
                "key": "https://mirror.example.com/4",
                "url": "https://mirror.example.com/4",
                "native_id": "mirror-4",
            }
        ),
        base.model_copy(update={"key": "https://other.example.com/4", "native_id": "other-4"}),
        # Near duplicate: one word changed.
        base.model_copy(
            update={
                "key": "https://near.example.com/4",
                "url": "https://near.example.com/4",
                "native_id": "near-4",
                "summary_html": base.summary_html.replace(" at ", " from "),
            }
        ),
        RawPost(
            key="https://openai.com/news/funding",
            source=official,
            fetch=fetch,
            native_id="openai-1",
            url="https://openai.com/news/funding",
            title="OpenAI raises $122 billion",
            summary_html=f"<p>{text}</p>",
            published=when.isoformat(),
            published_at=when,
        ),
        RawPost(
            key="https://cn.example.com/openai",
            source=feed_source("cn-wire", publisher="CN Wire"),
            fetch=fetch,
            native_id="cn-1",
            url="https://cn.example.com/openai",
            title="OpenAI 融资 1220 亿美元",
            summary_html="<p>OpenAI 宣布完成 1220 亿美元融资，用于扩大 GPT-5 训练算力。</p>",
            published=(when + timedelta(hours=2)).isoformat(),
            published_at=when + timedelta(hours=2),
        ),
        RawPost(
            key="x:1999",
            source=x_source(),
            fetch=fetch,
            native_id="1999",
            url="https://x.com/fan/status/1999",
            text=f"RT @OpenAI: {text}",
            lang="en",
            published=(when + timedelta(hours=1)).isoformat(),
            published_at=when + timedelta(hours=1),
            social=SocialMeta(
                author_id="9",
                handle="fan",
                likes=5000,
                retweets=900,
                referenced=(ReferencedPost(type="retweeted", id="1998"),),
                expanded_urls=("https://openai.com/news/funding?utm_source=x",),
            ),
        ),
        RawPost(
            key="x:1998",
            source=x_source(),
            fetch=fetch,
            native_id="1998",
            url="https://x.com/OpenAI/status/1998",
            text=text,
            lang="en",
            published=when.isoformat(),
            published_at=when,
            social=SocialMeta(
                author_id="1",
                handle="OpenAI",
                likes=20000,
                retweets=4000,
                expanded_urls=("https://openai.com/news/funding",),
            ),
        ),
        # Neither text nor title: a normalize dead letter.
        RawPost(
            key="https://empty.example.com/1",
            source=feed_source(),
            fetch=fetch,
            url="https://empty.example.com/1",
            published=when.isoformat(),
            published_at=when,
        ),
    ]


def _records(envelopes: list[Any], first_offset: int) -> list[KafkaRecord]:
    stamp = int(WEEK_START.timestamp() * 1000)
    records = [
        KafkaRecord("radar.raw.v1", i % 3, first_offset + i, e.key.encode(), dump_envelope(e), stamp + i)
        for i, e in enumerate(envelopes)
    ]
    poison = [
        b"{oops",
        b'{"schema": "raw.post", "version": 9}',
        b"\xff\xfe not utf-8",
        b'{"schema": "item", "version": 1}',
    ]
    return records + [
        KafkaRecord("radar.raw.v1", 0, first_offset + 10_000 + j, None, value, stamp) for j, value in enumerate(poison)
    ]


def _run(
    transform: type[beam.PTransform], records: list[KafkaRecord], state: BatchState, out: Path
) -> dict[str, list[dict[str, Any]]]:
    with beam.Pipeline(options=OPTIONS) as p:
        outputs = p | beam.Create(records) | transform(state, THRESHOLD)
        for kind, pcoll in outputs.items():
            (
                pcoll
                | f"{kind}Json" >> beam.Map(_row)
                | f"Write{kind}" >> beam.io.WriteToText(str(out / kind), file_name_suffix=".ndjson")
            )
    result = {}
    for kind in ("items", "events", "dead_letters"):
        rows = [json.loads(line) for path in sorted(out.glob(f"{kind}-*.ndjson")) for line in path.open()]
        result[kind] = sorted(rows, key=lambda r: json.dumps(r, sort_keys=True))
    return result


def _row(model: Any) -> str:
    return _comparable(model.model_dump_json(by_alias=True), model)


def _comparable(line: str, model: Any = None) -> str:
    row = json.loads(line)
    if isinstance(model, Item):
        row["_dedupe_signature"] = model.dedupe_signature.hex()  # excluded from JSON, stored beside it
        row["_fields_set"] = sorted(model.model_fields_set)
    if row.get("schema") == "dead_letter":
        row.pop("occurred_at")  # envelope and normalize dead letters carry the wall-clock time
    return json.dumps(row, sort_keys=True)


def _state_after(items: list[Item], previous: BatchState, cluster_state: ClusterState) -> BatchState:
    """Cross-batch state as DuckDB would hold it after a batch (what load_*_index rebuilds)."""
    dedupe_index = DedupeIndex(threshold=THRESHOLD)
    event_index = EventIndex()
    for item in sorted(items, key=lambda it: (it.published_at is None, it.published_at, it.item_id)):
        dedupe_index.add(dedupe_signature(item), item.duplicate_of or item.item_id)
        if item.event_id is not None:
            event_index.add(member_from_item(item, item.event_id))
    return BatchState(
        dedupe_index=dedupe_index, event_index=event_index, as_of=previous.as_of, cluster_state=cluster_state
    )


def test_one_gather_pipeline_equals_per_stage_pipeline(tmp_path: Path) -> None:
    first = [raw_post(i, social=i % 3 == 0) for i in range(150)] + _pages(6)
    # The second batch repeats some of the first (cross-batch duplicates), plus new posts and variants.
    second = [raw_post(i, social=i % 3 == 0) for i in range(140, 260)] + _variants()
    empty = BatchState(dedupe_index=DedupeIndex(threshold=THRESHOLD), event_index=EventIndex(), as_of=AS_OF)

    old1 = _run(ProcessRecordsByStage, _records(first, 0), empty, tmp_path / "old1")
    new1 = _run(ProcessRecords, _records(first, 0), empty, tmp_path / "new1")
    assert new1 == old1
    assert len(old1["items"]) == len(first) and old1["events"] and len(old1["dead_letters"]) == 4

    # State from the first batch's items (same for both), rebuilt from the plain functions' result.
    decided = decide_batch(_prepared(first), empty.dedupe_index, empty.event_index, threshold=THRESHOLD, as_of=AS_OF)
    state = _state_after(decided.items, empty, decided.cluster_state)
    old2 = _run(ProcessRecordsByStage, _records(second, 1000), state, tmp_path / "old2")
    new2 = _run(ProcessRecords, _records(second, 1000), state, tmp_path / "new2")
    assert new2 == old2
    kinds = {row["duplicate_kind"] for row in old2["items"]}
    assert {"url", "content", "native-id"} <= kinds, kinds
    # The variants' copies of batch one's post 4 and of the official post: content, url, near, native id.
    assert sum(row["duplicate_of"] is not None for row in old2["items"]) >= 5
    assert any(row["stage"] == "normalize" for row in old2["dead_letters"])


def _prepared(envelopes: list[Any]) -> list[Item]:
    from transforms.batch import prepare_record
    from transforms.classify import load_classification_rules
    from transforms.extract import load_entity_rules

    rules = (load_classification_rules(), load_entity_rules())
    results = [prepare_record(record, *rules) for record in _records(envelopes, 0)]
    return [r for r in results if isinstance(r, Item)]


def test_run_batch_writes_the_same_files_as_the_per_stage_pipeline(settings: Settings, tmp_path: Path) -> None:
    """Through Kafka and the NDJSON files the sink loads: the fast path vs. per-stage + WriteToText."""
    envelopes = [raw_post(i, social=i % 3 == 0) for i in range(120)] + _variants() + _pages(3)
    producer = make_producer(settings.kafka.bootstrap, settings.kafka)
    values = [(e.key.encode(), dump_envelope(e)) for e in envelopes] + [(b"bad", b"{oops")]
    for key, value in values:
        producer.send(settings.kafka.raw_topic, key=key, value=value)
    producer.flush()
    producer.close()
    consumer = make_consumer(settings.kafka.bootstrap, settings.kafka)
    try:
        ends = end_offsets(consumer, partitions_of(consumer, settings.kafka.raw_topic))
    finally:
        consumer.close()
    ranges = [OffsetRange(tp.topic, tp.partition, 0, end) for tp, end in ends.items() if end > 0]
    assert sum(r.stop for r in ranges) == len(values)
    settings = settings.model_copy(update={"processor": ProcessorSettings(near_duplicate_threshold=THRESHOLD)})
    state = BatchState(dedupe_index=DedupeIndex(threshold=THRESHOLD), event_index=EventIndex(), as_of=AS_OF)

    def files(out: Path, by_stage: bool) -> dict[str, list[str]]:
        run_batch(
            ranges, bootstrap=settings.kafka.bootstrap, settings=settings, state=state, out_dir=out, by_stage=by_stage
        )
        assert (out / "_SUCCESS").exists()
        return {
            kind: sorted(
                _comparable(line)
                for path in sorted(out.glob(f"{kind}-*.ndjson"))
                for line in path.read_text().splitlines()
                if line.strip()
            )
            for kind in ("items", "events", "dead_letters")
        }

    old = files(tmp_path / "old", by_stage=True)
    new = files(tmp_path / "new", by_stage=False)
    assert len(old["items"]) == len(envelopes) - 1 and old["events"] and len(old["dead_letters"]) == 2
    assert new == old
