"""Key figures of an event: localised, de-duplicated, each with the context a reader needs.

The extractor gives amounts as written ("$122 billion", "1220 亿美元", "$122" from a title it cut
at "Billion"). A reader wants each figure once, in their language, with what it measures:
"投后估值：8520 亿美元", not "金额：$852 billion" next to "金额：$852". So:

- figures are grouped by (unit, value); a figure that is another one scaled by a power of ten
  written as a word ("$122" beside "$122 billion"), or that its source text follows with
  "billion"/"million", is the extractor's partial read and is dropped;
- the label comes from the words next to the figure in the sources (the nearest match of
  `digest/playbooks/facts.toml`, preferring words before the figure, within its sentence and
  never across another figure); a figure with no label is left out rather than shown bare;
- the value is written by the digest, not copied: zh "1220 亿美元" / "100 万", en "$122 billion".
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Protocol

__all__ = ["Figure", "figures", "format_value", "year_range"]

_FACTS = Path(__file__).parent / "playbooks" / "facts.toml"
_MONEY = {"USD", "CNY", "EUR", "JPY"}
# How far from a figure its label may stand (characters), and the penalty for standing after it.
_BEFORE, _AFTER, _AFTER_PENALTY = 80, 40, 2.0
_SCALE_WORD = re.compile(r"(?i)^\s*(?:billion|million|trillion|thousand|bn|mn|[bmk])\b")
_MORE_THAN = re.compile(r"(?i)(?:more than|over|at least|超过|逾|多于)\s*$")
_UP_TO = re.compile(r"(?i)(?:up to|as much as|最高|最多)\s*(?:达)?\s*$")
_CLAUSE_END = re.compile(r"[.!?;。！？；\n]")
_YEARS = re.compile(r"(?:between\s+)?\b(20\d\d)\s*(?:and|to|through|-|–|—|至|到)\s*(20\d\d)\b")


class _Item(Protocol):
    title: str
    text: str
    lang: str
    tier: str
    entities: dict[str, Any]


@dataclass(frozen=True)
class Figure:
    """One figure of an event: its label key (facts.toml), unit, value and qualifier."""

    key: str
    unit: str
    value: float
    qualifier: str = ""  # "more" (more than) | "up_to" | ""


@cache
def _rules() -> list[dict[str, Any]]:
    with _FACTS.open("rb") as fh:
        return list(tomllib.load(fh)["context"])


def _unit_class(unit: str) -> str:
    return "money" if unit in _MONEY else unit


def _compiled(unit_class: str) -> list[tuple[str, re.Pattern[str]]]:
    return [(r["key"], re.compile(r["pattern"], re.I)) for r in _rules() if r["unit"] == unit_class]


def _occurrences(haystack: str, text: str) -> list[int]:
    if not text:
        return []
    return [m.start() for m in re.finditer(re.escape(text), haystack, re.I)]


def _label_at(
    haystack: str, start: int, end: int, unit_class: str, other_spans: Sequence[tuple[int, int]]
) -> tuple[float, str] | None:
    """The nearest label around haystack[start:end], inside its clause and between neighbouring figures."""
    left = max(0, start - _BEFORE)
    right = min(len(haystack), end + _AFTER)
    for s, e in other_spans:
        if e <= start:
            left = max(left, e)
        elif s >= end:
            right = min(right, s)
    before = haystack[left:start]
    cut = [m.end() for m in _CLAUSE_END.finditer(before)]
    if cut:
        before = before[cut[-1] :]
    after = haystack[end:right]
    stop = _CLAUSE_END.search(after)
    if stop:
        after = after[: stop.start()]
    best: tuple[float, int, str] | None = None
    for order, (key, pattern) in enumerate(_compiled(unit_class)):
        for m in pattern.finditer(before):
            score = float(len(before) - m.end())
            if best is None or (score, order) < best[:2]:
                best = (score, order, key)
        for m in pattern.finditer(after):
            score = _AFTER_PENALTY * m.start() + 1
            if best is None or (score, order) < best[:2]:
                best = (score, order, key)
    return (best[0], best[2]) if best else None


def _is_partial(unit: str, value: float, others: Iterable[tuple[str, float]]) -> bool:
    # "$122" beside "$122 billion": the same digits, scaled by a word the extractor missed.
    for other_unit, other in others:
        if other_unit != unit or other <= value or value <= 0:
            continue
        ratio = other / value
        if any(abs(ratio - 10**k) / 10**k < 1e-6 for k in (3, 4, 6, 8, 9, 12)):
            return True
    return False


def figures(items: Sequence[_Item], limit: int = 4) -> list[Figure]:
    """The event's labelled figures, strongest source first, each (unit, value) once."""
    seen: dict[tuple[str, float], list[tuple[_Item, str]]] = {}
    for item in items:
        for amount in item.entities.get("amounts", ()) or ():
            try:
                unit = str(amount["unit"])
                value = float(f"{float(amount['value']):.6g}")
                text = " ".join(str(amount["text"]).split())
            except (KeyError, TypeError, ValueError):
                continue
            if unit == "other" or not text:
                continue
            seen.setdefault((unit, value), []).append((item, text))
    keys = list(seen)
    found: list[Figure] = []
    for unit, value in keys:
        if _is_partial(unit, value, keys):
            continue
        best: tuple[float, str, str] | None = None
        for item, text in seen[(unit, value)]:
            haystack = f"{item.title}\n{item.text}"
            spans = [
                (p, p + len(t))
                for a in item.entities.get("amounts", ()) or ()
                for t in [" ".join(str(a.get("text", "")).split())]
                for p in _occurrences(haystack, t)
            ]
            for pos in _occurrences(haystack, text):
                end = pos + len(text)
                if _SCALE_WORD.match(haystack[end:]):
                    continue  # the figure as written is only the digits of a larger one
                others = [(s, e) for s, e in spans if e <= pos or s >= end]
                labelled = _label_at(haystack, pos, end, _unit_class(unit), others)
                if labelled is None:
                    continue
                lead = haystack[max(0, pos - 16) : pos]
                qualifier = (
                    "more"
                    if _MORE_THAN.search(lead) or text.endswith("+")
                    else ("up_to" if _UP_TO.search(lead) else "")
                )
                if best is None or labelled[0] < best[0]:
                    best = (labelled[0], labelled[1], qualifier)
            if best is not None:
                break  # the strongest source that labels the figure decides (items come tier-ordered)
        if best is not None:
            found.append(Figure(best[1], unit, value, best[2]))
    # One label once: a second "funding" figure is usually a restatement in another unit or a part.
    by_key: dict[str, Figure] = {}
    for fig in found:
        by_key.setdefault(fig.key, fig)
    return list(by_key.values())[:limit]


def _plain(number: float) -> str:
    text = f"{number:.2f}".rstrip("0").rstrip(".")
    return text or "0"


def format_value(fig: Figure, lang: str) -> str:
    """The figure written for a reader of `lang` ("1220 亿美元" / "$122 billion")."""
    v = fig.value
    if fig.unit == "percent":
        body = f"{_plain(v)}%"
    elif fig.unit == "ratio":
        body = f"{_plain(v)} 倍" if lang == "zh" else f"{_plain(v)}x"
    elif lang == "zh":
        for scale, word in ((1e12, "万亿"), (1e8, "亿"), (1e4, "万")):
            if abs(v) >= scale:
                body = f"{_plain(v / scale)} {word}"
                break
        else:
            body = _plain(v)
        currency = {"USD": "美元", "CNY": "元人民币", "EUR": "欧元", "JPY": "日元"}.get(fig.unit, "")
        body = f"{body}{currency}" if " " in body else f"{body} {currency}".rstrip()
    else:
        for scale, word in ((1e12, "trillion"), (1e9, "billion"), (1e6, "million")):
            if abs(v) >= scale:
                body = f"{_plain(v / scale)} {word}"
                break
        else:
            body = f"{v:,.0f}" if v == int(v) else _plain(v)
        symbol = {"USD": "$", "EUR": "€", "JPY": "¥", "CNY": "CNY "}.get(fig.unit, "")
        body = symbol + body
    if fig.qualifier == "more":
        return f"超过 {body}" if lang == "zh" else f"more than {body}"
    if fig.qualifier == "up_to":
        return f"最高 {body}" if lang == "zh" else f"up to {body}"
    return body


def year_range(items: Iterable[_Item]) -> tuple[str, str] | None:
    """A span of years the sources state ("between 2026 and 2029", "2026 至 2029 年")."""
    for item in items:
        m = _YEARS.search(f"{item.title}\n{item.text}")
        if m and m.group(1) < m.group(2):
            return m.group(1), m.group(2)
    return None
