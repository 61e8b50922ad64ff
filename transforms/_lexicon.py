"""Term lists from the data files under transforms/data/, compiled for cheap matching.

A regex alternation of a few hundred terms costs ~100 µs on a tweet (Python's re tries
every alternative at every position), so words are matched by looking up the text's
tokens and token n-grams in a dict, and terms of unspaced scripts (Chinese) by
substring counts, which run in C.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from importlib import resources
from typing import Any, Generic, TypeVar

__all__ = ["TermMatcher", "load_data_file", "tokens"]

V = TypeVar("V")

# A token: letters/digits of spaced scripts, joined by inner hyphens, dots or apostrophes
# ("on-device", "gpt-5.4-cyber", "we're").
_TOKEN = re.compile(r"[0-9A-Za-z\u00c0-\u024f]+(?:['’.\-][0-9A-Za-z\u00c0-\u024f]+)*")
_SPACED = re.compile(r"^[0-9A-Za-z\u00c0-\u024f'’.\- ]+$")


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def load_data_file(name: str, path: str | None = None) -> dict[str, Any]:
    """A TOML file from transforms/data (or `path`), parsed."""
    if path is not None:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    return tomllib.loads(resources.files("transforms.data").joinpath(name).read_text(encoding="utf-8"))


class TermMatcher(Generic[V]):
    """Finds the terms of a {term: value} table in a text: `find(text)` -> [(term, value), ...].

    Terms of spaced scripts ("cyber", "funding round", "GPT") match whole tokens or token
    sequences; a hyphenated token also offers its parts ("gpt-5.4-cyber" holds "cyber").
    Other terms (Chinese, "?") match anywhere, once per occurrence. With
    `case_sensitive=False` comparison is case-folded.
    """

    def __init__(self, terms: Mapping[str, V], *, case_sensitive: bool = False) -> None:
        self._case_sensitive = case_sensitive
        self._words: dict[str, tuple[str, V]] = {}
        self._starts: set[str] = set()
        self._max_words = 1
        self._substrings: list[tuple[str, str, V]] = []
        for term, value in terms.items():
            key = term if case_sensitive else term.casefold()
            parts = tokens(key)
            if _SPACED.match(key) and parts and "".join(parts) == key.replace(" ", ""):
                self._words[" ".join(parts)] = (term, value)
                self._max_words = max(self._max_words, len(parts))
                if len(parts) > 1:
                    self._starts.add(parts[0])
            elif key.strip():
                self._substrings.append((key, term, value))
            else:
                raise ValueError("empty term in a term list")
        # Longest first, so a longer term's hits can be told apart from a shorter one's.
        self._substrings.sort(key=lambda entry: (-len(entry[0]), entry[0]))
        self._ascii_substrings = [entry for entry in self._substrings if entry[0].isascii()]

    def find(self, text: str) -> list[tuple[str, V]]:
        if not text:
            return []
        if not self._case_sensitive:
            text = text.casefold()
        hits: list[tuple[str, V]] = []
        words = self._words
        if words:
            toks = _TOKEN.findall(text)
            count = len(toks)
            for i, tok in enumerate(toks):
                found = words.get(tok)
                if found is not None:
                    hits.append(found)
                elif "-" in tok:
                    hits.extend(words[part] for part in tok.split("-") if part in words)
                if tok in self._starts:
                    for n in range(2, min(self._max_words, count - i) + 1):
                        found = words.get(" ".join(toks[i : i + n]))
                        if found is not None:
                            hits.append(found)
        # An ASCII text cannot hold a Chinese term: skip those counts entirely.
        for key, term, value in self._ascii_substrings if text.isascii() else self._substrings:
            occurrences = text.count(key)
            if occurrences:
                hits.extend([(term, value)] * occurrences)
        return hits
