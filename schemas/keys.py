"""Which entry keys name an item on the whole web, and how the others are made unique.

A feed's guid or id is only required to be unique within that feed: two feeds may both
number their entries "1". Used as the item id unchanged, the second overwrote the first
in `items` (issue 10). A key that is a URL, a `urn:` or a `tag:` URI names the entry
wherever it appears, so the same story syndicated by two feeds keeps one id and dedupes;
any other key is qualified with the source name, which makes it unique per source.
"""

from __future__ import annotations

import re

__all__ = ["entry_key", "is_global_key", "page_item_id", "scoped_key", "unscoped_key"]

# An absolute URL with a host (or a file on this machine), a URN with its namespace id
# (RFC 8141) and a tag URI with its authority and date (RFC 4151).
_GLOBAL_KEY = re.compile(
    r"(?:https?://[^/?#\s]+|file:///|urn:[a-z0-9][a-z0-9-]{0,31}:\S|tag:[^,\s]+,\d{4}(?:-\d\d){0,2}:)",
    re.IGNORECASE,
)
# Our own namespace: a feed writing it could otherwise claim another source's scoped key.
_OURS = "urn:radar:"
_SCOPED = "urn:radar:guid:"
_CONTENT = "urn:radar:entry:"  # connectors.feed.content_key: already unique per source


def is_global_key(key: str) -> bool:
    """True when `key` names the entry on the whole web (and is not in radar's own namespace)."""
    return _GLOBAL_KEY.match(key) is not None and not key.lower().startswith(_OURS)


def scoped_key(source_name: str, key: str) -> str:
    """`key` unchanged when global; else `urn:radar:guid:<source>:<key>`.

    Idempotent for the same source, so a replayed envelope keeps the key it was given.
    Source names cannot contain ":" (config pattern), so the prefix is unambiguous.
    """
    if is_global_key(key) or key.startswith((f"{_SCOPED}{source_name}:", f"{_CONTENT}{source_name}:")):
        return key
    return f"{_SCOPED}{source_name}:{key}"


def unscoped_key(key: str) -> str:
    """The key as the source wrote it (what ground-truth files name): inverse of `scoped_key`."""
    if not key.startswith(_SCOPED):
        return key
    _source, _sep, rest = key[len(_SCOPED) :].partition(":")
    return rest or key


# A fetched page's item id: pages have their own id space, because a feed entry and the page its
# link led to often share a key (guid = canonical URL), and both must land (the page as a
# duplicate of the entry, not over it).
_PAGE = "page:"


def page_item_id(key: str) -> str:
    """The item id of the page fetched under envelope key `key`."""
    return f"{_PAGE}{key}"


def entry_key(item_id: str) -> str:
    """The envelope key an item id was made from: inverse of `page_item_id`, other ids unchanged."""
    return item_id.removeprefix(_PAGE)
