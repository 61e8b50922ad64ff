"""Stage 5's decision, item by item in publish-time order: `cluster_batch` (see the package docstring)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.dead_letter import DeadLetter
from schemas.item import LINKED_PAGE, Item
from transforms.cluster.index import EventIndex
from transforms.cluster.members import (
    BuiltMember,
    EventMember,
    build_member,
    is_off_topic,
    item_time,
    member_with,
    require_time,
)
from transforms.cluster.rules import link_key, linkable
from transforms.events import ClusterState, Record

_STRENGTH_DUPLICATE = 500
_STRENGTH_LINK = 300
_STRENGTH_SHARED_LINK = 200


def _linked_event(candidate: Item, index: EventIndex) -> str | None:
    """The event a post refers to outright: it quotes or retweets a member, links a member's page,
    or a member links it; None when nothing does (then the online clustering decides)."""
    rules = index.rules
    scores: dict[str, float] = {}

    def offer(event_id: str, strength: float) -> None:
        if strength > scores.get(event_id, 0):
            scores[event_id] = strength

    members = index.members
    # A quote or retweet joins the post it refers to; a post joins whoever quoted it earlier.
    for ref in (candidate.retweet_of, candidate.quote_of):
        quoted = index.by_native_id.get(ref) if ref else None
        if quoted is not None:
            offer(members[quoted].event_id, _STRENGTH_DUPLICATE)
    if candidate.native_id:
        for item_id in index.by_reference.get(candidate.native_id, ()):
            offer(members[item_id].event_id, _STRENGTH_LINK)
    if candidate.kind in rules.link_kinds:
        for url in candidate.linked_urls:
            if not url or not linkable(url, rules.ignore_root_urls):
                continue
            url = link_key(url, rules)
            for item_id in index.by_url.get(url, ()):
                offer(members[item_id].event_id, _STRENGTH_LINK)
            for item_id in index.by_link.get(url, ()):
                offer(members[item_id].event_id, _STRENGTH_SHARED_LINK)
    url = candidate.canonical_url
    if url and linkable(url, rules.ignore_root_urls):
        url = link_key(url, rules)
        for item_id in index.by_link.get(url, ()):
            offer(members[item_id].event_id, _STRENGTH_LINK)
        for item_id in index.by_url.get(url, ()):
            offer(members[item_id].event_id, _STRENGTH_LINK)
    if not scores:
        return None
    # Strongest evidence first; ties go to the older event, then the smaller id (deterministic).
    return min(scores, key=lambda e: (-scores[e], index.first_seen[e], e))


def _figure_in(figure: tuple[str, float], figures: Iterable[tuple[str, float]], tolerance: float) -> bool:
    unit, value = figure
    return any(u == unit and abs(v - value) <= tolerance * max(v, value) for u, v in figures)


def cross_language_original(candidate: EventMember, event_id: str, index: EventIndex) -> str | None:
    """The official item `candidate` rewrites in another language, if it is such a rewrite, else None.

    See [cross_language_duplicate] in clustering.toml: same event, another language, shortly after,
    a shared organisation and product, and no figure the organisation's own items do not hold.
    """
    rules = index.rules
    if (
        candidate.duplicate_of is not None
        or candidate.tier not in rules.xlang_candidate_tiers
        or candidate.lang == "und"
        or not candidate.organisations
    ):
        return None
    # Only the event's members of an original tier that speak for an organisation can be the
    # original, or lend it their figures.
    members = [index.members[i] for i in index.originals_by_event.get(event_id, ())]
    if not members:
        return None
    kind_rank = {kind: i for i, kind in enumerate(rules.xlang_original_kinds)}
    found: list[tuple[bool, datetime, int, str]] = []
    for original in members:
        if (
            original.duplicate_of is not None
            or original.lang in ("und", candidate.lang)
            or original.source_organisation not in candidate.organisations
        ):
            continue
        gap = candidate.published_at - original.published_at
        if gap < timedelta(0) or gap > rules.xlang_max_gap:
            continue
        if (candidate.products or original.products) and not (candidate.products & original.products):
            continue
        # Figures: everything the organisation itself published about this event.
        own = [f for m in members if m.source_organisation == original.source_organisation for f in m.figures]
        if not all(_figure_in(f, own, rules.amount_tolerance) for f in candidate.figures):
            continue
        # The organisation's own post on X is official too, but a rewrite translates the
        # announcement itself: prefer the blog/newsroom item, then the earliest.
        on_x = bool(original.native_id and original.native_id.startswith("x:"))
        found.append((on_x, original.published_at, kind_rank.get(original.kind, len(kind_rank)), original.item_id))
    return min(found)[3] if found else None


def _sort_key(item: Item) -> tuple[datetime, str]:
    when = item_time(item)
    return (when or datetime.max.replace(tzinfo=UTC), item.item_id)


def richness(item: Item) -> tuple[bool, int, int]:
    """How complete one version of an item is: dated by itself, entities found, text length.

    A batch may hold one item twice (a feed entry's summary and the page its link led to, under one
    key); the index and the scores must see the richest version whatever order they came in.
    """
    entities = item.entities
    found = len(entities.organisations) + len(entities.products) + len(entities.amounts)
    return (item.published_at is not None, found, len(item.text))


def _assignment_key(item: Item) -> tuple[datetime, str, tuple[bool, int, int]]:
    dated, found, length = richness(item)
    when, item_id = _sort_key(item)
    return (when, item_id, (not dated, -found, -length))


def _dead_letter(item: Item, reason: str, error: BaseException | None, as_of: datetime | None) -> DeadLetter:
    return DeadLetter.of(
        stage="cluster",
        reason=reason,
        original=item.model_dump_json(by_alias=True).encode(),
        source_name=item.source.name,
        url=item.canonical_url or item.url,
        coordinates=item.coordinates,
        error=error,
        occurred_at=as_of or item_time(item) or datetime(1970, 1, 1, tzinfo=UTC),
    )


@dataclass(frozen=True)
class ClusteredBatch:
    """One batch placed in events, and what it changed in the cross-batch state."""

    items: list[Item]  # in publish-time order, event_id set on every on-topic item
    dead_letters: list[DeadLetter]
    state: ClusterState  # the clustering state after this batch (the one given is not modified)
    members: EventIndex  # earlier batches' members, merged-away events re-pointed: what scoring reads
    merges: dict[str, str]  # event folded away -> the event it now belongs to (earlier batches' ids too)
    # Item id -> the member built while placing it: scoring the batch (`score_batch(built=...)`)
    # reads it instead of building every member a second time.
    built: dict[str, BuiltMember] = field(default_factory=dict)


def _kafka_order(item: Item) -> tuple[int, int, str]:
    coords = item.coordinates
    return (coords.partition, coords.offset, item.item_id) if coords is not None else (-1, -1, item.item_id)


def _stream_order(items: Iterable[Item], clock: float | None) -> list[Item]:
    """The batch in publish-time order: the order the news happened in.

    Not Kafka order: sources are fetched one after another, so a batch holds one source's week,
    then the next one's; taken in that order, the first source's stories found events the others'
    coverage no longer fits (sample corpus: purity 0.78, completeness 0.89 in Kafka order against
    0.97 and 0.97 in publish order). An item with no publish time goes where it arrived: right
    after the latest publish time seen before it in Kafka order (the state's clock to begin with),
    not at its fetch time, which would put it after everything the batch holds and make its
    place depend on where the batch ends. Batches of a live stream come in publish order, so the
    events do not depend on where the stream is cut (tests/test_cluster_batches.py).
    """
    keyed = []
    running = clock if clock is not None else float("-inf")
    for item in sorted(items, key=_kafka_order):
        if item.published_at is not None:
            when = item.published_at.timestamp()
            running = max(running, when)
            keyed.append(((when, 0, *_kafka_order(item)), item))
        else:
            keyed.append(((running, 1, *_kafka_order(item)), item))
    # Equal times (an entry and its page) keep their Kafka order, wherever the batch was cut.
    keyed.sort(key=lambda pair: pair[0])
    return [item for _, item in keyed]


def _record_of(item: Item) -> Record:
    # No publish time: the clustering places it at its clock (a fetch time would move the clock
    # to the day of the fetch and close every open event of a backfilled week).
    return Record(
        id=item.item_id,
        title=item.title,
        text=item.text,
        published_at=item.published_at,
        publisher=item.source.publisher,
        url=item.url,
        lang=item.lang,
        canonical_url=item.canonical_url,
        linked_urls=tuple(item.linked_urls),
    )


def cluster_batch(
    items: Iterable[Item],
    index: EventIndex | None = None,
    state: ClusterState | None = None,
    *,
    in_place: bool = False,
) -> ClusteredBatch:
    """Place every item of one batch in an event; neither `index` nor `state` is modified.

    Per item, in publish-time order: an item already placed keeps its event; a duplicate goes where its
    original is; a post that quotes, retweets or links a member goes to that member's event; any
    other item is decided by the representation-based online clustering (`transforms.events`),
    which compares it with open events' centroids, never with single members. Off-topic items are
    clustered too (the topic gate is the digest's decision) but carry no event id.

    `in_place=True` (a long-lived processor's own state): `state` is advanced in place and returned,
    and `index` is worked on in place and restored before this returns, so the call costs what the
    batch touches, not a copy of both; `members` is then `index` as given (not re-pointed: score
    inside `merged_members`).
    """
    if in_place:
        state = state if state is not None else ClusterState()
        if index is None:
            index = EventIndex()
        with index.undone():
            out, dead, merges, built = _place(items, index, state)
        return ClusteredBatch(out, dead, state, index, merges, built)
    working = index.copy() if index is not None else EventIndex()
    state = ClusterState.from_json(state.to_json()) if state is not None else ClusterState()
    out, dead, final_merges, built = _place(items, working, state)
    # Scoring reads earlier batches' members (this batch's come from its items): the index given,
    # with the members of merged-away events moved to their survivors.
    members = index if index is not None else EventIndex(rules=working.rules)
    if any(a in members.by_event for a in final_merges):
        members = members.copy()
        for absorbed, survivor in final_merges.items():
            members.repoint(absorbed, survivor)
    return ClusteredBatch(out, dead, state, members, final_merges, built)


@contextlib.contextmanager
def merged_members(index: EventIndex, merges: dict[str, str]) -> Iterator[EventIndex]:
    """`index` with the members of merged-away events moved to their survivors while the block runs
    (what `cluster_batch` returns as `members`, for its `in_place` form); undone afterwards."""
    if not any(a in index.by_event for a in merges):
        yield index
        return
    with index.undone():
        for absorbed, survivor in merges.items():
            index.repoint(absorbed, survivor)
        yield index


def _place(
    items: Iterable[Item], working: EventIndex, state: ClusterState
) -> tuple[list[Item], list[DeadLetter], dict[str, str], dict[str, BuiltMember]]:
    """`cluster_batch`'s work on `working` and `state`, both changed: the placed items, the dead
    letters, the merges (folded-away event -> its survivor) and the members built on the way."""
    rules = working.rules
    # Versions of one item (a feed entry and the page it led to, under one key): the richest is
    # the one clustered and indexed; all of them go where it goes, at the first version's turn.
    versions: dict[str, list[Item]] = {}
    for item in _stream_order(items, state.clock):
        versions.setdefault(item.item_id, []).append(item)
    dead: list[DeadLetter] = []
    merges: dict[str, str] = {}
    event_of: dict[str, str] = {}  # this batch's placements, by item id (before merges are resolved)
    placed_copy: dict[str, str] = {}  # original -> event of a duplicate of it placed before it
    chosen: list[tuple[list[Item], Item, EventMember | None]] = []
    # Merged-away events still to re-point in `working`: after a merge, and after an item was
    # indexed under an id a merge folded away (only ever the item just placed).
    repoint_due = False

    def resolve(event_id: str) -> str:
        """Where an id now points: the state's aliases, then this batch's own merges. The state
        forgets an event's aliases once it closes, and a batch that spans more than the window
        can close a merge's survivor before the batch ends: its earlier items must still follow."""
        seen: set[str] = set()
        while event_id not in seen:
            seen.add(event_id)
            event_id = state.resolve(event_id)
            event_id = merges.get(event_id, event_id)
        return event_id

    def place(group: list[Item]) -> None:
        nonlocal repoint_due
        item = group[0] if len(group) == 1 else max(group, key=richness)
        try:
            require_time(item)
        except ValueError as exc:
            dead.extend(_dead_letter(version, f"cluster: {exc}", exc, None) for version in group)
            return
        placed = working.event_of(item.item_id)
        original = item.duplicate_of
        if placed is not None:
            event_id = placed  # a re-run or an edited entry: where it was
        elif original is not None and (original in event_of or working.event_of(original) is not None):
            event_id = event_of.get(original) or working.event_of(original) or ""
            if item.duplicate_kind == LINKED_PAGE and state.is_open(event_id):
                # The other half of one document (a feed entry's summary, the article it links): it
                # follows its original, and the event's centroid learns its words, as it would the
                # entry's had the page come first. Decided per item, so batch boundaries do not matter.
                state.attach(_record_of(item), event_id)
        elif item.item_id in placed_copy:
            event_id = placed_copy[item.item_id]
        else:
            linked = _linked_event(item, working)
            if linked is not None and not state.is_open(linked):
                # Closed for the clustering (its last member is beyond the window): closed for
                # links too, or whether a link joins would depend on which batch loaded what.
                linked = None
            assignment = (
                state.attach(_record_of(item), linked) if linked is not None else state.assign(_record_of(item))
            )
            event_id = assignment.event_id
            for absorbed in assignment.merged:
                merges[absorbed] = event_id
            if assignment.merged:
                # Only a merge changes what the earlier merges' survivors resolve to.
                for absorbed, survivor in list(merges.items()):
                    if survivor != resolve(survivor):
                        merges[absorbed] = resolve(survivor)
                repoint_due = True
        event_id = resolve(event_id)
        event_of[item.item_id] = event_id
        if original is not None:
            placed_copy.setdefault(original, event_id)
        if repoint_due:
            for absorbed in [a for a in merges if a in working.by_event]:
                working.repoint(absorbed, merges[absorbed])
            repoint_due = False
        if is_off_topic(item):
            chosen.append((group, item, None))
            return
        features = build_member(item, event_id, rules)
        if placed is None:
            xlang = cross_language_original(features, event_id, working)
            if xlang is not None:
                # A rewrite in another language: still a mention of the event, recorded as a duplicate.
                features = member_with(features, duplicate_of=xlang)
            working.add(features)
            repoint_due = event_id in merges
        chosen.append((group, item, features))

    # A duplicate whose original is in this batch waits for it (same publish time, later in
    # Kafka order): the event is then named after the original, whatever the arrival order.
    done: set[str] = set()
    waiting: dict[str, list[list[Item]]] = {}

    def place_then_waiting(group: list[Item]) -> None:
        if group[0].item_id in done:  # a cycle of duplicate marks: each item is placed once
            return
        place(group)
        done.add(group[0].item_id)
        for later in waiting.pop(group[0].item_id, []):
            place_then_waiting(later)

    for group in versions.values():
        original = max(group, key=richness).duplicate_of
        if original is not None and original in versions and original not in done:
            waiting.setdefault(original, []).append(group)
            continue
        place_then_waiting(group)
    for groups in list(waiting.values()):  # originals that could not be placed (dead-lettered)
        for group in groups:
            place_then_waiting(group)

    out: list[Item] = []
    built: dict[str, BuiltMember] = {}
    for group, item, features in chosen:
        final = resolve(event_of[item.item_id]) if features is not None else None
        for version in group:
            changes: dict[str, Any] = {} if version.event_id == final else {"event_id": final}
            if features is not None and features.duplicate_of is not None and version.duplicate_of is None:
                changes["duplicate_of"] = features.duplicate_of
            result = version.copy_with(changes) if changes else version
            if version is item and features is not None:
                if features.event_id != final:
                    features = member_with(features, event_id=final)
                built[result.item_id] = BuiltMember(result, features, rules)
            out.append(result)
    return out, dead, {a: resolve(s) for a, s in merges.items()}, built


def assign_events(
    items: Iterable[Item],
    index: EventIndex | None = None,
    state: ClusterState | None = None,
) -> tuple[list[Item], list[DeadLetter]]:
    """`cluster_batch` for callers that need only the placed items and the dead letters."""
    batch = cluster_batch(items, index, state)
    return batch.items, batch.dead_letters
