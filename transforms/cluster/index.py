"""The members of open events, indexed by url, link, product, native id and reference (`EventIndex`)."""

from __future__ import annotations

import bisect
import contextlib
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

import apache_beam as beam
from apache_beam import pvalue

from transforms.cluster.members import EventMember, member_with
from transforms.cluster.rules import ClusterRules, default_rules, link_key, linkable

_MISSING: Any = object()


class EventIndex:
    """Open events and their members' matching features, with inverted indexes for lookup.

    Picklable, so it travels as a singleton side input. Treat a side-input instance as read
    only: `assign_events` works on a copy. In a long-lived processor one index carries from batch
    to batch: a batch changes it only inside `undone()` (its changes are taken back when that
    ends), and the committed batch's events are then reloaded into it (`replace_events`).
    """

    # An undo log while a batch works on the index in place (`undone`): (table, key, old value).
    _journal: list[tuple[dict[Any, Any], Any, Any]] | None = None
    _journaled: set[tuple[int, Any]]

    def __init__(self, members: Iterable[EventMember] = (), *, rules: ClusterRules | None = None) -> None:
        self.rules = rules or default_rules(7)
        self.members: dict[str, EventMember] = {}
        self.by_event: dict[str, list[str]] = {}
        self.by_url: dict[str, set[str]] = {}  # canonical URL -> member ids
        self.by_link: dict[str, set[str]] = {}  # URL linked by a member post -> member ids
        self.by_product: dict[str, set[str]] = {}
        self.by_native_id: dict[str, str] = {}  # native id -> member id
        # Native ids several members carry -> those members (by_native_id holds the first of them)
        self.native_shared: dict[str, set[str]] = {}
        self.by_reference: dict[str, set[str]] = {}  # native id retweeted/quoted -> member ids
        self.first_seen: dict[str, datetime] = {}
        # members that may be the original of a cross-language rewrite, per event
        self.originals_by_event: dict[str, list[str]] = {}
        for member in members:
            self.add(member)

    def __len__(self) -> int:
        return len(self.members)

    def __repr__(self) -> str:
        return f"EventIndex({len(self.by_event)} events, {len(self.members)} members)"

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("_journal", "_journaled")}

    def copy(self) -> EventIndex:
        clone = EventIndex.__new__(EventIndex)
        clone.rules = self.rules
        clone.members = dict(self.members)
        clone.by_event = {k: list(v) for k, v in self.by_event.items()}
        clone.originals_by_event = {k: list(v) for k, v in self.originals_by_event.items()}
        clone.by_native_id = dict(self.by_native_id)
        for name in (
            "by_url",
            "by_link",
            "by_product",
            "by_reference",
            "native_shared",
        ):
            setattr(clone, name, {k: set(v) for k, v in getattr(self, name).items()})
        clone.first_seen = dict(self.first_seen)
        return clone

    # ------------------------------------------------------------------ changes taken back

    @contextlib.contextmanager
    def undone(self) -> Iterator[EventIndex]:
        """Work on this index in place; every change made inside the block is undone when it ends.

        What a batch does to the index (its own members, merged events re-pointed) costs the
        entries it touches, where `copy()` costs the whole index.
        """
        if self._journal is not None:
            raise RuntimeError("EventIndex.undone() does not nest")
        self._journal, self._journaled = [], set()
        try:
            yield self
        finally:
            journal, self._journal = self._journal, None
            for table, key, old in reversed(journal):
                if old is _MISSING:
                    table.pop(key, None)
                else:
                    table[key] = old
            self._journaled = set()

    def _touch(self, table: dict[Any, Any], key: Any) -> None:
        """Remember `table[key]` (a copy of a list or set) before its first change inside `undone`."""
        if (id(table), key) in self._journaled:
            return
        self._journaled.add((id(table), key))
        old = table.get(key, _MISSING)
        if isinstance(old, list | set):
            old = old.copy()
        assert self._journal is not None
        self._journal.append((table, key, old))

    def _keys_of(self, member: EventMember) -> Iterator[tuple[dict[str, set[str]], str]]:
        """The (inverted index, key) entries that hold this member."""
        rules = self.rules
        if member.canonical_url and linkable(member.canonical_url, rules.ignore_root_urls):
            yield self.by_url, link_key(member.canonical_url, rules)
        if member.kind in rules.link_kinds:
            for url in member.linked_urls:
                if linkable(url, rules.ignore_root_urls):
                    yield self.by_link, link_key(url, rules)
        for ref in member.references:
            yield self.by_reference, ref
        for product in member.products:
            yield self.by_product, product

    def add(self, member: EventMember) -> None:
        if member.item_id in self.members:
            return
        journal = self._journal is not None
        item_id = member.item_id
        event_id = member.event_id
        if journal:
            self._touch(self.members, item_id)
            self._touch(self.by_event, event_id)
            self._touch(self.first_seen, event_id)
        self.members[item_id] = member
        self.by_event.setdefault(event_id, []).append(item_id)
        seen = self.first_seen.get(event_id)
        if seen is None or member.published_at < seen:
            self.first_seen[event_id] = member.published_at
        if member.tier in self.rules.xlang_original_tiers and member.source_organisation:
            if journal:
                self._touch(self.originals_by_event, event_id)
            self.originals_by_event.setdefault(event_id, []).append(item_id)
        self._index(member)

    def _index(self, member: EventMember) -> None:
        """Put a member in the inverted indexes and the native-id tables (its event's lists are the
        caller's: `add` appends in arrival order, `add_members` places in load order)."""
        journal = self._journal is not None
        item_id = member.item_id
        for table, key in self._keys_of(member):
            if journal:
                self._touch(table, key)
            table.setdefault(key, set()).add(item_id)
        native_id = member.native_id
        if native_id:
            if journal:
                self._touch(self.by_native_id, native_id)
                self._touch(self.native_shared, native_id)
            holder = self.by_native_id.setdefault(native_id, item_id)
            if holder != item_id:
                self.native_shared.setdefault(native_id, {holder}).add(item_id)

    def repoint(self, absorbed: str, survivor: str) -> None:
        """Members of an event the clustering folded into another now belong to that one."""
        if self._journal is not None:
            for table in (self.by_event, self.first_seen, self.originals_by_event):
                self._touch(table, absorbed)
                self._touch(table, survivor)
        moved = self.by_event.pop(absorbed, [])
        for item_id in moved:
            if self._journal is not None:
                self._touch(self.members, item_id)
            self.members[item_id] = member_with(self.members[item_id], event_id=survivor)
        self.by_event.setdefault(survivor, []).extend(moved)
        seen = self.first_seen.pop(absorbed, None)
        if seen is not None and (survivor not in self.first_seen or seen < self.first_seen[survivor]):
            self.first_seen[survivor] = seen
        originals = self.originals_by_event.pop(absorbed, [])
        if originals:
            self.originals_by_event.setdefault(survivor, []).extend(originals)

    def replace_events(self, event_ids: Iterable[str], members: Iterable[EventMember]) -> None:
        """Drop every member of these events, then add `members` (as `load_event_index` lists them).

        How a long-lived index takes a committed batch: the events the batch touched are dropped
        and read back as stored, the ones it closed only dropped. Afterwards the index holds what
        a fresh load of the same events would (by_native_id: the first member in load order).
        """
        if self._journal is not None:
            raise RuntimeError("replace_events inside undone()")
        incoming = list(members)
        dropped = set(event_ids)
        # Members that come back as they are (the very object, so the same event and features) keep
        # their inverted-index entries: only the batch's own rows are indexed afresh. Dropping and
        # re-adding every member of a touched event cost what the event holds, not what the batch
        # brought: ~0.4 s a batch at 100k stored, 0.8 s at 500k, where events grow to thousands.
        kept = {m.item_id for m in incoming if m.event_id in dropped and self.members.get(m.item_id) is m}
        renamed: set[str] = set()
        for event_id in dropped:
            for item_id in self.by_event.pop(event_id, ()):
                if item_id in kept:
                    continue
                self._unindex(self.members.pop(item_id), renamed)
            self.first_seen.pop(event_id, None)
            self.originals_by_event.pop(event_id, None)
        for member in incoming:
            if member.item_id in kept:
                self._relist(member)
                if member.native_id and member.native_id in self.native_shared:
                    renamed.add(member.native_id)
                continue
            self.add(member)
            if member.native_id:
                renamed.add(member.native_id)
        self._settle_native_ids(renamed)

    def drop_members(self, item_ids: Iterable[str]) -> None:
        """Take these members out of the events that hold them, which stay open (`add_members` brings
        their stored rows back). With `add_members`, how a long-lived index takes a committed batch's
        rows into events it already holds whole: the cost follows the batch, not the events' size
        (`replace_events` re-reads every member of an event it is given)."""
        if self._journal is not None:
            raise RuntimeError("drop_members inside undone()")
        renamed: set[str] = set()
        for item_id in item_ids:
            member = self.members.pop(item_id, None)
            if member is None:
                continue
            self._unindex(member, renamed)
            event_id = member.event_id
            ids = self.by_event[event_id]
            ids.remove(item_id)
            originals = self.originals_by_event.get(event_id)
            if originals is not None and item_id in originals:
                originals.remove(item_id)
                if not originals:
                    del self.originals_by_event[event_id]
            if not ids:
                del self.by_event[event_id]
                self.first_seen.pop(event_id, None)
            elif self.first_seen.get(event_id) == member.published_at:
                self.first_seen[event_id] = min(self.members[i].published_at for i in ids)
        self._settle_native_ids(renamed)

    def add_members(self, members: Iterable[EventMember]) -> None:
        """Add stored members to their events at their place in load order (time, then item id), as a
        fresh load would list them; see `drop_members`."""
        if self._journal is not None:
            raise RuntimeError("add_members inside undone()")
        renamed: set[str] = set()
        for member in members:
            item_id = member.item_id
            if item_id in self.members:
                continue
            self.members[item_id] = member
            self._relist(member)
            self._index(member)
            if member.native_id:
                renamed.add(member.native_id)
        self._settle_native_ids(renamed)

    def _unindex(self, member: EventMember, renamed: set[str]) -> None:
        """Take a member out of the inverted indexes and the native-id tables (not its event's lists)."""
        item_id = member.item_id
        for table, key in self._keys_of(member):
            held = table.get(key)
            if held is not None:
                held.discard(item_id)
                if not held:
                    del table[key]
        if member.native_id:
            renamed.add(member.native_id)
            shared = self.native_shared.get(member.native_id)
            if shared is not None:
                shared.discard(item_id)
            if self.by_native_id.get(member.native_id) == item_id:
                del self.by_native_id[member.native_id]

    def _settle_native_ids(self, renamed: set[str]) -> None:
        # Who holds a native id several members carry: the first in load order (time, then item id).
        for native_id in renamed:
            shared = self.native_shared.get(native_id)
            if shared is None:
                continue
            holders = [i for i in shared if i in self.members]
            if len(holders) <= 1:
                del self.native_shared[native_id]
            if holders:
                self.by_native_id[native_id] = min(holders, key=lambda i: (self.members[i].published_at, i))
            else:
                self.by_native_id.pop(native_id, None)

    def _relist(self, member: EventMember) -> None:
        """`add`'s per-event bookkeeping, at the member's place in load order (time, then item id): the
        end of the lists when members come in that order, as `replace_events` gives them."""
        event_id, item_id = member.event_id, member.item_id
        place = (member.published_at, item_id)

        def order(other: str) -> tuple[datetime, str]:
            return self.members[other].published_at, other

        ids = self.by_event.setdefault(event_id, [])
        ids.insert(bisect.bisect_right(ids, place, key=order), item_id)
        seen = self.first_seen.get(event_id)
        if seen is None or member.published_at < seen:
            self.first_seen[event_id] = member.published_at
        if member.tier in self.rules.xlang_original_tiers and member.source_organisation:
            originals = self.originals_by_event.setdefault(event_id, [])
            originals.insert(bisect.bisect_right(originals, place, key=order), item_id)

    def event_of(self, item_id: str) -> str | None:
        member = self.members.get(item_id)
        return member.event_id if member is not None else None

    def event_members(self, event_id: str) -> list[EventMember]:
        return [self.members[i] for i in self.by_event.get(event_id, ())]

    def event_ids(self) -> list[str]:
        return sorted(self.by_event)

    def earlier_events_with_products(self, products: Iterable[str], before: datetime, exclude: str) -> list[str]:
        """Other events first seen before `before` that covered one of these products."""
        found = set()
        for product in products:
            for item_id in self.by_product.get(product, ()):
                event_id = self.members[item_id].event_id
                if event_id != exclude and self.first_seen[event_id] < before:
                    found.add(event_id)
        return sorted(found, key=lambda e: (self.first_seen[e], e))


def as_event_index_side_input(event_index: Any, pipeline: beam.Pipeline, label: str) -> pvalue.AsSideInput:
    """Accept an AsSingleton, a one-element PCollection, an EventIndex, or None (empty)."""
    if isinstance(event_index, pvalue.AsSideInput):
        return event_index
    if isinstance(event_index, pvalue.PCollection):
        return pvalue.AsSingleton(event_index)
    if event_index is None or isinstance(event_index, EventIndex):
        return pvalue.AsSingleton(pipeline | label >> beam.Create([event_index or EventIndex()]))
    raise ValueError(f"event_index must be an EventIndex, a PCollection or a side input, not {type(event_index)!r}")
