"""Stage 5, cluster into events: links and duplicates, the online clustering in the stage, the Beam
stage, cross-batch ids and state, windows. The clustering core itself: tests/test_events_core.py."""

from __future__ import annotations

import random
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from infra.store import Store
from schemas.common import KafkaCoordinates, SourceRef
from schemas.item import Amount, Entities, Item
from transforms.cluster import (
    ClusterIntoEvents,
    EventIndex,
    assign_events,
    cluster_batch,
    load_event_index,
    member_from_item,
    new_event_id,
    organisation_slug,
    product_key,
)

T0 = datetime(2026, 4, 14, 15, 0, tzinfo=UTC)

SOURCES = {
    "openai": SourceRef(
        name="openai-news",
        kind="feed",
        tier="official",
        publisher="OpenAI",
        organisation="openai",
        url="https://openai.com/news/rss.xml",
    ),
    "bloomberg": SourceRef(
        name="bloomberg-technology",
        kind="feed",
        tier="media",
        publisher="Bloomberg",
        organisation="bloomberg",
        url="https://bloomberg.example/rss",
    ),
    "aiwire": SourceRef(
        name="ai-wire",
        kind="feed",
        tier="media",
        publisher="AI Wire",
        organisation="ai-wire",
        url="https://ai-wire.example/rss",
    ),
    "xinzhi": SourceRef(
        name="xinzhi-guancha",
        kind="feed",
        tier="media",
        publisher="新智观察",
        organisation="xinzhi-guancha",
        url="https://xinzhi.example/rss",
    ),
    "x": SourceRef(
        name="x-ai-frontier",
        kind="x",
        tier="social",
        publisher="X",
        organisation="x",
        url="https://api.x.example/2/tweets/search/recent",
    ),
}


def make_item(
    item_id: str,
    source: str = "aiwire",
    *,
    hours: float = 0.0,
    kind: str = "page",
    title: str = "",
    text: str = "",
    canonical_url: str | None = None,
    linked: tuple[str, ...] = (),
    orgs: tuple[str, ...] = (),
    products: tuple[str, ...] = (),
    amounts: tuple[tuple[str, float], ...] = (),
    duplicate_of: str | None = None,
    category: str | None = "product",
    engagement: int = 0,
    lang: str = "en",
    published: bool = True,
) -> Item:
    return Item(
        item_id=item_id,
        kind=kind,
        source=SOURCES[source],
        canonical_url=canonical_url,
        title=title,
        text=text,
        lang=lang,
        published_at=T0 + timedelta(hours=hours) if published else None,
        linked_urls=linked,
        duplicate_of=duplicate_of,
        duplicate_kind="near" if duplicate_of else None,
        category=category,
        entities=Entities(
            organisations=orgs,
            products=products,
            amounts=tuple(Amount(text=t, value=v, unit="USD") for t, v in amounts),
        ),
        engagement=engagement,
        # A stable offset per id (str hash() differs per process): Kafka order breaks ties of time.
        coordinates=KafkaCoordinates(topic="radar.raw.v1", partition=0, offset=zlib.crc32(item_id.encode()) % 10**6),
    )


OFFICIAL_ROUND = make_item(
    "openai-round",
    "openai",
    canonical_url="https://openai.com/index/accelerating-the-next",
    title="OpenAI raises $122 billion to accelerate the next phase of AI",
    orgs=("OpenAI",),
    amounts=(("$122 billion", 122e9), ("$852 billion", 852e9)),
    category="capital",
)
X_POST_LINKING = make_item(
    "2039026057343954945",
    "x",
    hours=2,
    kind="post",
    text="We've raised $122B in committed capital",
    linked=("https://openai.com/index/accelerating-the-next",),
    engagement=80_000,
    category="capital",
)
ZH_REWRITE = make_item(
    "xinzhi-2026040108",
    "xinzhi",
    hours=30,
    title="OpenAI 完成 1220 亿美元融资",
    lang="zh",
    canonical_url="https://www.xinzhi-guancha.cn/article/2026040108",
    orgs=("OpenAI",),
    amounts=(("1220 亿美元", 1.22e11),),
    category="capital",
)
UNRELATED_SAME_ORG = make_item(
    "aiwire-codex",
    "aiwire",
    hours=24 * 5,
    title="OpenAI ships Codex for (almost) everything",
    canonical_url="https://ai-wire.example/2026/04/19/codex",
    orgs=("OpenAI",),
    products=("Codex",),
    amounts=(("$2 billion", 2e9),),
    category="agents",
)
SAME_ORG_OTHER_FIGURE_NEXT_DAY = make_item(
    "bloomberg-chips",
    "bloomberg",
    hours=20,
    title="OpenAI signs a $10 billion chip deal",
    canonical_url="https://bloomberg.example/openai-chips",
    orgs=("OpenAI",),
    amounts=(("$10 billion", 10e9),),
    category="infrastructure",
)
DUPLICATE = make_item(
    "aiwire-round-syndicated",
    "aiwire",
    hours=-1,
    title="OpenAI raises $122 billion",
    canonical_url="https://ai-wire.example/syndicated",
    duplicate_of="openai-round",
    category="capital",
)
CORRECTION = make_item(
    "bloomberg-correction",
    "bloomberg",
    hours=24 * 5,
    title="Correction: OpenAI round was $120 billion",
    canonical_url="https://bloomberg.example/correction",
    orgs=("OpenAI",),
    amounts=(("$120 billion", 120e9),),
    category="capital",
)
REPO_POST_A = make_item(
    "post-a",
    "x",
    hours=1,
    kind="post",
    text="Fine-tuned Gemma 4 on my MacBook",
    linked=("https://github.com/mlx-tinkerer/gemma4-mlx-multimodal-finetune",),
)
REPO_POST_B = make_item(
    "post-b",
    "x",
    hours=6,
    kind="post",
    text="Love this community project",
    linked=("https://github.com/mlx-tinkerer/gemma4-mlx-multimodal-finetune",),
)
# Two unrelated posts that both link a bare host: the link says nothing, the words differ.
ROOT_LINK_POST = make_item(
    "post-root",
    "x",
    hours=3,
    kind="post",
    text="Robotics demo day recap from the lab",
    linked=("https://openai.com/",),
)
ROOT_LINK_POST_2 = make_item(
    "post-root-2",
    "x",
    hours=4,
    kind="post",
    text="Hiring compiler engineers in Zurich",
    linked=("https://openai.com/",),
)


def _events(items: list[Item]) -> dict[str, str | None]:
    placed, dead = assign_events(items)
    assert dead == []
    return {it.item_id: it.event_id for it in placed}


@pytest.mark.parametrize(
    ("items", "together", "apart"),
    [
        ([OFFICIAL_ROUND, X_POST_LINKING], [("openai-round", "2039026057343954945")], []),
        # the post comes first in time: the page joins the post's event
        (
            [OFFICIAL_ROUND.model_copy(update={"published_at": T0 + timedelta(hours=5)}), X_POST_LINKING],
            [("openai-round", "2039026057343954945")],
            [],
        ),
        ([OFFICIAL_ROUND, ZH_REWRITE], [("openai-round", "xinzhi-2026040108")], []),
        ([OFFICIAL_ROUND, UNRELATED_SAME_ORG], [], [("openai-round", "aiwire-codex")]),
        ([OFFICIAL_ROUND, SAME_ORG_OTHER_FIGURE_NEXT_DAY], [], [("openai-round", "bloomberg-chips")]),
        ([OFFICIAL_ROUND, DUPLICATE], [("openai-round", "aiwire-round-syndicated")], []),
        ([REPO_POST_A, REPO_POST_B], [("post-a", "post-b")], []),
        ([ROOT_LINK_POST, ROOT_LINK_POST_2], [], [("post-root", "post-root-2")]),
    ],
    ids=[
        "x-post-links-official",
        "page-after-post",
        "zh-rewrite-amounts",
        "same-org-other-product-days-apart",
        "same-org-other-figure",
        "duplicate",
        "posts-share-link",
        "root-links-ignored",
    ],
)
def test_assignment_rules(items: list[Item], together: list[tuple[str, str]], apart: list[tuple[str, str]]) -> None:
    events = _events(items)
    for a, b in together:
        assert events[a] == events[b] is not None
    for a, b in apart:
        assert events[a] != events[b]


def test_new_event_is_named_after_its_founding_item() -> None:
    events = _events([X_POST_LINKING, OFFICIAL_ROUND, ZH_REWRITE])
    assert set(events.values()) == {new_event_id("openai-round")}
    assert new_event_id("openai-round").startswith("ev-")
    assert new_event_id("openai-round") != new_event_id("openai-round2")


def test_normalization_of_names() -> None:
    assert organisation_slug("Hugging Face") == organisation_slug("hugging-face") == "huggingface"
    assert organisation_slug("微软", {"微软": "microsoft"}) == "microsoft"
    assert product_key("GPT-5.4-Cyber") == product_key("gpt 5.4 cyber") == "gpt5.4cyber"


def test_off_topic_items_get_no_event() -> None:
    noise = make_item(
        "noise", "aiwire", title="Lemon garlic chicken", orgs=("OpenAI",), amounts=(("$122 billion", 122e9),)
    ).model_copy(update={"off_topic": True, "event_id": "ev-x"})
    events = _events([OFFICIAL_ROUND, noise])
    assert events["noise"] is None
    assert events["openai-round"] == new_event_id("openai-round")


@pytest.mark.parametrize("quote_first", [False, True], ids=["quote-after-post", "quote-before-post"])
def test_a_quote_joins_the_post_it_quotes(quote_first: bool) -> None:
    post = make_item("2044088418694098945", "x", hours=0, kind="post", text="GPT-5.4-Cyber comes with tiers")
    post = post.model_copy(update={"native_id": "x:2044088418694098945"})
    quote = make_item("2044245403104210947", "x", hours=-1 if quote_first else 2, kind="post", text="身份验证")
    quote = quote.model_copy(update={"native_id": "x:2044245403104210947", "quote_of": "x:2044088418694098945"})
    events = _events([post, quote])
    assert events[post.item_id] == events[quote.item_id]


BATCH = [
    OFFICIAL_ROUND,
    X_POST_LINKING,
    ZH_REWRITE,
    UNRELATED_SAME_ORG,
    SAME_ORG_OTHER_FIGURE_NEXT_DAY,
    DUPLICATE,
    CORRECTION,
    REPO_POST_A,
    REPO_POST_B,
    ROOT_LINK_POST,
    ROOT_LINK_POST_2,
]


def test_assignment_is_deterministic_under_shuffled_input() -> None:
    expected, _ = assign_events(BATCH)
    rng = random.Random(7)
    for _ in range(20):
        shuffled = BATCH[:]
        rng.shuffle(shuffled)
        assert assign_events(shuffled)[0] == expected


def test_assign_events_does_not_modify_the_index_given() -> None:
    index = EventIndex()
    assign_events(BATCH, index)
    assert len(index) == 0


def _story_words(story: int) -> str:
    # Three words no other story uses (letters only: numbers would be read as amounts).
    def word(n: int) -> str:
        return "".join("bcdfghjklmnpqrstvwxz"[int(d)] for d in f"{n:04d}")

    return f"{word(story)}a {word(story)}e {word(story)}o"


def test_lookups_stay_linear_on_a_big_batch() -> None:
    # 3,000 items of 300 distinct stories: inverted indexes keep this well under a second or two.
    items = [
        make_item(
            f"it-{i}",
            "aiwire",
            hours=i % 48,
            title=f"OpenAI news: {_story_words(i % 300)} announced",
            canonical_url=f"https://ai-wire.example/{i}",
        )
        for i in range(3000)
    ]
    placed, dead = assign_events(items)
    assert dead == []
    assert len({it.event_id for it in placed}) == 300


def test_cluster_stage_good_and_dead_letter() -> None:
    undated = make_item("undated", "aiwire", title="No date", published=False).model_copy(update={"coordinates": None})
    expected_id = new_event_id("openai-round")
    with TestPipeline(runner="FnApiRunner") as p:
        result = (
            p | beam.Create([ZH_REWRITE, X_POST_LINKING, OFFICIAL_ROUND, undated]) | "Cluster" >> ClusterIntoEvents()
        )
        assert_that(
            result.good | beam.Map(lambda it: (it.item_id, it.event_id)),
            equal_to(
                [
                    ("openai-round", expected_id),
                    ("2039026057343954945", expected_id),
                    ("xinzhi-2026040108", expected_id),
                ]
            ),
            label="CheckGood",
        )
        assert_that(
            result.dead_letter | beam.Map(lambda d: (d.stage, d.source_name, "published_at" in d.reason)),
            equal_to([("cluster", "ai-wire", True)]),
            label="CheckDeadLetter",
        )


def test_cluster_stage_rejects_bad_config_early() -> None:
    with pytest.raises(ValueError, match="event_index"):
        ClusterIntoEvents(event_index={"not": "an index"})


# ------------------------------------------------------------------ across batches


def insert_items(con: Any, items: list[Item]) -> None:
    """What the sink writes for an item (the columns the loader reads)."""
    con.executemany(
        "INSERT INTO items (item_id, kind, source_name, source_kind, tier, publisher, organisation, url,"
        " canonical_url, title, text, lang, published_at, duplicate_of, duplicate_kind, category, event_id,"
        " engagement, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            [
                it.item_id,
                it.kind,
                it.source.name,
                it.source.kind,
                it.source.tier,
                it.source.publisher,
                it.source.organisation,
                it.url,
                it.canonical_url,
                it.title,
                it.text,
                it.lang,
                it.published_at,
                it.duplicate_of,
                it.duplicate_kind,
                it.category,
                it.event_id,
                it.engagement,
                it.model_dump_json(by_alias=True),
            ]
            for it in items
        ],
    )


def test_same_event_across_two_batches_keeps_its_id(tmp_path: Path) -> None:
    store = Store(tmp_path / "radar.duckdb")
    store.migrate()
    batch = cluster_batch([OFFICIAL_ROUND, REPO_POST_A])
    first, dead = batch.items, batch.dead_letters
    assert dead == []
    with store.write() as con:
        insert_items(con, first)
    with store.read() as con:
        index = load_event_index(con, 7, T0 + timedelta(days=2))
    assert len(index) == 2

    second_batch = [ZH_REWRITE, X_POST_LINKING, REPO_POST_B, UNRELATED_SAME_ORG]
    with TestPipeline(runner="FnApiRunner") as p:
        index_pc = p | "Index" >> beam.Create([index])
        # The clustering state the first batch left carries the official round's words: the zh
        # report (no link, no duplicate mark) joins it through them.
        result = (
            p
            | beam.Create(second_batch)
            | ClusterIntoEvents(beam.pvalue.AsSingleton(index_pc), cluster_state=batch.state)
        )
        assert_that(
            result.good | beam.Map(lambda it: (it.item_id, it.event_id)),
            equal_to(
                [
                    ("xinzhi-2026040108", new_event_id("openai-round")),
                    ("2039026057343954945", new_event_id("openai-round")),
                    ("post-b", new_event_id("post-a")),
                    ("aiwire-codex", new_event_id("aiwire-codex")),
                ]
            ),
        )

    # a re-run of the first batch against an index that already holds it changes nothing
    again, _ = assign_events([REPO_POST_A, OFFICIAL_ROUND], index, batch.state)
    assert again == first


def test_loader_leaves_out_events_older_than_the_window(tmp_path: Path) -> None:
    store = Store(tmp_path / "radar.duckdb")
    first, _ = assign_events([OFFICIAL_ROUND, ZH_REWRITE])
    with store.write() as con:
        insert_items(con, first)
    with store.read() as con:
        assert len(load_event_index(con, 7, T0 + timedelta(days=3))) == 2
        assert len(load_event_index(con, 7, T0 + timedelta(days=30))) == 0
        with pytest.raises(ValueError):
            load_event_index(con, 7, datetime(2026, 4, 20))


# ------------------------------------------------------------------------- windows


def test_versioned_arxiv_urls_are_one_document_for_link_joins() -> None:
    paper = make_item("2604.06168", "aiwire", canonical_url="https://arxiv.org/abs/2604.06168v2", category="research")
    post = make_item(
        "post-paper",
        "x",
        hours=200,
        kind="post",
        text="Action Images v2 is up",
        linked=("https://arxiv.org/abs/2604.06168",),
    )
    pdf_post = make_item(
        "post-pdf", "x", hours=201, kind="post", text="pdf", linked=("http://arxiv.org/pdf/2604.06168v1",)
    )
    events = _events([paper, post, pdf_post])
    assert events["post-paper"] == events["2604.06168"] == events["post-pdf"]


def test_cross_language_rewrite_of_an_official_announcement_is_a_duplicate() -> None:
    placed, _ = assign_events([OFFICIAL_ROUND, ZH_REWRITE])
    by_id = {it.item_id: it for it in placed}
    assert by_id["xinzhi-2026040108"].event_id == by_id["openai-round"].event_id
    assert by_id["xinzhi-2026040108"].duplicate_of == "openai-round"
    assert by_id["openai-round"].duplicate_of is None


@pytest.mark.parametrize(
    "changes",
    [
        {"lang": "en"},  # same language: a rewrite, shingles decide whether it is a copy
        {"published_at": T0 + timedelta(hours=72)},  # beyond 48 hours
        {
            "entities": Entities(
                organisations=("OpenAI",),
                amounts=(
                    Amount(text="1220 亿美元", value=1.22e11, unit="USD"),
                    Amount(text="40%", value=40.0, unit="percent"),
                ),
            )
        },
    ],
    ids=["same-language", "too-late", "adds-its-own-figure"],
)
def test_cross_language_duplicate_needs_another_language_time_and_no_new_figures(changes: dict[str, Any]) -> None:
    rewrite = ZH_REWRITE.model_copy(update=changes)
    placed, _ = assign_events([OFFICIAL_ROUND, rewrite])
    by_id = {it.item_id: it for it in placed}
    assert by_id["xinzhi-2026040108"].duplicate_of is None


def test_the_richest_version_of_an_item_is_the_one_clustered_whatever_the_order() -> None:
    official = make_item(
        "next-phase",
        "openai",
        orgs=("OpenAI",),
        products=("Codex",),
        canonical_url="https://openai.com/index/next-phase",
        title="Codex for everything",
        text="Codex now writes, reviews and ships code across every desktop app and terminal.",
    )
    summary = official.model_copy(update={"entities": Entities(), "text": "short"})
    later = make_item(
        "codex-media",
        "aiwire",
        hours=30,
        orgs=("OpenAI",),
        products=("Codex",),
        canonical_url="https://ai-wire.example/codex",
        title="Codex reviews and ships code everywhere",
        text="The desktop app and terminal both get Codex.",
    )
    expected = None
    for batch in ([summary, official, later], [official, summary, later]):
        placed = cluster_batch(batch)
        by_id = {it.item_id: it for it in placed.items if it.item_id != "next-phase" or it.text != "short"}
        assert by_id["codex-media"].event_id == by_id["next-phase"].event_id
        # the state learned the full text, whichever version came first
        expected = expected or placed.state.to_json()
        assert placed.state.to_json() == expected


def test_scoring_gets_the_member_clustering_built() -> None:
    placed = cluster_batch(BATCH)
    rules = placed.members.rules
    reused = 0
    for item in placed.items:
        if item.event_id is None:
            continue
        built = placed.built[item.item_id]
        member = member_from_item(item, item.event_id, rules, built)
        reused += member is built.member
        # the same as a member built afresh from an equal item
        assert member == member_from_item(item.model_copy(), item.event_id, rules)
        # another object of the same id, or another event: built afresh, not the clustering's
        assert member_from_item(item.model_copy(), item.event_id, rules, built) is not built.member
        assert member_from_item(item, "ev-other", rules, built).event_id == "ev-other"
    assert reused == sum(1 for item in placed.items if item.event_id is not None) > 0
