"""Crash soak: the processor killed at every named phase, many times, over a big topic.

Produces N records (a third X posts, one in 97 poison, so every batch has dead letters
and alerts), then runs `radar process --once` children that each die at a scheduled
phase — `os._exit` at the point, or a real SIGKILL sent when the child reports the
phase on its stderr pipe — and finally one child that runs to the end. Prints crashes
per phase and the verdict: lost, doubled, misplaced items; dead letters and alerts
present once by id; and the difference from an uncrashed run of the same records.

    .venv/bin/python bench/crash_soak.py [--records 100000] [--rounds 3] [--batch 4000] [--follow]
    make soak

`--follow` crashes `radar process --follow` children instead: each batch's commit then runs beside
the next batch (app/processor.py), and a crash lands with one batch committing and the next in flight.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DO_NOT_TRACK", "1")

from infra.broker import EmbeddedBroker  # noqa: E402
from infra.config import KafkaSettings, Settings, StoreSettings  # noqa: E402
from infra.kafka import ensure_topics  # noqa: E402
from tests import crash_harness  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3, help="crashes per phase (7 processor phases)")
    parser.add_argument("--batch", type=int, default=4000, help="processor.batch_max_records")
    parser.add_argument(
        "--follow",
        action="store_true",
        help="crash `radar process --follow` children (each batch's commit beside the next batch) instead of --once",
    )
    args = parser.parse_args(argv)
    crashes = crash_harness.schedule(args.rounds)
    if args.records // args.batch <= sum(c.count - 1 for c in crashes):
        parser.error("too few batches for the schedule: raise --records or lower --batch")
    with tempfile.TemporaryDirectory(prefix="radar-soak-") as tmp_name:
        root = Path(tmp_name)
        broker = EmbeddedBroker(root / "broker")
        state, _ = broker.ensure_running()
        try:
            suffix = uuid.uuid4().hex[:8]
            kafka = KafkaSettings(
                bootstrap=state.bootstrap,
                raw_topic=f"soak.raw.{suffix}",
                dlq_topic=f"soak.dlq.{suffix}",
                alerts_topic=f"soak.alerts.{suffix}",
            )
            ensure_topics(state.bootstrap, kafka)
            settings = Settings(
                data_dir=root / "data",
                kafka=kafka,
                store=StoreSettings(path=root / "data" / "radar.duckdb", lock_timeout_s=30),
            )
            started = time.perf_counter()
            workload = crash_harness.produce_workload(settings, args.records, poison_every=97)
            print(
                f"produced {args.records:,} records ({len(workload.poison):,} poison) "
                f"in {time.perf_counter() - started:.1f} s",
                flush=True,
            )
            config = crash_harness.write_config(
                settings, root / "crash.toml", batch_max_records=args.batch, alert_min_score=10
            )
            command = crash_harness.process_command(follow=args.follow)
            hits: Counter[tuple[str, str]] = Counter()
            started = time.perf_counter()
            for number, crash in enumerate(crashes, 1):
                crash_harness.crash_once(command, crash_harness.child_env(config, crash), crash)
                hits[(crash.phase, crash.mode)] += 1
                print(f"  crash {number:>2}/{len(crashes)}: {crash.phase}:{crash.count} ({crash.mode})", flush=True)
            # The crashed config's last run, to the end, as tests/test_processor.py runs it.
            code, stderr = crash_harness.run(
                crash_harness.process_command(), crash_harness.child_env(config), timeout_s=3600
            )
            if code != 0:
                print(stderr, file=sys.stderr)
                return 1
            crashed_s = time.perf_counter() - started
            verdict = crash_harness.verify(settings, workload)
            started = time.perf_counter()
            clean = crash_harness.clean_config(
                settings, root / "clean.toml", batch_max_records=args.batch, alert_min_score=10
            )
            # A fresh interpreter, not a forked child: a result that hung on the process would differ.
            reference = subprocess.run(
                crash_harness.process_command(),
                env=crash_harness.child_env(clean),
                cwd=crash_harness.ROOT,
                capture_output=True,
                text=True,
                timeout=3600,
            )
            if reference.returncode != 0:
                print(reference.stderr, file=sys.stderr)
                return 1
            clean_s = time.perf_counter() - started
            differences = crash_harness.store_differences(settings.store.path, root / "clean.duckdb")
        finally:
            broker.stop()
    print("\ncrashes per phase (exit = os._exit at the point, kill = SIGKILL on the reported phase):")
    for phase in crash_harness.PROCESSOR_PHASES:
        print(f"  {phase:<20} exit {hits[(phase, 'exit')]}  kill {hits[(phase, 'kill')]}")
    print(
        f"\ncrashes {len(crashes)}, records {args.records:,}, items {verdict.items:,}, "
        f"lost {verdict.lost}, doubled {verdict.doubled}, misplaced {verdict.misplaced}"
    )
    print(
        f"dead letters {verdict.dead_letters:,} (poison {len(workload.poison):,}; not dead-lettered "
        f"{verdict.poison_not_dead_lettered}, missing on topic {verdict.dead_letters_missing_on_topic}, "
        f"doubled in store {verdict.dead_letters_doubled_in_store})"
    )
    print(
        f"alerts {verdict.alerts:,} (missing on topic or unrecorded {verdict.alerts_missing_on_topic}, "
        f"doubled in store {verdict.alerts_not_recorded}); repeats on the topics (at-least-once): "
        f"{verdict.topic_repeats}"
    )
    print(f"offsets at the partition ends: {verdict.offsets_at_end}")
    print(f"difference from an uncrashed run of the same records: {differences or 'none'}")
    print(f"time: crashed runs {crashed_s:.0f} s, uncrashed run {clean_s:.0f} s")
    ok = verdict.clean and not differences
    print("RESULT:", "0 lost, 0 doubled, same contents" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
