"""Ingest of the served sample corpus and of every hostile case, against the real broker."""

from __future__ import annotations

import gzip
import secrets
import tomllib
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import brotli
import pytest
import typer
from kafka.errors import KafkaError
from typer.testing import CliRunner

from app.commands.ingest import register
from connectors.cursors import CursorStore
from connectors.ingest import IngestReport, check_sources, run_ingest
from connectors.sample_server import CORPUS_DIR, CorpusServer, sample_sources, serve_corpus
from infra.config import KafkaSettings, Settings, StoreSettings
from infra.kafka import TopicSpec, ensure_topics
from infra.store import Store
from schemas.dead_letter import DeadLetter
from schemas.raw import RawPage, RawPost
from tests.connector_support import FAST_FETCH, envelopes, read_topic, source, with_sources

CASES: list[dict[str, Any]] = tomllib.loads((CORPUS_DIR / "hostile" / "cases.toml").read_text())["case"]
# Bombs and huge bodies are scaled to the caps the hostile run uses (4 MiB raw, 8 MiB
# decoded): each stays far above its cap, so the outcome is the same as at full size.
_MAX_BYTES = 4 * 1024 * 1024
_BOMB = 64 * 1024 * 1024


def _generated(spec: str) -> bytes:
    kind = spec.split(":", 1)[0]
    rss_head = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
    if kind == "deep-nesting":
        depth = int(spec.split(":")[1])
        return rss_head + b"<item><description>" + b"<div>" * depth
    if kind == "huge-body":
        item = b"<item><title>padding</title><guid>g</guid><description>" + b"x" * 900 + b"</description></item>"
        return rss_head + item * (4 * _MAX_BYTES // len(item)) + b"</channel></rss>"
    if kind == "huge-description":
        return rss_head + b"<item><guid>h</guid><description>" + b"y" * (3 * _MAX_BYTES) + b"</description></item>"
    zeros = b"\0" * _BOMB
    if kind == "gzip-bomb":
        return (
            gzip.compress(b'{"data":[' + b" " * _BOMB, compresslevel=6)
            if "json" in spec
            else gzip.compress(rss_head + zeros, compresslevel=6)
        )
    if kind == "gzip-gzip-bomb":
        return gzip.compress(gzip.compress(rss_head + zeros, compresslevel=6), compresslevel=6)
    if kind == "br-bomb":
        return brotli.compress(rss_head + zeros, quality=4)
    if kind == "deflate-bomb":
        return zlib.compress(rss_head + zeros, 6)
    raise AssertionError(f"unknown generator {spec}")


@dataclass
class HostileRun:
    report: IngestReport
    posts: dict[str, list[RawPost]]
    pages: dict[str, list[RawPage]]
    letters: dict[str, list[DeadLetter]]
    raw_bytes: bytes
    dlq_bytes: bytes
    server: CorpusServer
    canary_secret: str
    store_path: Path


@pytest.fixture(scope="module")
def hostile_run(broker: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostileRun]:
    tmp = tmp_path_factory.mktemp("hostile")
    suffix = uuid.uuid4().hex[:10]
    kafka = KafkaSettings(
        bootstrap=broker,
        raw_topic=f"test.raw.{suffix}",
        dlq_topic=f"test.dlq.{suffix}",
        alerts_topic=f"test.alerts.{suffix}",
    )
    ensure_topics(broker, kafka, [TopicSpec(kafka.raw_topic, 3), TopicSpec(kafka.dlq_topic, 1)])
    secret = f"CANARY-{secrets.token_hex(16)}"
    canary = tmp / "canary.txt"
    canary.write_text(secret)
    with serve_corpus(hostile=True, canary=str(canary)) as server:
        sources = []
        for case in CASES:
            if "generate" in case:
                spec = case["generate"] + (":json" if case["source_kind"] == "x" else "")
                headers = {"Content-Type": case["content_type"]}
                if case.get("content_encoding"):
                    headers["Content-Encoding"] = case["content_encoding"]
                server.add_route(case["served_as"], _generated(spec), headers=headers)
            sources.append(source(case["name"], case["source_kind"], server.url(case["served_as"]), max_pages=5))
        settings = Settings(
            data_dir=tmp / "data",
            kafka=kafka,
            store=StoreSettings(path=tmp / "data" / "radar.duckdb"),
            fetch=FAST_FETCH.model_copy(update={"max_bytes": _MAX_BYTES, "max_decompressed_bytes": 2 * _MAX_BYTES}),
            sources=sources,
        )
        report = run_ingest(settings, arxiv_interval_s=0)
        raw = read_topic(broker, kafka, kafka.raw_topic)
        dlq = read_topic(broker, kafka, kafka.dlq_topic)
        run = HostileRun(
            report,
            {},
            {},
            {},
            b"".join(r.value or b"" for r in raw),
            b"".join(r.value or b"" for r in dlq),
            server,
            secret,
            settings.store.path,
        )
        for envelope in envelopes(broker, kafka, kafka.raw_topic):
            target = run.posts if isinstance(envelope, RawPost) else run.pages
            target.setdefault(envelope.source.name, []).append(envelope)
        for letter in envelopes(broker, kafka, kafka.dlq_topic):
            run.letters.setdefault(letter.source_name, []).append(letter)
        yield run


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_hostile_case(hostile_run: HostileRun, case: dict[str, Any]) -> None:
    name, expected = case["name"], case["expected"]
    letters = hostile_run.letters.get(name, [])
    items = hostile_run.pages.get(name, []) if case["source_kind"] == "html" else hostile_run.posts.get(name, [])
    wanted = case.get("reason_contains", "").lower()
    reasons = [letter.reason.lower() for letter in letters]
    if expected == "dead-letter":
        assert items == [], f"{name}: nothing may be emitted"
        assert any(wanted in r for r in reasons), f"{name}: no dead letter containing {wanted!r} in {reasons}"
    elif expected == "salvage":
        assert case.get("min_items", 1) <= len(items) <= case.get("max_items", 10**6), (name, len(items), reasons)
        if wanted == "encoding":
            # The flag is the provenance: which charset was used and how it was chosen.
            assert all(item.fetch.encoding for item in items)
        elif wanted:
            assert any(wanted in r for r in reasons), (name, reasons)
        texts = " ".join(item.model_dump_json() for item in items)
        for expect in case.get("expect_text", []):
            assert expect in texts, f"{name}: {expect!r} missing"
        assert "\ufffd" not in texts
    else:
        assert expected == "refuse-fetch"
        assert any("unsafe url" in r for r in reasons), (name, reasons)
        for post in items:
            if case["source_kind"] == "feed":
                assert post.unsafe_links == (case["unsafe_url"],)
    for path in case.get("must_not_request", []):
        assert hostile_run.server.hits[path] == 0
    for needle in case.get("must_not_contain", []):
        # Connectors keep originals (escaping is the renderers' job), except for the
        # file contents a parser or redirect could have pulled in.
        if "root:x:0:0" in needle:
            assert needle.encode() not in hostile_run.raw_bytes + hostile_run.dlq_bytes


def test_hostile_canary_never_leaks(hostile_run: HostileRun) -> None:
    secret = hostile_run.canary_secret.encode()
    assert secret not in hostile_run.raw_bytes
    assert secret not in hostile_run.dlq_bytes
    assert secret not in hostile_run.store_path.read_bytes()
    hostname = Path("/etc/hostname").read_bytes().strip() if Path("/etc/hostname").exists() else b""
    if len(hostname) >= 8:  # a short hostname could appear by chance
        assert hostname not in hostile_run.raw_bytes + hostile_run.dlq_bytes


def test_hostile_run_counts(hostile_run: HostileRun) -> None:
    report = hostile_run.report
    assert report.total("dead_lettered") >= len([c for c in CASES if c["expected"] != "salvage"])
    assert report.source("truncated-rss").notes  # the summary says a feed was salvaged
    assert report.total("skipped_links") >= 15


# --------------------------------------------------------------------------- corpus


def test_corpus_ingest_once_then_nothing_new(settings: Settings, broker: str) -> None:
    with serve_corpus() as server:
        configured = with_sources(settings, sample_sources(server.base_url))
        first = run_ingest(configured, arxiv_interval_s=0)
        produced = envelopes(broker, settings.kafka, settings.kafka.raw_topic)
        # A post and the page it links to may share a key (the canonical URL): an item
        # is a (schema, key) pair.
        items = [(e.schema_, e.key) for e in produced]
        assert first.total("errors") == 0 and first.total("dead_lettered") == 0
        assert len(items) == len(set(items)) == first.total("produced") > 50
        by_kind = {r.kind: r.produced for r in first.sources}
        assert by_kind["x"] == 30 and by_kind["arxiv"] == 10 and by_kind["html"] == 1
        # Pages followed from summary-only entries are their own envelopes.
        pages = [e for e in produced if isinstance(e, RawPage)]
        assert {p.linked_from for p in pages} - {None}

        feed_hits = dict(server.hits)
        second = run_ingest(configured, arxiv_interval_s=0)
        assert second.total("produced") == 0
        assert len(read_topic(broker, settings.kafka, settings.kafka.raw_topic)) == len(items)
        for name in ("openai-news", "android-developers-blog", "guiji-daily-nemotron"):
            assert second.source(name).not_modified
        feed_path = "/feeds/openai-news.xml"
        assert feed_hits[feed_path] == 1
        assert "if-none-match" in server.headers_of(feed_path)[-1]
        assert "if-modified-since" in server.headers_of(feed_path)[-1]
        # X asked only for newer posts.
        assert "since_id=" in [p for p, _ in server.requests if p.startswith("/x/")][-1]


def test_cursor_recorded_after_delivery(settings: Settings) -> None:
    with serve_corpus() as server:
        configured = with_sources(settings, [s for s in sample_sources(server.base_url) if s.name == "openai-news"])
        run_ingest(configured)
    cursor = CursorStore(Store(settings.store.path)).load("openai-news")
    assert cursor.etag and cursor.last_modified
    assert len(cursor.seen) == 8  # 4 entries + their 4 pages


def test_unreachable_kafka_raises_before_any_cursor(settings: Settings, tmp_path: Path) -> None:
    dead = settings.kafka.model_copy(update={"bootstrap": "127.0.0.1:1", "request_timeout_ms": 2000})
    with serve_corpus() as server:
        configured = with_sources(settings, sample_sources(server.base_url)).model_copy(update={"kafka": dead})
        with pytest.raises(KafkaError):
            run_ingest(configured)
        assert server.hits == {}


def test_check_sources_reaches_each_once_and_produces_nothing(settings: Settings, broker: str) -> None:
    with serve_corpus() as server:
        checks = check_sources(with_sources(settings, sample_sources(server.base_url)))
        assert all(check.ok for check in checks), [c for c in checks if not c.ok]
        assert sum(server.hits.values()) == len(checks)
    assert read_topic(broker, settings.kafka, settings.kafka.raw_topic) == []


def test_cli_ingest_prints_table_and_exits_one_when_a_source_failed(settings: Settings) -> None:
    with serve_corpus(hostile=True) as server:
        configured = with_sources(
            settings,
            [
                *[s for s in sample_sources(server.base_url) if s.kind == "feed"][:2],
                source("empty-feed", "feed", server.url("/hostile/feeds/empty.xml")),
            ],
        )
        app = typer.Typer()

        class _State:
            settings = configured

        @app.callback()
        def _root(ctx: typer.Context) -> None:
            ctx.obj = _State()

        register(app)
        result = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["ingest"])
        assert result.exit_code == 1, result.output  # the empty feed failed
        assert "openai-news" in result.output and "dead-lettered" in result.output
        assert "1 of 3 sources failed: empty-feed (parse: empty body" in result.output
        # What a caller that tolerates a broken source asks for: exit 0. The empty feed answers 304
        # the second time: the same document, still broken, still named.
        tolerant = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["ingest", "--allow-source-errors"])
        assert tolerant.exit_code == 0, tolerant.output
        assert "1 of 3 sources failed: empty-feed" in tolerant.output
        unknown = CliRunner().invoke(app, ["ingest", "--source", "nope"])
        assert unknown.exit_code != 0
        checked = CliRunner().invoke(app, ["sources", "check"])
        assert checked.exit_code == 1  # the empty feed is not a usable source
        assert "empty body" in checked.output
