"""Dead letters: build them the same way everywhere and put them on `radar.dlq.v1`.

Skipping a record is an explicit, logged decision that leaves a dead letter carrying
the stage, a one-line reason, where the record came from and its original bytes.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa
from kafka import KafkaProducer

from infra.config import Settings
from infra.redact import mask_secrets
from schemas.dead_letter import MAX_ORIGINAL_BYTES, DeadLetter
from schemas.envelope import dump_envelope

__all__ = [
    "MAX_ORIGINAL_BYTES",
    "DeadLetterProducer",
    "DeadLetterRow",
    "ReplayResult",
    "list_dead_letters",
    "make_dead_letter",
    "masked",
    "record_dead_letters",
    "replay_dead_letters",
]

log = logging.getLogger(__name__)


def make_dead_letter(*, reason: str, **fields: Any) -> DeadLetter:
    """`DeadLetter.of(...)` with configured secrets masked before the reason is cut to one line of 500
    characters (masking after the cut could leave the head of a secret that straddles it)."""
    return DeadLetter.of(reason=mask_secrets(reason), **fields)


def masked(letter: DeadLetter) -> DeadLetter:
    """The dead letter as it may leave the process: secrets in its reason masked. Stages that cannot
    know the configured secrets (transforms/) build theirs with `DeadLetter.of`."""
    reason = mask_secrets(letter.reason)
    return letter if reason == letter.reason else letter.model_copy(update={"reason": reason})


def record_dead_letters(con: duckdb.DuckDBPyConnection, letters: Sequence[DeadLetter]) -> int:
    """Mirror dead letters into DuckDB's `dead_letters` for `radar dlq list` (the bytes stay on Kafka).

    Keyed by the stable dead-letter id, so a batch recomputed after a crash adds nothing twice.
    Call inside `Store.write()`: it is part of the caller's transaction.
    """
    if not letters:
        return 0
    coords = [d.coordinates for d in letters]
    table = pa.table(
        {
            "dead_letter_id": [d.id for d in letters],
            "stage": [d.stage for d in letters],
            "reason": [mask_secrets(d.reason) for d in letters],
            "source_name": [d.source_name for d in letters],
            "url": [d.url for d in letters],
            "kafka_topic": pa.array([c.topic if c else None for c in coords], type=pa.string()),
            "kafka_partition": pa.array([c.partition if c else None for c in coords], type=pa.int32()),
            "kafka_offset": pa.array([c.offset if c else None for c in coords], type=pa.int64()),
            "original_size": [d.original_size for d in letters],
            "occurred_at": pa.array([d.occurred_at for d in letters], type=pa.timestamp("us", tz="UTC")),
        }
    )
    con.register("dead_letter_batch", table)
    try:
        con.execute(
            "INSERT INTO dead_letters (dead_letter_id, stage, reason, source_name, url, kafka_topic,"
            " kafka_partition, kafka_offset, original_size, occurred_at)"
            " SELECT * FROM dead_letter_batch ON CONFLICT (dead_letter_id) DO NOTHING"
        )
    finally:
        con.unregister("dead_letter_batch")
    return len(letters)


class DeadLetterProducer:
    """Sends dead letters to the DLQ topic, keyed by dead-letter id."""

    def __init__(self, producer: KafkaProducer, topic: str) -> None:
        self.producer = producer
        self.topic = topic
        self.sent = 0

    def send(self, letters: Iterable[DeadLetter]) -> int:
        futures = []
        for letter in map(masked, letters):
            log.warning("dead letter [%s] %s: %s", letter.stage, letter.source_name or letter.url or "", letter.reason)
            futures.append(self.producer.send(self.topic, key=letter.id.encode(), value=dump_envelope(letter)))
        for future in futures:
            future.get(timeout=30)
        self.sent += len(futures)
        return len(futures)


@dataclass(frozen=True)
class DeadLetterRow:
    """One recorded dead letter, as `radar dlq list` shows it (a table row, or a JSON object)."""

    dead_letter_id: str
    occurred_at: datetime
    stage: str
    reason: str
    source: str | None
    url: str | None
    topic: str | None
    partition: int | None
    offset: int | None
    replayed_at: datetime | None

    @property
    def where(self) -> str:
        if self.topic is not None:
            return f"{self.topic}[{self.partition}]@{self.offset}"
        return ((self.source or "") + (f" {self.url}" if self.url else "")).strip()

    def to_json(self) -> dict[str, object]:
        """Typed fields, times in UTC with their zone: what a script reads, not the table's cells."""
        kafka = {"topic": self.topic, "partition": self.partition, "offset": self.offset} if self.topic else None
        return {
            "dead_letter_id": self.dead_letter_id,
            "occurred_at": self.occurred_at.astimezone(UTC).isoformat(),
            "stage": self.stage,
            "reason": self.reason,
            "source": self.source,
            "url": self.url,
            "kafka": kafka,
            "replayed": self.replayed_at is not None,
            "replayed_at": self.replayed_at.astimezone(UTC).isoformat() if self.replayed_at else None,
        }


def list_dead_letters(settings: Settings, *, limit: int = 50, stage: str | None = None) -> list[DeadLetterRow]:
    from infra.store import Store

    sql = (
        "SELECT dead_letter_id, occurred_at, stage, reason, source_name, url, kafka_topic, kafka_partition,"
        " kafka_offset, replayed_at FROM dead_letters"
        + (" WHERE stage = ?" if stage else "")
        + " ORDER BY occurred_at DESC, dead_letter_id LIMIT ?"
    )
    params: list[object] = [stage, limit] if stage else [limit]
    with Store(settings.store.path, settings.store.lock_timeout_s).read() as con:
        rows = con.execute(sql, params).fetchall()
    return [DeadLetterRow(*row) for row in rows]


@dataclass(frozen=True)
class ReplayResult:
    replayed: int
    skipped: int
    skip_reason: str | None


def replay_dead_letters(settings: Settings, *, stage: str | None = None) -> ReplayResult:
    """Re-send the original bytes of dead letters that came off the raw topic, once each."""
    from kafka.errors import KafkaError

    from infra.kafka import close_producer, end_offsets, make_consumer, make_producer, partitions_of, read_range
    from infra.session import KafkaSession
    from infra.store import Store
    from schemas.envelope import EnvelopeError, parse_envelope

    store = Store(settings.store.path, settings.store.lock_timeout_s)
    with store.read() as con:
        rows = con.execute("SELECT dead_letter_id FROM dead_letters WHERE replayed_at IS NOT NULL").fetchall()
        # What the store lists as replayable, to say which of them the topic no longer holds.
        listed = con.execute(
            "SELECT dead_letter_id FROM dead_letters WHERE replayed_at IS NULL AND kafka_topic = ?"
            + (" AND stage = ?" if stage is not None else ""),
            [settings.kafka.raw_topic, *([stage] if stage is not None else [])],
        ).fetchall()
    done = {r[0] for r in rows}
    on_topic: set[str] = set()
    # The topics ensured (a broker started afresh holds no dead letters: the rows listed are then
    # reported as lost below, not as a missing topic) and the raw topic reconciled before sending to it.
    bootstrap = KafkaSession.open(settings, store=store).bootstrap
    consumer = make_consumer(bootstrap, settings.kafka)
    producer = make_producer(bootstrap, settings.kafka)
    sent: set[str] = set()  # the same letter can sit on the topic twice (a DLQ write retried)
    sends: list[tuple[str, Any]] = []
    skipped: Counter[str] = Counter()
    try:
        tps = partitions_of(consumer, settings.kafka.dlq_topic)
        ends = end_offsets(consumer, tps)
        for tp in tps:
            for record in read_range(consumer, tp, 0, ends[tp]):
                try:
                    letter = parse_envelope(record.value or b"")
                except EnvelopeError:
                    skipped["not a dead-letter envelope"] += 1
                    continue
                if not isinstance(letter, DeadLetter):
                    continue
                on_topic.add(letter.id)
                if letter.id in done or letter.id in sent:
                    continue
                if stage is not None and letter.stage != stage:
                    continue
                if letter.stage == "webhook":
                    # An alert a webhook did not take: it lives in the delivery log, not on the raw topic.
                    skipped["webhook deliveries: `radar alerts deliver --requeue-dead` sends them again"] += 1
                    continue
                if letter.coordinates is None or letter.coordinates.topic != settings.kafka.raw_topic:
                    skipped["not from the raw topic: re-run `radar ingest`"] += 1
                    continue
                if letter.original_size > len(letter.original):
                    skipped["original truncated in the DLQ"] += 1
                    continue
                key = letter.coordinates.key.encode() if letter.coordinates.key is not None else None
                sends.append((letter.id, producer.send(settings.kafka.raw_topic, key=key, value=letter.original)))
                sent.add(letter.id)
        # Only what the broker acknowledged counts as replayed; the rest stays replayable.
        failed = set()
        for letter_id, send in sends:
            try:
                send.get(timeout=30)
            except KafkaError:
                failed.add(letter_id)
        replayed = [letter_id for letter_id, _ in sends if letter_id not in failed]
        if failed:
            skipped["send failed, still replayable"] = len(failed)
        gone = sum(1 for (letter_id,) in listed if letter_id not in on_topic)
        if gone:
            # Their rows stay (they say what failed); their bytes lived only on the topic.
            skipped[
                "listed in the store but gone from the DLQ topic (its retention, or a restarted embedded broker):"
                " their originals are lost (`radar dlq list` shows what failed and where)"
            ] = gone
    finally:
        consumer.close()
        close_producer(producer)
    if replayed:
        with store.write() as con:
            con.execute(
                "UPDATE dead_letters SET replayed_at = now() WHERE dead_letter_id IN (SELECT unnest(?))", [replayed]
            )
    reason = "; ".join(f"{n} {why}" for why, n in skipped.items()) or None
    return ReplayResult(len(replayed), sum(skipped.values()), reason)
