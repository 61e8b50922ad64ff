"""Clustering rules (`data/clustering.toml`) and the keys events are matched on: organisation slugs,
product keys, link keys, event ids."""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path

_DATA = "data/clustering.toml"


@dataclass(frozen=True)
class ClusterRules:
    """Thresholds and term lists of transforms/data/clustering.toml."""

    amount_tolerance: float = 0.01
    money_units: frozenset[str] = frozenset({"USD", "CNY", "EUR", "JPY"})
    ignore_root_urls: bool = True
    link_kinds: frozenset[str] = frozenset({"post"})
    organisation_aliases: dict[str, str] = field(default_factory=dict)
    window: timedelta = timedelta(days=7)
    # links: (pattern, replacement) rewrites that map versioned addresses of one document to one key
    url_rewrites: tuple[tuple[re.Pattern[str], str], ...] = ()
    # cross-language duplicate: a rewrite in another language of an official announcement
    xlang_max_gap: timedelta = timedelta(hours=48)
    xlang_candidate_tiers: frozenset[str] = frozenset({"media"})
    xlang_original_tiers: frozenset[str] = frozenset({"official"})
    xlang_original_kinds: tuple[str, ...] = ("post", "page")

    def __post_init__(self) -> None:
        if not 0 <= self.amount_tolerance < 0.5:
            raise ValueError("entity_join.amount_tolerance must be in [0, 0.5)")
        if self.window <= timedelta(0):
            raise ValueError("event window must be > 0 days")
        if self.xlang_max_gap < timedelta(0):
            raise ValueError("cross_language_duplicate.max_gap_hours must be >= 0")


def load_cluster_rules(path: str | Path | None = None, *, window_days: int = 7) -> ClusterRules:
    """Read the clustering rules (the packaged data file unless `path` is given)."""
    if path is None:
        text = resources.files("transforms").joinpath(_DATA).read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    raw = tomllib.loads(text)
    join = raw.get("entity_join", {})
    links = raw.get("links", {})
    aliases = {_slug_chars(k): _slug_chars(v) for k, v in raw.get("organisation_aliases", {}).items()}
    xlang = raw.get("cross_language_duplicate", {})
    rewrites = tuple((re.compile(r["pattern"]), str(r["replace"])) for r in links.get("equivalent_urls", ()))
    return ClusterRules(
        amount_tolerance=float(join.get("amount_tolerance", 0.01)),
        money_units=frozenset(join.get("money_units", ["USD", "CNY", "EUR", "JPY"])),
        ignore_root_urls=bool(links.get("ignore_root_urls", True)),
        link_kinds=frozenset(links.get("link_kinds", ["post"])),
        organisation_aliases=aliases,
        window=timedelta(days=window_days),
        url_rewrites=rewrites,
        xlang_max_gap=timedelta(hours=float(xlang.get("max_gap_hours", 48.0))),
        xlang_candidate_tiers=frozenset(xlang.get("candidate_tiers", ["media"])),
        xlang_original_tiers=frozenset(xlang.get("original_tiers", ["official"])),
        xlang_original_kinds=tuple(xlang.get("original_kinds", ["post", "page"])),
    )


@cache
def default_rules(window_days: int) -> ClusterRules:
    return load_cluster_rules(window_days=window_days)


# ------------------------------------------------------------------- normalization

_NON_ALNUM = re.compile(r"[\W_]+", re.UNICODE)
_PRODUCT_SEPARATORS = re.compile(r"[\s\-_/]+")


def _slug_chars(name: str) -> str:
    return _NON_ALNUM.sub("", name.casefold())


def organisation_slug(name: str, aliases: dict[str, str] | None = None) -> str:
    """'Hugging Face' / 'hugging-face' / 'huggingface' -> 'huggingface' (aliases fold '微软' -> 'microsoft')."""
    slug = cached_slug(name)
    return (aliases or {}).get(slug, slug)


@lru_cache(maxsize=65536)
def cached_slug(name: str) -> str:
    # The same few thousand names recur in every batch: normalize each once.
    return _slug_chars(name)


@lru_cache(maxsize=65536)
def product_key(name: str) -> str:
    """'GPT-5.4-Cyber' / 'gpt 5.4 cyber' -> 'gpt5.4cyber'; dots stay so '5.4' never becomes '54'."""
    return _PRODUCT_SEPARATORS.sub("", name.casefold())


def new_event_id(founding_item_id: str) -> str:
    """The id of an event founded by this item: stable across batches and re-runs."""
    return "ev-" + hashlib.sha256(founding_item_id.encode()).hexdigest()[:16]


def link_key(url: str, rules: ClusterRules) -> str:
    """The key a URL is compared by in link joins: versioned addresses of one document become one."""
    for pattern, replacement in rules.url_rewrites:
        if pattern.match(url):
            return pattern.sub(replacement, url, count=1)
    return url


def linkable(url: str, ignore_root: bool) -> bool:
    if not url:
        return False
    if not ignore_root:
        return True
    # Cheaper than urlsplit on every URL: is there a path beyond "/" after the host?
    rest = url.partition("://")[2] or url
    slash = rest.find("/")
    return slash != -1 and len(rest) > slash + 1 and rest[slash + 1] not in "?#"
