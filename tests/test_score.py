"""Stage 6, score: components, verification, determinism, and the Beam stage's two outputs."""

from __future__ import annotations

import random
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from hypothesis import given, settings
from hypothesis import strategies as st

from infra.store import Store
from schemas.event import SCORE_COMPONENTS, Event
from schemas.item import Item
from tests.test_cluster import (
    OFFICIAL_ROUND,
    SOURCES,
    T0,
    X_POST_LINKING,
    ZH_REWRITE,
    insert_items,
    make_item,
)
from transforms import score as score_stage
from transforms.cluster import (
    EventIndex,
    EventMember,
    assign_events,
    cluster_batch,
    load_event_index,
    member_from_item,
    new_event_id,
)
from transforms.score import (
    ScoreEvents,
    ScoringRules,
    event_members,
    load_scoring_rules,
    score_event,
    verification_of,
)

AS_OF = T0 + timedelta(days=2)
RULES = load_scoring_rules()


def members(*items: Item, event_id: str = "ev-test") -> list[EventMember]:
    return [member_from_item(it, event_id) for it in items]


RUMOUR = make_item(
    "2045354360304594945",
    "x",
    kind="post",
    text="SCOOP: OpenAI will ship GPT-6 on April 28",
    orgs=("OpenAI",),
    products=("GPT-6",),
    engagement=69_000_000,
)
RUMOUR_RT = make_item(
    "2045381820412882947",
    "x",
    kind="post",
    text="RT @leakzone_ai: SCOOP",
    orgs=("OpenAI",),
    products=("GPT-6",),
    engagement=11_200,
    duplicate_of="2045354360304594945",
)
RUMOUR_TAKE = make_item(
    "2045374350357458946",
    "x",
    kind="post",
    text="If the GPT-6 leak is real...",
    orgs=("OpenAI",),
    products=("GPT-6",),
    engagement=11_000,
)
AIWIRE_A = make_item("aiwire-a", "aiwire", title="GPT-6 rumour", orgs=("OpenAI",), products=("GPT-6",))
AIWIRE_B = make_item(
    "aiwire-b", "aiwire", hours=3, title="More on the GPT-6 rumour", orgs=("OpenAI",), products=("GPT-6",)
)
BLOOMBERG = make_item(
    "bloomberg-a", "bloomberg", hours=5, title="OpenAI said to plan GPT-6", orgs=("OpenAI",), products=("GPT-6",)
)
MS_OFFICIAL = make_item("ms-japan", "openai", title="Other org's channel", orgs=("Microsoft",)).model_copy(
    update={"source": SOURCES["openai"].model_copy(update={"organisation": "openai"})}
)
PAPER = make_item("2604.06168", "aiwire", title="Action Images", category="research").model_copy(
    update={
        "source": SOURCES["aiwire"].model_copy(
            update={
                "name": "arxiv-ai",
                "kind": "arxiv",
                "tier": "research",
                "publisher": "arXiv",
                "organisation": "arxiv",
            }
        )
    }
)


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ((RUMOUR, RUMOUR_RT, RUMOUR_TAKE), "unverified"),
        ((AIWIRE_A,), "unverified"),
        ((AIWIRE_A, AIWIRE_B), "unverified"),  # one publisher twice is not corroboration
        ((AIWIRE_A, AIWIRE_B, RUMOUR), "unverified"),  # social accounts never corroborate
        ((AIWIRE_A, BLOOMBERG), "corroborated"),
        ((AIWIRE_A, AIWIRE_B.model_copy(update={"duplicate_of": "aiwire-a"}), BLOOMBERG), "corroborated"),
        ((OFFICIAL_ROUND, X_POST_LINKING), "verified-by-official"),
        ((MS_OFFICIAL,), "unverified"),  # an official channel of an organisation not concerned
        ((PAPER,), "verified-by-official"),  # the paper is its own primary source
    ],
    ids=[
        "viral-rumour",
        "single-media",
        "same-publisher-twice",
        "media-plus-social",
        "two-publishers",
        "duplicate-not-counted-but-two-publishers",
        "official-of-concerned-org",
        "official-of-other-org",
        "paper",
    ],
)
def test_verification(items: tuple[Item, ...], expected: str) -> None:
    assert verification_of(members(*items), RULES) == expected


def test_viral_rumour_stays_unverified_and_scores_low() -> None:
    event = score_event("ev-rumour", members(RUMOUR, RUMOUR_RT, RUMOUR_TAKE), as_of=AS_OF, rules=RULES)
    assert event.verification == "unverified"
    points = {c.name: c.points for c in event.components}
    assert points["engagement"] == RULES.max_points("engagement")
    assert points["official"] == 0 and points["corroboration"] == 0
    assert event.signal_score < 50
    assert event.publishers == 0


def test_official_event_components_and_reasons() -> None:
    event = score_event("ev-round", members(OFFICIAL_ROUND, X_POST_LINKING, ZH_REWRITE), as_of=AS_OF, rules=RULES)
    by_name = {c.name: c for c in event.components}
    assert [c.name for c in event.components] == list(SCORE_COMPONENTS)
    assert event.verification == "verified-by-official"
    assert by_name["official"].points == RULES.max_points("official")
    assert "OpenAI" in by_name["official"].reason
    assert by_name["corroboration"].reason == "2 independent publishers in 2 days"
    assert by_name["magnitude"].reason == "largest amount $852 billion"
    assert by_name["authority"].points == 20
    assert event.title == OFFICIAL_ROUND.title  # the official item's own title
    assert event.category == "capital"
    assert event.organisations == ("openai",)
    assert (event.items, event.publishers) == (3, 2)
    assert event.first_seen == T0 and event.last_seen == T0 + timedelta(hours=30)


def test_category_is_a_tier_weighted_vote() -> None:
    official = OFFICIAL_ROUND.model_copy(update={"category": "infrastructure"})
    posts = [make_item(f"p{i}", "x", kind="post", category="capital") for i in range(3)]
    event = score_event("ev", members(official, *posts), as_of=AS_OF, rules=RULES)
    # official weighs 5, three social posts 3
    assert event.category == "infrastructure"
    assert event.secondary == ("capital",)


def test_recency_uses_as_of_not_the_clock() -> None:
    fresh = score_event("ev", members(AIWIRE_A), as_of=T0, rules=RULES)
    old = score_event("ev", members(AIWIRE_A), as_of=T0 + timedelta(hours=48), rules=RULES)
    recency = {e: next(c.points for c in e.components if c.name == "recency") for e in (fresh, old)}
    assert recency[fresh] == RULES.max_points("recency")
    assert recency[old] == RULES.max_points("recency") / 2
    assert score_event("ev", members(AIWIRE_A), as_of=T0, rules=RULES) == fresh


def test_novelty_repeat_scores_lower() -> None:
    new = score_event("ev", members(AIWIRE_A), as_of=AS_OF, rules=RULES)
    repeat = score_event("ev", members(AIWIRE_A), as_of=AS_OF, earlier_events=["ev-older"], rules=RULES)
    novelty = {e: next(c for c in e.components if c.name == "novelty") for e in (new, repeat)}
    assert novelty[new].points > novelty[repeat].points
    assert "ev-older" in novelty[repeat].reason


def test_score_is_deterministic_under_shuffled_members() -> None:
    items = [OFFICIAL_ROUND, X_POST_LINKING, ZH_REWRITE, AIWIRE_A, BLOOMBERG, RUMOUR]
    expected = score_event("ev", members(*items), as_of=AS_OF, rules=RULES)
    rng = random.Random(3)
    for _ in range(10):
        rng.shuffle(items)
        assert score_event("ev", members(*items), as_of=AS_OF, rules=RULES) == expected


_item_strategy = st.builds(
    lambda i, source, hours, engagement, amount, dup, category: make_item(
        f"it-{i}",
        source,
        hours=hours,
        kind="post" if source == "x" else "page",
        title=f"title {i}",
        orgs=("OpenAI",),
        engagement=engagement,
        amounts=(("amount", amount),) if amount else (),
        duplicate_of="it-0" if dup and i else None,
        category=category,
    ),
    st.integers(0, 50),
    st.sampled_from(sorted(SOURCES)),
    st.floats(-500, 500),
    st.integers(0, 10**9),
    st.one_of(st.none(), st.floats(1, 1e13)),
    st.booleans(),
    st.sampled_from(["capital", "product", "agents", None]),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_item_strategy, min_size=1, max_size=8, unique_by=lambda it: it.item_id), st.floats(-1000, 1000))
def test_components_sum_to_the_score_within_0_100(items: list[Item], as_of_hours: float) -> None:
    if all(it.category is None for it in items):
        items[0] = items[0].model_copy(update={"category": "product"})
    event = score_event("ev", members(*items), as_of=T0 + timedelta(hours=as_of_hours), rules=RULES)
    assert [c.name for c in event.components] == list(SCORE_COMPONENTS)
    assert 0 <= event.signal_score <= 100
    assert event.signal_score == pytest.approx(sum(c.points for c in event.components), abs=0.02)
    for component in event.components:
        assert 0 <= component.points <= RULES.max_points(component.name)
        assert component.reason


def test_scoring_rules_are_validated() -> None:
    raw = dict(RULES.raw)
    raw["novelty"] = {"max_points": 40, "repeat_points": 3}
    with pytest.raises(ValueError, match="more than 100"):
        ScoringRules(raw)
    with pytest.raises(ValueError, match="as_of"):
        ScoreEvents(as_of=datetime(2026, 4, 20))


def _summary(event: Event) -> tuple[str, str, int, str, bool]:
    total = round(sum(c.points for c in event.components), 2)
    return (event.event_id, event.verification, event.items, event.category, total == event.signal_score)


def test_score_stage_good_and_dead_letter() -> None:
    clustered, _ = assign_events([OFFICIAL_ROUND, X_POST_LINKING, ZH_REWRITE, RUMOUR, RUMOUR_RT])
    unclassified = make_item("no-category", "aiwire", title="Unclassified", category=None).model_copy(
        update={"event_id": "ev-unclassified"}
    )
    with TestPipeline(runner="FnApiRunner") as p:
        result = p | beam.Create([*clustered, unclassified]) | "Score" >> ScoreEvents(as_of=AS_OF)
        assert_that(
            result.good | beam.Map(_summary),
            equal_to(
                [
                    (new_event_id("openai-round"), "verified-by-official", 3, "capital", True),
                    (new_event_id(RUMOUR.item_id), "unverified", 2, "product", True),
                    # no category term matched: filed under [category].fallback, not lost
                    ("ev-unclassified", "unverified", 1, "product", True),
                ]
            ),
            label="CheckGood",
        )
        assert_that(result.dead_letter, equal_to([]), label="CheckNoDeadLetter")


def test_score_stage_dead_letters_an_event_it_cannot_categorise() -> None:
    text = (Path(__file__).parent.parent / "transforms" / "data" / "scoring.toml").read_text(encoding="utf-8")
    rules = ScoringRules(tomllib.loads(text.replace('fallback = "product"', "")))
    clustered, _ = assign_events([OFFICIAL_ROUND])
    unclassified = make_item("no-category", "aiwire", title="Unclassified", category=None).model_copy(
        update={"event_id": "ev-unclassified"}
    )
    with TestPipeline(runner="FnApiRunner") as p:
        result = p | beam.Create([*clustered, unclassified]) | "Score" >> ScoreEvents(as_of=AS_OF, rules=rules)
        assert_that(
            result.good | beam.Map(lambda e: e.event_id), equal_to([new_event_id("openai-round")]), label="CheckGood"
        )
        assert_that(
            result.dead_letter | beam.Map(lambda d: (d.stage, "ev-unclassified" in d.reason, d.source_name)),
            equal_to([("score", True, "ai-wire")]),
            label="CheckDeadLetter",
        )


def test_score_stage_accepts_event_groups_and_uses_earlier_members(tmp_path: Path) -> None:
    store = Store(tmp_path / "radar.duckdb")
    batch = cluster_batch([OFFICIAL_ROUND, AIWIRE_A])
    with store.write() as con:
        insert_items(con, batch.items)
    with store.read() as con:
        index = load_event_index(con, 7, AS_OF)
    # the clustering state the first batch left places the zh report with the round
    second, _ = assign_events([ZH_REWRITE, X_POST_LINKING], index, batch.state)
    event_id = new_event_id("openai-round")
    assert {it.event_id for it in second} == {event_id}
    expected = score_event(
        event_id, members(OFFICIAL_ROUND, X_POST_LINKING, ZH_REWRITE, event_id=event_id), as_of=AS_OF, rules=RULES
    )
    with TestPipeline(runner="FnApiRunner") as p:
        index_pc = p | "Index" >> beam.Create([index])
        groups = p | "Groups" >> beam.Create([(event_id, second)])
        result = groups | ScoreEvents(beam.pvalue.AsSingleton(index_pc), as_of=AS_OF)
        assert_that(result.good, equal_to([expected]), label="CheckGood")
        assert_that(result.dead_letter, equal_to([]), label="CheckNoDeadLetter")


def test_novelty_sees_earlier_events_of_the_batch() -> None:
    earlier = make_item(
        "codex-1", "openai", title="Codex launch", orgs=("OpenAI",), products=("Codex",), category="agents"
    ).model_copy(update={"event_id": "ev-codex-1"})
    later = make_item(
        "codex-2", "aiwire", hours=24 * 6, title="Codex again", orgs=("OpenAI",), products=("Codex",), category="agents"
    ).model_copy(update={"event_id": "ev-codex-2"})
    with TestPipeline(runner="FnApiRunner") as p:
        result = p | beam.Create([earlier, later]) | ScoreEvents(as_of=T0 + timedelta(days=7))
        assert_that(
            result.good | beam.Map(lambda e: (e.event_id, next(c.points for c in e.components if c.name == "novelty"))),
            equal_to(
                [
                    ("ev-codex-1", RULES.max_points("novelty")),
                    ("ev-codex-2", float(RULES.section("novelty")["repeat_points"])),
                ]
            ),
        )


def test_as_of_must_be_aware() -> None:
    with pytest.raises(ValueError):
        score_event("ev", members(AIWIRE_A), as_of=datetime(2026, 4, 20), rules=RULES)
    assert datetime(2026, 4, 20, tzinfo=UTC)


# ------------------------------------------------------------------ rules added for digest quality


def _official_account_post(item_id: str, organisation: str, **kw: object) -> Item:
    return make_item(item_id, "x", kind="post", **kw).model_copy(  # type: ignore[arg-type]
        update={"official_for": organisation, "native_id": f"x:{item_id}"}
    )


def test_a_translation_by_another_publisher_corroborates_a_same_language_copy_does_not() -> None:
    official = OFFICIAL_ROUND
    translation = ZH_REWRITE.model_copy(update={"duplicate_of": "openai-round", "duplicate_kind": None})
    syndicated = make_item("aiwire-copy", "aiwire", hours=1, orgs=("OpenAI",), duplicate_of="openai-round")
    event = score_event("ev", members(official, translation, syndicated), as_of=AS_OF, rules=RULES)
    corroboration = next(c for c in event.components if c.name == "corroboration")
    assert event.publishers == 2  # OpenAI + 新智观察; the AI Wire copy is a re-syndication
    assert corroboration.reason.startswith("2 independent publishers")


def test_an_official_account_amplifying_a_community_post_corroborates_but_does_not_verify() -> None:
    community = make_item(
        "2044619472106450947", "x", kind="post", orgs=("Apple",), products=("Gemma 4",), engagement=3_290
    ).model_copy(update={"native_id": "x:2044619472106450947"})
    amplification = _official_account_post(
        "2044691060487122944", "Google", hours=5, orgs=("Google", "Apple"), products=("Gemma 4",), engagement=3_760
    ).model_copy(update={"quote_of": "x:2044619472106450947"})
    assert verification_of(members(community, amplification), RULES) == "corroborated"
    event = score_event("ev", members(community, amplification), as_of=AS_OF, rules=RULES)
    official = next(c for c in event.components if c.name == "official")
    assert official.points == RULES.max_points("official") * 0.5
    assert "amplified by Google" in official.reason


def test_an_official_accounts_own_post_verifies_and_its_engagement_counts() -> None:
    own = _official_account_post("2039889538708434947", "OpenAI", orgs=("OpenAI",), engagement=18_150)
    assert verification_of(members(own), RULES) == "verified-by-official"
    event = score_event("ev", members(own), as_of=AS_OF, rules=RULES)
    engagement = next(c for c in event.components if c.name == "engagement")
    assert engagement.points > 0 and "18,150 engagements on 1 social post" in engagement.reason


def test_the_richest_version_of_an_item_is_scored() -> None:
    dated = OFFICIAL_ROUND
    undated = OFFICIAL_ROUND.model_copy(
        update={"published_at": None, "entities": OFFICIAL_ROUND.entities.model_copy(update={"amounts": ()})}
    )
    for batch in ([dated, undated], [undated, dated]):
        (member,) = event_members("ev", batch, None)
        assert member.published_at == T0 and member.money


def test_an_official_accounts_post_votes_on_the_category_as_a_social_post() -> None:
    blog = make_item("ms-blog", "openai", orgs=("OpenAI",), category="infrastructure")
    posts = [
        _official_account_post(f"post-{n}", "OpenAI", hours=n, orgs=("OpenAI",), category="security-access")
        for n in (1, 2)
    ]
    event = score_event("ev", members(blog, *posts), as_of=AS_OF, rules=RULES)
    assert event.category == "infrastructure"  # 5 (official blog) beats 2 x 1 (posts), not 2 x 5


def test_one_publisher_one_category_vote() -> None:
    # Three items from one outlet (an entry, its page, a follow-up) must not outvote two others.
    thread = [make_item(f"aiwire-{i}", "aiwire", hours=i, category="security-access") for i in range(3)]
    others = [
        make_item("bloomberg-1", "bloomberg", hours=1, category="infrastructure"),
        make_item("xinzhi-1", "xinzhi", hours=2, category="infrastructure", lang="zh"),
    ]
    event = score_event("ev-test", members(*thread, *others), as_of=AS_OF, rules=RULES)
    assert event.category == "infrastructure"
    assert "security-access" in event.secondary


# ------------------------------------------------------------------ members built once per event


def test_product_firsts_from_members_equal_the_stage_helper() -> None:
    # The batch path builds an event's members once and derives the product firsts from them.
    items = [AIWIRE_A, BLOOMBERG, RUMOUR]
    index = EventIndex()
    members_built = event_members("ev", items, index)
    assert members_built == [member_from_item(it, "ev", index.rules) for it in items]
    firsts = list(score_stage.product_firsts("ev", members_built))
    assert firsts and {product for product, _ in firsts} == {"gpt6"}
    assert firsts == list(score_stage._event_product_firsts(("ev", items), index))
