"""Event clustering quality of `transforms.events` on real headlines, beside published anchors.

    .venv/bin/python bench/clustering_quality.py [--model FILE] [--short-text DIR]

UCI News Aggregator slice (../shared/peer/uci-news-stories, 5,000 headlines, 67 stories),
replayed in TIMESTAMP/ID order: all stories, tech only, and the two held-out halves
(business+entertainment / tech+health). The shipped model is fitted on business+entertainment
(bench/fit_event_model.py), so "t+m" and "tech" are held out; "b+e" and "all" are not. "t+m inside
all" scores the held-out stories in the whole slice's replay, each against its whole event (B-cubed).
The same replay in a fixed shuffled order is printed too: the data set's timestamps put each
story in one burst, which a real stream does not do. Then the production path (the pipeline's
normalize -> dedupe -> cluster stage functions, `transforms.replay`, what `radar cluster` and the
processor run) on the same slices, and items/s of both. With --short-text, also the sets MStream
and GSDMM were measured on (GoogleNews titles, TREC tweets; bench/short_text_sets.py says where to
get them): held out from everything here, and the anchors' own data.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.short_text_sets import SETS, load_short_text  # noqa: E402
from bench.uci_stories import LabelledRecord, final_events, load_uci  # noqa: E402
from infra.config import ProcessorSettings  # noqa: E402
from transforms.events import DecisionModel  # noqa: E402
from transforms.events.metrics import Scores, bcubed, score  # noqa: E402
from transforms.replay import ReplayInput, replay  # noqa: E402

ANCHORS = [
    ("Miranda et al. EMNLP 2018 (pairwise)", "P 0.981  R 0.903  F1 0.940", ""),
    ("MStream KDD 2018 (GoogleNews, one pass)", "", "NMI 0.834"),
    ("GSDMM KDD 2014 (GoogleNews, offline)", "", "NMI 0.874"),
    ("this repo before (cluster.py, B-cubed)", "", "B3 F1 0.036"),
    ("TF-IDF centroid one-pass (B-cubed)", "", "B3 F1 0.69 (P 0.78 R 0.61)"),
]

SLICES = [("all", "btem"), ("tech", "t"), ("held-out t+m", "tm"), ("fit b+e", "be")]
# UCI's own category codes; each replayed alone shows which kind of story holds the whole figure down.
CATEGORIES = [("business", "b"), ("entertainment", "e"), ("tech", "t"), ("health", "m")]


def run(categories: str, model: DecisionModel, order: str = "time") -> tuple[Scores, float]:
    return replay_scores(load_uci(categories=categories, order=order), model)


def replay_scores(data: list[LabelledRecord], model: DecisionModel) -> tuple[Scores, float]:
    t0 = time.perf_counter()
    predicted = final_events(data, model)
    return score([d.story for d in data], predicted), time.perf_counter() - t0


def held_out_within_all(
    data: list[LabelledRecord], predicted: list[str], categories: str = "tm"
) -> tuple[int, tuple[float, float, float]]:
    """B-cubed P/R/F1 of the held-out stories inside the whole slice's replay (`data`, `predicted`), as
    a stream meets them: each held-out headline scored against every member of its event (the fit
    stories' too). Replayed alone, tech's first story (Titanfall, 165 headlines in one burst) opens a
    cold stream, so every open event is a fragment of it and its name weighs least of all words (36
    events); inside the whole slice, 74 other events are open when it comes (one event of 164 and one
    of 1), but held-out headlines also share events with business and entertainment stories (gas
    prices, Mt. Gox, Snowden at SXSW), which lowers their precision. Returns how many headlines are
    scored, and P/R/F1."""
    held_out = {d.story for d in data if d.category in categories}
    scored = sum(1 for d in data if d.story in held_out)
    return scored, bcubed([d.story for d in data], predicted, held_out)


def crawl_time_split(model: DecisionModel) -> str:
    """How much of what is left the slice's timestamps alone would recover: our events split by crawl
    day and by crawl hour, beside each taken alone as the event. The slice spans two days and its
    timestamps are the aggregator's crawl times, one per story for 65 of 67 stories, so a time
    feature fitted here would learn the crawl, not the news: these are oracles, not a method."""
    data = load_uci(categories="btem")
    predicted = final_events(data, model)
    gold = [d.story for d in data]
    lines = []
    for fmt, label in (("%Y-%m-%d", "day"), ("%Y-%m-%d %H", "hour")):
        stamps = [d.record.published_at.strftime(fmt) if d.record.published_at else "" for d in data]
        split = score(gold, list(zip(predicted, stamps, strict=True)))
        alone = score(gold, stamps)
        lines.append(
            f"  by crawl {label} ({len(set(stamps))} of them): our events split "
            f"{split.bcubed_p:.3f} {split.bcubed_r:.3f} {split.bcubed_f1:.3f}, "
            f"the {label} alone {alone.bcubed_p:.3f} {alone.bcubed_r:.3f} {alone.bcubed_f1:.3f}"
        )
    return "\n".join(lines)


def run_pipeline_path(categories: str) -> tuple[Scores, float]:
    """The same headlines as `radar cluster` lines, through the pipeline's stage functions."""
    data = load_uci(categories=categories)
    inputs = [
        ReplayInput(
            n,
            {
                "id": d.record.id,
                "title": d.record.title,
                "publisher": d.record.publisher,
                "url": d.record.url,
                "published_at": d.record.published_at.isoformat() if d.record.published_at else None,
            },
        )
        for n, d in enumerate(data, start=1)
    ]
    t0 = time.perf_counter()
    lines, errors = replay(inputs, near_duplicate_threshold=ProcessorSettings().near_duplicate_threshold)
    elapsed = time.perf_counter() - t0
    assert not errors, errors[:3]
    event_of = {line.id: line.event_id for line in lines}
    return score([d.story for d in data], [event_of[d.record.id] for d in data]), elapsed


def row(label: str, s: Scores) -> str:
    return (
        f"{label:22} {s.items:5} {s.predicted_clusters:4}/{s.gold_clusters:<3} "
        f"{s.pairwise_p:.3f} {s.pairwise_r:.3f} {s.pairwise_f1:.3f}  "
        f"{s.bcubed_p:.3f} {s.bcubed_r:.3f} {s.bcubed_f1:.3f}  {s.nmi:.3f} {s.ari:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model JSON (default: the packaged transforms/events/model.json)")
    parser.add_argument(
        "--short-text",
        metavar="DIR",
        type=Path,
        help="folder with STTM's GoogleNews.txt / Tweet.txt and their _LABEL.txt (bench/short_text_sets.py)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="timing runs of the whole slice (best is kept)")
    args = parser.parse_args()
    model = DecisionModel.load(args.model)
    import transforms.extract  # noqa: F401 - loaded by the pipeline anyway; keep its import out of the timing

    print(
        f"model: join threshold {model.threshold}, merge threshold {model.merge_threshold}, "
        f"window {model.window_hours} h"
    )
    print(
        f"{'UCI slice':22} {'items':>5} {'ev/gold':>8} {'pair P':>6} {'R':>5} {'F1':>5}  "
        f"{'B3 P':>5} {'R':>5} {'F1':>5}  {'NMI':>5} {'ARI':>5}"
    )
    for order in ("time", "shuffled"):
        for label, categories in SLICES:
            data = load_uci(categories=categories, order=order)
            predicted = final_events(data, model)
            print(row(f"{label} ({order})", score([d.story for d in data], predicted)))
            if categories == "btem":
                whole = (data, predicted)  # the held-out stories are scored inside this replay below
        n, (p, r, f1) = held_out_within_all(*whole)
        print(f"{'t+m inside all (' + order + ')':22} {n:5} {'':8} {'':19}  {p:.3f} {r:.3f} {f1:.3f}")
    by_category = ", ".join(
        f"{label} {run(code, model, 'time')[0].bcubed_f1:.3f} / {run(code, model, 'shuffled')[0].bcubed_f1:.3f}"
        for label, code in CATEGORIES
    )
    print(f"by category, each alone (B-cubed F1, time / shuffled): {by_category}")
    if args.short_text is None:
        print("GoogleNews / Tweet (MStream's sets): not replayed, give --short-text DIR (bench/short_text_sets.py)")
    else:
        for name in SETS:
            for order in ("file", "shuffled"):
                print(row(f"{name} ({order})", replay_scores(load_short_text(args.short_text, name, order), model)[0]))
    print("oracles from the slice's crawl times (all, time order; B-cubed P R F1):")
    print(crawl_time_split(model))
    pipeline_seconds = 0.0
    for label, categories in SLICES[:2]:
        s, seconds = run_pipeline_path(categories)
        pipeline_seconds = pipeline_seconds or seconds
        print(row(f"{label} (pipeline path)", s))
    print()
    for name, pairwise, other in ANCHORS:
        print(f"  anchor: {name:42} {pairwise:28} {other}")
    best = min(run("btem", model)[1] for _ in range(args.repeat))
    print(
        f"\nspeed: {5000 / best:,.0f} headlines/s, {best / 5000 * 1e6:.0f} µs per headline "
        f"(whole slice, one core, best of {args.repeat})"
    )
    print(f"pipeline path: {5000 / pipeline_seconds:,.0f} headlines/s (normalize + dedupe + cluster, one run)")


if __name__ == "__main__":
    main()
