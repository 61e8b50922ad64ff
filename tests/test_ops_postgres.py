"""`radar ops up` on Postgres (issue 14 item 1, "Postgres by a setting"): a throwaway PostgreSQL
server on 127.0.0.1, `[ops] prefect_database_url_env` naming the variable that holds its URL,
then the real CLI: `radar ops up`, the digest over the sample corpus through the deployments,
the flow runs read back from Postgres's own `flow_run` table, `radar ops status`, `radar ops down`.

PostgreSQL refuses to run as root, so as root (here, CI) the cluster belongs to the `postgres`
user (or `nobody`) in a directory of its own under /tmp. The binaries come from PATH or Debian's
/usr/lib/postgresql/<version>/bin (`make tools` installs the `postgresql` package when missing).
Its own Prefect server (not the session's): the point is the database under it.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.ops import free_port
from schemas.digest import Digest
from tests.prefect_support import Ops, site_config
from tests.webhook_support import receiver

URL_ENV = "RADAR_TEST_PREFECT_DATABASE_URL"
RADAR = [sys.executable, "-m", "app.cli"]


def _pg_bin() -> Path:
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    assert found, (
        "PostgreSQL is missing (no initdb on PATH or in /usr/lib/postgresql/*/bin): "
        "`make tools` installs it as root, or apt-get install postgresql"
    )
    return Path(found[-1]).parent


@dataclass(frozen=True)
class Postgres:
    bin: Path
    port: int
    user: str | None  # the OS user the server runs as (None: this process's)

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/prefect"

    def sql(self, query: str) -> str:
        done = subprocess.run(
            [
                str(self.bin / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                "prefect",
                "-Atc",
                query,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()


@contextmanager
def postgres() -> Iterator[Postgres]:
    """initdb into a fresh directory and `pg_ctl start -w` on a free 127.0.0.1 port; stopped by its data dir."""
    pg_bin = _pg_bin()
    user = None
    if os.geteuid() == 0:
        user = next((name for name in ("postgres", "nobody") if _has_user(name)), None)
        assert user, "running as root and neither a postgres nor a nobody user exists to run PostgreSQL as"
    top = Path(tempfile.mkdtemp(prefix="radar-pg-"))  # under /tmp: the tests' own tmp dirs are root-only
    if user:
        entry = pwd.getpwnam(user)
        os.chown(top, entry.pw_uid, entry.pw_gid)
    data, port = top / "data", free_port()
    as_user = {"user": user, "group": pwd.getpwnam(user).pw_gid, "extra_groups": []} if user else {}
    env = {**os.environ, "LC_ALL": "C"}

    def run(*args: str) -> None:
        done = subprocess.run(
            [str(pg_bin / args[0]), *args[1:]],
            capture_output=True,
            text=True,
            env=env,
            cwd=top,
            timeout=120,
            check=False,
            **as_user,
        )  # type: ignore[call-overload]
        assert done.returncode == 0, f"{args[0]} failed: {done.stdout}{done.stderr}"

    # Throwaway: no fsync (initdb --no-sync, fsync=off) - it only has to outlive the test.
    run("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions")
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {top} -c fsync=off -c full_page_writes=off"
    try:
        run("pg_ctl", "-D", str(data), "-o", options, "-l", str(top / "postgres.log"), "-w", "-t", "60", "start")
        server = Postgres(pg_bin, port, user)
        done = subprocess.run(
            [
                str(pg_bin / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-c",
                "CREATE DATABASE prefect",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        yield server
    finally:
        if (data / "postmaster.pid").exists():
            run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(top, ignore_errors=True)


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _radar(config: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*RADAR, "-c", str(config), *args], capture_output=True, text=True, env=env, timeout=300, check=False
    )


def test_ops_up_on_postgres_runs_the_digest(tmp_path: Path) -> None:
    from connectors.sample_server import serve_corpus

    with postgres() as pg, serve_corpus() as corpus, receiver() as hook:
        root = tmp_path / "site"
        config = site_config(
            root,
            corpus.base_url,
            extra=[
                "[ops]",
                f'prefect_database_url_env = "{URL_ENV}"',
                "[[alerts.webhooks]]",
                f'url = "{hook.url}"',
                "local = true",
            ],
        )
        env = {**os.environ, URL_ENV: pg.url}
        port = free_port()
        t0 = time.monotonic()
        up = _radar(config, "ops", "up", "--port", str(port), env=env)
        try:
            assert up.returncode == 0, up.stdout + up.stderr
            up_s = time.monotonic() - t0
            assert f"prefect server healthy at http://127.0.0.1:{port}/api" in up.stdout
            assert "automation radar-flow-run-failure: on Failed/Crashed/TimedOut POST to standard-" in up.stdout
            assert pg.url not in up.stdout + up.stderr
            ops = Ops(f"http://127.0.0.1:{port}/api", config, root, corpus.base_url, hook, up_s)
            ingest = ops.run("ingest/ingest")
            assert ingest.state_type.value == "COMPLETED", ingest.state.message
            process = ops.run("process/process")
            assert process.state_type.value == "COMPLETED", process.state.message
            out = root / "digest-out"
            digest_run = ops.run(
                "daily-digest/daily-digest", {"window_end": "2026-04-19", "days": 7, "lang": "en", "out_dir": str(out)}
            )
            assert digest_run.state_type.value == "COMPLETED", digest_run.state.message
            first_digest_s = time.monotonic() - t0
            digest = Digest.model_validate_json((out / "digest-2026-04-19.json").read_bytes())
            assert 1 <= len(digest.top_events) <= 5

            # The runs are rows of Postgres, and the server kept no SQLite database beside them.
            ids = ", ".join(f"'{r.id}'" for r in (ingest, process, digest_run))
            assert pg.sql(f"SELECT count(*) FROM flow_run WHERE id IN ({ids}) AND state_name = 'Completed'") == "3"
            assert pg.sql("SELECT count(*) FROM automation WHERE name = 'radar-flow-run-failure'") == "1"
            assert not list((root / "data" / "prefect").glob("*.db"))

            status = _radar(config, "ops", "status", env=env)
            assert status.returncode == 0, status.stdout + status.stderr
            assert f"api: http://127.0.0.1:{port}/api (database: postgres)" in status.stdout
            assert re.search(
                r"automation radar-flow-run-failure: enabled, on Failed/Crashed/TimedOut, 1 webhook", status.stdout
            ), status.stdout
            print(f"\nradar ops up (Postgres) {up_s:.1f} s; up -> first Completed digest run {first_digest_s:.1f} s")
        finally:
            down = _radar(config, "ops", "down", env=env)
        assert down.returncode == 0, down.stdout + down.stderr
        assert "server pid" in down.stdout and "did not exit" not in down.stdout
        assert _radar(config, "ops", "status", env=env).stdout.strip() == "ops: down"


def test_the_database_setting_names_its_key_when_unusable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from infra.config import ConfigError, load_settings

    config = site_config(
        tmp_path, "http://127.0.0.1:9", sources=[], extra=["[ops]", f'prefect_database_url_env = "{URL_ENV}"']
    )
    settings = load_settings(config)
    monkeypatch.delenv(URL_ENV, raising=False)
    with pytest.raises(ConfigError, match=f"^ops.prefect_database_url_env: env var {URL_ENV} is not set"):
        settings.ops.prefect_database_url()
    monkeypatch.setenv(URL_ENV, "postgresql://radar:hunter22@db.internal/prefect")
    scheme = "must hold a postgresql\\+asyncpg:// URL .got scheme 'postgresql'."
    with pytest.raises(ConfigError, match=scheme) as raised:
        settings.ops.prefect_database_url()
    assert "hunter22" not in str(raised.value)
    monkeypatch.setenv(URL_ENV, "postgresql+asyncpg://radar:hunter22@db.internal/prefect")
    assert settings.ops.prefect_database_url() == "postgresql+asyncpg://radar:hunter22@db.internal/prefect"
    # No key: SQLite.
    default = load_settings(site_config(tmp_path / "default", "http://127.0.0.1:9", sources=[]))
    assert default.ops.prefect_database_url() is None
