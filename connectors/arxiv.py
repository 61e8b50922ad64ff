"""arXiv API (Atom) pages -> one `RawPost` per paper.

Keys and versions: the key is `arxiv:<id without version>` for every version, so a
paper stays one item (one Kafka partition, one row downstream). The version is in
`paper.version` and `native_id` (the versioned abs URL), and it is part of the
content fingerprint: when v2 appears, the paper is produced again under the same
key with the new `updated`, which is how a v2 inside the digest window becomes news
while an unchanged v1 is not produced twice.

Politeness (arXiv API terms): at most one request every `interval_s` (3 s by
default; tests shrink it), paging by `start`/`max_results`, and an empty first page
is retried once because the API sometimes answers an empty feed transiently.
"""

from __future__ import annotations

import html
import logging
import re
import time
from collections.abc import Callable
from typing import Any

import lxml.etree

from connectors.base import SourceRun
from connectors.cursors import fingerprint
from connectors.feed import FeedParseError, safe_xml_root
from connectors.fetch import FetchResult
from connectors.x import with_query
from schemas.dates import parse_aware
from schemas.raw import PaperMeta, RawPost

__all__ = ["ARXIV_INTERVAL_S", "ArxivPage", "collect_arxiv", "parse_arxiv_id", "parse_arxiv_page"]

log = logging.getLogger(__name__)

ARXIV_INTERVAL_S = 3.0
_ATOM = "{http://www.w3.org/2005/Atom}"
_ARXIV = "{http://arxiv.org/schemas/atom}"
_OPENSEARCH = "{http://a9.com/-/spec/opensearch/1.1/}"
_ID = re.compile(r"arxiv\.org/abs/(?P<id>[A-Za-z.-]*/?\d{4}\.?\d{4,5}|[a-z-]+(?:\.[A-Z]{2})?/\d{7})(?:v(?P<v>\d+))?$")


def parse_arxiv_id(value: str) -> tuple[str, int] | None:
    """('2604.01234', 2) from 'http://arxiv.org/abs/2604.01234v2'; None when not an abs URL."""
    match = _ID.search(value.strip())
    if match is None:
        return None
    return match.group("id"), int(match.group("v") or 1)


class ArxivPage:
    """One API response: its entries (or reasons they were rejected) and the paging totals."""

    def __init__(self, entries: list[dict[str, Any]], rejects: list[tuple[str, bytes]], total: int | None) -> None:
        self.entries = entries
        self.rejects = rejects
        self.total = total


def _text(element: lxml.etree._Element | None) -> str | None:
    if element is None or element.text is None:
        return None
    return element.text.strip() or None


def parse_arxiv_page(body: bytes, *, content_type: str | None, url: str = "") -> ArxivPage:
    """Raises FeedParseError when the page itself is unusable."""
    root, _decoded = safe_xml_root(body, content_type=content_type, url=url)
    if root.tag != f"{_ATOM}feed":
        raise FeedParseError(f"xml: arXiv response is not an Atom feed (root <{lxml.etree.QName(root).localname}>)")
    total_text = _text(root.find(f"{_OPENSEARCH}totalResults"))
    total = int(total_text) if total_text and total_text.isdigit() else None
    entries: list[dict[str, Any]] = []
    rejects: list[tuple[str, bytes]] = []
    for element in root.findall(f"{_ATOM}entry"):
        fragment = lxml.etree.tostring(element, encoding="unicode")
        raw_id = _text(element.find(f"{_ATOM}id"))
        title = _text(element.find(f"{_ATOM}title"))
        if raw_id and ("arxiv.org/api/errors" in raw_id or title == "Error"):
            detail = _text(element.find(f"{_ATOM}summary")) or raw_id
            rejects.append((f"arxiv api error: {detail[:300]}", fragment.encode()))
            continue
        if raw_id is None:
            rejects.append(("missing field: arXiv entry has no id", fragment.encode()))
            continue
        parsed = parse_arxiv_id(raw_id)
        if parsed is None:
            rejects.append((f"wrong type: arXiv entry id {raw_id[:120]!r} is not an abs URL", fragment.encode()))
            continue
        if title is None:
            rejects.append(("missing field: arXiv entry has no title", fragment.encode()))
            continue
        arxiv_id, version = parsed
        links = element.findall(f"{_ATOM}link")
        abs_url = next((link.get("href") for link in links if link.get("rel") == "alternate"), None)
        pdf_url = next((link.get("href") for link in links if link.get("title") == "pdf"), None)
        primary = element.find(f"{_ARXIV}primary_category")
        entries.append(
            {
                "raw_id": raw_id,
                "arxiv_id": arxiv_id,
                "version": version,
                "title": title,
                "summary": _text(element.find(f"{_ATOM}summary")),
                "published": _text(element.find(f"{_ATOM}published")),
                "updated": _text(element.find(f"{_ATOM}updated")),
                "authors": tuple(
                    name for name in (_text(a.find(f"{_ATOM}name")) for a in element.findall(f"{_ATOM}author")) if name
                ),
                "categories": tuple(
                    dict.fromkeys(c.get("term") for c in element.findall(f"{_ATOM}category") if c.get("term"))
                ),
                "primary_category": primary.get("term") if primary is not None else None,
                "abs_url": abs_url or raw_id,
                "pdf_url": pdf_url,
                "fragment": fragment,
            }
        )
    return ArxivPage(entries, rejects, total)


def _paging(url: str, page_size: int) -> tuple[int, int]:
    params = dict(part.split("=", 1) for part in url.partition("?")[2].split("&") if "=" in part)
    start = int(params["start"]) if params.get("start", "").isdigit() else 0
    size = int(params["max_results"]) if params.get("max_results", "").isdigit() else page_size
    return start, max(1, size)


def collect_arxiv(
    run: SourceRun,
    *,
    interval_s: float = ARXIV_INTERVAL_S,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """An `arxiv` source: page through the query, one request per `interval_s` at most."""
    start, size = _paging(run.source.url, run.source.page_size)
    last_request: float | None = None

    def polite_fetch(url: str) -> FetchResult | None:
        nonlocal last_request
        if last_request is not None:
            gap = interval_s - (clock() - last_request)
            if gap > 0:
                sleep(gap)
        last_request = clock()
        return run.fetch(url, trusted=run.source.local)

    retried_empty = False
    pages = 0
    while pages < run.source.max_pages:
        url = with_query(run.source.url, start=str(start), max_results=str(size))
        result = polite_fetch(url)
        if result is None:
            return
        try:
            page = parse_arxiv_page(result.body, content_type=result.headers.get("content-type"), url=url)
        except FeedParseError as exc:
            run.errors += 1
            run.dead_letter("parse", str(exc), original=result.body, url=url, error=exc)
            return
        if pages == 0 and not page.entries and not page.rejects and not retried_empty:
            retried_empty = True
            log.info("arXiv returned an empty first page for %s; retrying once", run.source.name)
            continue
        pages += 1
        for reason, fragment in page.rejects:
            run.dead_letter("parse", reason, original=fragment, url=url)
        provenance = run.provenance(result)
        for entry in page.entries:
            _produce(run, entry, provenance)
        count = len(page.entries) + len(page.rejects)
        start += size
        if count == 0 or count < size or (page.total is not None and start >= page.total):
            return
    run.notes.append(f"stopped at max_pages={run.source.max_pages}")


def _produce(run: SourceRun, entry: dict[str, Any], provenance: Any) -> None:
    key = f"arxiv:{entry['arxiv_id']}"
    content = fingerprint(entry["arxiv_id"], entry["version"], entry["updated"], entry["title"], entry["summary"])
    if not run.is_new(key, content):
        return
    post = RawPost(
        key=key,
        source=run.ref,
        fetch=provenance,
        native_id=entry["raw_id"],
        url=entry["abs_url"],
        title=entry["title"],
        # The abstract is plain text; escaped, it is valid HTML with the same meaning.
        summary_html=html.escape(entry["summary"], quote=False) if entry["summary"] else None,
        authors=entry["authors"],
        categories=entry["categories"],
        published=entry["published"],
        updated=entry["updated"],
        published_at=parse_aware(entry["published"]),
        updated_at=parse_aware(entry["updated"]),
        paper=PaperMeta(
            arxiv_id=entry["arxiv_id"],
            version=entry["version"],
            primary_category=entry["primary_category"],
            categories=entry["categories"],
            abs_url=entry["abs_url"],
            pdf_url=entry["pdf_url"],
        ),
        body=entry["fragment"],
    )
    run.emit(post, content)
