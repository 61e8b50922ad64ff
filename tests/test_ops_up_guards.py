"""What `radar ops up` checks before it starts anything (ops review): a record left by an `up` whose
server died is cleaned up first, and a port something already listens on is refused, so a second
stack never deploys into another one's Prefect server."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from app.ops import _alive, up
from infra.config import ConfigError

_FEED = (
    'data_dir = "{data}"\n[[sources]]\nname = "feed"\nkind = "feed"\nurl = "http://127.0.0.1:9/f.xml"\n'
    'tier = "media"\nlocal = true\n'
)


def _config(tmp_path: Path, text: str) -> tuple[Path, Path]:
    """(data dir, radar.toml) under tmp_path; `text` may name the data dir as {data}."""
    data = tmp_path / "data"
    config = tmp_path / "radar.toml"
    config.write_text(text.format(data=data))
    return data, config


def _record(data: Path, config: Path, server: int, worker: int, broker: dict[str, int] | None) -> None:
    """An ops.json as `up` leaves it, with these pids (no server answers its API URL)."""
    (data / "ops").mkdir(parents=True, exist_ok=True)
    (data / "ops" / "ops.json").write_text(
        json.dumps(
            {
                "config": str(config),
                "api_url": "http://127.0.0.1:1/api",
                "server": {"pid": server, "marker": "server"},
                "worker": {"pid": worker, "marker": "worker"},
                "broker": broker,
            }
        )
    )


def test_up_stops_what_a_half_down_record_left_and_refuses_a_port_in_use(tmp_path: Path) -> None:
    data, config = _config(tmp_path, _FEED)
    # The recorded server's pid now belongs to another program (the server died, the pid was reused):
    # not "already up", and left alone.
    reused = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
    # A worker the dead server's `up` started: its own process group, "worker" in its command line.
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "worker"], start_new_session=True)
    _record(data, config, reused.pid, worker.pid, None)
    said: list[str] = []
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        try:
            with pytest.raises(ConfigError, match=rf"127.0.0.1:{port} is in use .* --port or RADAR_OPS_PORT"):
                up(config, port=port, say=said.append)
            assert _alive(reused.pid), "another program's process is never stopped"
        finally:
            for process in (worker, reused):
                if _alive(process.pid):
                    process.kill()
                process.wait(timeout=30)
    assert said[0].startswith("the last `ops up` is half down"), said
    assert any(line.startswith(f"worker pid {worker.pid}: stopped") for line in said), said
    assert f"server pid {reused.pid}: pid {reused.pid} is no longer 'server': left alone" in said, said
    assert not (data / "ops" / "ops.json").exists(), "the stale record is gone with what it listed"


def test_up_refuses_a_webhook_that_cannot_deliver_before_starting_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ops review (session 19): with the webhook secret unset, `ops up` started silently, failure notices
    went out unsigned and the only word of it was in data/ops/worker.log; `radar config check` fails."""
    monkeypatch.delenv("RADAR_TEST_UNSET_SECRET", raising=False)
    data, config = _config(
        tmp_path,
        _FEED + '[[alerts.webhooks]]\nname = "pager"\nurl = "http://127.0.0.1:9/hook"\n'
        'secret_env = "RADAR_TEST_UNSET_SECRET"\nlocal = true\n',
    )
    with pytest.raises(ConfigError) as refused:
        up(config, port=0)
    assert str(refused.value) == (
        "alerts.webhooks pager: cannot deliver: env var RADAR_TEST_UNSET_SECRET is not set: its deliveries wait"
        " until it is (`radar config check` lists every problem)"
    )
    assert not (data / "ops").exists(), "nothing was started or written"


def test_status_and_down_name_a_broker_that_ops_up_did_not_start(tmp_path: Path) -> None:
    """Ops review (session 19): after `radar broker stop`, a deployment run started its own broker;
    `ops status` said the broker was NOT running and `ops down` left the new one running unmentioned."""
    from app.ops import down, status
    from infra.broker import EmbeddedBroker

    data, config = _config(tmp_path, 'data_dir = "{data}"\n')
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    # The broker `up` started, stopped since.
    _record(data, config, gone.pid, gone.pid, {"pid": gone.pid})
    (data / "ops" / "env.sh").write_text("export PREFECT_API_URL=http://127.0.0.1:1/api\n")
    broker = EmbeddedBroker(data)
    serving, _ = broker.ensure_running()  # the one a run started afterwards
    try:
        said: list[str] = []
        status(config, say=said.append)
        outside = f"pid {serving.pid} serves {serving.bootstrap} (started outside ops up: `ops down` leaves it"
        assert any(line.startswith(f"broker: pid {gone.pid} NOT running; {outside}") for line in said), said
        said = []
        down(config, say=said.append)
        assert f"broker pid {gone.pid}: not running (or replaced): left alone" in said, said
        assert any(f"still runs (pid {serving.pid}, {serving.bootstrap}), not started by ops up" in x for x in said)
        assert broker.state() is not None, "not ours to stop"
        assert not (data / "ops" / "env.sh").exists(), "its API URL names a server that no longer runs"
    finally:
        broker.stop()
