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


def test_up_stops_what_a_half_down_record_left_and_refuses_a_port_in_use(tmp_path: Path) -> None:
    data = tmp_path / "data"
    config = tmp_path / "radar.toml"
    config.write_text(
        f'data_dir = "{data}"\n[[sources]]\nname = "feed"\nkind = "feed"\nurl = "http://127.0.0.1:9/f.xml"\n'
        'tier = "media"\nlocal = true\n'
    )
    # The recorded server's pid now belongs to another program (the server died, the pid was reused):
    # not "already up", and left alone.
    reused = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
    # A worker the dead server's `up` started: its own process group, "worker" in its command line.
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "worker"], start_new_session=True)
    (data / "ops").mkdir(parents=True)
    (data / "ops" / "ops.json").write_text(
        json.dumps(
            {
                "config": str(config),
                "api_url": "http://127.0.0.1:1/api",
                "server": {"pid": reused.pid, "marker": "server"},
                "worker": {"pid": worker.pid, "marker": "worker"},
                "broker": None,
            }
        )
    )
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
