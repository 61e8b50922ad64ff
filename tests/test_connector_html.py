"""Pages: head metadata, charsets, conditional re-fetch, refresh/redirect targets that must not be reached."""

from __future__ import annotations

import pytest

from connectors.html import parse_page
from connectors.ingest import run_ingest
from connectors.sample_server import CORPUS_DIR, sample_sources, serve_corpus
from infra.config import Settings
from schemas.raw import RawPage
from tests.connector_support import envelopes, scripted_server, source, with_sources

PAGES = CORPUS_DIR / "site" / "pages"
HTML = {"Content-Type": "text/html"}


def test_head_metadata_of_a_corpus_page() -> None:
    text = (PAGES / "openai" / "index" / "codex-for-almost-everything.html").read_text()
    page = parse_page(
        text, url="http://127.0.0.1:1/pages/openai/index/codex-for-almost-everything.html", content_language="en-US"
    )
    assert page.canonical_url == "https://openai.com/index/codex-for-almost-everything/"
    assert page.og_url == page.canonical_url
    assert page.lang_hints[0] == "en" and "en-US" in page.lang_hints
    assert page.refresh_target is None


def test_junk_metadata_is_not_trusted() -> None:
    page = parse_page(
        '<link rel="canonical" href="javascript:alert(1)"><meta property="og:url" content="data:,x">'
        '<meta http-equiv="refresh" content="5; url=/next">',
        url="https://example.com/a/b",
    )
    assert page.canonical_url is None and page.og_url is None
    assert page.refresh_target == "https://example.com/next"


def test_gb18030_page_source_and_conditional_refetch(settings: Settings, broker: str) -> None:
    with serve_corpus() as server:
        configured = with_sources(settings, [s for s in sample_sources(server.base_url) if s.kind == "html"])
        first, second = run_ingest(configured), run_ingest(configured)
        path = "/pages/guiji-daily/2026/04/18/nemotron-ocr-v2.html"
        assert "if-none-match" in server.headers_of(path)[-1]
    assert first.total("produced") == 1 and second.total("produced") == 0 and second.sources[0].not_modified
    (page,) = envelopes(broker, settings.kafka, settings.kafka.raw_topic)
    assert isinstance(page, RawPage) and page.fetch.encoding and page.fetch.encoding.startswith("gb18030")
    assert "\ufffd" not in page.html and "Nemotron" in page.html


def test_refresh_and_redirect_to_another_loopback_port_are_refused(settings: Settings, broker: str) -> None:
    with serve_corpus() as victim, scripted_server({}) as origin:
        target = victim.url("/pages/openai/index/next-phase-of-ai.html")
        origin.responses.update(
            {
                "/stub.html": [
                    (200, HTML, f'<meta http-equiv="refresh" content="0; url={target}"><p>moved</p>'.encode())
                ],
                "/moved": [(301, {"Location": target}, b"")],
            }
        )
        sources = [
            source("stub", "html", origin.base_url + "/stub.html"),
            source("moved", "html", origin.base_url + "/moved"),
        ]
        report = run_ingest(with_sources(settings, sources))
        assert sum(victim.hits.values()) == 0
    assert report.source("stub").produced == 1 and report.source("stub").skipped_links == 1
    assert report.source("moved").produced == 0
    reasons = [d.reason for d in envelopes(broker, settings.kafka, settings.kafka.dlq_topic)]
    assert len(reasons) == 2 and all(r.startswith("unsafe url") for r in reasons)


@pytest.mark.parametrize(
    ("responses", "reason"),
    [
        ({"/p": [(404, HTML, b"gone")]}, "http error: HTTP 404"),
        ({"/p": [(200, HTML, b"")]}, "empty body"),
        ({"/p": [(200, {"Content-Type": "text/html; charset=utf-8"}, bytes(range(256)) * 64)]}, "encoding"),
        ({"/p": [(302, {"Location": "/q"}, b"")], "/q": [(302, {"Location": "/p"}, b"")]}, "redirect loop"),
        (
            {
                "/p": [(200, HTML, b"<p>x</p>")],
                "/robots.txt": [(200, {"Content-Type": "text/plain"}, b"User-agent: *\nDisallow: /p\n")],
            },
            "disallowed",
        ),
        ({"/p": [(200, HTML, b"<p>x</p>")], "/robots.txt": [(503, HTML, b"")]}, "disallowed"),
        ({"/p": [(200, {**HTML, "Content-Encoding": "br"}, b"not brotli at all")]}, "bad content encoding"),
    ],
    ids=["404", "empty", "binary", "redirect-loop", "robots-disallow", "robots-5xx", "corrupt-br"],
)
def test_hostile_pages(settings: Settings, broker: str, responses: dict, reason: str) -> None:
    with scripted_server(responses) as srv:
        report = run_ingest(with_sources(settings, [source("p", "html", srv.base_url + "/p")]))
    assert report.total("produced") == 0
    letters = envelopes(broker, settings.kafka, settings.kafka.dlq_topic)
    assert len(letters) == 1 and reason in letters[0].reason, letters[0].reason
