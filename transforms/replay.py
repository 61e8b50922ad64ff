"""Event clustering replay (DESIGN.md §6): a JSONL file of records, in file order, into events.

Each line `{"id", "title", "text"?, "published_at"?, "publisher"?, "url"?, "lang"?}` (other
fields, such as a gold label, are ignored) becomes a raw post and goes through the pipeline's
own `normalize`, `dedupe` and `cluster` stage functions as one batch (`cluster_batch`: links,
duplicates, then the event-clustering core of `transforms.events`). A duplicate joins its
original's event. Topic relevance never removes a record: replayed records are not
classified, so every valid line gets an event.

No Kafka, no store: the replay is a pure function of the file, so `radar eval clustering`
can score it against labels and a tuning run can compare settings on the same input.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from schemas.common import KafkaCoordinates, SourceRef
from schemas.dead_letter import DeadLetter
from schemas.raw import Fetch, RawPost, ReceivedRaw
from transforms.cluster import cluster_batch
from transforms.dedupe import dedupe_items
from transforms.events import ClusterState
from transforms.normalize import normalize_record

__all__ = ["ReplayInput", "ReplayLine", "labels_of", "read_replay_file", "replay"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class ReplayInput:
    line: int
    record: dict[str, Any]


@dataclass(frozen=True)
class ReplayLine:
    id: str
    event_id: str
    duplicate_of: str | None

    def to_json(self) -> str:
        return json.dumps(
            {"id": self.id, "event_id": self.event_id, "duplicate_of": self.duplicate_of}, ensure_ascii=False
        )


def read_replay_file(path: Path) -> tuple[list[ReplayInput], list[str]]:
    """Valid records in file order, and one-line reasons (with line numbers) for the others."""
    records: list[ReplayInput] = []
    errors: list[str] = []
    seen: set[str] = set()
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except (ValueError, RecursionError) as exc:
                # ValueError covers JSONDecodeError and UnicodeDecodeError; RecursionError is a
                # line nested deeper than the parser goes.
                errors.append(f"line {number}: not JSON ({exc.__class__.__name__}: {str(exc)[:80]})")
                continue
            reason = _invalid(record)
            if reason is None and record["id"] in seen:
                reason = f"id {record['id']!r} already used by an earlier line"
            if reason is not None:
                errors.append(f"line {number}: {reason}")
                continue
            seen.add(record["id"])
            records.append(ReplayInput(number, record))
    return records, errors


_OPTIONAL_TEXT = ("text", "publisher", "url", "lang", "published_at")


def _invalid(record: Any) -> str | None:
    if not isinstance(record, dict):
        return "not a JSON object"
    if "id" in record and record["id"] is not None and not isinstance(record["id"], str):
        return f"field 'id' must be a string, got {type(record['id']).__name__} {str(record['id'])[:40]}"
    if not isinstance(record.get("id"), str) or not record["id"].strip():
        return "missing or empty string field 'id'"
    if not isinstance(record.get("title"), str):
        return "missing string field 'title'"
    for name in _OPTIONAL_TEXT:
        if record.get(name) is not None and not isinstance(record[name], str):
            return f"field {name!r} must be a string"
    for name in ("id", "title", *_OPTIONAL_TEXT):
        value = record.get(name)
        if isinstance(value, str) and not value.isascii():
            # JSON's \ud800-style escapes let a lone surrogate through: no text can hold it.
            surrogate = next((c for c in value if "\ud800" <= c <= "\udfff"), None)
            if surrogate is not None:
                return f"field {name!r} holds a lone surrogate (\\u{ord(surrogate):04x}), not text"
    if record.get("published_at"):
        try:
            _when(record["published_at"])
        except ValueError:
            return f"published_at {record['published_at']!r} is not an RFC 3339 date-time (e.g. 2026-04-20T12:00:00Z)"
    return None


# RFC 3339's date-time: a full date, a full time and an offset (a space for the T is allowed there).
# Python's fromisoformat alone also takes ISO 8601 forms a record must not silently mean something
# by: a bare date, a time with no offset, basic format, week dates.
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:(?P<second>\d{2})(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})", re.ASCII
)


def _when(value: str) -> datetime:
    match = _RFC3339.fullmatch(value)
    if match is None:
        raise ValueError(f"{value!r} is not an RFC 3339 date-time")
    text = value[:-1] + "+00:00" if value[-1] in "Zz" else value
    if match["second"] == "60":
        # A leap second: Python's datetime has no 60th second; it is taken as the one before.
        text = text[: match.start("second")] + "59" + text[match.end("second") :]
    return datetime.fromisoformat(text)


def _raw_post(item: ReplayInput) -> ReceivedRaw:
    record = item.record
    publisher = (record.get("publisher") or "replay").strip() or "replay"
    name = _SLUG.sub("-", publisher.lower()).strip("-") or "replay"
    url = record.get("url") or None
    published_at = _when(record["published_at"]) if record.get("published_at") else None
    source = SourceRef(name=name, kind="jsonl", tier="media", publisher=publisher, url="file://replay")
    fetch = Fetch(
        requested_url="file://replay", final_url="file://replay", status=200, fetched_at=published_at or _EPOCH
    )
    text = record.get("text") or ""
    post = RawPost(
        key=record["id"],
        source=source,
        fetch=fetch,
        native_id=None,
        url=url,
        title=record["title"],
        summary_html=f"<p>{html.escape(text)}</p>" if text else None,
        lang=record.get("lang"),
        published=record.get("published_at"),
        published_at=published_at,
    )
    # The line number stands in for the Kafka offset: arrival order is file order. The Kafka
    # timestamp (an undated record's place in time) is the fetch time the pipeline would have.
    return ReceivedRaw(
        envelope=post,
        coordinates=KafkaCoordinates(topic="replay", partition=0, offset=item.line, timestamp=fetch.fetched_at),
    )


def replay(
    inputs: Sequence[ReplayInput], state: ClusterState | None = None, *, near_duplicate_threshold: float
) -> tuple[list[ReplayLine], list[str]]:
    """normalize -> dedupe -> cluster, as one pipeline batch; one output line per input that normalizes.
    `near_duplicate_threshold`: the processor's (`processor.near_duplicate_threshold`)."""
    items, errors = [], []
    for item in inputs:
        try:
            received = _raw_post(item)
        except ValidationError as exc:
            # What `_invalid` did not foresee: the record still gets its line, never ends the run.
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            errors.append(f"line {item.line}: {where}: {first.get('msg', 'invalid')}")
            continue
        normalized = normalize_record(received)
        if isinstance(normalized, DeadLetter):
            errors.append(f"line {item.line}: {normalized.reason}")
        else:
            items.append(normalized)
    # The pipeline's own stage functions, as one batch arriving in file order.
    placed = cluster_batch(dedupe_items(items, threshold=near_duplicate_threshold), None, state)
    errors.extend(f"{letter.reason}" for letter in placed.dead_letters)
    by_id = {it.item_id: it for it in placed.items}
    lines = [
        ReplayLine(it.item_id, by_id[it.item_id].event_id or "", by_id[it.item_id].duplicate_of)
        for it in items
        if it.item_id in by_id
    ]
    return lines, errors


def labels_of(inputs: Iterable[ReplayInput], field: str) -> dict[str, str]:
    """Gold labels by record id; records whose field is missing, null or blank are unlabelled and
    left out of the evaluation. A reused id keeps its first record's label: replay keeps that
    record and rejects the later ones."""
    labels: dict[str, str] = {}
    for i in inputs:
        value = i.record.get(field)
        if value is not None and str(value).strip():
            labels.setdefault(i.record["id"], str(value))
    return labels
