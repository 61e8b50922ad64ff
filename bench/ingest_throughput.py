"""Ingest throughput from a local server into a real (embedded) broker: envelopes/s.

Generates, in a temp dir: one feed of FEED_ENTRIES full-content entries (posts), an X
search chain of X_PAGES x 100 posts, and a feed of PAGES summary-only entries whose
links are followed (one page fetch each). Each is one source; the rate is envelopes
produced per wall-clock second of that source (fetch + parse + produce + cursor).
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from pathlib import Path

from connectors.ingest import run_ingest
from connectors.sample_server import serve_corpus
from infra.broker import EmbeddedBroker
from infra.config import FetchSettings, KafkaSettings, Settings, SourceConfig, StoreSettings

FEED_ENTRIES = 5000
X_PAGES = 50
PAGES = 500


def _rss(items: list[str]) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>bench</title>'
        + "".join(items)
        + "</channel></rss>"
    )


def _generate(site: Path) -> None:
    (site / "feeds").mkdir(parents=True)
    (site / "pages").mkdir()
    body = "<p>" + "Frontier model news paragraph. " * 30 + "</p>"
    full = [
        f"<item><title>Post {i}</title><guid>bench-post-{i}</guid><link>{{base}}/pages/none-{i}.html</link>"
        f"<pubDate>Wed, 15 Apr 2026 09:00:00 +0000</pubDate><description>summary {i}</description>"
        f"<content:encoded><![CDATA[{body}]]></content:encoded></item>"
        for i in range(FEED_ENTRIES)
    ]
    (site / "feeds" / "posts.xml").write_text(_rss(full))
    linked = [
        f"<item><title>Linked {i}</title><guid>bench-linked-{i}</guid><link>{{base}}/pages/p{i}.html</link>"
        f"<description>summary only</description></item>"
        for i in range(PAGES)
    ]
    (site / "feeds" / "linked.xml").write_text(_rss(linked))
    for i in range(PAGES):
        (site / "pages" / f"p{i}.html").write_text(
            f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Page {i}</title>'
            f'<link rel="canonical" href="https://example.com/p{i}"></head>'
            f"<body><article>{body * 5}</article></body></html>"
        )
    x_dir = site / "x" / "bench"
    x_dir.mkdir(parents=True)
    users = [{"id": "42", "username": "bench", "name": "Bench", "verified": False}]
    for page in range(X_PAGES):
        data = [
            {
                "id": str(10**18 - page * 100 - i),
                "text": f"post {page}-{i} " + "x" * 200,
                "author_id": "42",
                "created_at": "2026-04-15T10:00:00.000Z",
                "lang": "en",
                "public_metrics": {"retweet_count": 1, "reply_count": 1, "like_count": 1, "quote_count": 1},
            }
            for i in range(100)
        ]
        meta = {"result_count": 100, **({"next_token": f"t{page + 1}"} if page + 1 < X_PAGES else {})}
        name = "page-first.json" if page == 0 else f"page-t{page}.json"
        (x_dir / name).write_text(json.dumps({"data": data, "includes": {"users": users}, "meta": meta}))


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        _generate(tmp / "site")
        broker = EmbeddedBroker(tmp / "broker-data")
        state, _ = broker.ensure_running()
        try:
            with serve_corpus(tmp) as server:
                sources = [
                    SourceConfig(
                        name="bench-feed-posts",
                        kind="feed",
                        url=server.url("/feeds/posts.xml"),
                        tier="media",
                        local=True,
                    ),
                    SourceConfig(
                        name="bench-x-posts",
                        kind="x",
                        url=server.url("/x/bench/search?query=ai"),
                        tier="social",
                        local=True,
                        max_pages=X_PAGES + 1,
                    ),
                    SourceConfig(
                        name="bench-pages", kind="feed", url=server.url("/feeds/linked.xml"), tier="media", local=True
                    ),
                ]
                settings = Settings(
                    data_dir=tmp / "data",
                    kafka=KafkaSettings(bootstrap=state.bootstrap, raw_topic="bench.raw", dlq_topic="bench.dlq"),
                    store=StoreSettings(path=tmp / "data" / "radar.duckdb"),
                    fetch=FetchSettings(
                        per_host_interval_s=0,
                        retries=0,
                        backoff_s=0,
                        max_bytes=64 * 1024 * 1024,
                        max_decompressed_bytes=64 * 1024 * 1024,
                    ),
                    sources=sources,
                )
                t0 = time.perf_counter()
                report = run_ingest(settings)
                total = time.perf_counter() - t0
        finally:
            broker.stop()
    print(f"ingest throughput (local server, embedded broker, run total {total:.2f} s)")
    for row in report.sources:
        label = {
            "bench-feed-posts": "posts (feed entries)",
            "bench-x-posts": "posts (X API pages)",
            "bench-pages": "pages (followed links)",
        }[row.name]
        # The pages source also produces its 500 summary-only posts; the rate counts pages.
        count = PAGES if row.name == "bench-pages" else row.produced
        print(
            f"  {label:24s} {count:6d} envelopes in {row.elapsed_s:6.2f} s = {count / row.elapsed_s:8.0f} /s"
            f"  ({row.requests} requests, {row.produced} produced)"
        )


if __name__ == "__main__":
    main()
