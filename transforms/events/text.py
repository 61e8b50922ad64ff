"""Text → comparable keys: word stems, word pairs, CJK character pairs, names, amounts, URLs.

Everything here is domain-independent and stateless; weighting (IDF from the stream) happens
in `representation`. Speed matters (the whole clustering path has ~100 µs per headline), so
ASCII text is cut with `str.translate` + `split` rather than a regex per token.
"""

from __future__ import annotations

import re
import string
import unicodedata
from urllib.parse import urlsplit

__all__ = ["amount_keys", "cjk_pairs", "name_keys", "stem", "url_key", "words"]

# Function words carry no story; they are dropped before stems and pairs are made so that
# "files for bankruptcy" and "files bankruptcy" give the same pair.
STOPWORDS = frozenset(
    (
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "also",
        "am",
        "amp",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "back",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "d",
        "day",
        "days",
        "did",
        "do",
        "does",
        "doing",
        "don",
        "down",
        "during",
        "each",
        "few",
        "first",
        "for",
        "from",
        "further",
        "get",
        "gets",
        "got",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "heres",
        "hers",
        "herself",
        "hes",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "im",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "last",
        "ll",
        "m",
        "made",
        "make",
        "makes",
        "may",
        "me",
        "might",
        "more",
        "most",
        "must",
        "my",
        "myself",
        "new",
        "news",
        "next",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "one",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "photo",
        "photos",
        "re",
        "report",
        "reports",
        "s",
        "said",
        "same",
        "say",
        "says",
        "shall",
        "she",
        "shes",
        "should",
        "so",
        "some",
        "still",
        "such",
        "t",
        "than",
        "that",
        "thats",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "theyre",
        "this",
        "those",
        "through",
        "to",
        "today",
        "too",
        "two",
        "under",
        "until",
        "up",
        "update",
        "us",
        "ve",
        "very",
        "via",
        "video",
        "vs",
        "was",
        "watch",
        "we",
        "week",
        "were",
        "what",
        "whats",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "whos",
        "why",
        "will",
        "with",
        "would",
        "year",
        "years",
        "you",
        "your",
        "youre",
        "yours",
        "yourself",
        "yourselves",
    )
)

_KEEP = string.ascii_lowercase + string.digits
# Every ASCII character that cannot be inside a token becomes a space; apostrophes are dropped
# so that "Plosser's" and "Plossers" meet after stemming, and dots/hyphens split words.
_ASCII_MAP = {c: " " for c in range(128) if chr(c) not in _KEEP}
_ASCII_MAP[ord("'")] = None
_ASCII_MAP[ord("’")] = None
_NON_ASCII_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af]+")
_CAPITALISED = re.compile(r"(?<![\w'’])([A-Z][\w'’.\-]*[A-Za-z0-9]|[A-Z])")


# Stems already worked out: news repeats its words, and `words` runs on every title and lead.
# Bounded, so a stream of unique tokens (ids, hashes) cannot grow it without end.
_STEMS: dict[str, str] = {}
_STEMS_MAX = 200_000


def stem(word: str) -> str:
    """A light English suffix stripper: plurals, -ing, -ed. Digits and short words stay as they are.

    Porter would be better linguistically; this is cheap and conservative (it must never glue two
    different names together), and it is a no-op on non-English tokens of other shapes.
    """
    found = _STEMS.get(word)
    if found is None:
        found = _strip_suffix(word)
        if len(_STEMS) < _STEMS_MAX:
            _STEMS[word] = found
    return found


def _strip_suffix(word: str) -> str:
    n = len(word)
    if n <= 3 or not word[-1].isalpha():
        return word
    if word.endswith("ies") and n > 4:
        return word[:-3] + "y"
    if word.endswith("ing") and n > 5:
        return word[:-3]
    if word.endswith("ed") and n > 4 and not word.endswith("eed"):
        return word[:-2]
    if word.endswith("es") and n > 4 and word[-3] in "sxz":
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def words(text: str) -> list[str]:
    """Content-word stems of `text` in order (stopwords out); CJK runs are left to `cjk_pairs`."""
    lowered = text.lower()
    if lowered.isascii():
        raw = lowered.translate(_ASCII_MAP).split()
    else:
        lowered = unicodedata.normalize("NFKC", lowered).replace("'", "").replace("’", "")
        raw = [w for w in _NON_ASCII_WORD.findall(_CJK.sub(" ", lowered))]
    stems = _STEMS
    return [stems.get(w) or stem(w) for w in raw if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]


def cjk_pairs(text: str) -> list[str]:
    """Overlapping character pairs of every CJK run (single characters of one-character runs).

    Chinese has no spaces; character bigrams are the standard segmentation-free unit and match
    across rewrites as well as words do.
    """
    out: list[str] = []
    for run in _CJK.findall(text):
        if len(run) == 1:
            out.append(run)
        else:
            out.extend(run[i : i + 2] for i in range(len(run) - 1))
    return out


def name_keys(text: str) -> list[str]:
    """Capitalised words that are not the first word and not a stopword, lower-cased and stemmed.

    In a sentence-case text these are names; in a Title Case headline every word is capitalised,
    so such headlines give no names here (their words still count as words).
    """
    found = _CAPITALISED.findall(text)
    tokens = text.split()
    if len(tokens) >= 4 and len(found) >= 0.6 * len(tokens):
        # Title Case: capitalisation says nothing; only tokens with inner capitals or digits
        # ("iOS", "MH370", "GPT-5") are still names.
        found = [w for w in found if any(map(str.isdigit, w)) or any(map(str.isupper, w[1:]))]
    out = []
    for i, w in enumerate(found):
        key = w.lower().replace("'", "").replace("’", "").rstrip(".")
        if key in STOPWORDS or (i == 0 and text.startswith(w) and not any(map(str.isupper, w[1:]))):
            continue
        out.append(stem(key))
    # Mixed-script names (Latin inside Chinese) are names whatever their case: "OpenAI", "gpt".
    return out


def amount_keys(amounts: list[tuple[float, str]]) -> list[str]:
    """Keys of (value, unit) amounts rounded to three significant digits, so "$122 billion" and
    "1220 亿美元" both give "$usd:1.22e+11".
    """
    return [f"${unit.lower()}:{value:.2e}" for value, unit in amounts if value > 0]


def url_key(url: str | None) -> str | None:
    """A URL reduced to host (without www.) + path (without trailing slash), no scheme, query or
    fragment: the entry link, its page's canonical and a mirror's link usually agree on it.
    """
    if not url:
        return None
    url = url.strip()
    fast = _split_plain_http(url)
    if fast is not None:
        host, path = fast
    else:
        try:
            parts = urlsplit(url)
        except ValueError:
            return None
        host, path = parts.hostname or "", parts.path
    host = host.removeprefix("www.")
    path = path.rstrip("/")
    if not host or not path:
        # A bare home page is shared by every item of a publisher: it says nothing about the story.
        return None
    return host + path


_PATH_END = re.compile(r"[?#]")
_NETLOC_END = re.compile(r"[/?#]")


def _split_plain_http(url: str) -> tuple[str, str] | None:
    """(lower-cased host, path) of a plain ASCII http(s) URL, as `urlsplit` gives them; None for
    anything else (the caller asks `urlsplit`). Every item's link passes here, and `urlsplit`
    with its `hostname` cost ~13 µs of the ~280 µs a post spends in clustering (measured).
    """
    if url.startswith("https://"):
        rest = url[8:]
    elif url.startswith("http://"):
        rest = url[7:]
    else:
        return None
    if not url.isascii() or "\t" in url or "\n" in url or "\r" in url:
        return None
    end = _NETLOC_END.search(rest)
    netloc, tail = (rest[: end.start()], rest[end.start() :]) if end else (rest, "")
    if "[" in netloc or "]" in netloc or "%" in netloc:
        return None  # IPv6 literals and zone ids: urlsplit's own checks apply
    cut = _PATH_END.search(tail)
    path = tail[: cut.start()] if cut else tail
    return netloc.rpartition("@")[2].partition(":")[0].lower(), path


_SLUG_SEPARATORS = str.maketrans({c: " " for c in "-_+.,;"})
_SLUG_EXTENSIONS = (".html", ".htm", ".shtml", ".php", ".aspx", ".asp", ".jsp", ".cms", ".story", ".ece")
# A segment of fewer parts is a section or a file name ("business", "index.html"), not a headline
# written into the link; "introducing-gpt-5" is one, its number left out like a date or an id.
_SLUG_MIN_PARTS = 3
_SLUG_MIN_WORDS = 2


def slug_text(key: str | None) -> str:
    """The words a newsroom wrote into a link's path ("…/2014/03/10/mtgox-files-bankruptcy-us/"
    → "mtgox files bankruptcy us"), from a `url_key`. Slugs are often a fuller or an earlier
    headline than the title, which is most of what a headline-only item has to compare; ids,
    dates and section names are left out.
    """
    if not key:
        return ""
    out: list[str] = []
    for segment in key.split("/")[1:]:
        if segment.endswith(_SLUG_EXTENSIONS):
            segment = segment[: segment.rindex(".")]
        parts = segment.translate(_SLUG_SEPARATORS).split(" ")
        if len(parts) < _SLUG_MIN_PARTS:
            continue
        alpha = [p for p in parts if len(p) > 1 and p.isalpha()]
        if len(alpha) >= _SLUG_MIN_WORDS:
            out.extend(alpha)
    return " ".join(out)
