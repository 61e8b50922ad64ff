"""Alert latency: from a raw item produced to its alert on `radar.alerts.v1` and at a webhook receiver.

Starts the embedded broker in a temporary directory, fills a fresh DuckDB store with `--preload`
items published over the last six days (so they sit inside the dedupe and event windows every
micro-batch reads), then runs the processor's `--follow` loop in this process while a child
process produces `--items` new posts at a steady `--rate` per second. Every new post is its own
event (a made-up organisation and product) and `--min-score` defaults to 0, so each one raises
an alert: the worst case, every record an alert. Two more child processes, as real consumers
would be, take the receipt times: a webhook receiver on 127.0.0.1 (`local = true`, signed
Standard Webhooks deliveries, each signature verified) and a Kafka consumer of the alerts topic.

    .venv/bin/python bench/alert_latency.py                  # 100,000 preloaded, 1,000 at 200/s
    .venv/bin/python bench/alert_latency.py --quick          # 5,000 preloaded, 300 at 200/s
    .venv/bin/python bench/alert_latency.py --preload 20000 --items 1000 --profile out.prof
    .venv/bin/python bench/alert_latency.py --store-cache /tmp/radar-100k.duckdb   # A/B runs, ~1 min each

Goal (issue 13): p99 < 1 s to the topic and < 1.5 s to the webhook, on 2 cores, with 100k items
already in the store. Latency = receipt time in the consumer process - the producer's send time.
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DO_NOT_TRACK", "1")

from app.processor import Processor  # noqa: E402
from bench.machine import reference_loop_s  # noqa: E402
from infra.broker import EmbeddedBroker  # noqa: E402
from infra.config import (  # noqa: E402
    AlertSettings,
    KafkaSettings,
    ProcessorSettings,
    Settings,
    StoreSettings,
    WebhookConfig,
)
from infra.kafka import ensure_topics, make_consumer, make_producer, partitions_of  # noqa: E402
from schemas.envelope import dump_envelope  # noqa: E402
from schemas.raw import RawPost  # noqa: E402
from tests.factories import feed_source, raw_post  # noqa: E402

SECRET_ENV = "RADAR_BENCH_WEBHOOK_SECRET"
SECRET = "whsec_" + base64.b64encode(os.urandom(32)).decode()


# --------------------------------------------------------------------------- records


def _at(post: RawPost, when: datetime) -> RawPost:
    """`post` as if published at `when` (raw_post dates its posts in a fixed week of April)."""
    fetch = post.fetch.model_copy(update={"fetched_at": when + timedelta(seconds=1)})
    return post.model_copy(update={"published_at": when, "published": format_datetime(when), "fetch": fetch})


def preload_posts(n: int, now: datetime) -> list[RawPost]:
    """`n` bench posts (one in three from X) spread over the six days before `now`."""
    span = timedelta(days=6)
    return [_at(raw_post(i, social=i % 3 == 0), now - span + span * (i / max(1, n))) for i in range(n)]


def _word(n: int) -> str:
    """A made-up word, different for every n: fresh titles share no word the clustering could join on."""
    syllables = ["ka", "lo", "mi", "ru", "te", "za", "po", "ne", "vi", "su", "da", "fe", "go", "hu", "ji", "ba"]
    out = ""
    while True:
        out += syllables[n % 16]
        n //= 16
        if n == 0:
            return out


def fresh_post(i: int, when: datetime) -> RawPost:
    """A post no earlier item is about (made-up names, no shared words), so it opens an event of its own."""
    title = " ".join(_word(i * 11 + k + 65536).capitalize() for k in range(8))
    post = raw_post(1_000_000 + i, source=feed_source(name=f"wire-{i % 50}", publisher=f"Wire {i % 50}"))
    url = f"https://news.example.com/bench/{uuid.uuid4().hex[:8]}/{i}"
    post = post.model_copy(
        update={
            "key": url,
            "native_id": url,
            "url": url,
            "title": title,
            # Topic words in the body only, none of them a name: relevant enough to
            # alert, nothing to cluster on. (A shared name such as "AI" joined every
            # post into one event once the store held events that never name it.)
            "summary_html": f"<p>{title}: a new open-weight language model, trained with reinforcement learning.</p>",
        }
    )
    return _at(post, when)


# --------------------------------------------------------------------------- child processes


def produce_at_rate(
    bootstrap: str, kafka: KafkaSettings, values: list[tuple[bytes, bytes]], rate: float, out: Connection
) -> None:
    """Send `values` at `rate`/s; report {key: send time} (a process of its own, as connectors are)."""
    sent: dict[str, float] = {}
    producer = make_producer(bootstrap, kafka, linger_ms=2)
    start = time.time()
    for i, (key, value) in enumerate(values):
        delay = start + i / rate - time.time()
        if delay > 0:
            time.sleep(delay)  # pacing the load, not synchronisation
        now = time.time()
        sent[key.decode()] = now
        producer.send(kafka.raw_topic, key=key, value=value, timestamp_ms=int(now * 1000))
    producer.flush()
    producer.close()
    out.send(sent)


def receive_webhooks(secret: str, port_out: Connection, stop: Any, out: Connection) -> None:
    """A webhook receiver on 127.0.0.1: verifies each signature, keeps {alert id: (receipt time, urls)}."""
    from infra.webhooks import load_secret, verify

    key = load_secret(secret)
    got: dict[str, tuple[float, list[str]]] = {}
    bad = 0
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real receivers (Slack, web frameworks) speak

        def do_POST(self) -> None:  # noqa: N802 - the http.server hook name
            nonlocal bad
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            when = time.time()
            headers = dict(self.headers.items())
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()
            doc = json.loads(body)
            urls = [s["url"] for s in doc.get("sources", []) if s.get("url")]
            with lock:
                if not verify(key, headers, body):
                    bad += 1
                got.setdefault(headers["webhook-id"], (when, urls))

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's name
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port_out.send(server.server_address[1])
    stop.wait()
    server.shutdown()
    out.send((got, bad))


def consume_alerts(bootstrap: str, kafka: KafkaSettings, ready: Any, stop: Any, out: Connection) -> None:
    """Read the alerts topic as a consumer would; keep {alert id: (receipt time, urls)}."""
    consumer = make_consumer(bootstrap, kafka)
    tps = partitions_of(consumer, kafka.alerts_topic)
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    got: dict[str, tuple[float, list[str]]] = {}
    consumer.poll(timeout_ms=100)
    ready.set()
    while not stop.is_set():
        for records in consumer.poll(timeout_ms=100).values():
            when = time.time()
            for record in records:
                doc = json.loads(record.value)
                urls = [s["url"] for s in doc.get("sources", []) if s.get("url")]
                got.setdefault(doc["alert_id"], (when, urls))
    consumer.close()
    out.send(got)


# --------------------------------------------------------------------------- the run


def _busy(stop: Any) -> None:
    """A core held by a pure-Python loop (`--busy-cores`): the machine slowed on demand, so a run
    need not wait for one of the host's slow spells to measure what they do to the latency."""
    while not stop.is_set():
        for _ in range(100_000):
            pass


def cpu_ticks() -> tuple[int, int] | None:
    """(busy, total) clock ticks of the whole machine so far (Linux /proc/stat; None elsewhere)."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            fields = [int(v) for v in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def _settings(bootstrap: str, root: Path, poll_s: float, batch_max: int, suffix: str | None = None) -> Settings:
    suffix = suffix or uuid.uuid4().hex[:8]
    kafka = KafkaSettings(
        bootstrap=bootstrap,
        raw_topic=f"bench.raw.{suffix}",
        dlq_topic=f"bench.dlq.{suffix}",
        alerts_topic=f"bench.alerts.{suffix}",
    )
    return Settings(
        data_dir=root / "data",
        kafka=kafka,
        store=StoreSettings(path=root / "data" / "radar.duckdb", lock_timeout_s=60),
        processor=ProcessorSettings(poll_interval_s=poll_s, batch_max_records=batch_max),
    )


def _produce_preload(settings: Settings, n: int, now: datetime) -> None:
    producer = make_producer(settings.kafka.bootstrap, settings.kafka, linger_ms=20)
    for post in preload_posts(n, now):
        producer.send(settings.kafka.raw_topic, key=post.key.encode(), value=dump_envelope(post))
    producer.flush()
    producer.close()


def preload(settings: Settings, n: int, now: datetime) -> None:
    if n == 0:
        return
    started = time.perf_counter()
    _produce_preload(settings, n, now)
    # Default alert rules and no webhooks: the store holds the alerts such a stream really raises.
    big = settings.model_copy(update={"processor": settings.processor.model_copy(update={"batch_max_records": 20_000})})
    with Processor(big, bootstrap=settings.kafka.bootstrap) as processor:
        processor.run_once()
    print(f"preload: {n:,} items processed into the store in {time.perf_counter() - started:.1f} s")


# A kept store is reused while its preloaded items still sit well inside the windows they were made for.
_STORE_CACHE_MAX_AGE = timedelta(hours=12)


def preload_cached(settings: Settings, n: int, now: datetime, cache: Path) -> None:
    """`preload`, or a copy of the store a previous run preloaded with the same `n` (`--store-cache`).

    Reusing: the same `n` records go to the new broker's raw topic (same offsets as the stored ones,
    ~20 s for 100k) and the store takes the new topic's id, so the processor reads it as its own and
    continues at the end; its items are dated from the cached run's moment.
    """
    import shutil

    import duckdb

    from infra.recovery import current_topic_id

    meta_path = cache.with_name(cache.name + ".json")
    meta = json.loads(meta_path.read_text()) if cache.exists() and meta_path.exists() else None
    if meta is not None and meta.get("preload") == n:
        made = datetime.fromisoformat(meta["now"])
        if now - made <= _STORE_CACHE_MAX_AGE:
            started = time.perf_counter()
            settings.store.path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(cache, settings.store.path)
            _produce_preload(settings, n, made)
            topic_id = current_topic_id(settings.kafka.bootstrap, settings.kafka, settings.kafka.raw_topic)
            with duckdb.connect(str(settings.store.path)) as con:
                con.execute(
                    "UPDATE topic_incarnations SET topic_id = ? WHERE topic = ?", [topic_id, settings.kafka.raw_topic]
                )
            print(f"preload: {n:,} items from {cache} (made {made:%H:%M} UTC) in {time.perf_counter() - started:.1f} s")
            return
        print(f"preload: {cache} is older than {_STORE_CACHE_MAX_AGE}; preloading again")
    preload(settings, n, now)
    shutil.copy(settings.store.path, cache)
    meta_path.write_text(json.dumps({"preload": n, "now": now.isoformat()}))


def _latencies(got: dict[str, tuple[float, list[str]]], sent: dict[str, float]) -> list[float]:
    out = []
    for when, urls in got.values():
        times = [sent[u] for u in urls if u in sent]
        if times:
            # The alert is raised by the batch holding the event's first item: it waited longest.
            out.append(when - min(times))
    return out


def _line(label: str, values: list[float], expected: int) -> str:
    if not values:
        return f"  {label}: none received (expected {expected})"
    return (
        f"  {label}: {len(values):,} of {expected:,}   p50 {_percentile(values, 50) * 1000:,.0f} ms   "
        f"p95 {_percentile(values, 95) * 1000:,.0f} ms   p99 {_percentile(values, 99) * 1000:,.0f} ms   "
        f"max {max(values) * 1000:,.0f} ms   mean {statistics.mean(values) * 1000:,.0f} ms"
    )


def run(args: argparse.Namespace) -> None:
    ctx = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="radar-alert-bench-") as tmp_name:
        root = Path(tmp_name)
        broker = EmbeddedBroker(root / "broker")
        state, _ = broker.ensure_running()
        children: list[Any] = []
        busy_stop = ctx.Event()
        try:
            # A kept store's offsets name its raw topic: reused, the topics keep fixed names.
            suffix = "cached" if args.store_cache else None
            settings = _settings(state.bootstrap, root, args.poll, args.batch_max_records, suffix)
            ensure_topics(state.bootstrap, settings.kafka)
            now = datetime.now(UTC)
            if args.store_cache:
                preload_cached(settings, args.preload, now, Path(args.store_cache))
            else:
                preload(settings, args.preload, now)

            # The receiver and the topic consumer first: every receipt is then timed.
            stop = ctx.Event()
            port_recv, port_send = ctx.Pipe(duplex=False)
            hooks_recv, hooks_send = ctx.Pipe(duplex=False)
            receiver = ctx.Process(target=receive_webhooks, args=(SECRET, port_send, stop, hooks_send), daemon=True)
            receiver.start()
            children.append(receiver)
            port = port_recv.recv()
            os.environ[SECRET_ENV] = SECRET
            # A fresh alerts topic: the preload's alerts are not part of the measurement.
            kafka = settings.kafka.model_copy(update={"alerts_topic": settings.kafka.alerts_topic + ".measured"})
            hook = WebhookConfig(url=f"http://127.0.0.1:{port}/radar", secret_env=SECRET_ENV, local=True, name="bench")
            measured = settings.model_copy(
                update={"kafka": kafka, "alerts": AlertSettings(min_score=args.min_score, webhooks=[hook])}
            )
            ensure_topics(state.bootstrap, kafka)
            ready = ctx.Event()
            topic_recv, topic_send = ctx.Pipe(duplex=False)
            consumer = ctx.Process(
                target=consume_alerts, args=(state.bootstrap, kafka, ready, stop, topic_send), daemon=True
            )
            consumer.start()
            children.append(consumer)
            ready.wait(60)

            processor = Processor(measured, bootstrap=state.bootstrap)
            # A warm-up batch, so Beam's first-run costs are not part of the first measured records.
            warm = [fresh_post(10_000_000 + i, now) for i in range(5)]
            producer = make_producer(state.bootstrap, kafka)
            for post in warm:
                producer.send(kafka.raw_topic, key=post.key.encode(), value=dump_envelope(post))
            producer.flush()
            producer.close()
            processor.run_once()

            start = datetime.now(UTC)
            posts = [fresh_post(i, start + timedelta(seconds=i / args.rate)) for i in range(args.items)]
            values = [(p.key.encode(), dump_envelope(p)) for p in posts]
            sent_recv, sent_send = ctx.Pipe(duplex=False)
            child = ctx.Process(
                target=produce_at_rate, args=(state.bootstrap, kafka, values, args.rate, sent_send), daemon=True
            )
            committed = 0
            batches: list[tuple[int, float]] = []
            phases: list[dict[str, float]] = []

            def progress(batch: Any) -> None:
                nonlocal committed
                committed += batch.records
                batches.append((batch.records, batch.seconds))
                phases.append(batch.phases)

            for _ in range(args.busy_cores):
                hog = ctx.Process(target=_busy, args=(busy_stop,), daemon=True)
                hog.start()
                children.append(hog)
            speed_before = reference_loop_s()
            ticks_before = cpu_ticks()
            # Generous: a slow store makes batches long, and every produced item should be measured.
            deadline = time.monotonic() + args.items / args.rate * 6 + 1800
            child.start()
            children.append(child)
            profiler = None
            if args.profile:
                import cProfile

                profiler = cProfile.Profile()
                profiler.enable()
            try:
                processor.follow(
                    lambda: (not child.is_alive() and committed >= args.items) or time.monotonic() > deadline, progress
                )
            finally:
                # close() keeps delivering what is owed (alerts.drain_timeout_s) before it returns.
                processor.close()
                if profiler is not None:
                    profiler.disable()
                    profiler.dump_stats(args.profile)
            ticks_after = cpu_ticks()
            speed_after = reference_loop_s()
            busy_stop.set()
            sent = sent_recv.recv()
            stop.set()
            hooks, bad = hooks_recv.recv()
            topic = topic_recv.recv()
        finally:
            busy_stop.set()
            for c in children:
                c.join(timeout=30)
            broker.stop()
    sizes = [n for n, _ in batches]
    took = [s for _, s in batches]
    print(
        f"follow: {args.items:,} items at {args.rate:g}/s, {len(batches)} batches (mean {statistics.mean(sizes):.0f}"
        f" records, run time p50 {_percentile(took, 50) * 1000:,.0f} ms, p99 {_percentile(took, 99) * 1000:,.0f} ms),"
        f" poll_interval_s={args.poll}, preload {args.preload:,}"
    )
    print(f"  machine speed: reference loop {speed_before:.2f} s before, {speed_after:.2f} s after (here 0.19-0.33 s)")
    if args.busy_cores:
        print(f"  busy loops holding {args.busy_cores} core(s) while following (--busy-cores)")
    if ticks_before is not None and ticks_after is not None and ticks_after[1] > ticks_before[1]:
        # Everything on the machine while following (the processor, the broker, this bench's receiver
        # and consumer): near 100%, a batch waits for a core and the queue grows.
        busy = (ticks_after[0] - ticks_before[0]) / (ticks_after[1] - ticks_before[1])
        print(f"  machine busy while following: {busy:.0%} of {os.cpu_count()} cores")
    print(_line("produce -> alerts topic", _latencies(topic, sent), len(topic)))
    print(_line("produce -> webhook     ", _latencies(hooks, sent), len(topic)))
    # Per alert, how long after the topic the webhook had it: the commit, the claim and the POSTs queued ahead.
    behind = [hooks[a][0] - topic[a][0] for a in topic if a in hooks]
    if behind:
        print(
            f"  alerts topic -> webhook, per alert: p50 {_percentile(behind, 50) * 1000:,.0f} ms"
            f"   p99 {_percentile(behind, 99) * 1000:,.0f} ms"
        )
    print(f"  webhook deliveries {len(hooks):,}, signatures failing verification: {bad}")
    measured = [when for when, urls in hooks.values() if any(u in sent for u in urls)]
    if len(measured) > 1:
        # Deliveries per second once the first one arrived: below the alert rate, a backlog builds.
        span = max(measured) - min(measured)
        print(f"  webhook receipts over {span:.1f} s: {(len(measured) - 1) / max(span, 1e-9):,.0f}/s")
    names = list(dict.fromkeys(name for batch in phases for name in batch))
    if args.batches:
        # The p99 of a few seconds' traffic is the slowest batch's oldest record: which batch it was.
        for n, ((records, seconds), batch) in enumerate(zip(batches, phases, strict=True), start=1):
            split = "  ".join(f"{name} {batch.get(name, 0.0) * 1000:,.0f}" for name in names)
            print(f"  batch {n:>2}: {records:>4} records in {seconds * 1000:,.0f} ms ({split})")
    print(
        "  per batch, ms (p50 / max): "
        + "   ".join(
            f"{name} {_percentile([b.get(name, 0.0) for b in phases], 50) * 1000:,.0f} /"
            f" {max(b.get(name, 0.0) for b in phases) * 1000:,.0f}"
            for name in names
        )
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preload", type=int, default=100_000, help="items processed into the store first")
    parser.add_argument("--items", type=int, default=1_000, help="items produced during the measurement")
    parser.add_argument("--rate", type=float, default=200.0, help="items per second")
    parser.add_argument("--min-score", type=float, default=0.0, help="[alerts] min_score (0: every event alerts)")
    parser.add_argument("--poll", type=float, default=1.0, help="[processor] poll_interval_s (default as shipped)")
    parser.add_argument("--batch-max-records", type=int, default=10_000, help="[processor] batch_max_records")
    parser.add_argument("--quick", action="store_true", help="5,000 preloaded, 300 items: a minute, not many")
    parser.add_argument("--batches", action="store_true", help="also print every measured batch's size and phases")
    parser.add_argument(
        "--busy-cores",
        type=int,
        default=0,
        help="hold this many cores with busy loops while following: a slow machine on demand",
    )
    parser.add_argument("--profile", help="write a cProfile of the follow loop (processor + dispatcher) here")
    parser.add_argument(
        "--store-cache",
        metavar="FILE",
        help="keep the preloaded store in FILE and reuse it for up to 12 hours: ~1 min a run instead of ~3.5 at 100k"
        " (for A/B runs; the first run fills it)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.preload, args.items = min(args.preload, 5_000), min(args.items, 300)
    logging.basicConfig(level=logging.WARNING)
    run(args)


if __name__ == "__main__":
    main()
