"""Landing a processed micro-batch in DuckDB: results and consumed offsets in ONE transaction.

The Beam batch writes its outputs as NDJSON files (items, events, dead letters) into
a batch directory; this module loads them with DuckDB's JSON reader (~340k rows/s,
where `executemany` manages ~1k/s) and upserts by key, so a batch that is
recomputed after a crash replaces rather than doubles what an earlier attempt wrote.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from infra.crashpoints import crash_point
from infra.dlq import record_dead_letters
from schemas.dead_letter import DeadLetter

__all__ = [
    "CLUSTER_CLOSED",
    "CLUSTER_EVENTS",
    "CLUSTER_STATE_FILE",
    "BatchFiles",
    "SinkCounts",
    "commit_batch",
    "load_cluster_event_rows",
    "load_cluster_state_blob",
    "load_offsets",
    "store_cluster_state",
]

# The file name the pipeline writes the clustering state's header under (app/pipeline.py).
CLUSTER_STATE_FILE = "cluster_state.json.zz"
# The output kinds of the open events the batch created or changed ({"event_id", "seq", "event":
# JSON text}) and of those it closed or merged away ({"event_id"}).
CLUSTER_EVENTS = "cluster_events"
CLUSTER_CLOSED = "cluster_closed"


@dataclass(frozen=True)
class BatchFiles:
    directory: Path

    def paths(self, kind: str) -> list[Path]:
        """The NDJSON files of one output kind, in name order."""
        return sorted(self.directory.glob(f"{kind}-*.ndjson"))

    def lines(self, kind: str) -> Iterator[bytes]:
        """The records of one output kind, one JSON object per line (blank lines skipped)."""
        for path in self.paths(kind):
            with path.open("rb") as handle:
                yield from (line for line in handle if line.strip())

    def count(self, kind: str) -> int:
        return sum(1 for _ in self.lines(kind))

    def glob(self, kind: str) -> str | None:
        """The NDJSON glob of one output kind, or None when the batch produced none."""
        if not any(f.stat().st_size for f in self.paths(kind)):
            return None
        return str(self.directory / f"{kind}-*.ndjson")


@dataclass(frozen=True)
class SinkCounts:
    items: int
    events: int
    dead_letters: int
    alerts: int


def load_offsets(con: duckdb.DuckDBPyConnection, consumer: str, topic: str) -> dict[int, int]:
    rows = con.execute(
        "SELECT partition, next_offset FROM consumer_offsets WHERE consumer = ? AND topic = ?", [consumer, topic]
    ).fetchall()
    return {int(p): int(o) for p, o in rows}


def load_cluster_state_blob(con: duckdb.DuckDBPyConnection) -> bytes | None:
    """The clustering state (version 2: its header) the last committed batch left, or None before the first."""
    row = con.execute("SELECT state FROM cluster_state WHERE id = 1").fetchone()
    return bytes(row[0]) if row is not None else None


def load_cluster_event_rows(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The open events of a version-2 clustering state, as JSON texts in creation order."""
    return [row[0] for row in con.execute("SELECT event FROM cluster_events ORDER BY seq").fetchall()]


def store_cluster_state(con: duckdb.DuckDBPyConnection, header: bytes, events: list[tuple[str, int, str]]) -> None:
    """Replace the whole stored clustering state: its header blob and every open event (id, seq, JSON)."""
    import pyarrow as pa

    con.execute("DELETE FROM cluster_events")
    if events:
        # An Arrow table, not executemany (~1k rows/s, DESIGN.md §7): a state holds thousands of events.
        ids, seqs, docs = zip(*events, strict=True)
        rows = pa.table({"event_id": list(ids), "seq": pa.array(seqs, pa.int64()), "event": list(docs)})
        con.register("cluster_event_rows", rows)
        try:
            con.execute("INSERT INTO cluster_events SELECT event_id, seq, event FROM cluster_event_rows")
        finally:
            con.unregister("cluster_event_rows")
    _store_cluster_header(con, header)


def _store_cluster_header(con: duckdb.DuckDBPyConnection, header: bytes) -> None:
    # A delete + insert, not INSERT OR REPLACE: see commit_batch (every batch writes it).
    con.execute("DELETE FROM cluster_state WHERE id = 1")
    con.execute("INSERT INTO cluster_state (id, state, updated_at) VALUES (1, ?, now())", [header])


_ITEM_PATHS = (
    "item_id",
    "kind",
    "source.name",
    "source.kind",
    "source.tier",
    "source.publisher",
    "source.organisation",
    "url",
    "canonical_url",
    "title",
    "text",
    "lang",
    "published_at",
    "published_offset_minutes",
    "updated_at",
    "author",
    "handle",
    "content_hash",
    "duplicate_of",
    "duplicate_kind",
    "category",
    "item_type",
    "event_id",
    "engagement",
    "coordinates.topic",
    "coordinates.partition",
    "coordinates.offset",
)
# The field of `_ITEM_PATHS` as text (what `json->>'...'` gives), by name.
_F = {name: f"f[{i}]->>'$'" for i, name in enumerate(_ITEM_PATHS, 1)}

_ITEMS_SQL = f"""
INSERT INTO items (
    item_id, kind, source_name, source_kind, tier, publisher, organisation, url, canonical_url, title, text,
    lang, published_at, published_offset_minutes, updated_at, author, handle, content_hash, duplicate_of,
    duplicate_kind, category, item_type, event_id, engagement, kafka_topic, kafka_partition, kafka_offset,
    processed_at, record)
SELECT
    {_F["item_id"]}, {_F["kind"]}, {_F["source.name"]}, {_F["source.kind"]},
    {_F["source.tier"]}, {_F["source.publisher"]}, {_F["source.organisation"]},
    {_F["url"]}, {_F["canonical_url"]}, coalesce({_F["title"]}, ''), coalesce({_F["text"]}, ''),
    coalesce({_F["lang"]}, 'und'), ({_F["published_at"]})::TIMESTAMPTZ,
    ({_F["published_offset_minutes"]})::INTEGER, ({_F["updated_at"]})::TIMESTAMPTZ, {_F["author"]},
    {_F["handle"]}, coalesce({_F["content_hash"]}, ''), {_F["duplicate_of"]}, {_F["duplicate_kind"]},
    {_F["category"]}, {_F["item_type"]}, {_F["event_id"]},
    -- X counts are untrusted input: clamp instead of failing the whole batch on an overflow
    CASE WHEN {_F["engagement"]} IS NULL THEN 0
         ELSE coalesce(least(TRY_CAST({_F["engagement"]} AS HUGEINT), 9223372036854775807), 9223372036854775807)
    END::BIGINT,
    {_F["coordinates.topic"]}, ({_F["coordinates.partition"]})::INTEGER,
    ({_F["coordinates.offset"]})::BIGINT, now(), json
FROM (
    -- One json_extract with every path parses each record once, not once per field (a third of
    -- the statement on a batch of posts, measured).
    SELECT json, json_extract(json, {list("$." + p for p in _ITEM_PATHS)!r}) AS f FROM read_ndjson_objects(?)
)
-- A key sent twice within one batch (an edited entry) keeps its latest version, as it would
-- across batches (the stored versions of the batch's keys are deleted first, `_upsert_items`).
QUALIFY row_number() OVER (
    PARTITION BY {_F["item_id"]}
    ORDER BY ({_F["coordinates.partition"]})::INTEGER DESC NULLS LAST,
             ({_F["coordinates.offset"]})::BIGINT DESC NULLS LAST
) = 1
"""

_EVENTS_SQL = """
INSERT INTO events (event_id, title, category, verification, signal_score, first_seen, last_seen,
                               items, publishers, updated_at, record)
SELECT json->>'event_id', json->>'title', json->>'category', json->>'verification',
       (json->>'signal_score')::DOUBLE, (json->>'first_seen')::TIMESTAMPTZ, (json->>'last_seen')::TIMESTAMPTZ,
       (json->>'items')::INTEGER, (json->>'publishers')::INTEGER, now(), json
FROM read_ndjson_objects(?)
"""

_COMPONENTS_SQL = """
INSERT INTO score_components (event_id, name, points, reason)
SELECT event_id, c.name, c.points, c.reason
FROM (
    SELECT json->>'event_id' AS event_id,
           unnest(from_json(json->'components', '[{"name":"VARCHAR","points":"DOUBLE","reason":"VARCHAR"}]')) AS c
    FROM read_ndjson_objects(?)
)
"""


def _upsert_items(con: duckdb.DuckDBPyConnection, items_glob: str) -> tuple[list[str], list[str]]:
    """Replace the batch's items by key; returns their keys (records sharing a key land as one row)
    and those of them that were stored already.

    INSERT OR REPLACE plans as a join of the batch against every stored item, a cost that grew
    with the store (~50 ms of CPU a batch of 137 at 100k stored, ~23 at 10k; this way ~14 at
    both, measured). The batch's keys already stored are found and deleted by key, then the batch
    is inserted. A stored dedupe signature is kept, as INSERT OR REPLACE kept the columns it does
    not list (the batch's own signatures replace it just after).
    """
    keys = [
        row[0]
        for row in con.execute("SELECT DISTINCT json->>'item_id' FROM read_ndjson_objects(?)", [items_glob]).fetchall()
    ]
    stored = con.execute(
        f"SELECT item_id, dedupe_signature FROM items WHERE item_id IN ({', '.join('?' * len(keys))})", keys
    ).fetchall()
    if stored:
        con.execute(f"DELETE FROM items WHERE item_id IN ({', '.join('?' * len(stored))})", [r[0] for r in stored])
    con.execute(_ITEMS_SQL, [items_glob])
    signed = [(item_id, signature) for item_id, signature in stored if signature is not None]
    if signed:
        con.execute(
            "UPDATE items SET dedupe_signature = v.signature"
            " FROM (SELECT unnest(?::VARCHAR[]) AS item_id, unnest(?::BLOB[]) AS signature) v"
            " WHERE items.item_id = v.item_id AND items.processed_at >= now()",
            [[r[0] for r in signed], [r[1] for r in signed]],
        )
    return keys, [r[0] for r in stored]


def commit_batch(
    con: duckdb.DuckDBPyConnection,
    files: BatchFiles,
    *,
    consumer: str,
    topic: str,
    next_offsets: Mapping[int, int],
    dead_letters: Sequence[DeadLetter] = (),
    alerts: Iterable[tuple[str, str, str, float]] = (),
    on_items_stored: Callable[[], object] | None = None,
) -> SinkCounts:
    """Upsert a batch's outputs and its offsets. Call inside `Store.write()` (one transaction).

    `on_items_stored` is called, inside the transaction, once the `items` table holds the batch
    as it will be committed (its rows, signatures and merges): what a kept state is brought up to
    (app/processor.py), so that the next batch may go on while the rest is written.
    """
    counts = {"items": 0, "events": 0, "dead_letters": 0}
    items_glob = files.glob("items")
    if items_glob:
        keys, restored = _upsert_items(con, items_glob)
        counts["items"] = len(keys)
        if restored:
            # An item recomputed into another event must not keep its old membership row. Only an
            # item stored before has one (rows are written with their item, here, and re-pointed by
            # merges): a batch of new items skips a scan of every membership (~10 ms at 100k).
            con.execute("DELETE FROM event_items WHERE item_id IN (SELECT unnest(?::VARCHAR[]))", [restored])
        # The batch's keys have no rows left, so only the file's own repeats can clash: DISTINCT,
        # not INSERT OR IGNORE, whose check against every stored row cost ~4x as much at 100k stored.
        con.execute(
            "INSERT INTO event_items (event_id, item_id)"
            " SELECT DISTINCT json->>'event_id', json->>'item_id' FROM read_ndjson_objects(?)"
            " WHERE json->>'event_id' IS NOT NULL",
            [items_glob],
        )
    crash_point("commit-after-items")
    signatures_glob = files.glob("signatures")
    if signatures_glob:
        # Only rows this transaction just wrote (processed_at = its now()): DuckDB then skips the
        # older row groups instead of joining against the whole table.
        con.execute(
            "UPDATE items SET dedupe_signature = from_base64(s.json->>'signature')"
            " FROM read_ndjson_objects(?) s WHERE items.item_id = s.json->>'item_id' AND items.processed_at >= now()",
            [signatures_glob],
        )
    merges_glob = files.glob("merges")
    if merges_glob:
        # Events the clustering folded into others: their members, from earlier batches too, now
        # belong to the survivor (rescored in this batch), and the absorbed rows go.
        con.execute(
            "CREATE OR REPLACE TEMP TABLE batch_merges AS SELECT json->>'absorbed' AS absorbed,"
            " json->>'survivor' AS survivor FROM read_ndjson_objects(?)",
            [merges_glob],
        )
        con.execute(
            "UPDATE items SET event_id = m.survivor,"
            " record = json_merge_patch(record, json_object('event_id', m.survivor))"
            " FROM batch_merges m WHERE items.event_id = m.absorbed"
        )
        con.execute(
            "INSERT OR IGNORE INTO event_items (event_id, item_id) SELECT m.survivor, e.item_id"
            " FROM event_items e JOIN batch_merges m ON e.event_id = m.absorbed"
        )
        for table in ("event_items", "score_components", "events"):
            con.execute(f"DELETE FROM {table} WHERE event_id IN (SELECT absorbed FROM batch_merges)")
        con.execute("DROP TABLE batch_merges")
    if on_items_stored is not None:
        on_items_stored()
    # After the merges (it commutes with them: a batch scores only the events its items end in, never
    # one a merge folded away), so that the callback above comes as early as the items allow.
    events_glob = files.glob("events")
    if events_glob:
        # A batch lists each event it scored once. Its stored rows go first and the batch's are
        # inserted: INSERT OR REPLACE checked every stored row (~2x the cost at 100k stored), and a
        # re-scored event may have lost a component, so its set is replaced wholesale anyway.
        event_ids = [
            row[0]
            for row in con.execute("SELECT json->>'event_id' FROM read_ndjson_objects(?)", [events_glob]).fetchall()
        ]
        for table in ("events", "score_components"):
            con.execute(f"DELETE FROM {table} WHERE event_id IN (SELECT unnest(?::VARCHAR[]))", [event_ids])
        con.execute(_EVENTS_SQL, [events_glob])
        con.execute(_COMPONENTS_SQL, [events_glob])
        counts["events"] = files.count("events")
    # Single rows and small sets are replaced by delete + insert (or update), not INSERT OR REPLACE /
    # OR IGNORE: DuckDB's conflict handling costs ~3-4 ms a statement however few the rows (measured
    # on a 100k store, where each of these cost ~5 ms and a plain insert ~1-2 ms), and a batch pays
    # it on every commit.
    state_file = files.directory / CLUSTER_STATE_FILE
    if state_file.exists():
        _store_cluster_header(con, state_file.read_bytes())
    # Only the open events this batch created, changed or closed: the rest stand as stored.
    open_events_glob = files.glob(CLUSTER_EVENTS)
    changed_globs = [glob for glob in (open_events_glob, files.glob(CLUSTER_CLOSED)) if glob]
    if changed_globs:
        con.execute(
            "DELETE FROM cluster_events WHERE event_id IN (SELECT json->>'event_id' FROM read_ndjson_objects(?))",
            [changed_globs],
        )
    if open_events_glob:
        con.execute(
            "INSERT INTO cluster_events (event_id, seq, event)"
            " SELECT json->>'event_id', (json->>'seq')::BIGINT, json->>'event' FROM read_ndjson_objects(?)",
            [open_events_glob],
        )
    counts["dead_letters"] = record_dead_letters(con, dead_letters)
    alert_rows = list(alerts)
    if alert_rows:
        fresh = {row[0]: row for row in alert_rows}
        sent = con.execute(
            f"SELECT alert_id FROM alerts_sent WHERE alert_id IN ({', '.join('?' * len(fresh))})", list(fresh)
        ).fetchall()
        for (alert_id,) in sent:
            del fresh[alert_id]
        if fresh:
            # One statement for the batch: a statement per alert cost ~2-6 ms each inside the commit
            # (every record an alert at 200/s: ~0.7 s of a batch, measured).
            con.execute(
                "INSERT INTO alerts_sent (alert_id, event_id, level, signal_score)"
                " SELECT unnest(?), unnest(?), unnest(?), unnest(?::DOUBLE[])",
                [list(column) for column in zip(*fresh.values(), strict=True)],
            )
    if next_offsets:
        # An update by key per partition (~1 ms each; a join against the batch's list cost ~4).
        updated = {
            partition
            for partition, offset in next_offsets.items()
            if con.execute(
                "UPDATE consumer_offsets SET next_offset = ?, updated_at = now()"
                " WHERE consumer = ? AND topic = ? AND partition = ?",
                [offset, consumer, topic, partition],
            ).fetchone()[0]
        }
        first = {partition: offset for partition, offset in next_offsets.items() if partition not in updated}
        if first:
            con.execute(
                "INSERT INTO consumer_offsets (consumer, topic, partition, next_offset, updated_at)"
                " SELECT ?, ?, unnest(?::INTEGER[]), unnest(?::BIGINT[]), now()",
                [consumer, topic, list(first), list(first.values())],
            )
    crash_point("commit-before-end")
    return SinkCounts(counts["items"], counts["events"], counts["dead_letters"], len(alert_rows))
