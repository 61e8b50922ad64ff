"""Contracts: golden fixtures of every version parse, unknown versions fail clearly, round trips hold."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.common import CATEGORIES, SourceRef
from schemas.dead_letter import DeadLetter
from schemas.digest import Digest, DigestStats, DigestWindow
from schemas.envelope import CONTRACTS, EnvelopeError, dump_envelope, parse_envelope
from schemas.export import DOCUMENTS, export_json_schemas
from schemas.raw import Fetch, RawPost, SocialMeta

GOLDEN = sorted((Path(__file__).parent / "golden").glob("*.json"))


def test_every_contract_has_a_golden_fixture() -> None:
    covered = {json.loads(p.read_text())["schema"] + "/" + str(json.loads(p.read_text())["version"]) for p in GOLDEN}
    assert covered == set(CONTRACTS)


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_golden_fixture_parses_and_reserialises_identically(path: Path) -> None:
    raw = path.read_bytes()
    model = parse_envelope(raw)
    expected_tag = f"{json.loads(raw)['schema']}/{json.loads(raw)['version']}"
    assert type(model) is CONTRACTS[expected_tag]
    assert json.loads(dump_envelope(model)) == json.loads(raw)


@pytest.mark.parametrize("path", GOLDEN, ids=[p.stem for p in GOLDEN])
def test_compact_and_spaced_spellings_parse_alike(path: Path) -> None:
    # dump_envelope's own spelling takes the direct path, any other spelling the union: same model.
    model = parse_envelope(path.read_bytes())
    compact = dump_envelope(model)
    spaced = json.dumps(json.loads(compact), indent=1).encode()
    reordered = json.dumps(dict(reversed(list(json.loads(compact).items())))).encode()
    assert compact.startswith(b'{"schema":"')
    assert parse_envelope(compact) == parse_envelope(spaced) == parse_envelope(reordered) == model


def test_a_duplicate_tag_key_is_judged_by_its_last_value_on_both_paths() -> None:
    raw = dump_envelope(parse_envelope((Path(__file__).parent / "golden" / "raw.post.feed.v1.json").read_bytes()))
    doubled = raw[:-1] + b',"schema":"raw.page"}'
    with pytest.raises(EnvelopeError, match="html"):  # validated as a raw.page (last value wins), not a raw.post
        parse_envelope(doubled)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"schema": "raw.post", "version": 2, "key": "k"}', "unknown envelope raw.post/2; known: raw.post/1"),
        (b'{"schema": "tweet", "version": 1}', "unknown envelope tweet/1"),
        (b'{"key": "k"}', "unknown envelope (no schema/version)"),
        (b"[1, 2]", "unknown envelope (no schema/version)"),
        (b"{not json", "invalid JSON"),
        (b"", "invalid JSON"),
        (b'{"schema": "raw.post", "version": 1, "key": ""}', "key: String should have at least 1 character"),
    ],
    ids=["unknown-version", "unknown-schema", "no-tag", "not-object", "bad-json", "empty", "bad-field"],
)
def test_bad_envelopes_fail_with_one_clear_line(raw: bytes, message: str) -> None:
    with pytest.raises(EnvelopeError) as exc_info:
        parse_envelope(raw)
    assert str(exc_info.value).startswith(message)
    assert "\n" not in str(exc_info.value)


def test_unknown_keys_are_rejected() -> None:
    golden = json.loads((Path(__file__).parent / "golden" / "alert.v1.json").read_text())
    golden["surprise"] = 1
    with pytest.raises(EnvelopeError, match="surprise: Extra inputs are not permitted"):
        parse_envelope(json.dumps(golden))


text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=80)
aware = st.datetimes(
    min_value=datetime(1990, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-7, minutes=-30))]),
)
source_refs = st.builds(
    SourceRef,
    name=st.from_regex(r"[a-z][a-z0-9-]{0,15}", fullmatch=True),
    kind=st.sampled_from(["feed", "html", "arxiv", "x", "jsonl"]),
    tier=st.sampled_from(["official", "media", "research", "social", "community"]),
    publisher=text.filter(bool),
    organisation=st.none() | text,
    url=text,
)
fetches = st.builds(
    Fetch,
    requested_url=text,
    final_url=text,
    status=st.integers(0, 999),
    fetched_at=aware,
    etag=st.none() | text,
    redirects=st.lists(text, max_size=3).map(tuple),
)


@settings(max_examples=60, deadline=None)
@given(
    st.builds(
        RawPost,
        key=text.filter(bool),
        source=source_refs,
        fetch=fetches,
        title=st.none() | text,
        text=st.none() | text,
        published_at=st.none() | aware,
        body=text,
        social=st.none() | st.builds(SocialMeta, author_id=text, handle=text, likes=st.integers(0, 10**12)),
        categories=st.lists(text, max_size=4).map(tuple),
    )
)
def test_raw_post_round_trip(post: RawPost) -> None:
    assert parse_envelope(dump_envelope(post)) == post


@settings(max_examples=60, deadline=None)
@given(
    st.builds(
        DeadLetter,
        id=text,
        stage=st.sampled_from(["fetch", "parse", "normalize", "sink"]),
        reason=text.filter(bool),
        original=st.binary(max_size=256),
        occurred_at=aware,
        original_size=st.integers(0, 10**10),
    )
)
def test_dead_letter_round_trip_keeps_original_bytes(letter: DeadLetter) -> None:
    again = parse_envelope(dump_envelope(letter))
    assert again == letter
    assert again.original == letter.original


@settings(max_examples=30, deadline=None)
@given(
    overview=text,
    conclusions=st.lists(text, min_size=3, max_size=3),
    start=st.dates(date(2000, 1, 1)),
    stats=st.builds(
        DigestStats,
        items_in=st.integers(0, 10**9),
        duplicates=st.integers(0, 10**9),
        rejected=st.integers(0, 10**9),
        events=st.integers(0, 10**9),
    ),
)
def test_digest_round_trip(overview: str, conclusions: list[str], start: date, stats: DigestStats) -> None:
    window = DigestWindow.model_validate({"from": start, "to": start + timedelta(days=6), "timezone": "UTC"})
    digest = Digest(
        window=window,
        overview=overview,
        conclusions=conclusions,
        top_events=[],
        business_analysis=overview,
        stats=stats,
    )
    raw = dump_envelope(digest)
    assert json.loads(raw)["window"]["from"] == start.isoformat()
    assert parse_envelope(raw) == digest


def test_export_writes_a_schema_per_contract_with_digest_contract_fields(tmp_path: Path) -> None:
    paths = export_json_schemas(tmp_path / "out")
    assert {p.name for p in paths} == {f"{t.replace('/', '.v')}.schema.json" for t in {**CONTRACTS, **DOCUMENTS}}
    summary = json.loads((tmp_path / "out" / "alert-summary.v1.schema.json").read_text())
    assert {"summary_id", "quiet_from", "quiet_until", "count", "alerts"} <= set(summary["properties"])
    digest = json.loads((tmp_path / "out" / "digest.v1.schema.json").read_text())
    for field in (
        "window",
        "overview",
        "conclusions",
        "top_events",
        "x_signals",
        "research",
        "business_analysis",
        "stats",
    ):
        assert field in digest["properties"], field
    defs = digest["$defs"]
    assert set(defs["DigestWindow"]["properties"]) == {"from", "to", "timezone"}
    assert {
        "id",
        "title",
        "category",
        "signal_score",
        "verification",
        "what_happened",
        "key_facts",
        "why_it_matters",
        "implications",
        "sources",
    } <= set(defs["TopEvent"]["properties"])
    assert set(defs["TopEvent"]["properties"]["category"]["enum"]) == set(CATEGORIES)
    assert {"url", "canonical_url", "publisher", "tier", "published_at"} <= set(defs["DigestSource"]["properties"])
    assert {"handle", "url", "tweet_id", "type", "verification", "judgment", "sources"} <= set(
        defs["XSignal"]["properties"]
    )
    assert {"title", "url", "arxiv_id", "what", "novelty", "applications", "judgment"} <= set(
        defs["ResearchHighlight"]["properties"]
    )
    assert set(defs["DigestStats"]["properties"]) == {"items_in", "duplicates", "rejected", "events"}


def test_a_str_envelope_with_a_lone_surrogate_fails_as_an_envelope_error() -> None:
    with pytest.raises(EnvelopeError):
        parse_envelope('{"schema":"raw.post","version":1,"key":"\ud800"}')
