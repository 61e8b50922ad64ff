"""Extract: organisations, products/models, people, @handles, amounts and dates, across zh and en.

Names come from transforms/data/entities.toml (aliases in both languages map to one
canonical name); numbers are normalized so "$122 billion", "1220 亿美元" and "122B USD"
all become Amount(value=122e9, unit="USD"). Deterministic: same text, same entities in the
same order (amounts and dates in text order).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

import apache_beam as beam

from schemas.item import Amount, Entities, Item
from transforms._lexicon import AnchoredPatterns, TermMatcher, load_data_file

__all__ = ["DEAD_LETTER", "EntityRules", "Extract", "extract_amounts", "extract_dates", "extract_entities",
           "extract_item", "load_entity_rules"]  # fmt: skip

DEAD_LETTER = "dead_letter"
_MAX_SCAN_CHARS = 6000

_NUMBER = r"\d+(?:,\d{3})*(?:\.\d+)?"
_EN_SCALE = {
    "thousand": 1e3, "k": 1e3, "million": 1e6, "mn": 1e6, "m": 1e6, "mm": 1e6,
    "billion": 1e9, "bn": 1e9, "b": 1e9, "trillion": 1e12, "tn": 1e12, "t": 1e12,
}  # fmt: skip
_ZH_SCALE = {"千": 1e3, "万": 1e4, "十万": 1e5, "百万": 1e6, "千万": 1e7, "亿": 1e8, "十亿": 1e9, "百亿": 1e10,
             "千亿": 1e11, "万亿": 1e12}  # fmt: skip
_CURRENCY_SYMBOL = {"$": "USD", "us$": "USD", "€": "EUR", "£": "other", "¥": "CNY?", "￥": "CNY"}
_CURRENCY_WORD = {
    "usd": "USD", "dollars": "USD", "dollar": "USD", "美元": "USD", "美金": "USD",
    "cny": "CNY", "rmb": "CNY", "yuan": "CNY", "元": "CNY", "人民币": "CNY", "元人民币": "CNY",
    "eur": "EUR", "euros": "EUR", "euro": "EUR", "欧元": "EUR",
    "jpy": "JPY", "yen": "JPY", "日元": "JPY",
}  # fmt: skip
_EN_SCALE_RE = r"(?:thousand|million|billion|trillion|mn|bn|tn|mm|[kKmMbBtT])(?![A-Za-z])"
_ZH_SCALE_RE = r"(?:十万|百万|千万|十亿|百亿|千亿|万亿|千|万|亿)"
_CURRENCY_WORD_RE = r"(?:USD|usd|CNY|RMB|EUR|JPY|dollars?|yuan|euros?|yen|美元|美金|元人民币|人民币|欧元|日元|元)"
_RATIO_RE = r"(?:倍|[x×](?![A-Za-z0-9]))"
_PERCENT_RE = r"(?:%|％|percent(?![A-Za-z])|个百分点)"
_SIGN_WORDS = ("倍", "x", "×", "%", "％", "percent", "个百分点")  # every spelling _RATIO_RE and _PERCENT_RE accept

# Ordered: the first pattern to claim a span wins, so money is tried before bare counts.
_AMOUNT_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # "$122 billion", "$122B", "US$ 10bn", "¥5亿", "€3 million"
    ("symbol", re.compile(
        rf"(?P<cur>US\$|\$|€|£|¥|￥)\s?(?P<num>{_NUMBER})\s?(?:(?P<zh>{_ZH_SCALE_RE})|(?P<en>{_EN_SCALE_RE}))?"
    )),
    # "1220 亿美元", "5 亿元", "122B USD", "10 billion dollars", "3 million euros"
    ("word", re.compile(
        rf"(?P<num>{_NUMBER})\s?(?:(?P<zh>{_ZH_SCALE_RE})|(?P<en>{_EN_SCALE_RE}))?\s?(?P<cur>{_CURRENCY_WORD_RE})(?![A-Za-z])"
    )),
    ("ratio", re.compile(rf"(?P<num>{_NUMBER})\s?{_RATIO_RE}")),
    ("percent", re.compile(rf"(?P<num>{_NUMBER})\s?{_PERCENT_RE}")),
    # A Chinese scale needs no boundary ("100 万名"); an English one must end a word ("1M-person").
    ("count", re.compile(
        rf"(?P<num>{_NUMBER})\s?(?:(?P<zh>{_ZH_SCALE_RE})|(?P<en>{_EN_SCALE_RE})(?=[\s\-+]|$|[^\w]))"
    )),
)  # fmt: skip

_MONTHS = {name: i for i, name in enumerate(
    ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
     "november", "december"], start=1)}  # fmt: skip
_MONTHS.update({name[:3]: i for name, i in list(_MONTHS.items())})
_MONTHS["sept"] = 9
_MONTH_RE = r"(?P<month>Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sept?(?:ember)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"  # noqa: E501
_MONTH_WORD = re.compile(r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)")


def _has_month_name(text: str) -> bool:
    return _MONTH_WORD.search(text) is not None


def _between_digits(separator: str) -> Callable[[str], bool]:
    """A test for `separator` between two digits (r"\\d-\\d"), which every numeric date holds.

    By `str.find`, since a regex steps through every character (~30 instructions each) even when it
    starts with a digit, and hyphens are few.
    """

    def test(text: str) -> bool:
        at = text.find(separator, 1)
        while at != -1:
            # isdecimal() is exactly what re's \d matches: Unicode category Nd.
            if text[at - 1].isdecimal() and text[at + 1 : at + 2].isdecimal():
                return True
            at = text.find(separator, at + 1)
        return False

    return test


# (cheap precondition, patterns): most texts hold no date, and the preconditions say so.
_DATE_PATTERNS: tuple[tuple[Callable[[str], bool], tuple[re.Pattern[str], ...]], ...] = (
    (_between_digits("-"), (re.compile(r"(?<!\d)(?P<year>20\d{2}|19\d{2})-(?P<mon>\d{1,2})-(?P<day>\d{1,2})(?!\d)"),)),
    (_between_digits("/"), (re.compile(r"(?<!\d)(?P<year>20\d{2}|19\d{2})/(?P<mon>\d{1,2})/(?P<day>\d{1,2})(?!\d)"),)),
    (_has_month_name, (
        re.compile(rf"\b{_MONTH_RE}\s(?P<day>\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s(?P<year>\d{{4}}))?\b"),
        re.compile(rf"\b(?P<day>\d{{1,2}})\s{_MONTH_RE}(?:,?\s(?P<year>\d{{4}}))?\b"),
    )),
    (lambda t: "月" in t, (
        re.compile(r"(?:(?P<year>\d{4})\s?年\s?)?(?P<mon>\d{1,2})\s?月\s?(?P<day>\d{1,2})\s?[日号]"),
    )),
)  # fmt: skip
_HANDLE = re.compile(r"(?<![\w@])@(\w{1,15})\b")


# A cheap necessary condition per amount pattern. Every number ends in a digit, so a match of
# NUMBER + suffix holds "digit + suffix"; searching for that needs no backtracking through
# \d+(?:,\d{3})* at every digit of every number (the patterns alone cost ~50 µs per post).
_GATE_SUFFIXES = {
    "word": rf"(?:{_ZH_SCALE_RE}|{_EN_SCALE_RE})?\s?{_CURRENCY_WORD_RE}(?![A-Za-z])",
    "ratio": _RATIO_RE,
    "percent": _PERCENT_RE,
    "count": rf"(?:{_ZH_SCALE_RE}|{_EN_SCALE_RE}(?=[\s\-+]|$|[^\w]))",
}
_CURRENCY_SIGNS = "$€£¥￥"
_ASCII_CURRENCY_SIGNS = "".join(sign for sign in _CURRENCY_SIGNS if sign.isascii())


def _has_currency_sign(text: str) -> bool:
    return any(sign in text for sign in (_ASCII_CURRENCY_SIGNS if text.isascii() else _CURRENCY_SIGNS))


_AMOUNT_GATES: dict[str, Callable[[str], object]] = {
    "symbol": _has_currency_sign,
    **{kind: re.compile(rf"\d\s?{suffix}").search for kind, suffix in _GATE_SUFFIXES.items()},
}


# All four number-first gates in one scan: most posts hold numbers but no amount at all. The shared
# leading digit is factored out, since re searches a pattern that starts with a digit from digit to
# digit, while an alternation of four is tried at every position.
_ANY_NUMBER_AMOUNT = re.compile(rf"\d\s?(?:{'|'.join(_GATE_SUFFIXES.values())})")

# And a gate before that one for ASCII text, in C: after the last digit of a number, at most two
# spaces ("5 billion  USD") and the first letter of a unit the gate accepts ("billion", "USD", "x").
# Mapping the text to those three classes of characters makes it three substring tests. The letters
# come from asking the gate about every unit word in either case: the scale and currency tables hold
# all it accepts (`_amount_from` reads the units from them), and _SIGN_WORDS the rest.
_UNIT_STARTS = {
    word[0]
    for unit in (*_EN_SCALE, *_ZH_SCALE, *_CURRENCY_WORD, *_SIGN_WORDS)
    for word in (unit, unit.upper())
    if _ANY_NUMBER_AMOUNT.match(f"1{word} ")
}
_NUMBER_SHAPE = bytes(
    ord("0" if char.isdecimal() else " " if char.isspace() else "u" if char in _UNIT_STARTS else ".")
    for char in map(chr, range(256))
)


def _may_hold_number_amount(text: str) -> bool:
    if text.isascii():
        shape = text.encode("ascii").translate(_NUMBER_SHAPE)
        if b"0u" not in shape and b"0 u" not in shape and b"0  u" not in shape:
            return False
    return _ANY_NUMBER_AMOUNT.search(text) is not None


def _may_match(kind: str, text: str) -> bool:
    return bool(_AMOUNT_GATES[kind](text))


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def _amount_from(kind: str, match: re.Match[str], lang: str) -> Amount | None:
    value = _number(match.group("num"))
    groups = match.groupdict()
    zh_scale, en_scale = groups.get("zh"), groups.get("en")
    scale = _ZH_SCALE[zh_scale] if zh_scale else _EN_SCALE[en_scale.lower()] if en_scale else 1.0
    if kind == "ratio":
        return Amount(text=match.group(), value=value, unit="ratio")
    if kind == "percent":
        return Amount(text=match.group(), value=value, unit="percent")
    if kind == "count":
        return Amount(text=match.group().strip(), value=value * scale, unit="count")
    currency = match.group("cur")
    if kind == "symbol":
        unit = _CURRENCY_SYMBOL[currency.lower()]
        if unit == "CNY?":
            # "¥" is yuan in Chinese text or with a Chinese scale ("¥5亿"), yen otherwise.
            unit = "CNY" if zh_scale or lang == "zh" else "JPY"
    else:
        unit = _CURRENCY_WORD[currency.lower()]
    return Amount(text=match.group().strip(), value=value * scale, unit=unit)  # type: ignore[arg-type]


def extract_amounts(text: str, lang: str = "en") -> tuple[Amount, ...]:
    """Money, ratios, percentages and scaled counts, each (value, unit) once, in text order."""
    return _amounts_in(unicodedata.normalize("NFKC", text), lang)


def _amounts_in(text: str, lang: str) -> tuple[Amount, ...]:
    """`extract_amounts` of an NFKC-normalized text."""
    claimed: list[tuple[int, int]] = []
    found: list[tuple[int, Amount]] = []
    if not _has_currency_sign(text) and not _may_hold_number_amount(text):
        return ()
    for kind, pattern in _AMOUNT_PATTERNS:
        if not _may_match(kind, text):
            continue
        for match in pattern.finditer(text):
            start, end = match.span()
            if any(start < c_end and c_start < end for c_start, c_end in claimed):
                continue
            amount = _amount_from(kind, match, lang)
            if amount is not None:
                claimed.append((start, end))
                found.append((start, amount))
    seen: set[tuple[float, str]] = set()
    result = []
    for _, amount in sorted(found, key=lambda pair: pair[0]):
        if (amount.value, amount.unit) not in seen:
            seen.add((amount.value, amount.unit))
            result.append(amount)
    return tuple(result)


def extract_dates(text: str, default_year: int | None = None) -> tuple[str, ...]:
    """ISO dates mentioned in the text; a date written without a year takes `default_year`."""
    return _dates_in(unicodedata.normalize("NFKC", text), default_year)


def _dates_in(text: str, default_year: int | None) -> tuple[str, ...]:
    """`extract_dates` of an NFKC-normalized text."""
    found: list[tuple[int, str]] = []
    claimed: list[tuple[int, int]] = []
    for needs, patterns in _DATE_PATTERNS:
        if not needs(text):
            continue
        for match in (match for pattern in patterns for match in pattern.finditer(text)):
            start, end = match.span()
            if any(start < c_end and c_start < end for c_start, c_end in claimed):
                continue
            groups = match.groupdict()
            month = _MONTHS[groups["month"].lower().rstrip(".")] if groups.get("month") else int(groups["mon"])
            year = int(groups["year"]) if groups.get("year") else default_year
            if year is None:
                continue
            try:
                iso = date(year, month, int(groups["day"])).isoformat()
            except ValueError:
                continue  # "2026-13-45" is not a date, whatever it looks like
            claimed.append((start, end))
            found.append((start, iso))
    return tuple(dict.fromkeys(iso for _, iso in sorted(found)))


_EntityKind = Literal["organisation", "product", "person"]


@dataclass(frozen=True)
class EntityRules:
    names: TermMatcher[tuple[_EntityKind, str]]  # every alias -> (kind, canonical name), one pass per text
    # a dozen `\b...` patterns scanning every tweet would cost more than everything else here
    models: AnchoredPatterns
    # lower-cased X handle -> canonical organisation name, for the organisation's own accounts
    official_handles: dict[str, str] = field(default_factory=dict)
    # lower-cased alias -> canonical organisation name, to read a source's publisher
    organisation_names: dict[str, str] = field(default_factory=dict)


@functools.lru_cache(maxsize=4)
def load_entity_rules(path: str | None = None) -> EntityRules:
    """Names and patterns from entities.toml (the packaged one by default)."""
    data = load_data_file("entities.toml", path)
    products = data.get("products", {})
    names: dict[str, tuple[_EntityKind, str]] = {}
    for name in products.get("names", []):
        names[name] = ("product", name)
    for name, aliases in data.get("people", {}).items():
        names.update((alias, ("person", name)) for alias in aliases)
    # Organisations last: "PyTorch Foundation" is an organisation even though "PyTorch" is a product.
    official_handles: dict[str, str] = {}
    organisation_names: dict[str, str] = {}
    for name, spec in data["organisations"].items():
        names.update((alias, ("organisation", name)) for alias in spec["aliases"])
        official_handles.update((h.lstrip("@").lower(), name) for h in spec.get("handles", []))
        organisation_names.update((alias.lower(), name) for alias in [name, *spec["aliases"]])
    return EntityRules(
        names=TermMatcher(names, case_sensitive=True),
        models=AnchoredPatterns(products.get("patterns", [])),
        official_handles=official_handles,
        organisation_names=organisation_names,
    )


def _unique(values: Iterator[str] | list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def extract_entities(
    text: str, lang: str = "en", default_year: int | None = None, rules: EntityRules | None = None
) -> Entities:
    rules = rules or load_entity_rules()
    text = text[:_MAX_SCAN_CHARS]
    models: list[tuple[int, str]] = []
    for pattern in rules.models.present(text):
        models.extend((m.start(), m.group()) for m in pattern.finditer(text))
    normalized = unicodedata.normalize("NFKC", text)  # once for amounts and dates
    found: dict[str, list[str]] = {"organisation": [], "product": [], "person": []}
    for _, (kind, name) in rules.names.find(text):
        found[kind].append(name)
    return Entities(
        organisations=_unique(found["organisation"]),
        products=_unique([name for _, name in sorted(models)] + found["product"]),
        people=_unique(found["person"]),
        handles=_unique(f"@{h}" for h in _HANDLE.findall(text)) if "@" in text else (),
        amounts=_amounts_in(normalized, lang),
        dates=_dates_in(normalized, default_year),
    )


def official_voice(item: Item, rules: EntityRules) -> str | None:
    """The organisation speaking for itself: an official-tier source, or one of its own X accounts."""
    if item.source.tier == "official":
        return rules.organisation_names.get(item.source.publisher.lower())
    if item.handle:
        return rules.official_handles.get(item.handle.lstrip("@").lower())
    return None


def extract_item(item: Item, rules: EntityRules | None = None) -> Item:
    rules = rules or load_entity_rules()
    published: datetime | None = item.published_at
    entities = extract_entities(f"{item.title}\n{item.text}", item.lang, published.year if published else None, rules)
    official = official_voice(item, rules)
    if official is not None and official not in entities.organisations:
        # An official blog says "we", not its own name: the organisation concerned is the speaker.
        entities = entities.copy_with({"organisations": (official, *entities.organisations)})
    return item.copy_with({"entities": entities, "official_for": official})


class _ExtractFn(beam.DoFn):
    def __init__(self, path: str | None) -> None:
        self._path = path
        self._rules: EntityRules | None = None

    def setup(self) -> None:
        self._rules = load_entity_rules(self._path)

    def process(self, item: Item) -> Iterator[Item]:
        yield extract_item(item, self._rules)


class Extract(beam.PTransform):
    """Item -> Item with `entities` (`good`); `dead_letter` stays empty today."""

    def __init__(self, entities_path: str | None = None) -> None:
        super().__init__()
        load_entity_rules(entities_path)  # a bad data file fails here, before the pipeline runs
        self._path = entities_path

    def expand(self, items: beam.PCollection) -> beam.pvalue.DoOutputsTuple:
        return items | "ExtractEntities" >> beam.ParDo(_ExtractFn(self._path)).with_outputs(DEAD_LETTER, main="good")
