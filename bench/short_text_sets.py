"""Labelled short-text sets of the stream-clustering literature, as replayable streams of records.

`GoogleNews` is the "News" set of GSDMM (Yin & Wang, KDD 2014) and MStream (Yin et al., KDD 2018):
11,109 titles of a Google News snapshot (2013-11-27) in the 152 stories Google News had grouped
them into, already lower-cased, stop-worded and stemmed by its authors. `Tweet` is their TREC
microblog set: 2,472 tweets in 89 query clusters. Both ship as `<name>.txt` (one text per line)
and `<name>_LABEL.txt` (one cluster id per line) in the `dataset/` folder of the STTM toolkit
(github.com/qiang2100/STTM). They carry no licence, so this repository does not bundle them: pass
the folder that holds them (`bench/clustering_quality.py --short-text DIR`).

They have no timestamps (the literature replays them in file order); every record gets the
snapshot's date, so the 14-day window never closes an event and only content decides.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

from bench.uci_stories import LabelledRecord
from transforms.events import Record

__all__ = ["SETS", "load_short_text"]

SETS = ("GoogleNews", "Tweet")
_SNAPSHOT = datetime(2013, 11, 27, tzinfo=UTC)


def load_short_text(directory: Path, name: str, order: str = "file") -> list[LabelledRecord]:
    """The set's records in file order, or in a fixed-seed shuffle (order="shuffled")."""
    texts_path, labels_path = directory / f"{name}.txt", directory / f"{name}_LABEL.txt"
    for path in (texts_path, labels_path):
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: copy dataset/{path.name} of github.com/qiang2100/STTM there")
    texts = texts_path.read_text(encoding="utf-8").splitlines()
    labels = labels_path.read_text(encoding="utf-8").split()
    if len(texts) != len(labels):
        raise ValueError(f"{texts_path.name} has {len(texts)} lines but {labels_path.name} {len(labels)} labels")
    rows = list(enumerate(zip(texts, labels, strict=True)))
    if order == "shuffled":
        random.Random(20131127).shuffle(rows)
    elif order != "file":
        raise ValueError(f"unknown order {order!r}")
    return [
        LabelledRecord(Record(id=f"{name}:{n}", title=text, published_at=_SNAPSHOT, lang="en"), label, name)
        for n, (text, label) in rows
    ]
