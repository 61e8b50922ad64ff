"""One window end to end: ingest -> process -> hourly rollup -> digest files.

The library behind `radar digest` and `radar demo` (and the `digest_window` Prefect
flow): each step is a plain function, so it runs and is tested without Prefect.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from infra.broker import EmbeddedBroker
from infra.config import ConfigError, Settings
from infra.store import Store

__all__ = ["StepReport", "WindowReport", "run_window"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepReport:
    name: str
    seconds: float
    summary: str


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
    prefect: bool = False,
    config_path: Path | None = None,
    on_step: Callable[[StepReport], None] | None = None,
    on_step_start: Callable[[str], None] | None = None,
) -> WindowReport:
    """Run ingest, processing, rollup and digest for the window [start, end] (inclusive dates).

    With `prefect=True` the digest step runs as the `daily-digest` Prefect flow (ephemeral
    mode: task retries, caching by window, the Markdown artifact); it needs `config_path`,
    because a flow run re-reads its configuration rather than receiving live objects.
    """
    from flows.prefect_env import configure_prefect

    # flows.digest and flows.rollup import prefect, which reads its settings at import time.
    configure_prefect(settings)
    from connectors.ingest import run_ingest
    from flows.digest import build_digest, write_digest
    from flows.digest_select import WindowSpec
    from flows.rollup import rollup_hours
    from infra.broker import resolve_bootstrap
    from infra.processor import Processor

    if end < start:
        raise ConfigError(f"--to {end} is before --from {start}")
    # The digest's own window: day boundaries in the digest timezone, lookback for carry-over.
    days = (end - start).days + 1
    window = WindowSpec.ending(end, days, settings.digest.timezone, settings.digest.lookback_days)
    report = WindowReport()
    bootstrap, started_here = resolve_bootstrap(settings)

    def step(name: str, fn: Callable[[], str]) -> None:
        if on_step_start is not None:
            on_step_start(name)
        t0 = time.perf_counter()
        summary = fn()
        done = StepReport(name, time.perf_counter() - t0, summary)
        report.steps.append(done)
        if on_step is not None:
            on_step(done)

    try:
        if ingest:
            def do_ingest() -> str:
                result = run_ingest(settings)
                return result.summary()

            step("ingest", do_ingest)

        def do_process() -> str:
            # Scores include recency: measure it from the window's end so a re-run of a past
            # window reproduces the same ranking.
            with Processor(settings, bootstrap=bootstrap, as_of=window.end) as processor:
                result = processor.run_once()
                lag = sum(processor.lag().values())
            return (f"{result.records} records -> {result.total('items')} items, "
                    f"{result.total('dead_letters')} dead letters, lag {lag}")

        step("process", do_process)
        store = Store(settings.store.path, settings.store.lock_timeout_s)

        def do_rollup() -> str:
            hours = rollup_hours(store, window.lookback_start, window.end)
            return f"{hours} hourly rows"

        step("rollup", do_rollup)

        def do_digest() -> str:
            if prefect:
                from flows.digest import daily_digest

                paths = daily_digest(window_end=end, days=days, lang=lang,
                                     config_path=str(config_path) if config_path else None, out_dir=str(out_dir))
                report.files = [Path(p) for p in paths]
                return f"daily-digest flow run wrote {len(paths)} files"
            digest = build_digest(store, settings, window_end=end, days=days, lang=lang)
            report.files = write_digest(digest, out_dir, store=store)
            return (f"{len(digest.top_events)} top events, {len(digest.x_signals)} X signals, "
                    f"{len(digest.research)} research highlights")

        step("digest", do_digest)
    finally:
        if started_here:
            EmbeddedBroker(settings.data_dir).stop()
    return report
