"""What any stage puts on `radar.dlq.v1` when it cannot use a record."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Literal

from pydantic import AwareDatetime, Field

from schemas.common import Contract, KafkaCoordinates

__all__ = ["MAX_ORIGINAL_BYTES", "DeadLetter", "Stage"]

# A 10 MB poison body must not become a 10 MB DLQ message: keep the head and the size.
MAX_ORIGINAL_BYTES = 256 * 1024

Stage = Literal[
    "fetch",
    "parse",
    "decode",
    "envelope",
    "normalize",
    "dedupe",
    "classify",
    "extract",
    "cluster",
    "score",
    "sink",
    "webhook",  # an alert a webhook refused, or did not take after its last attempt (infra/webhooks.py)
]


class DeadLetter(Contract):
    schema_: Literal["dead_letter"] = Field("dead_letter", alias="schema")
    version: Literal[1] = 1
    id: str = Field(description="stable id: same input at the same place gives the same id")
    stage: Stage
    reason: str = Field(min_length=1, description="one line a human can act on")
    error_type: str | None = None
    source_name: str | None = None
    url: str | None = None
    coordinates: KafkaCoordinates | None = Field(None, description="where the record sat on Kafka, if it did")
    original: bytes = Field(b"", description="the bytes as received (truncated to the DLQ cap)")
    original_size: int = Field(0, ge=0, description="size before truncation")
    occurred_at: AwareDatetime
    attempt: int = Field(1, ge=1)

    @classmethod
    def of(
        cls,
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
        `dead_letters` table stays free of doubles. Secrets in `reason` are masked where
        dead letters leave the process (infra/dlq.py), which knows the configured secrets.
        """
        where = (
            f"{coordinates.topic}/{coordinates.partition}/{coordinates.offset}"
            if coordinates is not None
            else f"{source_name}|{url}"
        )
        digest = hashlib.sha256(f"{stage}|{where}|".encode() + original[:MAX_ORIGINAL_BYTES]).hexdigest()[:24]
        return cls(
            id=f"dl-{digest}",
            stage=stage,
            reason=" ".join(reason.split())[:500] or "unspecified",
            error_type=type(error).__name__ if error is not None else None,
            source_name=source_name,
            url=url,
            coordinates=coordinates,
            original=original[:MAX_ORIGINAL_BYTES],
            original_size=len(original),
            # The record's own Kafka timestamp when there is one: a batch recomputed after a crash
            # then writes the same dead letter, not one stamped with the time of the retry.
            occurred_at=occurred_at
            or (coordinates.timestamp if coordinates is not None and coordinates.timestamp else None)
            or datetime.now(UTC),
        )
