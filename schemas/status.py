"""`radar status --json`: one JSON document on the state of the whole pipeline (DESIGN.md §6).

Not a Kafka value (so not in the envelope union); `schema`/`version` still let a consumer of
the document tell its shape. Every time is UTC; every absent fact is null, never omitted.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import AwareDatetime, Field

from schemas.common import Contract

__all__ = [
    "ConsumerLag",
    "Counts",
    "DeadLetterGroup",
    "DeadLetters",
    "LastDigest",
    "PartitionLag",
    "SourceStatus",
    "Status",
    "StoreInfo",
]


class StoreInfo(Contract):
    path: str
    exists: bool = Field(description="false: no DuckDB file yet (nothing has run); counts are then 0")
    schema_version: int | None = None


class PartitionLag(Contract):
    partition: int = Field(ge=0)
    committed: int = Field(ge=0, description="next offset the processor will read (0 when none is stored)")
    end: int = Field(ge=0, description="the partition's end offset (high-water mark)")
    lag: int = Field(ge=0, description="records on the partition the processor has not committed")


class ConsumerLag(Contract):
    consumer: str = Field(description="who keeps these offsets in DuckDB table consumer_offsets")
    topic: str
    bootstrap: str | None = Field(None, description="Kafka servers asked; null when none could be named")
    known: bool = Field(description="false when the ends could not be learned; `reason` says why")
    reason: str | None = None
    total: int | None = Field(None, ge=0, description="sum of the partitions' lag; null when unknown")
    partitions: list[PartitionLag] = Field(default_factory=list)
    note: str | None = Field(None, description="a fact that qualifies the figures (e.g. a new topic incarnation)")


class Counts(Contract):
    items: int = Field(ge=0)
    events: int = Field(ge=0)
    alerts: int = Field(ge=0, description="alerts sent (table alerts_sent)")
    dead_letters: int = Field(ge=0)
    digests: int = Field(ge=0)


class DeadLetterGroup(Contract):
    stage: str
    reason: str = Field(description="the reason with its URLs and line/column numbers replaced (<url>, N)")
    count: int = Field(ge=1)
    replayed: int = Field(ge=0)
    last_at: AwareDatetime
    example: str | None = Field(None, description="the group's latest reason as written, when it differs")


class DeadLetters(Contract):
    total: int = Field(ge=0)
    by_stage: dict[str, int] = Field(default_factory=dict)
    groups: list[DeadLetterGroup] = Field(
        default_factory=list, description="by (stage, reason), most frequent first, at most `groups_shown`"
    )
    groups_total: int = Field(0, ge=0, description="distinct (stage, reason) pairs, shown or not")


class SourceStatus(Contract):
    name: str
    kind: str | None = Field(None, description="null for a source only the store remembers")
    configured: bool
    enabled: bool
    last_run_at: AwareDatetime | None = None
    last_success_at: AwareDatetime | None = None
    last_success_produced: int | None = None
    last_error_at: AwareDatetime | None = None
    last_error: str | None = None
    consecutive_failures: int = Field(0, ge=0)


class LastDigest(Contract):
    digest_date: dt.date
    language: str
    window_from: dt.date
    window_to: dt.date
    timezone: str
    events: int = Field(ge=0, description="events featured")
    created_at: AwareDatetime


class Status(Contract):
    schema_: Literal["status"] = Field("status", alias="schema")
    version: Literal[1] = 1
    generated_at: AwareDatetime
    config_file: str | None = None
    store: StoreInfo
    lag: ConsumerLag
    counts: Counts
    dead_letters: DeadLetters
    sources: list[SourceStatus] = Field(default_factory=list)
    last_digest: LastDigest | None = None
