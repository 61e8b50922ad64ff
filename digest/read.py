"""The digest's reads: one read-only connection gathers every row the digest needs, then closes.

Prose, rendering and the optional LLM polish run afterwards with the file free (infra/store.py's rule).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import duckdb

from digest.model import SourceItem
from digest.select import WINDOW_ITEMS, Candidate, WindowSpec
from infra.store import Store
from schemas.item import LINKED_PAGE

__all__ = ["Reader", "combine_linked_pages", "store_fingerprint"]

# The columns of a SourceItem, in _source_item's order; `{event}` is where the event id comes from.
_COLUMNS = """
i.item_id, {event}, i.source_kind, i.tier, i.publisher, i.url, i.canonical_url, i.title, i.text, i.lang,
i.published_at, i.handle, i.item_type, i.engagement, i.duplicate_of,
json_extract(i.record, '$.entities') AS entities, json_extract_string(i.record, '$.official_for'),
i.updated_at, i.author,
coalesce(json_extract(i.record, '$.categories'), json_extract(i.record, '$.paper.categories')) AS categories,
i.duplicate_kind, i.kind = 'page'
"""

# Full rows for a handful of items picked from the narrow window table (WINDOW_ITEMS);
# the event comes from that table, which also resolved event_items-only memberships.
_ITEM_ROWS = f"""
SELECT {_COLUMNS.format(event="w.event_id")}
FROM {WINDOW_ITEMS} w JOIN items i ON i.item_id = w.item_id
WHERE w.item_id IN (SELECT unnest($ids))
ORDER BY i.published_at, i.item_id
"""

# The other half of a feed entry and the page it links (dedupe's "linked-page" pairs), in either
# direction: the items marked duplicates of these, and the items these are marked duplicates of.
# Read from `items`, not the window table: an entry without a date is not in it. The probe reads
# three narrow columns; only the few rows it finds are read whole.
_LINKED_IDS = f"""
SELECT item_id FROM items
WHERE duplicate_kind = '{LINKED_PAGE}' AND duplicate_of IN (SELECT unnest($ids))
"""
_LINKED_ROWS = f"""
SELECT {_COLUMNS.format(event="i.event_id")}
FROM items i
WHERE i.item_id IN (SELECT unnest($ids))
"""
# A word for comparing texts: a Han character, or a run of letters and digits.
_WORD = re.compile(r"[\u3400-\u9fff]|[^\W_\u3400-\u9fff]+")
# Fewer words than this is a stub ("Read more.", "Continue reading →"), not a summary.
_MIN_STANDFIRST_WORDS = 8
# A page reached through a refresh hop names the page before it: a chain is a few links long at most.
_MAX_LINK_HOPS = 4


def _json(raw: Any, kind: type) -> Any:
    if not raw:
        return kind()
    try:
        loaded = json.loads(raw)
    except ValueError:
        return kind()
    return loaded if isinstance(loaded, kind) else kind()


def _source_item(row: tuple[Any, ...]) -> SourceItem:
    entities: dict[str, Any] = _json(row[15], dict)
    return SourceItem(
        item_id=row[0],
        event_id=row[1],
        source_kind=row[2],
        tier=row[3],
        publisher=row[4],
        url=row[5],
        canonical_url=row[6],
        title=row[7] or "",
        text=row[8] or "",
        lang=row[9] or "und",
        published_at=row[10],
        handle=row[11],
        item_type=row[12],
        engagement=int(row[13] or 0),
        duplicate_of=row[14],
        entities=entities,
        official_for=row[16],
        updated_at=row[17],
        author=row[18],
        categories=tuple(str(c) for c in _json(row[19], list)),
        duplicate_kind=row[20],
        is_page=bool(row[21]),
    )


def _published_order(item: SourceItem) -> tuple[bool, datetime | None, str]:
    # As _ITEM_ROWS orders them: by date, undated last, then id.
    return (item.published_at is None, item.published_at, item.item_id)


def _merged_entities(members: Sequence[SourceItem]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for member in members:
        for kind, values in member.entities.items():
            if not isinstance(values, list):
                merged.setdefault(kind, values)
                continue
            known = merged.setdefault(kind, [])
            seen = {json.dumps(v, sort_keys=True) for v in known}
            known.extend(v for v in values if json.dumps(v, sort_keys=True) not in seen)
    return merged


def _words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def _is_standfirst(entry: SourceItem, article: str) -> bool:
    """Whether a feed entry's text says something of its own: not a "Read more." stub, not its
    title again, not a passage the article already holds."""
    words = _words(entry.text)
    if len(words) < _MIN_STANDFIRST_WORDS or words == _words(entry.title):
        return False
    return " ".join(words) not in " ".join(_words(article))


def _one_document(group: Sequence[SourceItem]) -> SourceItem:
    inside = {m.item_id for m in group}
    # The pair's root: the member not marked a linked-page duplicate of another member. Its own mark
    # (a cross-language rewrite of another publisher's item, say) is the document's.
    roots = [m for m in group if not (m.duplicate_kind == LINKED_PAGE and m.duplicate_of in inside)]
    root = min(roots or group, key=_published_order)
    # Identity from the feed entry, body from the richest text (the article, normally), whatever
    # dedupe made root: the same document reads the same either way.
    identity = min(group, key=lambda m: (m.is_page, m.item_id))
    body = max(group, key=lambda m: (len(m.text.strip()), m.is_page, m.item_id))
    pages = [m for m in group if m.is_page and m is not identity]
    page = body if body in pages else max(pages, key=lambda m: len(m.text.strip()), default=None)
    url, canonical = identity.url, identity.canonical_url
    if page is not None:
        canonical = page.canonical_url or canonical
        if page.url != identity.url:
            # The entry's link went elsewhere first (a tracking redirect, a feed proxy): the page's
            # canonical address is the one a reader should follow.
            url = page.canonical_url or page.url or url
    text, standfirst = body.text, ""
    if body is not identity and _is_standfirst(identity, body.text):
        # The entry's summary is the publisher's standfirst: it leads, and the figures it gives
        # ("月收入已达 20 亿美元") are not always repeated in the article's text.
        standfirst = identity.text.strip()
        text = f"{standfirst}\n{body.text}"
    others = [body, identity, *(m for m in group if m is not body and m is not identity)]
    dates = [m.published_at for m in group if m.published_at is not None]
    updates = [m.updated_at for m in group if m.updated_at is not None]
    outside = root.duplicate_of if root.duplicate_of not in inside else None
    return replace(
        identity,
        event_id=root.event_id or next((m.event_id for m in group if m.event_id), None),
        url=url,
        canonical_url=canonical,
        title=identity.title or body.title,
        text=text,
        standfirst=standfirst,
        lang=body.lang,
        published_at=min(dates, default=None),
        updated_at=max(updates, default=None),
        handle=next((m.handle for m in others if m.handle), None),
        item_type=next((m.item_type for m in others if m.item_type), None),
        engagement=max(m.engagement for m in group),
        duplicate_of=outside,
        duplicate_kind=root.duplicate_kind if outside is not None else None,
        entities=_merged_entities(others),
        official_for=next((m.official_for for m in others if m.official_for), None),
        author=next((m.author for m in others if m.author), None),
        categories=next((m.categories for m in others if m.categories), ()),
    )


def combine_linked_pages(items: Sequence[SourceItem]) -> list[SourceItem]:
    """One SourceItem per document: a feed entry and the page fetched from its link become one.

    Dedupe marks one of the two a "linked-page" duplicate of the other, and which one depends on
    dates and batch boundaries (a page committed before its entry arrives stays the root). The
    digest reads originals only, so without this the page's article text, and every figure and
    name only it states, would leave the digest whenever the entry is the root; and a page that is
    root would be shown under the page's id and date while its entry's are lost. So the two are
    read as one item, the same whichever is root:
    - identity (id, source, publisher, title) from the feed entry;
    - body (text, language) from the richest text, normally the page's article, after the entry's
      summary when that says something the article does not (it is then the item's lead);
    - address: the page's canonical URL when the entry's link led elsewhere first (tracking
      redirects, feed proxies), otherwise the entry's link with the page's canonical;
    - dates: the earliest stated publish date (an entry often has none, or the feed's later one);
    - the root's event and duplicate mark (a rewrite of another item stays one).
    Items are returned in _ITEM_ROWS order (date, undated last, then id). `items` must hold both
    halves of each pair (Reader._items reads the missing ones).
    """
    by_id = {i.item_id: i for i in items}
    parent = {i: i for i in by_id}

    def find(item_id: str) -> str:
        while parent[item_id] != item_id:
            parent[item_id] = parent[parent[item_id]]
            item_id = parent[item_id]
        return item_id

    for item in items:
        if item.duplicate_kind == LINKED_PAGE and item.duplicate_of in by_id:
            a, b = find(item.item_id), find(item.duplicate_of)
            if a != b:
                parent[max(a, b)] = min(a, b)
    groups: dict[str, list[SourceItem]] = {}
    for item in by_id.values():
        groups.setdefault(find(item.item_id), []).append(item)
    combined = [group[0] if len(group) == 1 else _one_document(group) for group in groups.values()]
    return sorted(combined, key=_published_order)


class Reader:
    """The digest's queries over one read-only connection (after select_events built WINDOW_ITEMS)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, window: WindowSpec) -> None:
        self.con = con
        self.window = window
        self.bounds = {"start": window.start, "end": window.end}

    def _items(self, item_ids: Sequence[str]) -> list[SourceItem]:
        """These items, each feed entry and the page it links read as one (combine_linked_pages)."""
        if not item_ids:
            return []
        items = [_source_item(r) for r in self.con.execute(_ITEM_ROWS, {"ids": list(item_ids)}).fetchall()]
        return combine_linked_pages(items + self._linked_partners(items))

    def _linked_partners(self, items: Sequence[SourceItem]) -> list[SourceItem]:
        """The other halves of these items' linked-page pairs (and of theirs), not among `items`."""
        known = {i.item_id for i in items}
        frontier = list(items)
        found: list[SourceItem] = []
        for _ in range(_MAX_LINK_HOPS):
            probe = [i.item_id for i in frontier]
            wanted = {i.duplicate_of for i in frontier if i.duplicate_kind == LINKED_PAGE and i.duplicate_of}
            wanted.update(r[0] for r in self.con.execute(_LINKED_IDS, {"ids": probe}).fetchall())
            wanted -= known
            if not wanted:
                break
            rows = self.con.execute(_LINKED_ROWS, {"ids": sorted(wanted)}).fetchall()
            frontier = [_source_item(r) for r in rows]
            known.update(wanted)
            found.extend(frontier)
        return found

    def event_items(self, event_ids: Iterable[str], per_event: int = 60) -> dict[str, list[SourceItem]]:
        """Usable items of these events, the strongest `per_event` of each (a viral event has thousands)."""
        ids = sorted(set(event_ids))
        if not ids:
            return {}
        item_ids = [
            r[0]
            for r in self.con.execute(
                f"SELECT item_id FROM {WINDOW_ITEMS} WHERE event_id IN (SELECT unnest($ids))"
                " QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY"
                "   CASE tier WHEN 'official' THEN 0 WHEN 'research' THEN 1 WHEN 'media' THEN 2"
                "   WHEN 'community' THEN 3 ELSE 4 END, published_at, item_id) <= $n",
                {"ids": ids, "n": per_event},
            ).fetchall()
        ]
        found: dict[str, list[SourceItem]] = {i: [] for i in ids}
        for item in self._items(item_ids):
            # setdefault: the other half of a linked page, read from `items`, could name another event.
            found.setdefault(item.event_id or "", []).append(item)
        return found

    def events(self, event_ids: Iterable[str]) -> dict[str, Candidate]:
        ids = sorted(set(event_ids))
        if not ids:
            return {}
        rows = self.con.execute(
            "SELECT event_id, title, category, verification, signal_score, first_seen, last_seen, items, publishers"
            " FROM events WHERE event_id IN (SELECT unnest($ids))",
            {"ids": ids},
        ).fetchall()
        return {
            r[0]: Candidate(
                r[0],
                r[1],
                r[2],
                r[3],
                float(r[4]),
                r[5],
                r[6],
                int(r[7]),
                int(r[7]),
                int(r[8]),
                carried_over=r[5] < self.window.start,
            )
            for r in rows
        }

    def _pick(self, where: str, order: str, limit: int, *, updated_counts: bool = False) -> list[SourceItem]:
        # A paper's new version inside the window makes it window news even when v1 is older.
        when = (
            "((published_at >= $start AND published_at < $end)"
            " OR (updated_at >= $start AND updated_at < $end AND updated_at > published_at))"
            if updated_counts
            else "published_at >= $start AND published_at < $end"
        )
        ids = [
            r[0]
            for r in self.con.execute(
                f"SELECT item_id FROM {WINDOW_ITEMS} WHERE {where} AND {when}"
                f" AND duplicate_of IS NULL ORDER BY {order} LIMIT {int(limit)}",
                self.bounds,
            ).fetchall()
        ]
        return self._items(ids)

    def posts(self, limit: int = 200) -> list[SourceItem]:
        return self._pick("(tier = 'social' OR source_kind = 'x')", "engagement DESC, item_id", limit)

    def papers(self, limit: int = 200) -> list[SourceItem]:
        return self._pick(
            "(source_kind = 'arxiv' OR tier = 'research')",
            "greatest(published_at, coalesce(updated_at, published_at)) DESC, item_id",
            limit,
            updated_counts=True,
        )

    def stats(self) -> dict[str, int]:
        # Items in and duplicates count everything that arrived, noise included; events only usable items.
        items_in, duplicates = self.con.execute(
            "SELECT count(*), count(duplicate_of) FROM items WHERE published_at >= $start AND published_at < $end",
            self.bounds,
        ).fetchone()
        events = self.con.execute(
            f"SELECT count(DISTINCT event_id) FROM {WINDOW_ITEMS} WHERE published_at >= $start AND published_at < $end",
            self.bounds,
        ).fetchone()[0]
        rejected = self.con.execute(
            "SELECT count(*) FROM dead_letters WHERE occurred_at >= $start AND occurred_at < $end", self.bounds
        ).fetchone()[0]
        return {
            "items_in": int(items_in),
            "duplicates": int(duplicates),
            "rejected": int(rejected),
            "events": int(events),
        }


def store_fingerprint(store: Store) -> str:
    """What the digest depends on, cheaply: changes whenever items, events or digests change."""
    with store.read() as con:
        row = con.execute(
            "SELECT (SELECT count(*) FROM items), (SELECT max(processed_at) FROM items),"
            " (SELECT count(*) FROM events), (SELECT max(updated_at) FROM events),"
            " (SELECT count(*) FROM dead_letters), (SELECT max(created_at) FROM digests)"
        ).fetchone()
    return "|".join(str(v) for v in row)
