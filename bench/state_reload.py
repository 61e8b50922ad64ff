"""Cross-batch state reload: what a processor pays to read the dedupe and event indexes from DuckDB.

Processes N bench posts into a fresh store (embedded broker, real DuckDB file), then times
`load_dedupe_index` and `load_event_index` as `Processor.run_batch` calls them. The figure
grows with the items inside `dedupe_horizon_days` / `event_window_days`. With the in-process
runner a processor pays it once at start and after a failed batch (it keeps the state between
batches, infra/processor.py); with a runner in other processes, every micro-batch pays it.

    .venv/bin/python bench/state_reload.py [--items N] [--repeat R]
"""

from __future__ import annotations

import argparse
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
from transforms.cluster import load_event_index  # noqa: E402
from transforms.dedupe import load_dedupe_index  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000, help="bench posts processed into the store first")
    parser.add_argument("--repeat", type=int, default=3, help="timed reloads (the median is printed)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="radar-bench-") as tmp_name:
        root = Path(tmp_name)
        broker = EmbeddedBroker(root / "broker")
        state, _ = broker.ensure_running()
        try:
            env = _Env(state.bootstrap, root, batch_max_records=3 * args.items)
            env.produce(make_posts(args.items))
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
        finally:
            broker.stop()
    d, e = statistics.median(dedupe_s), statistics.median(event_s)
    print(
        f"dedupe index {d:.3f} s ({len(dedupe):,} roots)   event index {e:.3f} s ({events!r})   "
        f"= {d + e:.3f} s per micro-batch (median of {args.repeat})"
    )


if __name__ == "__main__":
    main()
