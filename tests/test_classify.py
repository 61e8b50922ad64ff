"""Classify: bilingual categories from the data file, relevance/off-topic, social item types."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas.common import CATEGORIES, SourceRef
from schemas.item import Item
from transforms.classify import Classify, classify_item, load_classification_rules

X = SourceRef(name="x-ai", kind="x", tier="social", publisher="X", url="https://api.x.com/2/tweets/search/recent")
MEDIA = SourceRef(name="ai-wire", kind="feed", tier="media", publisher="AI Wire", url="https://www.ai-wire.news/rss")


def item(text: str, title: str = "", source: SourceRef = MEDIA, item_id: str = "i") -> Item:
    return Item(
        item_id=item_id,
        kind="post",
        source=source,
        title=title,
        text=text,
        published_at=datetime(2026, 4, 14, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("title", "text", "category"),
    [
        ("OpenAI raises $122 billion to accelerate AI", "The round values OpenAI at $852B post-money.", "capital"),
        ("OpenAI 完成 1220 亿美元融资，投后估值达 8520 亿美元", "本轮融资由多家机构领投。", "capital"),
        ("Trusted access for the next era of cybersecurity", "GPT-5.4-Cyber for defenders.", "security-access"),
        ("OpenAI 扩大“网络安全可信访问”计划", "防御专用模型需身份验证后使用。", "security-access"),
        ("Microsoft to build new AI data centers in Japan", "GPU capacity and compute for local AI.", "infrastructure"),
        ("Gemma 4 登陆 Android AI Core", "端侧模型在手机上本地运行。", "on-device"),
        ("safetensors 加入 PyTorch 基金会", "开源模型分发迎来中立治理。", "open-source"),
        ("Codex for (almost) everything", "The coding agent now runs long-running agentic workflows.", "agents"),
        (
            "Building a fast multilingual OCR model with synthetic data",
            "We propose a new benchmark; paper on arXiv.",
            "research",
        ),
        ("Anthropic updates its Responsible Scaling Policy", "Regulators watch AI governance.", "policy"),
        ("ChatGPT 推出新功能", "今天起向所有用户上线。", "product"),
    ],
)
def test_primary_category_in_both_languages(title: str, text: str, category: str) -> None:
    classified = classify_item(item(text, title))
    assert classified.category == category
    assert 0 < classified.category_confidence <= 1
    assert not classified.off_topic
    assert all(s.category != category for s in classified.secondary)


def test_secondary_categories_carry_confidences() -> None:
    classified = classify_item(
        item(
            "Microsoft will invest $10 billion in Japan in AI infrastructure, data centers and cybersecurity.",
            "Microsoft to pour $10 billion into Japan's AI build-out",
        )
    )
    assert classified.category in CATEGORIES
    assert classified.secondary, "a multi-topic story has secondary categories"
    shares = [classified.category_confidence, *(s.confidence for s in classified.secondary)]
    assert shares == sorted(shares, reverse=True) and sum(shares) <= 1.0 + 1e-9


@pytest.mark.parametrize(
    ("text", "off_topic"),
    [
        ("The AI offside system got it right tonight and the pundits still moaned. What a derby.", True),
        ("周末做了红烧肉，让 AI 帮我把菜谱换算成四人份，结果糖放多了。", True),
        ("🚀 AI TOKEN AIRDROP LIVE 🚀 first 10,000 wallets get 500 $AIX", True),
        ("Recipe: one-pan lemon garlic chicken for busy weeknights", True),
        ("GPT-5.4-Cyber comes with access tiers: verified defenders get one tier.", False),
        ("网传 OpenAI 已完成 GPT-6 训练、将于 4 月 28 日发布。", False),
        ("Gemma 4 is now in the AI Core Developer Preview on Android.", False),
    ],
)
def test_off_topic_noise_is_recognised(text: str, off_topic: bool) -> None:
    classified = classify_item(item(text, source=X))
    assert classified.off_topic is off_topic
    assert 0 <= classified.relevance <= 1


@pytest.mark.parametrize(
    ("text", "item_type"),
    [
        ("Introducing Nemotron OCR v2: one unified model for English, Chinese and Japanese documents.", "fact"),
        ("我们今天正式宣布 Gemma 4 上线 AI Core。", "fact"),
        (
            "Microsoft's $10B Japan package is the template for sovereign AI deals. Expect more bundles like this.",
            "trend",
        ),
        ("coding agent 正在变成跨工具的知识型操作员，这个趋势越来越明显。", "trend"),
        ("I think GPT-6 is overhyped, imo the leak is fake?", "opinion"),
        ("我认为这个模型被高估了。", "opinion"),
        # A scoop claims a fact (its event's verification says it is unconfirmed); a reading of where
        # things go is a trend, even after a factual first sentence (reader review).
        ("SCOOP: OpenAI has finished training GPT-6 and will ship it on April 28, per two people familiar.", "fact"),
        (
            "GPT-5.4-Cyber comes with access tiers: verified defenders on one level, teams on a higher one. "
            "Frontier cyber capability is starting to look like a licensed service.",
            "trend",
        ),
    ],
)
def test_item_type_of_social_posts(text: str, item_type: str) -> None:
    assert classify_item(item(text, source=X)).item_type == item_type


def test_non_social_items_get_no_item_type() -> None:
    assert classify_item(item("I think this is big news about AI models?")).item_type is None


def test_bad_data_file_fails_at_construction(tmp_path: Path) -> None:
    bad = tmp_path / "categories.toml"
    bad.write_text('[categories.gossip]\nen = { "rumour" = 1.0 }\n[relevance]\n[item_type]\n')
    with pytest.raises(ValueError, match="unknown categories"):
        Classify(categories_path=str(bad))
    assert load_classification_rules() is load_classification_rules()  # parsed once per process


def test_beam_stage_matches_the_plain_function() -> None:
    items = [
        item("OpenAI raises $122 billion at an $852 billion valuation.", item_id="a", source=X),
        item("周末做了红烧肉，让 AI 帮我把菜谱换算成四人份。", item_id="b", source=X),
    ]
    with TestPipeline(options=PipelineOptions(runner="FnApiRunner")) as p:
        result = p | beam.Create(items) | Classify()
        assert_that(result.good, equal_to([classify_item(i) for i in items]), label="CheckGood")
        assert_that(result.dead_letter, equal_to([]), label="CheckDeadLetters")


ARXIV = SourceRef(name="arxiv-ai", kind="arxiv", tier="research", publisher="arXiv", url="http://127.0.0.1/arxiv")


def test_a_paper_is_research_whatever_its_topic_and_keeps_the_topic_as_secondary() -> None:
    paper = classify_item(
        item(
            "We evaluate language model agents on cybersecurity vulnerability exploits "
            "and defensive tooling for security teams.",
            title="DefendBench",
            source=ARXIV,
        )
    )
    assert paper.category == "research" and paper.category_confidence == 1.0
    assert paper.secondary and paper.secondary[0].category == "security-access"
    news = classify_item(
        item(
            "We evaluate language model agents on cybersecurity vulnerability exploits "
            "and defensive tooling for security teams.",
            title="DefendBench",
        )
    )
    assert news.category == "security-access"


@pytest.mark.parametrize(
    "text",
    [
        "on-device GPT-5.4-Cyber, we're 'quoted' -- e.g. U.S. ... a.-b x- -y .z. 3.5",
        "Ünïcode café’s déjà-vu – 中文 AI",
        "",
    ],
)
def test_the_ascii_tokenizer_finds_the_regex_tokens(text: str) -> None:
    from transforms._lexicon import _TOKEN, tokens

    assert tokens(text) == _TOKEN.findall(text)
