"""RSS 0.9x/1.0/2.0 and Atom 1.0 feeds -> one `RawPost` per entry (+ the linked page).

Hardening, in order:
- The body is decoded by `decode_text` and re-encoded as UTF-8 with the prolog
  rewritten to say so, so no parser re-guesses the charset.
- The DOCTYPE is removed unread, internal subset and all (`connectors.xml_salvage`):
  no declaration reaches a parser, so XXE, external DTD fetches and billion-laughs /
  quadratic blow-ups have nothing to expand. Entries that *use* an entity the subset
  declares are dead-lettered ("not expanded"); the other entries are kept.
- Text no XML parser accepts but every feed reader does is repaired first: HTML named
  entities become character references, unknown entities, a bare `&` and a stray `<`
  become literal text, forbidden control characters and NUL are removed.
- lxml parses with entities unresolved, no network, no DTD loading, bounded depth.
- feedparser only ever gets a `BytesIO`: given `bytes` it first tries `open()` on
  them as a file name, and given `str` it may fetch it as a URL.

A document that is still not well-formed is salvaged entry by entry: each `<item>` /
`<entry>` span is parsed on its own; a span that fails is retried with the inner
markup of its broken children escaped, then with libxml2's recovery confined to that
span. A trailing entry cut off by truncation keeps its complete children when they
include a title and a link or id; the unfinished rest is dead-lettered. Entries whose
structure had to be guessed are emitted only with a native id or a link.

`arxiv` pages go through `safe_xml_root`, which stays strict: any DTD subset is refused.
"""

from __future__ import annotations

import io
import logging
import re
import time
from calendar import timegm
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import feedparser
import lxml.etree

from connectors.base import SourceRun
from connectors.cursors import fingerprint
from connectors.encoding import DecodedText, decode_text
from connectors.fetch import FetchError, FetchResult
from connectors.html import follow_link
from connectors.xml_salvage import (
    PreparedText,
    UnterminatedDoctype,
    complete_children,
    escape_broken_children,
    namespace_declarations,
    prepare_document,
    refused_entities_in,
    with_namespaces,
)
from infra.urlsafety import join_url
from schemas.dates import parse_aware
from schemas.keys import scoped_key
from schemas.raw import RawPost

__all__ = [
    "FeedDocument",
    "FeedEntry",
    "FeedParseError",
    "collect_feed",
    "content_key",
    "parse_feed",
    "safe_xml_root",
]

log = logging.getLogger(__name__)

_ATOM = "http://www.w3.org/2005/Atom"
_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_RSS1 = "http://purl.org/rss/1.0/"

_DTD_SUBSET = re.compile(r"<!DOCTYPE[^>\[]*\[", re.IGNORECASE)
_ENTITY_DECL = re.compile(r"<!ENTITY", re.IGNORECASE)
_DOCTYPE = re.compile(r"<!DOCTYPE[^>\[]*>", re.IGNORECASE)
_PROLOG_ENCODING = re.compile(r"""^(\s*<\?xml[^>]*?encoding\s*=\s*)(["'])[^"']*\2""")
_ENTRY_MARK = re.compile(
    r"<((?:[A-Za-z_][\w.-]*:)?(?:item|entry))\b[^<>]*>|</((?:[A-Za-z_][\w.-]*:)?(?:item|entry))\s*>"
)
_ENTRY_START = re.compile(r"<(?:[A-Za-z_][\w.-]*:)?(?:item|entry)\b")
_ROOT_START = re.compile(r"<((?:[A-Za-z_][\w.-]*:)?(?:rss|RDF|feed|rdf))\b[^>]*>", re.DOTALL)
_TOP_ENTRIES = (
    "//*[local-name()='item' or local-name()='entry'][not(ancestor::*[local-name()='item' or local-name()='entry'])]"
)


class FeedParseError(ValueError):
    """The whole document is unusable; the message is a one-line DLQ reason."""


@dataclass(frozen=True)
class FeedEntry:
    native_id: str | None
    fields: dict[str, Any]  # feedparser's view of the entry
    fragment: str  # the entry's own XML, as text
    raw_link: str | None = None  # the link exactly as written (feedparser normalises it)
    # Its structure was guessed (broken markup, truncation): a key made from its content
    # would be a guess too, so it is emitted only with a native id or a link.
    recovered: bool = False


@dataclass(frozen=True)
class FeedDocument:
    entries: list[FeedEntry]
    language: str | None
    rejects: list[tuple[str, str]]  # (reason, original fragment) of unusable parts
    salvaged: bool  # the document was not well-formed, even after the text repairs
    decoded: DecodedText
    repairs: tuple[str, ...] = ()  # text repairs made before parsing, for the run's notes


def _safe_parser(*, recover: bool = False) -> lxml.etree.XMLParser:
    return lxml.etree.XMLParser(
        recover=recover,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_pis=True,
    )


def _as_utf8_document(text: str) -> str:
    text = text.lstrip("\ufeff")
    return _PROLOG_ENCODING.sub(r'\1"utf-8"', text, count=1)


def _native_id(element: lxml.etree._Element) -> str | None:
    about = element.get(f"{{{_RDF}}}about")
    if about and about.strip():
        return about.strip()
    for child in element:
        if not isinstance(child.tag, str):
            continue
        local = lxml.etree.QName(child).localname
        if local in ("guid", "id") and child.text and child.text.strip():
            return child.text.strip()
    return None


def _raw_link(element: lxml.etree._Element) -> str | None:
    fallback = None
    for child in element:
        if not isinstance(child.tag, str) or lxml.etree.QName(child).localname != "link":
            continue
        href = child.get("href")
        if href is None:
            if child.text and child.text.strip():
                return child.text.strip()
            continue
        if child.get("rel", "alternate") == "alternate":
            return href.strip()
        fallback = fallback or href.strip()
    return fallback


def _wrapper(root_start: str, root_name: str) -> tuple[str, str]:
    """Start and end text around a lone entry so feedparser sees the right format."""
    local = root_name.split(":")[-1]
    if local == "rss":
        return f"{root_start}<channel>", f"</channel></{root_name}>"
    return root_start, f"</{root_name}>"


def _feedparser_entries(document: bytes) -> tuple[list[Any], str | None]:
    parsed = feedparser.parse(io.BytesIO(document), sanitize_html=False, resolve_relative_uris=False)
    feed_language = parsed.feed.get("language") if parsed.get("feed") else None
    return list(parsed.entries), feed_language


def _decoded(body: bytes, content_type: str | None, url: str) -> tuple[str, DecodedText]:
    if not body.strip():
        raise FeedParseError("empty body: the document has no content")
    try:
        decoded = decode_text(body, content_type=content_type, kind="xml", url=url)
    except FetchError as exc:
        raise FeedParseError(f"encoding: {exc.detail}") from None
    return _as_utf8_document(decoded.text), decoded


def _guarded_text(body: bytes, content_type: str | None, url: str) -> tuple[str, DecodedText]:
    """Decode, refuse DTD subsets and entity declarations, drop a plain DOCTYPE."""
    text, decoded = _decoded(body, content_type, url)
    if _DTD_SUBSET.search(text[: 64 * 1024]) or _ENTITY_DECL.search(text):
        raise FeedParseError("xml: DTD internal subset / entity declarations refused (XXE and entity-expansion guard)")
    return _DOCTYPE.sub("", text, count=1), decoded


def safe_xml_root(body: bytes, *, content_type: str | None, url: str = "") -> tuple[lxml.etree._Element, DecodedText]:
    """Parse a whole XML document strictly and safely; raises FeedParseError."""
    text, decoded = _guarded_text(body, content_type, url)
    try:
        root = lxml.etree.fromstring(text.encode("utf-8"), _safe_parser())
    except lxml.etree.XMLSyntaxError as exc:
        raise FeedParseError(f"xml: not well-formed ({exc})") from None
    if root is None or not isinstance(root.tag, str):
        raise FeedParseError("xml: document has no root element")
    return root, decoded


def parse_feed(body: bytes, *, content_type: str | None, url: str = "") -> FeedDocument:
    """Split a feed body into entries; raises FeedParseError when nothing is usable."""
    text, decoded = _decoded(body, content_type, url)
    try:
        prepared = prepare_document(text)
    except UnterminatedDoctype as exc:
        raise FeedParseError(f"xml: not a feed ({exc})") from None
    data = prepared.text.encode("utf-8")

    try:
        root = lxml.etree.fromstring(data, _safe_parser())
    except lxml.etree.XMLSyntaxError as exc:
        document = _salvage(prepared, f"{exc}", decoded)
    else:
        document = _well_formed(root, prepared, decoded)
    return _refuse_dtd_entities(document, prepared)


def _well_formed(root: lxml.etree._Element | None, prepared: PreparedText, decoded: DecodedText) -> FeedDocument:
    if root is None or not isinstance(root.tag, str):
        raise FeedParseError("xml: document has no root element")
    root_local = lxml.etree.QName(root).localname
    if root_local not in ("rss", "RDF", "feed", "rdf"):
        raise FeedParseError(f"xml: not a feed (root element <{root_local[:40]}>)")
    text = prepared.text
    elements = root.xpath(_TOP_ENTRIES)
    fp_entries, language = _feedparser_entries(text.encode("utf-8"))
    rejects: list[tuple[str, str]] = []
    entries: list[FeedEntry] = []
    if len(fp_entries) == len(elements):
        for element, fields in zip(elements, fp_entries, strict=True):
            fragment = lxml.etree.tostring(element, encoding="unicode")
            entries.append(FeedEntry(_native_id(element), dict(fields), fragment, _raw_link(element)))
    else:
        # feedparser and lxml disagree on the entry count: parse entries one by one
        # so each envelope's fields come from its own fragment.
        context = _FragmentContext.of(text)
        for element in elements:
            fragment = lxml.etree.tostring(element, encoding="unicode")
            entry = context.read(fragment)
            if isinstance(entry, str):
                rejects.append((entry, fragment))
            else:
                entries.append(entry)
    return FeedDocument(entries, language, rejects, salvaged=False, decoded=decoded, repairs=prepared.describe())


def _refuse_dtd_entities(document: FeedDocument, prepared: PreparedText) -> FeedDocument:
    """Dead-letter the entries that use an entity the feed's DTD declares: it is never expanded."""
    if not prepared.refused:
        return document
    kept: list[FeedEntry] = []
    rejects = list(document.rejects)
    for entry in document.entries:
        names = refused_entities_in(entry.fragment, prepared.refused)
        if names:
            listed = ", ".join(f"&{name};" for name in names[:5])
            rejects.append(
                (
                    f"xml: DTD entity {listed} not expanded (XXE and entity-expansion guard); the entry uses it",
                    entry.fragment,
                )
            )
        else:
            kept.append(entry)
    return FeedDocument(kept, document.language, rejects, document.salvaged, document.decoded, document.repairs)


@dataclass(frozen=True)
class _FragmentContext:
    """How to parse one entry apart from its document: the root to wrap it in, the namespaces."""

    start_tag: str
    root_name: str
    namespaces: dict[str, str]

    @classmethod
    def of(cls, text: str) -> _FragmentContext:
        root_start = _ROOT_START.search(text)
        start_tag = root_start.group(0) if root_start else "<rss>"
        root_name = root_start.group(1) if root_start else "rss"
        return cls(start_tag, root_name, namespace_declarations(text))

    def wrap(self, fragment: str) -> bytes:
        before, after = _wrapper(with_namespaces(self.start_tag, fragment, self.namespaces), self.root_name)
        return f"{before}{fragment}{after}".encode()

    def parses(self, fragment: str) -> bool:
        try:
            lxml.etree.fromstring(self.wrap(fragment), _safe_parser())
        except lxml.etree.XMLSyntaxError:
            return False
        return True

    def read(self, fragment: str, *, recovered: bool = False) -> FeedEntry | str:
        """One entry from its own XML, strictly; a reason string when it cannot be read."""
        wrapped = self.wrap(fragment)
        try:
            root = lxml.etree.fromstring(wrapped, _safe_parser())
        except lxml.etree.XMLSyntaxError as exc:
            return f"xml: entry is not well-formed ({exc})"
        elements = root.xpath(_TOP_ENTRIES)
        fp_entries, _language = _feedparser_entries(wrapped)
        if len(elements) != 1 or len(fp_entries) != 1:
            return "xml: entry could not be read as a feed entry"
        element = elements[0]
        return FeedEntry(_native_id(element), dict(fp_entries[0]), fragment, _raw_link(element), recovered)

    def salvage(self, fragment: str) -> FeedEntry | str:
        """Strictly; else with broken children escaped; else with recovery confined to this entry."""
        entry = self.read(fragment)
        if not isinstance(entry, str):
            return entry
        escaped = escape_broken_children(fragment, self.parses)
        if escaped != fragment:
            second = self.read(escaped, recovered=True)
            if not isinstance(second, str):
                return second
        # libxml2's recovery, on this span only: a wrong or missing end tag cannot pull
        # the neighbouring entries into this one.
        try:
            root = lxml.etree.fromstring(self.wrap(escaped), _safe_parser(recover=True))
        except lxml.etree.XMLSyntaxError:
            return entry
        elements = root.xpath(_TOP_ENTRIES) if root is not None else []
        if len(elements) == 1:
            repaired = lxml.etree.tostring(elements[0], encoding="unicode")
            third = self.read(repaired, recovered=True)
            if not isinstance(third, str):
                return FeedEntry(third.native_id, third.fields, fragment, third.raw_link, recovered=True)
        return entry


def _salvage(prepared: PreparedText, error: str, decoded: DecodedText) -> FeedDocument:
    text = prepared.text
    root_start = _ROOT_START.search(text)
    if root_start is None:
        raise FeedParseError(f"xml: not well-formed and not a feed ({error})")
    context = _FragmentContext.of(text)
    entries: list[FeedEntry] = []
    rejects: list[tuple[str, str]] = []
    position = root_start.end()
    for span_start, span_end in _entry_spans(text, position):
        span = text[span_start:span_end]
        entry = context.salvage(span)
        if isinstance(entry, str):
            rejects.append((entry, span))
        else:
            entries.append(entry)
        position = span_end
    tail = text[position:]
    cut = _ENTRY_START.search(tail)
    if cut is not None:
        entry, reject = _truncated_entry(context, tail[cut.start() :])
        if entry is not None:
            entries.append(entry)
        rejects.append(reject)
    if not entries and not rejects:
        raise FeedParseError(f"xml: not well-formed and no entries could be salvaged ({error})")
    language_match = re.search(r"<language>\s*([^<\s]{1,35})\s*</language>", text[: root_start.end() + 4096])
    language = language_match.group(1) if language_match else None
    return FeedDocument(entries, language, rejects, salvaged=True, decoded=decoded, repairs=prepared.describe())


def _entry_spans(text: str, position: int) -> Iterator[tuple[int, int]]:
    """(start, end) of each `<item>`/`<entry>` span: from a start tag to the next end tag of its name.

    The same spans as a lazy `<item>.*?</item>` regex, in one pass: the regex rescans
    the rest of the text from every unclosed start tag, minutes on `<item>` x 200,000.
    """
    start = -1
    name = ""
    for mark in _ENTRY_MARK.finditer(text, position):
        if mark.group(1) is not None:
            if start < 0:
                start, name = mark.start(), mark.group(1)
        elif start >= 0 and mark.group(2) == name:
            yield start, mark.end()
            start = -1


def _truncated_entry(context: _FragmentContext, tail: str) -> tuple[FeedEntry | None, tuple[str, str]]:
    """The last entry, cut off: keep its complete children if they identify it; the rest is a reject."""
    whole_reject = ("xml: feed truncated inside an entry (document ends before it closes)", tail)
    split = complete_children(tail)
    if split is None:
        return None, whole_reject
    complete, unfinished = split
    entry = context.salvage(complete)
    if isinstance(entry, str):
        return None, whole_reject
    title = entry.fields.get("title")
    if not (isinstance(title, str) and title.strip()) or not (entry.raw_link or entry.native_id):
        return None, whole_reject
    kept = FeedEntry(entry.native_id, entry.fields, entry.fragment, entry.raw_link, recovered=True)
    reason = "xml: feed truncated inside an entry: its complete fields were kept, this unfinished part was not"
    return kept, (reason, unfinished)


# --------------------------------------------------------------------------- envelopes


def _date_from(fields: dict[str, Any], name: str) -> tuple[str | None, datetime | None]:
    raw = fields.get(name)
    raw = raw if isinstance(raw, str) and raw.strip() else None
    when = parse_aware(raw)
    parsed_struct = fields.get(f"{name}_parsed")
    if when is None and isinstance(parsed_struct, time.struct_time):
        # feedparser normalised an odd format to UTC; the offset is lost but the instant is right.
        when = datetime.fromtimestamp(timegm(parsed_struct), UTC)
    return raw, when


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def content_key(source_name: str, *parts: str | None) -> str:
    """A key for an entry with no id and no link, the same on every fetch of the same entry.

    The source is part of it, so two feeds carrying the same text stay two items; an
    edit to the text makes a new item, since nothing else says it is the same entry.
    """
    return f"urn:radar:entry:{source_name}:{fingerprint(source_name, *parts)}"


def collect_feed(run: SourceRun) -> None:
    """A `feed` source: conditional fetch, split into entries, follow summary-only links."""
    result = run.fetch_source_if_changed()
    if result is None:
        return
    produce_entries(run, result)
    run.remember_validators(result)


def produce_entries(run: SourceRun, result: FetchResult) -> None:
    content_type = result.headers.get("content-type")
    try:
        document = parse_feed(result.body, content_type=content_type, url=result.final_url)
    except FeedParseError as exc:
        run.errors += 1
        stage = "decode" if str(exc).startswith("encoding") else "parse"
        run.dead_letter(stage, str(exc), original=result.body, url=result.final_url, error=exc)
        return
    provenance = run.provenance(result, document.decoded)
    if document.repairs:
        run.notes.append("feed repaired before parsing: " + "; ".join(document.repairs))
    if document.salvaged:
        run.notes.append(
            f"feed not well-formed: salvaged {len(document.entries)} entr(y/ies), "
            f"dead-lettered {len(document.rejects)} part(s)"
        )
    if document.rejects and not document.entries:
        # Nothing of the feed could be used: a failed run (as an unparsable one is), not a success
        # that produced 0, or `radar status` and the ingest flow call a broken feed healthy.
        run.errors += 1
    for reason, fragment in document.rejects:
        run.dead_letter("parse", reason, original=fragment.encode("utf-8"), url=result.final_url)
    for entry in document.entries:
        _produce_entry(run, entry, document.language, provenance, result.final_url)


def _produce_entry(run: SourceRun, entry: FeedEntry, feed_language: str | None, provenance: Any, base: str) -> None:
    fields = entry.fields
    link = entry.raw_link or _text(fields.get("link"))
    try:
        url = join_url(base, link) if link else None
    except FetchError:
        url = None  # a malformed link: the entry still lands, keyed by its id, with no link to follow
    key = entry.native_id or _text(fields.get("id")) or url
    if key is not None:
        # A guid need only be unique within its feed: "1" in two feeds is two items (issue 10).
        key = scoped_key(run.source.name, key)
    title = _text(fields.get("title"))
    summary = _text(fields.get("summary"))
    contents = fields.get("content") or []
    content_html = _text(contents[0].get("value")) if contents and isinstance(contents[0], dict) else None
    if summary is not None and summary == content_html:
        # feedparser copies content into summary when there is no description.
        summary = None
    if title is None and summary is None and content_html is None:
        run.dead_letter(
            "parse", "missing field: entry has no title, summary or content", original=entry.fragment.encode(), url=base
        )
        return
    published, published_at = _date_from(fields, "published")
    updated, updated_at = _date_from(fields, "updated")
    if key is None:
        if entry.recovered:
            run.dead_letter(
                "parse",
                "missing field: entry has no id/guid and no link, and its markup had to be guessed",
                original=entry.fragment.encode(),
                url=base,
            )
            return
        # RSS 2.0 needs only a title or a description: such an item is named by what it says.
        key = content_key(run.source.name, title, summary, content_html, published or updated)
    authors = tuple(
        name for name in (_text(a.get("name")) for a in fields.get("authors") or [] if isinstance(a, dict)) if name
    )
    if not authors and _text(fields.get("author")):
        authors = (fields["author"],)
    categories = tuple(
        term for term in (_text(t.get("term")) for t in fields.get("tags") or [] if isinstance(t, dict)) if term
    )
    detail = fields.get("summary_detail") or fields.get("title_detail") or {}
    lang = _text(detail.get("language") if isinstance(detail, dict) else None) or feed_language
    content = fingerprint(title, url, summary, content_html, published, updated, authors, categories)
    if not run.is_new(key, content):
        return
    unsafe: list[str] = []
    source = run.ref
    guests = {g.casefold() for g in run.source.guest_categories}
    if guests and any(c.casefold() in guests for c in categories):
        # Somebody else's article on this source (its `guest_categories`): a voice of the community,
        # not the source organisation's own.
        source = source.model_copy(update={"tier": "community"})
    if url and content_html is None and run.fetch_settings.follow_links:
        # Only a summary: the article text is on the linked page.
        follow_link(run, link or url, base_url=base, linked_from=key, post_unsafe=unsafe, source=source)
    post = RawPost(
        key=key,
        source=source,
        fetch=provenance,
        native_id=entry.native_id or _text(fields.get("id")),
        url=url,
        title=title,
        summary_html=summary,
        content_html=content_html,
        authors=authors,
        categories=categories,
        lang=lang,
        published=published,
        updated=updated,
        published_at=published_at,
        updated_at=updated_at,
        unsafe_links=tuple(unsafe),
        body=entry.fragment,
    )
    run.emit(post, content)
