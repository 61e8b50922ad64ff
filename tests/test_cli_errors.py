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


@pytest.mark.parametrize(
    "args",
    [
        ["digest", "--from", "2026-04-13", "--to", "2026-04-19", "--out", "taken"],
        ["demo", "--out", "taken"],
    ],
)
def test_an_out_that_is_a_file_fails_before_the_run(
    args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review: `radar digest --out FILE` ran ingest, process and rollup, then said "FILE: file exists"."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "taken").write_text("an earlier report\n", encoding="utf-8")
    with pytest.raises(SystemExit) as exited:
        main(args)
    err = " ".join(capsys.readouterr().err.split())
    assert exited.value.code == 1 and err == f"error: --out: {tmp_path / 'taken'} is not a directory", err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"], "nothing ran: no data directory, no store"


def test_ingest_with_no_enabled_source_fails_like_its_deployment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review: `radar ingest` on a config without sources printed a line and exited 0."""
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "radar.toml"
    config.write_text(
        "\n".join(
            ['data_dir = "data"', "[[sources]]", 'name = "off"', 'kind = "feed"', 'url = "http://127.0.0.1:9/f"']
            + ['tier = "media"', "enabled = false", ""]
        ),
        encoding="utf-8",
    )
    with pytest.raises(SystemExit) as exited:
        main(["--config", str(config), "ingest"])
    err = " ".join(capsys.readouterr().err.split())
    assert exited.value.code == 1 and f"sources: no enabled [[sources]] in {config}: nothing to ingest" in err, err
    assert not (tmp_path / "data").exists(), "it failed before a broker or a file was created"


def test_a_config_that_is_a_directory_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        main(["--config", str(tmp_path), "status"])
    err = " ".join(capsys.readouterr().err.split())
    assert exited.value.code == 1 and f"config file {tmp_path} is a directory" in err, err


def test_demo_port_without_serve_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        main(["demo", "--port", "5"])
    err = " ".join(capsys.readouterr().err.split())
    assert exited.value.code == 1 and "--port applies with --serve only" in err, err


@pytest.mark.parametrize(
    "wrapped",
    [
        RuntimeError("KeyboardInterrupt [while running 'DecideAndWrite']"),  # Beam's
        OSError("Query interrupted"),  # an error the CLI otherwise reports as the user's
    ],
)
def test_ctrl_c_that_a_library_turned_into_its_own_error_still_ends_as_an_interrupt(
    wrapped: Exception, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Review: Ctrl-C during `radar demo`'s process step ended in "internal error: RuntimeError:
    KeyboardInterrupt [while running 'DecideAndWrite']" and exit 3, which reads as a bug."""
    import os
    import signal
    import time

    import app.cli

    def interrupted_inside_a_library(**_: object) -> None:
        try:
            os.kill(os.getpid(), signal.SIGINT)  # the real signal, through the real handler
            time.sleep(5)  # the handler raises long before
        except KeyboardInterrupt:
            raise wrapped from None

    monkeypatch.setattr(app.cli, "app", interrupted_inside_a_library)
    # Python's own handler, as in a terminal, whatever started pytest (a background job has SIGINT ignored).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(SystemExit) as exited:
            main(["demo"])
        after = signal.getsignal(signal.SIGINT)
    finally:
        signal.signal(signal.SIGINT, previous)
    err = capsys.readouterr().err
    assert exited.value.code == 130 and err.strip() == "aborted", err
    assert after is signal.default_int_handler, "main() leaves the SIGINT handler as it found it"


def test_an_error_without_ctrl_c_is_still_reported_as_one(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import app.cli

    def fails(**_: object) -> None:
        raise RuntimeError("KeyboardInterrupt [while running 'DecideAndWrite']")

    monkeypatch.setattr(app.cli, "app", fails)
    with pytest.raises(SystemExit) as exited:
        main(["demo"])
    assert exited.value.code == 3 and "internal error: RuntimeError" in capsys.readouterr().err


def test_the_ops_module_entry_point_exits_1_when_ops_is_down(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ops review: `python -m app.ops status` printed "ops: down" and exited 0 (radar ops status exits 1)."""
    from app.ops import main as ops_main

    config = tmp_path / "radar.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n')
    assert ops_main(["status", "--config", str(config)]) == 1
    assert capsys.readouterr().out.strip() == "ops: down"
