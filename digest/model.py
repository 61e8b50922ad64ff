"""The digest's own data: the items it reads from the store and the playbook it writes with."""

from __future__ import annotations

import re
import string
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


_FORMATTER = string.Formatter()
# Han characters and the full-width punctuation Chinese text sets without spaces (《》「」（），。).
_CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]")


def _cjk(char: str) -> bool:
    return bool(char) and _CJK.match(char) is not None


def _format_zh(template: str, values: _Blank) -> str:
    """`template.format_map(values)`, except that a space the template puts beside a placeholder goes
    when Chinese meets Chinese across it. The zh templates space their placeholders for Latin values
    ("Hugging Face 于", "GPT-5 发布"), as Chinese typography sets Latin text apart; a Chinese value
    there ("新智观察 于") would keep a gap no Chinese text has. A value's own spaces are its own."""
    pieces: list[str] = []
    spaces: set[int] = set()  # offsets, in the result, of template spaces that touch a placeholder
    length = 0
    after_value = False
    for literal, name, spec, conversion in _FORMATTER.parse(template):
        if literal:
            if literal[0] == " " and after_value:
                spaces.add(length)
            if literal[-1] == " " and name is not None:
                spaces.add(length + len(literal) - 1)
            pieces.append(literal)
            length += len(literal)
        after_value = name is not None
        if name is None:
            continue
        value = _FORMATTER.vformat(
            "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}", (), values
        )
        pieces.append(value)
        length += len(value)
    text = "".join(pieces)
    for at in sorted(spaces, reverse=True):
        if _cjk(text[at - 1 : at]) and _cjk(text[at + 1 : at + 2]):
            text = text[:at] + text[at + 1 :]
    return text


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
        template = str(node[key])
        if self.lang == "zh":
            return _format_zh(template, _Blank(values))
        return template.format_map(_Blank(values))

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
