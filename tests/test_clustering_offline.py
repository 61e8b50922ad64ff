"""The offline baselines of bench/clustering_offline.py on hand-made stories whose answers are plain:
the README quotes their figures beside the online clustering's, so their arithmetic must hold."""

from __future__ import annotations

import numpy as np

from bench.clustering_ceiling import tfidf
from bench.clustering_offline import average_link, spherical_kmeans
from bench.uci_stories import LabelledRecord
from transforms.events import Record
from transforms.events.metrics import bcubed

STORIES = {
    "gox": ["Mt Gox bitcoin exchange files bankruptcy", "Bitcoin exchange Mt Gox bankruptcy filing", "Mt Gox bitcoin"],
    "sbarro": ["Sbarro pizza chain closes stores", "Pizza chain Sbarro closes stores early", "Sbarro pizza chain"],
    "titan": ["Titanfall servers strain on launch", "Titanfall launch servers strain", "Titanfall launch"],
}


def _data() -> list[LabelledRecord]:
    rows = [(story, title) for story, titles in STORIES.items() for title in titles]
    return [LabelledRecord(Record(id=f"r{n}", title=title), story, "t") for n, (story, title) in enumerate(rows)]


def test_average_link_finds_the_cut_that_separates_the_stories() -> None:
    data = _data()
    f1, cut, clusters = average_link(tfidf(data), [d.story for d in data])
    assert (f1, clusters) == (1.0, 3)
    assert 0.5 <= cut < 1.0


def test_spherical_kmeans_with_the_stories_number_separates_them_and_is_seeded() -> None:
    data = _data()
    x, gold = tfidf(data), [d.story for d in data]
    # The bench reports the best of its seeds: k-means may settle in a local optimum on any one.
    runs = [spherical_kmeans(x, 3, seed) for seed in range(3)]
    assert max(bcubed(gold, labels)[2] for labels in runs) == 1.0
    assert runs[0] == spherical_kmeans(x, 3, seed=0)
    # One cluster for everything: recall 1, precision a third.
    assert bcubed(gold, spherical_kmeans(x, 1, seed=0)) == (1 / 3, 1.0, 0.5)
    assert np.isclose(np.linalg.norm(x, axis=1), 1.0).all()
