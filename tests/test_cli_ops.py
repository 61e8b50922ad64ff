"""CLI behaviour an unattended operator relies on (issue 14 item 10): usage errors, piped progress, wide tables."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from app.cli import main
from app.commands.ingest import register
from connectors.sample_server import serve_corpus
from infra.config import Settings
from tests.connector_support import source, with_sources

LONG_NAME = "a-rather-long-source-name-that-80-columns-would-cut"


def test_process_without_a_mode_is_a_usage_error_like_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    for args in (["process"], ["process", "--once", "--follow"]):
        with pytest.raises(SystemExit) as exited:
            main(args)
        err = capsys.readouterr().err
        assert exited.value.code == 2, err
        # The usage line and the --help hint, as for a missing or malformed option.
        # (the program name is pytest's here: main() runs in-process)
        assert "Usage: " in err and " process [OPTIONS]" in err and " process --help' for help." in err
        assert "Error: choose exactly one of --once or --follow" in err
    assert list(tmp_path.iterdir()) == []  # a usage error touches nothing


def _app(settings: Settings) -> typer.Typer:
    app = typer.Typer()

    class _State:
        pass

    state = _State()
    state.settings = settings  # type: ignore[attr-defined]

    @app.callback()
    def _root(ctx: typer.Context) -> None:
        ctx.obj = state

    register(app)
    return app


def _lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.strip()]


def test_piped_ingest_prints_a_line_per_source_and_whole_names(settings: Settings) -> None:
    with serve_corpus(hostile=True) as server:
        configured = with_sources(settings, [
            source(LONG_NAME, "feed", server.url("/feeds/openai-news.xml")),
            source("empty-feed", "feed", server.url("/hostile/feeds/empty.xml")),
        ])
        # Not a terminal and no COLUMNS: what a Prefect worker or `| tee run.log` sees.
        result = CliRunner(env={"COLUMNS": None}).invoke(_app(configured), ["ingest"])
    assert result.exit_code == 0, result.output
    lines = _lines(result.output)
    progress = [line for line in lines if line.startswith("ingest [")]
    assert len(progress) == 2
    # Sources run concurrently, so lines come in finishing order: the counter counts finished
    # sources and each line names its own.
    assert [line[:12] for line in progress] == ["ingest [1/2]", "ingest [2/2]"]
    long_line = next(line for line in progress if f"] {LONG_NAME} (feed): " in line)
    empty_line = next(line for line in progress if "] empty-feed (feed): 0 produced" in line)
    assert "1 errors" in empty_line and "0 errors" in long_line
    # The lines come before the table, i.e. as each source ends, not with the summary.
    table_start = next(i for i, line in enumerate(lines) if "┃ source" in line)
    assert max(lines.index(long_line), lines.index(empty_line)) < table_start
    row = next(line for line in lines[table_start:] if LONG_NAME[:20] in line)
    assert LONG_NAME in row, row  # not cut to "a-rather-long-sourc…" at 80 columns


def test_piped_sources_check_prints_a_line_per_source(settings: Settings) -> None:
    with serve_corpus(hostile=True) as server:
        configured = with_sources(settings, [
            source(LONG_NAME, "feed", server.url("/feeds/openai-news.xml")),
            source("empty-feed", "feed", server.url("/hostile/feeds/empty.xml")),
        ])
        result = CliRunner(env={"COLUMNS": None}).invoke(_app(configured), ["sources", "check"])
    assert result.exit_code == 1, result.output  # the empty feed is not usable
    progress = [line for line in _lines(result.output) if line.startswith("check [")]
    assert progress[0].startswith(f"check [1/2] {LONG_NAME} (feed): ok, ")
    assert progress[1].startswith("check [2/2] empty-feed (feed): FAILED, ")
    assert any(LONG_NAME in line and "yes" in line for line in _lines(result.output))
