"""arXiv API: paging, request spacing, empty-first-page retry, versions, and bad pages."""

from __future__ import annotations

import functools

import pytest

from connectors import arxiv, ingest
from connectors.arxiv import parse_arxiv_id
from connectors.ingest import run_ingest
from connectors.sample_server import sample_sources, serve_corpus
from infra.config import Settings
from schemas.raw import RawPost
from tests.connector_support import envelopes, scripted_server, source, with_sources

ATOM = {"Content-Type": "application/atom+xml"}
QUERY = "/api/query"


def _feed(*entries: str, total: int | None = None) -> bytes:
    count = total if total is not None else len(entries)
    return (
        '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom" xmlns:arxiv="http://arxiv.org/schemas/atom">'
        f'<opensearch:totalResults xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">{count}'
        "</opensearch:totalResults>" + "".join(entries) + "</feed>"
    ).encode()


def _entry(arxiv_id: str, version: int, updated: str = "2026-04-14T11:20:41Z") -> str:
    return (
        f"<entry><id>http://arxiv.org/abs/{arxiv_id}v{version}</id><published>2026-04-10T00:00:00Z</published>"
        f"<updated>{updated}</updated><title>Paper {arxiv_id}</title><summary>a &lt; b</summary>"
        "<author><name>A. Author</name></author>"
        f'<link href="http://arxiv.org/abs/{arxiv_id}v{version}" rel="alternate" type="text/html"/>'
        f'<link title="pdf" href="http://arxiv.org/pdf/{arxiv_id}v{version}" rel="related"/>'
        '<arxiv:primary_category term="cs.AI"/><category term="cs.AI"/><category term="cs.LG"/></entry>'
    )


def test_ids() -> None:
    assert parse_arxiv_id("http://arxiv.org/abs/2604.01234v2") == ("2604.01234", 2)
    assert parse_arxiv_id("http://arxiv.org/abs/cs/0112017v1") == ("cs/0112017", 1)
    assert parse_arxiv_id("http://arxiv.org/api/errors#x") is None


def test_corpus_paging_with_spacing(settings: Settings, broker: str) -> None:
    with serve_corpus() as server:
        configured = with_sources(settings, [s for s in sample_sources(server.base_url) if s.kind == "arxiv"])
        report = run_ingest(configured, arxiv_interval_s=0.3)
        starts = [path for path, _ in server.requests if path.startswith("/arxiv/")]
    assert report.total("produced") == 10 and len(starts) == 2
    assert "start=0" in starts[0] and "start=5" in starts[1]
    papers = envelopes(broker, settings.kafka, settings.kafka.raw_topic)
    assert all(p.key == f"arxiv:{p.paper.arxiv_id}" and p.paper.pdf_url and p.paper.primary_category for p in papers)


def test_requests_are_spaced_by_the_interval(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    # Pacing is decided on the client's clock. The server's arrival times are a different clock,
    # late by however long a loaded machine takes to schedule its thread, so the test reads the
    # client's: a clock that moves only when the connector sleeps.
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 6))
        now[0] += seconds

    paced = functools.partial(arxiv.collect_arxiv, interval_s=0.4, sleep=sleep, clock=lambda: now[0])
    real = ingest._collectors
    monkeypatch.setattr(ingest, "_collectors", lambda *args: {**real(*args), "arxiv": paced})
    pages = [
        (200, ATOM, _feed(_entry("2604.00001", 1), _entry("2604.00002", 1), total=4)),
        (200, ATOM, _feed(_entry("2604.00003", 1), _entry("2604.00004", 1), total=4)),
    ]
    with scripted_server({QUERY: pages}) as srv:
        report = run_ingest(with_sources(settings, [source("a", "arxiv", srv.base_url + QUERY + "?max_results=2")]))
    assert srv.hits[QUERY] == 2 and report.total("produced") == 4
    assert slept == [0.4], "one wait of the whole interval between the two page requests"


def test_empty_first_page_is_retried_once(settings: Settings) -> None:
    with scripted_server({QUERY: [(200, ATOM, _feed(total=0)), (200, ATOM, _feed(_entry("2604.00001", 1)))]}) as srv:
        report = run_ingest(with_sources(settings, [source("a", "arxiv", srv.base_url + QUERY)]), arxiv_interval_s=0)
    assert srv.hits[QUERY] == 2 and report.total("produced") == 1


def test_new_version_is_news_under_the_same_key(settings: Settings, broker: str) -> None:
    script = {
        QUERY: [
            (200, ATOM, _feed(_entry("2604.00001", 1))),
            (200, ATOM, _feed(_entry("2604.00001", 1))),
            (200, ATOM, _feed(_entry("2604.00001", 2, updated="2026-04-16T09:00:00Z"))),
        ]
    }
    with scripted_server(script) as srv:
        configured = with_sources(settings, [source("a", "arxiv", srv.base_url + QUERY)])
        runs = [run_ingest(configured, arxiv_interval_s=0) for _ in range(3)]
    assert [r.total("produced") for r in runs] == [1, 0, 1]
    v1, v2 = envelopes(broker, settings.kafka, settings.kafka.raw_topic)
    assert isinstance(v2, RawPost) and v1.key == v2.key == "arxiv:2604.00001"
    assert (v1.paper.version, v2.paper.version) == (1, 2) and v2.updated_at > v1.updated_at
    assert v1.summary_html == "a &lt; b"


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (200, b"<feed xmlns='http://www.w3.org/2005/Atom'><entry><id>", "xml"),
        (200, b'<?xml version="1.0"?><!DOCTYPE f [<!ENTITY x SYSTEM "file:///etc/passwd">]><feed>&x;</feed>', "xml"),
        (200, b"<rss version='2.0'/>", "xml: arXiv response is not an Atom feed"),
        (200, _feed("<entry><id>http://arxiv.org/abs/2604.1v1</id><title>t</title></entry>"), "wrong type"),
        (503, b"busy", "http error"),
    ],
    ids=["truncated", "xxe", "not-atom", "bad-id", "503"],
)
def test_hostile_responses(settings: Settings, broker: str, status: int, body: bytes, reason: str) -> None:
    with scripted_server({QUERY: [(status, ATOM, body)]}) as srv:
        report = run_ingest(with_sources(settings, [source("a", "arxiv", srv.base_url + QUERY)]), arxiv_interval_s=0)
    assert report.total("produced") == 0
    letters = envelopes(broker, settings.kafka, settings.kafka.dlq_topic)
    assert letters and letters[0].reason.startswith(reason), letters[0].reason
    assert b"root:x:0:0" not in b"".join(letter.model_dump_json().encode() for letter in letters)
