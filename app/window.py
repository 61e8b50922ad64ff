"""One window end to end: ingest -> process -> hourly rollup -> digest files.

The library behind `radar digest` and `radar demo`: each step is a plain function, so it runs
and is tested without Prefect. `radar digest --prefect` passes a digest step that runs the
`daily-digest` flow instead (app/commands/digest.py), so this module never imports Prefect.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from app.processor import Processor
from connectors.ingest import run_ingest
from digest.build import build_digest
from digest.rollup import rollup_hours
from digest.select import WindowSpec
from digest.write import write_digest
from infra.config import ConfigError, Settings
from infra.session import KafkaSession

__all__ = ["StepReport", "WindowReport", "run_window"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepReport:
    name: str
    seconds: float
    summary: str
    # Sources that failed (ingest): the step still ran, but the digest stands on what the store held.
    failed: tuple[str, ...] = ()
    warning: str = ""  # the step ran, but something the user should know (no sources at all)


@dataclass
class WindowReport:
    steps: list[StepReport] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


def run_window(
    settings: Settings,
    *,
    start: date,
    end: date,
    out_dir: Path,
    lang: str | None = None,
    ingest: bool = True,
    digest_step: Callable[[date, int], list[Path]] | None = None,
    on_step: Callable[[StepReport], None] | None = None,
    on_step_start: Callable[[str], None] | None = None,
) -> WindowReport:
    """Run ingest, processing, rollup and digest for the window [start, end] (inclusive dates).

    `digest_step(window_end, days)`, when given, replaces the library digest step and returns
    the files it wrote (the CLI's `--prefect` runs the `daily-digest` flow through it).
    """

    if end < start:
        raise ConfigError(f"--to {end} is before --from {start}")
    # The digest's own window: day boundaries in the digest timezone, lookback for carry-over.
    days = (end - start).days + 1
    window = WindowSpec.ending(end, days, settings.digest.timezone, settings.digest.lookback_days)
    report = WindowReport()
    # One Kafka session for every step: the bootstrap resolved, topics ensured and the raw topic
    # reconciled once, not once per step.
    session = KafkaSession.open(settings)
    warnings: dict[str, str] = {}

    def step(name: str, fn: Callable[[], str | tuple[str, tuple[str, ...]]]) -> None:
        """`fn` returns its summary, or (summary, the sources that failed in it)."""
        if on_step_start is not None:
            on_step_start(name)
        t0 = time.perf_counter()
        outcome = fn()
        summary, failed = outcome if isinstance(outcome, tuple) else (outcome, ())
        done = StepReport(name, time.perf_counter() - t0, summary, failed, warnings.get(name, ""))
        report.steps.append(done)
        if on_step is not None:
            on_step(done)

    try:
        if ingest:

            def do_ingest() -> tuple[str, tuple[str, ...]]:
                result = run_ingest(settings, session=session)
                if not result.sources:
                    # Not an error (a store filled by other runs makes a digest), but not a quiet ✓ either.
                    warnings["ingest"] = "no enabled sources in the config: the digest uses what the store already held"
                return result.summary(), tuple(s.name for s in result.sources if s.errors)

            step("ingest", do_ingest)

        def do_process() -> str:
            # Scores include recency: measure it from the window's end so a re-run of a past
            # window reproduces the same ranking.
            with Processor(settings, as_of=window.end, session=session) as processor:
                result = processor.run_once()
                lag = sum(processor.lag().values())
            return f"{result.summary()}, lag {lag}"

        step("process", do_process)
        store = session.store

        def do_rollup() -> str:
            hours = rollup_hours(store, window.lookback_start, window.end)
            return f"{hours} hourly rows"

        step("rollup", do_rollup)

        def do_digest() -> str:
            if digest_step is not None:
                report.files = digest_step(end, days)
                return f"daily-digest flow run wrote {len(report.files)} files"
            digest = build_digest(store, settings, window_end=end, days=days, lang=lang)
            report.files = write_digest(digest, out_dir, store=store)
            return (
                f"{len(digest.top_events)} top events, {len(digest.x_signals)} X signals, "
                f"{len(digest.research)} research highlights"
            )

        step("digest", do_digest)
    finally:
        session.stop_started_broker()
    return report
