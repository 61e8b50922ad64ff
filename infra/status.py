"""What `radar status` reports (DESIGN.md §6), gathered without changing anything.

`collect_status(settings)` never starts the embedded broker, never creates topics and never
creates the DuckDB file: a status command that did so would hide the very problems it is
asked about (a stopped broker, a store path pointing somewhere new). When Kafka cannot be
asked, the lag is "unknown" with the reason and everything DuckDB knows is still shown.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import duckdb

from infra.config import Settings
from infra.store import Store
from schemas.status import (
    ConsumerLag,
    Counts,
    DeadLetterGroup,
    DeadLetters,
    LastDigest,
    PartitionLag,
    SourceStatus,
    Status,
    StoreInfo,
)

__all__ = ["DEAD_LETTER_GROUPS_SHOWN", "PROCESSOR_CONSUMER", "collect_status"]

log = logging.getLogger(__name__)

# The processor's name in consumer_offsets (app.processor.CONSUMER_NAME); not imported from
# there because that module pulls in Beam, which costs ~1 s for a command that runs no pipeline.
PROCESSOR_CONSUMER = "processor"

# Reasons often carry a URL or an entry id, so a big store can hold thousands of distinct ones:
# the most frequent are shown, the number of the rest is reported.
DEAD_LETTER_GROUPS_SHOWN = 50

# Dead letters written by the connectors (ingest) rather than by the processor's stages.
_INGEST_STAGES = ("fetch", "parse", "decode")

# Asking Kafka must not make `radar status` hang when a broker is half-up.
_PROBE_TIMEOUT_S = 2.0
_METADATA_TIMEOUT_S = 5.0


def collect_status(settings: Settings, *, now: datetime | None = None) -> Status:
    """Everything `radar status` shows, as one document."""
    store = Store(settings.store.path, settings.store.lock_timeout_s)
    store_info = StoreInfo(path=str(settings.store.path), exists=store.path.is_file())
    stored_offsets: dict[int, int] = {}
    recorded_topic_id: str | None = None
    counts = Counts(items=0, events=0, alerts=0, dead_letters=0, digests=0)
    dead_letters = DeadLetters(total=0)
    runs: dict[str, dict[str, Any]] = {}
    last_digest: LastDigest | None = None
    if store_info.exists:
        with store.read() as con:
            store_info = store_info.model_copy(
                update={"schema_version": _scalar(con, "SELECT max(version) FROM schema_migrations")}
            )
            stored_offsets, recorded_topic_id = _stored_offsets(con, settings.kafka.raw_topic)
            counts = _counts(con)
            dead_letters = _dead_letters(con, counts.dead_letters)
            runs = _source_runs(con)
            last_digest = _last_digest(con)
    return Status(
        generated_at=now or datetime.now(UTC),
        config_file=str(settings.config_file) if settings.config_file else None,
        store=store_info,
        lag=_lag(settings, stored_offsets, recorded_topic_id),
        counts=counts,
        dead_letters=dead_letters,
        sources=_sources(settings, runs),
        last_digest=last_digest,
    )


# --------------------------------------------------------------------------- DuckDB


def _scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> Any:
    row = con.execute(sql, params or []).fetchone()
    return row[0] if row else None


def _utc(value: datetime | None) -> datetime | None:
    # DuckDB hands TIMESTAMPTZ back in the session's time zone; the document speaks UTC.
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _stored_offsets(con: duckdb.DuckDBPyConnection, topic: str) -> tuple[dict[int, int], str | None]:
    rows = con.execute(
        "SELECT partition, next_offset FROM consumer_offsets WHERE consumer = ? AND topic = ?",
        [PROCESSOR_CONSUMER, topic],
    ).fetchall()
    topic_id = _scalar(con, "SELECT topic_id FROM topic_incarnations WHERE topic = ?", [topic])
    return {int(p): int(o) for p, o in rows}, topic_id


def _counts(con: duckdb.DuckDBPyConnection) -> Counts:
    def count(table: str) -> int:
        return int(_scalar(con, f"SELECT count(*) FROM {table}") or 0)

    return Counts(
        items=count("items"),
        events=count("events"),
        alerts=count("alerts_sent"),
        dead_letters=count("dead_letters"),
        digests=count("digests"),
    )


# A reason names the URL or the line it failed at ("line 3: invalid JSON", "HTTP 404 http://…"): grouped
# as written, a feed of bad lines would fill the table with one row per dead letter. Groups are by the
# reason with those particulars replaced; the latest full reason of each group is its example.
_REASON_KIND = (
    "regexp_replace(regexp_replace(regexp_replace(reason, 'https?://[^\\s\\])>\"'']+', '<url>', 'g'),"
    " '(?i)\\b(lines?|column|char|offset|entry|row|position) [0-9]+(-[0-9]+)?', '\\1 N', 'g'),"
    # A webhook's dead letter names its alert ("alert ev-1:high not delivered"): one outage, one row.
    " '\\b(alert|summary) \\S+ not delivered', '\\1 <id> not delivered', 'g')"
)


def _dead_letters(con: duckdb.DuckDBPyConnection, total: int) -> DeadLetters:
    if total == 0:
        return DeadLetters(total=0)
    by_stage = {
        str(stage): int(n)
        for stage, n in con.execute(
            "SELECT stage, count(*) FROM dead_letters GROUP BY stage ORDER BY count(*) DESC, stage"
        ).fetchall()
    }
    kinds = f"SELECT *, {_REASON_KIND} AS kind FROM dead_letters"
    groups_total = int(_scalar(con, f"SELECT count(*) FROM (SELECT DISTINCT stage, kind FROM ({kinds}))") or 0)
    rows = con.execute(
        "SELECT stage, kind, count(*), count(replayed_at), max(occurred_at), arg_max(reason, occurred_at)"
        f" FROM ({kinds}) GROUP BY stage, kind ORDER BY count(*) DESC, max(occurred_at) DESC, stage, kind LIMIT ?",
        [DEAD_LETTER_GROUPS_SHOWN],
    ).fetchall()
    groups = [
        DeadLetterGroup(
            stage=stage,
            reason=kind,
            count=int(n),
            replayed=int(replayed),
            last_at=_utc(last_at),
            example=example if example != kind else None,
        )
        for stage, kind, n, replayed, last_at, example in rows
    ]
    return DeadLetters(total=total, by_stage=by_stage, groups=groups, groups_total=groups_total)


def _source_runs(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, Any]]:
    runs: dict[str, dict[str, Any]] = {}
    for name, run_at, success_at, produced, error_at, error, failures in con.execute(
        "SELECT source_name, last_run_at, last_success_at, last_success_produced, last_error_at, last_error,"
        " consecutive_failures FROM source_runs"
    ).fetchall():
        runs[name] = {
            "last_run_at": _utc(run_at),
            "last_success_at": _utc(success_at),
            "last_success_produced": produced,
            "last_error_at": _utc(error_at),
            "last_error": error,
            "consecutive_failures": int(failures),
        }
    # Runs from before source_runs existed (migration 006) left only their dead letters: the
    # latest connector-stage one still tells when and why a source last failed.
    placeholders = ", ".join("?" for _ in _INGEST_STAGES)
    for name, error_at, error in con.execute(
        "SELECT source_name, max(occurred_at), arg_max(stage || ': ' || reason, occurred_at) FROM dead_letters"
        f" WHERE source_name IS NOT NULL AND stage IN ({placeholders}) GROUP BY source_name",
        list(_INGEST_STAGES),
    ).fetchall():
        if name not in runs:
            runs[name] = {"last_error_at": _utc(error_at), "last_error": error}
    return runs


def _last_digest(con: duckdb.DuckDBPyConnection) -> LastDigest | None:
    row = con.execute(
        "SELECT digest_date, language, window_from, window_to, timezone, len(event_ids), created_at"
        " FROM digests ORDER BY created_at DESC, digest_date DESC LIMIT 1"
    ).fetchone()
    if row is None:
        return None
    digest_date, language, window_from, window_to, timezone, events, created_at = row
    return LastDigest(
        digest_date=digest_date,
        language=language,
        window_from=window_from,
        window_to=window_to,
        timezone=timezone,
        events=int(events or 0),
        created_at=_utc(created_at),
    )


def _sources(settings: Settings, runs: dict[str, dict[str, Any]]) -> list[SourceStatus]:
    """Configured sources in config order, then sources only the store still remembers."""
    out = [
        SourceStatus(name=s.name, kind=s.kind, configured=True, enabled=s.enabled, **runs.get(s.name, {}))
        for s in settings.sources
    ]
    configured = {s.name for s in settings.sources}
    out.extend(
        SourceStatus(name=name, configured=False, enabled=False, **run)
        for name, run in sorted(runs.items())
        if name not in configured
    )
    return out


# --------------------------------------------------------------------------- Kafka


def _lag(settings: Settings, stored: dict[int, int], recorded_topic_id: str | None) -> ConsumerLag:
    kafka = settings.kafka
    base = {"consumer": PROCESSOR_CONSUMER, "topic": kafka.raw_topic}
    if kafka.embedded:
        from infra.broker import EmbeddedBroker

        # state() only reads broker.json (and drops it when its pid is gone): nothing is started.
        state = EmbeddedBroker(settings.data_dir).state()
        if state is None:
            return ConsumerLag(
                **base,
                known=False,
                reason=f"embedded broker not running (no live broker recorded under {settings.data_dir / 'broker'});"
                " `radar broker start` or any command that needs Kafka starts it",
            )
        bootstrap = state.bootstrap
    else:
        bootstrap = kafka.bootstrap
    try:
        return _ask_kafka(settings, bootstrap, stored, recorded_topic_id)
    except Exception as exc:  # noqa: BLE001 - any failure to ask Kafka is reported, not raised: status must show the rest
        from infra.redact import mask_secrets

        reason = mask_secrets(str(exc).strip().splitlines()[0]) if str(exc).strip() else type(exc).__name__
        log.debug("consumer lag unknown", exc_info=True)
        # kafka-python's errors already start their text with their class name.
        named = reason if reason.startswith(type(exc).__name__) else f"{type(exc).__name__}: {reason}"
        return ConsumerLag(**base, bootstrap=bootstrap, known=False, reason=named)


def _ask_kafka(
    settings: Settings, bootstrap: str, stored: dict[int, int], recorded_topic_id: str | None
) -> ConsumerLag:
    from infra.kafka import end_offsets, make_consumer, partitions_of, probe_bootstrap
    from infra.recovery import current_topic_id

    kafka = settings.kafka
    base = {"consumer": PROCESSOR_CONSUMER, "topic": kafka.raw_topic, "bootstrap": bootstrap}
    # A plain socket first: kafka-python would retry an unreachable broker for ~30 s.
    probe_bootstrap(bootstrap, timeout_s=_PROBE_TIMEOUT_S)
    consumer = make_consumer(bootstrap, kafka)
    try:
        topics = consumer.topics()
        if kafka.raw_topic not in topics:
            return ConsumerLag(**base, known=False, reason=f"topic {kafka.raw_topic} does not exist on {bootstrap}")
        tps = partitions_of(consumer, kafka.raw_topic, timeout_s=_METADATA_TIMEOUT_S)
        # Tansu's end_offsets() is wrong; infra.kafka.end_offsets learns them from a fetch.
        ends = end_offsets(consumer, tps)
    finally:
        consumer.close()
    note = None
    topic_id = current_topic_id(bootstrap, kafka, kafka.raw_topic)
    if recorded_topic_id is not None and topic_id is not None and topic_id != recorded_topic_id:
        # The embedded broker restarted (or the topic was recreated): stored offsets describe a
        # topic that is gone, and the processor rereads this one from 0 (infra/recovery.py).
        stored = {}
        note = (
            f"{kafka.raw_topic} is a new topic (id {topic_id}, offsets were stored for {recorded_topic_id}):"
            " the processor will read it from offset 0"
        )
    partitions = []
    for tp in tps:
        end = ends[tp]
        committed = stored.get(tp.partition, 0)
        partitions.append(
            PartitionLag(partition=tp.partition, committed=committed, end=end, lag=max(0, end - committed))
        )
    return ConsumerLag(**base, known=True, total=sum(p.lag for p in partitions), partitions=partitions, note=note)
