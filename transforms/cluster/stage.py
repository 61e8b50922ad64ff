"""Stage 5 as a Beam PTransform: `ClusterIntoEvents` over `cluster_batch`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
from apache_beam import pvalue

from schemas.item import Item
from transforms.cluster.assign import cluster_batch
from transforms.cluster.index import EventIndex, as_event_index_side_input
from transforms.events import ClusterState


class _AssignEventsFn(beam.DoFn):
    """All items of the batch at once (one key), so assignment sees them in a fixed order."""

    def __init__(self, cluster_state: ClusterState | None) -> None:
        super().__init__()
        self._cluster_state = cluster_state

    def process(self, keyed: tuple[str, Iterable[Item]], event_index: EventIndex) -> Iterator[Any]:
        _, batch = keyed
        placed = cluster_batch(batch, event_index, self._cluster_state)
        yield from placed.items
        for letter in placed.dead_letters:
            yield pvalue.TaggedOutput("dead_letter", letter)
        yield pvalue.TaggedOutput("members", placed.members)


_BATCH_KEY = "batch"


class ClusterIntoEvents(beam.PTransform):
    """Items (deduplicated, classified, extracted) -> the same items with event_id set.

    Outputs `good` (items), `dead_letter` (DeadLetter, stage "cluster": items that cannot
    be placed in time) and `members` (one EventIndex: the earlier members scoring must read, with
    merged-away events re-pointed; nothing for an empty batch). `event_index` is the EventIndex
    of earlier batches, as an AsSingleton side input, a one-element PCollection, a plain
    EventIndex, or None for an empty one;
    `cluster_state` the online clustering's state after earlier batches (None: a fresh one).
    """

    def __init__(
        self, event_index: Any = None, *, cluster_state: ClusterState | None = None, label: str | None = None
    ) -> None:
        super().__init__(label)
        self._cluster_state = cluster_state
        if not (event_index is None or isinstance(event_index, EventIndex | pvalue.AsSideInput | pvalue.PCollection)):
            raise ValueError(f"event_index must be an EventIndex, a PCollection or a side input, not {event_index!r}")
        self._event_index = event_index

    def expand(self, items: beam.PCollection) -> pvalue.DoOutputsTuple:
        index = as_event_index_side_input(self._event_index, items.pipeline, "EmptyEventIndex")
        return (
            items
            | "KeyByBatch" >> beam.Map(lambda item: (_BATCH_KEY, item))
            | "GatherBatch" >> beam.GroupByKey()
            | "AssignEvents"
            >> beam.ParDo(_AssignEventsFn(self._cluster_state), index).with_outputs(
                "dead_letter", "members", main="good"
            )
        )
