"""prefect.yaml as the ops team runs it: a real Prefect server on 127.0.0.1, the process work pool,
`prefect --no-prompt deploy --all` from the repository root, a real process worker, flow runs
created from the deployments through the API (no mocks of Prefect, Kafka or DuckDB).

The server, pool, deployments and worker are started once per session through app/ops.py (the
same functions `make ops-up` uses), with PREFECT_HOME in a temporary directory and
PREFECT_WORKER_QUERY_SECONDS=1. Flow runs are awaited by polling the API with a deadline.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.digest_corpus import configure_test_prefect

configure_test_prefect()  # before prefect is imported, as every caller must

from prefect.client.orchestration import SyncPrefectClient  # noqa: E402
from prefect.client.schemas.filters import (  # noqa: E402
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.client.schemas.objects import FlowRun  # noqa: E402

from app.ops import (  # noqa: E402
    deploy_all,
    ensure_pool,
    free_port,
    prefect_env,
    start_server,
    start_worker,
    stop_group,
    wait_healthy,
)
from connectors.sample_server import serve_corpus  # noqa: E402
from infra.broker import EmbeddedBroker  # noqa: E402
from infra.webhooks import load_secret, verify  # noqa: E402
from schemas.digest import Digest  # noqa: E402
from tests.connector_support import sample_config  # noqa: E402
from tests.webhook_support import Receiver, receiver  # noqa: E402

SECRET_ENV = "RADAR_TEST_OPS_WEBHOOK_SECRET"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def _config(root: Path, base_url: str, *, sources: list[str] | None = None, extra: list[str] | None = None,
            store_path: str | None = None) -> Path:
    """Like tests/test_cli_digest.py's: the sample corpus on 127.0.0.1, every path inside `root`."""
    root.mkdir(parents=True, exist_ok=True)
    return sample_config(root / "radar.toml", base_url, root=root, sources=sources, store_path=store_path,
                         digest=[f'out_dir = "{root / "out"}"'], extra=extra or [])


@dataclass
class Ops:
    api_url: str
    config: Path
    root: Path
    base_url: str
    hook: Receiver
    setup_s: float

    def client(self) -> SyncPrefectClient:
        return SyncPrefectClient(self.api_url)

    def run(self, deployment: str, parameters: dict[str, Any] | None = None, timeout_s: float = 180) -> FlowRun:
        """Create a flow run of `deployment` and poll the API until it is final (deadline `timeout_s`)."""
        with self.client() as client:
            dep = client.read_deployment_by_name(deployment)
            run = client.create_flow_run_from_deployment(dep.id, parameters=parameters or {})
            deadline = time.monotonic() + timeout_s
            while True:
                run = client.read_flow_run(run.id)
                if run.state is not None and run.state.is_final():
                    return run
                assert time.monotonic() < deadline, f"{deployment} run still {run.state_name} after {timeout_s} s"
                time.sleep(0.5)

    def artifacts(self, run: FlowRun) -> list[Any]:
        with self.client() as client:
            return client.read_artifacts(
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id])))

    def logs(self, run: FlowRun, *expected: str, timeout_s: float = 30) -> str:
        """The run's logs once they hold every `expected` text: a run process sends its logs in
        batches and the last ones land after the final state, so poll with a deadline."""
        deadline = time.monotonic() + timeout_s
        while True:
            with self.client() as client:
                rows = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])))
            text = "\n".join(row.message for row in rows)
            if all(e in text for e in expected):
                return text
            assert time.monotonic() < deadline, f"run logs lack {expected}:\n{text}"
            time.sleep(0.3)


@pytest.fixture(scope="session")
def ops(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ops]:
    t0 = time.monotonic()
    root = tmp_path_factory.mktemp("prefect-ops")
    with serve_corpus() as corpus, receiver() as hook:
        config = _config(root / "site", corpus.base_url)
        home = root / "prefect-home"
        port = free_port()
        api_url = f"http://127.0.0.1:{port}/api"
        server = start_server(home, port, root / "server.log")
        worker = None
        try:
            wait_healthy(api_url, 120, server, root / "server.log")
            env = prefect_env(home, api_url, config=config, query_seconds=1)
            env[SECRET_ENV] = SECRET  # the worker's environment carries secrets, never prefect.yaml
            ensure_pool(env)
            deploy_all(env)
            worker = start_worker(env, root / "worker.log", name=f"test-worker-{uuid.uuid4().hex[:6]}")
            yield Ops(api_url, config, root, corpus.base_url, hook, time.monotonic() - t0)
        finally:
            if worker is not None:
                stop_group(worker.pid, "worker")
                worker.wait(timeout=30)
            stop_group(server.pid, "server")
            server.wait(timeout=30)
            # Brokers that flow runs started in the test data dirs (a successful run leaves its broker up).
            for data in root.glob("*/data"):
                EmbeddedBroker(data).stop()


def test_deployments_match_prefect_yaml(ops: Ops) -> None:
    with ops.client() as client:
        deployments = {d.name: d for d in client.read_deployments()}
    assert set(deployments) >= {"ingest", "process", "daily-digest", "hourly-rollup"}
    for dep in deployments.values():
        # RADAR_CONFIG reaches every run through the job variables; schedules are paused on deploy.
        assert dep.job_variables["env"]["RADAR_CONFIG"] == str(ops.config)
        assert dep.schedules and not any(s.active for s in dep.schedules), dep.name
    for name in ("ingest", "process"):
        assert deployments[name].global_concurrency_limit is not None
        assert deployments[name].global_concurrency_limit.limit == 1
    assert deployments["daily-digest"].parameters["days"] == 7


def test_digest_deployment_over_the_sample_corpus(ops: Ops) -> None:
    t0 = time.monotonic()
    ingest = ops.run("ingest/ingest")
    assert ingest.state_type.value == "COMPLETED", ingest.state.message
    [table] = [a for a in ops.artifacts(ingest) if a.key == "ingest-sources"]
    rows = json.loads(table.data) if isinstance(table.data, str) else table.data
    assert len(rows) == 11 and {r["outcome"] for r in rows} == {"ok"}

    process = ops.run("process/process")
    assert process.state_type.value == "COMPLETED", process.state.message
    ops.logs(process, "90 records -> 90 items")

    rollup = ops.run("hourly-rollup/hourly-rollup",
                     {"start": "2026-04-13T00:00:00Z", "end": "2026-04-20T00:00:00Z"})
    assert rollup.state_type.value == "COMPLETED", rollup.state.message
    ops.logs(rollup, "rows into rollup_hourly")

    out = ops.root / "digest-out"
    digest_run = ops.run("daily-digest/daily-digest",
                         {"window_end": "2026-04-19", "days": 7, "lang": "en", "out_dir": str(out)})
    assert digest_run.state_type.value == "COMPLETED", digest_run.state.message
    digest = Digest.model_validate_json((out / "digest-2026-04-19.json").read_bytes())
    assert digest.language == "en" and 1 <= len(digest.top_events) <= 5
    assert (out / "digest-2026-04-19.md").read_text(encoding="utf-8").strip()
    [artifact] = [a for a in ops.artifacts(digest_run) if a.key == "digest-2026-04-19-en"]
    assert artifact.type == "markdown"
    assert digest.top_events[0].title.split()[0] in str(artifact.data)
    print(f"\nops setup {ops.setup_s:.1f} s; ingest -> process -> rollup -> digest runs {time.monotonic() - t0:.1f} s")

    # An empty window is Completed, and says so in the run log and at the top of the artifact.
    empty = ops.run("daily-digest/daily-digest", {"window_end": "2020-01-07", "out_dir": str(out)})
    assert empty.state_type.value == "COMPLETED", empty.state.message
    ops.logs(empty, "empty window")
    [note] = [a for a in ops.artifacts(empty) if a.key == "digest-2020-01-07-zh"]
    assert str(note.data).startswith("> **Empty window.**")


def test_failed_source_fails_the_run_logs_it_and_notifies(ops: Ops) -> None:
    config = _config(ops.root / "broken", ops.base_url, sources=["openai-news"], extra=[
        "[[sources]]", 'name = "broken-feed"', 'kind = "feed"', f'url = "{ops.base_url}/no/such/feed.xml"',
        'tier = "media"', "local = true",
        "[[alerts.webhooks]]", f'url = "{ops.hook.url}"', f'secret_env = "{SECRET_ENV}"', "local = true"])
    run = ops.run("ingest/ingest", {"config_path": str(config)})
    assert run.state_type.value == "FAILED"
    assert "1 of 2 sources failed: broken-feed" in run.state.message
    [table] = [a for a in ops.artifacts(run) if a.key == "ingest-sources"]
    rows = {r["source"]: r for r in (json.loads(table.data) if isinstance(table.data, str) else table.data)}
    assert rows["broken-feed"]["outcome"] == "failed" and rows["broken-feed"]["first_failure"]
    assert rows["openai-news"]["outcome"] == "ok"
    # the infra.dlq warning and the source's failure, in the flow-run log
    ops.logs(run, "dead letter [fetch] broken-feed", "source broken-feed failed")

    # The on_failure hook posted a signed Standard Webhooks notice naming flow, run and error.
    got = ops.hook.next(timeout_s=60)
    while json.loads(got.body).get("schema") != "flow-run-failure":  # alerts of other tests' runs
        got = ops.hook.next(timeout_s=60)
    body = json.loads(got.body)
    assert body["schema"] == "flow-run-failure" and body["flow"] == "ingest"
    assert body["flow_run_id"] == str(run.id) and "broken-feed" in body["error"]
    assert got.headers["webhook-id"] == f"flow-run-{run.id}"
    assert verify(load_secret(SECRET), got.headers, got.body)


def test_config_errors_fail_at_once_naming_the_key(ops: Ops) -> None:
    root = ops.root / "misconfigured"
    root.mkdir()
    (root / "notadir").write_text("a regular file")
    bad_store = _config(root / "store", ops.base_url, sources=["openai-news"],
                        store_path=str(root / "notadir" / "radar.duckdb"))
    no_sources = _config(root / "empty", ops.base_url, sources=[])
    t0 = time.monotonic()
    process = ops.run("process/process", {"config_path": str(bad_store)})
    ingest = ops.run("ingest/ingest", {"config_path": str(no_sources)})
    assert process.state_type.value == "FAILED"
    assert "store.path:" in process.state.message and "notadir is not a directory" in process.state.message
    assert ingest.state_type.value == "FAILED" and "sources: no enabled [[sources]]" in ingest.state.message
    # Not retried (no 5 s + 30 s of retry delays) and no broker left behind.
    assert time.monotonic() - t0 < 60
    assert not (root / "store" / "data" / "broker" / "broker.json").exists()
    assert not (root / "empty" / "data" / "broker" / "broker.json").exists()


def test_secrets_stay_out_of_the_deployments(ops: Ops) -> None:
    with ops.client() as client:
        dep = client.read_deployment_by_name("ingest/ingest")
    assert SECRET_ENV not in dep.job_variables.get("env", {}) and SECRET not in json.dumps(dep.job_variables)
