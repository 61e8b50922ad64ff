"""`radar cluster` and `radar eval clustering` (DESIGN.md §6, "Event clustering replay")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli import main

RECORDS = [
    {
        "id": "a1",
        "title": "Acme Robotics raises $40 million to build warehouse robots",
        "publisher": "Wire",
        "published_at": "2026-04-14T08:00:00Z",
        "story": "acme",
    },
    {
        "id": "b1",
        "title": "City council approves new bicycle lanes downtown",
        "publisher": "Local",
        "published_at": "2026-04-14T08:05:00Z",
        "story": "bikes",
    },
    {
        "id": "a2",
        "title": "Acme Robotics lands $40 million for warehouse robots",
        "publisher": "Daily",
        "published_at": "2026-04-14T09:00:00Z",
        "story": "acme",
    },
    {
        "id": "a3",
        "title": "Acme Robotics raises $40 million to build warehouse robots",
        "publisher": "Copy",
        "published_at": "2026-04-14T09:30:00Z",
        "story": "acme",
    },
    {
        "id": "b2",
        "title": "Downtown bicycle lanes approved by city council",
        "publisher": "Herald",
        "published_at": "2026-04-14T10:00:00Z",
        "story": "bikes",
    },
]


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(args)
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out, captured.err


def test_every_valid_record_once_in_order_and_bad_lines_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [json.dumps(r) for r in RECORDS[:2]] + [
        "{not json",
        json.dumps({"title": "no id"}),
        json.dumps({"id": "x", "title": "t", "published_at": "soon"}),
    ]
    lines += [json.dumps(r) for r in RECORDS[2:]]
    source = _write(tmp_path / "in.jsonl", lines)
    out = tmp_path / "out.jsonl"
    code, _, err = _run(["cluster", "--input", str(source), "--out", str(out)], capsys)
    assert code == 0, err
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == [r["id"] for r in RECORDS]
    assert all(set(r) == {"id", "event_id", "duplicate_of"} for r in rows)
    assert "line 3: not JSON" in err and "line 4: missing or empty string field 'id'" in err
    assert "line 5: published_at 'soon' is not an RFC 3339 date-time" in err
    event = {r["id"]: r["event_id"] for r in rows}
    # The bicycle story is not about AI: relevance never keeps a record out of clustering.
    assert event["b1"] and event["b1"] == event["b2"] != event["a1"]
    assert event["a1"] == event["a2"] == event["a3"]
    assert {r["id"]: r["duplicate_of"] for r in rows}["a3"] == "a1", "an exact copy is a duplicate of the first"


def test_the_same_file_gives_the_same_events(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = _write(tmp_path / "in.jsonl", [json.dumps(r) for r in RECORDS])
    outputs = []
    for name in ("one", "two"):
        out = tmp_path / f"{name}.jsonl"
        assert _run(["cluster", "--input", str(source), "--out", str(out)], capsys)[0] == 0
        outputs.append(out.read_text(encoding="utf-8"))
    assert outputs[0] == outputs[1]


def test_an_unreadable_file_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(["cluster", "--input", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "o")], capsys)
    assert code == 1 and "no such file" in err


def test_eval_clustering_prints_the_measures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = _write(tmp_path / "in.jsonl", [json.dumps(r) for r in RECORDS])
    code, out, err = _run(["eval", "clustering", str(source), "--label-field", "story"], capsys)
    assert code == 0, err
    text = " ".join(out.split())
    for measure in ("pairwise P / R / F1", "B-cubed P / R / F1", "NMI (geometric)", "ARI"):
        assert measure in text
    assert "B-cubed P / R / F1 │ 1.000 / 1.000 / 1.000" in text, text
    code, _, err = _run(["eval", "clustering", str(source), "--label-field", "nope"], capsys)
    assert code == 1 and "no record" in err


def test_eval_clustering_counts_only_what_it_scored_and_says_what_it_left_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file half of whose lines fail must not pass for whole: the left-out lines are counted, and the
    gold events are those of the scored records (a rejected record's label once counted too)."""
    broken = {"id": "x9", "published_at": "2026-04-14T09:00:00Z", "story": "only-in-a-broken-record"}
    # Read, then refused by the replay (its id is taken): its label must neither count nor replace a1's.
    reused = {**RECORDS[0], "title": "Something else entirely", "story": "only-in-a-refused-record"}
    lines = [json.dumps(r) for r in RECORDS] + ["{not json", json.dumps(broken), json.dumps(reused)]
    source = _write(tmp_path / "in.jsonl", lines)
    code, out, err = _run(["eval", "clustering", str(source), "--label-field", "story"], capsys)
    assert code == 0, err
    gold = len({r["story"] for r in RECORDS})
    assert f"{len(RECORDS)} labelled records, {gold} gold events" in " ".join(out.split()), out
    assert "B-cubed P / R / F1 │ 1.000 / 1.000 / 1.000" in " ".join(out.split()), out
    assert f"3 line(s) of in.jsonl left out (reasons above): the scores cover the {len(RECORDS)}" in " ".join(
        err.split()
    ), err
    empty = _write(tmp_path / "empty.jsonl", [])
    code, _, err = _run(["eval", "clustering", str(empty), "--label-field", "story"], capsys)
    assert code == 1 and "empty.jsonl is empty" in err, err
    bad = _write(tmp_path / "bad.jsonl", ["{not json"])
    code, _, err = _run(["eval", "clustering", str(bad), "--label-field", "story"], capsys)
    assert code == 1 and "bad.jsonl holds no valid record" in " ".join(err.split()), err


# Seven real rows of one UCI story (Fed's Plosser on tapering, 10 March 2014), as crawled; the
# seventh moved two years on. Labels and categories left out.
PLOSSER = [
    {
        "id": "1",
        "title": "Fed official says weak data caused by weather, should not slow taper",
        "url": "http://www.latimes.com/business/money/la-fi-mo-federal-reserve-plosser-stimulus-economy-20140310,0,1312750.story\\?track=rss",
        "publisher": "Los Angeles Times",
        "published_at": "2014-03-10T16:52:50.698000Z",
    },
    {
        "id": "2",
        "title": "Fed's Charles Plosser sees high bar for change in pace of tapering",
        "url": "http://www.livemint.com/Politics/H2EvwJSK2VE6OF7iK1g3PP/Feds-Charles-Plosser-sees-high-bar-for-change-in-pace-of-ta.html",
        "publisher": "Livemint",
        "published_at": "2014-03-10T16:52:51.207000Z",
    },
    {
        "id": "3",
        "title": "US open: Stocks fall after Fed official hints at accelerated tapering",
        "url": "http://www.ifamagazine.com/news/us-open-stocks-fall-after-fed-official-hints-at-accelerated-tapering-294436",
        "publisher": "IFA Magazine",
        "published_at": "2014-03-10T16:52:51.550000Z",
    },
    {
        "id": "4",
        "title": "Fed risks falling 'behind the curve', Charles Plosser says",
        "url": "http://www.ifamagazine.com/news/fed-risks-falling-behind-the-curve-charles-plosser-says-294430",
        "publisher": "IFA Magazine",
        "published_at": "2014-03-10T16:52:51.793000Z",
    },
    {
        "id": "5",
        "title": "Fed's Plosser: Nasty Weather Has Curbed Job Growth",
        "url": "http://www.moneynews.com/Economy/federal-reserve-charles-plosser-weather-job-growth/2014/03/10/id/557011",
        "publisher": "Moneynews",
        "published_at": "2014-03-10T16:52:52.027000Z",
    },
    {
        "id": "6",
        "title": "Plosser: Fed May Have to Accelerate Tapering Pace",
        "url": "http://www.nasdaq.com/article/plosser-fed-may-have-to-accelerate-tapering-pace-20140310-00371",
        "publisher": "NASDAQ",
        "published_at": "2014-03-10T16:52:52.212000Z",
    },
]
LATER = {
    "id": "7",
    "title": "Fed's Plosser: Taper pace may be too slow",
    "url": "http://www.marketwatch.com/story/feds-plosser-taper-pace-may-be-too-slow-2014-03-10\\?reflink=MW_news_stmp",
    "publisher": "MarketWatch",
    "published_at": "2016-03-10T17:00:00Z",
}


def test_a_record_far_in_the_future_leaves_earlier_records_events_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A record dated past the event window closes the events before it. One of them had absorbed
    another (a merge), and closing it made the clustering forget the merge; the earlier records of
    the absorbed event then came out under its merged-away id (review of session 15)."""
    records, later = PLOSSER, LATER
    alone, with_later = tmp_path / "six.jsonl", tmp_path / "seven.jsonl"
    _write(alone, [json.dumps(r) for r in records])
    _write(with_later, [json.dumps(r) for r in [*records, later]])
    events = []
    for source in (alone, with_later):
        out = tmp_path / f"out-{source.name}"
        assert _run(["cluster", "--input", str(source), "--out", str(out)], capsys)[0] == 0
        events.append({r["id"]: r["event_id"] for r in map(json.loads, out.read_text(encoding="utf-8").splitlines())})
    six, seven = events
    assert {k: v for k, v in seven.items() if k != "7"} == six
    # The case needs a merge among the six: record 3 founds an event that the record after it folds away.
    from transforms.cluster import cluster_batch
    from transforms.dedupe import dedupe_items
    from transforms.normalize import normalize_record
    from transforms.replay import _raw_post, read_replay_file

    inputs, _ = read_replay_file(alone)
    placed = cluster_batch(dedupe_items([normalize_record(_raw_post(i)) for i in inputs]))  # type: ignore[misc]
    assert placed.merges, "the six records no longer merge two events: the test lost its case"
    assert not set(placed.merges) & set(seven.values()), "no record carries a merged-away event id"


def test_hostile_lines_are_named_and_the_rest_is_clustered(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    surrogate = json.dumps({"id": "s", "title": "Broken \udc80 text", "published_at": "2026-04-14T08:00:00Z"})
    numeric = json.dumps({"id": 42, "title": "A numeric id"})
    in_id = json.dumps({"id": "a\ud800", "title": "A broken id", "published_at": "2026-04-14T08:00:00Z"})
    lines = [json.dumps(RECORDS[0]), deep, surrogate, numeric, in_id, json.dumps(RECORDS[1])]
    source = _write(tmp_path / "in.jsonl", lines)
    out = tmp_path / "out.jsonl"
    code, _, err = _run(["cluster", "--input", str(source), "--out", str(out)], capsys)
    assert code == 0, err
    assert [json.loads(x)["id"] for x in out.read_text(encoding="utf-8").splitlines()] == ["a1", "b1"]
    text = " ".join(err.split())
    assert "line 2: not JSON (RecursionError" in text, text
    assert "line 3: field 'title' holds a lone surrogate (\\udc80), not text" in text, text
    assert "line 4: field 'id' must be a string, got int 42" in text, text
    assert "line 5: field 'id' holds a lone surrogate (\\ud800), not text" in text, text
    assert "2 records -> 2 events, 0 duplicates, 4 left out (reasons above)" in text, text


def test_published_at_must_be_rfc_3339(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Not any ISO 8601 form: a bare date or a time with no offset would silently mean midnight or UTC."""
    taken = ["2026-04-14T08:00:00Z", "2026-04-14t08:00:00z", "2026-04-14 08:00:00+02:00", "2016-12-31T23:59:60Z"]
    refused = ["2026-04-14", "2026-04-14T08:00:00", "20260414T080000Z", "2026-W16-2", "2026-04-14T08:00:00+0200"]
    records = [{"id": f"r{i}", "title": f"Record {i}", "published_at": v} for i, v in enumerate(taken + refused)]
    source = _write(tmp_path / "in.jsonl", [json.dumps(r) for r in records])
    out = tmp_path / "out.jsonl"
    code, _, err = _run(["cluster", "--input", str(source), "--out", str(out)], capsys)
    assert code == 0, err
    kept = [json.loads(x)["id"] for x in out.read_text(encoding="utf-8").splitlines()]
    assert kept == [f"r{i}" for i in range(len(taken))]
    for value in refused:
        assert f"published_at {value!r} is not an RFC 3339 date-time" in err, (value, err)


def test_out_refuses_the_input_and_dash_is_standard_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = _write(tmp_path / "in.jsonl", [json.dumps(r) for r in RECORDS])
    before = source.read_bytes()
    code, _, err = _run(["cluster", "--input", str(source), "--out", str(source)], capsys)
    assert code == 1 and "is the input file" in err and source.read_bytes() == before
    code, out, err = _run(["cluster", "--input", str(source), "--out", "-"], capsys)
    assert code == 0, err
    assert [json.loads(x)["id"] for x in out.splitlines()] == [r["id"] for r in RECORDS]
    assert "wrote standard output" in err and not (tmp_path / "-").exists()


def test_the_config_near_duplicate_threshold_applies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """DESIGN §6: the replay runs the pipeline's code, so the processor's own threshold applies; only
    a --config given to the command is read (a stale $RADAR_CONFIG must not stop a replay)."""
    monkeypatch.setenv("RADAR_CONFIG", str(tmp_path / "stale.toml"))
    source = _write(tmp_path / "in.jsonl", [json.dumps(r) for r in RECORDS])
    duplicates = []
    for threshold in (0.8, 0.3):
        config = tmp_path / f"t{threshold}.toml"
        config.write_text(f"[processor]\nnear_duplicate_threshold = {threshold}\n", encoding="utf-8")
        out = tmp_path / f"out{threshold}.jsonl"
        code, _, err = _run(["cluster", "--config", str(config), "--input", str(source), "--out", str(out)], capsys)
        assert code == 0, err
        rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
        duplicates.append({r["id"] for r in rows if r["duplicate_of"]})
    assert duplicates[0] < duplicates[1], duplicates
    code, _, err = _run(
        ["cluster", "--config", str(tmp_path / "none.toml"), "--input", str(source), "--out", "-"], capsys
    )
    assert code == 1 and "not found" in err, err
    code, _, err = _run(["eval", "clustering", str(source), "--label-field", "story"], capsys)
    assert code == 0, err


def test_eval_says_how_many_records_have_no_label(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    unlabelled = [
        {"id": "u1", "title": "Nothing to say here", "published_at": "2026-04-14T11:00:00Z"},
        {"id": "u2", "title": "Nor here", "published_at": "2026-04-14T11:05:00Z", "story": None},
        {"id": "u3", "title": "Nor there", "published_at": "2026-04-14T11:10:00Z", "story": " "},
    ]
    source = _write(tmp_path / "in.jsonl", [json.dumps(r) for r in RECORDS + unlabelled])
    code, out, err = _run(["eval", "clustering", str(source), "--label-field", "story"], capsys)
    assert code == 0, err
    assert "3 record(s) have no 'story' label (missing, null or blank)" in " ".join(err.split()), err
    assert f"{len(RECORDS)} labelled records" in " ".join(out.split()), out


def test_eval_clustering_json_is_one_document_with_the_table_s_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A bad line too: the document counts what it left out, as the table's stderr line does.
    source = _write(tmp_path / "in.jsonl", [json.dumps(r) for r in RECORDS] + ["{not json"])
    code, out, err = _run(["eval", "clustering", str(source), "--label-field", "story", "--json"], capsys)
    assert code == 0, err
    document = json.loads(out)  # one document: anything else on stdout would fail here
    assert document["records"] == document["scored"] == len(RECORDS)
    assert document["unlabelled"] == 0 and document["lines_left_out"] == 1
    assert document["gold_events"] == len({r["story"] for r in RECORDS})
    assert document["bcubed"] == {"p": 1.0, "r": 1.0, "f1": 1.0} and document["nmi"] == 1.0
    code, table, _ = _run(["eval", "clustering", str(source), "--label-field", "story"], capsys)
    pairwise = document["pairwise"]
    assert f"pairwise P / R / F1 │ {pairwise['p']:.3f} / {pairwise['r']:.3f} / {pairwise['f1']:.3f}" in " ".join(
        table.split()
    )
    assert f"{document['predicted_events']} predicted" in " ".join(table.split())
