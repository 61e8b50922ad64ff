"""What the processor puts on `radar.alerts.v1` (and POSTs to webhooks) for a high-signal event.

Levels: `high` when the event's signal score reaches `[alerts] min_score`, `critical` when it
reaches `[alerts] critical_score` (default min_score + 15). An event raises at most one alert
per level, and levels only rise: `high` then `critical` is two alerts, the second naming the
first in `previous_alert_id`; a score that falls back raises nothing.

Version 1 grew additively (`published_at`, `sources`, `organisations`, `previous_alert_id`,
and `url` now filled): every earlier alert/1 document is still valid, no field changed meaning.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from schemas.common import Category, Contract, Tier, Verification

__all__ = ["Alert", "AlertLevel", "AlertSource", "LEVELS"]

AlertLevel = Literal["high", "critical"]
LEVELS: tuple[AlertLevel, ...] = ("high", "critical")  # in rising order


class AlertSource(Contract):
    """One publisher that reported the event, best first (official voices, then by time)."""

    publisher: str
    tier: Tier
    url: str | None = None


class Alert(Contract):
    schema_: Literal["alert"] = Field("alert", alias="schema")
    version: Literal[1] = 1
    alert_id: str = Field(description="event id + level: consumers drop repeats by it")
    event_id: str
    level: AlertLevel
    title: str = Field(description="the event's headline, never raw post text or a bare URL")
    category: Category
    signal_score: float = Field(ge=0, le=100)
    verification: Verification
    reasons: tuple[str, ...] = ()
    url: str | None = Field(None, description="the best official source's URL, else the first source's")
    created_at: AwareDatetime = Field(description="when the processor raised the alert")
    published_at: AwareDatetime | None = Field(None, description="publication time of the event's first item")
    sources: tuple[AlertSource, ...] = ()
    organisations: tuple[str, ...] = ()
    previous_alert_id: str | None = Field(
        None, description="the lower-level alert of the same event this one follows, when the level rose"
    )
