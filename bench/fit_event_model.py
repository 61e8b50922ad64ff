"""Fit the join-vs-new model of `transforms/events` on labelled stories, choose its threshold, and
(with --write) store both in `transforms/events/model.json`.

How (the record of it goes into model.json's "note"):
1. Examples: replay the *fit* stories in arrival order with teacher forcing (each gold story is
   one event, built as the stream goes), and for every item take the index's top candidates:
   features of (item, candidate), label = "the candidate is the item's story". Then a second
   round replays with the fitted model itself (no forcing) and adds its candidates, labelled by
   the candidate event's majority story, so the model also learns the fragments it will meet.
2. Logistic regression with a small L2 penalty, fitted by Newton's method (numpy).
3. Threshold: the probability cut that maximises B-cubed F1 when the fit stories are replayed
   for real (the mean over time order and a shuffled order: in UCI's crawl order each story is
   one burst, which teaches a model to trust whatever is open), the plain argmax over the grid;
   the held-out stories are never looked at until the figures are printed.
4. Merge model: a logistic model over two events' centroid cosines and sizes, fitted on every
   merge those replays consider (label: both events' majority story agree; weight: the smaller
   event's size, which is what a wrong or missed merge costs in B-cubed), in two rounds like the
   join model; then its probability cut over a grid, the join threshold held.

    .venv/bin/python bench/fit_event_model.py --fit be --eval tm [--short-text DIR] [--write [--force]]

--write replaces the packaged model only when the refit scores higher on the held-out stories (the
packaged weights are an older fit, which a refit of today's code does not reach); --out FILE keeps a
refit elsewhere; --force replaces it anyway.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.short_text_sets import SETS, load_short_text  # noqa: E402
from bench.uci_stories import LabelledRecord, final_events, load_uci  # noqa: E402
from transforms.events.assign import (  # noqa: E402
    FEATURES,
    MERGE_FEATURES,
    ClusterState,
    DecisionModel,
    merge_features,
    pair_features,
)
from transforms.events.index import Event, EventIndex  # noqa: E402
from transforms.events.metrics import score  # noqa: E402
from transforms.events.representation import represent  # noqa: E402

MODEL_PATH = Path(__file__).resolve().parent.parent / "transforms" / "events" / "model.json"
THRESHOLDS = [round(0.1 * i, 2) for i in range(2, 9)]
# The final joint grid with the merge model (coarser: each point is two replays of the fit stories).
JOIN_THRESHOLDS = [0.3, 0.4, 0.5, 0.6, 0.7]
# Chosen by hand, see model.json's note: the largest floor costing <= 0.03 B-cubed F1 on the fit split.
MIN_COSINE = 0.2
MERGE_THRESHOLDS = [0.1, 0.15, 0.2, 0.25, 0.3, 2.0]
# With a merge model the merge threshold is a probability.
MERGE_PROBABILITIES = [0.3, 0.4, 0.5, 0.6, 0.7, 0.8]
# The collection replay merges at this word-centroid cosine: low, so that it meets many wrong
# merges as well as right ones.
MERGE_COLLECT_COSINE = 0.12


def forced_examples(data: list[LabelledRecord], window_hours: float) -> tuple[list[list[float]], list[int]]:
    index = EventIndex(window_hours * 3600.0)
    xs: list[list[float]] = []
    ys: list[int] = []
    for seq, item in enumerate(data, start=1):
        rep = represent(item.record, index.postings, len(index.events))
        time = rep.time or 0.0
        index.expire(time)
        candidates = index.candidates(rep)
        xs.extend(pair_features(rep, candidates))
        ys.extend(int(c.event.id == item.story) for c in candidates)
        event = index.events.get(item.story)
        if event is None:
            index.create(item.story, seq, rep, time)
        else:
            dots = {s: sum(w * event.centroid[s].get(k, 0.0) for k, w in v.items()) for s, v in rep.vectors.items()}
            index.add(event, rep, time, dots)
    return xs, ys


def free_examples(data: list[LabelledRecord], model: DecisionModel) -> tuple[list[list[float]], list[int]]:
    """Candidates met by the model running on its own, labelled by each event's majority story."""
    state = ClusterState(model)
    stories: dict[str, Counter[str]] = defaultdict(Counter)
    xs: list[list[float]] = []
    ys: list[int] = []
    for item in data:
        rep = represent(item.record, state.index.postings, len(state.index.events))
        assert state.index is not None
        candidates = state.index.candidates(rep)
        xs.extend(pair_features(rep, candidates))
        ys.extend(int(stories[c.event.id].most_common(1)[0][0] == item.story) for c in candidates)
        assignment = state.assign(item.record)
        stories[state.resolve(assignment.event_id)][item.story] += 1
    return xs, ys


class _WatchedState(ClusterState):
    """A replay that records every merge it considers, with both events' majority stories."""

    def __init__(
        self,
        model: DecisionModel,
        stories: dict[str, Counter[str]],
        seen: list[tuple[list[float], int, float]],
        story_sizes: Counter[str] | None = None,
    ) -> None:
        super().__init__(model)
        self.stories = stories
        self.seen = seen
        self.story_sizes = story_sizes

    def _should_merge(self, event: Event, other: Event) -> bool:
        a, b = self.stories.get(event.id), self.stories.get(other.id)
        if a and b:
            story_a, story_b = a.most_common(1)[0][0], b.most_common(1)[0][0]
            label = int(story_a == story_b)
            # A wrong merge costs B-cubed precision in proportion to the smaller side (roughly),
            # a missed one recall likewise: weigh each example by it.
            weight = float(min(event.size, other.size))
            if not label and self.story_sizes is not None:
                # A wrong merge also costs what is still to come: the smaller story's later headlines
                # join the mixed event too (a story's first headline merged into another story costs
                # all of it). The geometric mean with the size now: the whole story alone made the
                # model merge too little (bench/README.md, "A wrong merge weighed by what it will cost").
                weight = math.sqrt(weight * min(self.story_sizes[story_a], self.story_sizes[story_b]))
            self.seen.append((merge_features(event, other), label, weight))
        return super()._should_merge(event, other)


def merge_examples(
    data: list[LabelledRecord], model: DecisionModel, future_cost: bool = True
) -> list[tuple[list[float], int, float]]:
    stories: dict[str, Counter[str]] = defaultdict(Counter)
    seen: list[tuple[list[float], int, float]] = []
    state = _WatchedState(model, stories, seen, Counter(d.story for d in data) if future_cost else None)
    for item in data:
        assignment = state.assign(item.record)
        for absorbed in assignment.merged:
            stories[state.resolve(absorbed)].update(stories.pop(absorbed, Counter()))
        stories[state.resolve(assignment.event_id)][item.story] += 1
    return seen


def fit_merge(replays: list[list[LabelledRecord]], model: DecisionModel, future_cost: bool = True) -> DecisionModel:
    """Two rounds: examples from replays merging by a permissive centroid cosine, then from the
    fitted merge model's own replays (so it also learns the pairs its own choices lead to)."""
    seen: list[tuple[list[float], int, float]] = []
    for data in replays:
        seen += merge_examples(
            data, replace(model, merge_weights=(), merge_threshold=MERGE_COLLECT_COSINE), future_cost
        )
    for _ in range(2):
        weights = fit_logistic([f for f, _, _ in seen], [y for _, y, _ in seen], sample_weight=[w for _, _, w in seen])
        model = replace(model, merge_weights=tuple(float(round(w, 4)) for w in weights), merge_threshold=0.5)
        for data in replays:
            seen = seen + merge_examples(data, model, future_cost)
    return model


def fit_logistic(
    xs: list[list[float]],
    ys: list[int],
    l2: float = 1.0,
    iterations: int = 50,
    sample_weight: list[float] | None = None,
) -> np.ndarray:
    x = np.asarray(xs, dtype=float)
    y = np.asarray(ys, dtype=float)
    sw = np.ones(len(ys)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
    w = np.zeros(x.shape[1])
    penalty = np.full(x.shape[1], l2)
    penalty[0] = 0.0  # the bias is not shrunk
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -30, 30)))
        gradient = x.T @ (sw * (p - y)) + penalty * w
        hessian = (x * (sw * p * (1 - p))[:, None]).T @ x + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return w


def mean_f1(replays: list[list[LabelledRecord]], model: DecisionModel) -> float:
    """B-cubed F1 of each replay (its records in order through the model), averaged."""
    return sum(score([d.story for d in data], final_events(data, model)).bcubed_f1 for data in replays) / len(replays)


def choose_threshold(
    replays: list[list[LabelledRecord]],
    model: DecisionModel,
    merges: list[float] | None = None,
    thresholds: list[float] | None = None,
) -> tuple[DecisionModel, list[tuple[float, float, float]]]:
    """Grid over (join threshold, merge threshold); the best mean B-cubed F1 over the replays
    (the fit stories in time order and shuffled) wins, ties to the middle."""
    curve = []
    for merge in merges or [model.merge_threshold]:
        for threshold in thresholds or THRESHOLDS:
            candidate = replace(model, threshold=threshold, merge_threshold=merge)
            curve.append((threshold, merge, mean_f1(replays, candidate)))
    # The grid point with the best mean F1 wins (to 3 decimals; ties to the join threshold nearest
    # 0.5, then the higher merge threshold, i.e. the fewer merges). Averaging each point with its
    # grid neighbours, as before, picked points that were not the fit's best (join 0.4 / merge 0.4
    # at 0.844 over 0.4 / 0.5 at 0.845): a neighbour at 0.6 pulled 0.5 down. On the held-out UCI
    # stories the two choices are within 0.01 of each other either way, and on the week corpora
    # the fewer merges keep a paper out of a product launch.
    best = max(curve, key=lambda c: (round(c[2], 3), -abs(c[0] - 0.5), c[1]))
    return replace(model, threshold=best[0], merge_threshold=best[1]), curve


def fit(
    fit_categories: str,
    window_hours: float = 336.0,
    merge_threshold: float | None = None,
    merge_model: bool = True,
    merge_floor: float = 0.0,
    future_cost: bool = True,
) -> tuple[DecisionModel, str]:
    data = load_uci(categories=fit_categories)
    # Both replay orders of the fit stories: in time order (UCI's crawl order) each story is one
    # burst, shuffled every story is open at once; a model must hold up in both.
    replays = [data, load_uci(categories=fit_categories, order="shuffled")]
    xs, ys = [], []
    for order in replays:
        ox, oy = forced_examples(order, window_hours)
        xs += ox
        ys += oy
    weights = fit_logistic(xs, ys)
    first_merge = 0.3 if merge_threshold is None else merge_threshold
    model = DecisionModel(
        tuple(float(round(w, 4)) for w in weights),
        0.5,
        first_merge,
        window_hours,
        min_cosine=MIN_COSINE,
        merge_floor=merge_floor,
    )
    model, _ = choose_threshold(replays, model)
    # Second round on the model's own candidates (see the module docstring).
    fx, fy = [], []
    for order in replays:
        ox, oy = free_examples(order, model)
        fx += ox
        fy += oy
    weights = fit_logistic(xs + fx, ys + fy)
    model = replace(model, weights=tuple(float(round(w, 4)) for w in weights))
    if merge_model:
        # The merge examples are collected under the first grid's join threshold; the final grid
        # chooses both thresholds again, so a grid over cosine merge cuts here (84 replays) is skipped.
        model = fit_merge(replays, model, future_cost)
        model, curve = choose_threshold(replays, model, MERGE_PROBABILITIES, JOIN_THRESHOLDS)
    else:
        model, curve = choose_threshold(replays, model, MERGE_THRESHOLDS if merge_threshold is None else None)
    future = ", for a wrong merge its geometric mean with the smaller story's size" if future_cost else ""
    merge_how = (
        f"merge: a logistic model over {', '.join(MERGE_FEATURES)} fitted on the merges a replay of those "
        f"stories considers (label: both events' majority story agree; weight: the smaller event's size{future}), "
        f"threshold = its probability"
        if model.merge_weights
        else "merge: word-centroid cosine threshold"
    )
    note = (
        f"fitted by bench/fit_event_model.py on UCI slice categories '{fit_categories}' "
        f"({len(data)} headlines, {len(xs) + len(fx)} candidate pairs, {sum(ys) + sum(fy)} positive); "
        f"join threshold {model.threshold} and merge threshold {model.merge_threshold} = argmax B-cubed F1 "
        f"on those stories replayed for real (mean of time order and shuffled) over a grid; {merge_how}; "
        f"min_cosine {MIN_COSINE}: an item must share "
        f"content to join (UCI's base rate alone would teach joining by default) "
        f"(join/merge/F1: {', '.join(f'{t}/{m}/{f:.3f}' for t, m, f in curve)})"
    )
    return replace(model, note=note), note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fit", default="be", help="UCI categories to fit on (b e t m)")
    parser.add_argument("--eval", default="tm", help="held-out UCI categories")
    # 14 days, the product's horizon: late commentary (a post ten days on about a funding round) still
    # belongs to its event. Not fitted: the UCI slice spans 29 hours, so any window over that is the
    # same to it; the sample corpus (three weeks) is where a short window shows, as splits.
    parser.add_argument("--window-hours", type=float, default=336.0)
    parser.add_argument("--merge-threshold", type=float, default=None, help="fixed (default: chosen on a grid)")
    parser.add_argument("--no-merge-model", action="store_true", help="merge by word-centroid cosine alone")
    parser.add_argument(
        "--merge-floor",
        type=float,
        default=0.0,
        help="join probability the bridging item must also reach for the other event (bench/README.md: not kept)",
    )
    parser.add_argument(
        "--merge-weight",
        choices=("future", "now"),
        default="future",
        help="a wrong merge example weighed with the cost still to come (default), or by the events' size now",
    )
    parser.add_argument(
        "--short-text",
        metavar="DIR",
        type=Path,
        help="also print the held-out GoogleNews / Tweet sets from DIR (bench/short_text_sets.py); never fitted on",
    )
    parser.add_argument("--write", action="store_true", help="store the model in transforms/events/model.json")
    parser.add_argument("--out", type=Path, default=MODEL_PATH, help="where --write stores it")
    parser.add_argument(
        "--force", action="store_true", help="with --write: replace the packaged model even if it scores higher"
    )
    args = parser.parse_args()
    model, note = fit(
        args.fit,
        args.window_hours,
        args.merge_threshold,
        not args.no_merge_model,
        args.merge_floor,
        args.merge_weight == "future",
    )
    print(dict(zip(FEATURES, model.weights, strict=True)))
    print(dict(zip(MERGE_FEATURES, model.merge_weights, strict=False)))
    print(note)
    sets = [(label, categories, load_uci(categories=categories)) for label, categories in
            (("fit", args.fit), ("held-out", args.eval), ("all", "btem"))]  # fmt: skip
    if args.short_text is not None:
        sets += [("held-out", name, load_short_text(args.short_text, name)) for name in SETS]
    for label, name, data in sets:
        predicted = final_events(data, model)
        s = score([d.story for d in data], predicted)
        print(
            f"{label:9} {name:10} B3 P {s.bcubed_p:.3f} R {s.bcubed_r:.3f} F1 {s.bcubed_f1:.3f} | "
            f"pairs F1 {s.pairwise_f1:.3f} | NMI {s.nmi:.3f} ARI {s.ari:.3f} | {s.predicted_clusters} events"
        )
    if args.write:
        if args.out.resolve() == MODEL_PATH.resolve() and not args.force:
            # The packaged weights are an older fit (README, bench/README.md): a refit of today's code
            # scores lower on the held-out stories (and on the labelled weeks), so it replaces them
            # only when it is better on the held-out stories, or on purpose.
            ours, packaged = held_out_f1(args.eval, model), held_out_f1(args.eval, DecisionModel.load())
            print(f"held-out {args.eval}, mean B-cubed F1 of both orders: {ours:.3f}, packaged {packaged:.3f}")
            if ours < packaged:
                sys.exit(
                    f"not written: the refit scores {ours:.3f} against the packaged model's {packaged:.3f} on the "
                    "held-out stories; --out FILE to keep it elsewhere, --force to replace the packaged model anyway"
                )
        args.out.write_text(json.dumps(model.to_json(), indent=1) + "\n", encoding="utf-8")
        print("written", args.out)


def held_out_f1(categories: str, model: DecisionModel) -> float:
    """Mean B-cubed F1 of the held-out stories replayed in time order and shuffled."""
    return mean_f1([load_uci(categories=categories, order=order) for order in ("time", "shuffled")], model)


if __name__ == "__main__":
    main()
