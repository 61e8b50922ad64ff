"""What any stage puts on `radar.dlq.v1` when it cannot use a record."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from schemas.common import Contract, KafkaCoordinates

__all__ = ["DeadLetter", "Stage"]

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
