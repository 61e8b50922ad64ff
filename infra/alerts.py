"""Alerts: which events raise one, what the payload says, and how it is recorded.

The processor calls `build_alerts` on each batch's scored events, sends the result to
`radar.alerts.v1`, then `record_alerts` inside the batch's DuckDB transaction: the full alert
JSON goes into `alerts_sent` (so `radar alerts list` outlives the embedded broker) and one
'pending' row per routed webhook into `webhook_deliveries`. Delivery itself happens after the
commit (`infra/webhooks.py`), so an alert is owed to a webhook exactly when it is recorded.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from infra.config import AlertSettings, WebhookConfig
from schemas.alert import LEVELS, Alert, AlertLevel, AlertSource
from schemas.envelope import dump_envelope
from schemas.event import Event
from schemas.item import Item

if TYPE_CHECKING:
    from transforms.cluster import EventIndex

__all__ = [
    "SourceView",
    "build_alerts",
    "clean_title",
    "level_for",
    "record_alerts",
    "routes_to",
    "sources_from_index",
    "sources_from_items",
]

MAX_SOURCES = 10
MAX_TITLE_CHARS = 120
_TIER_ORDER = ("official", "research", "media", "community", "social")


@dataclass(frozen=True)
class SourceView:
    """What an alert needs of one member item, from this batch's items or the stored event index."""

    item_id: str
    event_id: str
    publisher: str
    tier: str  # "official" for an organisation's own voice, whatever its source's tier
    source_tier: str  # the configured source's tier ("social" for every X post)
    url: str | None
    published_at: datetime | None
    title: str
    duplicate: bool


def sources_from_index(index: EventIndex, event_ids: Iterable[str]) -> list[SourceView]:
    """Members of earlier batches, as the processor loaded them before this batch."""
    out = []
    for event_id in event_ids:
        for member_id in index.by_event.get(event_id, ()):
            m = index.members[member_id]
            out.append(SourceView(m.item_id, event_id, m.publisher, m.tier, m.source_tier or m.tier, m.canonical_url,
                                  m.published_at, m.title, m.duplicate_of is not None))
    return out


def sources_from_items(paths: Iterable[Path], event_ids: set[str]) -> list[SourceView]:
    """Members in this batch's items NDJSON files (only those of `event_ids` are parsed in full)."""
    out = []
    for path in paths:
        with path.open("rb") as handle:
            for line in handle:
                if not line.strip():
                    continue
                # A cheap look first: most items of a batch belong to events that raise no alert.
                if json.loads(line).get("event_id") not in event_ids:
                    continue
                item = Item.model_validate_json(line)
                title = item.title.strip() or (item.text[:400].strip().splitlines() or [""])[0][:140]
                out.append(SourceView(
                    item.item_id, item.event_id or "", item.official_for or item.source.publisher,
                    "official" if item.official_for else item.source.tier, item.source.tier,
                    item.url or item.canonical_url, item.published_at, title, item.duplicate_of is not None,
                ))
    return out


def level_for(score: float, settings: AlertSettings) -> AlertLevel | None:
    if score < settings.min_score:
        return None
    return "critical" if score >= settings.critical_threshold else "high"


def _rank(view: SourceView) -> tuple[int, bool, datetime | str]:
    tier = _TIER_ORDER.index(view.tier) if view.tier in _TIER_ORDER else len(_TIER_ORDER)
    return tier, view.duplicate, view.published_at.isoformat() if view.published_at else "~"


_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_RETWEET = re.compile(r"^\s*RT\s+@\w+:?\s*", re.IGNORECASE)
_LEADING_MENTIONS = re.compile(r"^(?:\s*@\w+[,:]?)+\s*")
_TRAILING_TAGS = re.compile(r"(?:\s+#\w+)+\s*$")
_EDGE_PUNCTUATION = " \t-–—|:·,;"


def _tidy(text: str) -> str:
    text = _RETWEET.sub("", text)
    text = _URL.sub(" ", text)
    text = _LEADING_MENTIONS.sub("", text)
    text = _TRAILING_TAGS.sub("", text)
    text = " ".join(text.split()).strip(_EDGE_PUNCTUATION)
    if len(text) > MAX_TITLE_CHARS:
        cut = text[:MAX_TITLE_CHARS].rsplit(" ", 1)[0] or text[:MAX_TITLE_CHARS]
        text = cut.rstrip(_EDGE_PUNCTUATION) + "…"
    return text


def clean_title(title: str, views: Sequence[SourceView], fallback: str) -> str:
    """A headline for people: a real title when the event has one, never a raw post or a bare URL.

    The event's title comes from its highest-tier member, which for a social-only event is the
    first line of a post; a headline of any non-social member is preferred then.
    """
    from_post = any(v.source_tier == "social" and v.title.strip() == title.strip() for v in views)
    candidates = [v.title for v in sorted(views, key=_rank) if v.source_tier != "social" and v.title.strip()]
    ordered = [*candidates, title] if from_post else [title, *candidates]
    for candidate in ordered:
        tidy = _tidy(candidate)
        if len(tidy) >= 8 or (tidy and not from_post):
            return tidy
    # Posts only, all of them links or mentions: say whose they are rather than show them.
    return _tidy(title) or fallback


def _payload_sources(views: Sequence[SourceView]) -> tuple[AlertSource, ...]:
    seen: set[str] = set()
    out = []
    for view in sorted(views, key=_rank):
        key = " ".join(view.publisher.casefold().split())
        if key in seen:
            continue
        seen.add(key)
        tier = view.tier if view.tier in _TIER_ORDER else "community"
        out.append(AlertSource(publisher=view.publisher, tier=tier, url=view.url))  # type: ignore[arg-type]
        if len(out) == MAX_SOURCES:
            break
    return tuple(out)


def build_alerts(
    events: Sequence[Event],
    already: set[str],
    as_of: datetime,
    settings: AlertSettings,
    members_of: Callable[[set[str]], list[SourceView]] = lambda _ids: [],
) -> list[Alert]:
    """The alerts this batch raises: one per event whose level rose past every level it already raised.

    `already` holds the alert ids recorded so far; `members_of` returns the member items of the
    given events (asked once, only for the events that do raise an alert).
    """
    chosen: list[tuple[Event, AlertLevel, str | None]] = []
    for event in events:
        level = level_for(event.signal_score, settings)
        if level is None:
            continue
        sent = [lvl for lvl in LEVELS if f"{event.event_id}:{lvl}" in already]
        # Levels only rise: a score that decays from critical back to high raises nothing new.
        if sent and LEVELS.index(sent[-1]) >= LEVELS.index(level):
            continue
        chosen.append((event, level, f"{event.event_id}:{sent[-1]}" if sent else None))
    if not chosen:
        return []
    views_by_event: dict[str, dict[str, SourceView]] = {}
    for view in members_of({event.event_id for event, _, _ in chosen}):
        # A member of this batch replaces its stored version (an edited item), whichever came first.
        views_by_event.setdefault(view.event_id, {})[view.item_id] = view
    alerts = []
    for event, level, previous in chosen:
        views = sorted(views_by_event.get(event.event_id, {}).values(), key=_rank)
        sources = _payload_sources(views)
        published = [v.published_at for v in views if v.published_at is not None]
        fallback = f"{event.category} news from {sources[0].publisher}" if sources else event.category
        reasons = tuple(c.reason for c in sorted(event.components, key=lambda c: -c.points)[:3])
        alerts.append(Alert(
            alert_id=f"{event.event_id}:{level}", event_id=event.event_id, level=level,
            title=clean_title(event.title, views, fallback), category=event.category,
            signal_score=event.signal_score, verification=event.verification, reasons=reasons,
            url=next((s.url for s in sources if s.url), None), created_at=as_of,
            published_at=min(published) if published else None, sources=sources,
            organisations=event.organisations, previous_alert_id=previous,
        ))
    return alerts


def routes_to(webhook: WebhookConfig, alert: Alert) -> bool:
    """Whether `alert` goes to `webhook`: its level reaches min_level and its category is wanted."""
    if LEVELS.index(alert.level) < LEVELS.index(webhook.min_level):
        return False
    return webhook.categories is None or alert.category in webhook.categories


def record_alerts(con: duckdb.DuckDBPyConnection, alerts: Sequence[Alert], settings: AlertSettings) -> int:
    """Store each alert's JSON and its owed webhook deliveries; returns the deliveries owed.

    Call inside the batch's `Store.write()`, after `commit_batch` inserted the `alerts_sent` rows:
    the alert, its record and its deliveries then commit (or vanish) together with the offsets.
    """
    owed = 0
    for alert in alerts:
        con.execute("UPDATE alerts_sent SET record = ? WHERE alert_id = ?",
                    [dump_envelope(alert).decode(), alert.alert_id])
        for webhook in settings.webhooks:
            if routes_to(webhook, alert):
                con.execute("INSERT OR IGNORE INTO webhook_deliveries (webhook, alert_id) VALUES (?, ?)",
                            [webhook.key, alert.alert_id])
                owed += 1
    return owed
