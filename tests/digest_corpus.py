"""A realistic week in the store, written through the real tables (items, events, event_items,
score_components, dead_letters): the reference digest's events, plus noise, out-of-window
items, timezone-boundary events and an XSS corpus. Shared by test_digest and test_flows.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from infra.config import DigestSettings, Settings, StoreSettings
from infra.store import Store
from schemas.common import SourceRef
from schemas.event import Event, ScoreComponent
from schemas.item import Amount, Entities, Item

__all__ = [
    "WINDOW_END",
    "XSS_TITLE",
    "CorpusEvent",
    "CorpusItem",
    "configure_test_prefect",
    "corpus_settings",
    "populate",
    "week",
    "xss_event",
]

WINDOW_END = date(2026, 4, 19)
XSS_TITLE = '<script>alert(1)</script><img src=x onerror="alert(2)"> Evil [click](javascript:alert(3))'


def configure_test_prefect() -> Path:
    """One PREFECT_HOME for the whole test session, set before any test module imports prefect.

    Prefect freezes its settings at import, and pytest imports every test module before
    running any, so each module that imports a flow calls this first (idempotent).
    """
    from infra.prefect_env import configure_prefect

    data_dir = os.environ.setdefault("FRONTIER_RADAR_TEST_DATA", tempfile.mkdtemp(prefix="radar-test-"))
    return configure_prefect(data_dir=data_dir)


def _t(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@dataclass
class CorpusItem:
    item_id: str
    publisher: str
    tier: str
    published: str
    title: str
    text: str = ""
    url: str | None = None
    lang: str = "en"
    kind: str = "feed"
    handle: str | None = None
    item_type: str | None = None
    engagement: int = 0
    duplicate_of: str | None = None
    amounts: tuple[tuple[str, float, str], ...] = ()
    organisations: tuple[str, ...] = ()
    products: tuple[str, ...] = ()
    dates: tuple[str, ...] = ()
    off_topic: bool = False
    updated: str | None = None
    # What the processing stages add: the organisation whose own account posted it (extract, by
    # entities.toml handles) and the author normalize reads.
    official_for: str | None = None
    author: str | None = None

    def model(self, event_id: str | None, category: str | None) -> Item:
        return Item(
            item_id=self.item_id,
            kind="post",
            source=SourceRef(
                name=self.publisher.lower().replace(" ", "-"),
                kind=self.kind,  # type: ignore[arg-type]
                tier=self.tier,  # type: ignore[arg-type]
                publisher=self.publisher,
                url=f"https://{self.publisher.lower().replace(' ', '')}.example/feed",
            ),
            url=self.url,
            canonical_url=self.url,
            title=self.title,
            text=self.text,
            lang=self.lang,
            published_at=_t(self.published),
            updated_at=_t(self.updated) if self.updated else None,
            handle=self.handle,
            duplicate_of=self.duplicate_of,
            duplicate_kind="content" if self.duplicate_of else None,
            category=category,  # type: ignore[arg-type]
            item_type=self.item_type,  # type: ignore[arg-type]
            entities=Entities(
                organisations=self.organisations,
                products=self.products,
                amounts=tuple(Amount(text=t, value=v, unit=u) for t, v, u in self.amounts),  # type: ignore[arg-type]
                dates=self.dates,
            ),
            event_id=event_id,
            engagement=self.engagement,
            off_topic=self.off_topic,
            official_for=self.official_for,
            author=self.author,
        )


@dataclass
class CorpusEvent:
    event_id: str
    title: str
    category: str
    verification: str
    score: float
    items: list[CorpusItem] = field(default_factory=list)


def _x(
    tweet_id: str,
    handle: str,
    published: str,
    text: str,
    item_type: str,
    engagement: int,
    off_topic: bool = False,
    official_for: str | None = None,
    author: str | None = None,
) -> CorpusItem:
    return CorpusItem(
        tweet_id,
        handle,
        "social",
        published,
        "",
        text,
        f"https://x.com/{handle}/status/{tweet_id}",
        kind="x",
        handle=handle,
        item_type=item_type,
        engagement=engagement,
        off_topic=off_topic,
        official_for=official_for,
        author=author,
    )


def week() -> tuple[list[CorpusEvent], list[CorpusItem]]:
    """The events of the sample week and the items that belong to no event."""
    funding = CorpusEvent(
        "openai-funding-122b",
        "OpenAI raises $122 billion at an $852 billion post-money valuation",
        "capital",
        "verified-by-official",
        88.0,
        [
            CorpusItem(
                "https://openai.com/index/accelerating-the-next",
                "OpenAI",
                "official",
                "2026-03-31T10:00:00-07:00",
                "OpenAI raises $122 billion to accelerate the next phase of AI",
                "Today we closed our latest funding round with $122 billion in committed capital at a post-money "
                "valuation of $852 billion. Monthly revenue has reached $2 billion. Durable access to compute is "
                "the core of our advantage.",
                "https://openai.com/index/accelerating-the-next",
                amounts=(("$122 billion", 122e9, "USD"), ("$852 billion", 852e9, "USD"), ("$2 billion", 2e9, "USD")),
                organisations=("OpenAI",),
                dates=("2026-03-31",),
            ),
            CorpusItem(
                "bloomberg-openai-122b",
                "Bloomberg",
                "media",
                "2026-03-31T14:20:00-04:00",
                "OpenAI Raises $122 Billion in Round Valuing It at $852 Billion",
                "OpenAI has raised $122 billion in a funding round that values the ChatGPT maker at $852 billion.",
                "https://www.bloomberg.com/news/articles/2026-03-31/openai-raises-122-billion",
                amounts=(("$122 billion", 122e9, "USD"),),
                organisations=("OpenAI", "Bloomberg"),
            ),
            CorpusItem(
                "xinzhi-2026040108",
                "新智观察",
                "media",
                "2026-04-01T09:30:00+08:00",
                "OpenAI 完成 1220 亿美元融资，投后估值 8520 亿美元",
                "OpenAI 宣布完成 1220 亿美元融资，投后估值达到 8520 亿美元。公司称月收入已达 20 亿美元。",
                "https://www.xinzhi-guancha.cn/article/2026040108",
                lang="zh",
                amounts=(("1220 亿美元", 122e9, "USD"), ("8520 亿美元", 852e9, "USD")),
                organisations=("OpenAI",),
            ),
            _x(
                "2039026057343954945",
                "AndrewCurran_",
                "2026-03-31T18:00:00+00:00",
                "OpenAI's $122B round is the largest private raise ever.",
                "fact",
                5400,
            ),
        ],
    )
    cyber = CorpusEvent(
        "openai-trusted-access-cyber",
        "OpenAI expands Trusted Access for Cyber and introduces GPT-5.4-Cyber",
        "security-access",
        "verified-by-official",
        85.0,
        [
            CorpusItem(
                "https://openai.com/index/scaling-trusted-access-for-cyber",
                "OpenAI",
                "official",
                "2026-04-14T08:00:00-07:00",
                "Trusted access for the next era of cybersecurity",
                "We're expanding Trusted Access for Cyber to thousands of verified individual defenders and "
                "hundreds of teams protecting critical software. We are also introducing GPT-5.4-Cyber, a model "
                "fine-tuned for defensive cybersecurity.",
                "https://openai.com/index/scaling-trusted-access-for-cyber",
                organisations=("OpenAI",),
                products=("GPT-5.4-Cyber",),
                dates=("2026-04-14",),
            ),
            CorpusItem(
                "aiwire-2026-04-14-cyber",
                "AI Wire",
                "media",
                "2026-04-14T19:00:00+00:00",
                "OpenAI gates its cyber model behind identity checks",
                "OpenAI will give GPT-5.4-Cyber only to verified defenders, with tiered access.",
                "https://aiwire.example/2026/04/14/openai-gpt-5-4-cyber",
                products=("GPT-5.4-Cyber",),
            ),
            CorpusItem(
                "aiwire-2026-04-14-cyber-syndicated",
                "AI Wire Syndication",
                "media",
                "2026-04-14T21:00:00+00:00",
                "OpenAI gates its cyber model behind identity checks",
                "OpenAI will give GPT-5.4-Cyber only to verified defenders, with tiered access.",
                "https://syndication.example/openai-cyber",
                duplicate_of="aiwire-2026-04-14-cyber",
            ),
            CorpusItem(
                "xinzhi-2026041506",
                "新智观察",
                "media",
                "2026-04-15T10:00:00+08:00",
                "OpenAI 推出 GPT-5.4-Cyber，面向经过验证的防守方开放",
                "OpenAI 扩大 Trusted Access for Cyber，向数千名经过验证的个人防守者开放。",
                "https://www.xinzhi-guancha.cn/article/2026041506",
                lang="zh",
            ),
            _x(
                "2044069456245714944",
                "OpenAI",
                "2026-04-14T15:05:10+00:00",
                "We're expanding Trusted Access for Cyber to thousands of verified defenders.",
                "fact",
                26300,
                official_for="OpenAI",
            ),
        ],
    )
    japan = CorpusEvent(
        "microsoft-japan-10b",
        "Microsoft to invest $10 billion in Japan in 2026-2029 for AI infrastructure",
        "infrastructure",
        "verified-by-official",
        80.0,
        [
            CorpusItem(
                "https://news.microsoft.com/source/asia/?p=84217",
                "Microsoft",
                "official",
                "2026-04-03T11:00:00+09:00",
                "Microsoft deepens its commitment to Japan with $10 billion investment",
                "Microsoft will invest $10 billion in Japan between 2026 and 2029 in AI infrastructure, "
                "cybersecurity cooperation and skilling. It aims to train more than 1 million people by 2030.",
                "https://news.microsoft.com/source/asia/2026/04/03/microsoft-japan-10-billion/",
                amounts=(("$10 billion", 10e9, "USD"), ("94%", 94.0, "percent")),
                organisations=("Microsoft",),
            ),
            CorpusItem(
                "bloomberg-ms-japan",
                "Bloomberg",
                "media",
                "2026-04-03T05:00:00+00:00",
                "Microsoft Charts $10 Billion Investment Plan in AI-Hungry Japan",
                "Microsoft will spend $10 billion in Japan over four years.",
                "https://www.bloomberg.com/news/articles/2026-04-03/microsoft-charts-10-billion",
            ),
            _x(
                "2043618392404946946",
                "sovereign_ai",
                "2026-04-13T09:12:48+00:00",
                "Microsoft's $10B Japan package is the template for sovereign AI deals.",
                "trend",
                1618,
            ),
        ],
    )
    gemma = CorpusEvent(
        "gemma-4-ai-core",
        "Google brings Gemma 4 to the Android AI Core Developer Preview",
        "on-device",
        "verified-by-official",
        78.0,
        [
            CorpusItem(
                "blogger-3186290547111642217",
                "Android Developers Blog",
                "official",
                "2026-04-02T09:00:00-07:00",
                "Announcing Gemma 4 in the AI Core Developer Preview",
                "Gemma 4 is now available in the AI Core Developer Preview. It is up to 4x faster and supports "
                "140+ languages.",
                "https://android-developers.googleblog.com/2026/04/gemma-4-ai-core.html",
                amounts=(("4x", 4.0, "ratio"), ("140+", 140.0, "count")),
                products=("Gemma 4", "AI Core"),
                organisations=("Google",),
            ),
            CorpusItem(
                "aiwire-2026-04-13-gemma",
                "AI Wire",
                "media",
                "2026-04-13T08:00:00+00:00",
                "Gemma 4 lands in Android AI Core",
                "Google put Gemma 4 into Android AI Core.",
                "https://aiwire.example/2026/04/13/gemma-4-android-ai-core",
            ),
        ],
    )
    safetensors = CorpusEvent(
        "safetensors-pytorch-foundation",
        "Safetensors joins the PyTorch Foundation",
        "open-source",
        "verified-by-official",
        70.0,
        [
            CorpusItem(
                "https://huggingface.co/blog/safetensors-joins-pytorch",
                "Hugging Face",
                "official",
                "2026-04-08T14:00:00+00:00",
                "Safetensors is Joining the PyTorch Foundation",
                "Safetensors is joining the PyTorch Foundation as a foundation-hosted project under the Linux "
                "Foundation. It was created to avoid arbitrary code execution from pickle.",
                "https://huggingface.co/blog/safetensors-joins-pytorch",
                organisations=("Hugging Face", "PyTorch Foundation", "Linux Foundation"),
            ),
            CorpusItem(
                "aiwire-2026-04-09-safetensors",
                "AI Wire",
                "media",
                "2026-04-09T10:00:00+00:00",
                "Safetensors moves to the PyTorch Foundation",
                "Hugging Face handed safetensors to a foundation.",
                "https://aiwire.example/2026/04/09/safetensors-pytorch-foundation",
            ),
        ],
    )
    codex = CorpusEvent(
        "openai-codex-everything",
        "OpenAI releases Codex for (almost) everything",
        "agents",
        "verified-by-official",
        66.0,
        [
            CorpusItem(
                "https://openai.com/index/codex-for-almost-everything/",
                "OpenAI",
                "official",
                "2026-04-16T08:00:00-07:00",
                "Codex for (almost) everything",
                "Codex now works across long-running tasks beyond code.",
                "https://openai.com/index/codex-for-almost-everything/",
            ),
            _x(
                "2044797964907474945",
                "OpenAIDevs",
                "2026-04-16T16:00:00+00:00",
                "Codex now handles (almost) everything: docs, spreadsheets, long tasks.",
                "fact",
                12000,
                official_for="OpenAI",
            ),
        ],
    )
    rsp = CorpusEvent(
        "anthropic-rsp-update",
        "Anthropic updates its Responsible Scaling Policy",
        "policy",
        "verified-by-official",
        58.0,
        [
            CorpusItem(
                "https://www.anthropic.com/news/updating-our-responsible-scaling-policy",
                "Anthropic",
                "official",
                "2026-04-15T08:30:00-07:00",
                "Updating our Responsible Scaling Policy",
                "We are updating our Responsible Scaling Policy.",
                "https://www.anthropic.com/news/updating-our-responsible-scaling-policy",
            ),
        ],
    )
    nemotron = CorpusEvent(
        "nemotron-ocr-v2",
        "NVIDIA releases Nemotron OCR v2 and a 1M-sample multilingual synthetic OCR dataset",
        "research",
        "verified-by-official",
        62.0,
        [
            CorpusItem(
                "https://huggingface.co/blog/nvidia/nemotron-ocr-v2",
                "Hugging Face",
                "official",
                "2026-04-17T15:00:00+00:00",
                "Building a Fast Multilingual OCR Model with Synthetic Data",
                "NVIDIA released a 1 million sample synthetic dataset covering six languages and Nemotron OCR v2. "
                "A single unified model reads English, Chinese, Japanese, Korean and Russian at 34.7 pages/s.",
                "https://huggingface.co/blog/nvidia/nemotron-ocr-v2",
            ),
        ],
    )
    rumour = CorpusEvent(
        "rumour-gpt-6-april-28",
        "Rumour: OpenAI to ship GPT-6 on April 28",
        "product",
        "unverified",
        75.0,
        [
            _x(
                "2045354360304594945",
                "leakerleaks",
                "2026-04-18T04:10:55+00:00",
                "Hearing GPT-6 ships April 28. Trust me.",
                "opinion",
                9000,
            ),
            _x("2045374350357458946", "hypeguy", "2026-04-18T05:00:00+00:00", "GPT-6 on the 28th!!", "opinion", 3000),
        ],
    )
    action = CorpusEvent(
        "arxiv-2604.06168",
        "Action Images: End-to-End Policy Learning via Multi-View Video Generation",
        "research",
        "verified-by-official",
        52.0,
        [
            CorpusItem(
                "2604.06168",
                "arXiv",
                "research",
                "2026-04-15T13:05:44+00:00",
                "Action Images: End-to-End Policy Learning via Multi-View Video Generation",
                "We introduce Action Images, which turn 7-DoF robot actions into multi-view images grounded in 2D "
                "pixels. Policy learning becomes a multi-view video generation problem. Unlike prior work, the "
                "video backbone itself acts as a zero-shot policy without a separate policy head.",
                "https://arxiv.org/abs/2604.06168",
                kind="arxiv",
            ),
            _x(
                "2045510220641234946",
                "roboresearcher",
                "2026-04-18T14:00:00+00:00",
                "Action Images is a neat idea: actions as pixels.",
                "opinion",
                800,
            ),
        ],
    )
    vga = CorpusEvent(
        "arxiv-2604.12908",
        "Robotic Manipulation is Vision-to-Geometry Mapping",
        "research",
        "verified-by-official",
        50.0,
        [
            CorpusItem(
                "2604.12908",
                "arXiv",
                "research",
                "2026-04-14T11:20:41+00:00",
                "Robotic Manipulation is Vision-to-Geometry Mapping",
                "We propose Vision-Geometry-Action, conditioning action generation on pretrained native 3D "
                "representations. It outperforms several VLA baselines on zero-shot viewpoint generalisation.",
                "https://arxiv.org/abs/2604.12908",
                kind="arxiv",
            ),
        ],
    )
    noise_event = CorpusEvent(
        "noise-event",
        "Lemon chicken recipe with an AI twist",
        "product",
        "corroborated",
        95.0,
        [
            CorpusItem(
                "aiwire-2026-04-15-sponsored-lemon-chicken",
                "AI Wire",
                "media",
                "2026-04-15T10:00:00+00:00",
                "Sponsored: the best lemon chicken",
                "A sponsored recipe.",
                "https://aiwire.example/2026/04/15/sponsored-lemon-chicken",
                off_topic=True,
            ),
        ],
    )
    old = CorpusEvent(
        "inference-chip-startups",
        "Inference chip start-ups raise money",
        "capital",
        "corroborated",
        90.0,
        [
            CorpusItem(
                "aiwire-2026-02-20-inference-chip-startups",
                "AI Wire",
                "media",
                "2026-02-20T10:00:00+00:00",
                "Inference chip start-ups raise money",
                "Old news.",
                "https://aiwire.example/2026/02/20/inference-chip-startups",
            ),
        ],
    )
    # Timezone boundaries (Asia/Shanghai is UTC+8): 23:30 on the window's last day is in,
    # 00:30 on the next day is out although it is still 2026-04-19 in UTC.
    late = CorpusEvent(
        "tz-last-evening",
        "Late evening launch",
        "product",
        "corroborated",
        20.0,
        [
            CorpusItem(
                "tz-late",
                "AI Wire",
                "media",
                "2026-04-19T15:30:00+00:00",
                "Late evening launch",
                "In.",
                "https://aiwire.example/tz-late",
            ),
        ],
    )
    after = CorpusEvent(
        "tz-after-midnight",
        "After midnight launch",
        "product",
        "corroborated",
        99.0,
        [
            CorpusItem(
                "tz-after",
                "AI Wire",
                "media",
                "2026-04-19T16:30:00+00:00",
                "After midnight launch",
                "Out.",
                "https://aiwire.example/tz-after",
            ),
        ],
    )
    first_morning = CorpusEvent(
        "tz-first-morning",
        "First morning launch",
        "product",
        "corroborated",
        21.0,
        [
            CorpusItem(
                "tz-first",
                "AI Wire",
                "media",
                "2026-04-12T16:30:00+00:00",
                "First morning launch",
                "In.",
                "https://aiwire.example/tz-first",
            ),
        ],
    )
    eve = CorpusEvent(
        "tz-eve",
        "Eve of the window launch",
        "product",
        "corroborated",
        22.0,
        [
            CorpusItem(
                "tz-eve",
                "AI Wire",
                "media",
                "2026-04-12T15:30:00+00:00",
                "Eve of the window launch",
                "Carried.",
                "https://aiwire.example/tz-eve",
            ),
        ],
    )
    loose = [
        # Dated before the lookback: never a source, never counted.
        CorpusItem(
            "https://news.microsoft.com/source/asia/?p=80133",
            "Microsoft",
            "official",
            "2026-03-01T11:00:00+09:00",
            "An older Microsoft Asia post (outside the window)",
            "An older post.",
            "https://news.microsoft.com/source/asia/?p=80133",
        ),
        CorpusItem(
            "aiwire-2026-04-15-sponsored-ad",
            "AI Wire",
            "media",
            "2026-04-15T11:00:00+00:00",
            "Sponsored: kitchen gadgets",
            "Ad.",
            "https://aiwire.example/ad",
            off_topic=True,
        ),
        _x(
            "2043715847058386947",
            "footyfan",
            "2026-04-13T15:40:03+00:00",
            "The AI offside system got it right tonight.",
            "opinion",
            379,
            off_topic=True,
        ),
        _x(
            "2045000000000000001",
            "randomtakes",
            "2026-04-16T12:00:00+00:00",
            "Agents will replace all SaaS by 2027.",
            "opinion",
            200,
        ),
        CorpusItem(
            "2604.16388",
            "arXiv",
            "research",
            "2026-04-18T08:41:27+00:00",
            "SynthDoc-ML: Synthetic Page Rendering for Multilingual OCR Pretraining",
            "We render synthetic pages for multilingual OCR pretraining.",
            "https://arxiv.org/abs/2604.16388",
            kind="arxiv",
        ),
    ]
    events = [
        funding,
        cyber,
        japan,
        gemma,
        safetensors,
        codex,
        rsp,
        nemotron,
        rumour,
        action,
        vga,
        noise_event,
        old,
        late,
        after,
        first_morning,
        eve,
    ]
    return events, loose


def xss_event() -> CorpusEvent:
    """Hostile titles, bodies and links: must come out of the HTML inert."""
    return CorpusEvent(
        "xss-event",
        XSS_TITLE,
        "product",
        "verified-by-official",
        97.0,
        [
            CorpusItem(
                "xss-official",
                "Evil <b>Corp</b>",
                "official",
                "2026-04-16T10:00:00+00:00",
                XSS_TITLE,
                'Body <script>document.cookie</script> <a href="javascript:alert(4)">x</a> '
                "<img src=x onerror=alert(5)> [link](javascript:alert(6)) <svg onload=alert(7)>",
                "https://evil.example/post?q=<script>",
            ),
            CorpusItem(
                "xss-js-link",
                "Evil Media",
                "media",
                "2026-04-16T11:00:00+00:00",
                "javascript link",
                "x",
                "javascript:alert(8)",
            ),
            _x(
                "2046000000000000001",
                "evil<script>",
                "2026-04-16T12:00:00+00:00",
                '<img src=x onerror="alert(9)"> pwned',
                "fact",
                99999,
            ),
        ],
    )


def corpus_settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        store=StoreSettings(path=tmp_path / "data" / "radar.duckdb", lock_timeout_s=10),
        digest=DigestSettings(out_dir=tmp_path / "out"),
    )


def populate(store: Store, events: list[CorpusEvent], loose: list[CorpusItem] | None = None) -> None:
    """Write events and items through the real tables, the way the processor lands them."""
    item_rows: list[list[Any]] = []
    event_rows: list[list[Any]] = []
    links: list[list[Any]] = []
    components: list[list[Any]] = []
    for event in events:
        moments = [_t(i.published) for i in event.items]
        model = Event(
            event_id=event.event_id,
            title=event.title,
            category=event.category,  # type: ignore[arg-type]
            first_seen=min(moments),
            last_seen=max(moments),
            items=len(event.items),
            publishers=len({i.publisher for i in event.items}),
            signal_score=event.score,
            components=(ScoreComponent(name="authority", points=event.score, reason="source authority"),),
            verification=event.verification,  # type: ignore[arg-type]
        )
        event_rows.append(
            [
                model.event_id,
                model.title,
                model.category,
                model.verification,
                model.signal_score,
                model.first_seen,
                model.last_seen,
                model.items,
                model.publishers,
                model.model_dump_json(by_alias=True),
            ]
        )
        components.append([event.event_id, "authority", event.score, "source authority"])
        for item in event.items:
            item_rows.append(_item_row(item, event.event_id, event.category))
            links.append([event.event_id, item.item_id])
    for item in loose or []:
        item_rows.append(_item_row(item, None, None))
    with store.write() as con:
        con.executemany(
            "INSERT INTO items (item_id, kind, source_name, source_kind, tier, publisher, url, canonical_url, title,"
            " text, lang, published_at, updated_at, handle, duplicate_of, duplicate_kind, category, item_type,"
            " event_id, engagement, record)"
            " VALUES (?, 'post', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            item_rows,
        )
        if event_rows:
            con.executemany(
                "INSERT INTO events (event_id, title, category, verification, signal_score, first_seen, last_seen,"
                " items, publishers, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                event_rows,
            )
            con.executemany("INSERT INTO event_items (event_id, item_id) VALUES (?, ?)", links)
            con.executemany("INSERT INTO score_components VALUES (?, ?, ?, ?)", components)


def _item_row(item: CorpusItem, event_id: str | None, category: str | None) -> list[Any]:
    model = item.model(event_id, category)
    # The record exactly as the sink writes it (noise carries "off_topic": true).
    record = model.model_dump_json(by_alias=True)
    return [
        model.item_id,
        model.source.name,
        model.source.kind,
        model.source.tier,
        model.source.publisher,
        model.url,
        model.canonical_url,
        model.title,
        model.text,
        model.lang,
        model.published_at,
        model.updated_at,
        model.handle,
        model.duplicate_of,
        model.duplicate_kind,
        model.category,
        model.item_type,
        event_id,
        model.engagement,
        record,
    ]


def add_dead_letters(store: Store) -> None:
    rows = [
        ["dl-1", "normalize", "bad charset", datetime(2026, 4, 14, 3, tzinfo=UTC)],
        ["dl-2", "envelope", "invalid JSON", datetime(2026, 4, 18, 3, tzinfo=UTC)],
        ["dl-old", "envelope", "invalid JSON", datetime(2026, 3, 1, 3, tzinfo=UTC)],
    ]
    with store.write() as con:
        con.executemany(
            "INSERT INTO dead_letters (dead_letter_id, stage, reason, occurred_at) VALUES (?, ?, ?, ?)", rows
        )
