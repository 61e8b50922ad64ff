"""Hostile inputs found in review: each must become a dead letter (or be recorded), never stop a run."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import duckdb

from app.processor import Processor
from connectors.ingest import run_ingest
from infra.config import Settings
from schemas.dead_letter import DeadLetter
from schemas.envelope import dump_envelope
from schemas.item import Item
from schemas.keys import unscoped_key
from schemas.raw import RawPage, RawPost, ReceivedRaw
from tests.connector_support import envelopes, scripted_server, source, with_sources
from tests.factories import raw_post
from transforms.normalize import canonical_url, normalize_record

AS_OF = datetime(2026, 4, 20, tzinfo=UTC)

RSS = b"""<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title>
<item><guid>bad-bracket</guid><title>Bad bracket link</title><link>http://[::1/c</link>
<description>OpenAI ships a model with a long enough description to be an item.</description></item>
<item><guid>bad-port</guid><title>Bad port link</title><link>http://x.example:99999/b</link>
<description>Anthropic updates a policy with a long enough description to be an item.</description></item>
<item><guid>good</guid><title>Good entry</title><link>/pages/good.html</link>
<description>Google releases Gemma 4 with a long enough description to be an item.</description></item>
</channel></rss>"""


def test_malformed_links_do_not_fail_the_feed(settings: Settings) -> None:
    page = b"<html><head><title>Good</title></head><body><p>Good page body text.</p></body></html>"
    with scripted_server(
        {
            "/feed.xml": [(200, {"Content-Type": "application/rss+xml"}, RSS)],
            "/pages/good.html": [(200, {"Content-Type": "text/html"}, page)],
        }
    ) as server:
        configured = with_sources(settings, [source("hostile-feed", "feed", f"{server.base_url}/feed.xml")])
        report = run_ingest(configured).source("hostile-feed")
    assert report.errors == 0, report
    keys = {
        unscoped_key(e.key)
        for e in envelopes(settings.kafka.bootstrap, settings.kafka, settings.kafka.raw_topic)
        if isinstance(e, RawPost)
    }
    assert {"bad-bracket", "bad-port", "good"} <= keys


def _x_page(expanded: str) -> bytes:
    return json.dumps(
        {
            "data": [
                {
                    "id": "1912000000000000001",
                    "text": "look at this",
                    "author_id": "1",
                    "created_at": "2026-04-14T10:00:00.000Z",
                    "entities": {"urls": [{"url": "https://t.co/x", "expanded_url": expanded}]},
                }
            ],
            "includes": {"users": [{"id": "1", "username": "someone", "name": "Someone"}]},
            "meta": {"result_count": 1, "newest_id": "1912000000000000001"},
        }
    ).encode()


def test_x_post_with_unsafe_expanded_url_lands_with_the_url_recorded(settings: Settings) -> None:
    with scripted_server(
        {"/search": [(200, {"Content-Type": "application/json"}, _x_page("http://2130706433/"))]}
    ) as server:
        configured = with_sources(settings, [source("x-hostile", "x", f"{server.base_url}/search", tier="social")])
        report = run_ingest(configured).source("x-hostile")
    assert report.errors == 0 and report.produced == 1, report
    (post,) = [
        e
        for e in envelopes(settings.kafka.bootstrap, settings.kafka, settings.kafka.raw_topic)
        if isinstance(e, RawPost)
    ]
    assert post.unsafe_links == ("http://2130706433/",)


def test_malformed_canonical_urls_normalize_instead_of_raising() -> None:
    assert canonical_url("http://[::1/x") is None
    assert canonical_url("/x", base="http://[::1/") is None
    post = raw_post(1)
    page = RawPage(
        key="https://news.example.com/a",
        source=post.source,
        fetch=post.fetch,
        canonical_url="http://a.example:70000/x",
        html="<html><body><p>Text of the page.</p></body></html>",
    )
    result = normalize_record(ReceivedRaw(envelope=page, coordinates={"topic": "t", "partition": 0, "offset": 1}))
    assert isinstance(result, Item | DeadLetter)


def test_overflowing_engagement_is_clamped_not_a_stuck_batch(settings: Settings) -> None:
    from infra.kafka import make_producer

    post = raw_post(7, social=True)
    huge = post.model_copy(update={"social": post.social.model_copy(update={"likes": 10**19, "retweets": 10**19})})
    producer = make_producer(settings.kafka.bootstrap, settings.kafka)
    producer.send(settings.kafka.raw_topic, key=huge.key.encode(), value=dump_envelope(huge)).get(10)
    producer.close()
    with Processor(settings, bootstrap=settings.kafka.bootstrap, as_of=AS_OF) as processor:
        processor.run_once()
        assert sum(processor.lag().values()) == 0
    with duckdb.connect(str(settings.store.path), read_only=True) as con:
        assert con.execute("SELECT engagement FROM items").fetchone()[0] == 2**63 - 1
