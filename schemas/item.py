"""A normalized, deduplicated, classified item: what the Beam pipeline lands in DuckDB."""

from __future__ import annotations

from typing import Final, Literal

from pydantic import AwareDatetime, Field

from schemas.common import Category, Contract, ItemType, KafkaCoordinates, SourceRef

__all__ = ["LINKED_PAGE", "Amount", "CategoryScore", "DuplicateKind", "Entities", "Item"]


class Amount(Contract):
    """A number normalized across languages and units ("$122 billion" = "1220 亿美元")."""

    text: str = Field(description="as written")
    value: float
    unit: Literal["USD", "CNY", "EUR", "JPY", "count", "ratio", "percent", "other"]


class Entities(Contract):
    organisations: tuple[str, ...] = ()
    products: tuple[str, ...] = ()
    people: tuple[str, ...] = ()
    handles: tuple[str, ...] = ()
    amounts: tuple[Amount, ...] = ()
    dates: tuple[str, ...] = Field((), description="ISO dates mentioned in the text")


class CategoryScore(Contract):
    category: Category
    confidence: float = Field(ge=0, le=1)


# How dedupe recognised a duplicate (transforms/dedupe.py). One name for the last kind, read by
# clustering and the digest: a feed entry and the page fetched from its link are one document.
DuplicateKind = Literal["url", "native-id", "content", "near", "linked-page"]
LINKED_PAGE: Final = "linked-page"


class Item(Contract):
    schema_: Literal["item"] = Field("item", alias="schema")
    version: Literal[1] = 1
    item_id: str = Field(min_length=1, description="the raw envelope key")
    kind: Literal["post", "page"]
    source: SourceRef
    url: str | None = None
    canonical_url: str | None = None
    title: str = ""
    text: str = ""
    lang: str = "und"
    published_at: AwareDatetime | None = Field(None, description="UTC")
    published_offset_minutes: int | None = Field(None, description="the source's UTC offset, kept")
    updated_at: AwareDatetime | None = None
    author: str | None = None
    handle: str | None = None
    linked_urls: tuple[str, ...] = ()
    content_hash: str = ""
    duplicate_of: str | None = None
    duplicate_kind: DuplicateKind | None = None
    category: Category | None = None
    secondary: tuple[CategoryScore, ...] = ()
    item_type: ItemType | None = None
    entities: Entities = Entities()
    official_for: str | None = Field(
        None, description="organisation whose own voice this is (official blog, or its X account)"
    )
    event_id: str | None = None
    engagement: int = Field(0, ge=0, description="likes+retweets+quotes+replies for social posts")
    coordinates: KafkaCoordinates | None = None
    # Added by the processing stages (additive; defaults keep older item/1 records valid).
    native_id: str | None = Field(None, description="namespaced native id: 'x:<post id>', 'arxiv:<id>'")
    retweet_of: str | None = Field(None, description="native id of the post this one retweets")
    quote_of: str | None = Field(None, description="native id of the post this one quotes")
    category_confidence: float = Field(0.0, ge=0, le=1, description="confidence of `category`")
    relevance: float = Field(0.0, ge=0, le=1, description="how much the item is about AI at all")
    off_topic: bool = Field(False, description="not about AI: the digest drops it")
    categories: tuple[str, ...] = Field(
        (), description="arXiv subject categories of a paper (cs.CL, stat.ML, ...), primary first"
    )
    linked_from: str | None = Field(
        None, description="a page: key of the same source's entry (or page) whose link led to it"
    )
    # Dedupe's flags + MinHash bytes, kept so the next batch need not recompute them.
    # Stored in items.dedupe_signature (migration 002), not in the JSON record.
    dedupe_signature: bytes = Field(b"", exclude=True, repr=False)
