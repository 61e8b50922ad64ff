"""The daily digest (DESIGN.md §6): the JSON that outside checks read."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import AwareDatetime, Field

from schemas.common import Category, Contract, ItemType, Tier, Verification

__all__ = [
    "CategorySignal",
    "Digest",
    "DigestSource",
    "DigestStats",
    "DigestWindow",
    "ResearchHighlight",
    "TopEvent",
    "XSignal",
]


class DigestWindow(Contract):
    from_: date = Field(alias="from")
    to: date
    timezone: str


class DigestSource(Contract):
    url: str
    canonical_url: str | None = None
    publisher: str
    tier: Tier
    published_at: AwareDatetime | None = None
    # Additive: the item's headline for readers; omitted from the JSON when unknown.
    title: str | None = Field(None, exclude_if=lambda v: v is None)


class TopEvent(Contract):
    id: str
    title: str
    category: Category
    signal_score: float = Field(ge=0, le=100)
    verification: Verification
    what_happened: str
    key_facts: list[str] = Field(default_factory=list)
    why_it_matters: str
    implications: str
    sources: list[DigestSource] = Field(default_factory=list)
    carried_over: bool = False


class XSignal(Contract):
    handle: str
    url: str
    tweet_id: str
    type: ItemType
    verification: Verification
    judgment: str
    sources: list[DigestSource] = Field(default_factory=list)
    # Additive: the post's words and the event it belongs to; omitted from the JSON when empty.
    text: str = Field("", exclude_if=lambda v: not v)
    event_title: str | None = Field(None, exclude_if=lambda v: v is None)


class ResearchHighlight(Contract):
    title: str
    url: str
    arxiv_id: str | None = None
    what: str
    novelty: str
    applications: str
    judgment: str


class DigestStats(Contract):
    items_in: int = Field(ge=0)
    duplicates: int = Field(ge=0)
    rejected: int = Field(ge=0)
    events: int = Field(ge=0)


class CategorySignal(Contract):
    """Summed signal of the window's eligible events in one category (the HTML chart's data)."""

    category: Category
    signal: float = Field(ge=0)
    events: int = Field(ge=0)


class Digest(Contract):
    schema_: Literal["digest"] = Field("digest", alias="schema")
    version: Literal[1] = 1
    language: Literal["zh", "en"] = "zh"
    generated_at: AwareDatetime | None = None
    window: DigestWindow
    overview: str
    conclusions: list[str] = Field(min_length=3, max_length=3)
    top_events: list[TopEvent] = Field(max_length=5)
    x_signals: list[XSignal] = Field(default_factory=list)
    research: list[ResearchHighlight] = Field(default_factory=list)
    business_analysis: str
    stats: DigestStats
    # Additive (v1 stays v1): omitted from the JSON when empty, so older digests reserialise unchanged.
    category_signal: list[CategorySignal] = Field(default_factory=list, exclude_if=lambda v: not v)
