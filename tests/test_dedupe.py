"""Dedupe: exact keys, near duplicates in en and zh, retweets, batch order, and the DuckDB index."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import apache_beam as beam
import duckdb
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from infra.store import Store
from schemas.common import SourceRef
from schemas.item import Item
from transforms.dedupe import (
    Dedupe,
    DedupeIndex,
    DedupeSignature,
    _decide,
    _decide_against_roots,
    _minhashes,
    _near_earlier,
    dedupe_items,
    dedupe_signature,
    estimated_similarity,
    load_dedupe_index,
    minhash,
)
from transforms.normalize import content_hash, fingerprint_text

SOURCE = SourceRef(name="ai-wire", kind="feed", tier="media", publisher="AI Wire", url="https://www.ai-wire.news/rss")
T0 = datetime(2026, 4, 17, 1, 0, tzinfo=UTC)

CODEX_EN = (
    "OpenAI on Thursday pushed Codex beyond code generation with an update it calls Codex for (almost) everything. "
    "The agent can now take on long-running work across the tools a team already uses, with per-tool permissions "
    "and a full activity log that administrators can audit after the fact."
)
CODEX_EN_EDITED = (
    "OpenAI on Thursday pushed Codex beyond coding with an update it calls Codex for (almost) everything. "
    "The agent can now take on long-running work across the tools a team already uses, with per-tool permissions "
    "and a complete activity log that administrators can audit after the fact."
)
GEMMA_ZH = (
    "谷歌宣布 Gemma 4 登陆 Android AI Core 开发者预览版，速度最高提升 4 倍，支持 140 多种语言。"
    "开发者可以在设备端直接调用模型，无需联网，隐私数据不出手机。"
)
GEMMA_ZH_REWRITE = (
    "谷歌宣布 Gemma 4 登陆 Android AI Core 开发者预览版，速度最高提升 4 倍，支持超过 140 种语言。"
    "开发者可以在设备端直接调用模型，无需联网，隐私数据不出手机。"
)
UNRELATED_ZH = (
    "微软宣布 2026 至 2029 年在日本投资 100 亿美元，加码 AI 基础设施、网络安全与人才培养，计划培训 100 万名工程师。"
)


def item(item_id: str, text: str, minutes: int = 0, **fields: object) -> Item:
    return Item(
        item_id=item_id,
        kind="post",
        source=SOURCE,
        text=text,
        published_at=T0 + timedelta(minutes=minutes),
        content_hash=content_hash(text),
        **fields,
    )


def similarity(a: str, b: str) -> float:
    return estimated_similarity(minhash(fingerprint_text(a)), minhash(fingerprint_text(b)))


@pytest.mark.parametrize(
    ("a", "b", "near"),
    [
        (CODEX_EN, CODEX_EN_EDITED, True),
        (GEMMA_ZH, GEMMA_ZH_REWRITE, True),
        (GEMMA_ZH, UNRELATED_ZH, False),
        (CODEX_EN, "Microsoft will invest $10 billion in Japan from 2026 to 2029 in AI infrastructure.", False),
    ],
    ids=["en-edit", "zh-rewrite", "zh-unrelated", "en-unrelated"],
)
def test_minhash_similarity(a: str, b: str, near: bool) -> None:
    assert (similarity(a, b) >= 0.8) is near


def test_minhash_is_stable_and_skips_tiny_texts() -> None:
    assert minhash(fingerprint_text(CODEX_EN)) == minhash(fingerprint_text(CODEX_EN))
    assert len(minhash(fingerprint_text(CODEX_EN))) == 256
    assert minhash("gm") == b""


def test_batch_minhash_equals_one_text_at_a_time() -> None:
    rng = random.Random(3)
    alphabet = "abc de fghij 谷歌宣布開發者かなカナ한국 ,.!🔥"
    texts = ["", "gm", "谷歌 宣布", CODEX_EN * 40, GEMMA_ZH, *(fingerprint_text(t) for t in (CODEX_EN, UNRELATED_ZH))]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randrange(60))) for _ in range(300)]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randrange(3000, 9000))) for _ in range(30)]
    rng.shuffle(texts)
    assert _minhashes(texts) == [minhash(text) for text in texts]


def test_batch_decisions_equal_matching_one_item_at_a_time() -> None:
    # Templated texts: many share LSH bands, similarities spread around the threshold.
    rng = random.Random(11)
    words = ["model", "agent", "launch", "compute", "funding", "chip", "weights", "benchmark", "region", "quarter"]
    subjects = ["OpenAI", "Google", "Anthropic", "Meta", "NVIDIA"]

    def text(n: int) -> str:
        filler = " ".join(rng.choice(words) for _ in range(rng.randrange(2, 6)))
        return f"{rng.choice(subjects)} raises new funding to expand compute, {filler}, note {n % 7} about the round."

    items = [item(f"i{n:03d}", text(n), minutes=rng.randrange(40)) for n in range(400)]
    # A repeated item id (never its own duplicate) and an undated item (after every dated one).
    undated = item("undated", text(1)).model_copy(update={"published_at": None})
    items += [item("i077", items[77].text, minutes=3), undated]
    index = DedupeIndex(threshold=0.8)
    for stored in items[:40:3]:
        index.add(dedupe_signature(stored), stored.item_id)
    signatures = [dedupe_signature(i) for i in items[40:]]
    # The root-only path matches each item against the roots decided before it, one at a time.
    expected = _decide_against_roots(sorted(signatures, key=DedupeSignature.order_key), index)
    assert sum(kind == "near" for _, kind, _ in expected.values()) > 30
    assert _decide(signatures, index) == expected


def test_a_burst_of_copies_is_decided_against_roots_without_listing_its_pairs() -> None:
    # 3,000 copies in five spellings: listing every pair would grow with the square of the burst.
    copies = [item(f"copy{n:04d}", f"{CODEX_EN} #{n % 5}", minutes=n % 50) for n in range(3000)]
    signatures = [dedupe_signature(c) for c in copies]
    index = DedupeIndex(threshold=0.8)
    ordered = sorted(signatures, key=DedupeSignature.order_key)
    assert _near_earlier(ordered, index._bands, index._rows, index._need) is None
    decisions = _decide(signatures, index)
    first = ordered[0].item_id
    assert decisions[first][0] is None
    assert all(duplicate_of == first for item_id, (duplicate_of, _, _) in decisions.items() if item_id != first)
    assert {kind for _, kind, _ in decisions.values()} == {None, "content", "near"}


def test_exact_and_near_duplicates_point_at_the_earliest_item() -> None:
    items = [
        item("original", CODEX_EN, 0, canonical_url="https://www.ai-wire.news/codex"),
        item("syndicated", CODEX_EN + " ", 5, canonical_url="https://www.ai-wire.news/codex-2"),
        item(
            "same-url",
            "A different teaser for the same article, long enough.",
            6,
            canonical_url="https://www.ai-wire.news/codex",
        ),
        item("edited", CODEX_EN_EDITED, 10, canonical_url="https://www.ai-wire.news/codex-updated"),
        item("tweet", "Codex for (almost) everything: long-running work across your tools", 1, native_id="x:42"),
        item("tweet-again", "Codex for (almost) everything: long-running work across tools", 2, native_id="x:42"),
        item("retweet", "RT @OpenAIDevs: Codex now takes long-running work", 3, retweet_of="x:42"),
        item("gm-1", "gm", 0),
        item("gm-2", "gm", 1),
        item("zh", GEMMA_ZH, 20),
        item("zh-rewrite", GEMMA_ZH_REWRITE, 30),
        item("zh-unrelated", UNRELATED_ZH, 40),
    ]
    marks = {i.item_id: (i.duplicate_of, i.duplicate_kind) for i in dedupe_items(items)}
    assert marks == {
        "original": (None, None),
        "syndicated": ("original", "content"),
        "same-url": ("original", "url"),
        "edited": ("original", "near"),
        "tweet": (None, None),
        "tweet-again": ("tweet", "native-id"),
        "retweet": ("tweet", "native-id"),
        "gm-1": (None, None),
        "gm-2": (None, None),  # too short to call a copy
        "zh": (None, None),
        "zh-rewrite": ("zh", "near"),
        "zh-unrelated": (None, None),
    }


def test_batch_order_does_not_matter_and_ties_break_on_item_id() -> None:
    items = [item(f"copy-{n}", CODEX_EN, minutes=0 if n < 3 else n) for n in range(8)]
    shuffled = items[:]
    random.Random(7).shuffle(shuffled)
    first = {i.item_id: i.duplicate_of for i in dedupe_items(items)}
    assert first == {i.item_id: i.duplicate_of for i in dedupe_items(shuffled)}
    assert first["copy-0"] is None
    assert {first[f"copy-{n}"] for n in range(1, 8)} == {"copy-0"}


def test_an_earlier_batch_wins_even_when_published_later() -> None:
    index = DedupeIndex(threshold=0.8)
    stored = item("stored", CODEX_EN, minutes=60)
    index.add(dedupe_signature(stored), "stored")
    (late,) = dedupe_items([item("late", CODEX_EN_EDITED, minutes=0)], index)
    assert (late.duplicate_of, late.duplicate_kind) == ("stored", "near")
    (again,) = dedupe_items([stored], index)  # replaying a stored item never makes it its own duplicate
    assert again.duplicate_of is None


def test_load_dedupe_index_from_duckdb(tmp_path: Path) -> None:
    store = Store(tmp_path / "radar.duckdb")
    store.migrate()
    first, second = dedupe_items(
        [
            item("a", CODEX_EN, 0, canonical_url="https://www.ai-wire.news/codex", native_id="feed:a"),
            item("b", CODEX_EN + " ", 1),
        ]
    )
    old = item("old", GEMMA_ZH, minutes=-60 * 24 * 40)
    with store.write() as con:
        for stored, signature in ((first, first.dedupe_signature), (second, second.dedupe_signature), (old, None)):
            con.execute(
                "INSERT INTO items (item_id, kind, source_name, source_kind, tier, publisher, canonical_url, text,"
                " published_at, content_hash, duplicate_of, record, dedupe_signature)"
                " VALUES (?, 'post', 'ai-wire', 'feed', 'media', 'AI Wire', ?, ?, ?, ?, ?, ?, ?)",
                [
                    stored.item_id,
                    stored.canonical_url,
                    stored.text,
                    stored.published_at,
                    stored.content_hash,
                    stored.duplicate_of,
                    stored.model_dump_json(),
                    signature,
                ],
            )
    with store.read() as con:
        index = load_dedupe_index(con, horizon_days=30, as_of=T0 + timedelta(days=1))
    assert len(index) == 1  # only roots enter the near-duplicate buckets; "old" is past the horizon
    assert (index.by_url, index.by_native_id) == ({"https://www.ai-wire.news/codex": "a"}, {"feed:a": "a"})
    batch = [
        item("c", CODEX_EN_EDITED, 120),
        item("d", "A new story about something else entirely, published today.", 130, native_id="feed:a"),
        item("e", GEMMA_ZH_REWRITE, 140),
    ]
    marks = {i.item_id: (i.duplicate_of, i.duplicate_kind) for i in dedupe_items(batch, index)}
    assert marks == {"c": ("a", "near"), "d": ("a", "native-id"), "e": (None, None)}


def test_load_recomputes_missing_signatures() -> None:
    con = duckdb.connect()
    for name in ("001_init.sql", "002_dedupe_signatures.sql"):
        con.execute((Path(__file__).parents[1] / "infra" / "migrations" / name).read_text())
    stored = item("a", CODEX_EN, 0)
    con.execute(
        "INSERT INTO items (item_id, kind, source_name, source_kind, tier, publisher, text, published_at,"
        " content_hash, record) VALUES ('a', 'post', 's', 'feed', 'media', 'p', ?, ?, ?, ?)",
        [stored.text, stored.published_at, stored.content_hash, stored.model_dump_json()],
    )
    index = load_dedupe_index(con, horizon_days=30, as_of=T0)
    assert index.by_content == {stored.content_hash: "a"} and len(index) == 1


def test_config_is_validated_early() -> None:
    with pytest.raises(ValueError, match="threshold"):
        Dedupe(threshold=0)
    with pytest.raises(ValueError, match="horizon_days"):
        load_dedupe_index(duckdb.connect(), horizon_days=0, as_of=T0)


def test_beam_stage_uses_the_side_input_index() -> None:
    index = DedupeIndex(threshold=0.8)
    index.add(dedupe_signature(item("stored", GEMMA_ZH, -600)), "stored")
    batch = [item("x2", CODEX_EN, 5), item("x1", CODEX_EN_EDITED, 5), item("zh", GEMMA_ZH_REWRITE, 0)]
    expected = [(i.item_id, i.duplicate_of, i.duplicate_kind) for i in dedupe_items(batch, index)]
    assert sorted(expected) == [("x1", None, None), ("x2", "x1", "near"), ("zh", "stored", "near")]
    with TestPipeline(options=PipelineOptions(runner="FnApiRunner")) as p:
        index_pc = p | "Index" >> beam.Create([index])
        result = p | "Batch" >> beam.Create(batch) | Dedupe(index_pc, threshold=0.8)
        assert_that(
            result.good | beam.Map(lambda i: (i.item_id, i.duplicate_of, i.duplicate_kind)),
            equal_to(expected),
            label="CheckGood",
        )
        assert_that(result.dead_letter, equal_to([]), label="CheckDeadLetters")
