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
    assert "line 5: published_at 'soon' is not RFC 3339" in err
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
