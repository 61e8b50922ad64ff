"""Text hygiene for anything the digest shows as a title or a quote.

Titles and quotes come from the open web: tweets with t.co links and emoji, event titles the
clusterer glued together ("… internal memo. Announcement event"), posts cut mid-URL ("… htt").
A reader should see the words only, so every title and quote passes through `clean_title` /
`clean_quote` before it reaches the digest.
"""

from __future__ import annotations

import re

__all__ = ["clean_quote", "clean_title", "has_url", "is_cjk", "is_english_only", "sentences"]

_URL = re.compile(r"(?i)\b(?:https?://|www\.)\S*|\bt\.co/\S*")
# A link cut off by a length limit at the very end: "… especially. htt", "… see https:/".
_PARTIAL_URL = re.compile(r"(?i)\s+h(?:t(?:t(?:p(?:s)?(?::(?:/(?:/\S*)?)?)?)?)?)?$")
# Emoji and pictographs (with their joiners and variation selectors): never part of a headline.
_EMOJI = re.compile(
    "[\U0001f000-\U0001faff\U00002600-\U000027bf\U00002b00-\U00002bff\U0001f900-\U0001f9ff"
    "\u200d\ufe0e\ufe0f\u20e3\u2190-\u21ff\u2300-\u23ff]+"
)
# Leaders a newswire or leaker prepends to a title; they carry no information for a reader.
_KICKER = re.compile(r"(?i)^(?:breaking|scoop|exclusive|just in|update|rumou?r|传闻|独家|快讯)\s*[:：\-–—]\s*")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"“(])|(?<=[。！？])")
_CJK = re.compile(r"[\u3400-\u9fff]")
# A lowercase English word of two letters or more: names are capitalised or carry digits ("Gemma 4",
# "GPT-5.4-Cyber"), so lowercase words are the English sentence around them ("comes to the …").
_LOWER_WORD = re.compile(r"(?<![A-Za-z])[a-z][a-z'-]+")
# Below this many Chinese characters a headline says nothing in Chinese; from this many lowercase English
# words on it is an English sentence with Chinese around it (names alone never have three).
_MIN_CJK, _MAX_LOWER = 2, 3
# A span in “…” in Chinese text: a name or a title cited in its own language. Not 「…」: the digest's
# own sentences embed event headlines that way, and an English headline there is what to catch.
_QUOTED = re.compile(r"“[^”]*”")


def has_url(text: str) -> bool:
    """True when the text carries a web address or a t.co link (what a headline must not show)."""
    return bool(_URL.search(text) or _PARTIAL_URL.search(text))


def is_cjk(text: str) -> bool:
    """True when the text holds Chinese characters (a Chinese-language headline)."""
    return bool(_CJK.search(text))


def is_english_only(text: str) -> bool:
    """True when a Chinese reader would find no Chinese statement in the text: fewer than two Chinese
    characters, or an English sentence in it (three lowercase English words or more). Names stay in
    their own script, so "Google DeepMind 将 Project Mariner 接入 Gemini API" is Chinese, and so is a
    quoted English title in Chinese text ("OpenAI 发布 “Codex for (almost) everything”")."""
    unquoted = _QUOTED.sub(" ", text) if _CJK.search(text) else text
    return len(_CJK.findall(text)) < _MIN_CJK or len(_LOWER_WORD.findall(unquoted)) >= _MAX_LOWER


def _strip_noise(text: str) -> str:
    text = _URL.sub(" ", text)
    text = _EMOJI.sub(" ", text)
    text = " ".join(text.split())
    text = _PARTIAL_URL.sub("", text)
    return text.strip(" -–—|:：·")


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(" ".join(text.split())) if s.strip()]


def clean_quote(text: str) -> str:
    """A quote without links, emoji or a dangling cut-off link."""
    return _strip_noise(text)


def clean_title(text: str, max_chars: int = 90) -> str:
    """A headline: no links, emoji, kicker, or trailing fragment after the last full sentence.

    A trailing fragment is a short run of words after a sentence end that does not end a
    sentence itself ("… an internal memo. Announcement event"): clustering or truncation
    artefacts, never part of what a source wrote as its headline.
    """
    text = _KICKER.sub("", _strip_noise(text))
    parts = sentences(text)
    if len(parts) > 1:
        tail = parts[-1]
        if not tail.endswith((".", "!", "?", "。", "！", "？")) and len(tail.split()) <= 3:
            parts = parts[:-1]
        text = " ".join(parts)
    if len(parts) > 1 or len(text) > max_chars:
        # A headline is one sentence: keep the first when the title runs on.
        first = parts[0] if parts else text
        text = first if len(first) >= 12 else text
    if len(text) > max_chars:
        cut = text[:max_chars]
        space = cut.rfind(" ")
        text = (cut[:space] if space > max_chars // 2 else cut).rstrip(",;:，；：") + "…"
    return text.rstrip(" .。") if text.endswith((".", "。")) and len(sentences(text)) == 1 else text
