"""What the processor puts on `radar.alerts.v1` (and POSTs to webhooks) for a high-signal event.

Levels: `high` when the event's signal score reaches `[alerts] min_score`, `critical` when it
reaches `[alerts] critical_score` (default min_score + 15). An event raises at most one alert
per level, and levels only rise: `high` then `critical` is two alerts, the second naming the
first in `previous_alert_id`; a score that falls back raises nothing.

An event already alerted raises one more alert when a correction changes its facts: the same
level, `correction` true, `previous_alert_id` naming the alert it corrects.

Version 1 grew additively (`published_at`, `sources`, `organisations`, `previous_alert_id`,
`correction`, and `url` now filled): every earlier alert/1 document is still valid, no field
changed meaning.

`AlertSummary` is the one delivery a webhook gets for the alerts held during its quiet hours.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from schemas.common import Category, Contract, Tier, Verification

__all__ = ["Alert", "AlertLevel", "AlertSource", "AlertSummary", "LEVELS"]

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
        None, description="the earlier alert of the same event this one follows: a level rise or a correction"
    )
    correction: bool = Field(
        False, description="raised again because a correction changed the event's facts (see reasons)"
    )


class AlertSummary(Contract):
    """What a webhook receives once its quiet hours end: every alert held meanwhile, oldest first."""

    schema_: Literal["alert-summary"] = Field("alert-summary", alias="schema")
    version: Literal[1] = 1
    summary_id: str = Field(description="'quiet:' + the window's end (UTC): the webhook-id; repeats drop by it")
    quiet_from: AwareDatetime
    quiet_until: AwareDatetime
    timezone: str = Field(description="the zone the webhook's quiet_hours are written in")
    count: int = Field(ge=0)
    alerts: tuple[Alert, ...] = ()
