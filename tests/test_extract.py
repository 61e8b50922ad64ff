"""Extract: organisations, models, people, handles, amounts and dates across zh and en."""

from __future__ import annotations

from datetime import UTC, datetime

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas.common import SourceRef
from schemas.item import Item
from transforms.extract import Extract, extract_amounts, extract_dates, extract_entities, extract_item

SOURCE = SourceRef(name="xinzhi", kind="feed", tier="media", publisher="新智观察", url="https://xz.example/rss")


@pytest.mark.parametrize(
    ("text", "lang", "value", "unit"),
    [
        ("OpenAI raised $122 billion", "en", 122e9, "USD"),
        ("完成 1220 亿美元融资", "zh", 122e9, "USD"),
        ("a 122B USD round", "en", 122e9, "USD"),
        ("投资 100 亿美元", "zh", 10e9, "USD"),
        ("投后估值 8520 亿美元", "zh", 852e9, "USD"),
        ("an $852B post-money valuation", "en", 852e9, "USD"),
        ("US$10bn for Japan", "en", 10e9, "USD"),
        ("融资¥5亿", "zh", 5e8, "CNY"),
        ("融资 5 亿元", "zh", 5e8, "CNY"),
        ("a ¥3 billion deal", "en", 3e9, "JPY"),
        ("€3 million grant", "en", 3e6, "EUR"),
        ("速度最高提升 4 倍", "zh", 4, "ratio"),
        ("up to 4x faster", "en", 4, "ratio"),
        ("Copilot in 94% of the Nikkei 225", "en", 94, "percent"),
        ("train 1 million engineers", "en", 1e6, "count"),
        ("培训 100 万名工程师", "zh", 1e6, "count"),
        ("1M-person skilling", "en", 1e6, "count"),
    ],
)
def test_amounts_normalize_across_languages(text: str, lang: str, value: float, unit: str) -> None:
    amounts = extract_amounts(text, lang)
    assert [(a.value, a.unit) for a in amounts] == [(value, unit)]


def test_same_amount_in_two_spellings_is_listed_once() -> None:
    amounts = extract_amounts("$122 billion (1220 亿美元) and $2 billion a month", "en")
    assert [(a.text, a.value) for a in amounts] == [("$122 billion", 122e9), ("$2 billion", 2e9)]


@pytest.mark.parametrize("text", ["in 2026 there were 140 languages", "GPT-5.4 and Gemma 4", "version 2.0"])
def test_bare_numbers_are_not_amounts(text: str) -> None:
    assert extract_amounts(text) == ()


@pytest.mark.parametrize(
    ("text", "dates"),
    [
        ("released 2026-04-14", ("2026-04-14",)),
        ("on April 14, 2026 and Apr. 2, 2026", ("2026-04-14", "2026-04-02")),
        ("on 14 April 2026", ("2026-04-14",)),
        ("将于 4 月 28 日发布", ("2026-04-28",)),
        ("2026年4月14日宣布", ("2026-04-14",)),
        ("2026-13-45 is no date", ()),
    ],
)
def test_dates_become_iso(text: str, dates: tuple[str, ...]) -> None:
    assert extract_dates(text, default_year=2026) == dates


def test_names_and_aliases_in_both_languages() -> None:
    entities = extract_entities(
        "OpenAI 发布 GPT-5.4-Cyber；微软、谷歌、英伟达、深度求索、抱抱脸和 PyTorch 基金会也有动作。"
        "Gemma 4 and Gemini Nano 4 and Claude Opus 4.6 — says @sama (Sam Altman), 黄仁勋 too.",
        "zh",
    )
    assert set(entities.organisations) == {
        "OpenAI",
        "Microsoft",
        "Google",
        "NVIDIA",
        "DeepSeek",
        "Hugging Face",
        "PyTorch Foundation",
    }
    assert {"GPT-5.4-Cyber", "Gemma 4", "Gemini Nano 4", "Claude Opus 4.6"} <= set(entities.products)
    assert set(entities.people) == {"Sam Altman", "Jensen Huang"}
    assert entities.handles == ("@sama",)


def test_extraction_is_deterministic() -> None:
    text = "Meta and Microsoft and OpenAI: $1 billion, 4x, 94%, April 14, 2026"
    assert extract_entities(text) == extract_entities(text)


def test_beam_stage_matches_the_plain_function() -> None:
    items = [
        Item(
            item_id="a",
            kind="page",
            source=SOURCE,
            lang="zh",
            title="OpenAI 完成 1220 亿美元融资",
            text="投后估值 8520 亿美元，于 3 月 31 日宣布。",
            published_at=datetime(2026, 4, 1, tzinfo=UTC),
        ),
        Item(item_id="b", kind="post", source=SOURCE, text="nothing to see"),
    ]
    expected = [extract_item(i) for i in items]
    assert expected[0].entities.organisations == ("OpenAI",)
    assert [(a.value, a.unit) for a in expected[0].entities.amounts] == [(122e9, "USD"), (852e9, "USD")]
    assert expected[0].entities.dates == ("2026-03-31",)
    with TestPipeline(options=PipelineOptions(runner="FnApiRunner")) as p:
        result = p | beam.Create(items) | Extract()
        assert_that(result.good, equal_to(expected), label="CheckGood")
        assert_that(result.dead_letter, equal_to([]), label="CheckDeadLetters")


@pytest.mark.parametrize(
    "text",
    [
        "3 billion", "3B USD", "5 亿元", "12x faster", "1.5 ×", "40%", "40 percent", "2 个百分点", "10  USD",
        "7 t-shirts", "Record 12 carries 3 notes", "1\tmillion", "v2 model", "no number at all", "1M-person",
    ],
)  # fmt: skip
def test_the_cheap_amount_gate_agrees_with_the_regex_gate(text: str) -> None:
    from transforms.extract import _ANY_NUMBER_AMOUNT, _may_hold_number_amount

    assert _may_hold_number_amount(text) == (_ANY_NUMBER_AMOUNT.search(text) is not None)


@pytest.mark.parametrize(
    ("text", "dates"),
    [
        ("on-device 2026-04-14 release", ("2026-04-14",)),
        ("state-of-the-art, 2026/4/1", ("2026-04-01",)),
        ("12-5 and -3 and 4-", ()),
        ("May 5 and 6 May", ("2026-05-05", "2026-05-06")),
    ],
)
def test_dates_behind_their_cheap_preconditions(text: str, dates: tuple[str, ...]) -> None:
    assert extract_dates(text, 2026) == dates
