"""An event member: the view of an item that links, cross-language rewrites and scoring read."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any

from schemas.item import Item
from transforms.cluster.rules import ClusterRules, cached_slug, default_rules, organisation_slug, product_key


@dataclass(frozen=True, slots=True)
class EventMember:
    """What clustering and scoring need to know about one member of an event.

    Built from an Item in the batch (`member_from_item`) or from a DuckDB row of an earlier
    batch (`load_event_index`), so both stages see earlier members without re-reading text.
    """

    item_id: str
    event_id: str
    published_at: datetime
    kind: str
    tier: str
    publisher: str
    source_name: str
    source_organisation: str | None
    canonical_url: str | None
    linked_urls: tuple[str, ...]
    duplicate_of: str | None
    organisations: frozenset[str]  # slugs
    products: frozenset[str]  # product keys
    product_names: tuple[str, ...]  # as extracted, for reasons
    money: tuple[tuple[str, float], ...]  # (unit, value)
    category: str | None
    title: str
    engagement: int
    native_id: str | None = None  # "x:<post id>"
    references: tuple[str, ...] = ()  # native ids this post retweets or quotes
    category_confidence: float = 0.0
    lang: str = "und"
    source_tier: str = ""  # the source's own tier ("social" for every X post, official accounts included)
    # every positive amount (money, counts, ratios, percentages) as (unit, value), for rewrite checks
    figures: tuple[tuple[str, float], ...] = ()


_MEMBER_FIELDS = tuple(f.name for f in fields(EventMember))
_member_values = attrgetter(*_MEMBER_FIELDS)


def member_with(member: EventMember, **changes: Any) -> EventMember:
    """`dataclasses.replace(member, **changes)` without its per-call look at the fields: ~5 µs
    instead of ~14 (measured), and the clustering does it for nearly every item it places.
    """
    copied = object.__new__(EventMember)
    # The class is frozen: its own attribute protocol refuses these writes.
    put = object.__setattr__
    for name, value in zip(_MEMBER_FIELDS, _member_values(member), strict=True):
        put(copied, name, value)
    for name, value in changes.items():
        if name not in _MEMBER_FIELDS:
            raise TypeError(f"EventMember has no field {name!r}")
        put(copied, name, value)
    return copied


def _title_of(title: str, text: str) -> str:
    stripped = title.strip()
    if stripped:
        return stripped
    # X posts have no title: the first line of the text stands in for one (never split a whole page).
    head = text[:400].strip()
    return head.splitlines()[0][:140] if head else ""


def _figures_of(amounts: Iterable[tuple[str, float]]) -> tuple[tuple[str, float], ...]:
    return tuple(
        sorted(
            {
                (unit, float(value))
                for unit, value in amounts
                if isinstance(value, int | float) and math.isfinite(value) and value > 0
            }
        )
    )


def _money_of(amounts: Iterable[tuple[str, float]], rules: ClusterRules) -> tuple[tuple[str, float], ...]:
    money_units = rules.money_units
    found = {
        (unit, float(value))
        for unit, value in amounts
        if unit in money_units and isinstance(value, int | float) and math.isfinite(value) and value > 0
    }
    return tuple(sorted(found)) if len(found) > 1 else tuple(found)


# Most items name no product (many no organisation): they share one empty set instead of each
# allocating one the garbage collector then keeps scanning.
_NO_NAMES: frozenset[str] = frozenset()


def member_from_fields(
    *,
    item_id: str,
    event_id: str,
    published_at: datetime,
    kind: str,
    tier: str,
    publisher: str,
    source_name: str,
    source_organisation: str | None,
    canonical_url: str | None,
    linked_urls: Iterable[str],
    duplicate_of: str | None,
    organisations: Iterable[str],
    products: Iterable[str],
    amounts: Iterable[tuple[str, float]],
    category: str | None,
    title: str,
    text: str,
    engagement: int,
    rules: ClusterRules,
    native_id: str | None = None,
    references: Iterable[str | None] = (),
    category_confidence: float = 0.0,
    lang: str | None = None,
    source_tier: str | None = None,
) -> EventMember:
    aliases = rules.organisation_aliases
    product_names = tuple(dict.fromkeys(p for p in products if p.strip())) if products else ()
    shown_title = _title_of(title, text)
    slugs = (aliases.get(s, s) for s in map(cached_slug, organisations))
    return EventMember(
        item_id=item_id,
        event_id=event_id,
        published_at=published_at,
        kind=kind,
        tier=tier,
        publisher=publisher,
        source_name=source_name,
        source_organisation=organisation_slug(source_organisation, aliases) if source_organisation else None,
        canonical_url=canonical_url,
        linked_urls=tuple(dict.fromkeys(u for u in linked_urls if u)) if linked_urls else (),
        duplicate_of=duplicate_of,
        organisations=frozenset(s for s in slugs if s) if organisations else _NO_NAMES,
        products=frozenset(k for k in map(product_key, product_names) if k) if product_names else _NO_NAMES,
        product_names=product_names,
        money=_money_of(amounts, rules) if amounts else (),
        category=category,
        title=shown_title,
        engagement=int(engagement or 0),
        native_id=native_id,
        references=tuple(r for r in references if r),
        category_confidence=float(category_confidence or 0.0),
        lang=(lang or "und").split("-")[0].casefold() or "und",
        source_tier=source_tier or tier,
        figures=_figures_of(amounts) if amounts else (),
    )


def item_time(item: Item) -> datetime | None:
    if item.published_at is not None:
        return item.published_at.astimezone(UTC)
    # Normalize should have set published_at; the Kafka timestamp (fetch time) is the fallback.
    if item.coordinates is not None and item.coordinates.timestamp is not None:
        return item.coordinates.timestamp.astimezone(UTC)
    return None


def is_off_topic(item: Item) -> bool:
    """Off-topic items (flagged by classify) belong to no event."""
    return bool(item.off_topic)


@dataclass(frozen=True)
class BuiltMember:
    """The member the clustering built for one item it returned: scoring reuses it, not a rebuild.

    `item` is the very object `cluster_batch` returned: another version of the same id (a page
    richer than its entry) is not what the member was built from.
    """

    item: Item
    member: EventMember
    rules: ClusterRules


def member_from_item(
    item: Item, event_id: str, rules: ClusterRules | None = None, built: BuiltMember | None = None
) -> EventMember:
    """The member summary of an item of this batch (raises ValueError when it has no time at all).

    `built`: what the clustering built for this item id (`ClusteredBatch.built`), used when it was
    built from this very item, for this event, under these rules.
    """
    rules = rules or default_rules(7)
    if built is not None and built.item is item and built.member.event_id == event_id and rules is built.rules:
        return built.member
    return build_member(item, event_id, rules)


def require_time(item: Item) -> datetime:
    """`item_time`, or ValueError when the item has none (it cannot be placed in time)."""
    when = item_time(item)
    if when is None:
        raise ValueError("item has neither published_at nor a Kafka timestamp: it cannot be placed in time")
    return when


def build_member(item: Item, event_id: str, rules: ClusterRules) -> EventMember:
    when = require_time(item)
    return member_from_fields(
        item_id=item.item_id,
        event_id=event_id,
        published_at=when,
        kind=item.kind,
        # An organisation's own X account speaks with the authority of its official blog.
        tier="official" if item.official_for else item.source.tier,
        publisher=item.official_for or item.source.publisher,
        source_name=item.source.name,
        source_organisation=organisation_slug(item.official_for) if item.official_for else item.source.organisation,
        canonical_url=item.canonical_url,
        linked_urls=item.linked_urls,
        duplicate_of=item.duplicate_of,
        organisations=item.entities.organisations,
        products=item.entities.products,
        amounts=tuple((a.unit, a.value) for a in item.entities.amounts),
        category=item.category,
        title=item.title,
        text=item.text,
        engagement=item.engagement,
        rules=rules,
        native_id=item.native_id,
        references=(item.retweet_of, item.quote_of),
        category_confidence=item.category_confidence,
        lang=item.lang,
        source_tier=item.source.tier,
    )
