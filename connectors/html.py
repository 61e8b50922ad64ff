"""Article pages -> `RawPage`: final URL, canonical/og:url, published time, title, language hints.

Parsing is lxml.html with no network access; HTML has no external entities, and the
parser only ever sees bytes we re-encoded as UTF-8 after `decode_text`, so a page's
own charset claims cannot make lxml decode it differently from what we stored.
A `<meta http-equiv=refresh>` target is an untrusted link: checked like any other,
followed at most one hop, and refused (recorded, never requested) when unsafe.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import lxml.etree
import lxml.html

from connectors.base import SourceRun, describe_fetch_error
from connectors.cursors import fingerprint
from connectors.encoding import decode_text
from connectors.fetch import FetchError, FetchResult
from infra.urlsafety import check_url_syntax, join_url
from schemas.common import SourceRef
from schemas.raw import RawPage

__all__ = ["LinkOutcome", "ParsedPage", "collect_html", "follow_link", "page_from_fetch", "parse_page"]

log = logging.getLogger(__name__)

_REFRESH_URL = re.compile(r"""^\s*\d*(?:\.\d*)?\s*[;,]?\s*(?:url\s*=\s*)?['"]?([^'"]*)['"]?\s*$""", re.IGNORECASE)


@dataclass(frozen=True)
class ParsedPage:
    """What ingest acts on: the page's key (canonical URL, og:url), where a refresh sends it, and the
    language hints of the response. What the page says (title, dates, author) is read by
    transforms/normalize.py alone ("raw in, meaning later"), so it is parsed in one place."""

    canonical_url: str | None
    og_url: str | None
    lang_hints: tuple[str, ...]
    refresh_target: str | None


def _parser() -> lxml.html.HTMLParser:
    # A fresh parser per page: lxml parsers are not thread-safe, and these options
    # keep it from touching the network or building unbounded trees.
    return lxml.html.HTMLParser(encoding="utf-8", no_network=True, remove_comments=False, huge_tree=False)


def _http_url(value: str | None, base: str) -> str | None:
    """An absolute http(s) URL from an attribute, or None (javascript:, data:, junk)."""
    if not value or not value.strip():
        return None
    try:
        return check_url_syntax(join_url(base, value.strip())).url
    except FetchError:
        return None


def parse_page(html_text: str, *, url: str, content_language: str | None = None) -> ParsedPage:
    """Read the head metadata of a decoded page; never raises on junk markup."""
    try:
        root = lxml.html.document_fromstring(html_text.encode("utf-8"), parser=_parser())
    except (lxml.etree.ParserError, lxml.etree.XMLSyntaxError, ValueError):
        return ParsedPage(None, None, (), None)

    canonical = og_url = refresh = None
    langs: list[str] = []
    html_lang = root.get("lang") or root.get("{http://www.w3.org/XML/1998/namespace}lang")
    if html_lang:
        langs.append(html_lang.strip())
    for link in root.iter("link"):
        rels = (link.get("rel") or "").lower().split()
        if "canonical" in rels and canonical is None:
            canonical = _http_url(link.get("href"), url)
    for meta in root.iter("meta"):
        prop = (meta.get("property") or meta.get("name") or "").strip().lower()
        equiv = (meta.get("http-equiv") or "").strip().lower()
        content = meta.get("content")
        if content is None:
            continue
        if prop == "og:url" and og_url is None:
            og_url = _http_url(content, url)
        elif prop == "og:locale" or equiv == "content-language":
            langs.append(content.strip())
        elif equiv == "refresh" and refresh is None:
            match = _REFRESH_URL.match(content)
            if match and match.group(1).strip():
                # A malformed target is kept as written: following it is refused as unsafe.
                try:
                    refresh = join_url(url, match.group(1).strip())
                except FetchError:
                    refresh = match.group(1).strip()
    if content_language:
        langs.append(content_language.strip())
    hints = tuple(dict.fromkeys(h for h in langs if h and len(h) <= 35))
    return ParsedPage(canonical, og_url, hints, refresh)


def page_from_fetch(
    run: SourceRun,
    result: FetchResult,
    *,
    linked_from: str | None,
    post_unsafe: list[str],
    follow_refresh: bool = True,
    source: SourceRef | None = None,
) -> RawPage | None:
    """Turn a fetched page into a RawPage (emitted unless unchanged); None when unusable."""
    url = result.final_url
    if not result.body.strip():
        run.dead_letter("parse", "empty body: page has no content", url=url)
        return None
    try:
        decoded = decode_text(result.body, content_type=result.headers.get("content-type"), kind="html", url=url)
    except FetchError as exc:
        run.dead_letter("decode", f"encoding: {exc.detail}", original=result.body, url=url, error=exc)
        return None
    parsed = parse_page(decoded.text, url=url, content_language=result.headers.get("content-language"))
    key = parsed.canonical_url or parsed.og_url or url
    page = RawPage(
        key=key,
        source=source or run.ref,
        fetch=run.provenance(result, decoded),
        linked_from=linked_from,
        canonical_url=parsed.canonical_url,
        og_url=parsed.og_url,
        lang_hints=parsed.lang_hints,
        html=decoded.text,
    )
    content = fingerprint(decoded.text)
    if run.is_new(key, content, page=True):
        run.emit(page, content)
    if follow_refresh and parsed.refresh_target and parsed.refresh_target != url:
        # One hop only: a page reached through a refresh does not follow another.
        follow_link(
            run, parsed.refresh_target, base_url=url, linked_from=key, post_unsafe=post_unsafe, follow_refresh=False
        )
    return page


@dataclass(frozen=True)
class LinkOutcome:
    """What following one untrusted link gave: the page key, or why it was refused."""

    page_key: str | None = None
    unsafe: bool = False
    failed: bool = False


def follow_link(
    run: SourceRun,
    link: str,
    *,
    base_url: str,
    linked_from: str,
    post_unsafe: list[str],
    follow_refresh: bool = True,
    source: SourceRef | None = None,
) -> LinkOutcome:
    """Fetch the page an untrusted link points at from `run`'s source, as an html source would
    (`source`: the page's source reference when not `run.ref`, e.g. a guest entry's).

    The link is trusted only when this source is marked local and the link stays
    on the source's own origin; anything else must reach a public address. A
    refused link is recorded on the post and dead-lettered, never requested.
    """
    try:
        absolute = join_url(base_url, link.strip())
    except FetchError as exc:
        return _refuse_link(run, link, exc, post_unsafe)
    for cache in (run.own_pages, run.page_cache):
        # `in` then `[]` is safe on the shared cache: entries are only ever added.
        if absolute in cache:
            cached = cache[absolute]
            return LinkOutcome(page_key=cached, failed=cached is None)
    try:
        target = check_url_syntax(absolute)
        source_origin = check_url_syntax(run.source.url).origin if run.source.url.startswith("http") else None
        trusted = run.source.local and target.origin == source_origin
        result = run.fetch(target.url, trusted=trusted, check_robots=True, dead_letter_errors=False)
    except FetchError as exc:
        if exc.reason == "unsafe-url":
            return _refuse_link(run, link, exc, post_unsafe)
        run.errors += 1
        run.own_pages[absolute] = None
        run.dead_letter("fetch", describe_fetch_error(exc), url=absolute, error=exc)
        return LinkOutcome(failed=True)
    assert result is not None
    page = page_from_fetch(
        run, result, linked_from=linked_from, post_unsafe=post_unsafe, follow_refresh=follow_refresh, source=source
    )
    run.own_pages[absolute] = page.key if page else None
    return LinkOutcome(page_key=page.key if page else None, failed=page is None)


def _refuse_link(run: SourceRun, link: str, exc: FetchError, post_unsafe: list[str]) -> LinkOutcome:
    run.skipped_links += 1
    post_unsafe.append(link)
    # No `original`: the link itself is the evidence, and the URL field carries it.
    run.dead_letter("fetch", f"unsafe url refused, never fetched: {exc.detail}", url=link[:2000], error=exc)
    log.info("refused unsafe link %r from source %s", link[:200], run.source.name)
    return LinkOutcome(unsafe=True)


def collect_html(run: SourceRun) -> None:
    """An `html` source: the configured page itself, conditionally re-fetched."""
    result = run.fetch_source_if_changed(check_robots=True)
    if result is None:
        return
    unsafe: list[str] = []
    page = page_from_fetch(run, result, linked_from=None, post_unsafe=unsafe)
    if page is not None:
        run.remember_validators(result)
