"""Issue 12 rules of the digest's content, on the sample week and on small hand-made events:
Chinese headlines, labelled localised figures, no repeated sentence, clean titles, empty windows."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.digest_corpus import WINDOW_END, configure_test_prefect, corpus_settings, populate, week

configure_test_prefect()

from flows.digest import build_digest  # noqa: E402
from flows.digest_content import Playbook, SourceItem, labelled_facts, prose_sentences  # noqa: E402
from flows.digest_headline import event_headline  # noqa: E402
from flows.digest_render import render_html, render_markdown  # noqa: E402
from flows.digest_text import clean_title, has_url, is_cjk  # noqa: E402
from infra.config import Settings  # noqa: E402
from infra.store import Store  # noqa: E402
from schemas.digest import Digest  # noqa: E402

NOW = datetime(2026, 4, 20, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def week_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, Settings]:
    settings = corpus_settings(tmp_path_factory.mktemp("rules"))
    store = Store(settings.store.path, settings.store.lock_timeout_s)
    events, loose = week()
    populate(store, events, loose)
    return store, settings


@pytest.fixture(scope="module")
def built(week_store: tuple[Store, Settings]) -> dict[str, Digest]:
    store, settings = week_store
    return {lang: build_digest(store, settings, WINDOW_END, lang=lang, now=NOW) for lang in ("zh", "en")}


def _prose(digest: Digest) -> list[str]:
    fields = [digest.overview, *digest.conclusions, digest.business_analysis]
    for event in digest.top_events:
        fields += [event.what_happened, event.why_it_matters, event.implications]
    fields += [s.judgment for s in digest.x_signals]
    for paper in digest.research:
        fields += [paper.what, paper.novelty, paper.applications, paper.judgment]
    return [s.rstrip("。.!！?？") for f in fields for s in prose_sentences(f)]


def _item(item_id: str, title: str, text: str = "", *, tier: str = "official", lang: str = "en",
          publisher: str = "Microsoft", amounts: tuple[tuple[str, float, str], ...] = (),
          organisations: tuple[str, ...] = (), products: tuple[str, ...] = (), source_kind: str = "feed",
          duplicate_of: str | None = None) -> SourceItem:
    entities: dict[str, Any] = {
        "amounts": [{"text": t, "value": v, "unit": u} for t, v, u in amounts],
        "organisations": list(organisations), "products": list(products),
    }
    return SourceItem(item_id=item_id, event_id="ev", source_kind=source_kind, tier=tier, publisher=publisher,
                      url=f"https://example.com/{item_id}", canonical_url=None, title=title, text=text, lang=lang,
                      published_at=datetime(2026, 4, 3, tzinfo=UTC), entities=entities, duplicate_of=duplicate_of)


# --- no sentence repeats --------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_no_sentence_repeats_within_a_digest(built: dict[str, Digest], lang: str) -> None:
    sentences = _prose(built[lang])
    repeated = {s for s in sentences if sentences.count(s) > 1}
    assert sentences and not repeated


# --- headlines ------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_no_url_emoji_or_fragment_in_a_headline(built: dict[str, Digest], lang: str) -> None:
    digest = built[lang]
    titles = [e.title for e in digest.top_events] + [r.title for r in digest.research]
    titles += [s.event_title for s in digest.x_signals if s.event_title]
    for title in titles:
        assert not has_url(title), title
        assert "🚨" not in title and "💎" not in title


def test_no_english_only_headline_in_zh_when_a_chinese_member_exists(
    week_store: tuple[Store, Settings], built: dict[str, Digest]
) -> None:
    with week_store[0].read() as con:
        with_zh = {r[0] for r in con.execute(
            "SELECT DISTINCT event_id FROM items WHERE lang LIKE 'zh%' AND tier <> 'social'").fetchall()}
    checked = [e for e in built["zh"].top_events if e.id in with_zh]
    assert len(checked) == 2  # the funding round and the cyber launch carry 新智观察 articles
    for event in built["zh"].top_events:
        assert is_cjk(event.title), event.title  # every Top-5 headline in zh is Chinese, composed or not
    assert built["zh"].top_events[0].title == "OpenAI 完成 1220 亿美元融资，投后估值 8520 亿美元"


def test_english_digest_keeps_english_headlines(built: dict[str, Digest]) -> None:
    titles = [e.title for e in built["en"].top_events]
    assert titles[0] == "OpenAI raises $122 billion at an $852 billion post-money valuation"
    assert not any(is_cjk(t) for t in titles)


def test_composed_headline_is_actor_action_figure() -> None:
    book = Playbook.load("zh")
    items = [
        _item("ms", "Microsoft deepens its commitment to Japan with $10 billion investment",
              "Microsoft will invest $10 billion in Japan between 2026 and 2029 in AI infrastructure.",
              amounts=(("$10 billion", 10e9, "USD"),), organisations=("Microsoft",)),
        _item("bb", "Microsoft Charts $10 Billion Investment Plan", "Microsoft will spend $10 billion.",
              tier="media", publisher="Bloomberg", amounts=(("$10", 10.0, "USD"),)),
    ]
    assert event_headline("Microsoft to invest", "infrastructure", "verified-by-official", items, book) == (
        "微软宣布 2026–2029 年在日本投资 100 亿美元")


def test_a_chinese_member_headline_wins_even_as_a_resend() -> None:
    book = Playbook.load("zh")
    items = [
        _item("en", "Safetensors is Joining the PyTorch Foundation", publisher="Hugging Face",
              organisations=("Hugging Face",)),
        _item("zh", "safetensors 加入 PyTorch 基金会：开源模型分发迎来中立治理 https://t.co/abc", tier="media",
              publisher="新智观察", lang="zh", duplicate_of="en"),
    ]
    assert event_headline("Safetensors", "open-source", "verified-by-official", items, book) == (
        "safetensors 加入 PyTorch 基金会：开源模型分发迎来中立治理")


@pytest.mark.parametrize(
    ("category", "items", "expected"),
    [
        # no official source: an outlet or a post names an organisation, which is no actor
        ("on-device", [_item("p", "Love this: Gemma 4 running locally on Apple silicon", tier="social",
                             publisher="X", organisations=("Apple",), products=("Gemma 4",), source_kind="x")],
         "Love this: Gemma 4 running locally on Apple silicon"),
        # the phrase table needs an action word in the source: none, so only who published what
        ("agents", [_item("o", "Codex for (almost) everything", "Codex, at your service.", publisher="OpenAI",
                          organisations=("OpenAI",), products=("Codex",))],
         "OpenAI：Codex for (almost) everything"),
        ("open-source", [_item("h", "Safetensors is Joining the PyTorch Foundation",
                               "Safetensors is now a foundation-hosted project.", publisher="Hugging Face",
                               organisations=("Hugging Face", "PyTorch Foundation"))],
         "Hugging Face 宣布 Safetensors 加入 PyTorch 基金会"),
        ("on-device", [_item("g", "Announcing Gemma 4 in the AI Core Developer Preview",
                             "Gemma 4 is now available in AI Core.", publisher="Android Developers Blog",
                             organisations=("Google",), products=("AI Core", "Gemma 4"))],
         "谷歌将 Gemma 4 接入 AI Core"),
    ],
    ids=["no-official-actor", "no-action-word", "join", "bring"],
)
def test_phrase_table(category: str, items: list[SourceItem], expected: str) -> None:
    assert event_headline(items[0].title, category, "corroborated", items, Playbook.load("zh")) == expected


def test_unverified_headline_is_marked_as_a_rumour() -> None:
    post = _item("r", "", "Hearing GPT-6 ships April 28.", tier="social", publisher="X", source_kind="x")
    title = event_headline("🚨 SCOOP: OpenAI will ship GPT-6 on April 28, per a memo. Announcement event ", "product",
                           "unverified", [post], Playbook.load("zh"))
    assert title == "传闻：OpenAI will ship GPT-6 on April 28, per a memo"


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Love this: fine-tuning on Apple silicon. 💎 https://t.co/HdU", "Love this: fine-tuning on Apple silicon"),
        ("🚨 SCOOP: OpenAI has finished GPT-6, per an internal memo. Announcement event ",
         "OpenAI has finished GPT-6, per an internal memo"),
        ("Reminder: submissions close Friday. Short papers welcome. htt", "Reminder: submissions close Friday"),
        ("We've raised $122B https://t.co/x1", "We've raised $122B"),
    ],
)
def test_clean_title(raw: str, clean: str) -> None:
    assert clean_title(raw) == clean
    assert not has_url(clean_title(raw))


# --- facts ----------------------------------------------------------------------------------------


def _funding_items() -> list[SourceItem]:
    return [
        _item("o", "OpenAI raises $122 billion", "We closed our round with $122 billion in committed capital at a "
              "post-money valuation of $852 billion. We now generate $2 billion in revenue every month.",
              publisher="OpenAI", amounts=(("$122 billion", 122e9, "USD"), ("$852 billion", 852e9, "USD"),
                                           ("$2 billion", 2e9, "USD"))),
        _item("b", "OpenAI Raises $122 Billion in Round Valuing It at $852 Billion", "", tier="media",
              publisher="Bloomberg", amounts=(("$122", 122.0, "USD"), ("$852", 852.0, "USD"))),
        _item("z", "OpenAI 完成 1220 亿美元融资", "投后估值 8520 亿美元，月收入已达 20 亿美元。", tier="media",
              publisher="新智观察", lang="zh", amounts=(("1220 亿美元", 122e9, "USD"), ("8520 亿美元", 852e9, "USD"))),
        _item("m", "Numbers", "It has 7 offices and a ratio of 3x.", tier="media", publisher="Wire",
              amounts=(("7", 7.0, "count"), ("3x", 3.0, "ratio"))),
    ]


def test_facts_are_localised_labelled_and_each_figure_once() -> None:
    zh = labelled_facts(_funding_items(), Playbook.load("zh"))
    assert zh == ["融资额：1220 亿美元", "投后估值：8520 亿美元", "月收入：20 亿美元"]
    en = labelled_facts(_funding_items(), Playbook.load("en"))
    assert en == ["Funding: $122 billion", "Post-money valuation: $852 billion", "Monthly revenue: $2 billion"]
    # the partial "$122" never appears beside "1220 亿美元"; unlabelled "7" and "3x" are not shown
    assert not any("$" in f or "3 倍" in f or "：7" in f for f in zh)


def test_counts_and_periods_are_localised_with_their_context() -> None:
    items = [_item("ms", "Microsoft invests $10 billion in Japan",
                   "Microsoft will invest $10 billion in Japan between 2026 and 2029. It will train more than "
                   "1 million people by 2030.", amounts=(("$10 billion", 10e9, "USD"), ("1 million", 1e6, "count")))]
    assert labelled_facts(items, Playbook.load("zh")) == ["投资额：100 亿美元（2026–2029 年）", "培训人数：超过 100 万"]


# --- empty and thin windows -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lang", "line"), [("zh", "本窗口没有达到门槛的新事件"), ("en", "Nothing in this window met the bar")]
)
def test_empty_window_says_so_once(tmp_path: Path, lang: str, line: str) -> None:
    settings = corpus_settings(tmp_path)
    digest = build_digest(Store(settings.store.path), settings, WINDOW_END, lang=lang, now=NOW)  # type: ignore[arg-type]
    markdown = render_markdown(digest)
    assert markdown.count(line) == 1
    assert "Top 0" not in markdown and "## " + Playbook.load(lang).label("conclusions") not in markdown  # type: ignore[arg-type]
    assert len(digest.conclusions) == 3 and len(set(digest.conclusions)) == 3  # the §6 contract, all different
    assert "<svg" not in render_html(digest)


def test_thin_window_has_three_different_conclusions(tmp_path: Path) -> None:
    settings = corpus_settings(tmp_path)
    store = Store(settings.store.path)
    events, _ = week()
    populate(store, [e for e in events if e.event_id == "openai-codex-everything"])
    digest = build_digest(store, settings, WINDOW_END, lang="zh", now=NOW)
    assert len(digest.top_events) == 1
    assert len(set(digest.conclusions)) == 3
    assert "今日 Top 1 大事件" in render_markdown(digest)
