"""Windowed logic of the pipeline: mentions per event per event-time window.

Every clustered item (duplicates included: a repost is still a mention) counts once in the
fixed window of its published_at. On these machines no local runner fires windows over a
Kafka source (DESIGN.md §7), so the processor's micro-batches are bounded; this transform is
the runner-agnostic windowed aggregate, tested with TestStream, that a streaming runner
(Flink, Dataflow) runs as is.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import NamedTuple

import apache_beam as beam
from apache_beam.transforms import window
from apache_beam.utils.timestamp import Duration

from schemas.item import Item

__all__ = ["EventMentions", "MentionsPerEventWindow"]


class EventMentions(NamedTuple):
    event_id: str
    window_start: datetime
    window_end: datetime
    mentions: int


def _event_time(item: Item) -> Iterator[window.TimestampedValue]:
    # Items without an event (off-topic) or without a date are not mentions of anything.
    if item.event_id is not None and item.published_at is not None:
        yield window.TimestampedValue(item.event_id, item.published_at.timestamp())


def _stamp(kv: tuple[str, int], win: window.IntervalWindow = beam.DoFn.WindowParam) -> EventMentions:
    event_id, count = kv
    return EventMentions(
        event_id=event_id,
        window_start=datetime.fromtimestamp(float(win.start), tz=UTC),
        window_end=datetime.fromtimestamp(float(win.end), tz=UTC),
        mentions=count,
    )


class MentionsPerEventWindow(beam.PTransform):
    """Items with event_id -> EventMentions per (event, fixed event-time window).

    `window_seconds` sizes the windows (default one hour); items arriving later than
    `allowed_lateness_seconds` behind the watermark are dropped by the runner.
    """

    def __init__(self, window_seconds: int = 3600, allowed_lateness_seconds: int = 0,
                 label: str | None = None) -> None:
        super().__init__(label)
        if window_seconds <= 0:
            raise ValueError("window_seconds must be > 0")
        if allowed_lateness_seconds < 0:
            raise ValueError("allowed_lateness_seconds must be >= 0")
        self._window_seconds = window_seconds
        self._allowed_lateness = allowed_lateness_seconds

    def expand(self, items: beam.PCollection) -> beam.PCollection:
        return (
            items
            | "EventTime" >> beam.FlatMap(_event_time)
            | "FixedWindows" >> beam.WindowInto(
                window.FixedWindows(self._window_seconds),
                allowed_lateness=Duration(seconds=self._allowed_lateness),
            )
            | "CountPerEvent" >> beam.combiners.Count.PerElement()
            | "StampWindow" >> beam.Map(_stamp)
        )
