"""User mistakes on the command line: a clear message and the right exit code, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import main


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["dlq", "list", "--limit", "-1"], 2, "Invalid value for '--limit'"),
        (["dlq", "list", "--limit", "abc"], 2, "Invalid value for '--limit'"),
        (["dlq", "list", "--stage", "bogus"], 1, "--stage must be one of fetch, parse, decode, envelope"),
        # Ops review: replay accepted a typo and replayed nothing, exit 0.
        (["dlq", "replay", "--stage", "bogus"], 1, "--stage must be one of fetch, parse, decode, envelope"),
        (["digest", "--from", "2026-04-13", "--out", "o"], 2, "Missing option '--to'"),
        (["nosuchcommand"], 2, "No such command 'nosuchcommand'"),
        (
            ["digest", "--from", "2026-04-13", "--to", "9999-12-31", "--out", "o"],
            1,
            "--to must be between 1970-01-01 and 9999-12-30, got 9999-12-31",
        ),
        (
            ["digest", "--from", "2026-04-13", "--to", "2026-04-01", "--out", "o"],
            1,
            "--to 2026-04-01 is before --from 2026-04-13",
        ),
        (["digest", "--from", "13/04/2026", "--to", "2026-04-19", "--out", "o"], 1, "--from must be YYYY-MM-DD"),
        (
            ["digest", "--from", "2026-02-30", "--to", "2026-03-02", "--out", "o"],
            1,
            "--from must be YYYY-MM-DD, got '2026-02-30': not a date in the calendar",
        ),
    ],
)
def test_user_mistakes_exit_with_a_reason(
    args: list[str],
    code: int,
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # nothing may be created where the tests run
    with pytest.raises(SystemExit) as exited:
        main(args)
    err = capsys.readouterr().err
    assert exited.value.code == code, err
    assert message in " ".join(err.split()), err
    assert "Traceback" not in err and "internal error" not in err


@pytest.mark.parametrize(
    "args",
    [
        ["alerts", "list"],
        ["alerts", "list", "--json"],
        ["alerts", "deliveries"],
        ["dlq", "list"],
        ["store", "info"],
        ["store", "backup"],
    ],
)
def test_reading_a_store_that_does_not_exist_says_so_and_creates_nothing(
    args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wrong --config (or the demo's store read without its config) once answered "0 alerts" and left
    an empty DuckDB file behind, which `store backup` then copied as if it were the data."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        main(args)
    err = " ".join(capsys.readouterr().err.split())
    assert exited.value.code == 1, err
    assert "no DuckDB file yet (nothing has run with this configuration" in err, err
    assert list(tmp_path.rglob("*.duckdb")) == []


def test_a_file_system_error_reads_as_a_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.jsonl").write_text('{"id": "a", "title": "Hello there world"}\n', encoding="utf-8")
    (tmp_path / "taken").mkdir()
    with pytest.raises(SystemExit) as exited:
        main(["cluster", "--input", "in.jsonl", "--out", "taken"])
    err = " ".join(capsys.readouterr().err.split())
    assert exited.value.code == 1 and err == "error: taken: is a directory", err


def test_ctrl_c_before_a_command_handles_it_ends_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ops review: Ctrl-C in the first seconds of `process --follow` (imports, broker start, before its
    stop handler exists) printed a bare KeyboardInterrupt traceback."""
    import app.cli

    def interrupted(**_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(app.cli, "app", interrupted)
    with pytest.raises(SystemExit) as exited:
        main(["process", "--follow"])
    err = capsys.readouterr().err
    assert exited.value.code == 130 and err.strip() == "aborted" and "Traceback" not in err


def test_the_ops_module_entry_point_exits_1_when_ops_is_down(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ops review: `python -m app.ops status` printed "ops: down" and exited 0 (radar ops status exits 1)."""
    from app.ops import main as ops_main

    config = tmp_path / "radar.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n')
    assert ops_main(["status", "--config", str(config)]) == 1
    assert capsys.readouterr().out.strip() == "ops: down"
