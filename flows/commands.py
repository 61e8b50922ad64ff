"""`radar digest` (DESIGN.md §6 contract) and `radar demo`."""

from __future__ import annotations

import shutil
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from infra.config import ConfigError, Settings, load_settings

__all__ = ["register"]

console = Console(highlight=False)

DEMO_WINDOW = (date(2026, 4, 13), date(2026, 4, 19))


# The window's end is the day after --to in the digest timezone; a day past 9999-12-30 cannot be
# represented, and no news has happened before 1970.
_FIRST_DAY, _LAST_DAY = date(1970, 1, 1), date(9999, 12, 30)


def _parse_day(value: str, option: str) -> date:
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise ConfigError(f"{option} must be YYYY-MM-DD, got {value!r}") from None
    if not _FIRST_DAY <= day <= _LAST_DAY:
        raise ConfigError(f"{option} must be between {_FIRST_DAY} and {_LAST_DAY}, got {value}")
    return day


def _run_with_progress(
    settings: Settings, start: date, end: date, out: Path, lang: str | None,
    prefect: bool = False, config_path: Path | None = None,
) -> list[Path]:
    from flows.window import StepReport, run_window

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task("starting", total=None)

        def started(name: str) -> None:
            progress.update(task, description=f"{name} ...")

        def finished(step: StepReport) -> None:
            progress.console.print(f"[green]✓[/green] {step.name:<8} {step.seconds:6.1f} s  {step.summary}")

        report = run_window(settings, start=start, end=end, out_dir=out, lang=lang, prefect=prefect,
                            config_path=config_path, on_step_start=started, on_step=finished)
    return report.files


def register(app: typer.Typer) -> None:
    @app.command("digest")
    def digest(
        ctx: typer.Context,
        date_from: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD (digest timezone).")],
        date_to: Annotated[str, typer.Option("--to", help="Last day of the window, YYYY-MM-DD (inclusive).")],
        out: Annotated[Path, typer.Option("--out", help="Directory for digest-<to>.md/.json/.html.")],
        config: Annotated[Path | None, typer.Option("--config", "-c", help="TOML config (or $RADAR_CONFIG).")] = None,
        lang: Annotated[str | None, typer.Option("--lang", help="zh or en (default: digest.language).")] = None,
        prefect: Annotated[
            bool, typer.Option("--prefect", help="Build the digest through the daily-digest Prefect flow.")
        ] = False,
    ) -> None:
        """Ingest, process and roll up the window, then write DIR/digest-<to>.{md,json,html}."""
        if lang is not None and lang not in ("zh", "en"):
            raise ConfigError(f"--lang must be zh or en, got {lang!r}")
        config_path = config if config is not None else ctx.obj.config
        if prefect and config_path is None:
            raise ConfigError("--prefect needs --config (a flow run reads its configuration from the file)")
        settings = load_settings(config_path)
        start, end = _parse_day(date_from, "--from"), _parse_day(date_to, "--to")
        if end < start:
            raise ConfigError(f"--to {date_to} is before --from {date_from}")
        files = _run_with_progress(settings, start, end, out, lang, prefect=prefect, config_path=config_path)
        for path in files:
            console.print(f"wrote {path}")

    @app.command("demo")
    def demo(
        out: Annotated[Path, typer.Option("--out", help="Where to write the digest.")] = Path("out/demo"),
        lang: Annotated[str | None, typer.Option("--lang", help="zh or en.")] = None,
    ) -> None:
        """The whole job on the bundled sample corpus, served on 127.0.0.1: no network, no arguments."""
        files = _run_demo(Path("data/demo"), out, lang)
        md = next((p for p in files if p.suffix == ".md"), None)
        if md is not None:
            console.print(f"[bold]digest:[/bold] {md.resolve()}")

    @app.command("eval")
    def evaluate_command(
        out: Annotated[Path, typer.Option("--out", help="Where to write the evaluated digest.")] = Path("out/eval"),
    ) -> None:
        """Run the demo pipeline and score it against the corpus's labelled ground truth."""
        from rich.table import Table

        from flows.evaluate import evaluate
        from infra.store import Store
        from schemas.digest import Digest

        data_dir = Path("data/eval")
        files = _run_demo(data_dir, out, None)
        digest_json = next((p for p in files if p.suffix == ".json"), None)
        digest = Digest.model_validate_json(digest_json.read_bytes()) if digest_json else None
        quality = evaluate(Store(data_dir / "radar.duckdb"), digest)
        table = Table(title="quality on the labelled sample corpus")
        table.add_column("measure")
        table.add_column("value", justify="right")
        for name, value in quality.rows():
            table.add_row(name, value)
        console.print(table)


def _run_demo(data_dir: Path, out: Path, lang: str | None) -> list[Path]:
    from connectors.sample_server import sample_sources, serve_corpus

    # A demo is a fresh run every time: the embedded broker is memory-only anyway.
    shutil.rmtree(data_dir, ignore_errors=True)
    with serve_corpus() as server:
        settings = Settings(
            data_dir=data_dir,
            store={"path": data_dir / "radar.duckdb"},
            # Every corpus request goes to one local host: politeness delays only slow the demo.
            fetch={"per_host_interval_s": 0},
            sources=sample_sources(server.base_url),
        )
        console.print(f"serving the sample corpus on {server.base_url} "
                      f"({len(settings.sources)} sources, window {DEMO_WINDOW[0]} .. {DEMO_WINDOW[1]})")
        files = _run_with_progress(settings, *DEMO_WINDOW, out, lang)
    for path in files:
        console.print(f"wrote {path}")
    return files
