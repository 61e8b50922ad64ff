"""The UCI News Aggregator slice (../shared/peer/uci-news-stories) as a replayable stream of records."""

from __future__ import annotations

import csv
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from transforms.events import ClusterState, DecisionModel, Record, cluster_records

__all__ = ["UCI_SLICE", "LabelledRecord", "final_events", "load_uci"]

UCI_SLICE = Path(__file__).resolve().parents[2] / "shared/peer/uci-news-stories/uci-news-aggregator_slice.csv"


@dataclass(frozen=True)
class LabelledRecord:
    record: Record
    story: str
    category: str


def load_uci(path: Path = UCI_SLICE, categories: str = "btem", order: str = "time") -> list[LabelledRecord]:
    """Rows of the given categories in replay order.

    order="time": TIMESTAMP then ID, as the data set's README asks. Its timestamps are the
    aggregator's crawl times, though, and each story sits in one burst (67 stories, 67 runs), so
    order="shuffled" (a fixed-seed permutation) also replays them with every story open at once.
    """
    with open(path, newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["CATEGORY"] in categories]
    rows.sort(key=lambda r: (int(r["TIMESTAMP"]), int(r["ID"])))
    if order == "shuffled":
        random.Random(20140310).shuffle(rows)
    elif order != "time":
        raise ValueError(f"unknown order {order!r}")
    return [
        LabelledRecord(
            Record(
                id=r["ID"],
                title=r["TITLE"],
                published_at=datetime.fromtimestamp(int(r["TIMESTAMP"]) / 1000, UTC),
                publisher=r["PUBLISHER"],
                url=r["URL"],
                lang="en",
            ),
            r["STORY"],
            r["CATEGORY"],
        )
        for r in rows
    ]


def final_events(data: Sequence[LabelledRecord], model: DecisionModel) -> list[str]:
    """Each record's event after `data` is replayed in order through `transforms.events`, under the
    event's final id (a record whose event was merged away counts in the survivor): what every
    bench scores against the labels."""
    state = ClusterState(model)
    return [state.resolve(a.event_id) for a in cluster_records([d.record for d in data], state)]
