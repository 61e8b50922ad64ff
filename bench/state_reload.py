"""Cross-batch state: what a processor pays to read it from DuckDB, and what each micro-batch pays for it.

Processes N bench posts into a fresh store (embedded broker, real DuckDB file), then:
- times `load_dedupe_index` and `load_event_index` as `Processor.run_batch` calls them (a full
  reload). The figure grows with the items inside `dedupe_horizon_days` / `event_window_days`.
  With the in-process runner a processor pays it once at start and after a failed batch; with a
  runner in other processes, every micro-batch pays it.
- runs `--batches` more micro-batches of `--batch-size` new posts through the same processor,
  which keeps its state between them (the default runner), and prints what each paid for the
  state: reading it ("state" phase) plus bringing it up to the committed batch ("advance").
  Issue 11 asks for at most 0.2 s a batch with 500,000 items in the horizons.

    .venv/bin/python bench/state_reload.py [--items N] [--repeat R] [--batches B] [--batch-size S]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DO_NOT_TRACK", "1")

from pipeline_throughput import AS_OF, _Env, make_posts  # noqa: E402

from app.processor import Processor  # noqa: E402
from infra.broker import EmbeddedBroker  # noqa: E402
from infra.kafka import end_offsets  # noqa: E402
from transforms.cluster import load_event_index  # noqa: E402
from transforms.dedupe import load_dedupe_index  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000, help="bench posts processed into the store first")
    parser.add_argument("--repeat", type=int, default=3, help="timed reloads (the median is printed)")
    parser.add_argument("--batches", type=int, default=10, help="micro-batches timed with the state kept")
    parser.add_argument("--batch-size", type=int, default=100, help="new posts per timed micro-batch")
    parser.add_argument("--profile", help="write a cProfile of the timed micro-batches here")
    args = parser.parse_args(argv)
    kept: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="radar-bench-") as tmp_name:
        root = Path(tmp_name)
        broker = EmbeddedBroker(root / "broker")
        state, _ = broker.ensure_running()
        try:
            # The setup in batches of 10,000: one batch of 500,000 would hold them all in memory at once.
            env = _Env(state.bootstrap, root, batch_max_records=10_000)
            posts = make_posts(args.items + args.batches * args.batch_size)
            env.produce(posts[: args.items])
            with Processor(env.settings, bootstrap=state.bootstrap, as_of=AS_OF) as processor:
                started = time.perf_counter()
                processor.run_once()
                print(f"store: {args.items:,} posts processed in {time.perf_counter() - started:.1f} s (setup)")
                proc = env.settings.processor
                dedupe_s, event_s = [], []
                for _ in range(args.repeat):
                    with processor.store.read() as con:
                        started = time.perf_counter()
                        dedupe = load_dedupe_index(
                            con, proc.dedupe_horizon_days, AS_OF, threshold=proc.near_duplicate_threshold
                        )
                        dedupe_s.append(time.perf_counter() - started)
                        started = time.perf_counter()
                        events = load_event_index(con, proc.event_window_days, AS_OF)
                        event_s.append(time.perf_counter() - started)
                # The first batch after the reloads reads the state (the processor dropped nothing,
                # but a fresh Processor would): run one untimed, then the timed ones.
                profiler = cProfile.Profile() if args.profile else None
                for n in range(args.batches + 1):
                    start = args.items + max(0, n - 1) * args.batch_size
                    if n:
                        env.produce(posts[start : start + args.batch_size])
                    if n and profiler is not None:
                        profiler.enable()
                    batch = processor.run_batch(end_offsets(processor.consumer, processor.tps))
                    if profiler is not None:
                        profiler.disable()
                    if n and batch is not None:
                        kept.append(batch.phases)
                if profiler is not None:
                    profiler.dump_stats(args.profile)
        finally:
            broker.stop()
    d, e = statistics.median(dedupe_s), statistics.median(event_s)
    print(
        f"dedupe index {d:.3f} s ({len(dedupe):,} roots)   event index {e:.3f} s ({events!r})   "
        f"= {d + e:.3f} s per micro-batch when the state is not kept (median of {args.repeat})"
    )
    if kept:
        per_batch = [b.get("state", 0.0) + b.get("advance", 0.0) for b in kept]
        # "advance" is a part of "commit": a batch's whole time is the other phases' sum.
        whole = [sum(b.values()) - b.get("advance", 0.0) for b in kept]
        print(
            f"state kept between batches ({len(kept)} batches of {args.batch_size} new posts, {args.items:,} stored):"
            f" read {statistics.median(b.get('state', 0.0) for b in kept) * 1000:,.0f} ms"
            f" + advance {statistics.median(b.get('advance', 0.0) for b in kept) * 1000:,.0f} ms"
            f" = p50 {statistics.median(per_batch) * 1000:,.0f} ms, max {max(per_batch) * 1000:,.0f} ms per micro-batch"
            f" (whole batch p50 {statistics.median(whole) * 1000:,.0f} ms)"
        )


if __name__ == "__main__":
    main()
