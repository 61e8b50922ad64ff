"""B-cubed's losses split by story (`metrics.bcubed_losses`, printed by bench/clustering_losses.py):
the split must add up to exactly what `bcubed` reports, since the README and the closing note read it so."""

from __future__ import annotations

import pytest

from bench.clustering_losses import headline_linked_pairs
from transforms.events.metrics import bcubed, bcubed_losses

# Three stories; cluster "x" holds four of gox and two of sbarro, "y" the rest of sbarro and one
# gox, "z" titan alone, and one titan item sits in "y" too.
GOLD = ["gox"] * 5 + ["sbarro"] * 4 + ["titan"] * 3
PREDICTED = ["x", "x", "x", "x", "y", "x", "x", "y", "y", "z", "z", "y"]


def test_precision_loss_by_pair_adds_up_to_one_minus_precision() -> None:
    loss, _ = bcubed_losses(GOLD, PREDICTED)
    p, _, _ = bcubed(GOLD, PREDICTED)
    assert sum(loss.values()) == pytest.approx(1.0 - p)
    # Cluster x (4 gox + 2 sbarro): each gox item loses 2/6, each sbarro item 4/6, over 12 items.
    x = (4 * 2 / 6 + 2 * 4 / 6) / 12
    # Cluster y (1 gox, 2 sbarro, 1 titan), pair (gox, sbarro): 1 * 2/4 + 2 * 1/4.
    y = (1 * 2 / 4 + 2 * 1 / 4) / 12
    assert loss[frozenset(("gox", "sbarro"))] == pytest.approx(x + y)
    assert loss[frozenset(("sbarro", "titan"))] == pytest.approx((2 * 1 / 4 + 1 * 2 / 4) / 12)
    assert set(loss) == {frozenset(("gox", "sbarro")), frozenset(("sbarro", "titan")), frozenset(("gox", "titan"))}


def test_recall_loss_by_story_adds_up_to_one_minus_recall_and_skips_whole_stories() -> None:
    _, loss = bcubed_losses(GOLD, PREDICTED)
    _, r, _ = bcubed(GOLD, PREDICTED)
    assert sum(loss.values()) == pytest.approx(1.0 - r)
    # gox: 4 items in x each miss 1/5, the one in y misses 4/5.
    assert loss["gox"] == pytest.approx((4 * 1 / 5 + 1 * 4 / 5) / 12)
    assert bcubed_losses(["a", "a", "b"], ["k", "k", "j"])[1] == {}


def test_identical_headlines_link_their_stories_whatever_the_case_and_spacing() -> None:
    titles = ["Mt. Gox files for US bankruptcy", "mt. gox  files for US bankruptcy", "Sbarro files again", "Other"]
    linked = headline_linked_pairs(titles, ["gox-1", "gox-2", "sbarro", "gox-1"])
    assert linked == {frozenset(("gox-1", "gox-2")): ["Mt. Gox files for US bankruptcy"]}
    assert headline_linked_pairs(["Same", "Same"], ["a", "a"]) == {}


def test_a_clustering_that_loses_nothing_loses_nothing_by_pair() -> None:
    # UCI's health slice comes out at precision 1.0: the report must not divide by what was lost.
    assert bcubed_losses(["a", "a", "b"], ["k", "k", "j"])[0] == {}
