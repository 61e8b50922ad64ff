"""Text-level repairs that let a strict XML parser read what a lenient feed reader keeps.

Feeds in the wild are often not XML: HTML named entities with no DTD (`&nbsp;`), a bare
`&` in a title, a stray `<`, control characters and NUL bytes, a DTD internal subset
nobody needs. Each of these makes libxml2 reject the whole document. The repairs here
are lossless for the reader: every one turns text that cannot be XML into the
character data a lenient reader would show, and none changes a document that is
already well-formed (CDATA sections, comments and processing instructions are left as
they are, apart from characters XML forbids everywhere).

Entity policy, the one part with a security edge:
- The DOCTYPE is removed before parsing, internal subset and all, so no declaration
  ever reaches a parser: nothing is expanded, nothing is fetched, nothing is read.
- `&lt; &gt; &amp; &quot; &apos;` stay; an HTML5 named entity becomes numeric
  character references for its characters (`&nbsp;` -> `&#160;`), so the parser
  sees a fixed, bounded replacement and never a declaration.
- A reference to an entity the feed's own DTD declares (or may declare, when the
  subset pulls in parameter entities or an external DTD) is *refused*: it is kept as
  literal text and recorded, and the feed connector dead-letters the entries that use
  it. Billion laughs, quadratic blow-up and XXE are declarations of this kind.
- Any other unknown reference is kept as literal text (`&foo;`).

The second half serves the entry-by-entry salvage of documents that stay broken after
these repairs: namespace declarations for fragments parsed apart from their feed,
escaping a child element whose inner markup is broken, and cutting a truncated entry
back to its complete children.
"""

from __future__ import annotations

import html.entities
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = [
    "Doctype",
    "PreparedText",
    "UnterminatedDoctype",
    "complete_children",
    "escape_broken_children",
    "namespace_declarations",
    "prepare_document",
    "refused_entities_in",
    "with_namespaces",
]

_PREDEFINED = frozenset({"lt", "gt", "amp", "quot", "apos"})
_PROLOG_ITEM = re.compile(r"\s*(?:<\?.*?\?>|<!--.*?-->)", re.DOTALL)
_DOCTYPE_OPEN = re.compile(r"\s*<!DOCTYPE\b", re.IGNORECASE)
# Inside a DOCTYPE only quotes, comments, the subset brackets and the closing `>` matter.
# An unterminated quote or comment runs to the end: one linear scan, never one per start.
_DOCTYPE_TOKEN = re.compile(r"\"[^\"]*(?:\"|\Z)|'[^']*(?:'|\Z)|<!--.*?(?:-->|\Z)|[\[\]>]", re.DOTALL)
_ENTITY_DECLARATION = re.compile(r"<!ENTITY\s+(%\s*)?([^\s\"'%>]+)")
_PARAMETER_REFERENCE = re.compile(r"%[^\W\d][\w.:-]*;")
_EXTERNAL_ID = re.compile(r"\b(?:SYSTEM|PUBLIC)\b")

_INVALID_CHARS = "\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff"
_INVALID = re.compile(f"[{_INVALID_CHARS}]")
_TOKEN = re.compile(
    # Left alone but for forbidden characters. Unterminated, each runs to the end of the
    # text (as it would for a parser): a scan per start would be quadratic on `<!--<!--...`.
    r"<!\[CDATA\[.*?(?:\]\]>|\Z)|<!--.*?(?:-->|\Z)|<\?.*?(?:\?>|\Z)"
    r"|&(#[0-9]{1,10};|#[xX][0-9a-fA-F]{1,8};|[^\W\d][\w.:-]*;)?"  # references, or a bare `&`
    r"|<(?![^\W\d]|[_:/!?])"  # a `<` that cannot start markup
    f"|[{_INVALID_CHARS}]+",
    re.DOTALL,
)
_LITERAL_REFERENCE = re.compile(r"&amp;([^\W\d][\w.:-]*);")

_XMLNS = re.compile(r"""\sxmlns:([^\W\d][\w.-]*)\s*=\s*(?:"([^"<>]*)"|'([^'<>]*)')""")
_PREFIX_USE = re.compile(r"""(?:</?|\s)([^\W\d][\w.-]*):[^\W\d][\w.-]*(?=[\s/>=])""")
_START_TAG = re.compile(r"<((?:[^\W\d][\w.-]*:)?[^\W\d][\w.-]*)(\s[^<>]*?)?(/?)>")
_MAX_CHILDREN_TRIED = 100
_MAX_ESCAPE_ENTRY = 1024 * 1024
_TAG = re.compile(
    r"<!\[CDATA\[.*?(?:\]\]>|\Z)|<!--.*?(?:-->|\Z)|<\?.*?(?:\?>|\Z)|<(/?)([^\s/<>!?]+)[^<>]*?(/?)>", re.DOTALL
)


class UnterminatedDoctype(ValueError):
    """The DOCTYPE never ends: the document has no body to read."""


@dataclass(frozen=True)
class Doctype:
    """What the removed DOCTYPE declared; `declared` is only names, never values."""

    present: bool = False
    has_subset: bool = False
    declared: frozenset[str] = frozenset()
    open_ended: bool = False  # the subset can declare names we cannot see (parameter entities, external DTD)

    def refuses(self, name: str) -> bool:
        return self.has_subset and (name in self.declared or self.open_ended)


@dataclass(frozen=True)
class PreparedText:
    text: str
    doctype: Doctype
    counts: Counter[str] = field(default_factory=Counter)  # repair kind -> occurrences
    refused: frozenset[str] = frozenset()  # entity names the DTD declares that the text references

    def describe(self) -> tuple[str, ...]:
        """One phrase per kind of repair, for the run's notes."""
        phrases = {
            "html_entity": "HTML named entities mapped to characters",
            "unknown_entity": "undeclared entities kept as literal text",
            "refused_entity": "DTD-declared entity references not expanded",
            "bare_ampersand": "bare '&' escaped",
            "stray_lt": "stray '<' escaped",
            "invalid_char": "control characters / NUL removed",
            "invalid_char_ref": "invalid character references removed",
        }
        out = [f"{self.counts[kind]} {phrase}" for kind, phrase in phrases.items() if self.counts[kind]]
        if self.doctype.has_subset:
            out.insert(0, "DTD internal subset dropped unread")
        return tuple(out)


def _split_doctype(text: str) -> tuple[str, Doctype]:
    position = 0
    while (item := _PROLOG_ITEM.match(text, position)) is not None and item.end() > position:
        position = item.end()
    opening = _DOCTYPE_OPEN.match(text, position)
    if opening is None:
        return text, Doctype()
    subset_start = subset_end = -1
    end = -1
    for token in _DOCTYPE_TOKEN.finditer(text, opening.end()):
        mark = token.group(0)
        if mark == "[" and subset_start < 0:
            subset_start = token.end()
        elif mark == "]" and subset_start >= 0 and subset_end < 0:
            subset_end = token.start()
        elif mark == ">" and (subset_start < 0 or subset_end >= 0):
            end = token.end()
            break
    if end < 0:
        raise UnterminatedDoctype("the DOCTYPE declaration never ends")
    header = text[opening.end() : subset_start if subset_start >= 0 else end]
    subset = text[subset_start:subset_end] if subset_start >= 0 else ""
    general = {name for percent, name in _ENTITY_DECLARATION.findall(subset) if not percent}
    open_ended = bool(_EXTERNAL_ID.search(header) or _PARAMETER_REFERENCE.search(subset))
    doctype = Doctype(True, subset_start >= 0, frozenset(general), open_ended)
    return text[:position] + text[end:], doctype


def _valid_code_point(value: int) -> bool:
    return (
        value in (0x9, 0xA, 0xD) or 0x20 <= value <= 0xD7FF or 0xE000 <= value <= 0xFFFD or 0x10000 <= value <= 0x10FFFF
    )


def prepare_document(text: str) -> PreparedText:
    """Drop the DOCTYPE and repair entities, `&`, `<` and forbidden characters; raises UnterminatedDoctype."""
    body, doctype = _split_doctype(text)
    counts: Counter[str] = Counter()
    refused: set[str] = set()

    def repair(match: re.Match[str]) -> str:
        token = match.group(0)
        first = token[0]
        if first == "<" and len(token) > 1:  # CDATA, comment or PI
            cleaned, removed = _INVALID.subn("", token)
            counts["invalid_char"] += removed
            return cleaned
        if first == "<":
            counts["stray_lt"] += 1
            return "&lt;"
        if first != "&":
            counts["invalid_char"] += len(token)
            return ""
        reference = match.group(1)
        if reference is None:
            counts["bare_ampersand"] += 1
            return "&amp;"
        if reference[0] == "#":
            digits = reference[1:-1]
            value = int(digits[1:], 16) if digits[:1] in ("x", "X") else int(digits)
            if _valid_code_point(value):
                return token
            counts["invalid_char_ref"] += 1
            return ""
        name = reference[:-1]
        if name in _PREDEFINED:
            return token
        characters = html.entities.html5.get(reference)
        if characters is not None:
            # Numeric references, not the characters: `&LT;` must not become markup.
            counts["html_entity"] += 1
            return "".join(f"&#{ord(c)};" for c in characters)
        if doctype.refuses(name):
            counts["refused_entity"] += 1
            refused.add(name)
        else:
            counts["unknown_entity"] += 1
        return f"&amp;{reference}"

    repaired = _TOKEN.sub(repair, body)
    return PreparedText(repaired, doctype, counts, frozenset(refused))


def refused_entities_in(fragment: str, refused: frozenset[str]) -> list[str]:
    """The refused entity names an entry's serialised XML still carries as literal text."""
    if not refused:
        return []
    return sorted({name for name in _LITERAL_REFERENCE.findall(fragment) if name in refused})


# --------------------------------------------------------------------------- fragments


def namespace_declarations(text: str) -> dict[str, str]:
    """Every prefix the document declares anywhere, first declaration wins."""
    found: dict[str, str] = {}
    for prefix, double_quoted, single_quoted in _XMLNS.findall(text):
        found.setdefault(prefix, double_quoted or single_quoted)
    return found


def with_namespaces(start_tag: str, fragment: str, declared: dict[str, str]) -> str:
    """`start_tag` with declarations for the prefixes `fragment` uses and neither declares.

    An entry parsed apart from its feed loses the declarations on `<channel>` (or on
    nothing at all, in a careless feed); an undeclared prefix is fatal to libxml2.
    """
    present = set(_XMLNS_NAMES.findall(start_tag)) | set(_XMLNS_NAMES.findall(fragment))
    used = {prefix for prefix in _PREFIX_USE.findall(fragment) if prefix not in ("xml", "xmlns")}
    missing = sorted(used - present)
    if not missing:
        return start_tag
    extra = "".join(
        f' xmlns:{prefix}="{_attribute(declared.get(prefix, f"urn:radar:undeclared:{prefix}"))}"' for prefix in missing
    )
    closing = 2 if start_tag.endswith("/>") else 1
    return start_tag[:-closing] + extra + start_tag[-closing:]


_XMLNS_NAMES = re.compile(r"\sxmlns:([^\W\d][\w.-]*)\s*=")


def _attribute(value: str) -> str:
    return value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def escape_broken_children(entry: str, parses: Callable[[str], bool]) -> str:
    """The entry with the inner markup of each child that does not parse turned into text.

    `<title>Fish &amp; chips <b></title>` becomes `<title>Fish &amp; chips &lt;b&gt;</title>`:
    what a lenient reader shows, where libxml2's recovery would let the unclosed `<b>`
    swallow the rest of the entry. Looking for a child's end tag is a scan of the rest
    of the entry, so the number of children tried is capped (hostile input: thousands
    of unclosed tags).
    """
    opening = re.match(r"<[^<>]*>", entry)
    closing = entry.rfind("</")
    if opening is None or closing <= opening.end() or len(entry) > _MAX_ESCAPE_ENTRY:
        return entry
    inner = entry[opening.end() : closing]
    pieces: list[str] = []
    position = search = 0
    for _attempt in range(_MAX_CHILDREN_TRIED):
        start = _START_TAG.search(inner, search)
        if start is None:
            break
        search = start.end()
        if start.group(3):  # self-closing
            continue
        name = start.group(1)
        end = re.compile(rf"</{re.escape(name)}\s*>").search(inner, start.end())
        if end is None:
            continue  # its children are the next candidates
        search = end.end()
        content = inner[start.end() : end.start()]
        if "<" not in content or parses(inner[start.start() : end.end()]):
            continue
        escaped = content.replace("<", "&lt;").replace(">", "&gt;")
        pieces.append(inner[position : start.start()] + start.group(0) + escaped + f"</{name}>")
        position = end.end()
    if not pieces:
        return entry
    return entry[: opening.end()] + "".join(pieces) + inner[position:] + entry[closing:]


def complete_children(tail: str) -> tuple[str, str] | None:
    """Split an entry cut off by truncation into (its complete children, the unfinished rest).

    `tail` starts at the entry's start tag. The first part, closed with the entry's end
    tag, holds every child element that ended before the cut; None when none did.
    """
    depth = 0
    last_complete = -1
    entry_name = ""
    for tag in _TAG.finditer(tail):
        name = tag.group(2)
        if name is None:
            continue
        if tag.group(1):
            depth -= 1
            if depth == 1:
                last_complete = tag.end()
            elif depth < 1:
                return None  # the entry closes after all: not a truncation
        elif tag.group(3):
            if depth == 1:
                last_complete = tag.end()
        else:
            if depth == 0:
                entry_name = name
            depth += 1
    if last_complete < 0 or not entry_name:
        return None
    return tail[:last_complete] + f"</{entry_name}>", tail[last_complete:]
