"""An event: one real-world happening gathering every item about it."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from schemas.common import Category, Contract, Verification

__all__ = ["Event", "ScoreComponent", "SCORE_COMPONENTS"]

ScoreComponentName = Literal["authority", "official", "corroboration", "engagement", "novelty", "magnitude", "recency"]
SCORE_COMPONENTS: tuple[str, ...] = ScoreComponentName.__args__  # type: ignore[attr-defined]


class ScoreComponent(Contract):
    name: ScoreComponentName
    points: float = Field(ge=0, le=100)
    reason: str = Field(description="why, in words a reader understands")


class Event(Contract):
    schema_: Literal["event"] = Field("event", alias="schema")
    version: Literal[1] = 1
    event_id: str = Field(min_length=1, description="stable across batches and re-runs")
    title: str
    category: Category
    secondary: tuple[Category, ...] = ()
    organisations: tuple[str, ...] = ()
    first_seen: AwareDatetime
    last_seen: AwareDatetime
    items: int = Field(0, ge=0)
    publishers: int = Field(0, ge=0, description="distinct independent publishers")
    signal_score: float = Field(ge=0, le=100)
    components: tuple[ScoreComponent, ...] = ()
    verification: Verification
