"""Per-source cursor state in DuckDB: conditional-request validators, since_id, seen entries.

A cursor is read once before a source runs and written once after the producer has
flushed what the run produced (acks=all), so a crash between the two re-fetches and
re-produces rather than losing an entry; keyed producing makes the repeat harmless.

`source_seen` keeps a content fingerprint per entry key: an edited entry (new
fingerprint) is produced again under the same key, an unchanged one is not.

Part cursors (`since_ids`): a source that polls several parts through one endpoint (the X
accounts of a packed `from:a OR from:b` query) keeps a since_id per part, stored as rows
`<source>/<part>` of `source_cursors` ("/" never occurs in a source name). Keyed by the part,
not by the query, because the packing of accounts into queries changes whenever the account
list does; a cursor per part survives any repacking.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from infra.store import Store

__all__ = ["CursorStore", "CursorUpdate", "SourceCursor", "fingerprint"]


def fingerprint(*parts: Any) -> str:
    """A stable digest of the parts that make an entry's content (not its fetch time)."""
    payload = json.dumps(parts, ensure_ascii=False, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class SourceCursor:
    """What the previous runs of one source left behind."""

    source_name: str
    etag: str | None = None
    last_modified: str | None = None
    since_id: str | None = None
    seen: Mapping[str, str] = field(default_factory=dict)  # entry key -> fingerprint
    since_ids: Mapping[str, str] = field(default_factory=dict)  # part (e.g. "from:openai") -> since_id


@dataclass
class CursorUpdate:
    """What one run wants to record; `None` validators mean "leave as stored"."""

    source_name: str
    etag: str | None = None
    last_modified: str | None = None
    since_id: str | None = None
    seen: dict[str, str] = field(default_factory=dict)
    since_ids: dict[str, str] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return (
            self.etag is None
            and self.last_modified is None
            and self.since_id is None
            and not self.seen
            and not self.since_ids
        )


class CursorStore:
    """Reads and writes cursors; every call opens the store for one short transaction."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def load(self, source_name: str) -> SourceCursor:
        return self.load_many([source_name])[source_name]

    def load_many(self, source_names: list[str]) -> dict[str, SourceCursor]:
        """Cursors of several sources in one read transaction (absent ones come back empty)."""
        if not source_names:
            return {}
        with self.store.read() as con:
            rows = con.execute(
                "SELECT source_name, etag, last_modified, since_id FROM source_cursors"
                " WHERE list_contains(?, source_name)",
                [source_names],
            ).fetchall()
            seen_rows = con.execute(
                "SELECT source_name, entry_key, fingerprint FROM source_seen WHERE list_contains(?, source_name)",
                [source_names],
            ).fetchall()
            part_rows = con.execute(
                "SELECT split_part(source_name, '/', 1), substr(source_name, strpos(source_name, '/') + 1), since_id"
                " FROM source_cursors WHERE strpos(source_name, '/') > 0"
                " AND list_contains(?, split_part(source_name, '/', 1)) AND since_id IS NOT NULL",
                [source_names],
            ).fetchall()
        seen: dict[str, dict[str, str]] = {name: {} for name in source_names}
        for name, key, fp in seen_rows:
            seen[name][key] = fp
        parts: dict[str, dict[str, str]] = {name: {} for name in source_names}
        for name, part, since in part_rows:
            parts[name][part] = since
        validators = {name: (etag, modified, since) for name, etag, modified, since in rows}
        return {
            name: SourceCursor(name, *validators.get(name, (None, None, None)), seen[name], parts[name])
            for name in source_names
        }

    def commit(self, update: CursorUpdate) -> None:
        if update.empty:
            return
        with self.store.write() as con:
            self.write(con, update)

    @staticmethod
    def write(con: duckdb.DuckDBPyConnection, update: CursorUpdate) -> None:
        """Write `update` inside the caller's transaction (to share it with other rows)."""
        if update.etag is not None or update.last_modified is not None or update.since_id is not None:
            con.execute(
                "INSERT INTO source_cursors (source_name, etag, last_modified, since_id, updated_at)"
                " VALUES (?, ?, ?, ?, now())"
                " ON CONFLICT (source_name) DO UPDATE SET"
                " etag = coalesce(excluded.etag, source_cursors.etag),"
                " last_modified = coalesce(excluded.last_modified, source_cursors.last_modified),"
                " since_id = coalesce(excluded.since_id, source_cursors.since_id),"
                " updated_at = now()",
                [update.source_name, update.etag, update.last_modified, update.since_id],
            )
        if update.since_ids:
            # One row per part, in one statement (DuckDB's executemany is slow, DESIGN.md §7).
            part_table = pa.table(
                {
                    "source_name": [f"{update.source_name}/{part}" for part in update.since_ids],
                    "since_id": list(update.since_ids.values()),
                }
            )
            con.register("part_batch", part_table)
            try:
                con.execute(
                    "INSERT INTO source_cursors (source_name, since_id, updated_at)"
                    " SELECT source_name, since_id, now() FROM part_batch"
                    " ON CONFLICT (source_name) DO UPDATE SET since_id = excluded.since_id, updated_at = now()"
                )
            finally:
                con.unregister("part_batch")
        if update.seen:
            # executemany runs ~1k rows/s on DuckDB (DESIGN.md §7); an Arrow table is
            # bulk-inserted in one statement.
            seen_table = pa.table(
                {
                    "source_name": [update.source_name] * len(update.seen),
                    "entry_key": list(update.seen),
                    "fingerprint": list(update.seen.values()),
                }
            )
            con.register("seen_batch", seen_table)
            try:
                con.execute(
                    "INSERT INTO source_seen (source_name, entry_key, fingerprint)"
                    " SELECT source_name, entry_key, fingerprint FROM seen_batch"
                    " ON CONFLICT (source_name, entry_key) DO UPDATE SET fingerprint = excluded.fingerprint"
                )
            finally:
                con.unregister("seen_batch")

    def forget(self, source_name: str) -> None:
        """Drop a source's cursor and seen entries, so the next run starts afresh."""
        with self.store.write() as con:
            con.execute(
                "DELETE FROM source_cursors WHERE source_name = ? OR starts_with(source_name, ?)",
                [source_name, f"{source_name}/"],
            )
            con.execute("DELETE FROM source_seen WHERE source_name = ?", [source_name])
