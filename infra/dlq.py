"""Dead letters: build them the same way everywhere and put them on `radar.dlq.v1`.

Skipping a record is an explicit, logged decision that leaves a dead letter carrying
the stage, a one-line reason, where the record came from and its original bytes.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from datetime import UTC, datetime

from kafka import KafkaProducer

from schemas.common import KafkaCoordinates
from schemas.dead_letter import DeadLetter, Stage
from schemas.envelope import dump_envelope

__all__ = ["MAX_ORIGINAL_BYTES", "DeadLetterProducer", "make_dead_letter"]

log = logging.getLogger(__name__)

# A 10 MB poison body must not become a 10 MB DLQ message: keep the head and the size.
MAX_ORIGINAL_BYTES = 256 * 1024


def make_dead_letter(
    *,
    stage: Stage,
    reason: str,
    original: bytes = b"",
    source_name: str | None = None,
    url: str | None = None,
    coordinates: KafkaCoordinates | None = None,
    error: BaseException | None = None,
    occurred_at: datetime | None = None,
) -> DeadLetter:
    """A dead letter whose id is stable for the same input at the same place.

    A replayed or re-processed batch therefore yields the same id, and the DuckDB
    `dead_letters` table stays free of doubles.
    """
    where = (
        f"{coordinates.topic}/{coordinates.partition}/{coordinates.offset}"
        if coordinates is not None
        else f"{source_name}|{url}"
    )
    digest = hashlib.sha256(f"{stage}|{where}|".encode() + original[:MAX_ORIGINAL_BYTES]).hexdigest()[:24]
    one_line = " ".join(reason.split())[:500] or "unspecified"
    return DeadLetter(
        id=f"dl-{digest}",
        stage=stage,
        reason=one_line,
        error_type=type(error).__name__ if error is not None else None,
        source_name=source_name,
        url=url,
        coordinates=coordinates,
        original=original[:MAX_ORIGINAL_BYTES],
        original_size=len(original),
        occurred_at=occurred_at or datetime.now(UTC),
    )


class DeadLetterProducer:
    """Sends dead letters to the DLQ topic, keyed by dead-letter id."""

    def __init__(self, producer: KafkaProducer, topic: str) -> None:
        self.producer = producer
        self.topic = topic
        self.sent = 0

    def send(self, letters: Iterable[DeadLetter]) -> int:
        futures = []
        for letter in letters:
            log.warning("dead letter [%s] %s: %s", letter.stage, letter.source_name or letter.url or "", letter.reason)
            futures.append(self.producer.send(self.topic, key=letter.id.encode(), value=dump_envelope(letter)))
        for future in futures:
            future.get(timeout=30)
        self.sent += len(futures)
        return len(futures)
