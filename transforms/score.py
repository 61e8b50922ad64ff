"""Stage 6, score: one Event per event touched by this batch, its signal and its verification.

signal_score (0..100) is the sum of named components stored beside it, each with a reason a
reader understands: authority, official, corroboration, engagement, novelty, magnitude,
recency. Weights live in transforms/data/scoring.toml. Members of earlier batches come from
the EventIndex side input, so an event is always scored on all its members.

Verification: "verified-by-official" when an official source of an organisation concerned is
a member (or a primary source such as the paper itself); "corroborated" with at least two
independent non-social publishers; otherwise "unverified" — however viral a social rumour is.

Recency is relative to the batch's `as_of`, a parameter: the function never reads the clock.
"""

from __future__ import annotations

import logging
import math
import tomllib
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, cached_property, lru_cache
from importlib import resources
from itertools import chain
from operator import attrgetter
from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam import pvalue

from schemas.common import CATEGORIES
from schemas.dead_letter import DeadLetter
from schemas.event import SCORE_COMPONENTS, Event, ScoreComponent
from schemas.item import Item
from transforms.cluster import (
    BuiltMember,
    EventIndex,
    EventMember,
    as_event_index_side_input,
    member_from_item,
    richness,
)

__all__ = [
    "ScoreEvents",
    "ScoringRules",
    "event_members",
    "score_batch",
    "load_scoring_rules",
    "score_event",
    "verification_of",
]

log = logging.getLogger(__name__)

_DATA = "data/scoring.toml"
_TIER_ORDER = ("official", "research", "media", "community", "social")


class _TierRanks(dict[str, int]):
    """tier -> rank, the best first; a tier the order does not name ranks after all of them."""

    def __missing__(self, tier: str) -> int:
        return len(_TIER_ORDER)


_TIER_RANK = _TierRanks({tier: rank for rank, tier in enumerate(_TIER_ORDER)})
_CATEGORY_RANK = {category: rank for rank, category in enumerate(CATEGORIES)}


# --------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class _Weights:
    """The rules as scoring reads them, converted once per ScoringRules instead of once per event."""

    max_points: Mapping[str, float]
    authority_tiers: Mapping[str, float]
    points_per_extra_publisher: float
    count_translations: bool
    log_saturation: float  # log10(1 + engagement.saturation)
    repeat_points: float
    usd_per_unit: Mapping[str, float]
    log_floor_usd: float
    log_usd_span: float  # log10(ceiling_usd) - log10(floor_usd)
    half_life_hours: float
    official_tiers: frozenset[str]
    primary_source_tiers: frozenset[str]
    non_corroborating_tiers: frozenset[str]
    corroborated_min_publishers: int
    amplification_is_confirmation: bool
    amplification_share: float
    category_fallback: Any  # None: no fallback, the event is dead-lettered
    category_tier_weights: Mapping[str, float]
    secondary_min_share: float


@dataclass(frozen=True)
class ScoringRules:
    """The weights of transforms/data/scoring.toml, validated."""

    raw: Mapping[str, Any]

    def __post_init__(self) -> None:
        raw = self.raw
        missing = [name for name in SCORE_COMPONENTS if name not in raw]
        if missing:
            raise ValueError(f"scoring rules lack components: {', '.join(missing)}")
        total = sum(float(raw[name]["max_points"]) for name in SCORE_COMPONENTS)
        if total > 100 + 1e-9:
            raise ValueError(f"component maxima add up to {total:g}, more than 100")
        for name in SCORE_COMPONENTS:
            if float(raw[name]["max_points"]) < 0:
                raise ValueError(f"{name}.max_points must be >= 0")
        tiers = raw["authority"]["tiers"]
        if set(tiers) != set(_TIER_ORDER):
            raise ValueError(f"authority.tiers must name exactly {', '.join(_TIER_ORDER)}")
        if any(float(p) > float(raw["authority"]["max_points"]) for p in tiers.values()):
            raise ValueError("an authority tier exceeds authority.max_points")
        if float(raw["engagement"]["saturation"]) <= 0:
            raise ValueError("engagement.saturation must be > 0")
        if not 0 < float(raw["magnitude"]["floor_usd"]) < float(raw["magnitude"]["ceiling_usd"]):
            raise ValueError("magnitude needs 0 < floor_usd < ceiling_usd")
        if float(raw["recency"]["half_life_hours"]) <= 0:
            raise ValueError("recency.half_life_hours must be > 0")
        if float(raw["novelty"]["repeat_points"]) > float(raw["novelty"]["max_points"]):
            raise ValueError("novelty.repeat_points exceeds novelty.max_points")
        if int(raw["verification"]["corroborated_min_publishers"]) < 1:
            raise ValueError("verification.corroborated_min_publishers must be >= 1")

    def max_points(self, name: str) -> float:
        return float(self.raw[name]["max_points"])

    def section(self, name: str) -> Mapping[str, Any]:
        return self.raw[name]

    @cached_property
    def _weights(self) -> _Weights:
        # cached_property writes the instance __dict__ directly, which a frozen dataclass allows.
        raw = self.raw
        verification = raw["verification"]
        magnitude = raw["magnitude"]
        log_floor = math.log10(float(magnitude["floor_usd"]))
        return _Weights(
            max_points={name: self.max_points(name) for name in SCORE_COMPONENTS},
            authority_tiers={tier: float(p) for tier, p in raw["authority"]["tiers"].items()},
            points_per_extra_publisher=float(raw["corroboration"]["points_per_extra_publisher"]),
            count_translations=bool(raw["corroboration"].get("count_translations", False)),
            log_saturation=math.log10(1 + float(raw["engagement"]["saturation"])),
            repeat_points=float(raw["novelty"]["repeat_points"]),
            usd_per_unit={unit: float(rate) for unit, rate in magnitude["usd_per_unit"].items()},
            log_floor_usd=log_floor,
            log_usd_span=math.log10(float(magnitude["ceiling_usd"])) - log_floor,
            half_life_hours=float(raw["recency"]["half_life_hours"]),
            official_tiers=frozenset(verification["official_tiers"]),
            primary_source_tiers=frozenset(verification["primary_source_tiers"]),
            non_corroborating_tiers=frozenset(verification["non_corroborating_tiers"]),
            corroborated_min_publishers=int(verification["corroborated_min_publishers"]),
            amplification_is_confirmation=bool(verification.get("amplification_is_confirmation", True)),
            amplification_share=float(verification.get("amplification_share", 0.5)),
            category_fallback=raw["category"].get("fallback"),
            category_tier_weights={tier: float(w) for tier, w in raw["category"]["tier_weights"].items()},
            secondary_min_share=float(raw["category"]["secondary_min_share"]),
        )


def load_scoring_rules(path: str | Path | None = None) -> ScoringRules:
    """Read and validate the scoring weights (the packaged data file unless `path` is given)."""
    if path is None:
        text = resources.files("transforms").joinpath(_DATA).read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    return ScoringRules(tomllib.loads(text))


@cache
def default_scoring_rules() -> ScoringRules:
    """The packaged weights, read and validated once per process."""
    return load_scoring_rules()


# ------------------------------------------------------------------ pure functions
#
# Every helper takes the members in (published_at, item_id) order, so "the earliest" of any
# subset is its first member and no helper sorts again.

_time_order = attrgetter("published_at", "item_id")


_tier_of = attrgetter("tier")
_organisations_of = attrgetter("organisations")


def _tier_ranks(ordered: Sequence[EventMember]) -> list[int]:
    # map() keeps the per-member work in C: an event is scored on all its members every time a
    # batch touches it, and a big story has thousands.
    return list(map(_TIER_RANK.__getitem__, map(_tier_of, ordered)))


@lru_cache(maxsize=4096)
def _publisher_key(publisher: str) -> str:
    return " ".join(publisher.casefold().split())


def _is_translation(member: EventMember, by_id: Mapping[str, EventMember]) -> bool:
    """A duplicate in another language by another publisher: a rewrite, not a repost."""
    original = by_id.get(member.duplicate_of or "")
    return (
        original is not None
        and member.lang != "und"
        and original.lang not in ("und", member.lang)
        and _publisher_key(original.publisher) != _publisher_key(member.publisher)
    )


def _independent_publishers(ordered: Sequence[EventMember], weights: _Weights) -> list[EventMember]:
    """One member per distinct publisher among non-social members (earliest kept).

    Duplicates do not count (a re-syndication is not a second source), except, with
    `corroboration.count_translations`, a rewrite in another language by another publisher:
    a Chinese outlet compiling an English announcement is a further publisher carrying it.
    """
    excluded = weights.non_corroborating_tiers
    by_id: dict[str, EventMember] | None = None
    chosen: dict[str, EventMember] = {}
    counted: set[str] = set()  # publishers as spelled that already chose (the earliest stays)
    for member in ordered:
        if member.tier in excluded or member.publisher in counted:
            continue
        if member.duplicate_of is not None:
            if not weights.count_translations:
                continue
            if by_id is None:
                by_id = {m.item_id: m for m in ordered}
            if not _is_translation(member, by_id):
                continue
        chosen.setdefault(_publisher_key(member.publisher), member)
        counted.add(member.publisher)
    return list(chosen.values())


def _event_organisations(ordered: Sequence[EventMember]) -> list[str]:
    """The organisations concerned, the most mentioned first."""
    if len(ordered) == 1:
        return sorted(ordered[0].organisations)
    counts = Counter(chain.from_iterable(map(_organisations_of, ordered)))
    return sorted(counts, key=lambda o: (-counts[o], o))


def _amplifies_others(member: EventMember, by_native_id: Mapping[str, EventMember]) -> bool:
    """An official post that quotes or retweets a post of someone else (not its own organisation)."""
    for ref in member.references:
        quoted = by_native_id.get(ref)
        if quoted is not None and quoted.source_organisation != member.source_organisation:
            return True
    return False


def _official_members(
    ordered: Sequence[EventMember], organisations: Iterable[str], weights: _Weights
) -> tuple[EventMember | None, EventMember | None]:
    """The first (confirmation, amplification) by official channels of the organisations concerned.

    A confirmation is the organisation's own word (its blog, its account's own post). With
    `verification.amplification_is_confirmation = false`, an official account quoting or
    retweeting a third party's post (a community project, an analyst) is an amplification: the
    organisation vouches for it publicly, which corroborates it, but it did not announce it.
    "First" prefers originals to duplicates, then the earliest.
    """
    tiers = weights.official_tiers
    concerned: set[str] | None = None
    by_native_id: dict[str, EventMember] | None = None
    confirmation: EventMember | None = None
    amplification: EventMember | None = None
    for m in ordered:
        if not (m.tier in tiers and m.source_organisation):
            continue
        if concerned is None:
            concerned = set(organisations)
        if m.source_organisation not in concerned:
            continue
        amplifies = False
        if not weights.amplification_is_confirmation and m.references:
            if by_native_id is None:
                by_native_id = {o.native_id: o for o in ordered if o.native_id}
            amplifies = _amplifies_others(m, by_native_id)
        if amplifies:
            if amplification is None or (amplification.duplicate_of is not None and m.duplicate_of is None):
                amplification = m
        elif confirmation is None or (confirmation.duplicate_of is not None and m.duplicate_of is None):
            confirmation = m
    return confirmation, amplification


def _primary_source(ordered: Sequence[EventMember], weights: _Weights) -> EventMember | None:
    tiers = weights.primary_source_tiers
    return next((m for m in ordered if m.tier in tiers), None)


def _verification(
    confirmation: EventMember | None,
    amplification: EventMember | None,
    primary: EventMember | None,
    publishers: int,
    weights: _Weights,
) -> str:
    if confirmation is not None or primary is not None:
        return "verified-by-official"
    if amplification is not None or publishers >= weights.corroborated_min_publishers:
        return "corroborated"
    return "unverified"


def verification_of(members: Sequence[EventMember], rules: ScoringRules | None = None) -> str:
    """verified-by-official | corroborated | unverified, by the rules in scoring.toml."""
    weights = (rules or default_scoring_rules())._weights
    ordered = sorted(members, key=_time_order)
    confirmation, amplification = _official_members(ordered, _event_organisations(ordered), weights)
    primary = _primary_source(ordered, weights)
    publishers = len(_independent_publishers(ordered, weights))
    return _verification(confirmation, amplification, primary, publishers, weights)


def _days_spanned(ordered: Sequence[EventMember]) -> int:
    return max(1, math.ceil((ordered[-1].published_at - ordered[0].published_at).total_seconds() / 86400))


def _fmt_usd(value: float) -> str:
    for size, suffix in ((1e12, " trillion"), (1e9, " billion"), (1e6, " million"), (1e3, " thousand")):
        if value >= size:
            return f"${value / size:,.3g}{suffix}"
    return f"${value:,.0f}"


def _fmt_count(value: int) -> str:
    return f"{value:,}"


def _component(name: str, points: float, reason: str, weights: _Weights) -> ScoreComponent:
    return _score_component(name, round(min(max(points, 0.0), weights.max_points[name]), 2), reason)


@lru_cache(maxsize=4096)
def _score_component(name: str, points: float, reason: str) -> ScoreComponent:
    # Most components recur across events ("no money amount", "best source is media (AI Wire)"), and a
    # ScoreComponent is immutable: validate each distinct one once and share it.
    return ScoreComponent(name=name, points=points, reason=reason)


def _authority(ordered: Sequence[EventMember], ranks: list[int], weights: _Weights) -> ScoreComponent:
    best = ordered[ranks.index(min(ranks))]  # the earliest of the best tier
    points = weights.authority_tiers.get(best.tier, 0.0)
    return _component("authority", points, f"best source is {best.tier} ({best.publisher})", weights)


def _official(
    confirmation: EventMember | None,
    amplification: EventMember | None,
    primary: EventMember | None,
    organisations: Sequence[str],
    weights: _Weights,
) -> ScoreComponent:
    max_points = weights.max_points["official"]
    if confirmation is not None:
        return _component(
            "official",
            max_points,
            f"confirmed by {confirmation.publisher}'s own channel ({confirmation.source_name})",
            weights,
        )
    if primary is not None:
        # The paper itself is the primary record; half weight, as no organisation vouches for it.
        return _component("official", max_points / 2, f"primary source present ({primary.publisher})", weights)
    if amplification is not None:
        return _component(
            "official",
            max_points * weights.amplification_share,
            f"amplified by {amplification.publisher}'s own channel ({amplification.source_name}), not announced by it",
            weights,
        )
    concerned = ", ".join(organisations[:3]) or "the organisations concerned"
    return _component("official", 0.0, f"no official statement from {concerned}", weights)


def _corroboration(independent: Sequence[EventMember], weights: _Weights) -> ScoreComponent:
    count = len(independent)
    points = weights.points_per_extra_publisher * max(0, count - 1)
    if count == 0:
        reason = "no independent non-social publisher"
    elif count == 1:
        reason = f"only one publisher ({independent[0].publisher})"
    else:
        days = _days_spanned(independent)
        reason = f"{count} independent publishers in {days} day{'s' if days != 1 else ''}"
    return _component("corroboration", points, reason, weights)


def _engagement(ordered: Sequence[EventMember], weights: _Weights) -> ScoreComponent:
    # By the source's tier: an organisation's own X account is official for verification, yet its
    # posts are still social posts whose audience reaction counts as engagement.
    posts = [m for m in ordered if (m.source_tier or m.tier) == "social" and m.duplicate_of is None]
    if not posts:
        return _component("engagement", 0.0, "no social posts", weights)
    total = sum(m.engagement for m in posts)
    share = math.log10(1 + total) / weights.log_saturation
    points = weights.max_points["engagement"] * min(1.0, share)
    plural = "s" if len(posts) != 1 else ""
    return _component(
        "engagement", points, f"{_fmt_count(total)} engagements on {len(posts)} social post{plural}", weights
    )


def _novelty(earlier_events: Sequence[str], ordered: Sequence[EventMember], weights: _Weights) -> ScoreComponent:
    if earlier_events:
        products = list(dict.fromkeys(name for m in ordered for name in m.product_names))
        about = ", ".join(products[:2]) or "the same products"
        return _component(
            "novelty",
            weights.repeat_points,
            f"repeat: follows {len(earlier_events)} earlier event(s) about {about} ({earlier_events[0]})",
            weights,
        )
    return _component("novelty", weights.max_points["novelty"], "new: no earlier event in the window", weights)


def _magnitude(ordered: Sequence[EventMember], weights: _Weights) -> ScoreComponent:
    rates = weights.usd_per_unit
    largest = 0.0
    for member in ordered:
        for unit, value in member.money:
            if unit in rates:
                largest = max(largest, value * rates[unit])
    if largest <= 0:
        return _component("magnitude", 0.0, "no money amount", weights)
    share = (math.log10(largest) - weights.log_floor_usd) / weights.log_usd_span
    points = weights.max_points["magnitude"] * min(1.0, max(0.0, share))
    return _component("magnitude", points, f"largest amount {_fmt_usd(largest)}", weights)


@lru_cache(maxsize=16)
def _as_of_text(as_of: datetime) -> str:
    # One as_of per batch: format it once, not once per event.
    return f"{as_of:%Y-%m-%d %H:%M}"


def _recency(first_seen: datetime, as_of: datetime, weights: _Weights) -> ScoreComponent:
    age_hours = max(0.0, (as_of - first_seen).total_seconds() / 3600)
    points = weights.max_points["recency"] * 0.5 ** (age_hours / weights.half_life_hours)
    if age_hours < 1:
        age = "under an hour"
    elif age_hours < 48:
        age = f"{age_hours:.0f} h"
    else:
        age = f"{age_hours / 24:.1f} days"
    return _component("recency", points, f"first seen {age} before {_as_of_text(as_of)} UTC", weights)


def _category(ordered: Sequence[EventMember], weights: _Weights) -> tuple[str, tuple[str, ...]]:
    # One publisher, one vote: a feed entry and the page it links to, or a thread of posts,
    # share their publisher's weight instead of multiplying it.
    # On a social platform the "publisher" is the platform, not the author: each post votes.
    # The vote weighs the text's evidence, so a post votes as a social post even from an
    # organisation's own account (its 280 characters are not its official blog post).
    voters = [m for m in ordered if m.category is not None]
    if not voters:
        # An on-topic item no category term matched is still news: file it under the
        # configured fallback rather than losing the event to the dead-letter queue.
        fallback = weights.category_fallback
        if fallback is None:
            raise ValueError("no member has a category and [category].fallback is not set")
        return str(fallback), ()
    first = voters[0].category
    if all(m.category == first for m in voters):
        return first, ()  # a single candidate wins whatever the votes
    ballots: list[tuple[EventMember, str, tuple[str, str]]] = []
    per_publisher: dict[tuple[str, str], int] = {}
    for m in voters:
        tier = m.source_tier or m.tier
        voice = (m.item_id, tier) if tier == "social" else (m.publisher, tier)
        per_publisher[voice] = per_publisher.get(voice, 0) + 1
        ballots.append((m, tier, voice))
    tier_weights = weights.category_tier_weights
    votes: dict[str, float] = {}
    confidence: dict[str, float] = {}
    for m, tier, voice in ballots:
        votes[m.category] = votes.get(m.category, 0.0) + tier_weights.get(tier, 1.0) / per_publisher[voice]
        confidence[m.category] = confidence.get(m.category, 0.0) + m.category_confidence
    # Equal votes go to the more confident category, then to the order of CATEGORIES (deterministic).
    ranked = sorted(
        votes,
        key=lambda c: (-votes[c], -confidence[c], _CATEGORY_RANK.get(c, 99), c),
    )
    top = votes[ranked[0]]
    share = weights.secondary_min_share
    return ranked[0], tuple(c for c in ranked[1:] if votes[c] >= share * top)


def _title(ordered: Sequence[EventMember], ranks: list[int]) -> str:
    # The highest-tier member's own title, originals before duplicates, earliest first.
    untitled = 2 * len(_TIER_ORDER) + 2
    keys = [
        2 * rank + (m.duplicate_of is not None) if m.title else untitled for m, rank in zip(ordered, ranks, strict=True)
    ]
    best = min(keys)
    return "(untitled)" if best == untitled else ordered[keys.index(best)].title


def score_event(
    event_id: str,
    members: Sequence[EventMember],
    *,
    as_of: datetime,
    earlier_events: Sequence[str] = (),
    rules: ScoringRules | None = None,
) -> Event:
    """The Event of these members (all of them, earlier batches included), scored as of `as_of`.

    `earlier_events` are other events that already covered this event's products before it
    was first seen (a repeat scores lower on novelty). Raises ValueError on unusable input.
    """
    weights = (rules or default_scoring_rules())._weights
    if not members:
        raise ValueError("an event needs at least one member")
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    as_of = as_of.astimezone(UTC)
    ordered = sorted(members, key=_time_order)
    ranks = _tier_ranks(ordered)
    category, secondary = _category(ordered, weights)
    organisations = _event_organisations(ordered)
    confirmation, amplification = _official_members(ordered, organisations, weights)
    primary = _primary_source(ordered, weights) if confirmation is None else None
    independent = _independent_publishers(ordered, weights)
    components = (
        _authority(ordered, ranks, weights),
        _official(confirmation, amplification, primary, organisations, weights),
        _corroboration(independent, weights),
        _engagement(ordered, weights),
        _novelty(earlier_events, ordered, weights),
        _magnitude(ordered, weights),
        _recency(ordered[0].published_at, as_of, weights),
    )
    total = round(min(100.0, sum(c.points for c in components)), 2)
    return Event(
        event_id=event_id,
        title=_title(ordered, ranks),
        category=category,
        secondary=secondary,
        organisations=tuple(organisations),
        first_seen=ordered[0].published_at,
        last_seen=ordered[-1].published_at,
        items=len(ordered),
        publishers=len(independent),
        signal_score=total,
        components=components,
        verification=_verification(confirmation, amplification, primary, len(independent), weights),
    )


def event_members(
    event_id: str,
    batch_items: Iterable[Item],
    index: EventIndex | None,
    built: Mapping[str, BuiltMember] | None = None,
) -> list[EventMember]:
    """Earlier members from the index plus this batch's items; a re-delivered item counts once.

    `built`: the members the clustering built for this batch's items (`ClusteredBatch.built`).
    """
    rules = index.rules if index is not None else None
    members: dict[str, EventMember] = {}
    if index is not None:
        for member in index.event_members(event_id):
            members[member.item_id] = member
    # One item may arrive in several versions (a feed summary and its page): keep the richest, so
    # the result does not depend on arrival order.
    best: dict[str, Item] = {}
    for item in batch_items:
        known = best.get(item.item_id)
        if known is None or richness(item) > richness(known):
            best[item.item_id] = item
    for item_id, item in best.items():
        members[item_id] = member_from_item(item, event_id, rules, built.get(item_id) if built else None)
    return list(members.values())


# ------------------------------------------------------------------------ the stage


def _member_pairs(element: Any) -> Iterator[tuple[str, Item]]:
    # Accept clustered Items or (event_id, items) pairs: both shapes lead to one group per event.
    if isinstance(element, Item):
        if element.event_id is not None:
            yield element.event_id, element
        return
    event_id, items = element
    for item in items:
        yield event_id, item


def _event_product_firsts(
    keyed: tuple[str, Iterable[Item]], event_index: EventIndex
) -> Iterator[tuple[str, tuple[datetime, str]]]:
    event_id, items = keyed
    try:
        members = event_members(event_id, items, event_index)
    except ValueError:
        return  # the scoring step dead-letters it
    yield from product_firsts(event_id, members)


def product_firsts(event_id: str, members: Sequence[EventMember]) -> Iterator[tuple[str, tuple[datetime, str]]]:
    """(product, (first_seen, event_id)) for each product an event's members name."""
    first_seen = min(m.published_at for m in members)
    for product in {p for m in members for p in m.products}:
        yield product, (first_seen, event_id)


class _EarliestTwo(beam.CombineFn):
    """The two earliest (first_seen, event_id) per product: enough to tell 'another event came first'."""

    def create_accumulator(self) -> list[tuple[datetime, str]]:
        return []

    def add_input(self, acc: list[tuple[datetime, str]], value: tuple[datetime, str]) -> list[tuple[datetime, str]]:
        return sorted({*acc, value})[:2]

    def merge_accumulators(self, accs: Iterable[list[tuple[datetime, str]]]) -> list[tuple[datetime, str]]:
        return sorted({v for acc in accs for v in acc})[:2]

    def extract_output(self, acc: list[tuple[datetime, str]]) -> list[tuple[datetime, str]]:
        return acc


def _earlier_events(
    event_id: str,
    members: Sequence[EventMember],
    batch_firsts: Mapping[str, Sequence[tuple[datetime, str]]],
    index: EventIndex | None,
) -> list[str]:
    first_seen = min(m.published_at for m in members)
    products = {p for m in members for p in m.products}
    found: dict[str, datetime] = {}
    for product in products:
        for seen, other in batch_firsts.get(product, ()):
            if other != event_id and seen < first_seen:
                found[other] = min(seen, found.get(other, seen))
    if index is not None:
        for other in index.earlier_events_with_products(products, first_seen, event_id):
            found.setdefault(other, index.first_seen[other])
    return sorted(found, key=lambda e: (found[e], e))


class _ScoreEventFn(beam.DoFn):
    def __init__(self, as_of: datetime, rules: ScoringRules) -> None:
        self._as_of = as_of
        self._rules = rules

    def process(
        self,
        keyed: tuple[str, Iterable[Item]],
        event_index: EventIndex,
        batch_firsts: Mapping[str, Sequence[tuple[datetime, str]]],
    ) -> Iterator[Any]:
        event_id, items = keyed
        items = sorted(items, key=lambda it: it.item_id)
        try:
            members = event_members(event_id, items, event_index)
            earlier = _earlier_events(event_id, members, batch_firsts, event_index)
            yield score_event(event_id, members, as_of=self._as_of, earlier_events=earlier, rules=self._rules)
        except ValueError as exc:
            yield pvalue.TaggedOutput("dead_letter", _dead_letter(event_id, items, str(exc), exc, self._as_of))


def _dead_letter(
    event_id: str, items: Sequence[Item], reason: str, error: BaseException, as_of: datetime
) -> DeadLetter:
    first = items[0] if items else None
    original = ("[" + ",".join(it.model_dump_json(by_alias=True) for it in items) + "]").encode()
    return DeadLetter.of(
        stage="score",
        reason=f"event {event_id}: {reason}",
        original=original,
        source_name=first.source.name if first else None,
        url=(first.canonical_url or first.url) if first else None,
        coordinates=first.coordinates if first else None,
        error=error,
        occurred_at=as_of,
    )


def _batch_dead_letter(event_id: str, items: Sequence[Item], exc: ValueError, as_of: datetime) -> DeadLetter:
    return _dead_letter(event_id, sorted(items, key=lambda it: it.item_id), str(exc), exc, as_of)


def score_batch(
    items: Sequence[Item],
    event_index: EventIndex,
    as_of: datetime,
    rules: ScoringRules,
    built: Mapping[str, BuiltMember] | None = None,
) -> tuple[list[Event], list[DeadLetter]]:
    """One scored Event per event of a batch's clustered items, and the dead letters of those that
    could not be scored: what `ScoreEvents` does, as one function over the whole batch.

    `built`: the members `cluster_batch` built for these items (`ClusteredBatch.built`), reused.
    """
    by_event: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        if item.event_id is not None:
            by_event[item.event_id].append(item)
    # Each event's members are built once; product firsts and the score both read them.
    members_of: dict[str, list[Any]] = {}
    failed: dict[str, DeadLetter] = {}
    for event_id, members_items in by_event.items():
        try:
            members_of[event_id] = event_members(
                event_id, sorted(members_items, key=lambda it: it.item_id), event_index, built
            )
        except ValueError as exc:
            failed[event_id] = _batch_dead_letter(event_id, members_items, exc, as_of)
    # Earliest two (first_seen, event_id) per product over the batch's events (ScoreEvents' batch_firsts).
    firsts: dict[str, list[tuple[datetime, str]]] = {}
    for event_id, members in members_of.items():
        for product, value in product_firsts(event_id, members):
            known = firsts.get(product)
            firsts[product] = [value] if known is None else sorted({*known, value})[:2]
    events: list[Event] = []
    for event_id, members in members_of.items():
        try:
            earlier = _earlier_events(event_id, members, firsts, event_index)
            events.append(score_event(event_id, members, as_of=as_of, earlier_events=earlier, rules=rules))
        except ValueError as exc:
            failed[event_id] = _batch_dead_letter(event_id, by_event[event_id], exc, as_of)
    # Dead letters in event order, whichever step failed.
    dead = [failed[event_id] for event_id in by_event if event_id in failed]
    return events, dead


class ScoreEvents(beam.PTransform):
    """Clustered Items (or (event_id, items) pairs) -> one scored Event per event of the batch.

    Outputs `good` (Event) and `dead_letter` (DeadLetter, stage "score"). `as_of` is the
    batch's reference time for recency: pass it in, so a replay scores the same.
    """

    def __init__(
        self,
        event_index: Any = None,
        *,
        as_of: datetime,
        rules: ScoringRules | None = None,
        label: str | None = None,
    ) -> None:
        super().__init__(label)
        if not isinstance(as_of, datetime) or as_of.tzinfo is None:
            raise ValueError("as_of must be a timezone-aware datetime")
        if not (event_index is None or isinstance(event_index, EventIndex | pvalue.AsSideInput | pvalue.PCollection)):
            raise ValueError(f"event_index must be an EventIndex, a PCollection or a side input, not {event_index!r}")
        self._event_index = event_index
        self._as_of = as_of.astimezone(UTC)
        self._rules = rules or default_scoring_rules()

    def expand(self, pcoll: beam.PCollection) -> pvalue.DoOutputsTuple:
        index = as_event_index_side_input(self._event_index, pcoll.pipeline, "EmptyEventIndex")
        grouped = pcoll | "KeyByEvent" >> beam.FlatMap(_member_pairs) | "GroupByEvent" >> beam.GroupByKey()
        batch_firsts = pvalue.AsDict(
            grouped
            | "ProductFirstSeen" >> beam.FlatMap(_event_product_firsts, index)
            | "EarliestPerProduct" >> beam.CombinePerKey(_EarliestTwo())
        )
        return grouped | "ScoreEvent" >> beam.ParDo(
            _ScoreEventFn(self._as_of, self._rules), index, batch_firsts
        ).with_outputs("dead_letter", main="good")
