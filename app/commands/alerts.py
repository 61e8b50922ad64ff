"""`radar alerts ...`: read alerts without writing a Kafka consumer; `app.cli` calls `register(app)`.

- `tail` reads `radar.alerts.v1` from the start of the topic (`--follow` keeps reading);
- `list` reads the alerts recorded in DuckDB (`alerts_sent`), which outlive the embedded broker;
- `deliveries` shows the webhook delivery log, `deliver` delivers what is pending now.

`--json` prints one `schemas.alert.Alert` JSON document per line, for scripts; without it a
rich table (or, following, one line per alert) is for people.
"""

from __future__ import annotations

import json
import signal
import sys
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from infra.config import ConfigError, Settings
from infra.tables import print_wide
from schemas.alert import Alert

__all__ = ["list_alerts", "parse_since", "register"]

# Lines are not folded at 80 columns when piped (a path or URL broken in two cannot be copied);
# tables get their own width from infra.tables.print_wide.
console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

alerts_app = typer.Typer(
    help="High-signal alerts: the topic, the record in DuckDB, webhook deliveries.", no_args_is_help=True
)


def _settings(ctx: typer.Context) -> Settings:
    # app.cli keeps the lazily loaded settings on ctx.obj (its _State).
    return ctx.obj.settings


def _emit_json(alert: Alert) -> None:
    # Plain stdout, flushed per line: a script reading a pipe sees each alert as it arrives.
    sys.stdout.write(alert.model_dump_json(by_alias=True) + "\n")
    sys.stdout.flush()


def _line(alert: Alert) -> str:
    when = alert.created_at.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%d %H:%M:%SZ")
    level = "[bold red]CRITICAL[/bold red]" if alert.level == "critical" else "[yellow]HIGH[/yellow]"
    url = f"  {escape(alert.url)}" if alert.url else ""
    return (
        f"{when}  {level}  {alert.signal_score:5.1f}  {alert.category}  {alert.verification}  "
        f"[bold]{escape(alert.title)}[/bold]{url}"
    )


def _table(title: str, alerts: list[Alert], when: list[datetime] | None = None) -> Table:
    """`when`: the times the alerts were recorded (`alerts list`, whose --since filters on them);
    without it the alerts' own `created_at`, which a replay of a past window sets to that window's end."""
    table = Table(title=title)
    stamp_column = "recorded (UTC)" if when else "created_at (UTC)"
    for column in (stamp_column, "level", "score", "category", "verification", "title", "source"):
        table.add_column(column, overflow="fold")
    for i, alert in enumerate(alerts):
        stamp = (when[i] if when else alert.created_at).astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%d %H:%M")
        source = alert.url or (alert.sources[0].publisher if alert.sources else "")
        table.add_row(
            stamp,
            alert.level,
            f"{alert.signal_score:.1f}",
            alert.category,
            alert.verification,
            escape(alert.title),
            escape(source),
        )
    return table


# --------------------------------------------------------------------------- tail


def tail(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="One Alert JSON document per line.")] = False,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new alerts (Ctrl-C stops).")] = False,
) -> None:
    """Print the alerts on radar.alerts.v1, from the start of the topic."""
    from infra.broker import resolve_bootstrap
    from infra.kafka import end_offsets, ensure_topics, make_consumer, partitions_of
    from schemas.envelope import EnvelopeError, parse_envelope

    settings = _settings(ctx)
    topic = settings.kafka.alerts_topic
    if not follow and settings.kafka.embedded:
        from infra.broker import EmbeddedBroker

        if EmbeddedBroker(settings.data_dir, settings.kafka.embedded_port).state() is None:
            # Starting one only to read it would leave an empty broker running for nothing.
            err_console.print(
                "note: the embedded broker is not running, so its topic holds nothing (it keeps alerts only "
                "in memory); `radar alerts list` shows the alerts recorded in DuckDB",
            )
            if not as_json:
                print_wide(console, _table(f"{topic}: 0 alert(s)", []))
            return
    bootstrap, started = resolve_bootstrap(settings)
    if started:
        err_console.print(
            "note: the embedded broker was not running and started empty, to wait for alerts; it keeps "
            "running after this command (`radar broker stop` stops it); `radar alerts list` shows the alerts "
            "recorded in DuckDB",
        )
    ensure_topics(bootstrap, settings.kafka)
    consumer = make_consumer(bootstrap, settings.kafka)
    stop = {"flag": False}

    def request_stop(*_: object) -> None:
        stop["flag"] = True

    shown: list[Alert] = []

    def emit(value: bytes | None, where: str) -> None:
        try:
            alert = parse_envelope(value or b"")
        except EnvelopeError as exc:
            err_console.print(f"skipped {escape(where)}: {escape(str(exc))}")
            return
        if not isinstance(alert, Alert):
            err_console.print(f"skipped {escape(where)}: not an alert envelope")
        elif as_json:
            _emit_json(alert)
        elif follow:
            console.print(_line(alert))
        else:
            shown.append(alert)

    try:
        tps = partitions_of(consumer, topic)
        if not follow:
            from infra.kafka import read_range

            ends = end_offsets(consumer, tps)
            for tp in tps:
                for record in read_range(consumer, tp, 0, ends[tp]):
                    emit(record.value, f"{topic}[{record.partition}]@{record.offset}")
            if not as_json:
                print_wide(console, _table(f"{topic}: {len(shown)} alert(s)", shown))
            return
        if threading_is_main():
            signal.signal(signal.SIGTERM, request_stop)
        consumer.assign(tps)
        for tp in tps:
            consumer.seek(tp, 0)  # an absolute offset: every broker (and old client) serves that
        while not stop["flag"]:
            # The poll's timeout is the only wait: Ctrl-C or SIGTERM ends the loop within it.
            batch = consumer.poll(timeout_ms=500)
            for tp in sorted(batch, key=lambda t: t.partition):
                for record in batch[tp]:
                    emit(record.value, f"{topic}[{record.partition}]@{record.offset}")
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()


def threading_is_main() -> bool:
    import threading

    # signal.signal works only in the main thread (in-process test runners may call from another).
    return threading.current_thread() is threading.main_thread()


# --------------------------------------------------------------------------- list


def parse_since(text: str, timezone: str) -> datetime:
    """`YYYY-MM-DD` (midnight in the digest timezone) or an RFC 3339 time (no offset: digest timezone)."""
    zone = ZoneInfo(timezone)
    value = text.strip()
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(0), tzinfo=zone)
        parsed = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise ConfigError(f"--since must be YYYY-MM-DD or an RFC 3339 time, got {text!r}") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)


def list_alerts(
    settings: Settings, since: datetime | None = None, limit: int | None = None
) -> list[tuple[datetime, Alert]]:
    """(recorded at, alert) for every alert recorded in DuckDB since `since`, oldest first.

    Alerts recorded before their JSON was kept (migration 005) are rebuilt from their event.
    """
    from infra.store import Store

    sql = (
        "SELECT a.sent_at, a.record, a.alert_id, a.event_id, a.level, a.signal_score, e.record"
        " FROM alerts_sent a LEFT JOIN events e USING (event_id)"
        + (" WHERE a.sent_at >= ?" if since else "")
        + " ORDER BY a.sent_at DESC, a.alert_id DESC"
        + (" LIMIT ?" if limit else "")
    )
    params: list[Any] = [p for p in (since, limit) if p]
    with Store(settings.store.path, settings.store.lock_timeout_s).read() as con:
        rows = con.execute(sql, params).fetchall()
    out = []
    for sent_at, record, alert_id, event_id, level, score, event_record in reversed(rows):
        if record is not None:
            out.append((sent_at, Alert.model_validate_json(record)))
        elif event_record is not None:
            event = json.loads(event_record)
            out.append(
                (
                    sent_at,
                    Alert(
                        alert_id=alert_id,
                        event_id=event_id,
                        level=level,
                        title=event["title"],
                        category=event["category"],
                        signal_score=score,
                        verification=event["verification"],
                        created_at=sent_at,
                    ),
                )
            )
    return out


def list_command(
    ctx: typer.Context,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Only alerts recorded since YYYY-MM-DD (digest timezone) or an RFC 3339 time."),
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the newest N.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One Alert JSON document per line.")] = False,
) -> None:
    """The alerts recorded in DuckDB, oldest first: they outlive the embedded broker."""
    from infra.store import require_existing

    settings = _settings(ctx)
    after = parse_since(since, settings.digest.timezone) if since else None
    require_existing(settings.store.path)
    rows = list_alerts(settings, after, limit)
    if as_json:
        for _, alert in rows:
            _emit_json(alert)
        return
    label = f" since {after.isoformat()}" if after else ""
    print_wide(console, _table(f"alerts recorded{label}: {len(rows)}", [a for _, a in rows], [w for w, _ in rows]))


# --------------------------------------------------------------------------- webhooks


def deliveries(
    ctx: typer.Context,
    status: Annotated[
        str | None, typer.Option(help="Only pending, held (quiet hours), summarized, delivered or dead.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="Newest N rows.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """The webhook delivery log: attempts and last status per (webhook, alert) and per quiet-hours summary."""
    from infra.webhooks import list_deliveries

    if status is not None and status not in ("pending", "held", "summarized", "delivered", "dead"):
        raise ConfigError(f"--status must be pending, held, summarized, delivered or dead, got {status!r}")
    from infra.store import require_existing

    settings = _settings(ctx)
    require_existing(settings.store.path)
    rows = list_deliveries(settings, status=status, limit=limit)
    if as_json:
        for row in rows:
            sys.stdout.write(
                json.dumps(
                    {
                        **row.__dict__,
                        "updated_at": row.updated_at.isoformat(),
                        "delivered_at": row.delivered_at.isoformat() if row.delivered_at else None,
                    }
                )
                + "\n"
            )
        return
    table = Table(title=f"webhook deliveries ({len(rows)} shown)")
    for column in ("webhook", "alert", "status", "attempts", "last status", "last error", "updated (UTC)"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row.webhook,
            row.alert_id,
            row.status,
            str(row.attempts),
            "" if row.last_status is None else str(row.last_status),
            escape(row.last_error or ""),
            row.updated_at.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%d %H:%M:%S"),
        )
    print_wide(console, table)


def deliver(
    ctx: typer.Context,
    timeout: Annotated[
        float, typer.Option(min=0, help="Keep retrying what is due for up to this many seconds.")
    ] = 30.0,
    now: Annotated[
        bool, typer.Option("--now", help="Pending deliveries waiting out their backoff are due at once.")
    ] = False,
    requeue_dead: Annotated[
        bool,
        typer.Option(
            "--requeue-dead", help="Dead deliveries (retries ran out) start again from attempt 1; implies --now."
        ),
    ] = False,
    webhook: Annotated[
        str | None, typer.Option("--webhook", help="Only this webhook (its name) for --now / --requeue-dead.")
    ] = None,
) -> None:
    """Deliver pending webhook deliveries now (after fixing a receiver or setting a secret)."""
    from infra.broker import resolve_bootstrap
    from infra.kafka import close_producer, make_producer
    from infra.webhooks import WebhookDispatcher, requeue_deliveries

    settings = _settings(ctx)
    if not settings.alerts.webhooks:
        raise ConfigError("no [[alerts.webhooks]] configured")
    if webhook is not None and not (now or requeue_dead):
        raise ConfigError("--webhook narrows --now or --requeue-dead: give one of them")
    if now or requeue_dead:
        from infra.store import require_existing

        require_existing(settings.store.path)
        revived, hurried = requeue_deliveries(settings, dead=requeue_dead, due_now=True, webhook=webhook)
        if requeue_dead:
            console.print(f"requeued {revived} dead deliveries")
        if hurried:
            console.print(f"{hurried} pending deliveries due now (their backoff skipped)")
    dispatcher = WebhookDispatcher(settings)
    bootstrap, _ = resolve_bootstrap(settings)
    dispatcher.producer = make_producer(bootstrap, settings.kafka)  # for dead letters
    try:
        left = dispatcher.drain(timedelta(seconds=timeout).total_seconds())
    finally:
        close_producer(dispatcher.producer)
    console.print(f"delivered {dispatcher.delivered}, dead-lettered {dispatcher.dead}, still pending {left}")


def register(app: typer.Typer) -> None:
    alerts_app.command("tail")(tail)
    alerts_app.command("list")(list_command)
    alerts_app.command("deliveries")(deliveries)
    alerts_app.command("deliver")(deliver)
    app.add_typer(alerts_app, name="alerts")
