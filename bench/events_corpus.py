"""The sample corpus (connectors/sample_corpus) through the real connectors and normalize stage,
then `transforms.events` alone: clustering purity / completeness against ground_truth.toml.

No Kafka, no store, no dedupe (so a duplicate counts as a member of its event, as the ground
truth lists it). Items are taken in publish-time order. Measured the way digest/evaluate.py
measures it, with a simpler alias match (item id, URL, canonical URL, path, native id).

    .venv/bin/python bench/events_corpus.py [--root connectors/sample_corpus_week2] [--model FILE]
"""

from __future__ import annotations

import sys
import tomllib
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connectors.arxiv import collect_arxiv  # noqa: E402
from connectors.base import SourceRun  # noqa: E402
from connectors.cursors import SourceCursor  # noqa: E402
from connectors.feed import collect_feed  # noqa: E402
from connectors.fetch import Fetcher  # noqa: E402
from connectors.html import collect_html  # noqa: E402
from connectors.jsonl import collect_jsonl  # noqa: E402
from connectors.sample_server import CORPUS_DIR, sample_sources, serve_corpus  # noqa: E402
from connectors.x import collect_x  # noqa: E402
from infra.config import FetchSettings  # noqa: E402
from schemas.common import KafkaCoordinates  # noqa: E402
from schemas.keys import entry_key  # noqa: E402
from schemas.raw import ReceivedRaw  # noqa: E402
from transforms.events import ClusterState, DecisionModel, Record, cluster_records  # noqa: E402
from transforms.normalize import normalize_record  # noqa: E402

COLLECTORS = {
    "feed": collect_feed,
    "html": collect_html,
    "x": collect_x,
    "jsonl": collect_jsonl,
    "arxiv": lambda run: collect_arxiv(run, interval_s=0.0),
}


def corpus_items(root: Path = CORPUS_DIR) -> list:
    items = []
    settings = FetchSettings()
    with serve_corpus(root) as server, Fetcher(settings) as fetcher:
        cache: dict[str, str | None] = {}
        for source in sample_sources(server.base_url, root):
            run = SourceRun(source, fetcher, settings, SourceCursor(source.name), cache)
            COLLECTORS[source.kind](run)
            for offset, envelope in enumerate(run.envelopes):
                got = normalize_record(
                    ReceivedRaw(
                        envelope=envelope,
                        coordinates=KafkaCoordinates(
                            topic="radar.raw.v1", partition=0, offset=offset, key=envelope.key
                        ),
                    )
                )
                if hasattr(got, "item_id"):
                    items.append(got)
    return items


def replay_order(items: list) -> list:
    """Items in publish-time order. An undated feed entry is placed at the time of the page fetched
    from its link (same URL or canonical), which is when the pipeline meets both; sorting undated
    entries first instead would open their events weeks before the story and close them unseen.
    """
    dated: dict[str, datetime] = {}
    for item in items:
        if item.published_at is not None:
            for url in (item.url, item.canonical_url):
                if url:
                    dated.setdefault(url.rstrip("/"), item.published_at)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)

    def when(item) -> datetime:
        if item.published_at is not None:
            return item.published_at
        for url in (item.url, item.canonical_url):
            if url and url.rstrip("/") in dated:
                return dated[url.rstrip("/")]
        return epoch

    return sorted(items, key=lambda i: (when(i), i.item_id))


def aliases(item) -> set[str]:
    names = {item.item_id, entry_key(item.item_id)}
    for value in (item.url, item.canonical_url, item.native_id):
        if value:
            names |= {value, value.rstrip("/"), urlsplit(value).path.lstrip("/")}
    for prefix in ("x:", "arxiv:", "tweet:"):
        names |= {n[len(prefix) :] for n in list(names) if n.startswith(prefix)}
    return names


def labelled_records(root: Path = CORPUS_DIR) -> tuple[list[Record], dict[str, str]]:
    """The corpus's items as records in replay order, and item id -> ground-truth event for the labelled ones."""
    truth = tomllib.loads((root / "ground_truth.toml").read_text(encoding="utf-8"))
    items = replay_order(corpus_items(root))
    records = [
        Record(
            i.item_id,
            i.title,
            i.text,
            i.published_at,
            i.source.publisher,
            i.url,
            i.lang,
            i.canonical_url,
            tuple(i.linked_urls),
        )
        for i in items
    ]
    by_alias: dict[str, list[str]] = defaultdict(list)
    for item in items:
        for name in aliases(item):
            by_alias[name].append(item.item_id)
    page_items = {p["item"]: p["item"] for p in truth.get("page", [])}
    truth_of: dict[str, str] = {}
    for event in truth.get("event", []):
        for key in event["items"]:
            key = page_items.get(key, key)
            for item_id in by_alias.get(key, []) or by_alias.get(key.rstrip("/"), []):
                truth_of[item_id] = event["id"]
    return records, truth_of


def main() -> None:
    # The first week by default; `--root connectors/sample_corpus_week2` for the second.
    root = Path(sys.argv[sys.argv.index("--root") + 1]) if "--root" in sys.argv else CORPUS_DIR
    records, truth_of = labelled_records(root)
    model = DecisionModel.load(sys.argv[sys.argv.index("--model") + 1] if "--model" in sys.argv else None)
    state = ClusterState(model)
    event_of = {a.record_id: a.event_id for a in cluster_records(records, state)}
    event_of = {k: state.resolve(v) for k, v in event_of.items()}
    members: dict[str, list[str]] = defaultdict(list)
    for item_id, label in truth_of.items():
        members[event_of[item_id]].append(label)
    labelled = sum(len(v) for v in members.values())
    purity = sum(Counter(v).most_common(1)[0][1] for v in members.values()) / labelled
    placed: dict[str, Counter[str]] = defaultdict(Counter)
    for item_id, label in truth_of.items():
        placed[label][event_of[item_id]] += 1
    completeness = sum(c.most_common(1)[0][1] for c in placed.values()) / sum(sum(c.values()) for c in placed.values())
    print(
        f"sample corpus: {len(records)} items, {labelled} labelled in {len(placed)} truth events, "
        f"{len(set(event_of.values()))} predicted events"
    )
    print(f"purity {purity:.3f}  completeness {completeness:.3f}")
    for label, c in placed.items():
        if len(c) > 1:
            print("  split:", label, dict(c))
    for labels in members.values():
        if len(set(labels)) > 1:
            print("  mixed:", dict(Counter(labels)))


if __name__ == "__main__":
    main()
