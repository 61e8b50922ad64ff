"""The failure automation `radar ops up` ships (issue 14 item 4's backstop), on the session's real
Prefect server, pool and worker (tests/conftest.py's `ops`): a flow run whose process is killed runs
no on_failure hook, yet the server's automation posts the notice to the configured webhook.

The run is an `ingest` of one feed on a local server that holds the request open, so the run is
certainly running when its process is killed (the request's arrival is the signal, not a delay);
the worker then reports it Crashed, as after an OOM kill or a lost machine.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.ops import AUTOMATION, _api, cancel_runs_in_flight, ensure_failure_automation, failure_automation
from infra.broker import EmbeddedBroker
from infra.config import load_settings
from tests.prefect_support import SECRET_ENV, Ops, site_config
from tests.webhook_support import receiver

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun


class _Hold:
    """A feed server that answers nothing until released: `arrived` is set when a fetch is in flight."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.release = threading.Event()
        hold = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server hook name
                hold.arrived.set()
                hold.release.wait()
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's name
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/feed.xml"


@contextmanager
def _holding_feed() -> Iterator[_Hold]:
    hold = _Hold()
    thread = threading.Thread(target=hold.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hold
    finally:
        hold.release.set()
        hold.server.shutdown()
        hold.server.server_close()


def _feed_source(name: str, url: str) -> list[str]:
    """A `[[sources]]` table (config lines) for one local feed."""
    return ["[[sources]]", f'name = "{name}"', 'kind = "feed"', f'url = "{url}"', 'tier = "media"', "local = true"]


def _held_ingest(client: Any, config: Path, feed: _Hold) -> FlowRun:
    """An ingest run of `config`, Running with its request to the held `feed` open."""
    dep = client.read_deployment_by_name("ingest/ingest")
    run = client.create_flow_run_from_deployment(dep.id, parameters={"config_path": str(config)})
    assert feed.arrived.wait(120), "the ingest run never fetched the held feed"
    run = client.read_flow_run(run.id)
    assert run.state_name == "Running" and run.infrastructure_pid, run.state_name
    return run


def _radar_blocks(api_url: str) -> list[str]:
    docs = _api(api_url, "GET", "/block_types/slug/webhook/block_documents") or []
    return sorted(d["name"] for d in docs if d["name"].startswith("radar-failure-"))


def test_a_killed_run_is_reported_by_the_automation(ops: Ops) -> None:
    root = ops.root / "crash"
    with _holding_feed() as feed, receiver() as hook:
        config = site_config(
            root,
            ops.base_url,
            sources=[],
            extra=[
                *_feed_source("held-feed", feed.url),
                "[[alerts.webhooks]]",
                'name = "ops-pager"',
                f'url = "{hook.url}"',
                f'secret_env = "{SECRET_ENV}"',
                "local = true",
            ],
        )
        settings = load_settings(config)
        try:
            # Twice: `radar ops up` on a server that has it already updates it, by name.
            for _ in range(2):
                said = ensure_failure_automation(ops.api_url, settings)
            assert said == f"automation {AUTOMATION}: on Failed/Crashed/TimedOut POST to ops-pager"
            automation = failure_automation(ops.api_url)
            assert automation is not None and automation["enabled"]
            assert len(_api(ops.api_url, "POST", "/automations/filter", {})) == 1
            assert _radar_blocks(ops.api_url) == ["radar-failure-ops-pager"]
            assert [a["type"] for a in automation["actions"]] == ["call-webhook"]

            with ops.client() as client:
                run = _held_ingest(client, config, feed)
                dep = client.read_deployment_by_name("ingest/ingest")
                pid = int(run.infrastructure_pid.rsplit(":", 1)[-1])  # "pid" or "host:pid"
                t_kill = time.monotonic()
                os.kill(pid, signal.SIGKILL)  # the flow-run process the test's worker started
                deadline = time.monotonic() + 60
                while not (run.state is not None and run.state.is_final()):
                    assert time.monotonic() < deadline, f"run still {run.state_name} 60 s after the kill"
                    time.sleep(0.3)
                    run = client.read_flow_run(run.id)
            assert run.state_name == "Crashed", (run.state_name, run.state.message)

            got = hook.next(timeout_s=60)
            while json.loads(got.body).get("flow_run_id") != str(run.id):  # a late event of an earlier run
                got = hook.next(timeout_s=60)
            took = time.monotonic() - t_kill
            body = json.loads(got.body)
            assert body["schema"] == "flow-run-failure" and body["version"] == 1
            assert (body["flow"], body["flow_run_id"], body["flow_run_name"]) == ("ingest", str(run.id), run.name)
            assert (body["deployment"], body["state"], body["via"]) == (str(dep.id), "Crashed", "prefect-automation")
            assert body["error"] == run.state.message.strip().splitlines()[0][:500]
            assert body["occurred_at"].endswith("Z") and body["event_id"]
            assert got.headers["Content-Type"] == "application/json"
            # What Prefect's action cannot do: a Standard Webhooks signature (nor a per-message id).
            assert "webhook-signature" not in got.headers
            print(f"\nkill -> Crashed -> automation POST received in {took:.1f} s")
        finally:
            # No webhooks: the automation and its blocks go (and other modules' failures post nowhere).
            ensure_failure_automation(ops.api_url, load_settings(site_config(root / "none", ops.base_url)))
            EmbeddedBroker(settings.data_dir).stop()
    assert failure_automation(ops.api_url) is None and _radar_blocks(ops.api_url) == []
    ours = [r for r in hook.requests if json.loads(r.body).get("flow_run_id") == str(run.id)]
    assert len(ours) == 1  # one crash, one notice


def test_runs_cut_off_by_ops_down_are_cancelled_so_their_deployment_runs_again(ops: Ops) -> None:
    """Ops review: `ops down` with an ingest run in flight left it Running on the server, holding the
    deployment's concurrency slot; every later ingest run was cancelled as a collision, for good."""
    root = ops.root / "cut-off"
    with _holding_feed() as feed, ops.client() as client:
        config = site_config(root, ops.base_url, sources=[], extra=_feed_source("held-feed", feed.url))
        held = _held_ingest(client, config, feed)
        # What `ops down` does once the worker (and the run's process with it) is gone; here the
        # worker still runs, so that nothing but this call can end the run while the feed holds it.
        assert held.name in cancel_runs_in_flight(ops.api_url)
        assert client.read_flow_run(held.id).state_name == "Cancelled"
        # While the held request is still open, the next run of the deployment is not cancelled as a
        # collision: it runs (and fails on a feed nobody serves, which is a run that ran).
        closed = site_config(
            ops.root / "cut-off-next", ops.base_url, sources=[], extra=_feed_source("gone", "http://127.0.0.1:9/f.xml")
        )
        after = ops.run("ingest/ingest", {"config_path": str(closed)})
    assert after.state_name in ("Completed", "Failed"), (after.state_name, after.state.message)
