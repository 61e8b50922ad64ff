"""Scoring cost per member: `score_event` on the largest events of a plain-loop run of bench posts.

An event is scored on all its members every time a batch touches it, so a big story's score costs
what its size costs, once per batch (issue 13: at 100k stored, scoring was a fifth of a batch).
The bench posts (tests.factories.raw_post, as bench/pipeline_throughput.py makes them) cluster
into one event of a few thousand members and many small ones; the figure is the median time to
score the 40 largest, per member. A digest of every event's score is printed too, so a change
meant to be faster only can be checked to score the same.

    .venv/bin/python bench/score_events.py [--posts 20000] [--repeat 7]
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.pipeline_throughput import AS_OF, THRESHOLD, make_posts, received  # noqa: E402
from schemas.dead_letter import DeadLetter  # noqa: E402
from transforms.classify import classify_item, load_classification_rules  # noqa: E402
from transforms.cluster import EventIndex, cluster_batch  # noqa: E402
from transforms.dedupe import DedupeIndex, dedupe_items  # noqa: E402
from transforms.extract import extract_item, load_entity_rules  # noqa: E402
from transforms.normalize import normalize_record  # noqa: E402
from transforms.score import event_members, load_scoring_rules, score_event  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)

    items = [r for r in map(normalize_record, received(make_posts(args.posts))) if not isinstance(r, DeadLetter)]
    items = dedupe_items(items, DedupeIndex(threshold=THRESHOLD), THRESHOLD)
    class_rules, entity_rules = load_classification_rules(), load_entity_rules()
    items = [extract_item(classify_item(item, class_rules), entity_rules) for item in items]
    clustered = cluster_batch(items, EventIndex())
    by_event: dict[str, list] = {}
    for item in clustered.items:
        if item.event_id is not None:
            by_event.setdefault(item.event_id, []).append(item)
    rules = load_scoring_rules()
    events = sorted(by_event, key=lambda e: (-len(by_event[e]), e))
    members = {e: event_members(e, sorted(by_event[e], key=lambda i: i.item_id), None, clustered.built) for e in events}
    digest = hashlib.sha256()
    for event_id in events:
        digest.update(score_event(event_id, members[event_id], as_of=AS_OF, rules=rules).model_dump_json().encode())
    top = events[:40]
    runs = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        for event_id in top:
            score_event(event_id, members[event_id], as_of=AS_OF, rules=rules)
        runs.append(time.perf_counter() - started)
    scored = sum(len(members[e]) for e in top)
    median = statistics.median(runs)
    print(
        f"{args.posts:,} posts -> {len(events):,} events (largest {len(members[events[0]]):,} members);"
        f" scores digest {digest.hexdigest()[:16]}"
    )
    print(
        f"score_event on the 40 largest ({scored:,} members): median {median * 1e3:.1f} ms"
        f" = {median / scored * 1e6:.2f} µs per member (best of {args.repeat}: {min(runs) * 1e3:.1f} ms)"
    )


if __name__ == "__main__":
    main()
