"""An item → its comparable representation: sparse TF-IDF vectors in three spaces, and a time.

Spaces (each L2-normalised on its own, so the decision model sees one similarity per kind of
evidence, as in Miranda et al. 2018):
- ``w`` words: stems of title and lead (the lead at half weight), content-word pairs of the
  title, CJK character pairs.
- ``n`` names and amounts: capitalised names, Latin-script names inside CJK text, and amounts
  with units normalised across languages ("1220 亿美元" = "$122 billion"). With the Latin-script
  words and shared links, this is what carries an event across zh ↔ en, with no lexicon.
- ``u`` links: the item's own URL/canonical and its outgoing links, as host+path keys.

Weights are IDF over the *open events* (the index supplies it), not over documents: a story's
own burst of reports must not make its key words look common, only spreading across many
stories should. That also keeps the state bounded by the open events, not the stream.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sized
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from transforms.events.text import amount_keys, cjk_pairs, name_keys, slug_text, url_key, words

__all__ = ["SPACES", "Record", "Representation", "event_idf", "raw_features", "represent"]

SPACES = ("w", "n", "u")
_LEAD_CHARS = 400
_LEAD_WEIGHT = 0.5
_PAIR_WEIGHT = 1.0
_URL_WEIGHT = 1.0
_AMOUNT_WORD_WEIGHT = 1.0
_SLUG_WEIGHT = 0.5


@dataclass(frozen=True, slots=True)
class Record:
    """What clustering needs of one item; the lead maps `schemas.item.Item` onto it."""

    id: str
    title: str
    text: str = ""
    published_at: datetime | None = None
    publisher: str | None = None
    url: str | None = None
    lang: str | None = None
    canonical_url: str | None = None
    linked_urls: tuple[str, ...] = ()


@dataclass(slots=True)
class Representation:
    """Unit vectors per space (possibly empty) and the item's time in epoch seconds."""

    vectors: dict[str, dict[str, float]]
    time: float | None
    novelty: float  # share of the word vector's mass on keys no open event has


_extract_amounts: Callable[[str, str], tuple[Any, ...]] | None = None


def _amounts(text: str, lang: str | None) -> list[tuple[float, str]]:
    global _extract_amounts
    if _extract_amounts is None:
        # Imported on first use: the extract stage pulls in Beam, which a plain replay need not pay
        # for; kept, since an import statement's look-up costs half what a typical call does.
        from transforms.extract import extract_amounts

        _extract_amounts = extract_amounts
    return [(a.value, a.unit) for a in _extract_amounts(text, "zh" if (lang or "").startswith("zh") else "en")]


_ASCII_DIGIT = re.compile(r"[0-9]")


def _may_hold_amount(text: str) -> bool:
    # This runs on every title and lead: a regex scan for ASCII text; otherwise `str.isdigit`,
    # which also knows the digits of other scripts.
    if text.isascii():
        return _ASCII_DIGIT.search(text) is not None
    return any(map(str.isdigit, text))


def raw_features(record: Record) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    title = record.title or ""
    lead = (record.text or "")[:_LEAD_CHARS]
    if not title and lead:
        title, lead = lead[:200], ""
    w: dict[str, float] = {}
    n: dict[str, float] = {}
    u: dict[str, float] = {}

    title_words = words(title)
    for stem_ in title_words:
        w[stem_] = w.get(stem_, 0.0) + 1.0
    for a, b in zip(title_words, title_words[1:], strict=False):
        pair = a + " " + b
        w[pair] = w.get(pair, 0.0) + _PAIR_WEIGHT
    if lead:
        for stem_ in words(lead):
            w[stem_] = w.get(stem_, 0.0) + _LEAD_WEIGHT
    if not title.isascii() or (lead and not lead.isascii()):
        for pair in cjk_pairs(title):
            w[pair] = w.get(pair, 0.0) + 1.0
        for pair in cjk_pairs(lead):
            w[pair] = w.get(pair, 0.0) + _LEAD_WEIGHT

    for text, weight in ((title, 1.0), (lead, _LEAD_WEIGHT)):
        if not text:
            continue
        for key in name_keys(text):
            n[key] = n.get(key, 0.0) + weight
        if _may_hold_amount(text):
            for key in amount_keys(_amounts(text, record.lang)):
                n[key] = n.get(key, 0.0) + weight
                # Also a word: an amount is the one content key a Chinese report and an English
                # one spell the same way once normalised, so it must count in the main similarity.
                w[key] = w.get(key, 0.0) + weight * _AMOUNT_WORD_WEIGHT

    # An item's URL is usually its canonical too: each distinct link is parsed once. The words of
    # the item's own link count like the lead's, since a slug is often a fuller headline; outgoing
    # links name other documents, so theirs do not.
    own = (record.url, record.canonical_url)
    # An entry's link and its page's canonical often spell the same slug: it counts once.
    slugs: dict[str, None] = {}
    for link in dict.fromkeys((*own, *record.linked_urls)):
        key = url_key(link)
        if key:
            u[key] = _URL_WEIGHT
            if link in own:
                slugs[slug_text(key)] = None
    for stem_ in words(" ".join(slugs)):
        w[stem_] = w.get(stem_, 0.0) + _SLUG_WEIGHT
    return w, n, u


def event_idf(df: int, events: int) -> float:
    """The weight of a key held by `df` of the `events` open events: log((events + 1) / (df + 1)) + 1."""
    return math.log((events + 1) / (df + 1)) + 1.0


def _unit(
    raw: dict[str, float], postings: Mapping[str, Sized] | None, events: int
) -> tuple[dict[str, float], list[str]]:
    """`raw` weighted (sub-linear TF × `event_idf`, none when `postings` is None) and L2-normalised;
    and the keys no open event has (`postings` maps a key to the open events holding it)."""
    unseen: list[str] = []
    if postings is None:
        weighted = dict(raw)
    else:
        # Sub-linear term frequency: a word said three times is not three times the evidence.
        # Most keys occur once, and 1 + log(1) is 1: the log is skipped for them.
        log = math.log
        weighted = {}
        get = postings.get
        for k, tf in raw.items():
            posting = get(k)
            if not posting:
                unseen.append(k)
            weighted[k] = (tf if tf <= 1.0 else 1.0 + log(tf)) * event_idf(len(posting) if posting else 0, events)
    norm = math.sqrt(sum(v * v for v in weighted.values()))
    if norm == 0.0:
        return {}, unseen
    return {k: v / norm for k, v in weighted.items()}, unseen


def represent(record: Record, postings: Mapping[str, Mapping[str, Sized]], events: int) -> Representation:
    """The record's vectors, words ("w") and names ("n") weighted by IDF over the open events:
    `postings[space]` maps a key to the open events holding it (`EventIndex.postings`), and
    `events` is how many events are open."""
    w, n, u = raw_features(record)
    time = record.published_at.timestamp() if record.published_at is not None else None
    vw, unseen = _unit(w, postings["w"], events)
    vn, _ = _unit(n, postings["n"], events)
    vu, _ = _unit(u, None, events)
    # First-story detection's classic signal: a story's first report is made of words no open
    # story uses yet.
    novelty = sum(vw[k] * vw[k] for k in unseen)
    return Representation({"w": vw, "n": vn, "u": vu}, time, novelty)
