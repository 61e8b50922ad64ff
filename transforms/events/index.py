"""Open events as bounded centroids, with inverted indexes for sub-linear candidate lookup.

An item is only ever compared with an event's *centroid* (the sum of its members' unit
vectors, pruned to its heaviest keys), never with single members: a chain of pairwise
look-alikes cannot pull two stories together. Events leave the index when the stream's clock
(the latest publish time seen) has moved `window_s` past their last member.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field
from typing import Any

from transforms.events.representation import SPACES, Representation

__all__ = ["Candidate", "Event", "EventIndex", "dot_product"]

# A centroid keeps at most this many keys per space (pruned back from twice that): enough for a
# few hundred headlines of one story, small enough that a merge or a prune stays cheap.
MAX_KEYS = 300
# A key shared by more open events than this is too common to find candidates by; it still
# counts in the exact similarity of the candidates other keys found.
POSTING_CAP = 64
TOP_K = 6


def dot_product(vector: dict[str, float], centroid: dict[str, float]) -> float:
    """`vector` · `centroid`, summed in the vector's key order: every path that needs this product
    (the candidate lookup, a join by link) gets the same float."""
    return sum(w * centroid[key] for key, w in vector.items() if key in centroid)


@dataclass(slots=True)
class Event:
    id: str
    seq: int
    size: int
    first: float
    last: float
    time_sum: float
    centroid: dict[str, dict[str, float]]
    norm2: dict[str, float]

    def cosine(self, space: str, dot: float) -> float:
        n2 = self.norm2.get(space, 0.0)
        return dot / math.sqrt(n2) if n2 > 0.0 else 0.0

    @property
    def mean_time(self) -> float:
        return self.time_sum / self.size

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "seq": self.seq,
            "size": self.size,
            "first": self.first,
            "last": self.last,
            "time_sum": self.time_sum,
            "centroid": self.centroid,
            "norm2": self.norm2,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Event:
        return cls(
            data["id"],
            data["seq"],
            data["size"],
            data["first"],
            data["last"],
            data["time_sum"],
            {s: dict(v) for s, v in data["centroid"].items()},
            dict(data["norm2"]),
        )


@dataclass(slots=True)
class Candidate:
    event: Event
    dots: dict[str, float]

    def cosine(self, space: str) -> float:
        return self.event.cosine(space, self.dots.get(space, 0.0))


@dataclass(slots=True)
class EventIndex:
    window_s: float
    events: dict[str, Event] = field(default_factory=dict)
    # space -> key -> {event id: that event's centroid in the space}, in the order events took the
    # key. The centroid rides along so that the candidate lookup's inner loop (a third of the
    # clustering's time) multiplies without looking the event up again.
    postings: dict[str, dict[str, dict[str, dict[str, float]]]] = field(default_factory=lambda: {s: {} for s in SPACES})
    _expiry: list[tuple[float, int, str]] = field(default_factory=list)
    # Ids of the events created, changed or removed since this set was last cleared: a batch stores
    # only these (infra/sink.py), so its commit costs what the batch touched, not all open events.
    changed: set[str] = field(default_factory=set)

    def __len__(self) -> int:
        return len(self.events)

    # ------------------------------------------------------------------ lookup

    def candidates(self, rep: Representation, k: int = TOP_K) -> list[Candidate]:
        """The k events most similar to `rep` (by summed cosines), with exact dot products per space."""
        dots: dict[str, dict[str, float]] = {}
        # Spaces in which a key was too common to find candidates by: for the k found, the dot
        # product in such a space is taken over all the item's keys instead (in the item's key
        # order, as the lookup adds them, so the sum is the same float whichever way it is reached).
        skipped: set[str] = set()
        events = self.events
        for space, vector in rep.vectors.items():
            postings = self.postings[space]
            acc: dict[str, float] = {}
            get = acc.get
            for key, weight in vector.items():
                posting = postings.get(key)
                if not posting:
                    continue
                if len(posting) > POSTING_CAP:
                    skipped.add(space)
                    continue
                for event_id, centroid in posting.items():
                    acc[event_id] = get(event_id, 0.0) + weight * centroid[key]
            if acc:
                dots[space] = acc
        if not dots:
            return []
        sqrt = math.sqrt
        ranking: dict[str, float] = {}
        for space, acc in dots.items():
            for event_id, dot in acc.items():
                n2 = events[event_id].norm2.get(space, 0.0)
                cosine = dot / sqrt(n2) if n2 > 0.0 else 0.0
                ranking[event_id] = ranking.get(event_id, 0.0) + cosine
        # Ties go to the older event, so the choice never depends on dict or posting order.
        if len(ranking) > k:
            ranked = heapq.nsmallest(k, ranking.items(), key=lambda kv: (-kv[1], events[kv[0]].seq))
        else:
            ranked = sorted(ranking.items(), key=lambda kv: (-kv[1], events[kv[0]].seq))
        out = []
        for event_id, _ in ranked:
            event = events[event_id]
            exact = {space: acc[event_id] for space, acc in dots.items() if event_id in acc}
            for space in skipped:
                exact[space] = dot_product(rep.vectors[space], event.centroid[space])
            out.append(Candidate(event, exact))
        return out

    # ------------------------------------------------------------------ updates

    def create(self, event_id: str, seq: int, rep: Representation, time: float) -> Event:
        event = Event(event_id, seq, 0, time, time, 0.0, {s: {} for s in SPACES}, {s: 0.0 for s in SPACES})
        self.events[event_id] = event
        self.changed.add(event_id)
        self.add(event, rep, time, {})
        return event

    def add(self, event: Event, rep: Representation, time: float, dots: dict[str, float]) -> None:
        """Add a member's vectors to the centroid; `dots` are its dot products with the centroid before."""
        self.changed.add(event.id)
        for space, vector in rep.vectors.items():
            if not vector:
                continue
            centroid = event.centroid[space]
            postings = self.postings[space]
            for key, weight in vector.items():
                if key in centroid:
                    centroid[key] += weight
                else:
                    centroid[key] = weight
                    posting = postings.get(key)
                    if posting is None:
                        postings[key] = {event.id: centroid}
                    else:
                        posting[event.id] = centroid
            # |c + v|² = |c|² + 2 c·v + |v|², |v| = 1: exact, with no pass over the centroid.
            event.norm2[space] += 2.0 * dots.get(space, 0.0) + 1.0
            if len(centroid) > 2 * MAX_KEYS:
                self._prune(event, space)
        event.size += 1
        event.time_sum += time
        event.first = min(event.first, time)
        if time > event.last:
            event.last = time
        heapq.heappush(self._expiry, (event.last, event.seq, event.id))

    def restamp(self, event: Event, time: float) -> None:
        """Give an event whose members had no time one: all of them are taken to be at `time`."""
        self.changed.add(event.id)
        event.first = event.last = time
        event.time_sum = time * event.size
        heapq.heappush(self._expiry, (event.last, event.seq, event.id))

    def _prune(self, event: Event, space: str) -> None:
        centroid = event.centroid[space]
        keep = sorted(centroid.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_KEYS]
        postings = self.postings[space]
        kept = dict(keep)
        for key in centroid:
            if key not in kept:
                self._unpost(postings, key, event.id)
            else:
                postings[key][event.id] = kept  # an existing entry: its place in the posting stays
        event.centroid[space] = kept
        event.norm2[space] = sum(v * v for v in kept.values())

    @staticmethod
    def _unpost(postings: dict[str, dict[str, dict[str, float]]], key: str, event_id: str) -> None:
        posting = postings.get(key)
        if posting is not None:
            posting.pop(event_id, None)
            if not posting:
                del postings[key]

    def remove(self, event_id: str) -> Event:
        event = self.events.pop(event_id)
        self.changed.add(event_id)
        for space, centroid in event.centroid.items():
            postings = self.postings[space]
            for key in centroid:
                # `_unpost`, inlined: closing an event walks its whole centroid.
                posting = postings.get(key)
                if posting is not None:
                    posting.pop(event_id, None)
                    if not posting:
                        del postings[key]
        return event

    def merge(self, survivor: Event, absorbed: Event) -> None:
        """Fold `absorbed` into `survivor` (centroids summed, then pruned back to size)."""
        self.remove(absorbed.id)
        self.changed.add(survivor.id)
        for space, centroid in absorbed.centroid.items():
            target = survivor.centroid[space]
            postings = self.postings[space]
            for key, value in centroid.items():
                if key in target:
                    target[key] += value
                else:
                    target[key] = value
                    postings.setdefault(key, {})[survivor.id] = target
            survivor.norm2[space] = sum(v * v for v in target.values())
            if len(target) > 2 * MAX_KEYS:
                self._prune(survivor, space)
        survivor.size += absorbed.size
        survivor.time_sum += absorbed.time_sum
        survivor.first = min(survivor.first, absorbed.first)
        if absorbed.last > survivor.last:
            survivor.last = absorbed.last
            heapq.heappush(self._expiry, (survivor.last, survivor.seq, survivor.id))

    def expire(self, now: float) -> list[str]:
        """Close every event whose last member is more than the window before `now`; their ids."""
        cutoff = now - self.window_s
        closed = []
        heap = self._expiry
        while heap and heap[0][0] < cutoff:
            last, _, event_id = heapq.heappop(heap)
            event = self.events.get(event_id)
            # Stale heap entries (the event got newer members, or was merged away) are skipped.
            if event is not None and event.last == last:
                self.remove(event_id)
                closed.append(event_id)
        return closed

    # ------------------------------------------------------------------ persistence

    def to_json(self) -> dict[str, Any]:
        return {"window_s": self.window_s, "events": [e.to_json() for e in self.events.values()]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EventIndex:
        """The index `to_json` gave; `data["events"]` may be any iterable of event documents in
        creation order (`seq`), which is the order `to_json` lists them in."""
        index = cls(data["window_s"])
        for raw in data["events"]:
            event = Event.from_json(raw)
            index.events[event.id] = event
            for space, centroid in event.centroid.items():
                postings = index.postings[space]
                for key in centroid:
                    postings.setdefault(key, {})[event.id] = centroid
            index._expiry.append((event.last, event.seq, event.id))
        heapq.heapify(index._expiry)
        return index
