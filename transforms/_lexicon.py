"""Term lists from the data files under transforms/data/, compiled for cheap matching.

A regex alternation of a few hundred terms costs ~100 µs on a tweet (Python's re tries
every alternative at every position), so words are matched by looking up the text's
tokens and token n-grams in a dict, and terms of unspaced scripts (Chinese) by
substring counts, which run in C.

Tokenizing costs about as much as the lookups, so a caller that matches one text against
several tables tokenizes it once (`tokenize`, `casefold`) and hands the `Tokenized` text to
`TermMatcher.match`. Model-name regexes run only when their literal name occurs
(`AnchoredPatterns`).
"""

from __future__ import annotations

import re
import string
import tomllib
from collections.abc import Iterable, Mapping
from importlib import resources
from itertools import compress
from typing import Any, Generic, NamedTuple, TypeVar

__all__ = ["AnchoredPatterns", "TermMatcher", "Tokenized", "casefold", "load_data_file", "tokenize", "tokens"]

V = TypeVar("V")

# A token: letters/digits of spaced scripts, joined by inner hyphens, dots or apostrophes
# ("on-device", "gpt-5.4-cyber", "we're"). The quantifiers are possessive: a token never needs to give
# characters back, and re then skips the bookkeeping for it (~20% of the dearest regex here).
_TOKEN = re.compile(r"[0-9A-Za-z\u00c0-\u024f]++(?:['’.\-][0-9A-Za-z\u00c0-\u024f]++)*+")
_SPACED = re.compile(r"^[0-9A-Za-z\u00c0-\u024f'’.\- ]+$")


# ASCII text is mostly tokenized without the regex, which costs ~2,000 instructions per token (re
# allocates and frees its stack for every match): every character that can be in no token becomes a
# space and str.split() cuts the rest into runs. A token cannot leave its run, and most runs are one
# word, give or take a mark (hyphen, dot, apostrophe) at either end; only the others need the regex.
_MARKS = "'.-"
_ASCII_TOKEN_CHARS = string.ascii_letters + string.digits + _MARKS
_ASCII_SEPARATORS = bytes(char if chr(char) in _ASCII_TOKEN_CHARS else ord(" ") for char in range(256))


def tokens(text: str) -> list[str]:
    if not text.isascii():
        return _TOKEN.findall(text)
    found: list[str] = []
    for run in text.encode("ascii").translate(_ASCII_SEPARATORS).decode("ascii").split():
        if run.isalnum():
            found.append(run)
            continue
        word = run.strip(_MARKS)  # a mark at either end belongs to no token
        if word.isalnum():
            found.append(word)
        elif word:
            found.extend(_TOKEN.findall(word))
    return found


class Tokenized(NamedTuple):
    """A text with its tokens. Texts joined by a newline have the concatenated tokens (no token spans one)."""

    text: str
    tokens: list[str]


def tokenize(text: str) -> Tokenized:
    return Tokenized(text, tokens(text))


def casefold(text: Tokenized) -> Tokenized:
    """The case-folded text and its tokens, for a matcher built with `case_sensitive=False`."""
    if text.text.isascii():
        # ASCII case-folding is lower() and keeps every token a token: fold the tokens in one C call.
        toks = "\n".join(text.tokens).lower().split("\n") if text.tokens else []
        return Tokenized(text.text.lower(), toks)
    # Elsewhere folding can change what a token is ("İ" folds to "i" and a combining dot).
    folded = text.text.casefold()
    return Tokenized(folded, tokens(folded))


def load_data_file(name: str, path: str | None = None) -> dict[str, Any]:
    """A TOML file from transforms/data (or `path`), parsed."""
    if path is not None:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    return tomllib.loads(resources.files("transforms.data").joinpath(name).read_text(encoding="utf-8"))


# A model pattern starts with a literal name ("\\bGemini", "\\bo[134]"): when none of its spellings
# occurs in the text the regex cannot match, and a substring test is ~20x cheaper than a search.
_LITERAL_HEAD = re.compile(r"^(?:\\b)?([A-Za-z0-9]+)(?:\[([A-Za-z0-9]+)\])?")


class AnchoredPatterns:
    """Regexes that each need one of a few literal strings: `present(text)` -> the ones worth running.

    Most texts hold none of the strings, and a dozen substring tests cost less than one regex pass.
    """

    def __init__(self, patterns: Iterable[str]) -> None:
        self._entries = tuple((_literal_anchors(pattern), re.compile(pattern)) for pattern in patterns)
        self._anchors = tuple(dict.fromkeys(anchor for anchors, _ in self._entries for anchor in anchors))

    def present(self, text: str) -> list[re.Pattern[str]]:
        found = {anchor for anchor in self._anchors if anchor in text}
        if not found:
            return []
        return [pattern for anchors, pattern in self._entries if not found.isdisjoint(anchors)]


def _literal_anchors(pattern: str) -> tuple[str, ...]:
    """Strings one of which every match of `pattern` contains ("" when there are none to rely on)."""
    match = _LITERAL_HEAD.match(pattern)
    if match is None or _has_top_level_alternation(pattern):
        return ("",)  # no literal head every match must contain: always search
    head, choices = match.groups()
    if pattern[match.end() : match.end() + 1] in ("?", "*", "{"):
        # The last element is optional ("GPTs?", "o[134]?"): only what precedes it is required.
        if choices:
            choices = None
        else:
            head = head[:-1]
    return tuple(head + c for c in choices) if choices else (head,)


def _has_top_level_alternation(pattern: str) -> bool:
    depth, escaped, in_class = 0, False, False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            return True
    return False


class TermMatcher(Generic[V]):
    """Finds the terms of a {term: value} table in a text: `find(text)` -> [(term, value), ...].

    Terms of spaced scripts ("cyber", "funding round", "GPT") match whole tokens or token
    sequences; a hyphenated token also offers its parts ("gpt-5.4-cyber" holds "cyber").
    Other terms (Chinese, "?") match anywhere, once per occurrence. With
    `case_sensitive=False` comparison is case-folded. Hits come in a fixed order: word
    terms in text order, then the other terms longest first.
    """

    def __init__(self, terms: Mapping[str, V], *, case_sensitive: bool = False) -> None:
        self._case_sensitive = case_sensitive
        self._words: dict[str, tuple[str, V]] = {}
        # first token of a multi-word term -> the tokens that can follow it: "in" starts a term
        # in few places, and a set lookup rules the others out before any n-gram is built
        self._seconds: dict[str, set[str]] = {}
        self._max_words = 1
        self._substrings: list[tuple[str, str, V]] = []
        for term, value in terms.items():
            key = term if case_sensitive else term.casefold()
            parts = tokens(key)
            if _SPACED.match(key) and parts and "".join(parts) == key.replace(" ", ""):
                self._words[" ".join(parts)] = (term, value)
                self._max_words = max(self._max_words, len(parts))
                if len(parts) > 1:
                    self._seconds.setdefault(parts[0], set()).add(parts[1])
            elif key.strip():
                self._substrings.append((key, term, value))
            else:
                raise ValueError("empty term in a term list")
        # Tokens that can start a hit: most tokens of a text are none of these, and a set
        # intersection finds the few that are in C.
        self._hit_tokens = set(self._words) | set(self._seconds)
        # Longest first, so a longer term's hits can be told apart from a shorter one's.
        self._substrings.sort(key=lambda entry: (-len(entry[0]), entry[0]))
        self._ascii_substrings = [entry for entry in self._substrings if entry[0].isascii()]
        # A term can only occur where its first character does; `char in text` is far cheaper
        # than counting every Chinese term through a long page.
        self._first_chars = tuple(dict.fromkeys(entry[0][0] for entry in self._substrings))

    def find(self, text: str) -> list[tuple[str, V]]:
        if not text:
            return []
        if not self._case_sensitive:
            text = text.casefold()
        return self.match(Tokenized(text, tokens(text) if self._words else []))

    def match(self, text: Tokenized) -> list[tuple[str, V]]:
        """`find` on a tokenized text, which the caller has case-folded (`casefold`) unless case-sensitive."""
        hits: list[tuple[str, V]] = []
        words = self._words
        toks = text.tokens
        wanted = self._hit_tokens.intersection(toks)
        if "-" in text.text:
            for tok in [tok for tok in toks if "-" in tok]:
                if not words.keys().isdisjoint(tok.split("-")):
                    wanted.add(tok)
        if wanted:
            count, next_tokens, max_words = len(toks), self._seconds, self._max_words
            for i in compress(range(count), map(wanted.__contains__, toks)):
                tok = toks[i]
                found = words.get(tok)
                if found is not None:
                    hits.append(found)
                elif "-" in tok:
                    hits.extend(words[part] for part in tok.split("-") if part in words)
                seconds = next_tokens.get(tok)
                if seconds is not None and i + 1 < count and toks[i + 1] in seconds:
                    for n in range(2, min(max_words, count - i) + 1):
                        found = words.get(" ".join(toks[i : i + n]))
                        if found is not None:
                            hits.append(found)
        plain = text.text
        if plain.isascii():
            # An ASCII text cannot hold a Chinese term: skip those counts entirely.
            candidates = self._ascii_substrings
        else:
            present = {char for char in self._first_chars if char in plain}
            candidates = [entry for entry in self._substrings if entry[0][0] in present]
        for key, term, value in candidates:
            occurrences = plain.count(key)
            if occurrences:
                hits.extend([(term, value)] * occurrences)
        return hits
