"""`radar ingest` and `radar sources check`; `app.cli` calls `register(app)`.

Errors a user can fix (unknown source, invalid config, Kafka unreachable) propagate
as ConfigError / KafkaError / BrokerError, which `app.cli.main` turns into one red
line and exit code 1. Dead letters alone are the expected outcome for bad input, reported in
the table. A run in which a source failed (fetch or parse errors) exits 1 after the table, with
one line naming the failed sources and their first failure, as the Prefect `ingest` flow ends
Failed: cron and shell scripts see it (`--allow-source-errors` keeps exit 0).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from infra.config import Settings
from infra.tables import print_wide

if TYPE_CHECKING:
    from connectors.ingest import IngestProgress, IngestReport, SourceCheck

__all__ = ["register"]

# Lines are not folded at 80 columns when piped (a path or URL broken in two cannot be copied);
# tables get their own width from infra.tables.print_wide.
console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

sources_app = typer.Typer(help="Configured sources.", no_args_is_help=True)


def _settings(ctx: typer.Context) -> Settings:
    # app.cli keeps the lazily loaded settings on ctx.obj (its _State).
    return ctx.obj.settings


def ingest(
    ctx: typer.Context,
    source: Annotated[
        list[str] | None, typer.Option("--source", "-s", help="Run only this source (repeatable).")
    ] = None,
    group: Annotated[
        list[str] | None,
        typer.Option(
            "--group",
            "-g",
            help="Run the enabled sources of this group (repeatable): "
            "x, feeds, arxiv (derived from the kind) or a source's own `group`.",
        ),
    ] = None,
    exclude_group: Annotated[
        list[str] | None, typer.Option("--exclude-group", help="Leave out the sources of this group (repeatable).")
    ] = None,
    allow_source_errors: Annotated[
        bool,
        typer.Option(
            "--allow-source-errors",
            help="Exit 0 even when a source failed (by default such a run exits 1 after the table).",
        ),
    ] = False,
) -> None:
    """Fetch every enabled source once into the raw topic (dead letters into the DLQ); exit 1 if a source failed."""
    # The connectors (Kafka, DuckDB, the fetcher: ~0.8 s of imports) load here, not with the CLI:
    # every other `radar` command starts that much sooner.
    from connectors.ingest import IngestOutcome, nothing_to_ingest, run_ingest, select_sources
    from infra.preflight import check_settings
    from infra.store import Store

    settings = _settings(ctx)
    # The deployment's check (flows/ingest.py): a config with no enabled source can fetch nothing.
    check_settings(settings, need_sources=True, source_names=source)
    # An unknown name or group fails here, before Kafka starts.
    selected = select_sources(settings, source, group, exclude_group)
    if not selected:
        # A group with no enabled source runs nothing, as its deployment does (connectors.ingest).
        console.print(nothing_to_ingest(group, exclude_group))
        return
    names = [s.name for s in selected]
    if console.is_terminal:
        with _progress_bar("ingest") as progress:
            task = progress.add_task("starting", total=len(selected))

            running: dict[int, str] = {}

            def on_progress(event: IngestProgress) -> None:
                # Sources run concurrently: show how many are in flight and the oldest of them.
                if event.phase == "start":
                    running[event.index] = f"{event.source.name} ({event.source.kind})"
                else:
                    running.pop(event.index, None)
                    progress.advance(task)
                oldest = next(iter(running.values()), "")
                progress.update(task, description=f"{len(running)} running {oldest}".rstrip())

            report = run_ingest(settings, source_names=names, progress=on_progress)
    else:
        # A pipe or a log (Prefect, cron) gets no live bar: a line per source as it ends, so a
        # 30 s run is not silent until the table. Sources finish in any order (they run
        # concurrently), so the count is of sources done, not the configured position.
        def log_line(event: IngestProgress) -> None:
            if event.phase == "done" and event.report is not None:
                r = event.report
                console.print(
                    f"ingest [{event.finished}/{event.total}] {r.name} ({r.kind}): {r.produced} produced, "
                    f"{r.unchanged} unchanged, {r.dead_lettered} dead-lettered, {r.errors} errors "
                    f"in {r.elapsed_s:.1f} s",
                    markup=False,
                )

        report = run_ingest(settings, source_names=names, progress=log_line)
    print_wide(console, _report_table(report))
    for source_report in report.sources:
        for note in source_report.notes:
            console.print(f"[yellow]{source_report.name}:[/yellow] {note}")
    console.print(
        f"{report.total('produced')} envelope(s) to {settings.kafka.raw_topic}, "
        f"{report.total('dead_lettered')} dead letter(s) to {settings.kafka.dlq_topic} "
        f"in {report.elapsed_s:.1f} s"
    )
    # The verdicts and first failures come from `source_runs`, the table `radar status` reads.
    failure = IngestOutcome.of(report, Store(settings.store.path, settings.store.lock_timeout_s)).failure_message()
    if failure:
        err_console.print(f"[red]{escape(failure)}[/red]")
        if not allow_source_errors:
            raise typer.Exit(1)


def _report_table(report: IngestReport) -> Table:
    table = Table(title="ingest")
    table.add_column("source")
    table.add_column("kind")
    for name in ("fetched", "produced", "unchanged", "dead-lettered", "skipped links", "errors"):
        table.add_column(name, justify="right")
    table.add_column("note")
    for row in report.sources:
        note = "not modified (304)" if row.not_modified else ""
        table.add_row(
            row.name,
            row.kind,
            str(row.fetched),
            str(row.produced),
            str(row.unchanged),
            str(row.dead_lettered),
            str(row.skipped_links),
            str(row.errors),
            note,
        )
    table.add_section()
    counters = ("fetched", "produced", "unchanged", "dead_lettered", "skipped_links", "errors")
    table.add_row("total", "", *(str(report.total(n)) for n in counters), "")
    return table


@sources_app.command("check")
def sources_check(
    ctx: typer.Context,
    source: Annotated[list[str] | None, typer.Option("--source", "-s", help="Check only this source.")] = None,
) -> None:
    """Validate the configured sources and reach each once, producing nothing; exit 1 if any fails."""
    from connectors.ingest import check_sources, select_sources

    settings = _settings(ctx)
    if console.is_terminal:
        with _progress_bar("check") as progress:
            task = progress.add_task("sources", total=len(select_sources(settings, source)))
            checks = check_sources(settings, source, progress=lambda check, *_: progress.advance(task))
    else:

        def log_line(check: SourceCheck, done: int, total: int) -> None:
            verdict = "ok" if check.ok else "FAILED"
            console.print(
                f"check [{done}/{total}] {check.name} ({check.kind}): {verdict}, {check.detail}"
                f" in {check.elapsed_s:.1f} s",
                markup=False,
            )

        checks = check_sources(settings, source, progress=log_line)
    print_wide(console, _check_table(checks))
    if any(not check.ok for check in checks):
        raise typer.Exit(1)


def _check_table(checks: list[SourceCheck]) -> Table:
    table = Table(title="sources check")
    for name in ("source", "kind", "ok", "status", "detail"):
        table.add_column(name, justify="right" if name == "status" else "left")
    for check in checks:
        detail = check.detail + "".join(f"\n[yellow]warning:[/yellow] {w}" for w in check.warnings)
        table.add_row(
            check.name,
            check.kind,
            "[green]yes[/green]" if check.ok else "[red]no[/red]",
            str(check.status or ""),
            detail,
        )
    return table


def _progress_bar(verb: str) -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn(f"[bold]{verb}[/bold] {{task.description}}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def register(app: typer.Typer) -> None:
    """Add `ingest` and the `sources` group to the `radar` app."""
    app.command("ingest")(ingest)
    app.add_typer(sources_app, name="sources")
