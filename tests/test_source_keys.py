"""Issue 10, defect 2: item identity across sources.

A feed's own key ("1", a slug, `isPermaLink="false"` text) names an entry only within
that feed, so two feeds sharing it are two items; a key that names the entry on the whole
web (a URL, `urn:`, `tag:`) is the same story wherever it comes from, so it stays one item.
Each test runs the real chain: feeds on 127.0.0.1 -> ingest -> broker -> processor -> DuckDB.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb

from app.processor import Processor, ProcessReport
from connectors.base import SourceRun
from connectors.cursors import SourceCursor
from connectors.fetch import Fetcher
from connectors.ingest import run_ingest
from connectors.jsonl import collect_jsonl
from infra.config import Settings
from schemas.envelope import dump_envelope
from schemas.keys import scoped_key
from tests.connector_support import FAST_FETCH, scripted_server, source, with_sources
from tests.factories import feed_source, raw_post

AS_OF = datetime(2026, 4, 20, tzinfo=UTC)
RSS = {"Content-Type": "application/rss+xml"}


def _feed(guid: str, title: str, *, permalink: bool) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>'
        f'<item><guid isPermaLink="{str(permalink).lower()}">{guid}</guid><title>{title}</title>'
        "<pubDate>Wed, 15 Apr 2026 09:00:00 +0000</pubDate>"
        f"<description>{title}: a description long enough to be the text of an item.</description>"
        "</item></channel></rss>"
    ).encode()


def _ingest_and_process(settings: Settings, feeds: dict[str, bytes]) -> tuple[ProcessReport, list[tuple[str, ...]]]:
    """Serve each feed at /<name>.xml, ingest them all, process; the report and the stored items."""
    with scripted_server({f"/{name}.xml": [(200, RSS, body)] for name, body in feeds.items()}) as server:
        configured = with_sources(
            settings,
            [source(name, "feed", f"{server.base_url}/{name}.xml") for name in feeds],
            # The permalink case names a page off this machine: nothing may be fetched from it.
            follow_links=False,
        )
        ingest = run_ingest(configured)
    assert ingest.total("errors") == 0 and ingest.total("dead_lettered") == 0, ingest.summary()
    with Processor(configured, bootstrap=settings.kafka.bootstrap, as_of=AS_OF) as processor:
        report = processor.run_once()
    with duckdb.connect(str(settings.store.path), read_only=True) as con:
        rows = con.execute(
            "SELECT item_id, source_name, title, duplicate_of FROM items ORDER BY source_name, item_id"
        ).fetchall()
        dead = con.execute("SELECT count(*) FROM dead_letters").fetchone()
    assert dead == (0,)
    return report, rows


def test_two_feeds_sharing_a_feed_local_guid_give_two_items(settings: Settings) -> None:
    # The reproduction: each feed has one item <guid isPermaLink="false">1</guid>.
    report, rows = _ingest_and_process(
        settings,
        {
            "collide-a": _feed("1", "Alpha launches a model", permalink=False),
            "collide-b": _feed("1", "Beta publishes a benchmark", permalink=False),
        },
    )
    assert [(source_name, title) for _id, source_name, title, _dup in rows] == [
        ("collide-a", "Alpha launches a model"),
        ("collide-b", "Beta publishes a benchmark"),
    ]
    # Two different stories: neither is a duplicate of the other (the guid is not a shared id).
    assert [dup for *_rest, dup in rows] == [None, None]
    assert len({item_id for item_id, *_rest in rows}) == 2
    assert (report.records, report.total("items")) == (2, 2)


def test_a_shared_permalink_guid_is_one_item(settings: Settings) -> None:
    # The same story syndicated by two feeds, both naming it by its URL: one item, and the
    # report counts the one row stored, not the two records that wrote it.
    url = "https://news.example.com/2026/04/15/story"
    report, rows = _ingest_and_process(
        settings,
        {
            "syndic-a": _feed(url, "A story told once", permalink=True),
            "syndic-b": _feed(url, "A story told once", permalink=True),
        },
    )
    assert [item_id for item_id, *_rest in rows] == [url]
    assert (report.records, report.total("items")) == (2, 1)


def test_which_feed_keys_are_scoped_to_their_source() -> None:
    kept = [
        "https://a.example/p/1",
        "http://a.example/?p=1",
        "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66",
        "tag:blogger.com,1999:blog-1.post-2",
        "URN:ISBN:0451450523",
    ]
    for key in kept:
        assert scoped_key("src", key) == key, key
    scoped = [
        "1",
        "techpulse-2026-04-15-x",
        "/posts/1",
        "https:/no-host",
        "x:123",
        "mailto:a@b.example",
        "urn:radar:guid:other:1",
        "tag:",
        "urn:",
    ]
    for key in scoped:
        assert scoped_key("src", key) == f"urn:radar:guid:src:{key}", key
    # Scoping is idempotent (a replayed envelope keeps its key) and never shared between sources.
    assert scoped_key("src", scoped_key("src", "1")) == scoped_key("src", "1") != scoped_key("other", "1")


def test_a_replayed_feed_entry_is_scoped_like_a_live_one(tmp_path: Path) -> None:
    # A jsonl capture made before keys were scoped holds "1" for both feeds: the replay scopes
    # each under the source its envelope names; X and arXiv keys are global and stay as they are.
    posts = [
        raw_post(1).model_copy(update={"key": "1", "native_id": "1", "source": feed_source(name)})
        for name in ("collide-a", "collide-b")
    ]
    already = raw_post(2).model_copy(update={"key": scoped_key("collide-a", "2"), "source": feed_source("collide-a")})
    tweet = raw_post(3, social=True)
    path = tmp_path / "replay.jsonl"
    path.write_bytes(b"".join(dump_envelope(post) + b"\n" for post in (*posts, already, tweet)))
    with Fetcher(FAST_FETCH) as fetcher:
        run = SourceRun(source("replay", "jsonl", path.as_uri()), fetcher, FAST_FETCH, SourceCursor("replay"), {})
        collect_jsonl(run)
    assert [e.key for e in run.envelopes] == [
        "urn:radar:guid:collide-a:1",
        "urn:radar:guid:collide-b:1",
        "urn:radar:guid:collide-a:2",
        tweet.key,
    ]
    assert not run.dead_letters
