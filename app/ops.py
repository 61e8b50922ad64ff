"""`make ops-up` / `make ops-down`: the whole scheduled system on one machine, by pid.

    python -m app.ops up [--config FILE] [--port 4200] [--database-url URL]
    python -m app.ops resume | pause | status | down [--config FILE]

`up`, in order: a Prefect server on 127.0.0.1 (SQLite in `<data_dir>/prefect`, or Postgres by
`[ops] prefect_database_url_env`, `--database-url` or $RADAR_OPS_DATABASE_URL), the `radar-process`
work pool, `prefect --no-prompt deploy --all` from the repository root with RADAR_CONFIG set
(prefect.yaml copies it into the deployments), the failure automation (by name, one webhook block
per `[[alerts.webhooks]]`), the embedded broker when `kafka.bootstrap = "embedded"`, and a process worker with
RADAR_CONFIG set. Telemetry is off everywhere (DO_NOT_TRACK, PREFECT_SERVER_ANALYTICS_ENABLED),
PREFECT_HOME is `<data_dir>/prefect`. What it started is recorded in `<data_dir>/ops/ops.json`
(pids, process groups, the API URL) with logs beside it, plus `env.sh` to source for the
`prefect` CLI. Schedules stay paused (prefect.yaml) until `resume`.

`down` stops exactly what `up` recorded: the worker's and the server's process groups (each was
started as its own session leader, so their children go with them and nothing else does), and the
embedded broker only if `up` started it and it is still that pid. A pid that now belongs to another
program is left alone.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infra.config import ConfigError, Settings, WebhookConfig
from infra.preflight import check_settings, load_checked

if TYPE_CHECKING:
    from infra.broker import BrokerState

__all__ = [
    "AUTOMATION",
    "POOL",
    "OpsState",
    "deploy_all",
    "down",
    "ensure_failure_automation",
    "ensure_pool",
    "failure_automation",
    "free_port",
    "prefect_env",
    "schedules",
    "start_server",
    "start_worker",
    "status",
    "stop_group",
    "up",
    "wait_healthy",
]

REPO = Path(__file__).resolve().parent.parent
POOL = "radar-process"
# The Prefect automation `up` keeps (by this name) and the prefix of its webhook blocks.
AUTOMATION = "radar-flow-run-failure"
_BLOCK_PREFIX = "radar-failure-"
# Flow-run states that end a run badly: Failed (its on_failure hook also notifies, signed),
# Crashed (process killed, worker lost: no hook runs) and TimedOut (a Failed type).
FAILURE_EVENTS = ("prefect.flow-run.Failed", "prefect.flow-run.Crashed", "prefect.flow-run.TimedOut")
_BIN = Path(sys.executable).parent


def _prefect() -> str:
    candidate = _BIN / "prefect"
    return str(candidate) if candidate.exists() else "prefect"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prefect_env(
    home: Path,
    api_url: str | None,
    *,
    config: Path | None = None,
    database_url: str | None = None,
    query_seconds: float = 2.0,
) -> dict[str, str]:
    """The environment of every Prefect process `up` starts (and of `env.sh`)."""
    env = dict(os.environ)
    env.update(
        {
            "DO_NOT_TRACK": "1",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_HOME": str(home),
            "PREFECT_LOGGING_LEVEL": "INFO",
            # The worker asks for scheduled runs this often (Prefect's default is 10 s).
            "PREFECT_WORKER_QUERY_SECONDS": f"{query_seconds:g}",
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
            "PWD": str(REPO),  # prefect.yaml's pull step resolves {{ $PWD }} at deploy time
        }
    )
    if api_url:
        env["PREFECT_API_URL"] = api_url
        env["PREFECT_SERVER_UI_API_URL"] = api_url
    if config is not None:
        env["RADAR_CONFIG"] = str(config)
    if database_url:
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = database_url
    return env


def start_server(home: Path, port: int, log_path: Path, *, database_url: str | None = None) -> subprocess.Popen[bytes]:
    """`prefect server start` on 127.0.0.1:port as its own session (process group = its pid)."""
    home.mkdir(parents=True, exist_ok=True)
    env = prefect_env(home, f"http://127.0.0.1:{port}/api", database_url=database_url)
    env.pop("PREFECT_API_URL")  # the server is not a client of itself
    env["PREFECT_SERVER_API_HOST"] = "127.0.0.1"
    env["PREFECT_SERVER_API_PORT"] = str(port)
    env["PREFECT_SERVER_LOGGING_LEVEL"] = "WARNING"
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [_prefect(), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=home,
            start_new_session=True,
        )


def _port_taken(port: int) -> bool:
    """Whether something listens on 127.0.0.1:`port` (a bind is refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the server binds: a port left in TIME_WAIT by the last `ops down` is free, a listener is not.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def wait_healthy(
    api_url: str, timeout_s: float, proc: subprocess.Popen[bytes] | None = None, log_path: Path | None = None
) -> float:
    """Poll `<api>/health` until it answers 200 (a readiness poll with a deadline); return seconds."""
    t0 = time.monotonic()
    while True:
        try:
            with urllib.request.urlopen(f"{api_url}/health", timeout=2) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    return time.monotonic() - t0
        except (urllib.error.URLError, OSError, TimeoutError):
            pass
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"prefect server exited with code {proc.returncode}{_tail(log_path)}")
        if time.monotonic() - t0 > timeout_s:
            raise RuntimeError(f"prefect server not healthy at {api_url} within {timeout_s:.0f} s{_tail(log_path)}")
        time.sleep(0.25)


def _tail(log_path: Path | None, lines: int = 5) -> str:
    if log_path is None or not log_path.exists():
        return ""
    text = log_path.read_text(errors="replace").strip().splitlines()[-lines:]
    return ("; log " + str(log_path) + ":\n  " + "\n  ".join(text)) if text else ""


def _run(args: list[str], env: dict[str, str], what: str, timeout_s: float = 300) -> str:
    done = subprocess.run(args, env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout_s, check=False)
    if done.returncode != 0:
        detail = (done.stderr.strip() or done.stdout.strip()).splitlines()[-5:]
        raise RuntimeError(f"{what} failed (exit {done.returncode}): " + " | ".join(detail))
    return done.stdout


def ensure_pool(env: dict[str, str]) -> None:
    _run([_prefect(), "work-pool", "create", POOL, "--type", "process", "--overwrite"], env, "work-pool create")


def deploy_all(env: dict[str, str]) -> str:
    """`prefect --no-prompt deploy --all` from the repository root (prefect.yaml)."""
    if not env.get("RADAR_CONFIG"):
        raise ConfigError("RADAR_CONFIG: must be set to deploy (prefect.yaml copies it into every deployment)")
    return _run([_prefect(), "--no-prompt", "deploy", "--all"], env, "prefect deploy --all")


def start_worker(env: dict[str, str], log_path: Path, name: str = "radar-ops-worker") -> subprocess.Popen[bytes]:
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [_prefect(), "worker", "start", "--pool", POOL, "--type", "process", "--name", name],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPO,
            start_new_session=True,
        )


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z"):
            return False
    return True


def stop_group(pid: int, marker: str, timeout_s: float = 20.0) -> str:
    """Stop the process group led by `pid` if `pid` still runs a command containing `marker`.

    SIGTERM, a second SIGTERM after half the time (a Prefect worker may need two), SIGKILL at the end.
    """
    if not _alive(pid):
        return "not running"
    if marker not in _cmdline(pid):
        return f"pid {pid} is no longer {marker!r}: left alone"
    deadline = time.monotonic() + timeout_s
    signals = [(signal.SIGTERM, deadline - timeout_s / 2), (signal.SIGTERM, deadline), (signal.SIGKILL, deadline + 5)]
    for sig, until in signals:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)
        while time.monotonic() < until:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            if not _alive(pid):
                return f"stopped ({sig.name})"
            time.sleep(0.1)
    return f"pid {pid} did not exit"


# --- The failure automation (issue 14 item 4's backstop) ------------------------------------------
# A flow's on_failure hook (infra/prefect_env.py) runs in the flow-run process: a run whose process
# is killed, whose worker dies, or whose configuration does not load sends nothing. The Prefect
# server sees those state changes anyway, so `up` ships an automation the server itself acts on:
# trigger = a run of a deployment tagged `radar` (every deployment of prefect.yaml) entering
# Failed, Crashed or TimedOut; action = call a Webhook block per `[[alerts.webhooks]]` with the
# hook's body shape. Prefect's call-webhook action sends a rendered template with the block's
# fixed headers: it cannot compute a Standard Webhooks signature, nor a per-message webhook-id.
# Spoken to over the REST API (urllib): `radar ops up|status` stay free of a Prefect import.

# The flow-run-failure body of infra/run_failure.py, rendered by the server (Jinja, sandboxed):
# state and message from the triggering event, names and ids from the API objects.
_PAYLOAD_HEAD = """{%- set state = event.payload.validated_state -%}
{%- set lines = (state.message or "").strip().splitlines() -%}
{%- set error = (lines[0] if lines else "(no message)")[:500] -%}
"""
_STANDARD_PAYLOAD = (
    _PAYLOAD_HEAD
    + """{
  "schema": "flow-run-failure",
  "version": 1,
  "flow": {{ flow.name | tojson }},
  "flow_run_id": {{ flow_run.id | string | tojson }},
  "flow_run_name": {{ flow_run.name | tojson }},
  "deployment": {{ ((deployment.id | string) if deployment else none) | tojson }},
  "state": {{ state.name | tojson }},
  "error": {{ error | tojson }},
  "occurred_at": {{ event.occurred.strftime("%Y-%m-%dT%H:%M:%S.%fZ") | tojson }},
  "via": "prefect-automation",
  "event_id": {{ event.id | string | tojson }}
}"""
)
_SLACK_PAYLOAD = (
    _PAYLOAD_HEAD
    + """{"text": {{ ("Flow run " ~ state.name ~ ": " ~ flow.name ~ " / " ~ flow_run.name
  ~ " - " ~ error ~ " (run " ~ (flow_run.id | string) ~ ")") | tojson }}}"""
)


def _api(api_url: str, method: str, path: str, body: Any = None, *, missing_ok: bool = False) -> Any:
    """One JSON call to the Prefect REST API; RuntimeError naming the call when it fails."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{api_url}{path}", data=data, method=method, headers={"Content-Type": "application/json"}
    )
    # A busy SQLite server answers 503 while its database is locked: retried with backoff, as
    # Prefect's own client does for 429/502/503.
    for delay in (0.5, 1.0, 2.0, 4.0, 8.0, None):
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the server `up` started
                raw = response.read()
        except urllib.error.HTTPError as exc:
            if missing_ok and exc.code == 404:
                return None
            detail = exc.read().decode(errors="replace")[:300]
            if exc.code in (429, 502, 503) and delay is not None:
                time.sleep(delay)
                continue
            raise RuntimeError(f"prefect API {method} {path}: HTTP {exc.code} {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise RuntimeError(f"prefect API {method} {path}: {exc}") from None
        return json.loads(raw) if raw else None
    raise AssertionError("unreachable: the last attempt returns or raises")


def _block_name(webhook: WebhookConfig) -> str:
    # Block names are slugs (lowercase letters, digits, dashes); the webhook key is close to one.
    return _BLOCK_PREFIX + re.sub(r"[^a-z0-9-]+", "-", webhook.key.lower()).strip("-")


def _webhook_block(api_url: str, webhook: WebhookConfig) -> str:
    """Create or update the Webhook block for `webhook`; return its block document id."""
    block_type = _api(api_url, "GET", "/block_types/slug/webhook")
    schemas = _api(
        api_url, "POST", "/block_schemas/filter", {"block_schemas": {"block_type_id": {"any_": [block_type["id"]]}}}
    )
    if not schemas:
        raise RuntimeError("the Prefect server has no Webhook block schema (block types not registered)")
    schema = max(schemas, key=lambda s: s["created"])
    data = {
        "method": "POST",
        "url": webhook.url,
        "headers": {"Content-Type": "application/json", "User-Agent": "frontier-radar-prefect-automation/1"},
        # The server's own SSRF guard unless the webhook opted into a loopback/private address.
        "allow_private_urls": webhook.local,
        "verify": True,
    }
    name = _block_name(webhook)
    found = _api(api_url, "GET", f"/block_types/slug/webhook/block_documents/name/{name}", missing_ok=True)
    if found is None:
        created = _api(
            api_url,
            "POST",
            "/block_documents/",
            {"name": name, "data": data, "block_schema_id": schema["id"], "block_type_id": block_type["id"]},
        )
        return str(created["id"])
    _api(
        api_url,
        "PATCH",
        f"/block_documents/{found['id']}",
        {"data": data, "merge_existing_data": False, "block_schema_id": schema["id"]},
    )
    return str(found["id"])


def _delete_stale_blocks(api_url: str, keep: set[str]) -> None:
    # Blocks of webhooks no longer configured: an old Slack URL must not outlive its config entry.
    for doc in _api(api_url, "GET", "/block_types/slug/webhook/block_documents") or []:
        if doc["name"].startswith(_BLOCK_PREFIX) and doc["name"] not in keep:
            _api(api_url, "DELETE", f"/block_documents/{doc['id']}")


def schedule_summary(api_url: str) -> str:
    """Which deployments' schedules run: the first thing to check after `up` (which deploys them
    paused), `resume`, `pause` or a redeploy."""
    deployments = _api(api_url, "POST", "/deployments/filter", {}) or []
    active: list[str] = []
    paused: list[str] = []
    for dep in deployments:
        if not dep.get("schedules"):
            continue  # run by hand only
        running = not dep.get("paused") and any(s.get("active") for s in dep["schedules"])
        (active if running else paused).append(dep["name"])
    if not active and not paused:
        return "schedules: none (no deployment has one)"
    if not active:
        return f"schedules: all {len(paused)} PAUSED (`radar ops resume` starts them)"
    listed = ", ".join(sorted(paused)) or "none"
    return f"schedules: {len(active)} active, {len(paused)} paused ({listed})"


def failure_automation(api_url: str) -> dict[str, Any] | None:
    """The automation named AUTOMATION on the server, or None."""
    found = _api(api_url, "POST", "/automations/filter", {"automations": {"name": {"any_": [AUTOMATION]}}})
    return found[0] if found else None


def ensure_failure_automation(api_url: str, settings: Settings) -> str:
    """Create or update (by name) the failure automation and its webhook blocks; say what it is.

    Without `[[alerts.webhooks]]` there is nowhere to post: an automation left from an earlier
    configuration is deleted rather than kept pointing at old addresses.
    """
    webhooks = settings.alerts.webhooks
    existing = failure_automation(api_url)
    if not webhooks:
        if existing is not None:
            _api(api_url, "DELETE", f"/automations/{existing['id']}")
        _delete_stale_blocks(api_url, set())
        return f"automation {AUTOMATION}: none (no [[alerts.webhooks]] to post to)"
    actions = [
        {
            "type": "call-webhook",
            "block_document_id": _webhook_block(api_url, w),
            "payload": _SLACK_PAYLOAD if w.format == "slack" else _STANDARD_PAYLOAD,
        }
        for w in webhooks
    ]
    body = {
        "name": AUTOMATION,
        "description": "frontier-radar (radar ops up): a flow run of a deployment tagged radar ended Failed,"
        " Crashed or TimedOut: POST the flow-run-failure notice to each [[alerts.webhooks]]"
        " (unsigned; the flows' on_failure hook also sends a signed one for Failed).",
        "enabled": True,
        "trigger": {
            "type": "event",
            "posture": "Reactive",
            "match": {"prefect.resource.id": "prefect.flow-run.*"},
            # Every deployment of prefect.yaml carries the tag; a run inherits its deployment's tags.
            "match_related": {"prefect.resource.role": "tag", "prefect.resource.id": "prefect.tag.radar"},
            "expect": list(FAILURE_EVENTS),
            "for_each": ["prefect.resource.id"],
            "threshold": 1,
            "within": 0,
        },
        "actions": actions,
    }
    if existing is None:
        _api(api_url, "POST", "/automations/", body)
    else:
        _api(api_url, "PUT", f"/automations/{existing['id']}", body)
    _delete_stale_blocks(api_url, {_block_name(w) for w in webhooks})
    names = ", ".join(w.key for w in webhooks)
    return f"automation {AUTOMATION}: on {'/'.join(e.rsplit('.', 1)[1] for e in FAILURE_EVENTS)} POST to {names}"


@dataclass
class OpsState:
    path: Path

    def read(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return None

    def write(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2))
        os.replace(tmp, self.path)


def _ops_dir(settings: Settings) -> Path:
    return (settings.data_dir / "ops").resolve()


def up(
    config: Path, *, port: int = 4200, database_url: str | None = None, query_seconds: float = 2.0, say: Any = print
) -> dict[str, Any]:
    """Bring everything up; return what was recorded in ops.json."""
    from infra.broker import EmbeddedBroker

    config = config.resolve()
    settings = load_checked(str(config))
    check_settings(settings, need_sources=True)
    # What `radar config check` fails on fails here too: a stack whose webhooks cannot deliver (a secret
    # unset in this environment) would post unsigned failure notices and hold every alert, said only
    # in worker.log.
    from infra.webhooks import webhook_problems

    for hook in settings.alerts.webhooks:
        errors, _ = webhook_problems(hook)
        if errors:
            raise ConfigError(
                f"alerts.webhooks {hook.key}: cannot deliver: {errors[0]} (`radar config check` lists every problem)"
            )
    # --database-url / $RADAR_OPS_DATABASE_URL win over [ops] prefect_database_url_env.
    database_url = database_url or settings.ops.prefect_database_url()
    ops = _ops_dir(settings)
    ops.mkdir(parents=True, exist_ok=True)
    state = OpsState(ops / "ops.json")
    current = state.read()
    # Its pid alive and still the server (a pid reused by another program is not `up`, as for `down`).
    if (
        current
        and _alive(current["server"]["pid"])
        and current["server"]["marker"] in _cmdline(current["server"]["pid"])
    ):
        raise ConfigError(
            f"already up (server pid {current['server']['pid']}, {current['api_url']}); "
            "run `radar ops down` (make ops-down) first"
        )
    if current:
        # Its server died: the worker and the broker it recorded may still run, and a new record
        # would forget them (they were orphaned, still polling the pool).
        say("the last `ops up` is half down (its server is gone): stopping what it left running")
        down(config, say=say)
    if _port_taken(port):
        # Checked before starting: a Prefect server already there would answer our health check, and
        # deploying to it would re-point another stack's deployments at this config.
        raise ConfigError(
            f"127.0.0.1:{port} is in use (another Prefect server, or another program): stop it, or choose"
            " another port with --port or RADAR_OPS_PORT"
        )
    home = (settings.data_dir / "prefect").resolve()
    api_url = f"http://127.0.0.1:{port}/api"
    record: dict[str, Any] = {
        "config": str(config),
        "api_url": api_url,
        "prefect_home": str(home),
        "started_at": time.time(),
        "database": "postgres" if database_url else "sqlite",
    }
    t0 = time.monotonic()
    server = start_server(home, port, ops / "server.log", database_url=database_url)
    record["server"] = {"pid": server.pid, "marker": "server", "log": str(ops / "server.log")}
    state.write(record)
    try:
        took = wait_healthy(api_url, 180, server, ops / "server.log")
        say(f"prefect server healthy at {api_url} in {took:.1f} s (pid {server.pid})")
        # Clients (deploy, the worker, every flow run) reach the database through the API only:
        # the URL, password and all, stays in the server's environment.
        env = prefect_env(home, api_url, config=config, query_seconds=query_seconds)
        ensure_pool(env)
        say(f"work pool {POOL} ready")
        t1 = time.monotonic()
        deploy_all(env)
        say(
            f"deployed prefect.yaml (ingest, process, daily-digest, hourly-rollup) in {time.monotonic() - t1:.1f} s;"
            " schedules paused"
        )
        say(ensure_failure_automation(api_url, settings))
        record["broker"] = None
        if settings.kafka.embedded:
            broker, started = EmbeddedBroker(settings.data_dir, settings.kafka.embedded_port).ensure_running()
            if started:
                record["broker"] = {"pid": broker.pid, "bootstrap": broker.bootstrap}
            how = "started" if started else "already running"
            say(f"embedded broker at {broker.bootstrap} (pid {broker.pid}, {how})")
            state.write(record)
        worker = start_worker(env, ops / "worker.log")
        record["worker"] = {"pid": worker.pid, "marker": "worker", "log": str(ops / "worker.log")}
        state.write(record)
        say(f"worker on pool {POOL} (pid {worker.pid}), RADAR_CONFIG={config}")
    except BaseException:
        say("ops up failed: stopping what it started")
        down(config, say=say)
        raise
    (ops / "env.sh").write_text(
        "".join(
            f"export {k}={shlex.quote(env[k])}\n"
            for k in (
                "PREFECT_API_URL",
                "PREFECT_HOME",
                "DO_NOT_TRACK",
                "PREFECT_SERVER_ANALYTICS_ENABLED",
                "RADAR_CONFIG",
            )
        )
        # The prefect and radar commands of this install, in a fresh shell too.
        + f'export PATH={shlex.quote(str(Path(sys.executable).parent))}:"$PATH"\n'
    )
    record["up_seconds"] = round(time.monotonic() - t0, 1)
    state.write(record)
    say(f"up in {record['up_seconds']} s; state {state.path}; for the prefect CLI: . {ops / 'env.sh'}")
    say("schedules are PAUSED: resume them with `make ops-resume` (prefect deployment schedule resume --all)")
    say("run one now: prefect deployment run ingest/ingest --watch  (then process/process, daily-digest/daily-digest)")
    return record


def cancel_runs_in_flight(api_url: str) -> list[str]:
    """Force every Pending, Running or Cancelling flow run to Cancelled; their names.

    Forced: their processes are gone, so nobody else will end them, and Prefect frees a
    deployment's concurrency slot only when its run reaches a final state.
    """
    runs = _api(
        api_url,
        "POST",
        "/flow_runs/filter",
        {"flow_runs": {"state": {"type": {"any_": ["PENDING", "RUNNING", "CANCELLING"]}}}, "limit": 200},
    )
    names = []
    for run in runs or []:
        _api(
            api_url,
            "POST",
            f"/flow_runs/{run['id']}/set_state",
            {"state": {"type": "CANCELLED", "message": "radar ops down: stopped with the stack"}, "force": True},
        )
        names.append(run["name"])
    return names


def down(config: Path, *, say: Any = print) -> list[str]:
    """Stop exactly what `up` recorded (worker, server, the broker it started)."""
    from infra.broker import EmbeddedBroker
    from infra.config import load_settings

    settings = load_settings(str(config.resolve()))
    state = OpsState(_ops_dir(settings) / "ops.json")
    record = state.read()
    if record is None:
        say("nothing recorded: ops is not up")
        return []
    lines = []
    for part in ("worker", "server"):
        info = record.get(part)
        if not info:
            continue
        lines.append(f"{part} pid {info['pid']}: {stop_group(info['pid'], info['marker'])}")
        if part == "worker" and _alive(record["server"]["pid"]):
            # The worker took its runs' processes with it; the server would keep them Running, and a
            # deployment's concurrency slot with them, forever (Prefect keeps the slot's lease in the
            # server's memory): every later run of that deployment would be cancelled as a collision.
            try:
                cancelled = cancel_runs_in_flight(record["api_url"])
                lines.append(f"runs in flight marked Cancelled: {', '.join(cancelled) or 'none'}")
            except RuntimeError as exc:
                lines.append(f"runs in flight: not marked ({exc})")
    broker = record.get("broker")
    embedded = EmbeddedBroker(settings.data_dir)
    running = _serving_broker(settings, record)
    if broker and running is not None and running.pid == broker["pid"]:
        embedded.stop(deliberate=True)
        lines.append(f"broker pid {broker['pid']}: stopped")
    else:
        if broker:
            lines.append(f"broker pid {broker['pid']}: not running (or replaced): left alone")
        if running is not None:
            # One a run or a command started (after a `radar broker stop`, say): not ours to stop, but
            # an operator expecting nothing left running must hear of it.
            lines.append(
                f"an embedded broker for this data dir still runs (pid {running.pid}, {running.bootstrap}),"
                " not started by ops up: `radar broker stop` stops it"
            )
    state.path.unlink(missing_ok=True)
    # Its PREFECT_API_URL names a server that no longer runs.
    (state.path.parent / "env.sh").unlink(missing_ok=True)
    for line in lines:
        say(line)
    return lines


def schedules(config: Path, verb: str, *, say: Any = print) -> None:
    """`prefect deployment schedule resume|pause --all` against the server `up` started."""
    from infra.config import load_settings

    settings = load_settings(str(config.resolve()))
    record = OpsState(_ops_dir(settings) / "ops.json").read()
    if record is None:
        raise ConfigError("ops is not up (no ops.json): run `radar ops up` (make ops-up) first")
    env = prefect_env(Path(record["prefect_home"]), record["api_url"])
    say(_run([_prefect(), "deployment", "schedule", verb, "--all"], env, f"schedule {verb}").strip())


def _serving_broker(settings: Settings, record: dict[str, Any]) -> BrokerState | None:
    """The embedded broker running for this data dir, which need not be the one `up` started (a run
    starts one after a `radar broker stop`); looked for even when the config moved to an external
    Kafka after `up`, while `up` recorded one."""
    from infra.broker import EmbeddedBroker

    if not (settings.kafka.embedded or record.get("broker")):
        return None
    return EmbeddedBroker(settings.data_dir).state()


def status(config: Path, *, say: Any = print) -> bool:
    """Say what `up` recorded and whether each part still runs; True when ops is up and all of it runs."""
    from infra.config import load_settings

    settings = load_settings(str(config.resolve()))
    record = OpsState(_ops_dir(settings) / "ops.json").read()
    if record is None:
        say("ops: down")
        return False
    serving = _serving_broker(settings, record)
    outside = "started outside ops up: `ops down` leaves it, `radar broker stop` stops it"
    running = True
    for part in ("server", "worker", "broker"):
        info = record.get(part)
        if not info:
            continue
        alive = _alive(info["pid"])
        if part == "broker" and not alive and serving is not None:
            say(f"broker: pid {info['pid']} NOT running; pid {serving.pid} serves {serving.bootstrap} ({outside})")
            continue
        running = running and alive
        say(f"{part}: pid {info['pid']} {'running' if alive else 'NOT running'}")
    if not record.get("broker") and serving is not None:
        say(f"broker: pid {serving.pid} serves {serving.bootstrap} ({outside})")
    say(f"api: {record['api_url']} (database: {record.get('database', 'sqlite')})")
    if record.get("server") and _alive(record["server"]["pid"]):
        try:
            say(schedule_summary(record["api_url"]))
        except RuntimeError as exc:
            say(f"schedules: unknown ({exc})")
        try:
            automation = failure_automation(record["api_url"])
        except RuntimeError as exc:
            say(f"automation {AUTOMATION}: unknown ({exc})")
        else:
            if automation is None:
                say(f"automation {AUTOMATION}: none")
            else:
                expect = automation["trigger"].get("expect", [])  # a set on the server: any order
                ordered = [e for e in FAILURE_EVENTS if e in expect] + sorted(set(expect) - set(FAILURE_EVENTS))
                events = "/".join(e.rsplit(".", 1)[1] for e in ordered)
                say(
                    f"automation {AUTOMATION}: {'enabled' if automation['enabled'] else 'DISABLED'},"
                    f" on {events}, {len(automation['actions'])} webhook(s)"
                )
    return running


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.ops", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["up", "down", "resume", "pause", "status"])
    parser.add_argument(
        "--config", "-c", default=os.environ.get("RADAR_CONFIG"), help="radar config file (default: $RADAR_CONFIG)"
    )
    parser.add_argument("--port", type=int, default=int(os.environ.get("RADAR_OPS_PORT", "4200")))
    parser.add_argument(
        "--database-url",
        default=os.environ.get("RADAR_OPS_DATABASE_URL"),
        help="Prefect database (postgresql+asyncpg://...); default: the env var named by"
        " [ops] prefect_database_url_env, else SQLite under the data dir",
    )
    args = parser.parse_args(argv)
    if not args.config:
        print("error: RADAR_CONFIG: not set and no --config: ops needs the radar config file", file=sys.stderr)
        return 1
    config = Path(args.config)
    try:
        if args.action == "up":
            up(config, port=args.port, database_url=args.database_url)
        elif args.action == "down":
            down(config)
        elif args.action in ("resume", "pause"):
            schedules(config, args.action)
        elif not status(config):
            return 1  # as `radar ops status`: ops down, or a part of it not running
    except (ConfigError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
