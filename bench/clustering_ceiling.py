"""How separable the labelled stories are in the clustering's own representation: a supervised ceiling.

    .venv/bin/python bench/clustering_ceiling.py [--short-text DIR] [--window-hours 336 24 12 6]

For every item, the *nearest gold-story centroid* decides its story: the centroid of each labelled
story's other items (leave-one-out), in the word space `w` that `transforms.events` compares
items by (`representation.raw_features`: title and lead stems, title word pairs, amounts, slug
words), TF-IDF with IDF over the slice's documents, cosine. It is told everything a clusterer
never is: the number of stories, every story's members, future ones included. What it still
gets wrong are items whose words are closer to another story than to their own. B-cubed can pay
more for two such stories as one cluster than for the two split by their words, so "+merges" is
its F1 after the merges of whole stories that raise it most, one at a time while one does (a
greedy search, chosen with the answers too): the ceiling quoted for this representation ("share"
is the online clustering's part of it). The distance from it to `bench/clustering_quality.py`'s
online figures is what better decisions could still win; the rest needs other evidence than the
words. An item that shares no word with any story it may join stays on its own.

Then, for each of --window-hours (336, 24, 12 and 6 by default), the nearest-centroid F1 (before
merges) when a story may be chosen only if one of its other items is within that many hours of
the item: UCI's timestamps are crawl times that put each story in a burst of minutes, so a narrow
window measures that artefact, not news (a day's market reports are one story a day in real
news, and stories run for days).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.short_text_sets import SETS, load_short_text  # noqa: E402
from bench.uci_stories import LabelledRecord, final_events, load_uci  # noqa: E402
from transforms.events import DecisionModel  # noqa: E402
from transforms.events.metrics import score  # noqa: E402
from transforms.events.representation import event_idf, raw_features  # noqa: E402

UCI_SLICES = [("all", "btem"), ("business", "b"), ("entertainment", "e"), ("tech", "t"), ("health", "m")]


def tfidf(data: list[LabelledRecord]) -> np.ndarray:
    """Unit TF-IDF rows of the word space (sub-linear TF as in `representation`, IDF over these documents)."""
    raws = [raw_features(d.record)[0] for d in data]
    df: dict[str, int] = defaultdict(int)
    for raw in raws:
        for key in raw:
            df[key] += 1
    column = {key: i for i, key in enumerate(df)}
    n = len(raws)
    matrix = np.zeros((n, len(column)))
    for row, raw in enumerate(raws):
        for key, tf in raw.items():
            # The production weighting, with documents standing in for open events.
            matrix[row, column[key]] = (1.0 + math.log(tf) if tf > 1.0 else tf) * event_idf(df[key], n)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0.0] = 1.0
    return matrix / norms


def story_numbers(data: list[LabelledRecord]) -> tuple[list[str], np.ndarray]:
    """The slice's stories in sorted order, and each item's story as its number in that order."""
    stories = sorted({d.story for d in data})
    number = {story: i for i, story in enumerate(stories)}
    return stories, np.array([number[d.story] for d in data])


def leave_one_out_cosines(data: list[LabelledRecord]) -> np.ndarray:
    """Items x stories (in sorted story order): each item's cosine to each story's centroid, its own
    story's taken without it; -inf for its own story when that has no other item (no centroid)."""
    stories, gold = story_numbers(data)
    x = tfidf(data)
    sums = np.zeros((len(stories), x.shape[1]))
    np.add.at(sums, gold, x)
    rows = np.arange(len(data))
    dots = x @ sums.T
    dots[rows, gold] -= (x * x).sum(axis=1)
    norms = np.repeat(np.linalg.norm(sums, axis=1)[None, :], len(data), axis=0)
    norms[rows, gold] = np.linalg.norm(sums[gold] - x, axis=1)
    cosines = np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0.0)
    sizes = np.bincount(gold, minlength=len(stories))
    cosines[rows, gold] = np.where(sizes[gold] > 1, cosines[rows, gold], -np.inf)
    return cosines


def nearest_centroid(
    data: list[LabelledRecord], window_hours: float | None = None, cosines: np.ndarray | None = None
) -> list[int]:
    """Each item's nearest gold-story centroid (its own story's without it), as a story number;
    `cosines`: `leave_one_out_cosines(data)` when the caller has them (they are not changed)."""
    stories, gold = story_numbers(data)
    rows = np.arange(len(data))
    cosines = (leave_one_out_cosines(data) if cosines is None else cosines).copy()
    if window_hours is not None:
        times = np.array([d.record.published_at.timestamp() if d.record.published_at else 0.0 for d in data])
        span = window_hours * 3600.0
        for s in range(len(stories)):
            members = np.sort(times[gold == s])
            # Items with another member of story s within the window: two members when s is the
            # item's own story (the item itself is one of them).
            lo = np.searchsorted(members, times - span, side="left")
            hi = np.searchsorted(members, times + span, side="right")
            needed = np.where(gold == s, 2, 1)
            cosines[(hi - lo) < needed, s] = -np.inf
    chosen = cosines.argmax(axis=1)
    # An item that shares no word with any story it may join (or has none) is not placed by a
    # tie: it stays on its own, under a number no story has.
    alone = cosines[rows, chosen] <= 0.0
    return [len(stories) + i if alone[i] else int(c) for i, c in enumerate(chosen)]


def with_best_merges(gold: list[int], predicted: list[int], stories: int) -> float:
    """B-cubed F1 of `predicted` after the merges of whole predicted stories that raise it most, one
    at a time while one does (chosen with the answers). B-cubed can pay more for two confusable
    stories as one cluster than for the two split by their words, so this is the ceiling to quote.
    Labels from `stories` on are items left on their own: they are never merged (that would be
    placing them by the answers alone)."""
    columns = {label: i for i, label in enumerate(sorted(set(predicted)))}
    is_story = np.array([label < stories for label in sorted(columns)])
    table = np.zeros((max(gold) + 1, len(columns)))  # gold story x predicted cluster
    np.add.at(table, (np.array(gold), np.array([columns[p] for p in predicted])), 1.0)
    n, gold_sizes = float(len(gold)), table.sum(axis=1)
    while True:
        sizes = table.sum(axis=0)
        live = sizes > 0
        # B-cubed precision and recall sums, and what merging clusters a and b adds to each, for
        # all pairs at once: sum_g (t_ga + t_gb)^2 = A_aa + A_bb + 2 A_ab with A = T'T.
        a = table.T @ table
        b = table.T @ (table / np.where(gold_sizes > 0, gold_sizes, 1.0)[:, None])
        diag, safe = np.diag(a), np.where(live, sizes, 1.0)
        p_sum = (diag / safe).sum()
        r_sum = np.trace(b)
        joined = sizes[:, None] + sizes[None, :]
        p_new = p_sum + (diag[:, None] + diag[None, :] + 2 * a) / np.where(joined > 0, joined, 1.0)
        p_new -= (diag / safe)[:, None] + (diag / safe)[None, :]
        r_new = r_sum + 2 * b
        p_new, r_new = p_new / n, r_new / n
        f1 = 2 * p_new * r_new / np.where(p_new + r_new > 0, p_new + r_new, 1.0)
        mergeable = live & is_story
        pairable = mergeable[:, None] & mergeable[None, :] & ~np.eye(len(sizes), dtype=bool)
        f1 = np.where(pairable, f1, -1.0)
        best = 2 * (p_sum / n) * (r_sum / n) / ((p_sum + r_sum) / n)
        i, j = np.unravel_index(int(np.argmax(f1)), f1.shape)
        if f1[i, j] <= best + 1e-12:
            return float(best)
        table[:, i] += table[:, j]
        table[:, j] = 0.0


def report(name: str, data: list[LabelledRecord], model: DecisionModel, windows: list[float]) -> None:
    gold = [d.story for d in data]
    cosines = leave_one_out_cosines(data)  # once: the windows only mask it
    predicted = nearest_centroid(data, cosines=cosines)
    ceiling = score(gold, predicted)  # story numbers against story names: the measures need no common naming
    stories, numbers = story_numbers(data)
    merged = with_best_merges(numbers.tolist(), predicted, len(stories))
    accuracy = sum(1 for story, p in zip(gold, predicted, strict=True) if p < len(stories) and stories[p] == story)
    ours = score(gold, final_events(data, model)).bcubed_f1
    cells = "".join(f"{score(gold, nearest_centroid(data, h, cosines)).bcubed_f1:>7.3f}" for h in windows)
    print(
        f"{name:<26}{len(data):>6} {len({*gold}):>4}  {accuracy / len(data):.3f}  {ceiling.bcubed_p:.3f} "
        f"{ceiling.bcubed_r:.3f} {ceiling.bcubed_f1:.3f}  {ceiling.nmi:.3f}   "
        f"{merged:.3f}   {ours:.3f} {ours / merged:>5.0%}   {cells}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short-text", type=Path, help="folder with GoogleNews.txt etc. (bench/short_text_sets.py)")
    parser.add_argument("--window-hours", type=float, nargs="*", default=[336.0, 24.0, 12.0, 6.0])
    parser.add_argument("--model", help="model JSON for the online column (default: the packaged one)")
    args = parser.parse_args()
    model = DecisionModel.load(args.model)
    started = time.perf_counter()
    windows = "".join(f"{f'{h:.0f}h':>7}" for h in args.window_hours)
    print("supervised ceiling: each item -> nearest gold-story centroid (leave-one-out), words space, cosine")
    print(
        f"{'':<26}{'':>6} {'':>4}  {'':<5}  {'nearest centroid':<26}{'':<9}{'':<8}{'':<5}"
        f"{'  nearest centroid within' if windows else ''}"
    )
    print(
        f"{'slice':<26}{'items':>6} {'gold':>4}  {'acc':<5}  B3 P  R     F1     NMI    +merges  online  share{windows}"
    )
    for name, categories in UCI_SLICES:
        report(f"UCI {name} (time)", load_uci(categories=categories), model, args.window_hours)
    if args.short_text:
        for name in SETS:
            # No timestamps: no window columns.
            report(f"{name} (file order)", load_short_text(args.short_text, name), model, [])
    print(f"time: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
