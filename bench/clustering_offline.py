"""Offline clustering of the labelled sets, each given its best setting by the answers: a baseline.

    .venv/bin/python bench/clustering_offline.py [--short-text DIR] [--seeds 3]

`bench/clustering_ceiling.py` asks how far the words could go if the stories were known. This
asks what the classical clusterers that see every item at once make of the same words (the space
`transforms.events` compares by, TF-IDF over the set, cosine), each with its one free parameter
chosen with the answers, which no clusterer running on news has:

- average-link agglomerative clustering, cut at the distance that scores the highest B-cubed F1
  (a grid over 0.50 .. 1.00 in steps of 0.005);
- spherical k-means (k-means++ seeding, cosine), with k the number of gold stories (and 1.5 k),
  the best of `--seeds` seeds.

Beside them, the online clustering's B-cubed F1 in the set's order (`transforms.events`, time order
on UCI). The online clustering is told nothing and decides each item once, on arrival.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.sparse import csr_matrix
from scipy.spatial.distance import squareform

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.clustering_ceiling import UCI_SLICES, tfidf  # noqa: E402
from bench.short_text_sets import SETS, load_short_text  # noqa: E402
from bench.uci_stories import LabelledRecord, final_events, load_uci  # noqa: E402
from transforms.events import DecisionModel  # noqa: E402
from transforms.events.metrics import bcubed  # noqa: E402

CUTS = np.arange(0.50, 1.0001, 0.005)


def average_link(x: np.ndarray, gold: list[str]) -> tuple[float, float, int]:
    """Best B-cubed F1 over the cuts of the average-link dendrogram: (F1, cut, clusters)."""
    # Cosine distance of unit rows; an item with no words is at distance 1 from everything.
    distances = np.clip(1.0 - x @ x.T, 0.0, 2.0)
    np.fill_diagonal(distances, 0.0)
    # squareform, not an index of the upper triangle: GoogleNews's index arrays alone took ~2 GB.
    tree = linkage(squareform(distances, checks=False), "average")
    best = (0.0, 0.0, 0)
    for cut in CUTS:
        labels = fcluster(tree, cut, "distance")
        f1 = bcubed(gold, labels.tolist())[2]
        if f1 > best[0]:
            best = (f1, float(cut), int(labels.max()))
    return best


def spherical_kmeans(dense: np.ndarray, k: int, seed: int, iterations: int = 50) -> list[int]:
    """k-means on the unit sphere (centroids renormalised, cosine assignment), k-means++ seeding."""
    x = csr_matrix(dense)  # a headline holds a dozen of the set's thousands of words
    rng = np.random.default_rng(seed)
    n = x.shape[0]
    chosen = [int(rng.integers(n))]
    nearest = 1.0 - x @ dense[chosen[0]]
    for _ in range(k - 1):
        weights = np.clip(nearest, 0.0, None) ** 2
        total = weights.sum()
        # Every item already on a chosen centre (identical or empty rows): any item will do.
        pick = int(rng.choice(n, p=weights / total)) if total > 0 else int(rng.integers(n))
        chosen.append(pick)
        nearest = np.minimum(nearest, 1.0 - x @ dense[pick])
    centroids = dense[chosen].copy()
    labels = np.zeros(n, dtype=int)
    for _ in range(iterations):
        labels = np.asarray(np.argmax(x @ centroids.T, axis=1)).ravel()
        members = csr_matrix((np.ones(n, dtype=dense.dtype), (labels, np.arange(n))), shape=(k, n))
        sums = (members @ x).toarray()
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        # A centroid that lost every item keeps its place rather than vanish.
        moved = np.where(norms > 0.0, sums / np.where(norms > 0.0, norms, 1.0), centroids)
        if np.allclose(moved, centroids):
            break
        centroids = moved
    return labels.tolist()


def report(name: str, data: list[LabelledRecord], model: DecisionModel, seeds: int) -> None:
    gold = [d.story for d in data]
    stories = len(set(gold))
    x = tfidf(data).astype(np.float32)
    f1, cut, clusters = average_link(x, gold)
    kmeans = []
    for k in (stories, stories * 3 // 2):
        kmeans.append(max(bcubed(gold, spherical_kmeans(x, k, seed))[2] for seed in range(seeds)))
    online = bcubed(gold, final_events(data, model))[2]
    print(
        f"{name:<26}{len(data):>6} {stories:>5}   {f1:.3f} {cut:>5.3f} {clusters:>5}"
        f"   {kmeans[0]:.3f}  {kmeans[1]:.3f}    {online:.3f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short-text", type=Path, help="folder with GoogleNews.txt etc. (bench/short_text_sets.py)")
    parser.add_argument("--seeds", type=int, default=3, help="k-means seeds; the best is reported")
    parser.add_argument("--model", help="model JSON for the online column (default: the packaged one)")
    args = parser.parse_args()
    model = DecisionModel.load(args.model)
    started = time.perf_counter()
    print("offline clusterers, each at its best setting chosen with the answers; B-cubed F1, words space")
    print(f"{'':<26}{'':>6} {'':>5}   {'average link':<17}   {'k-means':<13}    online")
    print(f"{'set':<26}{'items':>6} {'gold':>5}   F1    cut   clusters k=gold k=1.5gold  (told nothing)")
    for name, categories in UCI_SLICES[:4]:
        report(f"UCI {name} (time)", load_uci(categories=categories), model, args.seeds)
    if args.short_text:
        for name in SETS:
            report(f"{name} (file order)", load_short_text(args.short_text, name), model, args.seeds)
    print(f"time: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
