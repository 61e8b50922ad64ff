"""Dedupe: mark exact and near duplicates, within a batch and against earlier batches.

A duplicate is not dropped: it keeps flowing with `duplicate_of` = the id of the first
item of its group (the root) and `duplicate_kind` saying how it was recognised:

- "native-id": same native id (an X post seen twice under two keys), or a retweet whose
  original is known;
- "url": same canonical URL;
- "content": same `content_hash` (re-syndication, "RT @x:" copies);
- "near": estimated Jaccard similarity of character shingles >= threshold (MinHash, 64
  permutations, banded LSH so a lookup costs a few dict probes, never a scan);
- "linked-page": a page fetched from a feed entry's link (`Item.linked_from` names an item of
  the same source) is that entry's document, whatever the URLs, canonicals and texts say. It is
  decided before every other key, in both directions: whichever of the two comes first (in the
  order below) is the original, the other its "linked-page" duplicate (`duplicate_of` names that
  item itself, not its group's root, whose stored value clustering may still change). Usually that is the entry; a
  page dated before its entry, or committed by an earlier batch, is the root instead, because a
  stored row is never rewritten and the same records must give the same roots whatever the
  batch boundaries.

Within a batch the earliest item wins, ordered by (published_at, item_id) and never by
bundle order: the stage computes small per-item signatures, gathers them in one place,
decides in that order, then applies the decisions to the items through a side input. Items
of earlier batches come from DuckDB (`load_dedupe_index`) and always count as earlier.

Cost: the MinHashes of a batch are computed together, and so are its within-batch near
pairs (every pair sharing an LSH band, pruned by a few bits per slot before the full
comparison); the loop over the batch in order is then dict lookups.
"""

from __future__ import annotations

import functools
import heapq
import math
import re
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import apache_beam as beam
import duckdb
import numpy as np

from schemas.item import LINKED_PAGE, DuplicateKind, Item
from schemas.keys import entry_key, page_item_id
from transforms.normalize import fingerprint_text

__all__ = [
    "DEAD_LETTER",
    "NUM_PERM",
    "Dedupe",
    "DedupeIndex",
    "DedupeSignature",
    "LiveDedupeIndex",
    "dedupe_items",
    "dedupe_signature",
    "estimated_similarity",
    "load_dedupe_index",
    "minhash",
]

DEAD_LETTER = "dead_letter"

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
_EMPTY_BIN = np.uint64(1 << 32)  # above every bin value (they are 32-bit), so it marks a bin no shingle reached
# Candidate pairs compared at once: the index arrays (8 bytes a pair) stay in cache.
_PAIR_CHUNK = 1 << 16
# Budgets for the within-batch pairs, per item plus a floor. A burst of copies makes pairs grow
# with its square (1,000 copies: 5M pairs that all pass, 4 s and 0.8 GB), while comparing each
# item against the roots only stays linear; above either budget the batch is decided that way.
# Templated but distinct posts (the bench) make ~370 candidate pairs an item, nearly all pruned.
_CANDIDATES_PER_ITEM = 2_000
_CANDIDATES_FLOOR = 4 << 20
_KEPT_PER_ITEM = 64
_KEPT_FLOOR = 1 << 20
_SLOT = struct.Struct("=q")  # a bucket entry, read back as np.int64
_S26, _S29, _S31, _S58 = (np.uint64(bits) for bits in (26, 29, 31, 58))
_BINS = np.arange(NUM_PERM)  # NUM_PERM bins: the top 6 bits of a shingle hash pick one
# Texts hashed together: enough to amortise numpy's per-call set-up, few enough that the
# uint64 working arrays (8 bytes per character) stay in cache.
_CHUNK_CHARS = 1 << 15
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")


def minhash(fingerprint: str) -> bytes:
    """64 x uint32 MinHash of the character shingles of a fingerprint text, or b"" when too short.

    One-permutation MinHash (Li et al. 2012) with rotation densification (Shrivastava & Li
    2014): each shingle is hashed once and lands in one of 64 bins, so the cost is O(n), not
    O(64 n), and pages stay cheap. Vectorised with numpy and deterministic across processes
    (Python's hash() is salted per process).
    """
    return _minhashes([fingerprint])[0]


def _minhashes(fingerprints: Sequence[str]) -> list[bytes]:
    """`minhash` of each fingerprint; a whole batch costs a few numpy calls per chunk, not per text."""
    signatures = [b""] * len(fingerprints)
    by_width: dict[int, tuple[list[int], list[str]]] = {_SHINGLE_CJK: ([], []), _SHINGLE_OTHER: ([], [])}
    for position, fingerprint in enumerate(fingerprints):
        text = fingerprint[:MAX_SHINGLE_CHARS]
        k = _SHINGLE_CJK if _CJK.search(text) else _SHINGLE_OTHER
        if k == _SHINGLE_CJK:
            text = text.replace(" ", "")
        if len(text) - k + 1 >= 8:
            positions, texts = by_width[k]
            positions.append(position)
            texts.append(text)
    for k, (positions, texts) in by_width.items():
        start = chars = 0
        for end, text in enumerate(texts, 1):
            chars += len(text)
            if chars >= _CHUNK_CHARS or end == len(texts):
                for position, signature in zip(positions[start:end], _minhash_chunk(texts[start:end], k), strict=True):
                    signatures[position] = signature
                start, chars = end, 0
    return signatures


def _minhash_chunk(texts: list[str], k: int) -> list[bytes]:
    """MinHash of texts of at least k + 7 characters, shingled k characters at a time."""
    count = len(texts)
    lengths = np.fromiter(map(len, texts), dtype=np.intp, count=count)
    codes = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    n = len(codes) - k + 1
    hashes = codes[:n].copy()
    for j in range(1, k):
        hashes *= _ROLL
        hashes += codes[j : j + n]
    # Multiply-xorshift finalizer: the top bits pick the bin, so they must depend on every character.
    hashes *= _MIX1
    hashes ^= hashes >> _S31
    hashes *= _MIX2
    hashes ^= hashes >> _S29
    # Bin (text, top 6 bits) of each shingle; the k - 1 windows that straddle two texts go to a
    # spare bin past the end. A bin's minimum hash has the minimum of bits 26..57 (the value
    # kept), as all hashes in a bin share their top 6 bits.
    bins = np.repeat(np.arange(0, count * NUM_PERM, NUM_PERM, dtype=np.uint64), lengths)[:n]
    bins += hashes >> _S58
    bins[(np.cumsum(lengths[:-1])[:, None] - np.arange(1, k)).ravel()] = count * NUM_PERM
    hashes >>= _S26
    hashes &= _LOW32
    minima = np.full(count * NUM_PERM + 1, _EMPTY_BIN, dtype=np.uint64)
    np.minimum.at(minima, bins, hashes)
    minima = minima[:-1].reshape(count, NUM_PERM)
    # An empty bin borrows the next filled bin's value (circularly), offset by the distance so
    # that two texts agree on it only when they agree on the borrowed bin and the gap. The next
    # filled bin at or after each bin is a running minimum from the right over two laps.
    filled_at = np.where(minima != _EMPTY_BIN, _BINS, 4 * NUM_PERM)
    laps = np.concatenate((filled_at, filled_at + NUM_PERM), axis=1)
    source = np.minimum.accumulate(laps[:, ::-1], axis=1)[:, ::-1][:, :NUM_PERM]
    rows = np.arange(0, count * NUM_PERM, NUM_PERM)[:, None]
    borrowed = minima.ravel()[rows + source % NUM_PERM]
    distance = (source - _BINS).astype(np.uint64)
    blob = ((borrowed + distance * _GOLDEN) & _LOW32).astype(np.uint32).tobytes()
    width = NUM_PERM * 4
    return [blob[i * width : (i + 1) * width] for i in range(count)]


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
    return [signature[start : start + step] for start in range(0, bands * step, step)]


def _equal_slots(rows: np.ndarray, other: np.ndarray) -> np.ndarray:
    """How many of each row's NUM_PERM (= 64) slots equal those of `other` (rows, or one row for all)."""
    # One bit per slot packs a row into one uint64 and a popcount counts it: several times
    # cheaper than count_nonzero(axis=1), which pays numpy's per-row overhead.
    return np.bitwise_count(np.packbits(rows == other).view(np.uint64))


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
    source: str = ""  # the source's name: a link names an item of its own source only
    linked_from: str | None = None  # a page: the key of the entry (or page) whose link led here

    @property
    def blob(self) -> bytes:
        """The persisted form (items.dedupe_signature): a flag byte, then the MinHash."""
        flags = (_FLAG_CONTENT if self.content_hash else 0) | (_FLAG_MINHASH if self.minhash else 0)
        return struct.pack("B", flags) + self.minhash

    def order_key(self) -> tuple[bool, datetime | None, str]:
        return (self.published_at is None, self.published_at, self.item_id)


def dedupe_signature(item: Item) -> DedupeSignature:
    return _dedupe_signatures([item])[0]


def _dedupe_signatures(items: Sequence[Item]) -> list[DedupeSignature]:
    """`dedupe_signature` of each item, the MinHashes computed for the whole batch at once."""
    fingerprints = [fingerprint_text(item.text or item.title) for item in items]
    return [
        DedupeSignature(
            item_id=item.item_id,
            published_at=item.published_at,
            canonical_url=item.canonical_url,
            native_id=item.native_id,
            retweet_of=item.retweet_of,
            content_hash=item.content_hash if len(fingerprint) >= MIN_CONTENT_CHARS and item.content_hash else None,
            minhash=minhash_bytes,
            source=item.source.name,
            linked_from=item.linked_from if item.kind == "page" else None,
        )
        for item, fingerprint, minhash_bytes in zip(items, fingerprints, _content_minhashes(fingerprints), strict=True)
    ]


def _content_minhashes(fingerprints: Sequence[str]) -> list[bytes]:
    """MinHash of each fingerprint long enough to identify content (MIN_CONTENT_CHARS), b"" for the others."""
    return _minhashes([fingerprint if len(fingerprint) >= MIN_CONTENT_CHARS else "" for fingerprint in fingerprints])


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
    # "<source>\n<item id>" -> that item, for a page naming the entry it was linked from; and
    # "<source>\n<linked_from>" -> the first page naming it, for an entry that comes later. They
    # name the item, not its root: the stored root of an entry may be set after dedupe (a
    # cross-language duplicate found by clustering), and the answer must not depend on whether
    # the entry was decided in this batch or an earlier one.
    by_item: dict[str, str] = field(default_factory=dict)
    by_linked: dict[str, str] = field(default_factory=dict)
    roots: list[str] = field(default_factory=list)
    signatures: list[bytes] = field(default_factory=list)
    # Slots per band key, packed as native int64: a lookup joins a signature's bands into one
    # numpy array without a Python step per slot.
    buckets: list[dict[bytes, bytearray]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not 0 < self.threshold <= 1:
            raise ValueError(f"near-duplicate threshold must be in (0, 1], got {self.threshold}")
        self._bands, self._rows = _lsh_shape(self.threshold)
        # The fewest equal slots whose share reaches the threshold (as the float comparison decides).
        self._need = next(equal for equal in range(NUM_PERM + 1) if equal / NUM_PERM >= self.threshold)
        if not self.buckets:
            self.buckets = [{} for _ in range(self._bands)]

    def __len__(self) -> int:
        return len(self.roots)

    def add(self, signature: DedupeSignature, root: str) -> None:
        self._add_keys(signature, root)
        # Only group roots enter the LSH buckets: a burst of 1,000 copies must not make the
        # 1,001st compare against all of them.
        if signature.minhash and root == signature.item_id:
            self._add_slot(root, signature.minhash)

    def _add_slot(self, root: str, minhash_bytes: bytes) -> int:
        """Register a root's MinHash in the LSH buckets; its slot."""
        position = len(self.signatures)
        slot = _SLOT.pack(position)
        self.roots.append(root)
        self.signatures.append(minhash_bytes)
        for bucket, key in zip(self.buckets, _band_keys(minhash_bytes, self._bands, self._rows), strict=True):
            slots = bucket.get(key)
            if slots is None:
                bucket[key] = bytearray(slot)
            else:
                slots += slot
        return position

    def _add_keys(self, signature: DedupeSignature, root: str) -> None:
        if signature.canonical_url:
            self.by_url.setdefault(signature.canonical_url, root)
        if signature.native_id:
            self.by_native_id.setdefault(signature.native_id, root)
        if signature.content_hash:
            self.by_content.setdefault(signature.content_hash, root)
        self.by_item.setdefault(_source_key(signature.source, signature.item_id), signature.item_id)
        if signature.linked_from:
            self.by_linked.setdefault(_source_key(signature.source, signature.linked_from), signature.item_id)

    def match_linked(self, signature: DedupeSignature) -> tuple[str, DuplicateKind] | None:
        """The entry this page was linked from, or the page linked from this item (the item, not its root)."""
        own = signature.item_id
        if signature.linked_from:
            # A refresh hop names the page it came from by that page's key.
            for anchor in (signature.linked_from, page_item_id(signature.linked_from)):
                root = self.by_item.get(_source_key(signature.source, anchor))
                if root is not None and root != own:
                    return root, LINKED_PAGE
        for key in dict.fromkeys((own, entry_key(own))):
            root = self.by_linked.get(_source_key(signature.source, key))
            if root is not None and root != own:
                return root, LINKED_PAGE
        return None

    def match(self, signature: DedupeSignature) -> tuple[str, DuplicateKind] | None:
        """The root this signature duplicates, and how; never the item itself."""
        found = self.match_linked(signature) or self._match_keys(signature)
        if found is None and signature.minhash and self.roots:
            near = self._nearest(signature.minhash, signature.item_id)
            if near is not None:
                return near, "near"
        return found

    def _match_keys(self, signature: DedupeSignature) -> tuple[str, DuplicateKind] | None:
        """The match on an exact key (native id, retweet, URL, content hash), if any."""
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
        return None

    def _nearest(self, minhash_bytes: bytes, own: str) -> str | None:
        band_keys = _band_keys(minhash_bytes, self._bands, self._rows)
        found = [slots for slots in map(dict.get, self.buckets, band_keys) if slots]
        if not found:
            return None
        # A slot found under several bands repeats here; that only repeats its comparison.
        candidates = np.frombuffer(b"".join(found), dtype=np.int64)
        signatures, low_bytes = self._signature_matrices()
        query = np.frombuffer(minhash_bytes, dtype=np.uint32)
        # Templated texts share many bands, so candidates run into the hundreds, nearly all well
        # below the threshold. Equal slots have equal low bytes, so counting equal low bytes (one
        # cache line per signature) bounds the similarity from above and leaves the few that
        # could reach the threshold for the full comparison.
        candidates = candidates[_equal_slots(low_bytes.take(candidates, axis=0), query.astype(np.uint8)) >= self._need]
        if len(candidates):
            # Never the item itself (a replayed item is registered already): asked of the few
            # candidates left, not of a root -> slots map over the whole index (O(index) to build,
            # once per process and again after every compaction: a batch's pause grew with the store).
            roots = self.roots
            candidates = candidates[[roots[slot] != own for slot in candidates.tolist()]]
        candidates = self._registered_slots(candidates)
        if not len(candidates):
            return None
        equal = _equal_slots(signatures.take(candidates, axis=0), query)
        best = equal.max()
        if best < self._need:
            return None
        # Highest similarity wins; ties go to the earliest-registered item.
        return self.roots[self._earliest(candidates[equal == best])]

    def registered_roots(self) -> list[tuple[str, bytes]]:
        """(root, MinHash) of every root in the LSH buckets, earliest registration first (who wins a tie)."""
        return list(zip(self.roots, self.signatures, strict=True))

    def _registered_slots(self, slots: np.ndarray) -> np.ndarray:
        """The slots whose root is still registered (all of them: this index never forgets)."""
        return slots

    def _earliest(self, slots: np.ndarray) -> int:
        """The slot of the earliest registration: the lowest (loaders register in (published_at, item_id) order)."""
        return int(slots.min())

    def __getstate__(self) -> dict[str, Any]:
        # The numpy matrices are a cache rebuilt on demand: keep side inputs small.
        return {k: v for k, v in self.__dict__.items() if k != "_matrices"}

    def _signature_matrices(self) -> tuple[np.ndarray, np.ndarray]:
        """`signatures` as (n, NUM_PERM) uint32 rows and as their low bytes, grown in place as signatures are added."""
        state = self.__dict__.get("_matrices")
        count = len(self.signatures)
        if state is None or state[2] > count:
            state = (np.empty((0, NUM_PERM), np.uint32), np.empty((0, NUM_PERM), np.uint8), 0)
        signatures, low_bytes, filled = state
        if filled < count:
            if count > len(signatures):
                capacity = max(64, count * 2)
                signatures = np.concatenate((signatures[:filled], np.empty((capacity - filled, NUM_PERM), np.uint32)))
                low_bytes = np.concatenate((low_bytes[:filled], np.empty((capacity - filled, NUM_PERM), np.uint8)))
            added = np.frombuffer(b"".join(self.signatures[filled:count]), np.uint32).reshape(count - filled, NUM_PERM)
            signatures[filled:count] = added
            low_bytes[filled:count] = added.astype(np.uint8)
        self.__dict__["_matrices"] = (signatures, low_bytes, count)
        return signatures, low_bytes


def _decide(
    signatures: Iterable[DedupeSignature], index: DedupeIndex
) -> dict[str, tuple[str | None, DuplicateKind | None, bytes]]:
    """item_id -> (duplicate_of, duplicate_kind, persisted signature), in (published_at, item_id) order.

    Within the batch this is `DedupeIndex.match` against the items decided before, root by root
    (as if each root were `add`ed). The near-duplicate part is computed for the whole batch
    first (`_near_earlier`); the loop then only has to pick the best earlier item that became
    a root.
    """
    ordered = sorted(signatures, key=DedupeSignature.order_key)
    bands, rows = index._bands, index._rows
    near_earlier = _near_earlier(ordered, bands, rows, index._need)
    if near_earlier is None:
        return _decide_against_roots(ordered, index)
    batch = DedupeIndex(threshold=index.threshold)  # exact keys only; near duplicates come from near_earlier
    is_root = [False] * len(ordered)
    decisions: dict[str, tuple[str | None, DuplicateKind | None, bytes]] = {}
    for position, signature in enumerate(ordered):
        # Earlier batches are stored already and so always count as earlier; a link outranks them.
        found = batch.match_linked(signature) or index.match(signature) or batch._match_keys(signature)
        if found is None and position in near_earlier:
            own = signature.item_id
            for earlier in near_earlier[position]:
                if is_root[earlier] and ordered[earlier].item_id != own:
                    found = ordered[earlier].item_id, "near"
                    break
        root, kind = found if found is not None else (signature.item_id, None)
        batch._add_keys(signature, root)
        is_root[position] = bool(signature.minhash) and root == signature.item_id
        decisions[signature.item_id] = (None if kind is None else root, kind, signature.blob)
    return decisions


def _source_key(source: str, item_id: str) -> str:
    return f"{source}\n{item_id}"


def _decide_against_roots(
    ordered: Sequence[DedupeSignature], index: DedupeIndex
) -> dict[str, tuple[str | None, DuplicateKind | None, bytes]]:
    """`_decide` one item at a time, each matched against the roots decided before it (linear in a burst)."""
    batch = DedupeIndex(threshold=index.threshold)
    decisions: dict[str, tuple[str | None, DuplicateKind | None, bytes]] = {}
    for signature in ordered:
        found = batch.match_linked(signature) or index.match(signature) or batch.match(signature)
        root, kind = found if found is not None else (signature.item_id, None)
        batch.add(signature, root)
        decisions[signature.item_id] = (None if kind is None else root, kind, signature.blob)
    return decisions


def _near_earlier(
    signatures: Sequence[DedupeSignature], bands: int, rows: int, need: int
) -> dict[int, list[int]] | None:
    """Position -> the earlier positions that share an LSH band with it and at least `need` equal
    slots, best first: most equal slots, then earliest (the order `DedupeIndex._nearest` prefers).

    None when the band groups would make more pairs than the budget (a burst of copies).
    """
    positions = [position for position, signature in enumerate(signatures) if signature.minhash]
    if len(positions) < 2:
        return {}
    matrix = np.frombuffer(b"".join(signatures[p].minhash for p in positions), np.uint32).reshape(-1, NUM_PERM)
    # Bits 0-3 of every slot as four 64-bit planes, in two (n, 2) stages: equal slots agree in
    # every plane, unequal ones in two planes a quarter of the time, in four a sixteenth. The
    # number of slots where the planes differ bounds the equal slots from above, so it prunes
    # nearly all pairs at a few operations on 16-byte rows before the full comparison.
    bits = (matrix[:, None, :] >> np.arange(4, dtype=np.uint32)[:, None]).astype(np.uint8) & 1
    planes = np.packbits(bits, axis=2).view(np.uint64).reshape(len(matrix), 4)
    stages = (planes[:, :2].copy(), planes[:, 2:].copy())
    groups = []
    pairs = 0
    for band in range(bands):
        # A 64-bit hash of the band groups the rows; a collision is caught by the check below.
        group = np.zeros(len(matrix), dtype=np.uint64)
        for column in matrix[:, band * rows : (band + 1) * rows].T:
            group *= _ROLL
            group += column
        sizes = np.unique(group, return_counts=True)[1].astype(np.int64)
        pairs += int((sizes * (sizes - 1) // 2).sum())
        groups.append(group)
    if pairs > _CANDIDATES_FLOOR + _CANDIDATES_PER_ITEM * len(matrix):
        return None
    kept_budget = _KEPT_FLOOR + _KEPT_PER_ITEM * len(matrix)
    later_parts, earlier_parts, equal_parts = [], [], []
    for band, group in enumerate(groups):
        columns = matrix[:, band * rows : (band + 1) * rows]
        order = np.argsort(group, kind="stable")
        # Pairs come as indices into the rows sorted by group: gather the planes in that order.
        sorted_stages = [stage.take(order, axis=0) for stage in stages]
        for later, earlier in _pairs_within(group[order]):
            mismatched = np.zeros(len(later), dtype=np.uint64)
            for stage in sorted_stages:
                differ = stage.take(later, axis=0)
                differ ^= stage.take(earlier, axis=0)
                mismatched |= differ[:, 0]
                mismatched |= differ[:, 1]
                close = np.bitwise_count(mismatched) <= NUM_PERM - need
                later, earlier, mismatched = later[close], earlier[close], mismatched[close]
            later, earlier = order[later], order[earlier]
            equal = _equal_slots(matrix.take(later, axis=0), matrix.take(earlier, axis=0))
            reached = equal >= need
            later, earlier, equal = later[reached], earlier[reached], equal[reached]
            shared = (columns.take(later, axis=0) == columns.take(earlier, axis=0)).all(axis=1)
            kept_budget -= int(np.count_nonzero(shared))
            if kept_budget < 0:
                return None
            later_parts.append(later[shared])
            earlier_parts.append(earlier[shared])
            equal_parts.append(equal[shared])
    if not later_parts:
        return {}
    rows_to_positions = np.array(positions)
    later = rows_to_positions[np.concatenate(later_parts)]
    earlier = rows_to_positions[np.concatenate(earlier_parts)]
    equal = np.concatenate(equal_parts).astype(np.intp)
    # A pair sharing several bands is listed once per band; a repeat is harmless.
    order = np.lexsort((earlier, -equal, later))
    near: dict[int, list[int]] = {}
    for position, candidate in zip(later[order].tolist(), earlier[order].tolist(), strict=True):
        near.setdefault(position, []).append(candidate)
    return near


def _pairs_within(sorted_group: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Every (later, earlier) pair of indices into `sorted_group` (sorted by group id) within one
    group, earlier < later, in chunks of about _PAIR_CHUNK pairs: a key shared by thousands of
    items makes millions of pairs.
    """
    count = len(sorted_group)
    first = np.empty(count, dtype=bool)
    first[0] = True
    np.not_equal(sorted_group[1:], sorted_group[:-1], out=first[1:])
    start = np.maximum.accumulate(np.where(first, np.arange(count), 0))  # where each one's group starts
    rank = np.arange(count) - start  # how many earlier ones its group has
    ends = np.cumsum(rank)
    low = 0
    while low < count:
        before = int(ends[low - 1]) if low else 0
        high = max(low + 1, int(np.searchsorted(ends, before + _PAIR_CHUNK, side="right")))
        total = int(ends[high - 1]) - before
        if total:
            members = np.flatnonzero(rank[low:high]) + low
            ranks = rank[members]
            later = np.repeat(members, ranks)
            # earlier runs start, start + 1, ..., later - 1 for each member: a cumulative sum of
            # ones, reset at each member's first pair.
            heads = np.cumsum(ranks) - ranks
            steps = np.ones(total, dtype=np.intp)
            steps[heads] = start[members]
            steps[heads[1:]] -= members[:-1] - 1
            yield later, np.cumsum(steps, out=steps)
        low = high


def _apply(item: Item, decision: tuple[str | None, DuplicateKind | None, bytes] | None) -> Item:
    if decision is None:
        return item
    duplicate_of, kind, blob = decision
    return item.copy_with({"duplicate_of": duplicate_of, "duplicate_kind": kind, "dedupe_signature": blob})


def dedupe_items(items: Sequence[Item], index: DedupeIndex | None = None, threshold: float = 0.8) -> list[Item]:
    """The Beam stage's work as a plain function over one batch (same order as given)."""
    index = index if index is not None else DedupeIndex(threshold=threshold)
    decisions = _decide(_dedupe_signatures(items), index)
    return [_apply(item, decisions.get(item.item_id)) for item in items]


def _parse_blob(blob: bytes | None) -> tuple[bool, bytes] | None:
    if not blob:
        return None
    flags = blob[0]
    return bool(flags & _FLAG_CONTENT), bytes(blob[1:]) if flags & _FLAG_MINHASH else b""


_ROWS_SQL = """
SELECT item_id, coalesce(duplicate_of, item_id), canonical_url, content_hash,
       json_extract_string(record, '$.native_id'), json_extract_string(record, '$.retweet_of'),
       dedupe_signature,
       CASE WHEN dedupe_signature IS NULL THEN coalesce(nullif(text, ''), title) END,
       source_name, json_extract_string(record, '$.linked_from'){extra}
FROM items
WHERE coalesce(published_at, processed_at) >= ?{where}
ORDER BY published_at NULLS LAST, item_id
"""
# What a forgetting index needs besides: the registration order's time and the horizon's time.
_LIVE_COLUMNS = ", epoch_us(published_at), epoch_us(coalesce(published_at, processed_at))"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(when: datetime) -> int:
    return (when - _EPOCH) // timedelta(microseconds=1)


def _dedupe_rows(
    con: duckdb.DuckDBPyConnection,
    since: datetime,
    *,
    item_ids: Sequence[str] | None = None,
    live: bool = False,
    just_stored: bool = False,
) -> list[tuple[DedupeSignature, str, tuple[Any, ...]]]:
    """(signature, root, live columns) of the items inside the horizon, in registration order.

    `just_stored`: the `item_ids` rows were written by the caller's own transaction (processed_at
    = its now()), so DuckDB skips the older row groups instead of scanning the whole table."""
    where = "" if item_ids is None else " AND item_id IN (SELECT unnest(?::VARCHAR[]))"
    if just_stored:
        where += " AND processed_at >= now()"
    sql = _ROWS_SQL.format(extra=_LIVE_COLUMNS if live else "", where=where)
    params: list[Any] = [since] if item_ids is None else [since, list(item_ids)]
    rows = con.execute(sql, params).fetchall()
    parsed = [_parse_blob(row[6]) for row in rows]
    missing = [position for position, found in enumerate(parsed) if found is None]
    fingerprints = [fingerprint_text(rows[position][7] or "") for position in missing]
    recomputed = _content_minhashes(fingerprints)
    for position, fingerprint, minhash_bytes in zip(missing, fingerprints, recomputed, strict=True):
        parsed[position] = (len(fingerprint) >= MIN_CONTENT_CHARS, minhash_bytes)
    out = []
    # The index keeps no times, so none are turned into datetimes (that was a third of the query).
    for row, found in zip(rows, parsed, strict=True):
        item_id, root, canonical, content, native_id, retweet_of = row[:6]
        source, linked_from = row[8:10]
        hashable, minhash_bytes = found
        signature = DedupeSignature(
            item_id=item_id,
            published_at=None,
            canonical_url=canonical,
            native_id=native_id,
            retweet_of=retweet_of,
            content_hash=content if hashable and content else None,
            minhash=minhash_bytes,
            source=source,
            linked_from=linked_from,
        )
        out.append((signature, root, row[10:]))
    return out


def load_dedupe_index(
    con: duckdb.DuckDBPyConnection, horizon_days: int, as_of: datetime, threshold: float = 0.8, *, live: bool = False
) -> DedupeIndex:
    """Items published within `horizon_days` before `as_of` (or undated but processed then).

    Uses the signatures stored in items.dedupe_signature (migration 002) and recomputes
    them from the stored text for rows written without one. `live=True` gives a `LiveDedupeIndex`
    (the same index, able to take later batches and forget what leaves the horizon).
    """
    if horizon_days < 1:
        raise ValueError(f"horizon_days must be >= 1, got {horizon_days}")
    since = as_of - timedelta(days=horizon_days)
    if live:
        index = LiveDedupeIndex(threshold=threshold, horizon=timedelta(days=horizon_days))
        index.refresh(con, as_of)
        # The near-duplicate lookup's matrices are built on first use, once per process (~0.2 s at
        # 100k items): built here, with the rest of the state, instead of inside the first batch.
        index._signature_matrices()
        return index
    index = DedupeIndex(threshold=threshold)
    # The rows come in registration order already.
    for signature, root, _ in _dedupe_rows(con, since):
        index.add(signature, root)
    return index


_ITEM_TABLE = 3  # index of by_item in LiveDedupeIndex._tables(); by_linked follows it


@dataclass(eq=False, slots=True)
class _Registration:
    item_id: str
    root: str
    order: tuple[bool, int, str]  # (undated, published_at in µs, item_id): the loader's ORDER BY
    time_us: int  # coalesce(published_at, processed_at): it leaves the horizon by this
    keys: tuple[tuple[int, str], ...]  # (table, key) it registered
    slot: int = -1


class LiveDedupeIndex(DedupeIndex):
    """The `DedupeIndex` a long-lived processor keeps between batches instead of reloading it.

    After each committed batch it takes that batch's rows (`refresh` with their ids); before each
    batch it forgets what left the horizon (`refresh` with the new as_of only). It always holds
    what `load_dedupe_index` would load at that as_of: what an exact key maps to is the root of
    the key's first registration in (published_at, item_id) order whatever order rows came in,
    LSH ties go to the earliest root in that order, and a forgotten row's keys pass to the next
    registration holding them. Costs follow the rows added and forgotten, not the index size.
    """

    def __init__(self, threshold: float = 0.8, *, horizon: timedelta) -> None:
        super().__init__(threshold=threshold)
        self.horizon = horizon
        self.as_of: datetime | None = None
        self._registered: dict[str, _Registration] = {}
        # Per table (url, native id, content, item, linked): key -> its registration, or the sorted
        # list when several hold it.
        self._holders: tuple[dict[str, Any], ...] = ({}, {}, {}, {}, {})
        self._slot_order: list[tuple[bool, int, str]] = []
        self._dead = np.zeros(0, dtype=bool)
        self._dead_count = 0
        self._leaving: list[tuple[int, str]] = []  # (time_us, item_id) heap

    def __len__(self) -> int:
        return len(self.roots) - self._dead_count

    def advance(self, as_of: datetime) -> None:
        """Move to `as_of`: forget every row that left the horizon (what a load at `as_of` would not read)."""
        if self.as_of is not None and as_of < self.as_of:
            raise ValueError("a live dedupe index only moves forward in time: load it again")
        self.as_of = as_of
        since_us = _micros(as_of - self.horizon)
        leaving = self._leaving
        while leaving and leaving[0][0] < since_us:
            time_us, item_id = heapq.heappop(leaving)
            registration = self._registered.get(item_id)
            if registration is not None and registration.time_us == time_us:
                self._forget(registration)
        if self._dead_count > 1024 and self._dead_count * 2 > len(self.roots):
            self._compact()

    def refresh(
        self,
        con: duckdb.DuckDBPyConnection,
        as_of: datetime,
        item_ids: Sequence[str] | None = None,
        *,
        just_stored: bool = False,
    ) -> None:
        """`advance` to `as_of`, then take these items' stored rows (every row inside the horizon when
        None: a first load); an item registered before is replaced by its row as stored now.
        `just_stored`: those rows were written by the transaction `con` is in (see `_dedupe_rows`)."""
        self.advance(as_of)
        if item_ids is not None:
            for item_id in item_ids:
                registration = self._registered.get(item_id)
                if registration is not None:
                    self._forget(registration)
            if not item_ids:
                return
        for signature, root, (published_us, time_us) in _dedupe_rows(
            con, as_of - self.horizon, item_ids=item_ids, live=True, just_stored=just_stored
        ):
            self._register(signature, root, (published_us is None, published_us or 0, signature.item_id), time_us)

    def add(self, signature: DedupeSignature, root: str) -> None:
        raise TypeError("a LiveDedupeIndex takes stored rows through refresh(), with their times")

    def _tables(self) -> tuple[dict[str, str], ...]:
        return (self.by_url, self.by_native_id, self.by_content, self.by_item, self.by_linked)

    def _register(self, signature: DedupeSignature, root: str, order: tuple[bool, int, str], time_us: int) -> None:
        linked = _source_key(signature.source, signature.linked_from) if signature.linked_from else None
        keys = tuple(
            (table, key)
            for table, key in enumerate(
                (
                    signature.canonical_url,
                    signature.native_id,
                    signature.content_hash,
                    _source_key(signature.source, signature.item_id),
                    linked,
                )
            )
            if key
        )
        registration = _Registration(signature.item_id, root, order, time_us, keys)
        self._registered[signature.item_id] = registration
        tables = self._tables()
        for table, key in keys:
            holders = self._holders[table]
            held = holders.get(key)
            if held is None:
                holders[key] = registration
                tables[table][key] = _held_value(table, registration)
                continue
            if isinstance(held, _Registration):
                held = holders[key] = [held]
            held.append(registration)
            held.sort(key=_order_of)
            tables[table][key] = _held_value(table, held[0])
        if signature.minhash and root == signature.item_id:
            registration.slot = self._add_slot(root, signature.minhash)
            self._slot_order.append(order)
        heapq.heappush(self._leaving, (time_us, signature.item_id))

    def _forget(self, registration: _Registration) -> None:
        del self._registered[registration.item_id]
        tables = self._tables()
        for table, key in registration.keys:
            holders = self._holders[table]
            held = holders[key]
            if isinstance(held, list):
                held.remove(registration)
                if len(held) == 1:
                    held = holders[key] = held[0]
                    tables[table][key] = _held_value(table, held)
                else:
                    tables[table][key] = _held_value(table, held[0])
            else:
                del holders[key]
                del tables[table][key]
        if registration.slot >= 0:
            if len(self._dead) <= registration.slot:
                grown = np.zeros(max(64, 2 * len(self.roots)), dtype=bool)
                grown[: len(self._dead)] = self._dead
                self._dead = grown
            self._dead[registration.slot] = True
            self._dead_count += 1

    def registered_roots(self) -> list[tuple[str, bytes]]:
        dead = self._dead
        slots = [s for s in range(len(self.roots)) if s >= len(dead) or not dead[s]]
        slots.sort(key=self._slot_order.__getitem__)
        return [(self.roots[s], self.signatures[s]) for s in slots]

    def _registered_slots(self, slots: np.ndarray) -> np.ndarray:
        if not self._dead_count:
            return slots
        dead = self._dead
        inside = slots < len(dead)
        keep = ~inside
        keep[inside] = ~dead[slots[inside]]
        return slots[keep]

    def _earliest(self, slots: np.ndarray) -> int:
        # Slots follow arrival, not (published_at, item_id): a late row published earlier must
        # still win the tie it would win in a fresh load.
        if len(slots) == 1:
            return int(slots[0])
        return min((int(slot) for slot in slots), key=self._slot_order.__getitem__)

    def _compact(self) -> None:
        """Drop the forgotten slots (more than half of them): the buckets are rebuilt from the live roots."""
        live = sorted((r for r in self._registered.values() if r.slot >= 0), key=lambda r: r.slot)
        signatures = self.signatures
        self.roots, self.signatures, self._slot_order = [], [], []
        self.buckets = [{} for _ in range(self._bands)]
        self.__dict__.pop("_matrices", None)
        for registration in live:
            minhash_bytes = signatures[registration.slot]
            registration.slot = self._add_slot(registration.root, minhash_bytes)
            self._slot_order.append(registration.order)
        self._dead = np.zeros(0, dtype=bool)
        self._dead_count = 0


def _held_value(table: int, registration: _Registration) -> str:
    # The item and linked tables name the item itself (see DedupeIndex.by_item), the others its root.
    return registration.item_id if table >= _ITEM_TABLE else registration.root


def _order_of(registration: _Registration) -> tuple[bool, int, str]:
    return registration.order


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
