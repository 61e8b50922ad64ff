"""Quality of the pipeline on the labelled sample corpus (`radar eval`).

Compares what landed in DuckDB and the digest with `ground_truth.toml`:
dedupe precision/recall over pairs, event clustering purity, verification accuracy,
Top-5 match, research and X-signal coverage.
"""

from __future__ import annotations

import itertools
import tomllib
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from infra.store import Store
from schemas.digest import Digest
from schemas.keys import entry_key, unscoped_key

__all__ = ["GROUND_TRUTH", "Quality", "evaluate"]

GROUND_TRUTH = Path(__file__).resolve().parent.parent / "connectors" / "sample_corpus" / "ground_truth.toml"


@dataclass(frozen=True)
class Quality:
    dedupe_precision: float
    dedupe_recall: float
    dedupe_pairs: tuple[int, int, int]  # true positives, predicted, expected
    cluster_purity: float
    cluster_completeness: float
    verification_accuracy: float
    category_accuracy: float
    top5_match: float
    top5_noise: int
    research_recall: float
    x_signal_verification_accuracy: float
    x_signal_coverage: tuple[int, int]  # labelled signals in the digest, labelled signals
    unmatched_truth_items: tuple[str, ...]

    def rows(self) -> list[tuple[str, str]]:
        tp, predicted, expected = self.dedupe_pairs
        return [
            ("dedupe precision (pairs)", f"{self.dedupe_precision:.2f} ({tp}/{predicted})"),
            ("dedupe recall (pairs)", f"{self.dedupe_recall:.2f} ({tp}/{expected})"),
            ("event clustering purity", f"{self.cluster_purity:.2f}"),
            ("event clustering completeness (not split)", f"{self.cluster_completeness:.2f}"),
            ("verification accuracy (events)", f"{self.verification_accuracy:.2f}"),
            ("category accuracy (events)", f"{self.category_accuracy:.2f}"),
            ("Top-5 match with ground truth", f"{self.top5_match:.2f}"),
            ("noise / out-of-window in Top-5", str(self.top5_noise)),
            ("research recall", f"{self.research_recall:.2f}"),
            ("X signal verification accuracy (labelled ones shown)", f"{self.x_signal_verification_accuracy:.2f}"),
            ("labelled X signals shown", f"{self.x_signal_coverage[0]}/{self.x_signal_coverage[1]}"),
            ("truth items not found in DuckDB", str(len(self.unmatched_truth_items))),
        ]


def _aliases(item_id: str, url: str | None, canonical: str | None, native: str | None) -> set[str]:
    # A feed's own guid is stored scoped by its source; the ground truth names it as written.
    names = {item_id, unscoped_key(item_id)}
    for value in (url, canonical, native):
        if value:
            names.add(value)
            names.add(value.rstrip("/"))
            # pages of an `html` source are labelled by their path under the corpus's site/
            names.add(urlsplit(value).path.lstrip("/"))
    for prefix in ("x:", "arxiv:", "tweet:"):
        if item_id.startswith(prefix):
            names.add(item_id[len(prefix) :])
    return names


def evaluate(store: Store, digest: Digest | None, truth_path: Path = GROUND_TRUTH) -> Quality:
    truth = tomllib.loads(truth_path.read_text(encoding="utf-8"))
    with store.read() as con:
        rows = con.execute(
            "SELECT item_id, url, canonical_url, record->>'native_id', duplicate_of, event_id FROM items"
        ).fetchall()
        linked_from = dict(
            con.execute(
                "SELECT item_id, record->>'linked_from' FROM items WHERE record->>'linked_from' IS NOT NULL"
            ).fetchall()
        )
        verification = dict(con.execute("SELECT event_id, verification FROM events").fetchall())
        category = dict(con.execute("SELECT event_id, category FROM events").fetchall())
        members = con.execute("SELECT event_id, item_id FROM event_items").fetchall()

    # An exact item id wins over another item's URL alias (a page's canonical URL is often
    # its feed entry's id).
    by_alias: dict[str, str] = {r[0]: r[0] for r in rows}
    for item_id, url, canonical, native, _, _ in rows:
        for alias in _aliases(item_id, url, canonical, native):
            by_alias.setdefault(alias, item_id)
        by_alias.setdefault(item_id.rstrip("/"), item_id)
    page_items = {p["item"]: p["item"] for p in truth.get("page", [])}

    def resolve(key: str) -> str | None:
        key = page_items.get(key, key)
        return by_alias.get(key) or by_alias.get(key.rstrip("/"))

    truth_event_of: dict[str, str] = {}
    unmatched = []
    for event in truth.get("event", []):
        for key in event["items"]:
            item = resolve(key)
            if item is None:
                unmatched.append(key)
            else:
                truth_event_of[item] = event["id"]
    for key in truth.get("noise", []):
        item = resolve(key)
        if item is not None:
            truth_event_of[item] = "noise"

    # A page fetched from a feed entry's link is, for the ground truth, that entry itself
    # ([[page]] maps it there): fold the page onto the entry its record names (or, for rows
    # stored without one, "page:<key>" onto "<key>") so the pair is not counted.
    item_ids = {r[0] for r in rows}

    def same_document(item_id: str) -> str:
        entry = linked_from.get(item_id)
        if entry is not None and entry in item_ids:
            return entry
        bare = entry_key(item_id)
        return bare if bare != item_id and bare in item_ids else item_id

    for item_id in item_ids:
        folded = same_document(item_id)
        if folded != item_id and folded in truth_event_of:
            truth_event_of[item_id] = truth_event_of[folded]

    # Dedupe over pairs: predicted = pairs inside each duplicate group.
    duplicate_of = {
        same_document(r[0]): same_document(r[4]) for r in rows if r[4] and same_document(r[0]) != same_document(r[4])
    }
    groups: dict[str, set[str]] = defaultdict(set)
    for item, original in duplicate_of.items():
        root = original
        seen = {item}
        while root in duplicate_of and root not in seen:
            seen.add(root)
            root = duplicate_of[root]
        groups[root] |= {item, root}
    predicted = {frozenset(p) for g in groups.values() for p in itertools.combinations(sorted(g), 2)}
    expected = set()
    for dup in truth.get("duplicate", []):
        a, b = resolve(dup["a"]), resolve(dup["b"])
        if a and b:
            expected.add(frozenset((a, b)))
    ignore_same_event = truth.get("dedupe", {}).get("unlisted_same_event_pairs") == "ignore"

    def counted(pair: frozenset[str]) -> bool:
        if pair in expected or not ignore_same_event:
            return True
        a, b = tuple(pair)
        same = truth_event_of.get(a) is not None and truth_event_of.get(a) == truth_event_of.get(b)
        return not same

    predicted_counted = {p for p in predicted if counted(p)}
    tp = len(predicted_counted & expected)
    precision = tp / len(predicted_counted) if predicted_counted else 1.0
    recall = tp / len(expected) if expected else 1.0

    # Purity: each predicted event's majority truth label over its labelled members.
    event_members: dict[str, list[str]] = defaultdict(list)
    for event_id, item_id in members:
        if item_id in truth_event_of:
            event_members[event_id].append(truth_event_of[item_id])
    labelled = sum(len(v) for v in event_members.values())
    purity = (sum(Counter(v).most_common(1)[0][1] for v in event_members.values()) / labelled) if labelled else 0.0

    # Completeness: the share of each truth event's found items that sit in its largest predicted
    # event (1.0 = never split), weighted by items. Purity alone would reward splitting everything.
    item_event = {r[0]: r[5] for r in rows}
    kept = found = 0
    for event in truth.get("event", []):
        placed = Counter(item_event.get(item) for item in (resolve(k) for k in event["items"]) if item)
        placed.pop(None, None)
        if placed:
            kept += placed.most_common(1)[0][1]
            found += sum(placed.values())
    completeness = kept / found if found else 0.0

    # Verification: the predicted event holding most of a truth event's items.
    correct = total = category_hits = 0
    truth_to_predicted: dict[str, str] = {}
    for event in truth.get("event", []):
        votes = Counter(item_event.get(resolve(k) or "") for k in event["items"])
        votes.pop(None, None)
        if not votes:
            total += 1
            continue
        predicted_event = votes.most_common(1)[0][0]
        truth_to_predicted[event["id"]] = predicted_event
        total += 1
        correct += verification.get(predicted_event) == event["verification"]
        category_hits += category.get(predicted_event) == event.get("category")
    verification_accuracy = correct / total if total else 0.0
    category_accuracy = category_hits / total if total else 0.0

    top5_match = research_recall = x_accuracy = 0.0
    noise_in_top = shown = 0
    labelled_signals = truth.get("x_signal", [])
    if digest is not None:
        expected_top = [truth_to_predicted.get(t) for t in truth.get("top5", [])]
        got_top = [e.id for e in digest.top_events]
        top5_match = len(set(got_top) & {e for e in expected_top if e}) / max(1, len(truth.get("top5", [])))
        predicted_to_truth = {v: k for k, v in truth_to_predicted.items()}
        noise_in_top = sum(1 for e in got_top if e not in predicted_to_truth)
        wanted = set(truth.get("research", []))
        got_research = {r.arxiv_id for r in digest.research if r.arxiv_id}
        research_recall = len(wanted & got_research) / len(wanted) if wanted else 1.0
        signals = {s.tweet_id: s for s in digest.x_signals}
        shown_labelled = [s for s in labelled_signals if s["tweet_id"] in signals]
        shown = len(shown_labelled)
        hits = sum(1 for s in shown_labelled if signals[s["tweet_id"]].verification == s["verification"])
        x_accuracy = hits / shown if shown else 0.0
    return Quality(
        precision,
        recall,
        (tp, len(predicted_counted), len(expected)),
        purity,
        completeness,
        verification_accuracy,
        category_accuracy,
        top5_match,
        noise_in_top,
        research_recall,
        x_accuracy,
        (shown, len(labelled_signals)),
        tuple(unmatched),
    )
