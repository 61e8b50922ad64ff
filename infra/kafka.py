"""Plain kafka-python clients configured from settings.

Nothing here may depend on the embedded broker's quirks: the same code runs against
Apache Kafka. Two quirks shape the design (DESIGN.md §7): consumers never join a group
(joins take ~23 s on Tansu; we assign partitions by hand and keep offsets in DuckDB),
and partition ends come from `highwater()` after a poll, because Tansu's
`end_offsets()` is wrong.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError, TopicAlreadyExistsError

from infra.config import KafkaSettings

__all__ = [
    "KafkaRecord",
    "TopicSpec",
    "close_producer",
    "end_offsets",
    "ensure_topics",
    "make_consumer",
    "make_producer",
    "partitions_of",
    "probe_bootstrap",
    "read_range",
    "topic_specs",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int


@dataclass(frozen=True)
class KafkaRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int


def topic_specs(kafka: KafkaSettings) -> list[TopicSpec]:
    return [
        TopicSpec(kafka.raw_topic, kafka.raw_partitions),
        TopicSpec(kafka.dlq_topic, kafka.dlq_partitions),
        TopicSpec(kafka.alerts_topic, kafka.alerts_partitions),
    ]


def _security(kafka: KafkaSettings) -> dict[str, Any]:
    opts: dict[str, Any] = {"security_protocol": kafka.security_protocol}
    if kafka.sasl_mechanism:
        opts["sasl_mechanism"] = kafka.sasl_mechanism
        opts["sasl_plain_username"] = kafka.sasl_username
        opts["sasl_plain_password"] = kafka.sasl_password.get_secret_value() if kafka.sasl_password else None
    if kafka.security_protocol in ("SSL", "SASL_SSL"):
        opts["ssl_check_hostname"] = kafka.ssl_check_hostname
        for key in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            if (path := getattr(kafka, key)) is not None:
                opts[key] = str(path)
    return opts


def probe_bootstrap(bootstrap: str, timeout_s: float = 5.0) -> None:
    """Fail in seconds, not after the admin client's ~30 s of retries, when no broker listens."""
    for hostport in bootstrap.split(","):
        host, _, port = hostport.strip().rpartition(":")
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
                return
        except (OSError, ValueError):
            continue
    raise KafkaConnectionError(f"Kafka unreachable: no broker answers at {bootstrap}")


def ensure_topics(bootstrap: str, kafka: KafkaSettings, specs: Iterable[TopicSpec] | None = None) -> list[str]:
    """Create missing topics; existing ones are left alone. Returns the names created."""
    probe_bootstrap(bootstrap, timeout_s=min(5.0, kafka.request_timeout_ms / 1000))
    specs = list(specs if specs is not None else topic_specs(kafka))
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=kafka.request_timeout_ms, **_security(kafka)
    )
    created: list[str] = []
    try:
        existing = set(admin.list_topics())
        for spec in specs:
            if spec.name in existing:
                continue
            try:
                admin.create_topics(
                    [NewTopic(spec.name, spec.partitions, kafka.replication_factor)],
                    timeout_ms=kafka.request_timeout_ms,
                )
                created.append(spec.name)
            except TopicAlreadyExistsError:
                # Another process won the race: that is the idempotent outcome we want.
                pass
    finally:
        admin.close()
    return created


def make_producer(bootstrap: str, kafka: KafkaSettings, **overrides: Any) -> KafkaProducer:
    opts: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "acks": "all",
        "retries": 5,
        "enable_idempotence": True,
        "linger_ms": 5,
        "batch_size": 262_144,
        "max_request_size": 16 * 1024 * 1024,
        "request_timeout_ms": kafka.request_timeout_ms,
        # send() blocks this long for topic metadata when the broker is gone (default 60 s)
        "max_block_ms": int(kafka.ack_timeout_s * 1000),
        **_security(kafka),
    }
    opts.update(overrides)
    return KafkaProducer(**opts)


def close_producer(producer: KafkaProducer, timeout_s: float = 10.0) -> None:
    """Close a producer; when the broker is gone, say so in one warning and release it anyway.

    kafka-python's close() raises from its flush before it force-closes the sender, and its
    __del__ then repeats that flush at interpreter exit and prints a traceback. Records it
    could not deliver are not lost: nobody committed a cursor or offset for them.
    """
    try:
        producer.close(timeout=timeout_s)
    except KafkaTimeoutError:
        log.warning(
            "Kafka did not acknowledge pending records within %.0f s (broker unreachable?);"
            " nothing was committed for them, the next run sends them again",
            timeout_s,
        )
        sender = getattr(producer, "_sender", None)
        if sender is not None:
            sender.force_close()
        producer._closed = True  # noqa: SLF001 - what close() sets last; stops __del__ retrying the flush


def make_consumer(bootstrap: str, kafka: KafkaSettings, **overrides: Any) -> KafkaConsumer:
    return KafkaConsumer(**consumer_options(bootstrap, kafka, **overrides))


def consumer_options(bootstrap: str, kafka: KafkaSettings, **overrides: Any) -> dict[str, Any]:
    """The options `make_consumer` gives KafkaConsumer: two consumers with equal options are interchangeable."""
    opts: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "group_id": None,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        # 500 ms default wait adds ~100 ms latency per poll on the embedded broker.
        "fetch_max_wait_ms": 10,
        "max_partition_fetch_bytes": 16 * 1024 * 1024,
        "fetch_max_bytes": 64 * 1024 * 1024,
        "request_timeout_ms": max(kafka.request_timeout_ms, 31_000),
        **_security(kafka),
    }
    opts.update(overrides)
    return opts


def partitions_of(consumer: KafkaConsumer, topic: str, timeout_s: float = 10.0) -> list[TopicPartition]:
    deadline = time.monotonic() + timeout_s
    while True:
        parts = consumer.partitions_for_topic(topic)
        if parts:
            return [TopicPartition(topic, p) for p in sorted(parts)]
        if time.monotonic() > deadline:
            raise KafkaError(f"topic {topic!r} has no partitions (does it exist?)")
        time.sleep(0.05)


def _forget_highwater(consumer: KafkaConsumer, tps: list[TopicPartition]) -> None:
    """Drop the highwater each partition kept from its last fetch.

    kafka-python replaces a partition's highwater only with a fetch response for its current
    position, and a poll returns as soon as one partition has records: the others kept the value
    of an earlier call, so a busy topic's ends lagged by seconds of records (issue 13: each
    `--follow` batch took a fraction of what had arrived). None until a fresh answer comes.
    """
    assignment = getattr(getattr(consumer, "_subscription", None), "assignment", None)
    if not isinstance(assignment, dict):
        return
    for tp in tps:
        state = assignment.get(tp)
        if state is not None and hasattr(state, "highwater"):
            state.highwater = None


def end_offsets(consumer: KafkaConsumer, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
    """High-water marks, learned from a fetch (see module docstring)."""
    saved = {tp: consumer.position(tp) for tp in consumer.assignment()}
    assigned = consumer.assignment()
    known = {tp: consumer.highwater(tp) if tp in assigned else None for tp in tps}
    consumer.assign(tps)
    for tp in tps:
        # Fetch at the last known end, not from 0: the response is tiny however long the topic
        # is, and a position that moved discards any buffered (stale) fetch for the partition.
        consumer.seek(tp, max(0, (known[tp] or 0) - 1))
    _forget_highwater(consumer, tps)
    # Polls until a fetch at the new positions has answered for every partition.
    deadline = time.monotonic() + 5.0
    ends: dict[TopicPartition, int | None] = {tp: None for tp in tps}
    while time.monotonic() < deadline:
        consumer.poll(timeout_ms=100, max_records=1, update_offsets=False)
        for tp in tps:
            ends[tp] = consumer.highwater(tp)
        if all(v is not None for v in ends.values()):
            break
    for tp, pos in saved.items():
        if tp in tps:
            consumer.seek(tp, pos)
    return {tp: int(v or 0) for tp, v in ends.items()}


def read_range(
    consumer: KafkaConsumer, tp: TopicPartition, start: int, stop: int, max_poll_records: int = 5000
) -> Iterator[KafkaRecord]:
    """Yield records of one partition with start <= offset < stop, in order."""
    if stop <= start:
        return
    consumer.assign([tp])
    consumer.seek(tp, start)
    idle_deadline = time.monotonic() + 30.0
    while True:
        batch = consumer.poll(timeout_ms=200, max_records=max_poll_records)
        got = False
        for rec in batch.get(tp, []):
            got = True
            if rec.offset >= stop:
                return
            if rec.offset < start:
                continue
            yield KafkaRecord(rec.topic, rec.partition, rec.offset, rec.key, rec.value, rec.timestamp)
            if rec.offset + 1 >= stop:
                return
        if got:
            idle_deadline = time.monotonic() + 30.0
        elif consumer.position(tp) >= stop:
            return
        elif time.monotonic() > idle_deadline:
            raise KafkaError(f"{tp.topic}[{tp.partition}] gave no records between {start} and {stop} for 30 s")
