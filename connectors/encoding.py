"""Turn fetched bytes into text, trusting declarations only as far as they hold.

Decision order: BOM, HTTP header charset, in-document declaration (XML prolog,
HTML <meta>) in the first 4 KiB, detection (strict UTF-8, then
charset-normalizer), and finally UTF-8 with replacement. Each declared candidate
must decode strictly; one that does not falls through to the next step, so a
mislabelled but valid body never comes back with U+FFFD. The result is then passed
through ftfy's encoding repair for text that was already mojibake at the source.

When is FetchError("bad-encoding") raised? Only when no candidate decodes
strictly AND more than `_MAX_REPLACEMENT_RATIO` of the UTF-8-with-replacement text
is U+FFFD: that is binary data, not a slightly damaged document. A document with a
few corrupt bytes comes back with U+FFFD in place of them, source "default".
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from typing import Literal

import charset_normalizer
import ftfy
import ftfy.bad_codecs  # noqa: F401  (registers "sloppy-windows-1252")

from infra.urlsafety import FetchError

__all__ = ["DecodedText", "DecisionSource", "TextKind", "decode_text"]

TextKind = Literal["xml", "html", "json", "text"]
DecisionSource = Literal["bom", "header", "prolog", "meta", "detected", "default"]


@dataclass(frozen=True)
class DecodedText:
    text: str
    encoding: str  # Python codec name actually used, e.g. "utf-8", "gb18030"
    source: DecisionSource
    repaired: bool  # ftfy changed the decoded text (source-side mojibake)


_SNIFF_BYTES = 4096
_MAX_REPLACEMENT_RATIO = 0.1
_WESTERN_CHAOS_MARGIN = 0.1

_BOMS: tuple[tuple[bytes, str], ...] = (
    # UTF-32 first: its LE BOM starts with the UTF-16 LE BOM.
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)

# Labels whose WHATWG Encoding Standard meaning is a superset of Python's codec of
# the same name; decoding with the superset keeps characters the label's strict
# reading would reject (e.g. 镕 is GBK/GB18030 but not GB2312).
_SUPERSETS = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "big5": "big5hkscs",
    "shift_jis": "cp932",
    "euc_kr": "cp949",
    "ascii": "sloppy-windows-1252",
    "iso8859-1": "sloppy-windows-1252",
    "cp1252": "sloppy-windows-1252",
}
# Codecs that exist in Python but must never be chosen from untrusted labels:
# UTF-7 is an XSS vector, the escape codecs interpret backslashes, and "undefined"
# always fails.
_REFUSED = frozenset({"utf-7", "unicode-escape", "raw-unicode-escape", "idna", "punycode", "undefined"})
# Single-byte Western code pages decode any byte string, so a wrong label never
# "fails"; servers defaulting to ISO-8859-1 is the classic mislabel.
_PERMISSIVE = frozenset({"sloppy-windows-1252"})
_MULTIBYTE = frozenset(
    {"utf-8", "gb18030", "big5hkscs", "cp932", "euc_jp", "cp949", "euc_kr", "big5", "shift_jis", "gbk"}
)

_CHARSET_PARAM = re.compile(rb"""charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.IGNORECASE)
_XML_PROLOG = re.compile(rb"""^\s*<\?xml\s[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
_META_TAG = re.compile(rb"<meta\s[^>]*>", re.IGNORECASE)


def _codec_for(label: str | bytes | None) -> str | None:
    """Python codec name for a charset label, or None if unknown or refused."""
    if not label:
        return None
    name = (label.decode("ascii", "ignore") if isinstance(label, bytes) else label).strip().lower()
    if name in _SUPERSETS:
        return _SUPERSETS[name]
    try:
        info = codecs.lookup(name)
    except LookupError:
        return None
    # Non-text codecs (zlib, base64, ...) would turn a label into a decompressor.
    if not getattr(info, "_is_text_encoding", True) or info.name in _REFUSED:
        return None
    return _SUPERSETS.get(info.name, info.name)


def _header_charset(content_type: str | None) -> str | None:
    if not content_type:
        return None
    match = _CHARSET_PARAM.search(content_type.encode("latin-1", "replace"))
    return _codec_for(match.group(1)) if match else None


def _document_charset(head: bytes, kind: TextKind) -> tuple[str, DecisionSource] | None:
    if kind in ("xml", "html"):
        prolog = _XML_PROLOG.match(head)
        if prolog:
            codec = _in_document(prolog.group(1))
            if codec:
                return codec, "prolog"
    if kind == "html":
        for tag in _META_TAG.finditer(head):
            match = _CHARSET_PARAM.search(tag.group(0))
            codec = _in_document(match.group(1)) if match else None
            if codec:
                return codec, "meta"
    return None


def _in_document(label: bytes) -> str | None:
    codec = _codec_for(label)
    # A declaration we could read as ASCII proves the body is not UTF-16/32 (the
    # HTML standard makes the same substitution for <meta charset=utf-16>).
    if codec and codec.replace("_", "-").startswith(("utf-16", "utf-32")):
        return "utf-8"
    return codec


def _strict(body: bytes, codec: str) -> str | None:
    try:
        return body.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def _detect(body: bytes) -> tuple[str, str] | None:
    """Strict UTF-8 first (cheap, and right for most of the web), then statistics."""
    text = _strict(body, "utf-8")
    if text is not None:
        return text, "utf-8"
    matches = list(charset_normalizer.from_bytes(body))
    if not matches:
        return None
    best = matches[0]
    candidates = [best.encoding]
    if _codec_for(best.encoding) not in _MULTIBYTE and any(
        "cp1252" in m.could_be_from_charset and m.chaos <= best.chaos + _WESTERN_CHAOS_MARGIN for m in matches
    ):
        # On short Western text charset-normalizer's statistics cannot separate
        # cp1252 from cp1250/cp1257 (it reads "è" as "č"); when cp1252 fits about as
        # well, the web's default single-byte encoding is the better bet.
        candidates.insert(0, "cp1252")
    for candidate in candidates:
        codec = _codec_for(candidate)
        if codec is None:
            continue
        text = _strict(body, codec)
        if text is not None and "\ufffd" not in text:
            return text, codec
    return None


def _canonical(codec: str) -> str:
    return "windows-1252" if codec == "sloppy-windows-1252" else codecs.lookup(codec).name


_REPAIR = ftfy.TextFixerConfig(
    # Only undo encoding damage; leave entities, quotes, widths, ligatures, line
    # breaks, control characters and normalisation exactly as the source wrote them.
    unescape_html=False,
    remove_terminal_escapes=False,
    fix_latin_ligatures=False,
    fix_character_width=False,
    uncurl_quotes=False,
    fix_line_breaks=False,
    remove_control_chars=False,
    normalization=None,
    explain=False,
)


def _finish(text: str, codec: str, source: DecisionSource) -> DecodedText:
    if text.isascii():
        return DecodedText(text, _canonical(codec), source, repaired=False)
    fixed = ftfy.fix_text(text, _REPAIR)
    if "\ufffd" in fixed and "\ufffd" not in text:
        # ftfy marks unrecoverable mojibake with U+FFFD; a clean decoding is better.
        fixed = text
    return DecodedText(fixed, _canonical(codec), source, repaired=fixed != text)


def decode_text(
    body: bytes,
    *,
    content_type: str | None,
    kind: TextKind,
    url: str = "",
) -> DecodedText:
    """Decode `body` per the module docstring; `url` only labels a FetchError."""
    for bom, codec in _BOMS:
        if body.startswith(bom):
            text = _strict(body[len(bom) :], codec)
            if text is not None:
                return _finish(text, codec, "bom")
            break

    declared: list[tuple[str, DecisionSource]] = []
    header = _header_charset(content_type)
    if header:
        declared.append((header, "header"))
    in_document = _document_charset(body[:_SNIFF_BYTES], kind)
    if in_document:
        declared.append(in_document)

    detected: tuple[str, str] | None = None
    for codec, source in declared:
        text = _strict(body, codec)
        if text is None:
            continue
        if codec in _PERMISSIVE and not body.isascii():
            # A Western single-byte label "succeeds" on anything; believe it only
            # if detection does not find a multi-byte encoding that fits better.
            detected = detected or _detect(body)
            if detected is not None and detected[1] in _MULTIBYTE:
                return _finish(detected[0], detected[1], "detected")
        return _finish(text, codec, source)

    detected = detected or _detect(body)
    if detected is not None:
        return _finish(detected[0], detected[1], "detected")

    text = body.decode("utf-8", errors="replace")
    if text and text.count("\ufffd") / len(text) > _MAX_REPLACEMENT_RATIO:
        raise FetchError("bad-encoding", url, "body is not text in any recognisable encoding")
    return _finish(text, "utf-8", "default")
