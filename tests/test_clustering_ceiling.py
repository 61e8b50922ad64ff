"""The supervised ceiling of bench/clustering_ceiling.py on hand-made stories, whose right answers
are plain: the README quotes its figures as what the words allow, so its arithmetic must hold."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from bench.clustering_ceiling import nearest_centroid, with_best_merges
from bench.uci_stories import LabelledRecord
from transforms.events import Record
from transforms.events.metrics import score

T0 = datetime(2014, 3, 10, 9, tzinfo=UTC)


def _item(n: int, title: str, story: str, hours: float = 0.0) -> LabelledRecord:
    return LabelledRecord(Record(id=f"r{n}", title=title, published_at=T0 + timedelta(hours=hours)), story, "t")


def _stories() -> list[LabelledRecord]:
    titles = {
        "gox": ["Mt Gox bitcoin exchange files bankruptcy", "Bitcoin exchange Mt Gox bankruptcy filing", "Gox bitcoin"],
        "sbarro": ["Sbarro pizza chain files bankruptcy", "Pizza chain Sbarro closes stores", "Sbarro pizza"],
        "titan": ["Titanfall review roundup", "Titanfall servers strain on launch day"],
    }
    rows = [(story, title) for story, ts in titles.items() for title in ts]
    return [_item(n, title, story) for n, (story, title) in enumerate(rows)]


def test_each_item_goes_to_the_nearest_centroid_of_the_other_items() -> None:
    data = _stories()
    stories = sorted({d.story for d in data})
    predicted = [stories[p] for p in nearest_centroid(data)]
    assert predicted == [d.story for d in data]


def test_an_item_that_shares_no_word_stays_alone_and_a_singleton_story_is_never_its_own() -> None:
    data = [*_stories(), _item(99, "Quarterly weather outlook", "weather")]
    stories = sorted({d.story for d in data})
    predicted = nearest_centroid(data)
    # Its own story has no other item, and it shares no word with the rest: a number no story has.
    assert predicted[-1] >= len(stories)
    assert [stories[p] for p in predicted[:-1]] == [d.story for d in data[:-1]]


def test_a_window_keeps_an_item_from_stories_with_no_item_near_it_in_time() -> None:
    data = _stories()
    late = _item(50, "Titanfall patch notes", "titan", hours=48.0)
    data = [*data, late]
    stories = sorted({d.story for d in data})
    assert stories[nearest_centroid(data)[-1]] == "titan"
    # Within 24 hours the other Titanfall items are too far: nothing it may join, so it stays alone.
    assert nearest_centroid(data, window_hours=24.0)[-1] >= len(stories)
    assert stories[nearest_centroid(data, window_hours=72.0)[-1]] == "titan"


def test_merges_of_whole_stories_are_taken_only_when_they_raise_bcubed_f1() -> None:
    # Two stories their words mix 3:2 both ways: as one cluster they score more than split.
    gold = [0] * 5 + [1] * 5
    predicted = [0, 0, 0, 1, 1, 1, 1, 1, 0, 0]
    split = score(gold, predicted).bcubed_f1
    merged = score(gold, [0] * 10).bcubed_f1
    assert merged > split
    assert abs(with_best_merges(gold, predicted, 2) - merged) < 1e-12
    # Clean stories: no merge pays, the figure is the assignment's own.
    clean = [0, 0, 0, 1, 1, 1, 2, 2]
    assert abs(with_best_merges(clean, clean, 3) - 1.0) < 1e-12
    # An item left alone (label >= stories) is never merged, even where that would pay.
    assert abs(with_best_merges([0, 0, 0], [0, 0, 5], 1) - score([0, 0, 0], [0, 0, 5]).bcubed_f1) < 1e-12


def test_each_merge_step_is_the_best_single_merge() -> None:
    gold = [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3]
    predicted = [0, 1, 0, 1, 1, 2, 2, 3, 2, 3, 0]
    best_single = max(
        score(gold, [a if p == b else p for p in predicted]).bcubed_f1
        for a, b in itertools.combinations(sorted(set(predicted)), 2)
    )
    result = with_best_merges(gold, predicted, 4)
    assert result >= best_single - 1e-12
    assert result >= score(gold, predicted).bcubed_f1
