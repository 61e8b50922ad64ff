"""Issue 12 rules of the digest's content, on the sample week and on small hand-made events:
Chinese headlines, labelled localised figures, no repeated sentence, clean titles, empty windows;
and the editorial rules (a single-source or unverified event stays out of the Top 5, one page is
featured once, research holds AI papers ranked by attention, X signals prefer posts that add
information), each on a DuckDB store written through the real tables."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.digest_corpus import (
    WINDOW_END,
    CorpusEvent,
    CorpusItem,
    _x,
    configure_test_prefect,
    corpus_settings,
    populate,
    week,
)

configure_test_prefect()

from connectors.arxiv import parse_arxiv_page  # noqa: E402
from digest.build import build_digest  # noqa: E402
from digest.content import (  # noqa: E402
    key_facts,
    labelled_facts,
    post_text,
    prose_sentences,
    research_highlight,
    x_signal,
)
from digest.headline import chinese_headline, event_headline, research_kind, research_topics  # noqa: E402
from digest.model import Playbook, SourceItem  # noqa: E402
from digest.render import render_html, render_markdown, x_heading  # noqa: E402
from digest.select import Candidate, WindowSpec, is_ai_paper, page_keys, select_events  # noqa: E402
from digest.text import clean_title, has_url, is_cjk, is_english_only  # noqa: E402
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


def _item(
    item_id: str,
    title: str,
    text: str = "",
    *,
    tier: str = "official",
    lang: str = "en",
    publisher: str = "Microsoft",
    amounts: tuple[tuple[str, float, str], ...] = (),
    organisations: tuple[str, ...] = (),
    products: tuple[str, ...] = (),
    source_kind: str = "feed",
    duplicate_of: str | None = None,
) -> SourceItem:
    entities: dict[str, Any] = {
        "amounts": [{"text": t, "value": v, "unit": u} for t, v, u in amounts],
        "organisations": list(organisations),
        "products": list(products),
    }
    return SourceItem(
        item_id=item_id,
        event_id="ev",
        source_kind=source_kind,
        tier=tier,
        publisher=publisher,
        url=f"https://example.com/{item_id}",
        canonical_url=None,
        title=title,
        text=text,
        lang=lang,
        published_at=datetime(2026, 4, 3, tzinfo=UTC),
        entities=entities,
        duplicate_of=duplicate_of,
    )


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
        with_zh = {
            r[0]
            for r in con.execute(
                "SELECT DISTINCT event_id FROM items WHERE lang LIKE 'zh%' AND tier <> 'social'"
            ).fetchall()
        }
    digest = built["zh"]
    checked = [e for e in digest.top_events if e.id in with_zh]
    assert len(checked) == 2  # the funding round and the cyber launch carry 新智观察 articles
    assert digest.top_events[0].title == "OpenAI 完成 1220 亿美元融资，投后估值 8520 亿美元"
    # Not only where a Chinese member exists: every headline a zh reader sees says something in Chinese,
    # composed from facts, from a post's author and subject, or from a paper's kind and topics.
    book = Playbook.load("zh")
    shown = [e.title for e in digest.top_events] + [x_heading(s, book) for s in digest.x_signals]
    shown += [r.title for r in digest.research]
    assert len(shown) >= 12
    assert not [t for t in shown if is_english_only(t)]


def test_english_only_measure() -> None:
    assert is_english_only("Google DeepMind：Project Mariner comes to the Gemini API: browser agents")
    assert is_english_only("Robotic Manipulation is Vision-to-Geometry Mapping")  # no Chinese at all
    assert is_english_only("谷歌：Love this: multimodal fine-tuning of Gemma 4 running locally")
    # names keep their own script in a Chinese headline
    assert not is_english_only("Google DeepMind 将 Project Mariner 接入 Gemini API")
    assert not is_english_only("safetensors 加入 PyTorch 基金会：开源模型分发迎来中立治理")
    assert not is_english_only("Action Images：机器人控制、视频生成方向的新方法")


def test_english_digest_keeps_english_headlines(built: dict[str, Digest]) -> None:
    titles = [e.title for e in built["en"].top_events]
    assert titles[0] == "OpenAI raises $122 billion at an $852 billion post-money valuation"
    assert not any(is_cjk(t) for t in titles)


def test_english_digest_uses_an_english_article_title_over_a_chinese_event_title() -> None:
    items = [
        _item("zh", "月之暗面完成 12 亿美元融资", tier="media", publisher="智能涌现日报", lang="zh"),
        _item(
            "en",
            "Moonshot AI is raising $1.2 billion at a $10 billion valuation",
            tier="media",
            publisher="The Silicon Ledger",
        ),
    ]
    assert (
        event_headline(
            "月之暗面完成 12 亿美元融资，估值 100 亿美元", "capital", "corroborated", items, Playbook.load("en")
        )
        == "Moonshot AI is raising $1.2 billion at a $10 billion valuation"
    )


def test_composed_headline_is_actor_action_figure() -> None:
    book = Playbook.load("zh")
    items = [
        _item(
            "ms",
            "Microsoft deepens its commitment to Japan with $10 billion investment",
            "Microsoft will invest $10 billion in Japan between 2026 and 2029 in AI infrastructure.",
            amounts=(("$10 billion", 10e9, "USD"),),
            organisations=("Microsoft",),
        ),
        _item(
            "bb",
            "Microsoft Charts $10 Billion Investment Plan",
            "Microsoft will spend $10 billion.",
            tier="media",
            publisher="Bloomberg",
            amounts=(("$10", 10.0, "USD"),),
        ),
    ]
    assert event_headline("Microsoft to invest", "infrastructure", "verified-by-official", items, book) == (
        "微软宣布 2026–2029 年在日本投资 100 亿美元"
    )


def test_a_chinese_member_headline_wins_even_as_a_resend() -> None:
    book = Playbook.load("zh")
    items = [
        _item(
            "en",
            "Safetensors is Joining the PyTorch Foundation",
            publisher="Hugging Face",
            organisations=("Hugging Face",),
        ),
        _item(
            "zh",
            "safetensors 加入 PyTorch 基金会：开源模型分发迎来中立治理 https://t.co/abc",
            tier="media",
            publisher="新智观察",
            lang="zh",
            duplicate_of="en",
        ),
    ]
    assert event_headline("Safetensors", "open-source", "verified-by-official", items, book) == (
        "safetensors 加入 PyTorch 基金会：开源模型分发迎来中立治理"
    )


def _post(
    item_id: str,
    text: str,
    handle: str,
    item_type: str,
    *,
    official_for: str | None = None,
    organisations: tuple[str, ...] = (),
    products: tuple[str, ...] = (),
    amounts: tuple[tuple[str, float, str], ...] = (),
) -> SourceItem:
    post = _item(
        item_id,
        "",
        text,
        tier="social",
        publisher="X",
        source_kind="x",
        organisations=organisations,
        products=products,
        amounts=amounts,
    )
    return replace(post, handle=handle, item_type=item_type, official_for=official_for)


@pytest.mark.parametrize(
    ("category", "items", "expected"),
    [
        # no official source: a post names an organisation, which is no actor; the post is named for
        # what it is (its author and subject), never quoted
        (
            "on-device",
            [
                _post(
                    "p",
                    "Love this: Gemma 4 running locally on Apple silicon",
                    "mlx_tinkerer",
                    "opinion",
                    organisations=("Apple",),
                    products=("Gemma 4",),
                )
            ],
            "X 用户 @mlx_tinkerer 评论 Gemma 4",
        ),
        # an organisation's own account commenting: still no quoted fragment
        (
            "on-device",
            [
                _post(
                    "g",
                    "Love this: multimodal fine-tuning of Gemma 4 running locally on Apple silicon",
                    "googlegemma",
                    "opinion",
                    official_for="Google",
                    organisations=("Google", "Apple"),
                    products=("Gemma 4",),
                )
            ],
            "谷歌官方账号评论 Gemma 4",
        ),
        # an organisation's own account stating a launch is composed like its announcement
        (
            "product",
            [
                _post(
                    "s",
                    "SmolVLM-3 is out: a 2B vision-language model that runs in your browser",
                    "huggingface",
                    "fact",
                    official_for="Hugging Face",
                    organisations=("Hugging Face",),
                )
            ],
            "Hugging Face 推出 SmolVLM-3",
        ),
        # no action word the table knows: only that the actor published about the product
        (
            "agents",
            [
                _item(
                    "o",
                    "Codex for (almost) everything",
                    "Codex, at your service.",
                    publisher="OpenAI",
                    organisations=("OpenAI",),
                    products=("Codex",),
                )
            ],
            "OpenAI 发布 Codex 相关公告",
        ),
        (
            "open-source",
            [
                _item(
                    "h",
                    "Safetensors is Joining the PyTorch Foundation",
                    "Safetensors is now a foundation-hosted project.",
                    publisher="Hugging Face",
                    organisations=("Hugging Face", "PyTorch Foundation"),
                )
            ],
            "Hugging Face 宣布 Safetensors 加入 PyTorch 基金会",
        ),
        (
            "on-device",
            [
                _item(
                    "g",
                    "Announcing Gemma 4 in the AI Core Developer Preview",
                    "Gemma 4 is now available in AI Core.",
                    publisher="Android Developers Blog",
                    organisations=("Google",),
                    products=("AI Core", "Gemma 4"),
                )
            ],
            "谷歌将 Gemma 4 接入 AI Core",
        ),
        # the name the headline opens with, not the platform the extractor counted most
        (
            "agents",
            [
                _item(
                    "m",
                    "Project Mariner comes to the Gemini API: browser agents for every developer",
                    "Starting today, developers can build on Project Mariner through the Gemini API.",
                    publisher="Google DeepMind",
                    organisations=("Google DeepMind",),
                    products=("Gemini",),
                ),
                _item(
                    "m2",
                    "Google opens Mariner browser agent to developers",
                    "Gemini agents.",
                    tier="media",
                    publisher="TechPulse Asia",
                    organisations=("Google",),
                    products=("Gemini",),
                ),
            ],
            "Google DeepMind 将 Project Mariner 接入 Gemini API",
        ),
        # the headline's fuller name ("Llama 4.5 Mini" over "Llama 4.5") and its key figure
        (
            "on-device",
            [
                _item(
                    "l",
                    "Llama 4.5 Mini brings on-device AI to Ray-Ban Meta glasses and Quest",
                    "Llama 4.5 Mini is a 1.2 billion parameter model built to run entirely on-device.",
                    publisher="Meta",
                    organisations=("Meta",),
                    products=("Llama 4.5",),
                    amounts=(("1.2 billion", 1.2e9, "count"),),
                )
            ],
            "Meta 推出 12 亿参数端侧模型 Llama 4.5 Mini",
        ),
        # a paper leads: its short name and a Chinese gist of its kind and topics
        (
            "research",
            [
                _item(
                    "a",
                    "Action Images: End-to-End Policy Learning via Multi-View Video Generation",
                    "We turn robot actions into images a video backbone generates.",
                    tier="research",
                    publisher="arXiv",
                    source_kind="arxiv",
                )
            ],
            "Action Images：机器人控制、视频生成方向的新方法",
        ),
    ],
    ids=[
        "no-official-actor",
        "official-account-opinion",
        "official-account-launch",
        "no-action-word",
        "join",
        "bring",
        "comes-to",
        "subject-and-figure",
        "paper",
    ],
)
def test_phrase_table(category: str, items: list[SourceItem], expected: str) -> None:
    assert event_headline(items[0].title, category, "corroborated", items, Playbook.load("zh")) == expected


@pytest.mark.parametrize(
    ("lang", "expected"),
    # A posts-only event is named by who posted on what, never the post's words, in English too.
    [
        ("zh", "传闻：X 用户 @leakzone_ai 爆料 GPT-6 相关消息"),
        ("en", "Unconfirmed: @leakzone_ai on X claims news on GPT-6"),
    ],
)
def test_unverified_headline_is_marked_as_a_rumour(lang: str, expected: str) -> None:
    post = _post("r", "🚨 SCOOP: Hearing GPT-6 ships April 28. https://t.co/x", "leakzone_ai", "opinion")
    title = event_headline(
        "🚨 SCOOP: OpenAI will ship GPT-6 on April 28, per a memo. Announcement event ",
        "product",
        "unverified",
        [post],
        Playbook.load(lang),  # type: ignore[arg-type]
    )
    assert title == expected


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Love this: fine-tuning on Apple silicon. 💎 https://t.co/HdU", "Love this: fine-tuning on Apple silicon"),
        (
            "🚨 SCOOP: OpenAI has finished GPT-6, per an internal memo. Announcement event ",
            "OpenAI has finished GPT-6, per an internal memo",
        ),
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
        _item(
            "o",
            "OpenAI raises $122 billion",
            "We closed our round with $122 billion in committed capital at a "
            "post-money valuation of $852 billion. We now generate $2 billion in revenue every month.",
            publisher="OpenAI",
            amounts=(("$122 billion", 122e9, "USD"), ("$852 billion", 852e9, "USD"), ("$2 billion", 2e9, "USD")),
        ),
        _item(
            "b",
            "OpenAI Raises $122 Billion in Round Valuing It at $852 Billion",
            "",
            tier="media",
            publisher="Bloomberg",
            amounts=(("$122", 122.0, "USD"), ("$852", 852.0, "USD")),
        ),
        _item(
            "z",
            "OpenAI 完成 1220 亿美元融资",
            "投后估值 8520 亿美元，月收入已达 20 亿美元。",
            tier="media",
            publisher="新智观察",
            lang="zh",
            amounts=(("1220 亿美元", 122e9, "USD"), ("8520 亿美元", 852e9, "USD")),
        ),
        _item(
            "m",
            "Numbers",
            "It has 7 offices and a ratio of 3x.",
            tier="media",
            publisher="Wire",
            amounts=(("7", 7.0, "count"), ("3x", 3.0, "ratio")),
        ),
    ]


def test_facts_are_localised_labelled_and_each_figure_once() -> None:
    zh = labelled_facts(_funding_items(), Playbook.load("zh"))
    assert zh == ["融资额：1220 亿美元", "投后估值：8520 亿美元", "月收入：20 亿美元"]
    en = labelled_facts(_funding_items(), Playbook.load("en"))
    assert en == ["Funding: $122 billion", "Post-money valuation: $852 billion", "Monthly revenue: $2 billion"]
    # the partial "$122" never appears beside "1220 亿美元"; unlabelled "7" and "3x" are not shown
    assert not any("$" in f or "3 倍" in f or "：7" in f for f in zh)


def test_counts_and_periods_are_localised_with_their_context() -> None:
    items = [
        _item(
            "ms",
            "Microsoft invests $10 billion in Japan",
            "Microsoft will invest $10 billion in Japan between 2026 and 2029. It will train more than "
            "1 million people by 2030.",
            amounts=(("$10 billion", 10e9, "USD"), ("1 million", 1e6, "count")),
        )
    ]
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


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_rumour_in_a_thin_windows_top_list_draws_no_conclusion_or_reading(tmp_path: Path, lang: str) -> None:
    """With too few credible events the rumour fills a Top place, flagged; it must not become a trend."""
    settings = corpus_settings(tmp_path)
    store = Store(settings.store.path)
    events, _ = week()
    populate(store, [e for e in events if e.event_id in ("openai-codex-everything", "rumour-gpt-6-april-28")])
    digest = build_digest(store, settings, WINDOW_END, lang=lang, now=NOW)  # type: ignore[arg-type]
    rumours = [e for e in digest.top_events if e.verification == "unverified"]
    assert rumours and len(digest.top_events) == 2
    for rumour in rumours:
        quoted = rumour.title.split("：", 1)[-1].split(": ", 1)[-1][:12]
        assert not any(quoted in c for c in digest.conclusions), (quoted, digest.conclusions)
        assert quoted not in digest.business_analysis, digest.business_analysis
    assert len(set(digest.conclusions)) == 3


# --- editorial rules that generalise (issue 12, item 4), on a store of their own ----------------------


def _article(
    item_id: str, publisher: str, tier: str, published: str, title: str, text: str, url: str, **extra: Any
) -> CorpusItem:
    return CorpusItem(item_id, publisher, tier, published, title, text, url, **extra)


def _credible(n: int, category: str, score: float) -> CorpusEvent:
    """A verified industry event: the lab's own post and an outlet's article."""
    return CorpusEvent(
        f"credible-{n}",
        f"Lab {n} ships product {n}",
        category,
        "verified-by-official",
        score,
        [
            _article(
                f"lab-{n}-post",
                f"Lab {n}",
                "official",
                f"2026-04-1{n % 7 + 3}T08:00:00+00:00",
                f"Lab {n} ships product {n} to enterprise customers",
                f"Lab {n} ships product {n} today.",
                f"https://lab{n}.example/news/product-{n}",
            ),
            _article(
                f"wire-{n}",
                "Wire Daily",
                "media",
                f"2026-04-1{n % 7 + 3}T12:00:00+00:00",
                f"Lab {n}'s product {n} arrives",
                f"Lab {n} shipped product {n} to enterprises.",
                f"https://wire.example/lab-{n}-product-{n}",
            ),
        ],
    )


_CATEGORIES = ["capital", "infrastructure", "on-device", "agents", "policy"]


def _rules_week() -> list[CorpusEvent]:
    """Five credible events, a single-source rumour, a one-outlet event, one page clustered twice, papers in
    and out of AI with and without attention, and posts of every kind of author."""
    events = [_credible(n, category, 80.0 - 2 * n) for n, category in enumerate(_CATEGORIES, start=1)]
    # (a) a rumour from one gossip page (and a post repeating it), and an event resting on one outlet's two
    # pages, labelled corroborated: both outscore every credible event
    events.append(
        CorpusEvent(
            "rumour",
            "Exclusive: Lab 1 to be acquired for $30 billion",
            "capital",
            "unverified",
            99.0,
            [
                _article(
                    "gossip-page",
                    "Gossip Blog",
                    "community",
                    "2026-04-17T09:00:00+00:00",
                    "Exclusive: Lab 1 to be acquired for $30 billion, sources say",
                    "Lab 1 is in talks to be acquired for $30 billion, one person says.",
                    "https://gossip.example/2026/04/17/lab-1-acquisition",
                ),
                _x(
                    "2045000000000000101",
                    "rumour_mill",
                    "2026-04-17T10:00:00+00:00",
                    "Lab 1 acquired for $30B?! https://gossip.example/2026/04/17/lab-1-acquisition",
                    "opinion",
                    50_000,
                ),
            ],
        )
    )
    events.append(
        CorpusEvent(
            "one-outlet",
            "Lab 9 cuts prices",
            "product",
            "corroborated",
            98.0,
            [
                _article(
                    "outlet-a",
                    "Tiny Wire",
                    "media",
                    "2026-04-16T09:00:00+00:00",
                    "Lab 9 cuts prices by half",
                    "Lab 9 cut its prices by half.",
                    "https://tinywire.example/lab-9-prices",
                ),
                _article(
                    "outlet-b",
                    "Tiny Wire",
                    "media",
                    "2026-04-16T10:00:00+00:00",
                    "Lab 9 price cut: what it means",
                    "Lab 9's price cut explained.",
                    "https://tinywire.example/lab-9-prices-explained",
                ),
            ],
        )
    )
    # (b) one official page clustered into two events: the feed's link and a re-posted URL, same title
    for suffix, category, score, url in (
        ("a", "product", 79.0, "https://openai.example/index/next-phase-of-ai/"),
        ("b", "open-source", 78.5, "https://openai.example/news/next-phase-of-ai"),
    ):
        events.append(
            CorpusEvent(
                f"next-phase-{suffix}",
                "The next phase of AI",
                category,
                "verified-by-official",
                score,
                [
                    _article(
                        f"next-phase-{suffix}",
                        "OpenAI",
                        "official",
                        "2026-04-15T08:00:00+00:00",
                        "The next phase of AI",
                        "AI revenue is now over 40% of our total revenue.",
                        url,
                    )
                ],
            )
        )
    # (c) papers: two AI papers the week discussed (an official post in another event links the first; an
    # article names the second), a newer AI paper nobody discussed, two newer papers of other fields, and
    # a second copy of the first paper (its v1) clustered apart
    events.append(
        CorpusEvent(
            "paper-sparse",
            "Sparse Retrieval Heads for Long-Context Language Models",
            "research",
            "verified-by-official",
            40.0,
            [
                _article(
                    "2604.11111",
                    "arXiv",
                    "research",
                    "2026-04-08T10:00:00+00:00",
                    "Sparse Retrieval Heads for Long-Context Language Models",
                    "We find the attention heads language models use to copy facts from long inputs.",
                    "https://arxiv.org/abs/2604.11111v2",
                    kind="arxiv",
                    updated="2026-04-14T10:00:00+00:00",
                    author="Tomás Ferreira, Yuki Mori",
                )
            ],
        )
    )
    events.append(
        CorpusEvent(
            "paper-sparse-v1",
            "Sparse Retrieval Heads for Long-Context Language Models",
            "research",
            "verified-by-official",
            45.0,
            [
                _article(
                    "arxiv-2604.11111v1",
                    "arXiv",
                    "research",
                    "2026-04-13T10:00:00+00:00",
                    "Sparse Retrieval Heads for Long-Context Language Models",
                    "We find the attention heads language models use to copy facts from long inputs.",
                    "https://arxiv.org/abs/2604.11111v1",
                    kind="arxiv",
                )
            ],
        )
    )
    events[3].items.append(
        _x(
            "2045000000000000102",
            "lab4",
            "2026-04-16T09:00:00+00:00",
            "Our agents now use sparse retrieval heads: https://arxiv.org/abs/2604.11111",
            "fact",
            2_000,
            official_for="Lab 4",
        )
    )
    events.append(
        CorpusEvent(
            "paper-grasp",
            "GraspVLA: Vision-Language Policies for Robot Grasping",
            "research",
            "verified-by-official",
            38.0,
            [
                _article(
                    "2604.22222",
                    "arXiv",
                    "research",
                    "2026-04-15T10:00:00+00:00",
                    "GraspVLA: Vision-Language Policies for Robot Grasping",
                    "We train vision-language policies for robot grasping from 10,000 demonstrations.",
                    "https://arxiv.org/abs/2604.22222",
                    kind="arxiv",
                    author="Ana Souza, Li Wei",
                ),
                _article(
                    "wire-grasp",
                    "Robot Weekly",
                    "media",
                    "2026-04-16T10:00:00+00:00",
                    "GraspVLA shows robots can learn to grasp from language",
                    "GraspVLA trains grasping policies.",
                    "https://robotweekly.example/graspvla",
                ),
                _x(
                    "2045000000000000103",
                    "ana_souza",
                    "2026-04-16T11:00:00+00:00",
                    "Our GraspVLA paper is out: 10,000 demonstrations, one policy.",
                    "fact",
                    300,
                    author="Ana Souza",
                ),
                _x(
                    "2045000000000000104",
                    "robo_fan",
                    "2026-04-18T11:00:00+00:00",
                    "GraspVLA is cool but robots are overhyped.",
                    "opinion",
                    5_000,
                ),
            ],
        )
    )
    for n, (arxiv_id, title, text, published, score) in enumerate(
        (
            (
                "2604.33333",
                "Diffusion Models for Precipitation Nowcasting",
                "We train diffusion models on radar sequences for nowcasting.",
                "2026-04-19T01:00:00+00:00",
                36.0,
            ),
            (
                "2604.44444",
                "Thermal Ageing of Distribution Transformers under Heat Waves: A Field Dataset",
                "We measure transformer oil temperatures across 400 substations.",
                "2026-04-19T02:00:00+00:00",
                90.0,
            ),
            (
                "2604.55555",
                "A Census of Ultra-Diffuse Galaxies in the Perseus Cluster",
                "We identify 212 ultra-diffuse galaxies with deep imaging.",
                "2026-04-19T03:00:00+00:00",
                88.0,
            ),
        )
    ):
        events.append(
            CorpusEvent(
                f"paper-{n}",
                title,
                "research",
                "verified-by-official",
                score,
                [
                    _article(
                        arxiv_id,
                        "arXiv",
                        "research",
                        published,
                        title,
                        text,
                        f"https://arxiv.org/abs/{arxiv_id}",
                        kind="arxiv",
                    )
                ],
            )
        )
    # (d) an organisation's own post is the only report of its launch; a bigger small account comments on it
    events.append(
        CorpusEvent(
            "lab-x-launch",
            "Lab X launches a browser agent",
            "product",
            "verified-by-official",
            30.0,
            [
                _x(
                    "2045000000000000105",
                    "labx",
                    "2026-04-15T08:00:00+00:00",
                    "Lab X Agent is live: a browser agent that books, buys and files for you.",
                    "fact",
                    3_000,
                    official_for="Lab X",
                ),
                _x(
                    "2045000000000000106",
                    "hot_takes",
                    "2026-04-17T08:00:00+00:00",
                    "Browser agents are a fad.",
                    "opinion",
                    20_000,
                ),
            ],
        )
    )
    # (d) a Top-5 event: a desk reports it first, the lab's own post repeats its article, a take days later
    events[0].items += [
        _x(
            "2045000000000000107",
            "scoop_desk",
            "2026-04-14T07:30:00+00:00",
            "Lab 1 is shipping product 1 to enterprises this morning, per two customers.",
            "fact",
            800,
        ),
        _x(
            "2045000000000000108",
            "lab1",
            "2026-04-14T08:05:00+00:00",
            "Product 1 is here for enterprise customers.",
            "fact",
            90_000,
            official_for="Lab 1",
        ),
        _x(
            "2045000000000000109",
            "late_take",
            "2026-04-18T08:00:00+00:00",
            "Product 1 changes everything, again.",
            "opinion",
            10_000,
        ),
    ]
    return events


@pytest.fixture(scope="module")
def rules_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, Settings]:
    settings = corpus_settings(tmp_path_factory.mktemp("editorial"))
    store = Store(settings.store.path, settings.store.lock_timeout_s)
    populate(store, _rules_week())
    return store, settings


@pytest.fixture(scope="module")
def rules_digest(rules_store: tuple[Store, Settings]) -> Digest:
    store, settings = rules_store
    return build_digest(store, settings, WINDOW_END, lang="zh", now=NOW)


def _window(settings: Settings) -> WindowSpec:
    return WindowSpec.ending(WINDOW_END, 7, settings.digest.timezone, settings.digest.lookback_days)


def test_single_source_or_unverified_events_stay_out_of_the_top5(
    rules_store: tuple[Store, Settings], rules_digest: Digest
) -> None:
    store, settings = rules_store
    with store.read() as con:
        selection = select_events(con, _window(settings))
    credible = [c.event_id for c in selection.ranked if c.credible]
    assert len(credible) >= 5
    top = [e.id for e in rules_digest.top_events]
    assert "rumour" not in top and "one-outlet" not in top  # they score 99 and 98, the credible ones at most 79
    assert {c.event_id: c.credible for c in selection.ranked}["one-outlet"] is False  # one outlet, two pages
    # the rumour's post may be shown, flagged as unverified, never as fact
    rumour_posts = [s for s in rules_digest.x_signals if s.tweet_id == "2045000000000000101"]
    assert rumour_posts and rumour_posts[0].verification == "unverified"
    markdown = render_markdown(rules_digest)
    assert "未经证实" in markdown.split("@rumour\\_mill", 1)[1].split("###", 1)[0]


def test_an_unverified_event_fills_the_top5_only_when_too_few_credible_ones_exist(tmp_path: Path) -> None:
    settings = corpus_settings(tmp_path)
    store = Store(settings.store.path)
    populate(store, [e for e in _rules_week() if e.event_id in ("credible-1", "credible-2", "rumour", "one-outlet")])
    with store.read() as con:
        top = [c.event_id for c in select_events(con, _window(settings)).top]
    assert top == ["credible-1", "credible-2", "rumour", "one-outlet"]  # credible first, then the rest


def test_one_page_is_featured_once(rules_store: tuple[Store, Settings], rules_digest: Digest) -> None:
    top = [e.id for e in rules_digest.top_events]
    assert "next-phase-a" in top and "next-phase-b" not in top  # the same page, clustered twice
    store, settings = rules_store
    with store.read() as con:
        ranked = [c.event_id for c in select_events(con, _window(settings)).ranked]
    assert "next-phase-b" not in ranked  # nor anywhere else the digest names ranked events
    shown: list[frozenset[str]] = [
        page_keys(s.url, s.canonical_url, s.publisher, s.title or "")
        for e in rules_digest.top_events
        for s in e.sources
    ]
    shown += [frozenset({f"arxiv:{r.arxiv_id}"}) for r in rules_digest.research]
    for i, keys in enumerate(shown):
        for other in shown[i + 1 :]:
            assert not keys & other, keys & other
    assert sum(1 for r in rules_digest.research if r.arxiv_id == "2604.11111") == 1  # v1 and v2: one paper


def test_page_keys_name_one_page_by_url_or_by_title_at_its_publisher() -> None:
    a = page_keys(
        "https://www.openai.example/index/next-phase-of-ai/?utm_source=rss", None, "OpenAI", "The next phase of AI"
    )
    assert a & page_keys("http://openai.example/index/next-phase-of-ai", None, "Other", "Another title here")
    assert a & page_keys("https://openai.example/news/other-url", None, "OpenAI", "The Next Phase of AI!")
    assert not a & page_keys("https://wire.example/x", None, "Wire", "The next phase of AI")  # another publisher
    assert page_keys("https://arxiv.org/abs/2604.11111v2", None, "arXiv", "") == page_keys(
        "https://arxiv.org/pdf/2604.11111v1", None, "arXiv", ""
    )


def test_research_holds_ai_papers_ranked_by_attention(rules_digest: Digest) -> None:
    got = [r.arxiv_id for r in rules_digest.research]
    # the paper an official post links (in another event) and the paper an article and its author discuss
    # come first; then the newer AI paper nobody discussed; never the newer papers of other fields
    assert set(got[:2]) == {"2604.11111", "2604.22222"} and got[2:] == ["2604.33333"]


@pytest.mark.parametrize(
    ("title", "text", "categories", "expected"),
    [
        ("Thermal Ageing of Distribution Transformers", "Transformer oil temperature in a field dataset.", (), False),
        (
            "An Agent-Based Model of Housing Markets",
            "Agents search for flats; the dataset covers three cities.",
            (),
            False,
        ),
        ("Anomalous Diffusion in Crowded Membranes", "Diffusion of tracers.", (), False),
        ("GraspVLA", "Vision-language policies for robot grasping.", (), True),
        ("长上下文大模型的检索头", "我们分析语言模型如何复制事实。", (), True),
        ("A paper", "with no AI words", ("cs.CL",), True),
        ("Language models everywhere", "A language model study.", ("astro-ph.GA",), False),  # its category rules
    ],
)
def test_ai_papers_by_category_or_by_their_terms(
    title: str, text: str, categories: tuple[str, ...], expected: bool
) -> None:
    assert is_ai_paper(title, text, categories) is expected


def test_x_signals_prefer_posts_that_add_information(rules_digest: Digest) -> None:
    by_id = {s.tweet_id: s for s in rules_digest.x_signals}
    # the lab's own post is the only report of its launch: it beats a bigger small account's take
    assert "2045000000000000105" in by_id and "2045000000000000106" not in by_id
    # the paper's author beats a bigger account's opinion on the paper
    assert "2045000000000000103" in by_id and "2045000000000000104" not in by_id
    assert "GraspVLA" in by_id["2045000000000000103"].judgment
    # on a Top-5 event, the desk that reported it first beats the lab's own post repeating its article
    assert "2045000000000000107" in by_id and "2045000000000000108" not in by_id
    assert "最早" in by_id["2045000000000000107"].judgment
    for signal in rules_digest.x_signals:
        assert signal.type in ("fact", "trend", "opinion")
        assert signal.judgment
    assert [s.verification for s in rules_digest.x_signals][-1] == "unverified"  # the rumour, last


# Every arXiv paper of both labelled weeks, and the kind its title and abstract make it.
_KINDS = {
    "SynthDoc-ML": "dataset",
    "Long-Horizon Workflow Agents": "benchmark",
    "Running Multimodal Small": "measurement",
    "Access Tiers for Dual-Use": "method",
    "DefendBench": "benchmark",
    "Robotic Manipulation is": "method",
    "Device-Aware Zero-Copy": "efficiency",
    "Still Unpickling": "measurement",
    "Action Images": "method",
    "Quantization-Aware Distillation": "efficiency",
    "Anomalous Diffusion": "method",
    # "… while leaving short-context benchmarks unchanged": evaluated on benchmarks, it offers none.
    "Retrieval Heads Revisited": "measurement",
    "Sparse Mixture Routing": "efficiency",
    "Thermal Ageing": "dataset",
    "An Agent-Based Model": "method",
    "Tool-Call Drift": "measurement",
    "A Census of Ultra-Diffuse": "method",
    "Lean-Scaled": "method",
    "Curriculum Reinforcement Learning": "method",
    "Low-Rank Adapters": "method",
}


def test_research_kind_of_every_paper_of_both_weeks() -> None:
    corpora = Path(__file__).resolve().parent.parent / "connectors"
    found: dict[str, str] = {}
    pages = [*corpora.glob("sample_corpus/site/arxiv/*.xml"), *corpora.glob("sample_corpus_week2/site/arxiv/*.xml")]
    assert len(pages) >= 2
    for page in sorted(pages):
        for entry in parse_arxiv_page(page.read_bytes(), content_type="application/atom+xml").entries:
            title = " ".join(entry["title"].split())
            key = next(k for k in _KINDS if title.startswith(k))
            found[key] = research_kind(title, " ".join((entry["summary"] or "").split()))
    assert found == _KINDS


@pytest.mark.parametrize(
    ("title", "abstract", "kind"),
    [
        # where the word stands: a contribution the paper states beats a title word of another kind
        ("Latency and Energy of Small Models on Phones", "We measure latency and energy of six models.", "measurement"),
        # the title beats a contribution stated later and any mere mention
        (
            "SynthPages: Synthetic Page Rendering for OCR",
            "We present a renderer. We analyse what matters. We measure speed.",
            "dataset",
        ),
        ("Sparse Heads", "We introduce a benchmark of 300 retrieval tasks.", "benchmark"),
        ("Sparse Heads", "We show that pruning heads leaves standard benchmarks unchanged.", "method"),
        ("Sparse Heads", "We prune heads. Results on three benchmarks and two datasets improve.", "method"),
        ("Sparse Heads", "We prune heads. We also release a dataset of 10k prompts.", "dataset"),
        ("Sparse Heads", "We prune heads. Energy per token drops by 2x.", "efficiency"),
        ("HeadBench: Evaluating Retrieval Heads", "We compare models on existing benchmarks.", "benchmark"),
    ],
)
def test_research_kind_weighs_where_the_word_stands(title: str, abstract: str, kind: str) -> None:
    assert research_kind(title, abstract) == kind


# --- X posts are quoted whole; publishers are counted by voice (reader review, issue 11 stop) ---------


def _candidate(title: str, verification: str = "verified-by-official") -> Candidate:
    at = datetime(2026, 4, 14, 15, 0, tzinfo=UTC)
    return Candidate("ev", title, "security-access", verification, 80.0, at, at, 3, 3, 3, False)


def test_a_post_is_quoted_whole_and_a_cut_is_marked() -> None:
    """A lead of two sentences dropped the post's last one, the author's own reading, with no mark;
    the post was then typed and judged on what was left."""
    text = (
        "GPT-5.4-Cyber comes with access tiers: verified individual defenders on one level, teams protecting "
        "critical software on a higher one. Identity verification first, capability second. Frontier cyber "
        "capability is starting to look like a licensed service. https://t.co/npSQGiCAtT"
    )
    post = replace(_post("x:2044088418694098945", text, "AndrewCurran_", "trend"), url=None)
    book = Playbook.load("en")
    signal = x_signal(post, _candidate("OpenAI introduces GPT-5.4-Cyber"), [post], book)
    assert signal.text == text.removesuffix(" https://t.co/npSQGiCAtT")
    long = _post("q", "word " * 200, "AndrewCurran_", "opinion")
    quoted = post_text(long)
    assert quoted.endswith("…") and len(quoted) <= 601 and quoted.startswith("word word")


def test_coverage_counts_voices_not_the_platform_or_a_company_twice() -> None:
    """Every post's publisher is "X": four items (a company's blog, its own X account, two outlets)
    were "4 independent publishers"; and two different accounts are two voices, not one platform."""
    items = [
        replace(
            _item("blog", "Safetensors joins the PyTorch Foundation", publisher="Hugging Face"),
            official_for="Hugging Face",
        ),
        _post(
            "own", "safetensors is joining the PyTorch Foundation", "huggingface", "fact", official_for="Hugging Face"
        ),
        _item("wire", "Safetensors moves to PyTorch Foundation", tier="media", publisher="AI Wire"),
        _item("xz", "safetensors 加入 PyTorch 基金会", tier="media", publisher="新智观察", lang="zh"),
        _post("a", "safetensors governance is good news", "dev_zhang", "opinion"),
        _post("b", "safetensors in PyTorch Foundation, finally", "kaito_ml", "opinion"),
    ]
    window = WindowSpec.ending(datetime(2026, 4, 19).date(), 7, "Asia/Shanghai", 14)
    facts = key_facts(_candidate("Safetensors joins the PyTorch Foundation"), items, Playbook.load("en"), window)
    assert facts[-1] == "Coverage: 6 related items from 5 independent publishers"


def test_an_english_digest_names_an_official_accounts_post_by_the_account() -> None:
    official = _post(
        "g",
        "Love this: multimodal fine-tuning of Gemma 4 on Apple silicon",
        "googlegemma",
        "trend",
        official_for="Google",
    )
    title = event_headline(
        "Love this: multimodal fine-tuning of Gemma 4 on Apple silicon",
        "on-device",
        "verified-by-official",
        [replace(official, entities={"products": ["Gemma 4"], "organisations": ["Google"], "amounts": []})],
        Playbook.load("en"),
    )
    assert title == "Google's own account on where Gemma 4 is heading"


def test_the_category_tally_counts_the_events_the_overview_counts(tmp_path: Path) -> None:
    """The JSON's category_signal summed to more events than "N items gathered into M events": it
    counted every event of the two-week lookback. Now: the window's events, plus the featured ones
    carried over from before it (which the overview names separately)."""
    settings = corpus_settings(tmp_path)
    store = Store(settings.store.path)
    events, loose = week()
    old = CorpusEvent(
        "old-policy-paper",
        "A policy note from before the window",
        "policy",
        "corroborated",
        10.0,
        [
            CorpusItem("old-1", "AI Wire", "media", "2026-04-09T08:00:00+00:00", "A policy note", "Old news."),
            CorpusItem("old-2", "Policy Daily", "media", "2026-04-10T08:00:00+00:00", "The policy note", "Old."),
        ],
    )
    populate(store, [*events, old], loose)
    plain = corpus_settings(tmp_path / "plain")
    populate(Store(plain.store.path), events, loose)
    for lang in ("zh", "en"):
        digest = build_digest(store, settings, WINDOW_END, lang=lang, now=NOW)  # type: ignore[arg-type]
        without = build_digest(Store(plain.store.path), plain, WINDOW_END, lang=lang, now=NOW)  # type: ignore[arg-type]
        assert "A policy note from before the window" not in {t.title for t in digest.top_events}
        assert digest.category_signal == without.category_signal
        tally = sum(c.events for c in digest.category_signal)
        carried = sum(1 for t in digest.top_events if t.carried_over)
        assert digest.stats.events <= tally <= digest.stats.events + carried, (tally, digest.stats.events, carried)


def test_a_papers_what_is_its_first_claim_when_the_abstract_opens_with_background() -> None:
    """Reader review: "What it did" quoted the abstract's context sentence and "What is new" its claim."""
    paper = _item(
        "arxiv:2604.15730",
        "Long-Horizon Workflow Agents: Benchmarking Tool-Using Models on Multi-Hour Tasks",
        "Agents are increasingly deployed on tasks that span hours and many tools rather than single\n"
        "conversational turns. We introduce a benchmark of 212 workflow tasks drawn from software maintenance,\n"
        "finance operations and customer support. Tasks are scored on outcome correctness and permission\n"
        "violations. Across eleven models, success falls sharply with task length.",
        tier="research",
        publisher="arXiv",
        source_kind="arxiv",
    )
    window = WindowSpec.ending(datetime(2026, 4, 19).date(), 7, "Asia/Shanghai", 14)
    highlight = research_highlight(paper, None, [], Playbook.load("en"), window)
    assert "We introduce a benchmark of 212 workflow tasks" in highlight.what
    assert "increasingly deployed" not in highlight.what + highlight.novelty


@pytest.mark.parametrize(
    ("title", "organisation", "headline"),
    [
        # The hook names no one; the fact after the colon names OpenAI (reader review).
        (
            "Codex 不只写代码了：OpenAI 发布 “Codex for (almost) everything”，覆盖文档与长任务",
            "OpenAI",
            "OpenAI 发布 “Codex for (almost) everything”，覆盖文档与长任务",
        ),
        # A main title that names who acted stays the headline.
        (
            "微软宣布 2026–2029 年在日本投资 100 亿美元：加码 AI 基础设施、网络安全与人才培养",
            "Microsoft",
            "微软宣布 2026–2029 年在日本投资 100 亿美元",
        ),
    ],
)
def test_a_chinese_headline_drops_a_hook_before_the_colon_not_the_fact(
    title: str, organisation: str, headline: str
) -> None:
    item = _item("xz", title, tier="media", publisher="新智观察", lang="zh", organisations=(organisation,))
    assert chinese_headline([item]) == headline


def test_a_quoted_english_title_in_chinese_text_is_a_name_not_an_english_sentence() -> None:
    assert not is_english_only("OpenAI 发布 “Codex for (almost) everything”，覆盖文档与长任务")
    assert is_english_only("关于「OpenAI has finished training GPT-6 and will ship it」的事实披露")
    assert is_english_only("OpenAI has finished training “GPT-6” and will ship it")


def test_an_unconfirmed_claim_of_fact_is_headed_as_a_claim_not_a_disclosure() -> None:
    post = _post("x:2045354360304594945", "SCOOP: OpenAI will ship GPT-6 on April 28.", "leakzone_ai", "fact")
    post = replace(post, url=None)
    for lang, heading in (
        ("zh", "关于「传闻：GPT-6」的未经证实说法"),
        ("en", "An unconfirmed claim on “Unconfirmed: GPT-6”"),
    ):
        book = Playbook.load(lang)  # type: ignore[arg-type]
        title = "传闻：GPT-6" if lang == "zh" else "Unconfirmed: GPT-6"
        signal = x_signal(post, _candidate(title, "unverified"), [post], book)
        assert x_heading(signal, book) == heading


def test_a_guest_article_on_a_platform_is_the_communitys_and_leads_its_research_event(tmp_path: Path) -> None:
    """Reader review: NVIDIA's article on the Hugging Face blog was "a technical report published by
    Hugging Face", "confirmed by Hugging Face (official)". As a guest entry (tier community) it is
    neither; and the research section shows the work the event is about, its first write-up, not a
    later paper that joined the event."""
    settings = corpus_settings(tmp_path)
    store = Store(settings.store.path)
    article = CorpusItem(
        "https://huggingface.co/blog/nvidia/nemotron-ocr-v2",
        "Hugging Face",
        "community",
        "2026-04-17T15:00:00+00:00",
        "Building a Fast Multilingual OCR Model with Synthetic Data",
        "NVIDIA releases a one-million-sample synthetic multilingual OCR dataset and Nemotron OCR v2.",
        "https://huggingface.co/blog/nvidia/nemotron-ocr-v2",
        products=("Nemotron OCR v2",),
    )
    paper = CorpusItem(
        "arxiv:2604.16388",
        "arXiv",
        "research",
        "2026-04-18T08:41:27+00:00",
        "SynthDoc-ML: Synthetic Page Rendering for Multilingual OCR Pretraining",
        "We introduce SynthDoc-ML, 800k rendered pages for multilingual OCR pretraining.",
        "https://arxiv.org/abs/2604.16388",
        kind="arxiv",
    )
    wire = CorpusItem(
        "aiwire-nemotron",
        "AI Wire",
        "media",
        "2026-04-18T09:00:00+00:00",
        "Nvidia's Nemotron OCR v2 reads mixed-script documents",
        "Nvidia's Nemotron OCR v2 reads mixed-script documents at 34.7 pages a second.",
        "https://aiwire.example/nemotron",
    )
    populate(
        store, [CorpusEvent("ev-ocr", "Nemotron OCR v2", "research", "corroborated", 60.0, [article, paper, wire])]
    )
    for lang, by in (("en", "a Hugging Face community author"), ("zh", "Hugging Face 社区作者")):
        digest = build_digest(store, settings, WINDOW_END, lang=lang, now=NOW)  # type: ignore[arg-type]
        [highlight] = [r for r in digest.research if r.url == article.url]
        assert by in highlight.what, highlight.what
        assert "社区作者 " not in highlight.what, highlight.what  # no gap between two Chinese words
        assert "official" not in highlight.judgment and "官方" not in highlight.judgment, highlight.judgment


def test_research_topics_match_whole_words_not_word_parts() -> None:
    """Review (session 19): "documentation" in an agents benchmark's abstract made it a
    document-recognition (文档识别) paper, and "homepage" would have given it OCR's applications."""
    book = Playbook.load("zh")
    agents = "Long-horizon workflow agents: tool-using models read documentation and homepage text for hours."
    assert "文档识别" not in research_topics(agents, book) and "智能体与工具调用" in research_topics(agents, book)
    assert "文档识别" in research_topics("OCR pretraining on rendered document images", book)
    assert "文档识别" in research_topics("Parsing scanned documents at scale", book)
    assert "文档识别" not in research_topics("We document the tool-use traces; project page: example.org", book)
