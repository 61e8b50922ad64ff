"""The digest's reads: one read-only connection gathers every row the digest needs, then closes.

Prose, rendering and the optional LLM polish run afterwards with the file free (infra/store.py's rule).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import duckdb

from digest.model import SourceItem
from digest.select import WINDOW_ITEMS, Candidate, WindowSpec
from infra.store import Store

__all__ = ["Reader", "store_fingerprint"]

# Full rows for a handful of items picked from the narrow window table (WINDOW_ITEMS);
# the event comes from that table, which also resolved event_items-only memberships.
_ITEM_ROWS = f"""
SELECT i.item_id, w.event_id, i.source_kind, i.tier, i.publisher, i.url, i.canonical_url, i.title, i.text, i.lang,
       i.published_at, i.handle, i.item_type, i.engagement, i.duplicate_of,
       json_extract(i.record, '$.entities') AS entities, json_extract_string(i.record, '$.official_for'),
       i.updated_at, i.author,
       coalesce(json_extract(i.record, '$.categories'), json_extract(i.record, '$.paper.categories')) AS categories
FROM {WINDOW_ITEMS} w JOIN items i ON i.item_id = w.item_id
WHERE w.item_id IN (SELECT unnest($ids))
ORDER BY i.published_at, i.item_id
"""


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
    )


class Reader:
    """The digest's queries over one read-only connection (after select_events built WINDOW_ITEMS)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, window: WindowSpec) -> None:
        self.con = con
        self.window = window
        self.bounds = {"start": window.start, "end": window.end}

    def _items(self, item_ids: Sequence[str]) -> list[SourceItem]:
        if not item_ids:
            return []
        return [_source_item(r) for r in self.con.execute(_ITEM_ROWS, {"ids": list(item_ids)}).fetchall()]

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
            found[item.event_id or ""].append(item)
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
