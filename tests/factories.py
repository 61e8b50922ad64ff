"""Builders of realistic raw envelopes for tests and benchmarks (not fixtures: plain functions)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from schemas.common import SourceRef
from schemas.raw import Fetch, RawPost, SocialMeta

WEEK_START = datetime(2026, 4, 13, 0, 0, tzinfo=UTC)

ORGS = ["OpenAI", "Anthropic", "Google", "Microsoft", "Hugging Face", "NVIDIA", "Meta", "DeepSeek"]
TOPICS = [
    "raises new funding to expand compute",
    "opens a verified-access program for security teams",
    "ships an on-device model for Android phones",
    "releases open weights under a permissive licence",
    "launches an agent toolkit for enterprise workflows",
    "publishes a paper on long-context evaluation",
    "announces a data-centre investment in Japan",
    "updates its responsible scaling policy",
]


def feed_source(name: str = "ai-wire", tier: str = "media", publisher: str = "AI Wire") -> SourceRef:
    return SourceRef(name=name, kind="feed", tier=tier, publisher=publisher, url=f"http://127.0.0.1/{name}.xml")


def x_source() -> SourceRef:
    return SourceRef(name="x-search", kind="x", tier="social", publisher="X", url="http://127.0.0.1/x/search")


_SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "qui", "do", "fe", "gu", "ha", "ji"]


def _word(n: int, salt: str) -> str:
    """A pronounceable made-up word for `n` (distinct per n and salt, no digits: not an amount)."""
    n = (n + sum(map(ord, salt)) * 7919) * 2654435761 % 4294967296
    return "".join(_SYLLABLES[(n >> shift) & 15] for shift in (0, 4, 8, 12, 16))


def raw_post(i: int, *, source: SourceRef | None = None, social: bool = False) -> RawPost:
    """A distinct, plausible post number `i` (distinct text so it is not a near duplicate)."""
    # Four records per story, one organisation per story.
    org = ORGS[(i // 4) % len(ORGS)]
    # A topic phrase shared by many stories (as a template would) is left out: it is not news.
    topic = _word(i // 4, "topic")
    published = WEEK_START + timedelta(minutes=7 * i)
    fetch = Fetch(
        requested_url="http://127.0.0.1/feed",
        final_url="http://127.0.0.1/feed",
        status=200,
        fetched_at=published + timedelta(minutes=5),
    )
    # Each story is named by made-up words of its own: clustering (which reads words, not ids)
    # sees small stories, as in real news, not one template repeated.
    story = " ".join(_word(i // 4, salt) for salt in ("who", "what", "where"))
    title = f"{story.capitalize()} ({_word(i, 'item')})"
    body = (
        f"{story.capitalize()}: {_word(i, 'detail')} {_word(i * 31, 'detail')} {_word(i * 37, 'detail')}, "
        f"serial {i * 7919 % 1000003}, {topic} at {org}."
    )
    if social:
        return RawPost(
            key=f"x:{1912000000000000000 + i}",
            source=source or x_source(),
            fetch=fetch,
            native_id=str(1912000000000000000 + i),
            url=f"https://x.com/user{i % 50}/status/{1912000000000000000 + i}",
            text=body,
            lang="en",
            published=published.isoformat(),
            published_at=published,
            social=SocialMeta(author_id=str(i % 50), handle=f"user{i % 50}", likes=i % 1000, retweets=i % 100),
        )
    url = f"https://news.example.com/{org.lower().replace(' ', '-')}/{i}"
    return RawPost(
        key=url,
        source=source or feed_source(),
        fetch=fetch,
        native_id=url,
        url=url,
        title=title,
        summary_html=f"<p>{body}</p>",
        published=published.strftime("%a, %d %b %Y %H:%M:%S +0000"),
        published_at=published,
    )
