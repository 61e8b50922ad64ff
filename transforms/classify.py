"""Classify: category (DESIGN.md §6) with secondaries and confidences, AI relevance, social item type.

Everything comes from term lists in transforms/data/categories.toml (zh + en) and the
organisation/product names of transforms/data/entities.toml; the code only adds up weights.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import apache_beam as beam

from schemas.common import CATEGORIES, Category, ItemType
from schemas.item import CategoryScore, Item
from transforms._lexicon import AnchoredPatterns, TermMatcher, Tokenized, casefold, load_data_file, tokenize

__all__ = ["DEAD_LETTER", "Classify", "ClassificationRules", "classify_item", "load_classification_rules"]

DEAD_LETTER = "dead_letter"
# Long pages: their lead decides the topic, and scanning 50 KB of text per item does not pay.
_MAX_SCAN_CHARS = 3000
_TITLE_WEIGHT = 2.0
_MAX_SECONDARY = 3
_MIN_SECONDARY_SHARE = 0.15
_ITEM_TYPES: tuple[ItemType, ...] = ("fact", "trend", "opinion")


# One term can feed several scores: a category, relevance and an item type.
_Contribution = tuple[Literal["category", "relevance", "type"], str, float]


@dataclass(frozen=True)
class ClassificationRules:
    terms: TermMatcher[tuple[_Contribution, ...]]  # case-folded, one pass per text
    entities: TermMatcher[float]  # case-sensitive names of organisations and products
    models: AnchoredPatterns
    saturation: float
    off_topic_below: float
    model_weight: float
    category_evidence: float
    # source kind -> primary category: a paper is research whatever its topic (the topic
    # stays as a secondary category)
    source_kind_category: dict[str, str] = field(default_factory=dict)


def _source_kind_categories(data: dict[str, Any]) -> dict[str, str]:
    mapping = {str(k): str(v) for k, v in data.get("source_kind_category", {}).items()}
    unknown = set(mapping.values()) - set(CATEGORIES)
    if unknown:
        raise ValueError(f"categories.toml [source_kind_category] names unknown categories: {sorted(unknown)}")
    return mapping


@functools.lru_cache(maxsize=4)
def load_classification_rules(
    categories_path: str | None = None, entities_path: str | None = None
) -> ClassificationRules:
    """Rules from the data files (packaged ones by default); raises ValueError on a bad file."""
    data = load_data_file("categories.toml", categories_path)
    entities = load_data_file("entities.toml", entities_path)
    unknown = set(data.get("categories", {})) - set(CATEGORIES)
    if unknown:
        raise ValueError(f"categories.toml names unknown categories: {sorted(unknown)}")
    table: dict[str, list[_Contribution]] = {}

    def add(terms: dict[str, float], kind: Literal["category", "relevance", "type"], label: str, sign: float) -> None:
        for term, weight in terms.items():
            table.setdefault(term.casefold(), []).append((kind, label, sign * float(weight)))

    for category, lists in data["categories"].items():
        for language in ("en", "zh"):
            add(lists.get(language, {}), "category", category, 1.0)
    relevance = data["relevance"]
    for key, sign in (("en", 1.0), ("zh", 1.0), ("negative_en", -1.0), ("negative_zh", -1.0)):
        add(relevance.get(key, {}), "relevance", "", sign)
    for item_type in _ITEM_TYPES:
        for language in ("en", "zh"):
            add(data["item_type"].get(f"{item_type}_{language}", {}), "type", item_type, 1.0)

    entity_weight = float(relevance.get("entity_weight", 1.5))
    entity_terms: dict[str, float] = {}
    for spec in entities.get("organisations", {}).values():
        for alias in spec.get("aliases", []):
            # Organisations that do more than AI count half: "Microsoft" alone is not AI news.
            entity_terms[alias] = entity_weight if spec.get("ai") else entity_weight / 2
    for name in entities.get("products", {}).get("names", []):
        entity_terms[name] = entity_weight
    return ClassificationRules(
        source_kind_category=_source_kind_categories(data),
        terms=TermMatcher({term: tuple(values) for term, values in table.items()}),
        entities=TermMatcher(entity_terms, case_sensitive=True),
        models=AnchoredPatterns(entities.get("products", {}).get("patterns", [])),
        saturation=float(relevance.get("saturation", 4.0)),
        off_topic_below=float(relevance.get("off_topic_below", 0.25)),
        model_weight=entity_weight,
        category_evidence=float(relevance.get("category_evidence", 0.25)),
    )


def _is_social(item: Item) -> bool:
    return item.source.kind == "x" or item.source.tier == "social"


def classify_item(item: Item, rules: ClassificationRules | None = None) -> Item:
    """The item with category, secondary, category_confidence, relevance, off_topic and (social) item_type."""
    rules = rules or load_classification_rules()
    body = item.text[:_MAX_SCAN_CHARS]
    # Each text is tokenized once, for the term table (folded) and the entity table (as written).
    title_tokens, body_tokens = tokenize(item.title), tokenize(body)
    scores = dict.fromkeys(CATEGORIES, 0.0)
    type_scores = dict.fromkeys(_ITEM_TYPES, 0.0)
    relevance_score = 0.0
    for text, factor, is_body in ((title_tokens, _TITLE_WEIGHT, False), (body_tokens, 1.0, True)):
        if not text.text:
            continue
        for _, contributions in rules.terms.match(casefold(text)):
            for kind, label, weight in contributions:
                if kind == "category":
                    scores[label] += weight * factor  # type: ignore[index]
                elif kind == "relevance":
                    relevance_score += weight * factor
                elif is_body or not body:
                    type_scores[label] += weight  # type: ignore[index]
    total = sum(scores.values())
    category: Category | None = None
    confidence = 0.0
    secondary: tuple[CategoryScore, ...] = ()
    # A stable sort: CATEGORIES order breaks ties, so the result never depends on dict or set order.
    ranked = sorted(CATEGORIES, key=scores.__getitem__, reverse=True) if total > 0 else []
    forced = rules.source_kind_category.get(item.source.kind)
    if forced is not None:
        category, confidence = forced, 1.0  # type: ignore[assignment]
        secondary = tuple(
            CategoryScore(category=c, confidence=round(scores[c] / total, 3))
            for c in ranked
            if c != forced and scores[c] / total >= _MIN_SECONDARY_SHARE
        )[:_MAX_SECONDARY]
    elif ranked:
        category = ranked[0]
        confidence = round(scores[category] / total, 3)
        secondary = tuple(
            CategoryScore(category=c, confidence=round(scores[c] / total, 3))
            for c in ranked[1 : 1 + _MAX_SECONDARY]
            if scores[c] / total >= _MIN_SECONDARY_SHARE
        )

    # AI terms, AI organisations and model names, plus a little for any category evidence
    # (a funding story needs no "AI" to be news); noise terms subtract.
    relevance_score += rules.category_evidence * min(total, 8.0)
    scan = f"{item.title}\n{body}"
    relevance_score += sum(
        weight for _, weight in rules.entities.match(Tokenized(scan, title_tokens.tokens + body_tokens.tokens))
    )
    if relevance_score < rules.saturation:
        hits = sum(1 for pattern in rules.models.present(scan) if pattern.search(scan))
        relevance_score += rules.model_weight * min(2, hits)
    relevance = round(min(1.0, max(0.0, relevance_score / rules.saturation)), 3)

    item_type: ItemType | None = None
    if _is_social(item):
        # Fact wins ties: a post with no marker mostly reports something.
        item_type = max(_ITEM_TYPES, key=type_scores.__getitem__)  # the first of equal scores

    return item.copy_with(
        {
            "category": category,
            "category_confidence": confidence,
            "secondary": secondary,
            "relevance": relevance,
            "off_topic": relevance < rules.off_topic_below,
            "item_type": item_type,
        }
    )


class _ClassifyFn(beam.DoFn):
    def __init__(self, categories_path: str | None, entities_path: str | None) -> None:
        self._paths = (categories_path, entities_path)
        self._rules: ClassificationRules | None = None

    def setup(self) -> None:
        self._rules = load_classification_rules(*self._paths)

    def process(self, item: Item) -> Iterator[Item]:
        yield classify_item(item, self._rules)


class Classify(beam.PTransform):
    """Item -> classified Item (`good`); `dead_letter` stays empty today.

    The data files are loaded (and validated) at construction, so a bad term list fails
    before the pipeline starts.
    """

    def __init__(self, categories_path: str | None = None, entities_path: str | None = None) -> None:
        super().__init__()
        load_classification_rules(categories_path, entities_path)
        self._categories_path = categories_path
        self._entities_path = entities_path

    def expand(self, items: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
        return items | "ClassifyItems" >> beam.ParDo(
            _ClassifyFn(self._categories_path, self._entities_path)
        ).with_outputs(DEAD_LETTER, main="good")
