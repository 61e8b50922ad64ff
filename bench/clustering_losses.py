"""Where the online clustering loses on UCI, story by story, beside where UCI's own labels disagree.

    .venv/bin/python bench/clustering_losses.py [--order time|shuffled] [--categories btem] [--top 10] [--titles 3]
    .venv/bin/python bench/clustering_losses.py --short-text DIR [--set GoogleNews|Tweet] [--order file|shuffled]

B-cubed precision and recall (`transforms.events.metrics`) are averages over items, so what each
loses can be split exactly: precision by the pair of gold stories that share a predicted event
(every item of story g in an event K loses c(g', K) / |K| to each other story g' there), recall by
the gold story that several events split. The shares sum to 1 - P and 1 - R. Beside each pair it
says whether UCI itself files an identical headline under both stories: its labels are the
aggregator's clusters at crawl time, which can split one subject across stories ("Mt. Gox files
for US bankruptcy" is in two), so for such a pair no clustering by content can be right by both.
Each story is shown with its size, category, crawl span and a few headlines, to read whether the
labels or the clustering are wrong (the issue's closing note lists what was read). With
--short-text, the same for the anchors' sets (bench/short_text_sets.py says where to get them).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.short_text_sets import SETS, load_short_text  # noqa: E402
from bench.uci_stories import LabelledRecord, final_events, load_uci  # noqa: E402
from transforms.events import DecisionModel  # noqa: E402
from transforms.events.metrics import bcubed_losses, score  # noqa: E402
from transforms.normalize import fingerprint_text  # noqa: E402


def headline_linked_pairs(titles: Sequence[str], gold: Sequence[Hashable]) -> dict[frozenset, list[str]]:
    """Pairs of gold labels that carry one identical headline (as `fingerprint_text` compares texts:
    case, spacing and links aside), with those headlines."""
    stories_of: dict[str, set[Hashable]] = defaultdict(set)
    shown: dict[str, str] = {}
    for title, g in zip(titles, gold, strict=True):
        key = fingerprint_text(title)  # what the dedupe stage calls the same text
        stories_of[key].add(g)
        shown.setdefault(key, title.strip())
    linked: dict[frozenset, list[str]] = defaultdict(list)
    for key, stories in stories_of.items():
        ordered = sorted(stories, key=str)
        for i, a in enumerate(ordered):
            for b in ordered[i + 1 :]:
                linked[frozenset((a, b))].append(shown[key])
    return dict(linked)


def _describe(story: str, members: list[LabelledRecord], titles: int) -> str:
    times = sorted(m.record.published_at for m in members if m.record.published_at is not None)
    # The short-text sets carry one snapshot time for all: no span to show.
    span = f"{times[0]:%m-%d %H:%M:%S} to {times[-1]:%m-%d %H:%M:%S}" if times and times[0] != times[-1] else "-"
    # Headlines spread over the story's members, not its first few (a story's opening burst is alike).
    step = max(1, len(members) // titles)
    sample = "; ".join(m.record.title[:70] for m in members[::step][:titles])
    return f"      {story[:12]} {len(members):>4} items, {members[0].category}, crawled {span}: {sample}"


def report(data: list[LabelledRecord], top: int, titles: int) -> None:
    predicted = final_events(data, DecisionModel.load())
    gold = [d.story for d in data]
    scores = score(gold, predicted)
    members: dict[str, list[LabelledRecord]] = defaultdict(list)
    for d in data:
        members[d.story].append(d)
    linked = headline_linked_pairs([d.record.title for d in data], gold)
    repeated = {t for ts in linked.values() for t in ts}
    print(f"{len(data)} headlines, {len(members)} stories; B-cubed P {scores.bcubed_p:.3f} R {scores.bcubed_r:.3f} "
          f"F1 {scores.bcubed_f1:.3f}")  # fmt: skip
    print(f"the labels put {len(repeated)} identical headlines under two or more stories ({len(linked)} pairs):")
    for pair, shared in sorted(linked.items(), key=lambda kv: -len(kv[1])):
        a, b = sorted(pair)
        print(f'  {a[:12]} / {b[:12]}: {len(shared)}, e.g. "{shared[0][:80]}"')

    p_loss, r_loss = bcubed_losses(gold, predicted)
    on_linked = sum(v for pair, v in p_loss.items() if pair in linked)
    total = sum(p_loss.values())
    share = f" ({on_linked / total:.0%})" if total > 0.0 else ""  # nothing lost: no share of it
    print(f"\nprecision lost {total:.3f} (= 1 - P); {on_linked:.3f} of it{share} between stories the labels link by an "
          f"identical headline. Largest, by pair:")  # fmt: skip
    for pair, lost in sorted(p_loss.items(), key=lambda kv: -kv[1])[:top]:
        print(f"  {lost:.4f}{'  linked by the labels' if pair in linked else ''}")
        for story in sorted(pair):
            print(_describe(story, members[story], titles))

    spread: dict[str, Counter] = defaultdict(Counter)  # story -> its items per event
    for g, p in zip(gold, predicted, strict=True):
        spread[g][p] += 1
    print(f"\nrecall lost {sum(r_loss.values()):.3f} (= 1 - R). Largest, by story split across events:")
    for story, lost in sorted(r_loss.items(), key=lambda kv: -kv[1])[:top]:
        events = spread[story]
        print(f"  {lost:.4f}  in {len(events)} events, the largest holding {max(events.values())} of {events.total()}")
        print(_describe(story, members[story], titles))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--order", choices=("time", "file", "shuffled"), default=None, help="time (UCI) or file")
    parser.add_argument("--top", type=int, default=10, help="pairs and stories to show (default 10)")
    parser.add_argument("--titles", type=int, default=3, help="headlines shown per story (default 3)")
    parser.add_argument("--categories", default="btem", help="UCI category codes to replay (default all: btem)")
    parser.add_argument("--short-text", type=Path, help="folder with GoogleNews.txt etc.: replay one of those sets")
    parser.add_argument("--set", choices=SETS, default=SETS[0], help=f"with --short-text (default {SETS[0]})")
    args = parser.parse_args()
    if args.order == ("time" if args.short_text else "file"):
        parser.error(f"--order {args.order} is not an order of {'that set' if args.short_text else 'UCI'}")
    if args.short_text:
        data = load_short_text(args.short_text, args.set, args.order or "file")
    else:
        data = load_uci(categories=args.categories, order=args.order or "time")
    report(data, args.top, args.titles)


if __name__ == "__main__":
    main()
