"""What the processor puts on `radar.alerts.v1` for a high-signal event."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from schemas.common import Category, Contract, Verification

__all__ = ["Alert"]


class Alert(Contract):
    schema_: Literal["alert"] = Field("alert", alias="schema")
    version: Literal[1] = 1
    alert_id: str = Field(description="event id + level: consumers drop repeats by it")
    event_id: str
    level: Literal["high", "critical"]
    title: str
    category: Category
    signal_score: float = Field(ge=0, le=100)
    verification: Verification
    reasons: tuple[str, ...] = ()
    url: str | None = None
    created_at: AwareDatetime
