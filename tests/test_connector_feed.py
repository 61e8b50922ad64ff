"""Feeds: formats, salvage, entry fingerprints, summary-only links, and links that must never be fetched."""

from __future__ import annotations

import gzip
import secrets
from datetime import timedelta
from pathlib import Path

import pytest

from connectors.feed import FeedParseError, parse_feed
from connectors.ingest import run_ingest
from connectors.sample_server import CORPUS_DIR, serve_corpus
from infra.config import Settings
from schemas.keys import scoped_key, unscoped_key
from schemas.raw import RawPage, RawPost
from tests.connector_support import envelopes, scripted_server, source, with_sources

FEEDS = CORPUS_DIR / "site" / "feeds"
RSS = {"Content-Type": "application/rss+xml"}


def _rss(*items: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>t</title>'
        + "".join(items)
        + "</channel></rss>"
    ).encode()


def _item(
    guid: str,
    *,
    title: str = "A title",
    link: str | None = None,
    description: str = "summary",
    content: str | None = None,
) -> str:
    parts = [
        f"<title>{title}</title>",
        f'<guid isPermaLink="false">{guid}</guid>',
        "<pubDate>Wed, 15 Apr 2026 09:00:00 +0900</pubDate>",
        f"<description>{description}</description>",
    ]
    if link:
        parts.append(f"<link>{link}</link>")
    if content:
        parts.append(
            f'<content:encoded xmlns:content="http://purl.org/rss/1.0/modules/content/">'
            f"<![CDATA[{content}]]></content:encoded>"
        )
    return "<item>" + "".join(parts) + "</item>"


@pytest.mark.parametrize(
    ("file", "count", "first_id"),
    [
        ("openai-news.xml", 4, "https://openai.com/index/codex-for-almost-everything/"),  # RSS 2.0
        ("android-developers-blog.xml", 2, "tag:blogger.com,1999:blog-6755709643044947179.post-4402718813902756190"),
        ("bloomberg-technology.xml", 2, None),  # RSS 1.0 (RDF): rdf:about
        ("microsoft-source-asia.xml", 2, "https://news.microsoft.com/source/asia/?p=84217"),
    ],
)
def test_formats_split_into_entries(file: str, count: int, first_id: str | None) -> None:
    document = parse_feed((FEEDS / file).read_bytes(), content_type="application/xml")
    assert len(document.entries) == count and not document.rejects
    assert all(entry.native_id for entry in document.entries)
    if first_id:
        assert document.entries[0].native_id == first_id


def test_original_offsets_are_kept(settings: Settings, broker: str) -> None:
    with scripted_server(
        {
            "/f.xml": [(200, RSS, _rss(_item("g1", link="/p.html", description="s")))],
            "/p.html": [(200, {"Content-Type": "text/html"}, b"<html><title>P</title></html>")],
        }
    ) as srv:
        run_ingest(with_sources(settings, [source("f", "feed", srv.base_url + "/f.xml")]))
    post = next(e for e in envelopes(broker, settings.kafka, settings.kafka.raw_topic) if isinstance(e, RawPost))
    assert post.published == "Wed, 15 Apr 2026 09:00:00 +0900"
    assert post.published_at is not None and post.published_at.utcoffset() == timedelta(hours=9)


def test_feedparser_never_sees_a_path(tmp_path: Path) -> None:
    # feedparser.parse(bytes) first tries open(bytes); a body naming a file must not be read.
    canary = tmp_path / "canary.xml"
    secret = secrets.token_hex(8)
    canary.write_bytes(_rss(_item(secret)))
    with pytest.raises(FeedParseError) as exc_info:
        parse_feed(str(canary).encode(), content_type="application/rss+xml")
    assert "xml" in str(exc_info.value) and secret not in str(exc_info.value)


def test_plain_doctype_is_dropped_but_entities_refused() -> None:
    netscape = (
        b'<?xml version="1.0"?><!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" '
        b'"http://my.netscape.com/publish/formats/rss-0.91.dtd"><rss version="0.91"><channel><title>t</title>'
        b"<item><title>Old</title><link>https://example.com/a</link></item></channel></rss>"
    )
    assert len(parse_feed(netscape, content_type=None).entries) == 1
    # The subset is dropped unread: the entry using its entity is refused, the other one kept.
    declared = parse_feed(
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "b">]><rss><channel>'
        b"<item><guid>uses</guid><title>&a;</title></item>"
        b"<item><guid>plain</guid><title>t</title></item></channel></rss>",
        content_type=None,
    )
    assert [e.native_id for e in declared.entries] == ["plain"]
    assert [reason for reason, _ in declared.rejects] == [
        "xml: DTD entity &a; not expanded (XXE and entity-expansion guard); the entry uses it"
    ]


def test_broken_middle_entry_is_repaired_the_rest_kept(settings: Settings, broker: str) -> None:
    # Was: the broken entry dead-lettered. A lenient reader keeps it, so do we (issue 10).
    body = _rss(_item("ok-1", content="<p>x</p>"), _item("bad", title="Fish & chips <b>"), _item("ok-2", content="y"))
    with scripted_server({"/f.xml": [(200, RSS, body)]}) as srv:
        report = run_ingest(with_sources(settings, [source("f", "feed", srv.base_url + "/f.xml")]))
    assert report.total("produced") == 3 and report.total("dead_lettered") == 0
    posts = {unscoped_key(e.key): e for e in envelopes(broker, settings.kafka, settings.kafka.raw_topic)}
    assert posts["bad"].title is not None and posts["bad"].title.startswith("Fish & chips")
    assert report.sources[0].notes


def test_duplicate_and_edited_entries(settings: Settings, broker: str) -> None:
    v1 = _rss(_item("a", content="one"), _item("a", content="one"), _item("b", content="two"))
    v2 = _rss(_item("a", content="one"), _item("b", content="two, corrected"))
    with scripted_server({"/f.xml": [(200, RSS, v1), (200, RSS, v2)]}) as srv:
        configured = with_sources(settings, [source("f", "feed", srv.base_url + "/f.xml")])
        first, second = run_ingest(configured), run_ingest(configured)
    assert first.total("produced") == 2  # the repeated <item> is one envelope
    assert (second.total("produced"), second.total("unchanged")) == (1, 1)
    posts = envelopes(broker, settings.kafka, settings.kafka.raw_topic)
    assert [p.key for p in posts] == [scoped_key("f", k) for k in ("a", "b", "b")]
    assert posts[-1].content_html == "two, corrected"


def test_summary_only_entries_follow_their_link(settings: Settings, broker: str) -> None:
    page = b'<html lang="en"><head><link rel="canonical" href="https://example.com/a"><title>A</title></head></html>'
    body = gzip.compress(_rss(_item("s", link="/a.html"), _item("c", link="/c.html", content="<p>full</p>")))
    script = {
        "/f.xml": [(200, {**RSS, "Content-Encoding": "gzip"}, body)],
        "/a.html": [(200, {"Content-Type": "text/html"}, page)],
    }
    with scripted_server(script) as srv:
        run_ingest(with_sources(settings, [source("f", "feed", srv.base_url + "/f.xml")]))
    assert srv.hits["/a.html"] == 1 and srv.hits["/c.html"] == 0
    pages = [e for e in envelopes(broker, settings.kafka, settings.kafka.raw_topic) if isinstance(e, RawPage)]
    # The page arrives whole; its title is read by normalize (raw in, meaning later).
    assert [(p.key, p.linked_from) for p in pages] == [("https://example.com/a", scoped_key("f", "s"))]
    assert "<title>A</title>" in pages[0].html


def test_guest_category_entries_and_their_pages_are_community_not_the_sources_voice(
    settings: Settings, broker: str
) -> None:
    """A platform blog's community articles are other organisations' (reader review: an NVIDIA article
    on the Hugging Face blog was shown as Hugging Face's own report, "confirmed by Hugging Face")."""
    with serve_corpus() as server:
        hf = source(
            "huggingface-blog",
            "feed",
            server.url("/feeds/huggingface-blog.xml"),
            tier="official",
            publisher="Hugging Face",
            guest_categories=["community article"],  # matched case-insensitively
        )
        run_ingest(with_sources(settings, [hf]))
    sent = envelopes(broker, settings.kafka, settings.kafka.raw_topic)
    tiers = sorted(
        (type(e).__name__, unscoped_key(e.key) if isinstance(e, RawPost) else e.key, e.source.tier) for e in sent
    )
    nemotron, safetensors = (
        "https://huggingface.co/blog/nvidia/nemotron-ocr-v2",
        "https://huggingface.co/blog/safetensors-joins-pytorch",
    )
    # The entry and the page it links alike.
    assert tiers == [
        ("RawPage", nemotron, "community"),
        ("RawPage", safetensors, "official"),
        ("RawPost", nemotron, "community"),
        ("RawPost", safetensors, "official"),
    ]
    with pytest.raises(ValueError, match="guest_categories is for kind"):
        source("x", "html", "http://127.0.0.1/", guest_categories=["Community Article"])


def test_unsafe_addresses_are_never_contacted(settings: Settings, broker: str) -> None:
    """Links, redirects and meta refreshes to another loopback port: recorded, 0 hits there."""
    with serve_corpus() as victim, scripted_server({}) as origin:
        secret_url = victim.url("/pages/openai/index/next-phase-of-ai.html")
        origin.responses.update(
            {
                "/f.xml": [
                    (
                        200,
                        RSS,
                        _rss(
                            _item("direct", link=secret_url),
                            _item("redirected", link="/to-victim"),
                            _item("refreshed", link="/refresh.html"),
                            _item("protocol-relative", link=secret_url.replace("http:", "")),
                        ),
                    )
                ],
                "/to-victim": [(302, {"Location": secret_url}, b"")],
                "/refresh.html": [
                    (
                        200,
                        {"Content-Type": "text/html"},
                        f'<meta http-equiv="refresh" content="0;URL=\'{secret_url}\'">'.encode(),
                    )
                ],
            }
        )
        report = run_ingest(with_sources(settings, [source("f", "feed", origin.base_url + "/f.xml")]))
        assert sum(victim.hits.values()) == 0
    assert report.total("skipped_links") == 4
    posts = {
        unscoped_key(e.key): e
        for e in envelopes(broker, settings.kafka, settings.kafka.raw_topic)
        if isinstance(e, RawPost)
    }
    assert posts["direct"].unsafe_links == (secret_url,)
    assert posts["protocol-relative"].unsafe_links == (secret_url.replace("http:", ""),)
    reasons = [d.reason for d in envelopes(broker, settings.kafka, settings.kafka.dlq_topic)]
    assert len(reasons) == 4 and all(r.startswith("unsafe url") for r in reasons)


def test_non_local_source_on_loopback_is_refused(settings: Settings, broker: str) -> None:
    with scripted_server({"/f.xml": [(200, RSS, _rss(_item("x", content="c")))]}) as srv:
        report = run_ingest(with_sources(settings, [source("f", "feed", srv.base_url + "/f.xml", local=False)]))
    assert srv.hits["/f.xml"] == 0 and report.total("produced") == 0
    assert envelopes(broker, settings.kafka, settings.kafka.dlq_topic)[0].reason.startswith("unsafe url")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"   \n\t ", "empty body"),
        (b"\x00\x01\x02\xff" * 500, "encoding"),
        (b'<?xml version="1.0"?><html><body>Sign in</body></html>', "xml: not a feed"),
        # Truncated; the complete item has an id but nothing to read. (A title alone is now
        # enough: it gets a content key, issue 10 defect 4.)
        (b"<rss><channel><item><guid>g</guid></item>", "missing field"),
        # The external DTD may declare anything: an entry using an undeclared entity is refused
        # (was: the whole feed refused, so an empty <rss/> gave a letter; now it gives nothing).
        (
            b'<?xml version="1.0"?><!DOCTYPE rss SYSTEM "http://127.0.0.1:9/x.dtd" [ ]><rss><channel>'
            b"<item><guid>g</guid><title>&exfil;</title></item></channel></rss>",
            "xml: DTD",
        ),
        (b'<?xml version="1.0" encoding="utf-7"?><rss version="2.0"><channel>+ADw-script+AD4-</channel></rss>', ""),
    ],
    ids=["whitespace", "binary", "xhtml-login-wall", "truncated-no-id", "external-dtd", "utf7-declared"],
)
def test_more_hostile_feeds(settings: Settings, broker: str, body: bytes, reason: str) -> None:
    with scripted_server({"/f.xml": [(200, RSS, body)]}) as srv:
        report = run_ingest(with_sources(settings, [source("f", "feed", srv.base_url + "/f.xml")]))
    assert report.total("produced") == 0
    if reason:
        letters = envelopes(broker, settings.kafka, settings.kafka.dlq_topic)
        assert letters and letters[0].reason.startswith(reason), letters
