"""Clustering quality against gold labels: pairwise and B-cubed P/R/F1, NMI, ARI.

Plain Python over contingency counts (O(n + distinct pairs of labels)); no sklearn. NMI uses the
geometric normalisation I(C;K) / sqrt(H(C) H(K)), the one MStream (KDD 2018) reports.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Hashable, Sequence
from dataclasses import asdict, dataclass

__all__ = ["Scores", "adjusted_rand", "bcubed", "bcubed_losses", "nmi", "pairwise", "score"]


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def _tables(gold: Sequence[Hashable], predicted: Sequence[Hashable]) -> tuple[Counter, Counter, Counter]:
    if len(gold) != len(predicted):
        raise ValueError("gold and predicted must have the same length")
    return Counter(gold), Counter(predicted), Counter(zip(gold, predicted, strict=True))


def pairwise(gold: Sequence[Hashable], predicted: Sequence[Hashable]) -> tuple[float, float, float]:
    """Precision/recall/F1 over item pairs placed together (1.0 when there is nothing to get wrong)."""
    g, k, joint = _tables(gold, predicted)
    together = sum(_pairs(n) for n in joint.values())
    predicted_pairs = sum(_pairs(n) for n in k.values())
    gold_pairs = sum(_pairs(n) for n in g.values())
    p = together / predicted_pairs if predicted_pairs else 1.0
    r = together / gold_pairs if gold_pairs else 1.0
    return p, r, _f1(p, r)


def bcubed(
    gold: Sequence[Hashable], predicted: Sequence[Hashable], labels: Collection[Hashable] | None = None
) -> tuple[float, float, float]:
    """B-cubed precision/recall/F1 (Bagga & Baldwin 1998), each item weighing the same.

    An item's precision is the share of its predicted cluster with its gold label, its recall
    the share of its gold cluster in its predicted cluster; both include the item itself. With
    `labels`, the averages run over the items of those gold labels only, each still scored against
    its whole predicted cluster (held-out stories inside a stream of others: a held-out item in an
    event of other stories loses precision, which scoring a filtered list would not see).
    """
    g, k, joint = _tables(gold, predicted)
    cells = joint.items() if labels is None else [(key, c) for key, c in joint.items() if key[0] in labels]
    n = sum(c for _, c in cells)
    if n == 0:
        if labels is not None and gold:
            raise ValueError("no item carries any of the labels to score")  # not a perfect score
        return 1.0, 1.0, 1.0
    # Summing per (gold, predicted) cell: each of its `c` items scores c/|K| and c/|G|.
    p = sum(c * c / k[kk] for (_, kk), c in cells) / n
    r = sum(c * c / g[gg] for (gg, _), c in cells) / n
    return p, r, _f1(p, r)


def bcubed_losses(
    gold: Sequence[Hashable], predicted: Sequence[Hashable]
) -> tuple[dict[frozenset, float], dict[Hashable, float]]:
    """Where B-cubed loses, split exactly: 1 - precision over the unordered pairs of gold labels that
    share a predicted cluster (each of a's items there loses c_b / |K|, each of b's c_a / |K|), and
    1 - recall over the gold labels that clusters split. Pairs and labels that lose nothing are absent."""
    g, k, joint = _tables(gold, predicted)
    n = len(gold)
    cells_of: dict[Hashable, list[tuple[Hashable, int]]] = {}
    for (gg, kk), c in joint.items():
        cells_of.setdefault(kk, []).append((gg, c))
    precision: dict[frozenset, float] = {}
    for kk, cells in cells_of.items():
        for i, (a, ca) in enumerate(cells):
            for b, cb in cells[i + 1 :]:
                pair = frozenset((a, b))
                precision[pair] = precision.get(pair, 0.0) + 2.0 * ca * cb / k[kk] / n
    recall: dict[Hashable, float] = {}
    for (gg, _), c in joint.items():
        if c < g[gg]:
            recall[gg] = recall.get(gg, 0.0) + c * (g[gg] - c) / g[gg] / n
    return precision, recall


def _entropy(counts: Counter, n: int) -> float:
    return -sum(c / n * math.log(c / n) for c in counts.values() if c)


def nmi(gold: Sequence[Hashable], predicted: Sequence[Hashable]) -> float:
    """Normalised mutual information, sqrt(H(C) H(K)) normalisation; 1.0 when both are one cluster."""
    g, k, joint = _tables(gold, predicted)
    n = len(gold)
    if n == 0:
        return 1.0
    hg, hk = _entropy(g, n), _entropy(k, n)
    if hg == 0.0 and hk == 0.0:
        return 1.0
    if hg == 0.0 or hk == 0.0:
        return 0.0
    mi = sum(c / n * math.log(c * n / (g[gg] * k[kk])) for (gg, kk), c in joint.items())
    return max(0.0, mi / math.sqrt(hg * hk))


def adjusted_rand(gold: Sequence[Hashable], predicted: Sequence[Hashable]) -> float:
    """Hubert & Arabie's adjusted Rand index; 1.0 when the two partitions are identical."""
    g, k, joint = _tables(gold, predicted)
    n = len(gold)
    index = sum(_pairs(c) for c in joint.values())
    sum_g = sum(_pairs(c) for c in g.values())
    sum_k = sum(_pairs(c) for c in k.values())
    total = _pairs(n)
    if total == 0:
        return 1.0
    expected = sum_g * sum_k / total
    maximum = (sum_g + sum_k) / 2
    if maximum == expected:
        return 1.0
    return (index - expected) / (maximum - expected)


@dataclass(frozen=True)
class Scores:
    pairwise_p: float
    pairwise_r: float
    pairwise_f1: float
    bcubed_p: float
    bcubed_r: float
    bcubed_f1: float
    nmi: float
    ari: float
    items: int
    gold_clusters: int
    predicted_clusters: int

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def score(gold: Sequence[Hashable], predicted: Sequence[Hashable]) -> Scores:
    return Scores(
        *pairwise(gold, predicted),
        *bcubed(gold, predicted),
        nmi(gold, predicted),
        adjusted_rand(gold, predicted),
        len(gold),
        len(set(gold)),
        len(set(predicted)),
    )
