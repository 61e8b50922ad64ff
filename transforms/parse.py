"""Parsing what the raw topic holds: a Kafka record's value into a raw envelope with its coordinates.

Bytes in, models out: undecodable values and envelopes that do not belong on the raw topic
leave as dead letters carrying the record's coordinates.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Protocol

import apache_beam as beam

from schemas.common import KafkaCoordinates
from schemas.dead_letter import DeadLetter
from schemas.envelope import EnvelopeError, parse_envelope
from schemas.raw import RawPage, RawPost, ReceivedRaw

__all__ = ["ParseEnvelopes", "RawRecord", "coordinates_of", "parse_record"]

DEAD_LETTER = "dead_letter"


class RawRecord(Protocol):
    """A record as read from Kafka (`infra.kafka.KafkaRecord` is one)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def timestamp_ms(self) -> int: ...


def coordinates_of(record: RawRecord) -> KafkaCoordinates:
    key = record.key.decode("utf-8", errors="replace") if record.key is not None else None
    timestamp = datetime.fromtimestamp(record.timestamp_ms / 1000, UTC) if record.timestamp_ms >= 0 else None
    return KafkaCoordinates(
        topic=record.topic, partition=record.partition, offset=record.offset, key=key, timestamp=timestamp
    )


def parse_record(record: RawRecord) -> ReceivedRaw | DeadLetter:
    """What the parse step does to one record: a ReceivedRaw, or a dead letter saying why not."""
    coordinates = coordinates_of(record)
    value = record.value or b""
    try:
        envelope = parse_envelope(value)
    except EnvelopeError as exc:
        return DeadLetter.of(stage="envelope", reason=str(exc), original=value, coordinates=coordinates, error=exc)
    if not isinstance(envelope, RawPost | RawPage):
        reason = f"{envelope.schema_}/{envelope.version} does not belong on the raw topic"
        return DeadLetter.of(stage="envelope", reason=reason, original=value, coordinates=coordinates)
    return ReceivedRaw(envelope=envelope, coordinates=coordinates)


class _ParseFn(beam.DoFn):
    def process(self, record: RawRecord) -> Iterator[Any]:
        result = parse_record(record)
        if isinstance(result, DeadLetter):
            yield beam.pvalue.TaggedOutput(DEAD_LETTER, result)
        else:
            yield result


class ParseEnvelopes(beam.PTransform):
    """KafkaRecord -> ReceivedRaw; undecodable or foreign values leave as dead letters."""

    def expand(self, records: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
        return records | "ParseEnvelope" >> beam.ParDo(_ParseFn()).with_outputs(DEAD_LETTER, main="good")
