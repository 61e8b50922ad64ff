"""The digest's own data: the items it reads from the store and the playbook it writes with."""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

__all__ = ["PLAYBOOK_DIR", "Lang", "Playbook", "SourceItem"]

Lang = Literal["zh", "en"]
PLAYBOOK_DIR = Path(__file__).parent / "playbooks"


class _Blank(dict[str, Any]):
    # A playbook may omit a placeholder's value; an empty string beats a KeyError mid-digest.
    def __missing__(self, key: str) -> str:
        return ""


@dataclass(frozen=True)
class Playbook:
    lang: Lang
    data: dict[str, Any]

    @classmethod
    @lru_cache(maxsize=4)
    def load(cls, lang: Lang) -> Playbook:
        with (PLAYBOOK_DIR / f"{lang}.toml").open("rb") as fh:
            return cls(lang, tomllib.load(fh))

    def text(self, section: str, key: str, **values: Any) -> str:
        node: Any = self.data
        for part in section.split("."):
            node = node[part]
        return str(node[key]).format_map(_Blank(values))

    def label(self, key: str, **values: Any) -> str:
        return self.text("labels", key, **values)

    def category(self, category: str, key: str, **values: Any) -> str:
        return self.text(f"categories.{category}", key, **values)

    def category_name(self, category: str) -> str:
        return self.category(category, "name")

    def join(self, parts: Iterable[str]) -> str:
        return self.label("list_sep").join(parts)

    def quote(self, title: str) -> str:
        return f"「{title}」" if self.lang == "zh" else f"“{title}”"

    def number(self, n: int) -> str:
        if self.lang == "zh":
            return f"{n / 10000:.1f} 万" if n >= 10000 else str(n)
        return f"{n:,}"


@dataclass(frozen=True)
class SourceItem:
    """The fields of an item row the digest reads (plus entities from its `record`)."""

    item_id: str
    event_id: str | None
    source_kind: str
    tier: str
    publisher: str
    url: str | None
    canonical_url: str | None
    title: str
    text: str
    lang: str
    published_at: datetime | None
    handle: str | None = None
    item_type: str | None = None
    engagement: int = 0
    duplicate_of: str | None = None
    entities: dict[str, Any] = field(default_factory=dict)
    official_for: str | None = None  # the organisation whose own account posted it (entities.toml handles)
    updated_at: datetime | None = None
    author: str | None = None  # a post's display name, a paper's author list
    categories: tuple[str, ...] = ()  # arXiv categories, when the item record keeps them
    # How dedupe recognised it as a duplicate, and whether it is a fetched page (`items.kind`): what
    # digest.read.combine_linked_pages needs to fold a feed entry and the page it links into one.
    duplicate_kind: str | None = None
    is_page: bool = False
    # A feed entry's own summary when its page's article is the body: the item's lead (lead_of).
    standfirst: str = ""

    @property
    def link(self) -> str | None:
        """The item's web address when it is one a reader can follow (http/https only)."""
        for candidate in (self.url, self.canonical_url):
            if candidate and candidate.lower().startswith(("https://", "http://")):
                return candidate
        return None

    @property
    def is_social(self) -> bool:
        return self.tier == "social" or self.source_kind == "x"
