"""`radar status [--json]`; `app.cli` calls `register(app)`.

Exit 0 whenever the status could be gathered, even when it shows trouble (a stopped broker,
failing sources): the command reports, an operator or a check decides. Only a problem that
prevents reading at all (bad config, damaged or locked store) exits 1, as everywhere else.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from infra.status import collect_status
from infra.tables import print_wide
from schemas.status import Status

__all__ = ["register", "render_status"]

# Lines are not folded at 80 columns when piped (a path or URL broken in two cannot be copied);
# tables get their own width from infra.tables.print_wide.
console = Console(highlight=False, soft_wrap=True)


def status(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document instead of tables.")] = False,
) -> None:
    """Consumer lag per partition, counts, dead letters by stage and reason, sources, last digest."""
    report = collect_status(ctx.obj.settings)
    if as_json:
        # Plain stdout, not rich: the document must reach a pipe byte for byte, unwrapped.
        typer.echo(report.model_dump_json(indent=2))
        return
    print_wide(console, render_status(report))


def _when(value: datetime | None, now: datetime) -> str:
    if value is None:
        return "-"
    seconds = max(0, int((now - value).total_seconds()))
    if seconds < 120:
        age = f"{seconds} s ago"
    elif seconds < 7200:
        age = f"{seconds // 60} min ago"
    elif seconds < 2 * 86400:
        age = f"{seconds // 3600} h ago"
    else:
        age = f"{seconds // 86400} d ago"
    return f"{value:%Y-%m-%d %H:%M:%S} ({age})"


def _heading(text: str) -> Text:
    return Text(f"\n{text}", style="bold")


def render_status(report: Status) -> Group:
    """The human view: a header, then a heading, a table and an optional note per part."""
    now = report.generated_at
    parts: list[Table | Text] = []
    store = report.store
    origin = report.config_file or "defaults + environment"
    parts.append(Text(f"radar status at {now:%Y-%m-%d %H:%M:%S} UTC (all times UTC); config {origin}"))
    parts.append(
        Text(
            f"store {store.path} (schema v{store.schema_version})"
            if store.exists
            else f"store {store.path}: no DuckDB file yet (nothing has run with this configuration)"
        )
    )

    lag = report.lag
    parts.append(
        _heading(f"consumer lag: {lag.consumer} on {lag.topic}" + (f" at {lag.bootstrap}" if lag.bootstrap else ""))
    )
    if lag.known:
        lag_table = Table()
        for column in ("partition", "committed", "end", "lag"):
            lag_table.add_column(column, justify="right")
        for p in lag.partitions:
            lag_table.add_row(str(p.partition), str(p.committed), str(p.end), str(p.lag))
        lag_table.add_section()
        lag_table.add_row("total", "", "", str(lag.total))
        parts.append(lag_table)
        if lag.note:
            parts.append(Text(f"note: {lag.note}"))
    else:
        parts.append(Text(f"unknown: {lag.reason}", style="yellow"))

    counts = report.counts
    parts.append(_heading("counts"))
    counts_table = Table()
    for name in ("items", "events", "alerts", "dead letters", "digests"):
        counts_table.add_column(name, justify="right")
    counts_table.add_row(
        *(str(v) for v in (counts.items, counts.events, counts.alerts, counts.dead_letters, counts.digests))
    )
    parts.append(counts_table)

    dl = report.dead_letters
    parts.append(_heading(f"dead letters by stage and reason ({dl.total})"))
    if not dl.groups:
        parts.append(Text("none"))
    else:
        dl_table = Table()
        dl_table.add_column("stage")
        dl_table.add_column("reason", overflow="fold")
        dl_table.add_column("count", justify="right")
        dl_table.add_column("replayed", justify="right")
        dl_table.add_column("last", no_wrap=True)
        for group in dl.groups:
            dl_table.add_row(
                group.stage, escape(group.reason), str(group.count), str(group.replayed), _when(group.last_at, now)
            )
        parts.append(dl_table)
        if dl.groups_total > len(dl.groups):
            parts.append(
                Text(
                    f"{dl.groups_total - len(dl.groups)} less frequent (stage, reason) pair(s) not shown;"
                    " `radar dlq list` shows single dead letters"
                )
            )

    parts.append(_heading(f"sources ({len(report.sources)})"))
    if not report.sources:
        parts.append(Text("no sources configured"))
    else:
        src_table = Table()
        src_table.add_column("source", no_wrap=True)
        src_table.add_column("kind")
        src_table.add_column("config")
        src_table.add_column("last success", no_wrap=True)
        src_table.add_column("produced", justify="right")
        src_table.add_column("last error", no_wrap=True)
        src_table.add_column("error", overflow="fold")
        for source in report.sources:
            config = "no" if not source.configured else "yes" if source.enabled else "disabled"
            error = escape(source.last_error or "")
            if source.consecutive_failures > 1:
                error = f"[red]{source.consecutive_failures} failed runs in a row[/red]: {error}"
            ran = source.last_run_at or source.last_error_at or source.last_success_at
            src_table.add_row(
                escape(source.name),
                source.kind or "",
                config,
                _when(source.last_success_at, now) if ran else "never run",
                "" if source.last_success_produced is None else str(source.last_success_produced),
                _when(source.last_error_at, now),
                error,
            )
        parts.append(src_table)

    digest = report.last_digest
    parts.append(_heading("last digest"))
    if digest is None:
        parts.append(Text("none"))
    else:
        parts.append(
            Text(
                f"{digest.digest_date} ({digest.language}), window {digest.window_from} .. {digest.window_to}"
                f" {digest.timezone}, {digest.events} event(s), made {_when(digest.created_at, now)}"
            )
        )
    return Group(*parts)


def register(app: typer.Typer) -> None:
    """Add `status` to the `radar` app."""
    app.command("status")(status)
