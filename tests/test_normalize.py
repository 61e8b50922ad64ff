"""Normalize: pure functions table-driven, and the Beam stage's good and dead-letter outputs as a pair."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.common import KafkaCoordinates, SourceRef
from schemas.dates import _parse_rfc822, parse_aware, parse_date
from schemas.raw import Fetch, PaperMeta, RawPage, RawPost, ReceivedRaw, ReferencedPost, SocialMeta
from transforms.normalize import (
    Normalize,
    canonical_url,
    content_hash,
    detect_language,
    extract_text,
    normalize_record,
    strip_html,
)

X_SOURCE = SourceRef(
    name="x-ai", kind="x", tier="social", publisher="X", url="https://api.x.com/2/tweets/search/recent"
)
FEED_SOURCE = SourceRef(name="xinzhi", kind="feed", tier="media", publisher="新智观察", url="https://xz.example/rss")
PAGE_SOURCE = SourceRef(name="ai-wire", kind="html", tier="media", publisher="AI Wire", url="https://www.ai-wire.news/")
FETCH = Fetch(
    requested_url="https://www.ai-wire.news/a",
    final_url="https://www.ai-wire.news/a",
    status=200,
    fetched_at=datetime(2026, 4, 14, 9, tzinfo=UTC),
)
ARTICLE = """<!DOCTYPE html><html lang="en"><head><title>Cyber | AI Wire</title>
<link rel="canonical" href="https://WWW.ai-wire.news/2026/04/14/openai-gpt-5-4-cyber/?utm_source=x">
<meta property="og:title" content="OpenAI widens Trusted Access for Cyber">
<meta property="article:published_time" content="2026-04-14T11:30:00-07:00"></head>
<body><nav><a href="/">Home</a> <a href="/policy">Policy</a> <a href="/subscribe">Subscribe</a></nav>
<article><h1>OpenAI widens Trusted Access for Cyber</h1>
<p>OpenAI on Tuesday expanded its Trusted Access for Cyber program to thousands of verified individual
defenders and hundreds of teams that protect critical software, and introduced GPT-5.4-Cyber.</p>
<p>GPT-5.4-Cyber has a broader cyber capability boundary than OpenAI's general models, but it is only
available after identity verification, and access is tiered by how well a defender is known.</p></article>
<footer>Copyright 2026 AI Wire. All rights reserved. Privacy. Terms.</footer></body></html>"""


def coordinates(offset: int) -> KafkaCoordinates:
    return KafkaCoordinates(topic="radar.raw.v1", partition=0, offset=offset)


def x_post(key: str, text: str, **social: object) -> RawPost:
    return RawPost(
        key=key,
        source=X_SOURCE,
        fetch=FETCH,
        native_id=key,
        text=text,
        lang="en",
        published="2026-04-14T15:05:10.000Z",
        social=SocialMeta(author_id="1", handle="OpenAI", **social),
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://Example.COM:80/a/b/?utm_source=x&utm_medium=y&b=2&a=1#frag", "https://example.com/a/b?a=1&b=2"),
        ("https://example.com:443/", "https://example.com/"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com:8443/x/", "https://example.com:8443/x"),
        ("https://user:secret@example.com/x", "https://example.com/x"),
        ("https://example.com/p?fbclid=1&gclid=2&mc_cid=3&mc_eid=4&id=7", "https://example.com/p?id=7"),
        ("https://twitter.com/OpenAI/status/1?s=20&t=abc", "https://x.com/OpenAI/status/1"),
        ("https://news.microsoft.com/source/asia/?p=84217", "https://news.microsoft.com/source/asia?p=84217"),
        ("file:///srv/site/pages/a.html#top", "file:///srv/site/pages/a.html"),
        ("", None),
    ],
)
def test_canonical_url(url: str, expected: str | None) -> None:
    assert canonical_url(url) == expected


def test_canonical_url_resolves_relative_against_base() -> None:
    assert canonical_url("/news/x/", base="https://openai.com/index/y") == "https://openai.com/news/x"


@pytest.mark.parametrize(
    ("value", "utc", "offset"),
    [
        ("Fri, 17 Apr 2026 07:30:00 +0800", datetime(2026, 4, 16, 23, 30, tzinfo=UTC), 480),
        ("Tue, 14 Apr 2026 18:30:00 GMT", datetime(2026, 4, 14, 18, 30, tzinfo=UTC), 0),
        ("Tue, 14 Apr 2026 11:30:00 PDT", datetime(2026, 4, 14, 18, 30, tzinfo=UTC), -420),
        ("2026-04-14T11:30:00-07:00", datetime(2026, 4, 14, 18, 30, tzinfo=UTC), -420),
        ("2026-04-14T15:05:10.000Z", datetime(2026, 4, 14, 15, 5, 10, tzinfo=UTC), 0),
        ("2026-04-14 10:00:00+05:30", datetime(2026, 4, 14, 4, 30, tzinfo=UTC), 330),
        ("2026-04-14", datetime(2026, 4, 14, tzinfo=UTC), None),
        ("14 Apr 2026", datetime(2026, 4, 14, tzinfo=UTC), None),
        ("Submitted on 14 Apr 2026", datetime(2026, 4, 14, tzinfo=UTC), None),
        ("April 14, 2026", datetime(2026, 4, 14, tzinfo=UTC), None),
        ("2026年4月14日 10:00", datetime(2026, 4, 14, 10, tzinfo=UTC), None),
    ],
)
def test_parse_date_keeps_the_offset(value: str, utc: datetime, offset: int | None) -> None:
    assert parse_date(value) == (utc, offset)


@settings(max_examples=400, deadline=None)
@given(
    weekday=st.sampled_from(["", "Mon, ", "Tue,", "Xyz, "]),
    day=st.integers(0, 32),
    month=st.sampled_from(["Jan", "feb", "MAR", "Apr", "Sep", "Dec", "Foo"]),
    year=st.one_of(st.integers(0, 120), st.integers(1899, 2100)),
    hour=st.integers(0, 25),
    minute=st.integers(0, 61),
    second=st.one_of(st.none(), st.integers(0, 61)),
    zone=st.sampled_from(["+0000", "-0000", "+0800", "-0700", "+0530", "+2359", "+2460", "-0099", "GMT", "EST"]),
)
def test_rfc822_fast_path_reads_as_the_email_package(
    weekday: str, day: int, month: str, year: int, hour: int, minute: int, second: int | None, zone: str
) -> None:
    clock = f"{hour:02d}:{minute:02d}" + ("" if second is None else f":{second:02d}")
    text = f"{weekday}{day} {month} {year} {clock} {zone}"
    try:
        expected = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        expected = None
    assert _parse_rfc822(text) == expected
    if expected is not None:
        assert _parse_rfc822(text).utcoffset() == expected.utcoffset()


@pytest.mark.parametrize("value", ["", "yesterday", "2026-13-45", "Fri, 99 Foo 2026"])
def test_parse_date_rejects_garbage(value: str) -> None:
    assert parse_date(value) is None


def test_connectors_keep_a_date_only_with_the_offset_its_source_wrote() -> None:
    """One parser on both sides of Kafka; a date without an offset is UTC to normalize and None to
    a connector's typed field, where a guess would pass for the source's own zone."""
    aware = parse_aware("Wed, 15 Apr 2026 08:45:00 +0800")
    assert aware is not None and aware.utcoffset() == timedelta(hours=8) and aware.hour == 8
    assert parse_aware("2026-04-15 08:45") is None
    assert parse_date("2026-04-15 08:45") == (datetime(2026, 4, 15, 8, 45, tzinfo=UTC), None)
    assert parse_aware("not a date") is None


@pytest.mark.parametrize(
    ("text", "hints", "expected"),
    [
        ("OpenAI raises $122 billion to accelerate AI", (), "en"),
        ("OpenAI 完成 1220 亿美元融资，投后估值达 8520 亿美元", (), "zh"),
        ("Codex 这次更新的重点不是写代码更快，而是能接权限、接工具。coding agent 正在变成操作员。", ("en",), "zh"),
        ("OpenAIは新しいモデルを発表しました。", (), "ja"),
        ("OpenAI 发布新模型", ("ja",), "ja"),  # kanji-only: the declared hint decides
        ("Le modèle est disponible aujourd'hui", ("fr-FR",), "fr"),
        ("The model ships today", ("zh-CN",), "en"),  # a hint that contradicts the script loses
        ("오픈AI가 새 모델을 공개했다", (), "ko"),
        ("12345 🚀", ("qme",), "und"),
    ],
)
def test_detect_language(text: str, hints: tuple[str, ...], expected: str) -> None:
    assert detect_language(text, hints) == expected


def test_content_hash_ignores_case_width_links_and_retweet_prefix() -> None:
    original = content_hash("GPT-5.4-Cyber comes with access tiers https://t.co/abc")
    assert content_hash("RT @AndrewCurran_: gpt-5.4-cyber  comes with ACCESS tiers https://t.co/xyz") == original
    assert content_hash("ＧＰＴ-5.4-Cyber comes with access tiers") == original
    assert content_hash("GPT-5.4-Cyber comes without access tiers") != original


def test_extract_text_drops_boilerplate() -> None:
    text = extract_text(ARTICLE)
    assert "thousands of verified individual defenders" in text
    assert "Subscribe" not in text and "Copyright" not in text


def test_strip_html_keeps_paragraphs_and_decodes_entities() -> None:
    assert strip_html("<p>A &amp; B</p><p>C<br>D</p><script>x()</script>") == "A & B\nC\nD"


def test_x_post_becomes_an_item() -> None:
    post = x_post(
        "2044114196886482946",
        "RT @AndrewCurran_: GPT-5.4-Cyber comes with access tiers &amp; more https://t.co/x",
        referenced=(ReferencedPost(type="retweeted", id="2044088418694098945"),),
        expanded_urls=(
            "https://openai.com/index/scaling-trusted-access-for-cyber/?utm_source=x",
            "https://x.com/a/status/1",
        ),
        likes=10,
        retweets=2,
        quotes=1,
        replies=3,
        impressions=1000,
    )
    item = normalize_record(ReceivedRaw(envelope=post, coordinates=coordinates(3)))
    assert item.text == "RT @AndrewCurran_: GPT-5.4-Cyber comes with access tiers & more https://t.co/x"
    assert (item.handle, item.lang, item.engagement) == ("OpenAI", "en", 16)
    assert item.url == "https://x.com/OpenAI/status/2044114196886482946"
    assert item.linked_urls == ("https://openai.com/index/scaling-trusted-access-for-cyber",)
    assert (item.native_id, item.retweet_of) == ("x:2044114196886482946", "x:2044088418694098945")
    assert item.published_at == datetime(2026, 4, 14, 15, 5, 10, tzinfo=UTC)
    assert item.content_hash == content_hash("GPT-5.4-Cyber comes with access tiers & more")


def test_feed_entry_prefers_content_over_summary() -> None:
    entry = RawPost(
        key="https://www.xinzhi-guancha.cn/article/2026041506",
        source=FEED_SOURCE,
        fetch=FETCH,
        url="http://www.xinzhi-guancha.cn/article/2026041506?utm_source=rss",
        title="OpenAI 扩大“网络安全可信访问”计划",
        summary_html="摘要",
        content_html="<p>访问范围扩大到数千名经过验证的个人防守者。</p>",
        lang="zh-cn",
        published="Wed, 15 Apr 2026 08:45:00 +0800",
    )
    item = normalize_record(ReceivedRaw(envelope=entry, coordinates=coordinates(4)))
    assert item.text == "访问范围扩大到数千名经过验证的个人防守者。"
    assert (item.lang, item.published_offset_minutes) == ("zh", 480)
    assert item.canonical_url == "https://www.xinzhi-guancha.cn/article/2026041506"


def test_arxiv_paper_keeps_its_categories_primary_first() -> None:
    paper = RawPost(
        key="arxiv:2604.12240",
        source=SourceRef(
            name="arxiv", kind="arxiv", tier="research", publisher="arXiv", url="https://export.arxiv.org/api/query"
        ),
        fetch=FETCH,
        title="Sparse attention for long context",
        summary_html="We propose a sparse attention.",
        paper=PaperMeta(arxiv_id="2604.12240", primary_category="cs.CL", categories=("cs.LG", "cs.CL")),
    )
    item = normalize_record(ReceivedRaw(envelope=paper, coordinates=coordinates(5)))
    assert item.categories == ("cs.CL", "cs.LG")
    post = normalize_record(ReceivedRaw(envelope=x_post("9", "No paper here"), coordinates=coordinates(6)))
    assert post.categories == ()


def _page(html: str, key: str = "https://www.ai-wire.news/a") -> RawPage:
    return RawPage(key=key, source=PAGE_SOURCE, fetch=FETCH, html=html)


def test_beam_stage_splits_items_and_dead_letters() -> None:
    good_post = x_post("1", "Introducing GPT-5.4-Cyber for verified defenders")
    empty_post = RawPost(key="feed-entry-9", source=FEED_SOURCE, fetch=FETCH, summary_html="<p> </p>")
    records = [
        ReceivedRaw(envelope=good_post, coordinates=coordinates(0)),
        ReceivedRaw(envelope=_page(ARTICLE), coordinates=coordinates(1)),
        ReceivedRaw(envelope=empty_post, coordinates=coordinates(2)),
        ReceivedRaw(envelope=_page("   ", key="https://www.ai-wire.news/empty"), coordinates=coordinates(3)),
    ]
    expected_items = [normalize_record(records[0]), normalize_record(records[1])]
    page_item = expected_items[1]
    assert page_item.canonical_url == "https://www.ai-wire.news/2026/04/14/openai-gpt-5-4-cyber"
    assert page_item.title == "OpenAI widens Trusted Access for Cyber"
    assert (page_item.published_at, page_item.published_offset_minutes) == (
        datetime(2026, 4, 14, 18, 30, tzinfo=UTC),
        -420,
    )
    with TestPipeline(options=PipelineOptions(runner="FnApiRunner")) as p:
        result = p | beam.Create(records) | Normalize()
        assert_that(result.good, equal_to(expected_items), label="CheckGood")
        assert_that(
            result.dead_letter
            | beam.Map(lambda d: (d.stage, d.reason, d.coordinates.offset, d.original_size > 0, d.source_name)),
            equal_to(
                [
                    ("normalize", "entry has neither text nor title", 2, True, "xinzhi"),
                    ("normalize", "empty HTML document", 3, True, "ai-wire"),
                ]
            ),
            label="CheckDeadLetters",
        )
