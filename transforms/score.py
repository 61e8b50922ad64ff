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
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam import pvalue

from infra.dlq import make_dead_letter
from schemas.common import CATEGORIES
from schemas.dead_letter import DeadLetter
from schemas.event import SCORE_COMPONENTS, Event, ScoreComponent
from schemas.item import Item
from transforms.cluster import (
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
    "load_scoring_rules",
    "score_event",
    "verification_of",
]

log = logging.getLogger(__name__)

_DATA = "data/scoring.toml"
_TIER_ORDER = ("official", "research", "media", "community", "social")


# --------------------------------------------------------------------------- rules


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


def load_scoring_rules(path: str | Path | None = None) -> ScoringRules:
    """Read and validate the scoring weights (the packaged data file unless `path` is given)."""
    if path is None:
        text = resources.files("transforms").joinpath(_DATA).read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    return ScoringRules(tomllib.loads(text))


@cache
def _default_rules() -> ScoringRules:
    return load_scoring_rules()


# ------------------------------------------------------------------ pure functions


def _tier_rank(tier: str) -> int:
    return _TIER_ORDER.index(tier) if tier in _TIER_ORDER else len(_TIER_ORDER)


def _publisher_key(member: EventMember) -> str:
    return " ".join(member.publisher.casefold().split())


def _is_translation(member: EventMember, by_id: Mapping[str, EventMember]) -> bool:
    """A duplicate in another language by another publisher: a rewrite, not a repost."""
    original = by_id.get(member.duplicate_of or "")
    return (
        original is not None
        and member.lang != "und"
        and original.lang not in ("und", member.lang)
        and _publisher_key(original) != _publisher_key(member)
    )


def _independent_publishers(members: Sequence[EventMember], rules: ScoringRules) -> list[EventMember]:
    """One member per distinct publisher among non-social members (earliest kept).

    Duplicates do not count (a re-syndication is not a second source), except, with
    `corroboration.count_translations`, a rewrite in another language by another publisher:
    a Chinese outlet compiling an English announcement is a further publisher carrying it.
    """
    excluded = set(rules.section("verification")["non_corroborating_tiers"])
    translations = bool(rules.section("corroboration").get("count_translations", False))
    by_id = {m.item_id: m for m in members}
    chosen: dict[str, EventMember] = {}
    for member in sorted(members, key=lambda m: (m.published_at, m.item_id)):
        if member.tier in excluded:
            continue
        if member.duplicate_of is not None and not (translations and _is_translation(member, by_id)):
            continue
        chosen.setdefault(_publisher_key(member), member)
    return list(chosen.values())


def _event_organisations(members: Sequence[EventMember]) -> list[str]:
    counts = Counter(org for m in members for org in m.organisations)
    return sorted(counts, key=lambda o: (-counts[o], o))


def _amplifies_others(member: EventMember, by_native_id: Mapping[str, EventMember]) -> bool:
    """An official post that quotes or retweets a post of someone else (not its own organisation)."""
    for ref in member.references:
        quoted = by_native_id.get(ref)
        if quoted is not None and quoted.source_organisation != member.source_organisation:
            return True
    return False


def _official_members(
    members: Sequence[EventMember], organisations: Iterable[str], rules: ScoringRules
) -> tuple[list[EventMember], list[EventMember]]:
    """(confirmations, amplifications) by official channels of the organisations concerned.

    A confirmation is the organisation's own word (its blog, its account's own post). With
    `verification.amplification_is_confirmation = false`, an official account quoting or
    retweeting a third party's post (a community project, an analyst) is an amplification: the
    organisation vouches for it publicly, which corroborates it, but it did not announce it.
    """
    section = rules.section("verification")
    tiers = set(section["official_tiers"])
    concerned = set(organisations)
    amplification_confirms = bool(section.get("amplification_is_confirmation", True))
    by_native_id = {m.native_id: m for m in members if m.native_id}
    confirmations: list[EventMember] = []
    amplifications: list[EventMember] = []
    for m in members:
        if not (m.tier in tiers and m.source_organisation and m.source_organisation in concerned):
            continue
        if not amplification_confirms and _amplifies_others(m, by_native_id):
            amplifications.append(m)
        else:
            confirmations.append(m)

    def order(m: EventMember) -> tuple[bool, datetime, str]:
        return (m.duplicate_of is not None, m.published_at, m.item_id)

    return sorted(confirmations, key=order), sorted(amplifications, key=order)


def _official_confirmations(
    members: Sequence[EventMember], organisations: Iterable[str], rules: ScoringRules
) -> list[EventMember]:
    return _official_members(members, organisations, rules)[0]


def _primary_sources(members: Sequence[EventMember], rules: ScoringRules) -> list[EventMember]:
    tiers = set(rules.section("verification")["primary_source_tiers"])
    return sorted((m for m in members if m.tier in tiers), key=lambda m: (m.published_at, m.item_id))


def verification_of(members: Sequence[EventMember], rules: ScoringRules | None = None) -> str:
    """verified-by-official | corroborated | unverified, by the rules in scoring.toml."""
    rules = rules or _default_rules()
    confirmations, amplifications = _official_members(members, _event_organisations(members), rules)
    if confirmations or _primary_sources(members, rules):
        return "verified-by-official"
    needed = int(rules.section("verification")["corroborated_min_publishers"])
    if amplifications or len(_independent_publishers(members, rules)) >= needed:
        return "corroborated"
    return "unverified"


def _days_spanned(members: Sequence[EventMember]) -> int:
    if not members:
        return 0
    first = min(m.published_at for m in members)
    last = max(m.published_at for m in members)
    return max(1, math.ceil((last - first).total_seconds() / 86400))


def _fmt_usd(value: float) -> str:
    for size, suffix in ((1e12, " trillion"), (1e9, " billion"), (1e6, " million"), (1e3, " thousand")):
        if value >= size:
            return f"${value / size:,.3g}{suffix}"
    return f"${value:,.0f}"


def _fmt_count(value: int) -> str:
    return f"{value:,}"


def _component(name: str, points: float, reason: str, rules: ScoringRules) -> ScoreComponent:
    cap = rules.max_points(name)
    return ScoreComponent(name=name, points=round(min(max(points, 0.0), cap), 2), reason=reason)


def _authority(members: Sequence[EventMember], rules: ScoringRules) -> ScoreComponent:
    best = min(members, key=lambda m: (_tier_rank(m.tier), m.published_at, m.item_id))
    points = float(rules.section("authority")["tiers"].get(best.tier, 0))
    return _component("authority", points, f"best source is {best.tier} ({best.publisher})", rules)


def _official(members: Sequence[EventMember], organisations: Sequence[str], rules: ScoringRules) -> ScoreComponent:
    confirmations, amplifications = _official_members(members, organisations, rules)
    if confirmations:
        first = confirmations[0]
        return _component(
            "official",
            rules.max_points("official"),
            f"confirmed by {first.publisher}'s own channel ({first.source_name})",
            rules,
        )
    primary = _primary_sources(members, rules)
    if primary:
        # The paper itself is the primary record; half weight, as no organisation vouches for it.
        return _component(
            "official",
            rules.max_points("official") / 2,
            f"primary source present ({primary[0].publisher})",
            rules,
        )
    if amplifications:
        first = amplifications[0]
        share = float(rules.section("verification").get("amplification_share", 0.5))
        return _component(
            "official",
            rules.max_points("official") * share,
            f"amplified by {first.publisher}'s own channel ({first.source_name}), not announced by it",
            rules,
        )
    concerned = ", ".join(organisations[:3]) or "the organisations concerned"
    return _component("official", 0.0, f"no official statement from {concerned}", rules)


def _corroboration(members: Sequence[EventMember], rules: ScoringRules) -> tuple[ScoreComponent, int]:
    independent = _independent_publishers(members, rules)
    count = len(independent)
    section = rules.section("corroboration")
    points = float(section["points_per_extra_publisher"]) * max(0, count - 1)
    if count == 0:
        reason = "no independent non-social publisher"
    elif count == 1:
        reason = f"only one publisher ({independent[0].publisher})"
    else:
        days = _days_spanned(independent)
        reason = f"{count} independent publishers in {days} day{'s' if days != 1 else ''}"
    return _component("corroboration", points, reason, rules), count


def _is_social_post(member: EventMember) -> bool:
    # By the source's tier: an organisation's own X account is official for verification, yet its
    # posts are still social posts whose audience reaction counts as engagement.
    return (member.source_tier or member.tier) == "social"


def _engagement(members: Sequence[EventMember], rules: ScoringRules) -> ScoreComponent:
    posts = [m for m in members if _is_social_post(m) and m.duplicate_of is None]
    total = sum(m.engagement for m in posts)
    section = rules.section("engagement")
    if not posts:
        return _component("engagement", 0.0, "no social posts", rules)
    share = math.log10(1 + total) / math.log10(1 + float(section["saturation"]))
    points = rules.max_points("engagement") * min(1.0, share)
    plural = "s" if len(posts) != 1 else ""
    return _component("engagement", points, f"{_fmt_count(total)} engagements on {len(posts)} social post{plural}",
                      rules)


def _novelty(earlier_events: Sequence[str], products: Sequence[str], rules: ScoringRules) -> ScoreComponent:
    section = rules.section("novelty")
    if earlier_events:
        about = ", ".join(products[:2]) or "the same products"
        return _component(
            "novelty",
            float(section["repeat_points"]),
            f"repeat: follows {len(earlier_events)} earlier event(s) about {about} ({earlier_events[0]})",
            rules,
        )
    return _component("novelty", rules.max_points("novelty"), "new: no earlier event in the window", rules)


def _magnitude(members: Sequence[EventMember], rules: ScoringRules) -> ScoreComponent:
    section = rules.section("magnitude")
    rates = section["usd_per_unit"]
    largest = 0.0
    for member in members:
        for unit, value in member.money:
            if unit in rates:
                largest = max(largest, value * float(rates[unit]))
    floor, ceiling = float(section["floor_usd"]), float(section["ceiling_usd"])
    if largest <= 0:
        return _component("magnitude", 0.0, "no money amount", rules)
    share = (math.log10(largest) - math.log10(floor)) / (math.log10(ceiling) - math.log10(floor))
    points = rules.max_points("magnitude") * min(1.0, max(0.0, share))
    return _component("magnitude", points, f"largest amount {_fmt_usd(largest)}", rules)


def _recency(first_seen: datetime, as_of: datetime, rules: ScoringRules) -> ScoreComponent:
    age_hours = max(0.0, (as_of - first_seen).total_seconds() / 3600)
    half_life = float(rules.section("recency")["half_life_hours"])
    points = rules.max_points("recency") * 0.5 ** (age_hours / half_life)
    if age_hours < 1:
        age = "under an hour"
    elif age_hours < 48:
        age = f"{age_hours:.0f} h"
    else:
        age = f"{age_hours / 24:.1f} days"
    return _component("recency", points, f"first seen {age} before {as_of:%Y-%m-%d %H:%M} UTC", rules)


def _category(members: Sequence[EventMember], rules: ScoringRules) -> tuple[str, tuple[str, ...]]:
    section = rules.section("category")
    weights = section["tier_weights"]
    votes: dict[str, float] = defaultdict(float)
    confidence: dict[str, float] = defaultdict(float)
    # One publisher, one vote: a feed entry and the page it links to, or a thread of posts,
    # share their publisher's weight instead of multiplying it.
    # On a social platform the "publisher" is the platform, not the author: each post votes.
    def voice(m: EventMember) -> tuple[str, str]:
        tier = m.source_tier or m.tier
        return (m.item_id, tier) if tier == "social" else (m.publisher, tier)

    per_publisher = Counter(voice(m) for m in members if m.category is not None)
    for member in members:
        if member.category is not None:
            # The vote weighs the text's evidence, so a post votes as a social post even from an
            # organisation's own account (its 280 characters are not its official blog post).
            tier = member.source_tier or member.tier
            share = per_publisher[voice(member)]
            votes[member.category] += float(weights.get(tier, 1.0)) / share
            confidence[member.category] += member.category_confidence
    if not votes:
        # An on-topic item no category term matched is still news: file it under the
        # configured fallback rather than losing the event to the dead-letter queue.
        fallback = section.get("fallback")
        if fallback is None:
            raise ValueError("no member has a category and [category].fallback is not set")
        return str(fallback), ()
    # Equal votes go to the more confident category, then to the order of CATEGORIES (deterministic).
    ranked = sorted(
        votes,
        key=lambda c: (-votes[c], -confidence[c], CATEGORIES.index(c) if c in CATEGORIES else 99, c),
    )
    top = votes[ranked[0]]
    share = float(section["secondary_min_share"])
    return ranked[0], tuple(c for c in ranked[1:] if votes[c] >= share * top)


def _title(members: Sequence[EventMember]) -> str:
    # The highest-tier member's own title, originals before duplicates, earliest first.
    best = min(
        (m for m in members if m.title),
        key=lambda m: (_tier_rank(m.tier), m.duplicate_of is not None, m.published_at, m.item_id),
        default=None,
    )
    return best.title if best is not None else "(untitled)"


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
    rules = rules or _default_rules()
    if not members:
        raise ValueError("an event needs at least one member")
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    as_of = as_of.astimezone(UTC)
    ordered = sorted(members, key=lambda m: (m.published_at, m.item_id))
    category, secondary = _category(ordered, rules)
    organisations = _event_organisations(ordered)
    first_seen = ordered[0].published_at
    last_seen = ordered[-1].published_at
    corroboration, publishers = _corroboration(ordered, rules)
    product_names = list(dict.fromkeys(name for m in ordered for name in m.product_names))
    components = (
        _authority(ordered, rules),
        _official(ordered, organisations, rules),
        corroboration,
        _engagement(ordered, rules),
        _novelty(earlier_events, product_names, rules),
        _magnitude(ordered, rules),
        _recency(first_seen, as_of, rules),
    )
    total = round(min(100.0, sum(c.points for c in components)), 2)
    return Event(
        event_id=event_id,
        title=_title(ordered),
        category=category,
        secondary=secondary,
        organisations=tuple(organisations),
        first_seen=first_seen,
        last_seen=last_seen,
        items=len(ordered),
        publishers=publishers,
        signal_score=total,
        components=components,
        verification=verification_of(ordered, rules),
    )


def event_members(event_id: str, batch_items: Iterable[Item], index: EventIndex | None) -> list[EventMember]:
    """Earlier members from the index plus this batch's items; a re-delivered item counts once."""
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
        members[item_id] = member_from_item(item, event_id, rules)
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
    return make_dead_letter(
        stage="score",
        reason=f"event {event_id}: {reason}",
        original=original,
        source_name=first.source.name if first else None,
        url=(first.canonical_url or first.url) if first else None,
        coordinates=first.coordinates if first else None,
        error=error,
        occurred_at=as_of,
    )


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
        if not (
            event_index is None
            or isinstance(event_index, EventIndex | pvalue.AsSideInput | pvalue.PCollection)
        ):
            raise ValueError(f"event_index must be an EventIndex, a PCollection or a side input, not {event_index!r}")
        self._event_index = event_index
        self._as_of = as_of.astimezone(UTC)
        self._rules = rules or load_scoring_rules()

    def expand(self, pcoll: beam.PCollection) -> pvalue.DoOutputsTuple:
        index = as_event_index_side_input(self._event_index, pcoll.pipeline, "EmptyEventIndex")
        grouped = (
            pcoll
            | "KeyByEvent" >> beam.FlatMap(_member_pairs)
            | "GroupByEvent" >> beam.GroupByKey()
        )
        batch_firsts = pvalue.AsDict(
            grouped
            | "ProductFirstSeen" >> beam.FlatMap(_event_product_firsts, index)
            | "EarliestPerProduct" >> beam.CombinePerKey(_EarliestTwo())
        )
        return grouped | "ScoreEvent" >> beam.ParDo(
            _ScoreEventFn(self._as_of, self._rules), index, batch_firsts
        ).with_outputs("dead_letter", main="good")
