"""RSS 0.9x/1.0/2.0 and Atom 1.0 feeds -> one `RawPost` per entry (+ the linked page).

Hardening, in order:
- The body is decoded by `decode_text` and re-encoded as UTF-8 with the prolog
  rewritten to say so, so no parser re-guesses the charset.
- Any DTD internal subset or `<!ENTITY` declaration is refused outright: it is how
  XXE, external DTD fetches and billion-laughs / quadratic blow-ups arrive, and real
  feeds do not need one. A plain `<!DOCTYPE rss ...>` without a subset is dropped.
- lxml parses with entities unresolved, no network, no DTD loading, bounded depth.
- feedparser only ever gets a `BytesIO`: given `bytes` it first tries `open()` on
  them as a file name, and given `str` it may fetch it as a URL.

A document that is not well-formed is salvaged entry by entry: each `<item>` /
`<entry>` span is parsed on its own; spans that do not parse, and a trailing entry
cut off by truncation, are dead-lettered with their own bytes.
"""

from __future__ import annotations

import io
import logging
import re
import time
from calendar import timegm
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import feedparser
import lxml.etree

from connectors.base import SourceRun, parse_date
from connectors.cursors import fingerprint
from connectors.encoding import DecodedText, decode_text
from connectors.fetch import FetchError, FetchResult
from connectors.urlsafety import join_url
from schemas.raw import RawPost

__all__ = ["FeedDocument", "FeedEntry", "FeedParseError", "collect_feed", "parse_feed", "safe_xml_root"]

log = logging.getLogger(__name__)

_ATOM = "http://www.w3.org/2005/Atom"
_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_RSS1 = "http://purl.org/rss/1.0/"

_DTD_SUBSET = re.compile(r"<!DOCTYPE[^>\[]*\[", re.IGNORECASE)
_ENTITY_DECL = re.compile(r"<!ENTITY", re.IGNORECASE)
_DOCTYPE = re.compile(r"<!DOCTYPE[^>\[]*>", re.IGNORECASE)
_PROLOG_ENCODING = re.compile(r"""^(\s*<\?xml[^>]*?encoding\s*=\s*)(["'])[^"']*\2""")
_ENTRY_SPAN = re.compile(r"<((?:[A-Za-z_][\w.-]*:)?(?:item|entry))\b[^>]*>.*?</\1\s*>", re.DOTALL)
_ENTRY_START = re.compile(r"<(?:[A-Za-z_][\w.-]*:)?(?:item|entry)\b")
_ROOT_START = re.compile(r"<((?:[A-Za-z_][\w.-]*:)?(?:rss|RDF|feed|rdf))\b[^>]*>", re.DOTALL)
_TOP_ENTRIES = (
    "//*[local-name()='item' or local-name()='entry']"
    "[not(ancestor::*[local-name()='item' or local-name()='entry'])]"
)


class FeedParseError(ValueError):
    """The whole document is unusable; the message is a one-line DLQ reason."""


@dataclass(frozen=True)
class FeedEntry:
    native_id: str | None
    fields: dict[str, Any]  # feedparser's view of the entry
    fragment: str  # the entry's own XML, as text
    raw_link: str | None = None  # the link exactly as written (feedparser normalises it)


@dataclass(frozen=True)
class FeedDocument:
    entries: list[FeedEntry]
    language: str | None
    rejects: list[tuple[str, str]]  # (reason, original fragment) of unusable parts
    salvaged: bool  # the document was not well-formed
    decoded: DecodedText


def _safe_parser() -> lxml.etree.XMLParser:
    return lxml.etree.XMLParser(
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


def _guarded_text(body: bytes, content_type: str | None, url: str) -> tuple[str, DecodedText]:
    """Decode, refuse DTD subsets and entity declarations, drop a plain DOCTYPE."""
    if not body.strip():
        raise FeedParseError("empty body: the document has no content")
    try:
        decoded = decode_text(body, content_type=content_type, kind="xml", url=url)
    except FetchError as exc:
        raise FeedParseError(f"encoding: {exc.detail}") from None
    text = _as_utf8_document(decoded.text)
    if _DTD_SUBSET.search(text[: 64 * 1024]) or _ENTITY_DECL.search(text):
        raise FeedParseError(
            "xml: DTD internal subset / entity declarations refused (XXE and entity-expansion guard)"
        )
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
    text, decoded = _guarded_text(body, content_type, url)
    data = text.encode("utf-8")

    try:
        root = lxml.etree.fromstring(data, _safe_parser())
    except lxml.etree.XMLSyntaxError as exc:
        return _salvage(text, f"{exc}", decoded)
    if root is None or not isinstance(root.tag, str):
        raise FeedParseError("xml: document has no root element")
    root_local = lxml.etree.QName(root).localname
    if root_local not in ("rss", "RDF", "feed", "rdf"):
        raise FeedParseError(f"xml: not a feed (root element <{root_local[:40]}>)")
    elements = root.xpath(_TOP_ENTRIES)
    fp_entries, language = _feedparser_entries(data)
    rejects: list[tuple[str, str]] = []
    entries: list[FeedEntry] = []
    if len(fp_entries) == len(elements):
        for element, fields in zip(elements, fp_entries, strict=True):
            fragment = lxml.etree.tostring(element, encoding="unicode")
            entries.append(FeedEntry(_native_id(element), dict(fields), fragment, _raw_link(element)))
    else:
        # feedparser and lxml disagree on the entry count: parse entries one by one
        # so each envelope's fields come from its own fragment.
        root_start = _ROOT_START.search(text)
        start_tag = root_start.group(0) if root_start else "<rss>"
        root_name = root_start.group(1) if root_start else "rss"
        for element in elements:
            fragment = lxml.etree.tostring(element, encoding="unicode")
            entry = _parse_fragment(fragment, start_tag, root_name)
            if isinstance(entry, str):
                rejects.append((entry, fragment))
            else:
                entries.append(entry)
    return FeedDocument(entries, language, rejects, salvaged=False, decoded=decoded)


def _parse_fragment(fragment: str, start_tag: str, root_name: str) -> FeedEntry | str:
    before, after = _wrapper(start_tag, root_name)
    wrapped = f"{before}{fragment}{after}".encode()
    try:
        root = lxml.etree.fromstring(wrapped, _safe_parser())
    except lxml.etree.XMLSyntaxError as exc:
        return f"xml: entry is not well-formed ({exc})"
    elements = root.xpath(_TOP_ENTRIES)
    fp_entries, _language = _feedparser_entries(wrapped)
    if len(elements) != 1 or len(fp_entries) != 1:
        return "xml: entry could not be read as a feed entry"
    return FeedEntry(_native_id(elements[0]), dict(fp_entries[0]), fragment, _raw_link(elements[0]))


def _salvage(text: str, error: str, decoded: DecodedText) -> FeedDocument:
    root_start = _ROOT_START.search(text)
    if root_start is None:
        raise FeedParseError(f"xml: not well-formed and not a feed ({error})")
    start_tag, root_name = root_start.group(0), root_start.group(1)
    entries: list[FeedEntry] = []
    rejects: list[tuple[str, str]] = []
    position = root_start.end()
    for span in _ENTRY_SPAN.finditer(text, position):
        entry = _parse_fragment(span.group(0), start_tag, root_name)
        if isinstance(entry, str):
            rejects.append((entry, span.group(0)))
        else:
            entries.append(entry)
        position = span.end()
    tail = text[position:]
    cut = _ENTRY_START.search(tail)
    if cut is not None:
        rejects.append(("xml: feed truncated inside an entry (document ends before it closes)", tail[cut.start() :]))
    if not entries and not rejects:
        raise FeedParseError(f"xml: not well-formed and no entries could be salvaged ({error})")
    language_match = re.search(r"<language>\s*([^<\s]{1,35})\s*</language>", text[: root_start.end() + 4096])
    language = language_match.group(1) if language_match else None
    return FeedDocument(entries, language, rejects, salvaged=True, decoded=decoded)


# --------------------------------------------------------------------------- envelopes


def _date_from(fields: dict[str, Any], name: str) -> tuple[str | None, datetime | None]:
    raw = fields.get(name)
    raw = raw if isinstance(raw, str) and raw.strip() else None
    when = parse_date(raw)
    parsed_struct = fields.get(f"{name}_parsed")
    if when is None and isinstance(parsed_struct, time.struct_time):
        # feedparser normalised an odd format to UTC; the offset is lost but the instant is right.
        when = datetime.fromtimestamp(timegm(parsed_struct), UTC)
    return raw, when


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


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
    if document.salvaged:
        run.notes.append(
            f"feed not well-formed: salvaged {len(document.entries)} entr(y/ies), "
            f"dead-lettered {len(document.rejects)} part(s)"
        )
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
    title = _text(fields.get("title"))
    summary = _text(fields.get("summary"))
    contents = fields.get("content") or []
    content_html = _text(contents[0].get("value")) if contents and isinstance(contents[0], dict) else None
    if summary is not None and summary == content_html:
        # feedparser copies content into summary when there is no description.
        summary = None
    if key is None:
        run.dead_letter(
            "parse", "missing field: entry has no id/guid and no link", original=entry.fragment.encode(), url=base
        )
        return
    if title is None and summary is None and content_html is None:
        run.dead_letter(
            "parse", "missing field: entry has no title, summary or content", original=entry.fragment.encode(), url=base
        )
        return
    published, published_at = _date_from(fields, "published")
    updated, updated_at = _date_from(fields, "updated")
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
    if url and content_html is None and run.fetch_settings.follow_links:
        # Only a summary: the article text is on the linked page.
        run.follow_link(link or url, base_url=base, linked_from=key, post_unsafe=unsafe)
    post = RawPost(
        key=key,
        source=run.ref,
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
