"""`radar`: the one command-line entry point.

User mistakes (bad config, unreachable broker, locked store) end as one red line on
stderr and a non-zero exit code, never a traceback; `--debug` shows the traceback.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import click
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from typer._click import exceptions as typer_click_errors

from app.commands import alerts as alert_commands
from app.commands import digest as digest_commands
from app.commands import ingest as ingest_commands
from app.commands import status as status_commands
from app.commands.alerts import threading_is_main
from infra.config import ConfigError, Settings, load_settings
from infra.logfilters import install_noise_filters
from infra.redact import SecretMaskingFilter, install_masking_excepthook, mask_secrets
from infra.tables import print_wide

if TYPE_CHECKING:
    # Beam comes with it (~1 s): the CLI imports it only in the commands that process.
    from app.processor import Processor

__all__ = ["app", "main"]

# Lines are not folded at 80 columns when piped (a path or URL broken in two cannot be copied);
# tables get their own width from infra.tables.print_wide.
console = Console(stderr=False, highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def _flags_take_no_value() -> None:
    """Rich help shows a flag as `--verbose`, not `--verbose <bool>` (issue 14).

    typer 0.29's rich panel prints every option's type, flags included, as if they took a
    value; its plain help already leaves it out for flags. Options are typer's own objects
    (`--help` too), so the one place to say it is their class.
    """
    from typer.core import TyperOption

    typed = TyperOption.display_type_rich
    if getattr(typed, "_flags_plain", False):
        return

    def display_type_rich(self: TyperOption, ctx: click.Context) -> str | None:
        return None if self.is_flag and not self.count else typed(self, ctx)

    display_type_rich._flags_plain = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_flags_take_no_value()

app = typer.Typer(
    name="radar",
    help=(
        "frontier-radar: AI-industry sources -> Kafka -> Beam -> DuckDB -> alerts and a daily digest.\n\n"
        "Start with `radar demo` (bundled sample sources, embedded broker, no network), "
        "or point `--config` at your TOML file (see README)."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="rich",
)
broker_app = typer.Typer(help="Run the embedded Kafka-compatible broker (Tansu).", no_args_is_help=True)
schemas_app = typer.Typer(help="Message contracts.", no_args_is_help=True)
config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)
store_app = typer.Typer(help="The DuckDB store.", no_args_is_help=True)
dlq_app = typer.Typer(help="Dead letters: records any stage could not use.", no_args_is_help=True)
app.add_typer(broker_app, name="broker")
app.add_typer(schemas_app, name="schemas")
app.add_typer(config_app, name="config")
app.add_typer(store_app, name="store")
app.add_typer(dlq_app, name="dlq")


class _State:
    def __init__(self, config: Path | None, debug: bool) -> None:
        self.config = config
        self.debug = debug
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config)
        return self._settings


def _state(ctx: typer.Context) -> _State:
    return ctx.obj


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", envvar="RADAR_CONFIG", help="TOML config file (or $RADAR_CONFIG)."),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(SecretMaskingFilter())
    # kafka-python logs connection chatter at WARNING while a broker starts.
    logging.getLogger("kafka").setLevel(logging.DEBUG if debug else logging.CRITICAL)
    # Beam's "apitools not found" (GCP clients) concerns Dataflow users only: dropped on the root
    # logger, so also under --verbose and whatever handlers come later (infra/logfilters.py).
    install_noise_filters()
    # Beam warns about DoFn style on every run; not the user's concern.
    if not (verbose or debug):
        logging.getLogger("apache_beam").setLevel(logging.ERROR)
    ctx.obj = _State(config, debug)


# --- broker -----------------------------------------------------------------------------------


@broker_app.command("start")
def broker_start(ctx: typer.Context) -> None:
    """Start the embedded broker (if not running) and create the topics."""
    from infra.broker import EmbeddedBroker
    from infra.kafka import ensure_topics

    settings = _state(ctx).settings
    if not settings.kafka.embedded:
        raise ConfigError(f"kafka.bootstrap is {settings.kafka.bootstrap!r}: nothing embedded to start")
    state, started = EmbeddedBroker(settings.data_dir, settings.kafka.embedded_port).ensure_running()
    created = ensure_topics(state.bootstrap, settings.kafka)
    verb = "started" if started else "already running"
    console.print(f"embedded broker {verb}: {state.bootstrap} (pid {state.pid}, log {state.log_path})")
    if created:
        console.print(f"created topics: {', '.join(created)}")


@broker_app.command("stop")
def broker_stop(ctx: typer.Context) -> None:
    """Stop the embedded broker (its in-memory data is gone afterwards)."""
    from infra.broker import EmbeddedBroker

    settings = _state(ctx).settings
    # Deliberate: a `radar process --follow` that loses it waits for `broker start` instead of
    # starting a new one (any other command that needs Kafka still starts it).
    stopped = EmbeddedBroker(settings.data_dir).stop(deliberate=True)
    if stopped is None:
        console.print("embedded broker is not running")
    else:
        console.print(f"embedded broker stopped (pid {stopped.pid}, port {stopped.port})")


@broker_app.command("status")
def broker_status(ctx: typer.Context) -> None:
    """Say whether the embedded broker runs and answers; exit 1 when it does not."""
    from infra.broker import EmbeddedBroker

    settings = _state(ctx).settings
    state, answering = EmbeddedBroker(settings.data_dir).status()
    if state is None:
        console.print("embedded broker is not running")
        raise typer.Exit(1)
    health = "answering" if answering else "NOT answering"
    console.print(f"embedded broker running: {state.bootstrap} (pid {state.pid}), {health}")
    if not answering:
        raise typer.Exit(1)


# --- schemas ----------------------------------------------------------------------------------


@schemas_app.command("export")
def schemas_export(out_dir: Annotated[Path, typer.Argument(help="Directory to write JSON Schemas into.")]) -> None:
    """Write a JSON Schema file for every contract (raw post/page, dead letter, item, event, alert, digest,
    and the quiet-hours alert summary a webhook receives)."""
    from schemas.export import export_json_schemas

    for path in export_json_schemas(out_dir):
        console.print(f"wrote {path}")


# --- config -----------------------------------------------------------------------------------


@config_app.command("show")
def config_show(ctx: typer.Context) -> None:
    """Print the effective configuration as JSON (secrets masked)."""
    console.print_json(json.dumps(_state(ctx).settings.redacted()))


@config_app.command("check")
def config_check(ctx: typer.Context) -> None:
    """Validate the configuration and say what it configures."""
    from infra.webhooks import origin_of, webhook_problems

    settings = _state(ctx).settings
    origin = settings.config_file or "defaults + environment"
    hooks = settings.alerts.webhooks
    failing = 0
    lines = []
    for hook in hooks:
        errors, notes = webhook_problems(hook)
        failing += bool(errors)
        # The origin only: a Slack incoming-webhook URL's path is its secret.
        lines.append(f"webhook {hook.key} ({hook.format}, {hook.min_level} and up): {origin_of(hook.url)}")
        lines += [f"  cannot deliver: {e}" for e in errors] + [f"  note: {n}" for n in notes]
    verdict = "OK" if not failing else f"loads, but {failing} webhook(s) cannot deliver"
    console.print(
        f"configuration {verdict} ({origin}): kafka {settings.kafka.bootstrap}, store {settings.store.path}, "
        f"{len(settings.sources)} source(s), {len(hooks)} webhook(s)",
        markup=False,
    )
    for line in lines:
        console.print(mask_secrets(line), markup=False)
    if failing:
        raise typer.Exit(1)


# --- store ------------------------------------------------------------------------------------


@store_app.command("migrate")
def store_migrate(ctx: typer.Context) -> None:
    """Create the DuckDB file if needed and apply pending migrations."""
    from infra.store import Store

    settings = _state(ctx).settings
    store = Store(settings.store.path, settings.store.lock_timeout_s)
    applied = store.migrate()
    console.print(f"{settings.store.path}: schema version {store.version()}; applied {len(applied)} migration(s)")


@store_app.command("info")
def store_info(ctx: typer.Context) -> None:
    """Row counts per table."""
    from infra.store import Store, require_existing

    settings = _state(ctx).settings
    require_existing(settings.store.path)
    store = Store(settings.store.path, settings.store.lock_timeout_s)
    # A line, not the table's title: a title wraps at the table's width, cutting the path in two.
    console.print(f"{settings.store.path} (schema v{store.version()})", markup=False)
    table = Table()
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, count in store.table_counts().items():
        table.add_row(name, str(count))
    print_wide(console, table)


@store_app.command("backup")
def store_backup(
    ctx: typer.Context,
    out: Annotated[Path | None, typer.Option("--out", help="Backup file (default: <data_dir>/backups/...).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file at --out.")] = False,
) -> None:
    """Copy the DuckDB file consistently (checkpointed, under its write lock) and verify the copy."""

    from infra.store import Store, require_existing

    settings = _state(ctx).settings
    require_existing(settings.store.path)
    target = out or settings.data_dir / "backups" / f"radar-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.duckdb"
    if target.is_file() and not force:
        # An earlier backup may be the only good copy left: replacing it is asked for, not assumed.
        raise ConfigError(f"--out {target} exists (an earlier backup?): give another name, or --force to replace it")
    Store(settings.store.path, settings.store.lock_timeout_s).backup(target)
    console.print(f"backed up {settings.store.path} to {target} (verified)")


@store_app.command("restore")
def store_restore(
    ctx: typer.Context,
    backup: Annotated[Path, typer.Argument(help="A file written by `radar store backup`.")],
) -> None:
    """Verify a backup and put it in place of the store; the replaced file is kept beside it."""
    from infra.store import Store

    settings = _state(ctx).settings
    kept = Store(settings.store.path, settings.store.lock_timeout_s).restore(backup)
    console.print(f"restored {settings.store.path} from {backup}" + (f"; the replaced file is {kept}" if kept else ""))
    console.print("next: `radar process --once` replays the raw topic from the backup's offsets")


@store_app.command("check")
def store_check(ctx: typer.Context) -> None:
    """Read every table of the store to the end; exit 1 naming the file if it is damaged."""
    from infra.store import Store

    settings = _state(ctx).settings
    Store(settings.store.path, settings.store.lock_timeout_s).verify()
    console.print(f"{settings.store.path}: every table reads to the end")


# --- process ----------------------------------------------------------------------------------


def _as_of(text: str) -> datetime:
    # A wrong value, as a wrong --from or --since: exit 1 (2 is for the command line's own form).
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--as-of must be an ISO date-time (e.g. 2026-04-20T12:00:00Z), got {text!r}") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _say_webhooks(settings: Settings, processor: Processor) -> None:
    """What the webhooks did; after the processor closed, since closing drains the deliveries."""
    if settings.alerts.webhooks:
        hooks = processor.webhooks
        console.print(
            f"webhooks: {hooks.outcome()}"
            + ("; `radar alerts deliveries` shows why" if hooks.dead or hooks.pending() else ""),
            markup=False,
        )


@app.command("process")
def process(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="Process up to the current end offsets, then exit.")] = False,
    follow: Annotated[bool, typer.Option("--follow", help="Keep processing new records (Ctrl-C stops).")] = False,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Score recency and horizons as of this ISO time (UTC if it has no zone) instead of the clock, "
            "so a replay of the same records reproduces the same scores.",
        ),
    ] = None,
) -> None:
    """Turn raw envelopes on radar.raw.v1 into deduplicated, scored events in DuckDB."""
    import signal

    from app.processor import BatchReport, Processor, ProcessReport

    if once == follow:
        # With ctx, like click's own usage errors: the usage line and the --help hint, exit 2.
        raise click.UsageError("choose exactly one of --once or --follow", ctx=ctx)
    fixed = _as_of(as_of) if as_of is not None else None
    settings = _state(ctx).settings

    def show(batch: BatchReport) -> None:
        console.print(
            f"batch: {batch.records} records -> {batch.items} items, {batch.events} events, "
            f"{batch.dead_letters} dead letters, {batch.alerts} alerts in {batch.seconds:.2f} s (lag {batch.lag_after})"
        )

    if once:
        with Processor(settings, as_of=fixed) as processor:
            report = processor.run_once(progress=show)
            console.print(f"processed {report.described()}; lag now {sum(processor.lag().values())}")
        _say_webhooks(settings, processor)
        return
    with Processor(settings, as_of=fixed) as processor:
        stop = {"flag": False}

        def request_stop(*_: object) -> None:
            stop["flag"] = True

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        console.print(f"following {settings.kafka.raw_topic} (Ctrl-C stops after the current batch)")
        followed = ProcessReport()

        def show_and_count(batch: BatchReport) -> None:
            followed.batches.append(batch)
            show(batch)

        processor.follow(
            lambda: stop["flag"],
            progress=show_and_count,
            on_reconnect=lambda lost, now: console.print(f"Kafka at {lost} went away; reconnected to {now}"),
        )
    # No lag here: the broker may be what went away, and asking it would wait out a timeout.
    console.print(f"stopped after {followed.described()}")
    _say_webhooks(settings, processor)


# --- dlq --------------------------------------------------------------------------------------


@dlq_app.command("list")
def dlq_list(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, help="Newest N dead letters.")] = 50,
    stage: Annotated[str | None, typer.Option(help="Only this stage.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Show recorded dead letters, newest first, with stage, reason and where they came from."""
    from infra.dlq import list_dead_letters
    from infra.store import require_existing

    _check_stage(stage)
    settings = _state(ctx).settings
    require_existing(settings.store.path)
    rows = list_dead_letters(settings, limit=limit, stage=stage)
    if as_json:
        for row in rows:
            sys.stdout.write(json.dumps(row.to_json(), ensure_ascii=False) + "\n")
        return
    table = Table(title=f"dead letters ({len(rows)} shown, times UTC)")
    for column in ("when", "stage", "source / coordinates", "reason", "replayed"):
        table.add_column(column, overflow="fold")
    for row in rows:
        when = row.occurred_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(when, row.stage, row.where, row.reason, "yes" if row.replayed_at else "")
    print_wide(console, table)


def _check_stage(stage: str | None) -> None:
    """A dead-letter stage named on the command line must be one there is: a typo would match nothing."""
    from typing import get_args

    from schemas.dead_letter import Stage

    stages = get_args(Stage)
    if stage is not None and stage not in stages:
        raise ConfigError(f"--stage must be one of {', '.join(stages)}; got {stage!r}")


@dlq_app.command("replay")
def dlq_replay(
    ctx: typer.Context,
    stage: Annotated[str | None, typer.Option(help="Only dead letters of this stage.")] = None,
) -> None:
    """Re-send dead-lettered raw records to radar.raw.v1 (after a fix); then run `radar process --once`."""
    from infra.dlq import replay_dead_letters

    _check_stage(stage)
    settings = _state(ctx).settings
    result = replay_dead_letters(settings, stage=stage)
    console.print(
        f"replayed {result.replayed} record(s) to {settings.kafka.raw_topic}; "
        f"{result.skipped} skipped ({result.skip_reason or 'none'})"
    )


# --- ops --------------------------------------------------------------------------------------

ops_app = typer.Typer(
    help="Scheduled operation on this machine: Prefect server, work pool, deployments, broker, worker (README).",
    no_args_is_help=True,
)
app.add_typer(ops_app, name="ops")


def _ops_config(ctx: typer.Context) -> Path:
    config = _state(ctx).config
    if config is None:
        raise ConfigError("RADAR_CONFIG: not set and no --config: ops needs the radar config file")
    return config


def _ops_say(line: str) -> None:
    # Prefect's and our own lines, as they are: no rich markup, no wrapping inside a path.
    console.print(line, markup=False)


def _ops_call(action: object, *args: object, **kwargs: object) -> object:
    """Run one app.ops function; its RuntimeError (a Prefect step that failed) is one line and exit 1."""
    try:
        return action(*args, say=_ops_say, **kwargs)  # type: ignore[operator]
    except RuntimeError as exc:
        err_console.print(f"[red]error:[/red] {escape(mask_secrets(str(exc)))}")
        raise typer.Exit(1) from None


@ops_app.command("up")
def ops_up(
    ctx: typer.Context,
    port: Annotated[
        int, typer.Option("--port", envvar="RADAR_OPS_PORT", min=1, max=65535, help="Prefect server port on 127.0.0.1.")
    ] = 4200,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            envvar="RADAR_OPS_DATABASE_URL",
            help="Prefect database (postgresql+asyncpg://...); default SQLite under the data dir.",
        ),
    ] = None,
) -> None:
    """Start the Prefect server, work pool, every deployment (schedules paused), broker and worker."""
    from app import ops

    _ops_call(ops.up, _ops_config(ctx), port=port, database_url=database_url)


@ops_app.command("down")
def ops_down(ctx: typer.Context) -> None:
    """Stop exactly what `radar ops up` started (by pid)."""
    from app import ops

    _ops_call(ops.down, _ops_config(ctx))


@ops_app.command("resume")
def ops_resume(ctx: typer.Context) -> None:
    """Resume every deployment's schedule (they are paused after `up`)."""
    from app import ops

    _ops_call(ops.schedules, _ops_config(ctx), "resume")


@ops_app.command("pause")
def ops_pause(ctx: typer.Context) -> None:
    """Pause every deployment's schedule."""
    from app import ops

    _ops_call(ops.schedules, _ops_config(ctx), "pause")


@ops_app.command("status")
def ops_status(ctx: typer.Context) -> None:
    """Pids of what `up` started and the API URL; exit 1 when ops is down or a part has stopped."""
    from app import ops

    if not _ops_call(ops.status, _ops_config(ctx)):
        raise typer.Exit(1)


# Subcommands that live beside the code they drive, each module adding its own.
for _commands in (ingest_commands, digest_commands, status_commands, alert_commands):
    _commands.register(app)


# --- entry point ------------------------------------------------------------------------------


def _user_errors() -> tuple[type[BaseException], ...]:
    from kafka.errors import KafkaError

    from app.processor import ConcurrentProcessorError
    from infra.broker import BrokerError
    from infra.store import StoreError
    from schemas.envelope import EnvelopeError

    return (ConfigError, BrokerError, StoreError, EnvelopeError, KafkaError, OSError, ConcurrentProcessorError)


class _InterruptWatch:
    """Whether Ctrl-C arrived during the command. Beam and DuckDB turn the KeyboardInterrupt it
    raises into their own errors ("RuntimeError: KeyboardInterrupt [while running 'DecideAndWrite']",
    "Query interrupted"), which must still end as an interrupt (130), not as an internal error.

    The handler still raises KeyboardInterrupt as Python's does. One difference: asyncio.run installs
    its cancel-the-main-task handler only over Python's own, so Ctrl-C inside an event loop (a Prefect
    flow run in this process) interrupts it as before Python 3.11, where the interrupt ends the run too.
    """

    def __init__(self) -> None:
        self.seen = False
        self._previous: Callable[[int, FrameType | None], Any] | int | None = None

    def __enter__(self) -> _InterruptWatch:
        # Only over Python's own handler: one set by the caller (or SIG_IGN under nohup) stays.
        if threading_is_main() and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.seen = True
        signal.default_int_handler(signum, frame)

    def __exit__(self, *_: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _aborted() -> NoReturn:
    err_console.print("[red]aborted[/red]")
    sys.exit(130)


def main(argv: list[str] | None = None) -> None:
    with _InterruptWatch() as interrupt:
        _main(argv, interrupt)


def _main(argv: list[str] | None, interrupt: _InterruptWatch) -> None:
    debug = "--debug" in (argv if argv is not None else sys.argv)
    os.environ.setdefault("DO_NOT_TRACK", "1")
    install_masking_excepthook()
    try:
        # standalone_mode=False hands back typer.Exit codes as the return value.
        result = app(args=argv, standalone_mode=False)
    except (click.exceptions.Exit, typer.Exit) as exc:
        sys.exit(exc.exit_code)
    except (click.exceptions.Abort, typer.Abort, KeyboardInterrupt):
        # KeyboardInterrupt: Ctrl-C before a command installs its own stop handler (the first
        # seconds of `process --follow`, while imports and the broker start): no traceback either.
        _aborted()
    # Typer (0.29) raises its own vendored click's usage errors, not click's: both are user mistakes.
    except (click.ClickException, typer_click_errors.ClickException) as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except _user_errors() as exc:
        if interrupt.seen and not debug:
            _aborted()
        if debug:
            raise
        text = str(exc)
        if isinstance(exc, OSError) and exc.strerror and exc.filename is not None:
            # "[Errno 21] Is a directory: 'out'" reads as a Python exception; say it as a sentence.
            text = f"{exc.filename}: {exc.strerror.lower()}"
        message = mask_secrets(text).strip().splitlines()[0] if text.strip() else type(exc).__name__
        err_console.print(f"[red]error:[/red] {escape(message)}")
        sys.exit(1)
    except Exception as exc:
        if interrupt.seen and not debug:
            _aborted()
        # Not a user mistake: still one line, with the way to the details.
        if debug:
            raise
        first = mask_secrets(str(exc)).strip().splitlines()[0] if str(exc).strip() else ""
        err_console.print(
            f"[red]internal error:[/red] {type(exc).__name__}: {escape(first)} (rerun with --debug for the traceback)",
        )
        # 2 is click's code for a usage error; an internal error must not look like one.
        sys.exit(3)
    sys.exit(result if isinstance(result, int) else 0)


if __name__ == "__main__":
    main()
