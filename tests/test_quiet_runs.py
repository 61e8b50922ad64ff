"""Successful runs print no alarming noise (issue 14 item 8): no ECONNREFUSED, no apitools notice."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.broker import EmbeddedBroker

NOISE = ("ECONNREFUSED", "apitools not found")


def test_a_fresh_embedded_broker_start_logs_no_refused_connection(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="kafka")
    broker = EmbeddedBroker(tmp_path / "data")
    try:
        _, started = broker.ensure_running()
        assert started
    finally:
        broker.stop()
    refused = [r.getMessage() for r in caplog.records if "ECONNREFUSED" in r.getMessage()]
    assert refused == []


def test_probing_a_port_nobody_listens_on_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    # What every start does until Tansu listens: deterministic, unlike the start-up race itself.
    from infra.broker import _answers_metadata, _free_port

    caplog.set_level(logging.DEBUG, logger="kafka")
    assert _answers_metadata(f"127.0.0.1:{_free_port()}", timeout_s=1.0) is False
    assert [r.getMessage() for r in caplog.records if r.name.startswith("kafka")] == []


@pytest.fixture
def cli_config(tmp_path: Path) -> Iterator[Path]:
    config = tmp_path / "radar.toml"
    config.write_text('data_dir = "data"\n[store]\npath = "data/radar.duckdb"\n', encoding="utf-8")
    yield config
    # Stop the broker these commands started (by the pid it recorded), whatever the test did.
    EmbeddedBroker(tmp_path / "data").stop()


def _radar(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "HOME": str(cwd), "DO_NOT_TRACK": "1", "PYTHONPATH": str(Path.cwd())},
    )


@pytest.mark.parametrize("flags", [[], ["-v"]], ids=["default", "verbose"])
def test_broker_start_and_process_once_print_no_noise(cli_config: Path, flags: list[str]) -> None:
    cwd = cli_config.parent
    for args in (["broker", "start"], ["process", "--once"]):
        done = _radar(*flags, "-c", str(cli_config), *args, cwd=cwd)
        output = done.stdout + done.stderr
        assert done.returncode == 0, output
        for noise in NOISE:
            assert noise not in output, output
    status = _radar("-c", str(cli_config), "status", "--json", cwd=cwd)
    assert status.returncode == 0, status.stderr
    lag = json.loads(status.stdout)["lag"]
    assert lag["known"] is True and lag["total"] == 0
