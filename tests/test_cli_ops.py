"""CLI behaviour an unattended operator relies on (issue 14 item 10): usage errors, piped progress, wide tables."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from app.cli import app as cli_app
from app.cli import main
from app.commands.ingest import register
from connectors.sample_server import sample_sources, serve_corpus
from infra.broker import _pid_alive
from infra.config import Settings, load_settings
from schemas.alert import Alert
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


def test_process_as_of_must_be_an_iso_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        main(["process", "--once", "--as-of", "yesterday"])
    err = capsys.readouterr().err
    # A wrong value exits 1, as a wrong --from or --since does; 2 is for the command line's form.
    assert exited.value.code == 1, err
    assert "--as-of must be an ISO date-time (e.g. 2026-04-20T12:00:00Z), got 'yesterday'" in " ".join(err.split())
    assert list(tmp_path.iterdir()) == []


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
        configured = with_sources(
            settings,
            [
                source(LONG_NAME, "feed", server.url("/feeds/openai-news.xml")),
                source("empty-feed", "feed", server.url("/hostile/feeds/empty.xml")),
            ],
        )
        # Not a terminal and no COLUMNS: what a Prefect worker or `| tee run.log` sees.
        result = CliRunner(env={"COLUMNS": None}).invoke(_app(configured), ["ingest"])
    # A failed source fails the run, as the Prefect flow does, after the whole table.
    assert result.exit_code == 1, result.output
    lines = _lines(result.output)
    assert lines[-1] == "1 of 2 sources failed: empty-feed (parse: empty body: the document has no content)"
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
        configured = with_sources(
            settings,
            [
                source(LONG_NAME, "feed", server.url("/feeds/openai-news.xml")),
                source("empty-feed", "feed", server.url("/hostile/feeds/empty.xml")),
            ],
        )
        result = CliRunner(env={"COLUMNS": None}).invoke(_app(configured), ["sources", "check"])
    assert result.exit_code == 1, result.output  # the empty feed is not usable
    progress = [line for line in _lines(result.output) if line.startswith("check [")]
    assert progress[0].startswith(f"check [1/2] {LONG_NAME} (feed): ok, ")
    assert progress[1].startswith("check [2/2] empty-feed (feed): FAILED, ")
    assert any(LONG_NAME in line and "yes" in line for line in _lines(result.output))


def _commands(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command path under `group` (typer's own vendored click: groups have `.commands`)."""
    yield path
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from _commands(command, (*path, name))
        else:
            yield (*path, name)


def test_the_cli_loads_no_pipeline_or_connector_until_a_command_needs_one() -> None:
    """`radar config check`, `status` or `--help` must not pay the ingest path's ~0.8 s of imports
    (Kafka, the fetcher, Beam): the CLI runs in health checks and is spawned by every flow."""
    heavy = ("kafka", "apache_beam", "prefect", "connectors.ingest", "connectors.fetch", "trafilatura")
    probe = f"import sys, app.cli; print([m for m in {heavy!r} if m in sys.modules])"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert loaded.stdout.strip() == "[]", loaded.stdout + loaded.stderr


def test_flags_render_as_plain_flags_in_every_help(monkeypatch: pytest.MonkeyPatch) -> None:
    # Was `--verbose <bool>`, `--help <bool>`: as if a flag took a value (issue 14 item 10).
    monkeypatch.setenv("COLUMNS", "200")
    paths = list(_commands(typer.main.get_command(cli_app)))
    assert ("process",) in paths and ("ops", "status") in paths and ("demo",) in paths
    for path in paths:
        result = CliRunner().invoke(cli_app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "<bool>" not in result.output, (path, result.output)
        assert "--help " in result.output
    top = CliRunner().invoke(cli_app, ["--help"]).output
    assert re.search(r"--verbose\s+-v\s+Log progress details\.", top), top
    assert re.search(r"--config\s+-c\s+<path>\s+TOML config file", top), top  # a value still shows its type
    limit = CliRunner().invoke(cli_app, ["dlq", "list", "--help"]).output
    assert re.search(r"--limit\s+<int range>", limit), limit


def test_demo_writes_its_digest_and_a_config_the_other_commands_read_its_store_by(tmp_path: Path) -> None:
    """`make demo` as a new user runs it, then looks at what it raised with the other commands."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RADAR_")}

    def radar(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "app.cli", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    printed = radar("demo", "--out", "out")
    assert {p.suffix for p in (tmp_path / "out").glob("digest-*")} == {".md", ".json", ".html"}
    # A child `python -m app.cli` is not the `radar` script: the hint names plain `radar` then.
    assert "what it stored: radar --config data/demo/radar.toml status\n" in printed
    assert "what it raised: radar --config data/demo/radar.toml alerts list\n" in printed
    config = ["--config", "data/demo/radar.toml"]
    counts = json.loads(radar(*config, "status", "--json"))["counts"]
    assert counts["items"] == 90 and counts["digests"] == 1 and counts["events"] > 5, counts
    alerts = [Alert.model_validate_json(line) for line in radar(*config, "alerts", "list", "--json").splitlines()]
    assert len(alerts) == counts["alerts"] > 0
    assert all(a.sources and a.url and a.published_at for a in alerts)
    # A second demo starts afresh, but keeps the user's backups and stops a broker they started there.
    radar(*config, "store", "backup")
    backups = list((tmp_path / "data" / "demo" / "backups").glob("*.duckdb"))
    assert len(backups) == 1
    radar(*config, "broker", "start")
    pid = json.loads((tmp_path / "data" / "demo" / "broker" / "broker.json").read_text())["pid"]
    radar("demo", "--out", "out")
    assert list((tmp_path / "data" / "demo" / "backups").glob("*.duckdb")) == backups
    assert json.loads(radar(*config, "status", "--json"))["counts"] == counts
    assert not _pid_alive(pid), "the broker started over the demo's data was stopped, not orphaned"


def test_demo_serve_serves_the_corpus_alone_and_prints_its_config(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RADAR_")}
    child = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "demo", "--serve"],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert child.stdout is not None and child.stderr is not None
        ready = child.stderr.readline().decode()
        base_url = re.fullmatch(r"serving the sample corpus on (http://127\.0\.0\.1:\d+) .*Ctrl-C stops\n", ready)
        assert base_url is not None, ready
        # The config is written and flushed before that line: all of it is in the pipe now.
        config_text = child.stdout.read1(1 << 20).decode()
        config = tmp_path / "radar.toml"
        config.write_text(config_text, encoding="utf-8")
        settings = load_settings(config)
        assert [s.name for s in settings.sources] == [s.name for s in sample_sources(base_url.group(1))]
        assert all(s.local and s.url.startswith(base_url.group(1) + "/") for s in settings.sources)
        assert settings.kafka.embedded and settings.data_dir == tmp_path / "data"
        feed = next(s.url for s in settings.sources if s.kind == "feed")
        # No proxy: the fetch must stay on 127.0.0.1 whatever the environment says.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(feed, timeout=10) as response:
            assert response.status == 200 and b"<rss" in response.read()
        child.send_signal(signal.SIGINT)
        _out, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, err
    assert err.decode().strip() == f"stopped serving {base_url.group(1)}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["radar.toml"]  # served only: no ingest, no data


def test_ops_status_when_nothing_runs_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RADAR_CONFIG", raising=False)
    config = tmp_path / "radar.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n', encoding="utf-8")
    with pytest.raises(SystemExit) as exited:
        main(["-c", str(config), "ops", "status"])
    out, err = capsys.readouterr()
    assert (exited.value.code, out.strip(), err) == (1, "ops: down", "")
    for action in ("resume", "pause"):
        with pytest.raises(SystemExit) as exited:
            main(["-c", str(config), "ops", action])
        assert exited.value.code == 1
        assert " ".join(capsys.readouterr().err.split()) == (
            "error: ops is not up (no ops.json): run `radar ops up` (make ops-up) first"
        )
    with pytest.raises(SystemExit) as exited:
        main(["ops", "down"])  # no --config and no RADAR_CONFIG
    assert exited.value.code == 1
    assert "ops needs the radar config file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["-c", str(config), "ops", "down"])
    assert (exited.value.code, capsys.readouterr().out.strip()) == (0, "nothing recorded: ops is not up")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["radar.toml"]  # status and down start nothing
