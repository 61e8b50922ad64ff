"""Alerts: which events raise one, what the payload says, and how it is recorded.

The processor calls `build_alerts` on each batch's scored events, sends the result to
`radar.alerts.v1`, then `record_alerts` inside the batch's DuckDB transaction: the full alert
JSON goes into `alerts_sent` (so `radar alerts list` outlives the embedded broker) and one
'pending' row per routed webhook into `webhook_deliveries`. Delivery itself happens after the
commit (`infra/webhooks.py`), so an alert is owed to a webhook exactly when it is recorded.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import duckdb

from infra.config import AlertSettings, WebhookConfig, organisation_slug
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
    "is_correction",
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
    fresh: bool = False  # from this batch's items (not the stored index): only these can be news
    figures: tuple[tuple[str, float], ...] = ()  # the amounts it states, (unit, value)


def sources_from_index(index: EventIndex, event_ids: Iterable[str]) -> list[SourceView]:
    """Members of earlier batches, as the processor loaded them before this batch."""
    out = []
    for event_id in event_ids:
        for member_id in index.by_event.get(event_id, ()):
            m = index.members[member_id]
            out.append(
                SourceView(
                    m.item_id,
                    event_id,
                    m.publisher,
                    m.tier,
                    m.source_tier or m.tier,
                    m.canonical_url,
                    m.published_at,
                    m.title,
                    m.duplicate_of is not None,
                    False,
                    tuple(getattr(m, "figures", ()) or ()),
                )
            )
    return out


def sources_from_items(records: Iterable[tuple[str | None, bytes]], event_ids: set[str]) -> list[SourceView]:
    """Members among this batch's items: (event id, Item JSON line) pairs, only those of `event_ids`
    parsed in full (most items of a batch belong to events that raise no alert)."""
    out = []
    for event_id, line in records:
        if event_id not in event_ids:
            continue
        item = Item.model_validate_json(line)
        title = item.title.strip() or (item.text[:400].strip().splitlines() or [""])[0][:140]
        out.append(
            SourceView(
                item.item_id,
                item.event_id or "",
                item.official_for or item.source.publisher,
                "official" if item.official_for else item.source.tier,
                item.source.tier,
                item.url or item.canonical_url,
                item.published_at,
                title,
                item.duplicate_of is not None,
                True,
                tuple((a.unit, float(a.value)) for a in item.entities.amounts if a.value > 0),
            )
        )
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


# --------------------------------------------------------------------------- corrections

# Title markers of a correction or an update (matched case-insensitively). The clustering places
# such an item by its content like any other; here they decide whether it re-alerts its event.
_CORRECTION_MARKERS = (
    "correction",
    "corrected",
    "clarification",
    "update:",
    "updated:",
    "(updated)",
    "[updated]",
    "更正",
    "勘误",
    "澄清",
    "更新：",
    "更新:",
    "（更新）",
)
_FIGURE_TOLERANCE = 0.01  # the clustering's amount tolerance: "$122B" and "$122.0 billion" are one fact


def is_correction(title: str) -> bool:
    folded = title.casefold()
    return any(marker in folded for marker in _CORRECTION_MARKERS)


def _known(figure: tuple[str, float], figures: Iterable[tuple[str, float]]) -> bool:
    unit, value = figure
    return any(u == unit and abs(v - value) <= _FIGURE_TOLERANCE * max(abs(v), abs(value)) for u, v in figures)


def _fact_changing_correction(views: Sequence[SourceView]) -> SourceView | None:
    """The first correction of this batch that states a figure no earlier member stated, or None.

    A correction that only re-words (no new amount) is not news to someone already alerted.
    """
    earlier = [f for v in views if not v.fresh for f in v.figures]
    for view in sorted((v for v in views if v.fresh and not v.duplicate), key=_rank):
        if is_correction(view.title) and any(not _known(f, earlier) for f in view.figures):
            return view
    return None


def correction_alert_id(event_id: str, level: AlertLevel, item_id: str) -> str:
    # Stable for the same correcting item: a replayed batch raises the same id, and it is dropped.
    return f"{event_id}:{level}:correction-{hashlib.sha256(item_id.encode()).hexdigest()[:10]}"


def build_alerts(
    events: Sequence[Event],
    already: set[str],
    as_of: datetime,
    settings: AlertSettings,
    members_of: Callable[[set[str]], list[SourceView]] = lambda _ids: [],
) -> list[Alert]:
    """The alerts this batch raises: one per event whose level rose past every level it already raised.

    `already` holds the alert ids recorded so far; `members_of` returns the member items of the
    given events (asked once, only for the events that raise an alert or already raised one).

    Besides a level rise, an event already alerted raises one more alert when a correction in this
    batch changes its facts (states an amount no earlier member stated): same level, `correction`
    set, `previous_alert_id` naming the event's highest alert so far, id `<event>:<level>:correction-<hash>`.
    """
    chosen: list[tuple[Event, AlertLevel, str | None]] = []
    alerted: list[tuple[Event, AlertLevel]] = []  # already alerted, no rise: only a correction is news
    oldest = as_of - timedelta(hours=settings.max_event_age_hours) if settings.max_event_age_hours else None
    for event in events:
        if oldest is not None and event.last_seen < oldest:
            continue  # old news: nothing in it is near-real-time (new coverage moves last_seen)
        level = level_for(event.signal_score, settings)
        sent = [lvl for lvl in LEVELS if f"{event.event_id}:{lvl}" in already]
        # Levels only rise: a score that decays from critical back to high raises nothing new.
        if level is not None and (not sent or LEVELS.index(sent[-1]) < LEVELS.index(level)):
            chosen.append((event, level, f"{event.event_id}:{sent[-1]}" if sent else None))
        elif sent:
            alerted.append((event, sent[-1]))
    if not chosen and not alerted:
        return []
    views_by_event: dict[str, dict[str, SourceView]] = {}
    wanted = {event.event_id for event, _, _ in chosen} | {event.event_id for event, _ in alerted}
    for view in members_of(wanted):
        # A member of this batch replaces its stored version (an edited item), whichever came first.
        views_by_event.setdefault(view.event_id, {})[view.item_id] = view
    alerts = []
    for event, level, previous in chosen:
        views = sorted(views_by_event.get(event.event_id, {}).values(), key=_rank)
        # A rise that a correction brought along says so too (only when the event was alerted before).
        correction = _fact_changing_correction(views) if previous else None
        alerts.append(_alert(event, level, f"{event.event_id}:{level}", previous, views, as_of, correction))
    for event, level in alerted:
        views = sorted(views_by_event.get(event.event_id, {}).values(), key=_rank)
        correction = _fact_changing_correction(views)
        if correction is None:
            continue
        alert_id = correction_alert_id(event.event_id, level, correction.item_id)
        if alert_id not in already:
            alerts.append(_alert(event, level, alert_id, f"{event.event_id}:{level}", views, as_of, correction))
    return alerts


def _alert(
    event: Event,
    level: AlertLevel,
    alert_id: str,
    previous: str | None,
    views: Sequence[SourceView],
    as_of: datetime,
    correction: SourceView | None,
) -> Alert:
    sources = _payload_sources(views)
    published = [v.published_at for v in views if v.published_at is not None]
    fallback = f"{event.category} news from {sources[0].publisher}" if sources else event.category
    reasons = tuple(c.reason for c in sorted(event.components, key=lambda c: -c.points)[:3])
    if correction is not None:
        reasons = (f"correction from {correction.publisher}: {_tidy(correction.title)}", *reasons)
    return Alert(
        alert_id=alert_id,
        event_id=event.event_id,
        level=level,
        title=clean_title(event.title, views, fallback),
        category=event.category,
        signal_score=event.signal_score,
        verification=event.verification,
        reasons=reasons,
        url=next((s.url for s in sources if s.url), None),
        created_at=as_of,
        published_at=min(published) if published else None,
        sources=sources,
        organisations=event.organisations,
        previous_alert_id=previous,
        correction=correction is not None,
    )


def routes_to(webhook: WebhookConfig, alert: Alert) -> bool:
    """Whether `alert` goes to `webhook`: every filter the webhook sets must pass.

    Level (min_level), score (min_score), category, verification, organisation (any named one,
    compared as slugs) and tier (some source of one of these tiers).
    """
    if LEVELS.index(alert.level) < LEVELS.index(webhook.min_level):
        return False
    if webhook.min_score is not None and alert.signal_score < webhook.min_score:
        return False
    if webhook.categories is not None and alert.category not in webhook.categories:
        return False
    if webhook.verification is not None and alert.verification not in webhook.verification:
        return False
    if webhook.organisations is not None and not (
        {organisation_slug(o) for o in alert.organisations} & set(webhook.organisations)
    ):
        return False
    return webhook.tiers is None or any(s.tier in webhook.tiers for s in alert.sources)


def record_alerts(con: duckdb.DuckDBPyConnection, alerts: Sequence[Alert], settings: AlertSettings) -> int:
    """Store each alert's JSON and its owed webhook deliveries; returns the deliveries owed.

    Call inside the batch's `Store.write()`, after `commit_batch` inserted the `alerts_sent` rows:
    the alert, its record and its deliveries then commit (or vanish) together with the offsets.
    An alert raised inside a webhook's quiet hours is owed as 'held' until the window ends, when
    it goes out in that window's one summary (infra/webhooks.py).
    """
    if not alerts:
        return 0
    # Set-wise, two statements whatever the count: a statement per alert cost ~6 ms each inside
    # the batch's commit (a burst of 100 alerts added 0.6 s to the batch).
    con.execute(
        "UPDATE alerts_sent SET record = v.record FROM (SELECT unnest(?) AS id, unnest(?) AS record) v"
        " WHERE alerts_sent.alert_id = v.id",
        [[a.alert_id for a in alerts], [dump_envelope(a).decode() for a in alerts]],
    )
    owed: list[tuple[str, str, str, datetime | None]] = []
    for alert in alerts:
        for webhook in settings.webhooks:
            if routes_to(webhook, alert):
                window = webhook.quiet_window(alert.created_at)
                owed.append(
                    (webhook.key, alert.alert_id, "held" if window else "pending", window[1] if window else None)
                )
    if owed:
        con.execute(
            "INSERT OR IGNORE INTO webhook_deliveries (webhook, alert_id, status, held_until)"
            " SELECT unnest(?), unnest(?), unnest(?), unnest(?::TIMESTAMPTZ[])",
            [list(column) for column in zip(*owed, strict=True)],
        )
    return len(owed)
