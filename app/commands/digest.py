"""`radar digest`, `radar cluster`, `radar eval [clustering]` (DESIGN.md §6 contracts) and `radar demo`."""

from __future__ import annotations

import json
import re
import shutil
import sys
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from infra.config import ConfigError, ProcessorSettings, Settings, load_settings
from infra.tables import print_wide

__all__ = ["register"]

# Lines are not folded at 80 columns when piped (a path or URL broken in two cannot be copied);
# tables get their own width from infra.tables.print_wide.
console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

DEMO_WINDOW = (date(2026, 4, 13), date(2026, 4, 19))


# The window's end is the day after --to in the digest timezone; a day past 9999-12-30 cannot be
# represented, and no news has happened before 1970.
_FIRST_DAY, _LAST_DAY = date(1970, 1, 1), date(9999, 12, 30)


def _parse_day(value: str, option: str) -> date:
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
            raise ConfigError(f"{option} must be YYYY-MM-DD, got {value!r}: not a date in the calendar") from None
        raise ConfigError(f"{option} must be YYYY-MM-DD, got {value!r}") from None
    if not _FIRST_DAY <= day <= _LAST_DAY:
        raise ConfigError(f"{option} must be between {_FIRST_DAY} and {_LAST_DAY}, got {value}")
    return day


def _run_with_progress(
    settings: Settings,
    start: date,
    end: date,
    out: Path,
    lang: str | None,
    prefect: bool = False,
    config_path: Path | None = None,
) -> list[Path]:
    from app.window import StepReport, run_window

    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console, transient=True
    ) as progress:
        task = progress.add_task("starting", total=None)

        def started(name: str) -> None:
            progress.update(task, description=f"{name} ...")

        def finished(step: StepReport) -> None:
            mark = "[yellow]![/yellow]" if step.failed or step.warning else "[green]✓[/green]"
            progress.console.print(f"{mark} {step.name:<8} {step.seconds:6.1f} s  {step.summary}")
            if step.warning:
                progress.console.print(f"  {escape(step.warning)}")
            if step.failed:
                more = len(step.failed) - 5
                listed = ", ".join(step.failed[:5]) + (f" and {more} more" if more > 0 else "")
                progress.console.print(
                    f"  {len(step.failed)} source(s) failed ({escape(listed)}): the digest uses what the store already "
                    "held; `radar dlq list --stage fetch` says why",
                )

        step = _prefect_digest_step(settings, out, lang, config_path) if prefect else None
        report = run_window(
            settings,
            start=start,
            end=end,
            out_dir=out,
            lang=lang,
            digest_step=step,
            on_step_start=started,
            on_step=finished,
        )
    return report.files


def _prefect_digest_step(
    settings: Settings, out: Path, lang: str | None, config_path: Path | None
) -> Callable[[date, int], list[Path]]:
    """The digest step as a `daily-digest` flow run (ephemeral mode: task retries, caching by window,
    the Markdown artifact). It needs the config file: a flow run re-reads its configuration rather
    than receiving live objects."""
    from infra.prefect_env import configure_prefect

    # Prefect reads its settings when first imported.
    configure_prefect(settings)
    from flows.daily_digest import daily_digest

    def run(window_end: date, days: int) -> list[Path]:
        paths = daily_digest(
            window_end=window_end,
            days=days,
            lang=lang,
            config_path=str(config_path) if config_path else None,
            out_dir=str(out),
        )
        return [Path(p) for p in paths]

    return run


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
        # Before the run, not after its ingest, process and rollup have taken their time.
        from infra.preflight import check_path

        check_path("--out", out, is_dir=True)
        files = _run_with_progress(settings, start, end, out, lang, prefect=prefect, config_path=config_path)
        for path in files:
            console.print(f"wrote {path}")

    @app.command("demo")
    def demo(
        out: Annotated[Path, typer.Option("--out", help="Where to write the digest.")] = Path("out/demo"),
        lang: Annotated[str | None, typer.Option("--lang", help="zh or en.")] = None,
        serve: Annotated[
            bool,
            typer.Option(
                "--serve",
                help="Only serve the sample corpus on 127.0.0.1 and print a radar.toml for it; Ctrl-C stops.",
            ),
        ] = False,
        port: Annotated[
            int, typer.Option("--port", min=0, max=65535, help="With --serve: the port (0 = any free one).")
        ] = 0,
    ) -> None:
        """The whole job on the bundled sample corpus, served on 127.0.0.1: no network, no arguments."""
        if serve:
            _serve_corpus(port)
            return
        if port:
            raise ConfigError("--port applies with --serve only (the demo itself serves on any free port)")
        from infra.preflight import check_path

        check_path("--out", out, is_dir=True)
        files = _run_demo(Path("data/demo"), out, lang)
        md = next((p for p in files if p.suffix == ".md"), None)
        if md is not None:
            console.print(f"[bold]digest:[/bold] {md.resolve()}")

    eval_app = typer.Typer(no_args_is_help=False, help="Score the pipeline against labelled data.")
    app.add_typer(eval_app, name="eval")

    @app.command("cluster")
    def cluster_command(
        input_file: Annotated[Path, typer.Option("--input", help="JSONL records, one per line, in arrival order.")],
        output: Annotated[
            Path, typer.Option("--out", help="JSONL: id, event_id, duplicate_of per record ('-': standard output).")
        ],
        config: Annotated[
            Path | None,
            typer.Option("--config", "-c", help="TOML config: its processor.near_duplicate_threshold applies."),
        ] = None,
    ) -> None:
        """Replay records through the pipeline's normalize -> dedupe -> event clustering (no Kafka, no store)."""
        from transforms.replay import read_replay_file, replay

        to_stdout = str(output) == "-"
        if not to_stdout and output.exists() and input_file.exists() and output.resolve() == input_file.resolve():
            raise ConfigError(f"--out {output} is the input file: writing it would destroy the records")
        inputs, errors = _read_replay(input_file, read_replay_file)
        lines, more = replay(inputs, near_duplicate_threshold=_replay_threshold(config))
        for reason in errors + more:
            err_console.print(reason)
        try:
            if to_stdout:
                sys.stdout.writelines(line.to_json() + "\n" for line in lines)
                sys.stdout.flush()
            else:
                output.parent.mkdir(parents=True, exist_ok=True)
                with output.open("w", encoding="utf-8") as handle:
                    handle.writelines(line.to_json() + "\n" for line in lines)
        except OSError as exc:
            if exc.filename is not None:
                raise  # the CLI's own sentence names the file
            # A failed write names no file ("No space left on device"): say which one.
            raise ConfigError(f"{output}: {(exc.strerror or str(exc)).lower()}") from None
        events = len({line.event_id for line in lines})
        left_out = f", {len(errors) + len(more)} left out (reasons above)" if errors or more else ""
        where = "standard output" if to_stdout else output
        err_console.print(
            f"{len(lines)} records -> {events} events, "
            f"{sum(1 for x in lines if x.duplicate_of)} duplicates{left_out}; wrote {where}"
        )

    @eval_app.command("clustering")
    def eval_clustering(
        input_file: Annotated[Path, typer.Argument(help="JSONL records with a gold label field.")],
        label_field: Annotated[str, typer.Option("--label-field", help="The field holding the gold event label.")],
        config: Annotated[
            Path | None,
            typer.Option("--config", "-c", help="TOML config: its processor.near_duplicate_threshold applies."),
        ] = None,
        as_json: Annotated[
            bool, typer.Option("--json", help="One JSON document on standard output instead of the table.")
        ] = False,
    ) -> None:
        """Pairwise P/R/F1, B-cubed P/R/F1, NMI and ARI of `radar cluster` over a labelled file."""
        from rich.table import Table

        from transforms.events.metrics import score
        from transforms.replay import labels_of, read_replay_file, replay

        inputs, errors = _read_replay(input_file, read_replay_file)
        lines, more = replay(inputs, near_duplicate_threshold=_replay_threshold(config))
        for reason in errors + more:
            err_console.print(reason)
        if not lines:
            why = "holds no valid record (reasons above)" if errors or more else "is empty"
            raise ConfigError(f"{input_file} {why}")
        gold = labels_of(inputs, label_field)
        scored = [line for line in lines if line.id in gold]
        if not scored:
            raise ConfigError(f"no record of {input_file} has the label field {label_field!r}")
        if len(scored) < len(lines):
            err_console.print(
                f"{len(lines) - len(scored)} record(s) have no {label_field!r} label (missing, null or blank):"
                " clustered with the rest, left out of the scores"
            )
        if errors or more:
            # The scores cover only what was read: a file half of whose lines failed must not pass for whole.
            err_console.print(
                f"{len(errors) + len(more)} line(s) of {input_file.name} left out (reasons above): "
                f"the scores cover the {len(scored)} labelled records read",
            )
        result = score([gold[line.id] for line in scored], [line.event_id for line in scored])
        if as_json:
            document = {
                "file": str(input_file),
                "label_field": label_field,
                "records": len(lines),
                "scored": len(scored),
                "unlabelled": len(lines) - len(scored),
                "lines_left_out": len(errors) + len(more),
                "gold_events": result.gold_clusters,
                "predicted_events": result.predicted_clusters,
                "pairwise": {"p": result.pairwise_p, "r": result.pairwise_r, "f1": result.pairwise_f1},
                "bcubed": {"p": result.bcubed_p, "r": result.bcubed_r, "f1": result.bcubed_f1},
                "nmi": result.nmi,
                "ari": result.ari,
            }
            sys.stdout.write(json.dumps(document) + "\n")
            return
        table = Table(
            title=f"event clustering on {input_file.name}: {len(scored)} labelled records, "
            f"{len({gold[x.id] for x in scored})} gold events, {len({x.event_id for x in scored})} predicted"
        )
        table.add_column("measure")
        table.add_column("value", justify="right")
        rows = [
            ("pairwise P / R / F1", (result.pairwise_p, result.pairwise_r, result.pairwise_f1)),
            ("B-cubed P / R / F1", (result.bcubed_p, result.bcubed_r, result.bcubed_f1)),
            ("NMI (geometric)", (result.nmi,)),
            ("ARI", (result.ari,)),
        ]
        for name, values in rows:
            table.add_row(name, " / ".join(f"{v:.3f}" for v in values))
        print_wide(console, table)

    @eval_app.callback(invoke_without_command=True)
    def evaluate_command(
        ctx: typer.Context,
        out: Annotated[Path, typer.Option("--out", help="Where to write the evaluated digest.")] = Path("out/eval"),
    ) -> None:
        """Run the demo pipeline and score it against the corpus's labelled ground truth."""
        if ctx.invoked_subcommand is not None:
            return
        from rich.table import Table

        from digest.evaluate import evaluate
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
        print_wide(console, table)


def _replay_threshold(config: Path | None) -> float:
    """The near-duplicate threshold of a replay: the processor's in the file given with the command's
    own --config, else the default. Never $RADAR_CONFIG or the global -c: a replay needs no
    configuration, and a stale one in the environment must not stop it (DESIGN §6: exit 0 unless
    the file cannot be read)."""
    processor = load_settings(config).processor if config is not None else ProcessorSettings()
    return processor.near_duplicate_threshold


def _read_replay(path: Path, reader: Any) -> tuple[list[Any], list[str]]:
    if path.is_dir():
        raise ConfigError(f"cannot read {path}: a directory, not a JSONL file")
    if not path.is_file():
        raise ConfigError(f"cannot read {path}: no such file")
    try:
        return reader(path)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None


def _serve_corpus(port: int) -> None:
    """`radar demo --serve`: the corpus alone, until SIGINT or SIGTERM; the config on stdout, the rest on stderr."""
    import signal
    import sys
    import threading
    from contextlib import ExitStack

    from connectors.sample_server import sample_config_text, serve_corpus

    stop = threading.Event()
    with ExitStack() as stack:
        try:
            server = stack.enter_context(serve_corpus(port=port))
        except OSError as exc:
            raise ConfigError(f"--port {port}: cannot listen on 127.0.0.1 ({exc.strerror or exc})") from None
        # Plain text, not rich: `[fetch]` would be read as markup. Flushed, so that
        # `radar demo --serve > radar.toml` (or a pipe) has the whole file while serving.
        sys.stdout.write(sample_config_text(server.base_url))
        sys.stdout.flush()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        err_console.print(
            f"serving the sample corpus on {server.base_url} (the radar.toml for it is on stdout); Ctrl-C stops",
        )
        stop.wait()
    err_console.print(f"stopped serving {server.base_url}")


def _run_demo(data_dir: Path, out: Path, lang: str | None) -> list[Path]:
    from connectors.sample_server import sample_sources, serve_corpus

    _clear_demo_dir(data_dir)
    with serve_corpus() as server:
        settings = Settings(
            data_dir=data_dir,
            store={"path": data_dir / "radar.duckdb"},
            # Every corpus request goes to one local host: politeness delays only slow the demo (the
            # arXiv pacing too: it paces its host, here the host of every sample source).
            fetch={"per_host_interval_s": 0, "arxiv_interval_s": 0},
            sources=sample_sources(server.base_url),
        )
        console.print(
            f"serving the sample corpus on {server.base_url} "
            f"({len(settings.sources)} sources, window {DEMO_WINDOW[0]} .. {DEMO_WINDOW[1]})"
        )
        files = _run_with_progress(settings, *DEMO_WINDOW, out, lang)
    for path in files:
        console.print(f"wrote {path}")
    config = data_dir / "radar.toml"
    config.write_text(DEMO_CONFIG, encoding="utf-8")
    # Every other command reads the default config's store, not the demo's: without this hint the
    # demo's alerts and status look empty.
    radar = _command_name()
    console.print(f"what it stored: {radar} --config {config} status", markup=False)
    console.print(f"what it raised: {radar} --config {config} alerts list", markup=False)
    return files


def _clear_demo_dir(data_dir: Path) -> None:
    """A demo is a fresh run every time (its embedded broker is memory-only anyway), but what a user
    made of the last one stays: `store backup`'s files and those `store restore` kept. A broker left
    running there (`radar --config data/demo/radar.toml broker start`) is stopped first, or deleting
    its state would orphan the process."""
    from infra.broker import EmbeddedBroker

    if not data_dir.is_dir():
        return
    EmbeddedBroker(data_dir).stop()
    for entry in data_dir.iterdir():
        if entry.name == "backups" or ".replaced-" in entry.name:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def _command_name() -> str:
    """How to type `radar` here: `make demo` runs .venv/bin/radar, which is on no PATH until the venv is
    activated, so a hint naming plain `radar` would answer "command not found"."""
    import sys

    invoked = Path(sys.argv[0])
    if invoked.name != "radar" or shutil.which("radar") == str(invoked.resolve()):
        return "radar"
    return str(invoked)


# The demo's store for `radar --config data/demo/radar.toml ...` (paths are relative to this file).
# No sources: the sample corpus was served only while the demo ran (`radar demo --serve` serves it).
DEMO_CONFIG = """\
# Written by `radar demo`: its store, for `radar --config <this file> status | alerts list | ...`.
# No sources here: the sample corpus is served only while a demo runs (`radar demo --serve` prints a
# config with its sources).
data_dir = "."

[store]
path = "radar.duckdb"
"""
