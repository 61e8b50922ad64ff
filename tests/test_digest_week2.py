"""The whole pipeline on the second labelled week (connectors/sample_corpus_week2), served on 127.0.0.1.

The week is written in another style than the first corpus (other outlets, a single-source rumour, one
guide under two URLs, arXiv papers from other fields, a quiet day): issue 12's editorial rules must hold
on it as they do on the first. `radar digest` runs as outside checks call it (DESIGN.md section 6), with
the real embedded broker, DuckDB and HTTP; the checks read the digest JSON and the store.
"""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path

import pytest

from tests.connector_support import run_digest_over_corpus
from tests.digest_corpus import configure_test_prefect

configure_test_prefect()

from digest.build import build_digest  # noqa: E402
from digest.evaluate import evaluate  # noqa: E402
from digest.render import render_markdown  # noqa: E402
from digest.select import page_keys  # noqa: E402
from infra.config import DigestSettings, Settings, StoreSettings  # noqa: E402
from infra.store import Store  # noqa: E402
from schemas.digest import Digest  # noqa: E402

WEEK2 = Path(__file__).resolve().parent.parent / "connectors" / "sample_corpus_week2"
TRUTH = tomllib.loads((WEEK2 / "ground_truth.toml").read_text(encoding="utf-8"))
FROM, TO = TRUTH["window"]["from"], TRUTH["window"]["to"]


@pytest.fixture(scope="module")
def week2(tmp_path_factory: pytest.TempPathFactory) -> tuple[Digest, Store, Path]:
    tmp_path = tmp_path_factory.mktemp("week2")
    digest_json = run_digest_over_corpus(WEEK2, tmp_path, start=FROM, end=TO, lang="zh")
    digest = Digest.model_validate_json(digest_json.read_bytes())
    return digest, Store(tmp_path / "data" / "radar.duckdb"), tmp_path


def _truth_event_of(store: Store) -> dict[str, str]:
    """Predicted event -> the ground-truth event holding most of its labelled items (keys as in evaluate)."""
    keys: dict[str, str] = {}
    for event in TRUTH["event"]:
        for key in event["items"]:
            keys[key] = event["id"]
    pages = {p["path"]: p["item"] for p in TRUTH.get("page", [])}
    votes: dict[str, dict[str, int]] = {}
    with store.read() as con:
        rows = con.execute(
            "SELECT item_id, url, canonical_url, event_id FROM items WHERE event_id IS NOT NULL"
        ).fetchall()
    for item_id, url, canonical, event_id in rows:
        names = {
            item_id,
            item_id.removeprefix("x:").removeprefix("arxiv:").removeprefix("page:"),
            url or "",
            canonical or "",
        }
        names |= {pages.get(n.split("/", 3)[-1], "") for n in names if n}
        labels = {keys[n] for n in names if n in keys}
        for label in labels:
            votes.setdefault(event_id, {}).setdefault(label, 0)
            votes[event_id][label] += 1
    return {event: max(counts, key=lambda k: counts[k]) for event, counts in votes.items()}


def test_rumour_never_reaches_the_top5(week2: tuple[Digest, Store, Path]) -> None:
    digest, store, _ = week2
    rumour = next(e for e in TRUTH["event"] if e["id"] == "rumour-apple-mistral")
    rumour_url = rumour["items"][0]
    truth_of = _truth_event_of(store)
    assert len(digest.top_events) == 5
    for event in digest.top_events:
        # not the rumour's event, not its page as a credible source, not its figure as a fact
        assert truth_of.get(event.id) != "rumour-apple-mistral", event.title
        assert all(rumour_url not in (s.url, s.canonical_url) for s in event.sources), event.title
        assert not any("150 亿" in fact or "15 billion" in fact for fact in event.key_facts), event.key_facts
        assert event.verification != "unverified"
    # an unverified post may be shown under X signals, flagged as such
    markdown = render_markdown(digest)
    for signal in digest.x_signals:
        if signal.verification == "unverified":
            assert "未经证实" in markdown.split(signal.handle.replace("_", "\\_"), 1)[1].split("###", 1)[0]


def test_no_page_appears_twice(week2: tuple[Digest, Store, Path]) -> None:
    digest, _, _ = week2
    seen: dict[str, str] = {}
    shown = [(s.url, s.canonical_url, s.publisher, s.title or "") for e in digest.top_events for s in e.sources]
    shown += [(r.url, None, "arXiv" if r.arxiv_id else "", r.title) for r in digest.research]
    for url, canonical, publisher, title in shown:
        for key in page_keys(url, canonical, publisher, title):
            assert key not in seen, f"{url} repeats {seen[key]}"
            seen[key] = url
    guide_urls = [p["path"] for p in TRUTH["page"] if "run-mistral" in p["path"]]
    assert sum(1 for url, *_ in shown if any(url.endswith(path) for path in guide_urls)) <= 1
    arxiv_ids = [r.arxiv_id for r in digest.research if r.arxiv_id]
    assert len(arxiv_ids) == len(set(arxiv_ids))


def test_research_holds_only_ai_papers_ranked_by_attention(week2: tuple[Digest, Store, Path]) -> None:
    digest, _, _ = week2
    got = [r.arxiv_id for r in digest.research]
    assert not set(got) & set(TRUTH["off_topic_papers"])
    # the two papers the week discussed come before the newer ones nobody discussed
    wanted = TRUTH["research"]
    assert set(wanted) <= set(got)
    assert max(got.index(a) for a in wanted) < len(wanted)


def test_x_signals_carry_first_hand_posts_with_a_type_and_a_reason(week2: tuple[Digest, Store, Path]) -> None:
    digest, _, _ = week2
    expected = {s["tweet_id"] for s in TRUTH["x_signal"] if s["expected"]}
    shown = {s.tweet_id for s in digest.x_signals}
    assert len(expected & shown) >= 3, (expected, shown)
    for signal in digest.x_signals:
        assert signal.type in ("fact", "trend", "opinion")
        assert signal.judgment  # the reason for the type (and for the pick) in words
    # the small account restating the open-weight story days later is not among them
    assert not {s["tweet_id"] for s in TRUTH["x_signal"] if s["handle"] == "@kvcache_kid"} & shown


def test_match_with_the_labels(week2: tuple[Digest, Store, Path]) -> None:
    """The figures of README's table (a floor here: the clustering is being replaced)."""
    digest, store, _ = week2
    quality = evaluate(store, digest, WEEK2 / "ground_truth.toml")
    assert quality.top5_match >= 0.8
    assert quality.top5_noise == 0
    assert quality.research_recall >= 0.5
    assert quality.x_signal_verification_accuracy == 1.0
    # The online clustering (README "Event clustering"): 0.84 / 1.00 here since the words of an
    # item's own link count (0.87 / 0.97 before, 0.83 / 1.00 before a feed entry and its page were
    # one item); the EU guidelines are one event apart from NVIDIA's UK investment, the acquisition
    # rumour's page sits inside the Mistral launch.
    assert quality.cluster_purity >= 0.84
    assert quality.cluster_completeness >= 0.97


def test_the_quiet_day_says_so(week2: tuple[Digest, Store, Path]) -> None:
    _, store, tmp_path = week2
    quiet = date.fromisoformat(TRUTH["window"]["quiet_day"])
    settings = Settings(
        data_dir=tmp_path / "data",
        store=StoreSettings(path=tmp_path / "data" / "radar.duckdb"),
        digest=DigestSettings(out_dir=tmp_path / "quiet", lookback_days=0),
    )
    digest = build_digest(store, settings, quiet, days=1, lang="zh")
    assert not digest.top_events and digest.stats.items_in == 0
    assert render_markdown(digest).count("本窗口没有达到门槛的新事件") == 1
