"""Processing throughput: normalize -> score in a plain loop vs. the Beam pipeline, and follow-mode latency.

Prints, for short posts and for full HTML pages:
  (a) items/s through normalize -> dedupe -> classify -> extract -> cluster -> score in a plain
      Python loop calling the same stage functions the Beam DoFns call (with a per-stage split);
  (b) items/s through the Beam pipeline on FnApiRunner, reading the records from a real embedded
      broker: `run_batch` alone ("pipeline only") and `Processor.run_once` ("pipeline + DuckDB
      commit", which adds offset/state loading, alert/DLQ sends and the DuckDB transaction);
      beside them the same batch done by hand: read the ranges from Kafka, parse, the stages,
      write the NDJSON outputs, with the functions `run_batch` calls and no Beam;
  (c) the Beam overhead (1.0 = none): by-hand rate / Beam rate, and stages-only rate / Beam rate;
  (e) the per-record costs a Beam batch pays outside the stage functions (parse, gather, write);
  (d) p50/p99 latency in follow mode: a producer thread writes posts at a steady rate while
      `Processor.follow` runs; latency = commit time of the batch holding a record - its produce time.

    .venv/bin/python bench/pipeline_throughput.py [--quick] [--posts N] [--pages N] [--rate R] [--seconds S]
                                                 [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DO_NOT_TRACK", "1")

from kafka import TopicPartition  # noqa: E402

from app.pipeline import _batch_gc, run_batch  # noqa: E402
from app.processor import Processor  # noqa: E402
from app.read import OffsetRange  # noqa: E402
from bench.machine import reference_loop_s  # noqa: E402
from infra.broker import EmbeddedBroker  # noqa: E402
from infra.config import KafkaSettings, ProcessorSettings, Settings, StoreSettings  # noqa: E402
from infra.kafka import (  # noqa: E402
    TopicSpec,
    end_offsets,
    ensure_topics,
    make_consumer,
    make_producer,
    partitions_of,
    read_range,
)
from schemas.common import KafkaCoordinates, SourceRef  # noqa: E402
from schemas.dead_letter import DeadLetter  # noqa: E402
from schemas.envelope import dump_envelope, parse_envelope  # noqa: E402
from schemas.raw import Fetch, RawPage, ReceivedRaw  # noqa: E402
from tests.factories import WEEK_START, raw_post  # noqa: E402
from transforms import cluster, normalize  # noqa: E402
from transforms.batch import (  # noqa: E402
    BatchState,
    GatheredBatch,
    _BatchCoder,
    decide_gathered,
    prepare_record,
)
from transforms.classify import classify_item, load_classification_rules  # noqa: E402
from transforms.cluster import EventIndex, cluster_batch  # noqa: E402
from transforms.dedupe import DedupeIndex, dedupe_items  # noqa: E402
from transforms.extract import extract_item, load_entity_rules  # noqa: E402
from transforms.normalize import normalize_record  # noqa: E402
from transforms.score import load_scoring_rules, score_batch  # noqa: E402

AS_OF = datetime(2026, 4, 20, tzinfo=UTC)
THRESHOLD = 0.8
PAGES_DIR = Path(__file__).resolve().parent.parent / "connectors" / "sample_corpus" / "site" / "pages"
# Extra Beam flags for every Beam run (--pipeline-option).
PIPELINE_OPTIONS: list[str] = []
STAGES = ("normalize", "dedupe", "classify", "extract", "cluster", "score")


# --------------------------------------------------------------------------- inputs


def make_posts(n: int) -> list[Any]:
    """Distinct feed entries and X posts (one in three social), as the crash test produces them."""
    return [raw_post(i, social=i % 3 == 0) for i in range(n)]


def _decode(body: bytes) -> str:
    # Two sample pages are GB-encoded on purpose (the connectors repair charsets before Kafka).
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return body.decode("gb18030", errors="replace")


def make_pages(n: int) -> list[RawPage]:
    """The sample corpus pages, each copy made distinct (own URL, own lead sentence)."""
    files = sorted(PAGES_DIR.rglob("*.html"))
    if not files:
        raise SystemExit(f"no sample pages under {PAGES_DIR}")
    bodies = [(f, _decode(f.read_bytes())) for f in files]
    source = SourceRef(
        name="bench-pages", kind="html", tier="media", publisher="Bench Pages", url="http://127.0.0.1/pages/"
    )
    pages = []
    for i in range(n):
        path, html = bodies[i % len(bodies)]
        note = f"<p>Bench copy {i} with serial {i * 7919 % 1000003} keeps this copy distinct.</p>"
        marker = "<article" if "<article" in html else "<body"
        at = html.find(">", html.find(marker)) + 1 if marker in html else 0
        html = html[:at] + note + html[at:]
        url = f"http://127.0.0.1/pages/{path.relative_to(PAGES_DIR).as_posix()}?copy={i}"
        fetch = Fetch(
            requested_url=url, final_url=url, status=200, fetched_at=WEEK_START, content_type="text/html; charset=utf-8"
        )
        pages.append(RawPage(key=url, source=source, fetch=fetch, html=html))
    return pages


def received(envelopes: Sequence[Any]) -> list[ReceivedRaw]:
    return [
        ReceivedRaw(
            envelope=e,
            coordinates=KafkaCoordinates(topic="bench", partition=0, offset=i, key=e.key, timestamp=WEEK_START),
        )
        for i, e in enumerate(envelopes)
    ]


def _clear_item_caches() -> None:
    # Per-item caches must not carry over from one timed run to the next (rule loaders may).
    normalize.canonical_url.cache_clear()
    cluster.product_key.cache_clear()
    cluster.rules.cached_slug.cache_clear()


# --------------------------------------------------------------------------- plain loop


def plain_batch(records: Sequence[ReceivedRaw], as_of: datetime, times: dict[str, float]) -> tuple[int, int, int]:
    """One batch through the stage functions the DoFns call, in the pipeline's order. -> (items, events, dead)."""
    clock = time.perf_counter
    dedupe_index = DedupeIndex(threshold=THRESHOLD)
    event_index = EventIndex()
    class_rules = load_classification_rules()
    entity_rules = load_entity_rules()

    t0 = clock()
    items, dead = [], 0
    for record in records:
        result = normalize_record(record)
        if isinstance(result, DeadLetter):
            dead += 1
        else:
            items.append(result)
    t1 = clock()
    items = dedupe_items(items, dedupe_index, THRESHOLD)
    t2 = clock()
    items = [classify_item(item, class_rules) for item in items]
    t3 = clock()
    items = [extract_item(item, entity_rules) for item in items]
    t4 = clock()
    clustered = cluster_batch(items, event_index)
    items = clustered.items
    dead += len(clustered.dead_letters)
    t5 = clock()
    events, letters = score_batch(items, clustered.members, as_of, load_scoring_rules(), clustered.built)
    dead += len(letters)
    t6 = clock()
    for name, (a, b) in zip(STAGES, ((t0, t1), (t1, t2), (t2, t3), (t3, t4), (t4, t5), (t5, t6)), strict=True):
        times[name] += b - a
    return len(items), len(events), dead


def bench_plain(records: Sequence[ReceivedRaw], label: str, repeat: int = 1) -> float:
    """Items/s of the stage functions over `records`: the median of `repeat` timed runs, each on fresh
    indexes (this shared machine's speed drifts by ±10% from minute to minute; more runs show how much)."""
    plain_batch(records[: min(200, len(records))], AS_OF, defaultdict(float))  # warm-up: rules, imports
    rates = []
    for _ in range(repeat):
        _clear_item_caches()
        reference = reference_loop_s()
        times: dict[str, float] = defaultdict(float)
        # The same garbage-collector policy as a Beam batch (run_batch), so the ratio measures Beam alone.
        with _batch_gc():
            started = time.perf_counter()
            n_items, n_events, n_dead = plain_batch(records, AS_OF, times)
            elapsed = time.perf_counter() - started
        rates.append(len(records) / elapsed)
        print(
            f"  plain loop   {label:<6} {len(records):>7,} in {elapsed:6.2f} s = {rates[-1]:>9,.0f} items/s"
            f"   ({n_items:,} items, {n_events:,} events, {n_dead} dead letters; reference loop {reference:.2f} s)"
        )
        split = "  ".join(f"{name} {times[name] / len(records) * 1e6:,.0f}" for name in STAGES)
        print(f"      µs/item: {split}")
    if repeat > 1:
        print(
            f"  plain loop   {label:<6} {repeat} runs: median {statistics.median(rates):,.0f}, best {max(rates):,.0f},"
            f" worst {min(rates):,.0f} items/s"
        )
    return statistics.median(rates)


# --------------------------------------------------------------------------- Beam


class _Env:
    """A fresh set of topics and a fresh DuckDB file on the shared embedded broker."""

    def __init__(self, bootstrap: str, root: Path, **processor: Any) -> None:
        suffix = uuid.uuid4().hex[:8]
        self.kafka = KafkaSettings(
            bootstrap=bootstrap,
            raw_topic=f"bench.raw.{suffix}",
            dlq_topic=f"bench.dlq.{suffix}",
            alerts_topic=f"bench.alerts.{suffix}",
        )
        ensure_topics(
            bootstrap,
            self.kafka,
            [
                TopicSpec(self.kafka.raw_topic, self.kafka.raw_partitions),
                TopicSpec(self.kafka.dlq_topic, self.kafka.dlq_partitions),
                TopicSpec(self.kafka.alerts_topic, self.kafka.alerts_partitions),
            ],
        )
        data = root / suffix
        processor.setdefault("pipeline_options", PIPELINE_OPTIONS)
        self.settings = Settings(
            data_dir=data,
            kafka=self.kafka,
            store=StoreSettings(path=data / "radar.duckdb", lock_timeout_s=30),
            processor=ProcessorSettings(**processor),
        )

    def produce(self, envelopes: Sequence[Any]) -> None:
        producer = make_producer(self.kafka.bootstrap, self.kafka, linger_ms=20)
        for envelope in envelopes:
            producer.send(self.kafka.raw_topic, key=envelope.key.encode(), value=dump_envelope(envelope))
        producer.flush()
        producer.close()

    def ranges(self) -> list[OffsetRange]:
        consumer = make_consumer(self.kafka.bootstrap, self.kafka)
        try:
            tps = partitions_of(consumer, self.kafka.raw_topic)
            ends = end_offsets(consumer, tps)
        finally:
            consumer.close()
        return [OffsetRange(tp.topic, tp.partition, 0, ends[tp]) for tp in tps if ends[tp] > 0]


def _empty_state() -> BatchState:
    return BatchState(dedupe_index=DedupeIndex(threshold=THRESHOLD), event_index=EventIndex(), as_of=AS_OF)


def plain_end_to_end(bootstrap: str, settings: Settings, ranges: Sequence[OffsetRange], out_dir: Path) -> None:
    """A Beam batch's whole work by hand: read the ranges from Kafka, parse, the stages, write the NDJSON outputs.

    The same functions `run_batch` calls, without Beam: the honest baseline for Beam's own cost.
    """
    class_rules, entity_rules = load_classification_rules(), load_entity_rules()
    consumer = make_consumer(bootstrap, settings.kafka)
    try:
        prepared = [
            prepare_record(record, class_rules, entity_rules)
            for r in ranges
            for record in read_range(consumer, TopicPartition(r.topic, r.partition), r.start, r.stop)
        ]
    finally:
        consumer.close()
    decided = decide_gathered(prepared, _empty_state(), THRESHOLD, load_scoring_rules())
    out_dir.mkdir(parents=True, exist_ok=True)
    for kind, models in (("items", decided.items), ("events", decided.events), ("dead_letters", decided.dead_letters)):
        (out_dir / f"{kind}.ndjson").write_bytes(b"".join(dump_envelope(model) + b"\n" for model in models))


def bench_beam(bootstrap: str, root: Path, envelopes: Sequence[Any], label: str) -> tuple[float, float, float]:
    n = len(envelopes)
    env = _Env(bootstrap, root, batch_max_records=3 * n)  # one batch: _plan shares it over partitions
    started = time.perf_counter()
    env.produce(envelopes)
    produce_s = time.perf_counter() - started
    ranges = env.ranges()
    assert sum(r.stop - r.start for r in ranges) == n, "broker holds a different record count"

    # Warm-up: Beam imports and the first pipeline's one-off costs are not part of a batch.
    warm = [OffsetRange(r.topic, r.partition, r.start, min(r.stop, r.start + 50)) for r in ranges]
    run_batch(warm, bootstrap=bootstrap, settings=env.settings, state=_empty_state(), out_dir=root / "warm")

    _clear_item_caches()
    with _batch_gc():
        started = time.perf_counter()
        plain_end_to_end(bootstrap, env.settings, ranges, root / f"plain-{label}")
        by_hand_s = time.perf_counter() - started

    _clear_item_caches()
    started = time.perf_counter()
    run_batch(ranges, bootstrap=bootstrap, settings=env.settings, state=_empty_state(), out_dir=root / f"out-{label}")
    pipeline_s = time.perf_counter() - started
    pipeline_rate = n / pipeline_s

    _clear_item_caches()
    with Processor(env.settings, bootstrap=bootstrap, as_of=AS_OF) as processor:
        started = time.perf_counter()
        report = processor.run_once()
        commit_s = time.perf_counter() - started
    assert report.records == n, f"processor consumed {report.records} of {n}"
    commit_rate = n / commit_s
    print(f"  produce      {label:<6} {n:>7,} in {produce_s:6.2f} s = {n / produce_s:>9,.0f} msg/s (setup, not timed)")
    print(
        f"  by hand      {label:<6} {n:>7,} in {by_hand_s:6.2f} s = {n / by_hand_s:>9,.0f} items/s   "
        "read + parse + stages + NDJSON write, no Beam"
    )
    print(f"  Beam         {label:<6} {n:>7,} in {pipeline_s:6.2f} s = {pipeline_rate:>9,.0f} items/s   pipeline only")
    print(
        f"  Beam+DuckDB  {label:<6} {n:>7,} in {commit_s:6.2f} s = {commit_rate:>9,.0f} items/s   "
        f"Processor.run_once ({len(report.batches)} batch, {report.total('items'):,} items, "
        f"{report.total('events'):,} events)"
    )
    return n / by_hand_s, pipeline_rate, commit_rate


# --------------------------------------------------------------------------- follow mode


class _TracingProcessor(Processor):
    """Remembers the offset ranges of the batch in flight, so a commit can be matched to records."""

    planned: list[OffsetRange] = []

    def _plan(self, stored: dict[int, int], ends: dict[Any, int]) -> list[OffsetRange]:
        ranges = super()._plan(stored, ends)
        self.planned = ranges
        return ranges


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def _produce_at_rate(
    bootstrap: str, kafka: KafkaSettings, values: list[tuple[bytes, bytes]], rate: float, out_path: str
) -> None:
    """Child process: send `values` at `rate`/s, then write [(partition, offset, send time), ...] to `out_path`.

    A process of its own, as connectors are: a producer thread inside the processor's process
    would wait for the GIL while a batch runs, and its records would reach Kafka late.
    """
    sent: list[tuple[int, int, float]] = []
    producer = make_producer(bootstrap, kafka, linger_ms=2)
    start = time.time()
    for i, (key, value) in enumerate(values):
        delay = start + i / rate - time.time()
        if delay > 0:
            time.sleep(delay)
        producer.send(kafka.raw_topic, key=key, value=value, timestamp_ms=int(time.time() * 1000)).add_callback(
            lambda meta: sent.append((meta.partition, meta.offset, meta.timestamp / 1000))
        )
    producer.flush()
    producer.close()
    Path(out_path).write_text(json.dumps(sent))


def bench_follow(bootstrap: str, root: Path, rate: float, seconds: float, poll_s: float) -> None:
    env = _Env(bootstrap, root, poll_interval_s=poll_s)
    total = int(rate * seconds)
    posts = make_posts(total)
    values = [(p.key.encode(), dump_envelope(p)) for p in posts]
    sent_path = root / f"sent-{uuid.uuid4().hex[:8]}.json"
    commits: list[tuple[float, list[OffsetRange], float]] = []
    committed = 0

    def progress(batch: Any) -> None:
        nonlocal committed
        commits.append((time.time(), list(processor.planned), batch.seconds))
        committed += batch.records

    processor = _TracingProcessor(env.settings, bootstrap=bootstrap)
    # Warm-up batch so the first measured batch does not pay Beam's import and set-up costs.
    warm_env = _Env(bootstrap, root)
    warm_env.produce(make_posts(20))
    with Processor(warm_env.settings, bootstrap=bootstrap) as warm:
        warm.run_once()

    child = multiprocessing.get_context("spawn").Process(
        target=_produce_at_rate, args=(bootstrap, env.kafka, values, rate, str(sent_path)), daemon=True
    )
    deadline = time.monotonic() + seconds * 4 + 60
    child.start()
    try:
        processor.follow(
            lambda: (
                (not child.is_alive() and (committed >= total or child.exitcode != 0)) or time.monotonic() > deadline
            ),
            progress,
        )
    finally:
        processor.close()
        child.join(timeout=30)
    if child.exitcode != 0 or not sent_path.exists():
        raise SystemExit(f"producer process failed (exit code {child.exitcode})")
    produced = {(partition, offset): when for partition, offset, when in json.loads(sent_path.read_text())}
    latencies: list[float] = []
    batch_latency: list[float] = []
    for when, ranges, _ in commits:
        oldest = None
        for r in ranges:
            for offset in range(r.start, r.stop):
                sent = produced.get((r.partition, offset))
                if sent is not None:
                    latencies.append(when - sent)
                    oldest = sent if oldest is None else min(oldest, sent)
        if oldest is not None:
            batch_latency.append(when - oldest)
    sizes = [sum(r.stop - r.start for r in ranges) for _, ranges, _ in commits]
    durations = [s for _, _, s in commits]
    print(
        f"  follow: {total:,} posts at {rate:,.0f}/s for {seconds:g} s, poll_interval_s={poll_s}; "
        f"{len(commits)} batches, {committed:,} records committed, mean batch {statistics.mean(sizes):,.0f}"
    )
    print(
        f"  latency per record (commit - produce): p50 {_percentile(latencies, 50) * 1000:,.0f} ms"
        f"   p99 {_percentile(latencies, 99) * 1000:,.0f} ms   max {max(latencies) * 1000:,.0f} ms"
    )
    print(
        f"  latency per batch (commit - oldest record): p50 {_percentile(batch_latency, 50) * 1000:,.0f} ms"
        f"   p99 {_percentile(batch_latency, 99) * 1000:,.0f} ms;  batch run time p50 "
        f"{_percentile(durations, 50) * 1000:,.0f} ms  p99 {_percentile(durations, 99) * 1000:,.0f} ms"
    )


# --------------------------------------------------------------------------- per-record costs outside the stages


def bench_fixed_costs(posts: Sequence[Any]) -> None:
    """What a Beam batch pays per record besides the stages: parse, the gather's pickle round trip, the write."""
    values = [dump_envelope(post) for post in posts]
    class_rules, entity_rules = load_classification_rules(), load_entity_rules()
    items = [extract_item(classify_item(normalize_record(r), class_rules), entity_rules) for r in received(posts)]
    coder = _BatchCoder()
    clock = time.perf_counter
    costs: dict[str, float] = {}
    with _batch_gc():
        started = clock()
        for value in values:
            parse_envelope(value)
        costs["parse envelope"] = clock() - started
        started = clock()
        encoded = coder.encode(GatheredBatch(items))
        costs["gather encode"] = clock() - started
        started = clock()
        coder.decode(encoded)
        costs["gather decode"] = clock() - started
        started = clock()
        for item in items:
            dump_envelope(item)
        costs["write item JSON"] = clock() - started
    per = {name: seconds / len(posts) * 1e6 for name, seconds in costs.items()}
    total = sum(per.values())
    print("(e) per-record costs of a Beam batch outside the stage functions (posts, µs/record)")
    print(
        "  "
        + "  ".join(f"{name} {value:,.1f}" for name, value in per.items())
        + f"   = {total:,.1f} µs: at most {1e6 / total:,.0f} records/s on one core before any stage runs"
    )


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small inputs, short follow run")
    parser.add_argument("--posts", type=int, default=None)
    parser.add_argument("--pages", type=int, default=None)
    parser.add_argument("--rate", type=float, default=500.0, help="follow mode: posts/s produced")
    parser.add_argument("--seconds", type=float, default=None, help="follow mode: how long to produce")
    parser.add_argument("--poll", type=float, default=0.05, help="follow mode: poll_interval_s")
    parser.add_argument("--skip-beam", action="store_true", help="plain loop only (profiling)")
    parser.add_argument("--repeat", type=int, default=1, help="timed runs of the plain loop (the median is used)")
    parser.add_argument(
        "--pipeline-option",
        action="append",
        default=[],
        dest="pipeline_options",
        help="extra Beam pipeline flag for the Beam runs (repeatable), e.g. --direct_num_workers=2",
    )
    args = parser.parse_args(argv)
    PIPELINE_OPTIONS.extend(args.pipeline_options)
    n_posts = args.posts or (4_000 if args.quick else 20_000)
    n_pages = args.pages or (200 if args.quick else 1_000)
    seconds = args.seconds or (5.0 if args.quick else 15.0)

    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    logging.getLogger("apache_beam").setLevel(logging.ERROR)

    posts, pages = make_posts(n_posts), make_pages(n_pages)
    print(
        f"== pipeline throughput ({os.cpu_count()} cores, Python {sys.version.split()[0]}): "
        f"{n_posts:,} posts, {n_pages:,} pages"
    )
    print("(a) plain Python loop, normalize -> score")
    plain = {
        "posts": bench_plain(received(posts), "posts", args.repeat),
        "pages": bench_plain(received(pages), "pages", args.repeat),
    }
    bench_fixed_costs(posts[:5000])
    if args.skip_beam:
        return

    with tempfile.TemporaryDirectory(prefix="radar-bench-") as tmp_name:
        root = Path(tmp_name)
        broker = EmbeddedBroker(root / "broker")
        state, _ = broker.ensure_running()
        try:
            print(f"(b) Beam pipeline, FnApiRunner, embedded broker at {state.bootstrap}")
            beam_rates = {
                "posts": bench_beam(state.bootstrap, root, posts, "posts"),
                "pages": bench_beam(state.bootstrap, root, pages, "pages"),
            }
            print(
                "(c) Beam overhead (1.0 = none; goal <= 1.5): the same work by hand / the Beam pipeline;"
                " in brackets the stages-only loop of (a) / the Beam pipeline"
            )
            for label in ("posts", "pages"):
                by_hand, only, commit = beam_rates[label]
                print(
                    f"  {label:<6} pipeline only {by_hand / only:5.2f}x ({plain[label] / only:4.2f}x)   "
                    f"pipeline + DuckDB commit {by_hand / commit:5.2f}x ({plain[label] / commit:4.2f}x)"
                )
            print("(d) follow mode")
            bench_follow(state.bootstrap, root, args.rate, seconds, args.poll)
        finally:
            broker.stop()


if __name__ == "__main__":
    main()
