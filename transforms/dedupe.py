"""Dedupe: mark exact and near duplicates, within a batch and against earlier batches.

A duplicate is not dropped: it keeps flowing with `duplicate_of` = the id of the first
item of its group (the root) and `duplicate_kind` saying how it was recognised:

- "native-id": same native id (an X post seen twice under two keys), or a retweet whose
  original is known;
- "url": same canonical URL;
- "content": same `content_hash` (re-syndication, "RT @x:" copies);
- "near": estimated Jaccard similarity of character shingles >= threshold (MinHash, 64
  permutations, banded LSH so a lookup costs a few dict probes, never a scan).

Within a batch the earliest item wins, ordered by (published_at, item_id) and never by
bundle order: the stage computes small per-item signatures, gathers them in one place,
decides in that order, then applies the decisions to the items through a side input. Items
of earlier batches come from DuckDB (`load_dedupe_index`) and always count as earlier.
"""

from __future__ import annotations

import functools
import math
import re
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import apache_beam as beam
import duckdb
import numpy as np

from schemas.item import Item
from transforms.normalize import copy_with, fingerprint_text

__all__ = [
    "DEAD_LETTER",
    "NUM_PERM",
    "Dedupe",
    "DedupeIndex",
    "DedupeSignature",
    "dedupe_items",
    "dedupe_signature",
    "estimated_similarity",
    "load_dedupe_index",
    "minhash",
]

DEAD_LETTER = "dead_letter"
DuplicateKind = Literal["url", "native-id", "content", "near"]

NUM_PERM = 64
# Shingles: 3 characters for Han/kana text (a word is 1-2 characters), 5 for alphabetic text.
_SHINGLE_CJK = 3
_SHINGLE_OTHER = 5
# Below this many fingerprint characters, equal text is a coincidence ("gm", "🔥"), not a copy.
MIN_CONTENT_CHARS = 24
# Later characters rarely decide whether two texts are copies; capping keeps pages cheap.
MAX_SHINGLE_CHARS = 4000

_FLAG_CONTENT = 1
_FLAG_MINHASH = 2
_ROLL = np.uint64(0x100000001B3)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B9)
_LOW32 = np.uint64(0xFFFFFFFF)
_S26, _S29, _S31, _S58 = (np.uint64(bits) for bits in (26, 29, 31, 58))
_BINS = np.arange(NUM_PERM)  # NUM_PERM bins: the top 6 bits of a shingle hash pick one
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")


def minhash(fingerprint: str) -> bytes:
    """64 x uint32 MinHash of the character shingles of a fingerprint text, or b"" when too short.

    One-permutation MinHash (Li et al. 2012) with rotation densification (Shrivastava & Li
    2014): each shingle is hashed once and lands in one of 64 bins, so the cost is O(n), not
    O(64 n), and pages stay cheap. Vectorised with numpy and deterministic across processes
    (Python's hash() is salted per process).
    """
    text = fingerprint[:MAX_SHINGLE_CHARS]
    k = _SHINGLE_CJK if _CJK.search(text) else _SHINGLE_OTHER
    if k == _SHINGLE_CJK:
        text = text.replace(" ", "")
    n = len(text) - k + 1
    if n < 8:
        return b""
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    hashes = codes[:n].copy()
    for j in range(1, k):
        hashes *= _ROLL
        hashes += codes[j : j + n]
    # Multiply-xorshift finalizer: the top bits pick the bin, so they must depend on every character.
    hashes *= _MIX1
    hashes ^= hashes >> _S31
    hashes *= _MIX2
    hashes ^= hashes >> _S29
    hashes.sort()
    bins = (hashes >> _S58).astype(np.intp)
    # Sorted: the first of each bin is its minimum. (np.diff(prepend=) costs 10 µs of set-up; this 1.)
    starts = np.empty(bins.shape, dtype=bool)
    starts[0] = True
    np.not_equal(bins[1:], bins[:-1], out=starts[1:])
    first = np.flatnonzero(starts)
    filled = bins[first]
    values = (hashes[first] >> _S26) & _LOW32
    # An empty bin borrows the next filled bin's value (circularly), offset by the distance so
    # that two texts agree on it only when they agree on the borrowed bin and the gap.
    source = np.searchsorted(filled, _BINS) % len(filled)
    distance = ((filled[source] - _BINS) % NUM_PERM).astype(np.uint64)
    signature = (values[source] + distance * _GOLDEN) & _LOW32
    return signature.astype(np.uint32).tobytes()


def estimated_similarity(a: bytes, b: bytes) -> float:
    """Estimated Jaccard similarity of two MinHash signatures (share of equal slots)."""
    if not a or not b:
        return 0.0
    return float(np.count_nonzero(np.frombuffer(a, np.uint32) == np.frombuffer(b, np.uint32))) / NUM_PERM


@functools.lru_cache(maxsize=16)
def _lsh_shape(threshold: float) -> tuple[int, int]:
    """Bands x rows: the most rows per band that still make a pair at `threshold` a candidate
    with probability >= 0.95.

    Every candidate is verified against the threshold, so a false candidate costs one
    comparison while a missed one costs a duplicate: recall decides, rows keep it cheap.
    """
    best = (NUM_PERM, 1)
    for rows in range(1, NUM_PERM + 1):
        bands = NUM_PERM // rows
        if 1 - (1 - threshold**rows) ** bands >= 0.95:
            best = (bands, rows)
    return best


def _band_keys(signature: bytes, bands: int, rows: int) -> list[bytes]:
    step = rows * 4
    return [signature[i * step : (i + 1) * step] for i in range(bands)]


@dataclass(frozen=True)
class DedupeSignature:
    """What dedupe needs to know about one item; small, so the whole batch gathers cheaply."""

    item_id: str
    published_at: datetime | None
    canonical_url: str | None
    native_id: str | None
    retweet_of: str | None
    content_hash: str | None  # None when the text is too short to identify anything
    minhash: bytes

    @property
    def blob(self) -> bytes:
        """The persisted form (items.dedupe_signature): a flag byte, then the MinHash."""
        flags = (_FLAG_CONTENT if self.content_hash else 0) | (_FLAG_MINHASH if self.minhash else 0)
        return struct.pack("B", flags) + self.minhash

    def order_key(self) -> tuple[bool, datetime | None, str]:
        return (self.published_at is None, self.published_at, self.item_id)


def dedupe_signature(item: Item) -> DedupeSignature:
    fingerprint = fingerprint_text(item.text or item.title)
    long_enough = len(fingerprint) >= MIN_CONTENT_CHARS
    return DedupeSignature(
        item_id=item.item_id,
        published_at=item.published_at,
        canonical_url=item.canonical_url,
        native_id=item.native_id,
        retweet_of=item.retweet_of,
        content_hash=item.content_hash if long_enough and item.content_hash else None,
        minhash=minhash(fingerprint) if long_enough else b"",
    )


@dataclass
class DedupeIndex:
    """Known items by every key dedupe matches on, each pointing at its group's root id.

    The first item registered for a key keeps it, so register in (published_at, item_id)
    order. Picklable: it travels into the pipeline as a singleton side input.
    """

    threshold: float = 0.8
    by_url: dict[str, str] = field(default_factory=dict)
    by_native_id: dict[str, str] = field(default_factory=dict)
    by_content: dict[str, str] = field(default_factory=dict)
    roots: list[str] = field(default_factory=list)
    signatures: list[bytes] = field(default_factory=list)
    buckets: list[dict[bytes, list[int]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not 0 < self.threshold <= 1:
            raise ValueError(f"near-duplicate threshold must be in (0, 1], got {self.threshold}")
        self._bands, self._rows = _lsh_shape(self.threshold)
        if not self.buckets:
            self.buckets = [{} for _ in range(self._bands)]

    def __len__(self) -> int:
        return len(self.roots)

    def add(self, signature: DedupeSignature, root: str) -> None:
        if signature.canonical_url:
            self.by_url.setdefault(signature.canonical_url, root)
        if signature.native_id:
            self.by_native_id.setdefault(signature.native_id, root)
        if signature.content_hash:
            self.by_content.setdefault(signature.content_hash, root)
        # Only group roots enter the LSH buckets: a burst of 1,000 copies must not make the
        # 1,001st compare against all of them.
        if signature.minhash and root == signature.item_id:
            slot = len(self.signatures)
            self.roots.append(root)
            self.signatures.append(signature.minhash)
            for bucket, key in zip(self.buckets, _band_keys(signature.minhash, self._bands, self._rows), strict=True):
                bucket.setdefault(key, []).append(slot)

    def match(self, signature: DedupeSignature) -> tuple[str, DuplicateKind] | None:
        """The root this signature duplicates, and how; never the item itself."""
        own = signature.item_id
        for key, table, kind in (
            (signature.native_id, self.by_native_id, "native-id"),
            (signature.retweet_of, self.by_native_id, "native-id"),
            (signature.canonical_url, self.by_url, "url"),
            (signature.content_hash, self.by_content, "content"),
        ):
            if key:
                root = table.get(key)
                if root is not None and root != own:
                    return root, kind  # type: ignore[return-value]
        if signature.minhash:
            near = self._nearest(signature.minhash, own)
            if near is not None:
                return near, "near"
        return None

    def _nearest(self, minhash_bytes: bytes, own: str) -> str | None:
        candidates: set[int] = set()
        for bucket, key in zip(self.buckets, _band_keys(minhash_bytes, self._bands, self._rows), strict=True):
            slots = bucket.get(key)
            if slots:
                candidates.update(slots)
        if not candidates:
            return None
        roots = self.roots
        # Templated texts share many bands, so candidates run into the hundreds: filter, gather
        # and compare them in numpy rather than one Python step per candidate.
        order = np.fromiter(candidates, dtype=np.intp, count=len(candidates))
        order.sort()
        own_slots = [slot for slot in self._slots_of(own) if slot in candidates]
        if own_slots:
            order = order[~np.isin(order, own_slots)]
            if not len(order):
                return None
        stacked = self._signature_matrix()[order]
        similarity = np.count_nonzero(stacked == np.frombuffer(minhash_bytes, np.uint32), axis=1) / NUM_PERM
        # Highest similarity wins; argmax breaks ties towards the earlier-registered item.
        best = int(np.argmax(similarity))
        return roots[int(order[best])] if similarity[best] >= self.threshold else None

    def _slots_of(self, root: str) -> list[int]:
        """Slots registered under `root` (normally none when matching: an item is matched before it is added)."""
        count, by_root = self.__dict__.get("_root_slots") or (0, {})
        if count > len(self.roots):
            count, by_root = 0, {}
        for slot in range(count, len(self.roots)):
            by_root.setdefault(self.roots[slot], []).append(slot)
        self.__dict__["_root_slots"] = (len(self.roots), by_root)
        return by_root.get(root, [])

    def __getstate__(self) -> dict[str, Any]:
        # The numpy matrix and the root lookup are caches rebuilt on demand: keep side inputs small.
        return {k: v for k, v in self.__dict__.items() if k not in ("_matrix", "_root_slots")}

    def _signature_matrix(self) -> np.ndarray:
        """`signatures` as an (n, NUM_PERM) uint32 array, grown in place as signatures are added."""
        state = self.__dict__.get("_matrix")
        count = len(self.signatures)
        if state is None or state[1] > count:
            state = (np.empty((max(64, count * 2), NUM_PERM), np.uint32), 0)
        matrix, filled = state
        if filled < count:
            if count > len(matrix):
                grown = np.empty((count * 2, NUM_PERM), np.uint32)
                grown[:filled] = matrix[:filled]
                matrix = grown
            matrix[filled:count] = np.frombuffer(b"".join(self.signatures[filled:count]), np.uint32).reshape(
                count - filled, NUM_PERM
            )
        self.__dict__["_matrix"] = (matrix, count)
        return matrix


def _decide(
    signatures: Iterable[DedupeSignature], index: DedupeIndex
) -> dict[str, tuple[str | None, DuplicateKind | None, bytes]]:
    """item_id -> (duplicate_of, duplicate_kind, persisted signature), in (published_at, item_id) order."""
    batch = DedupeIndex(threshold=index.threshold)
    decisions: dict[str, tuple[str | None, DuplicateKind | None, bytes]] = {}
    for signature in sorted(signatures, key=DedupeSignature.order_key):
        # Earlier batches are stored already and so always count as earlier.
        found = index.match(signature) or batch.match(signature)
        root, kind = found if found is not None else (signature.item_id, None)
        batch.add(signature, root)
        decisions[signature.item_id] = (None if kind is None else root, kind, signature.blob)
    return decisions


def _apply(item: Item, decision: tuple[str | None, DuplicateKind | None, bytes] | None) -> Item:
    if decision is None:
        return item
    duplicate_of, kind, blob = decision
    return copy_with(item, {"duplicate_of": duplicate_of, "duplicate_kind": kind, "dedupe_signature": blob})


def dedupe_items(items: Sequence[Item], index: DedupeIndex | None = None, threshold: float = 0.8) -> list[Item]:
    """The Beam stage's work as a plain function over one batch (same order as given)."""
    index = index if index is not None else DedupeIndex(threshold=threshold)
    decisions = _decide((dedupe_signature(item) for item in items), index)
    return [_apply(item, decisions.get(item.item_id)) for item in items]


def _parse_blob(blob: bytes | None) -> tuple[bool, bytes] | None:
    if not blob:
        return None
    flags = blob[0]
    return bool(flags & _FLAG_CONTENT), bytes(blob[1:]) if flags & _FLAG_MINHASH else b""


def load_dedupe_index(
    con: duckdb.DuckDBPyConnection, horizon_days: int, as_of: datetime, threshold: float = 0.8
) -> DedupeIndex:
    """Items published within `horizon_days` before `as_of` (or undated but processed then).

    Uses the signatures stored in items.dedupe_signature (migration 002) and recomputes
    them from the stored text for rows written without one.
    """
    if horizon_days < 1:
        raise ValueError(f"horizon_days must be >= 1, got {horizon_days}")
    since = as_of - timedelta(days=horizon_days)
    rows = con.execute(
        """
        SELECT item_id, coalesce(duplicate_of, item_id), published_at, canonical_url, content_hash,
               json_extract_string(record, '$.native_id'), json_extract_string(record, '$.retweet_of'),
               dedupe_signature,
               CASE WHEN dedupe_signature IS NULL THEN coalesce(nullif(text, ''), title) END
        FROM items
        WHERE coalesce(published_at, processed_at) >= ?
        ORDER BY published_at NULLS LAST, item_id
        """,
        [since],
    ).fetchall()
    index = DedupeIndex(threshold=threshold)
    for item_id, root, published_at, canonical, content, native_id, retweet_of, blob, text in rows:
        parsed = _parse_blob(blob)
        if parsed is None:
            fingerprint = fingerprint_text(text or "")
            long_enough = len(fingerprint) >= MIN_CONTENT_CHARS
            parsed = (long_enough, minhash(fingerprint) if long_enough else b"")
        hashable, minhash_bytes = parsed
        signature = DedupeSignature(
            item_id=item_id,
            published_at=published_at,
            canonical_url=canonical,
            native_id=native_id,
            retweet_of=retweet_of,
            content_hash=content if hashable and content else None,
            minhash=minhash_bytes,
        )
        index.add(signature, root)
    return index


class _MarkDuplicatesFn(beam.DoFn):
    def process(self, item: Item, decisions: dict[str, Any]) -> Iterator[Item]:
        yield _apply(item, decisions.get(item.item_id))


class Dedupe(beam.PTransform):
    """Item -> Item with duplicate_of/duplicate_kind set (`good`); `dead_letter` stays empty today.

    `index` is a one-element PCollection holding the DedupeIndex of earlier batches (see
    `load_dedupe_index`); without it only the batch itself is considered.
    """

    def __init__(self, index: beam.PCollection | None = None, threshold: float = 0.8) -> None:
        super().__init__()
        if not 0 < threshold <= 1:
            raise ValueError(f"near-duplicate threshold must be in (0, 1], got {threshold}")
        self._index = index
        self._threshold = threshold

    def expand(self, items: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
        threshold = self._threshold
        index = self._index
        if index is None:
            index = items.pipeline | "EmptyIndex" >> beam.Create([DedupeIndex(threshold=threshold)])
        decisions = (
            items
            | "Signatures" >> beam.Map(dedupe_signature)
            | "GatherBatch" >> beam.combiners.ToList()
            | "Decide" >> beam.Map(_decide_with_threshold, beam.pvalue.AsSingleton(index), threshold)
        )
        return items | "MarkDuplicates" >> beam.ParDo(
            _MarkDuplicatesFn(), beam.pvalue.AsSingleton(decisions)
        ).with_outputs(DEAD_LETTER, main="good")


def _decide_with_threshold(
    signatures: list[DedupeSignature], index: DedupeIndex, threshold: float
) -> dict[str, tuple[str | None, DuplicateKind | None, bytes]]:
    if not math.isclose(index.threshold, threshold):
        raise ValueError(f"index was built with threshold {index.threshold}, stage configured with {threshold}")
    return _decide(signatures, index)
