"""One real Prefect server per test session, and prefect.yaml deployed on it (tests/conftest.py's
`prefect_server` and `ops` fixtures; pytest-xdist keeps the modules using them on one worker).

The server is `prefect server start` on 127.0.0.1 with PREFECT_HOME in a temporary directory,
started through app/ops.py (the same functions `make ops-up` uses). `ops` adds the process work
pool, `prefect --no-prompt deploy --all` from the repository root and a real process worker
(PREFECT_WORKER_QUERY_SECONDS=1); flow runs are awaited by polling the API with a deadline.
Starting a server migrates a fresh database (~20 s on 2 cores), so every module shares this one:
tests/test_flows.py runs its flows in-process against it, the deployment tests through the worker.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
from tests.connector_support import sample_config  # noqa: E402
from tests.webhook_support import Receiver, receiver  # noqa: E402

__all__ = ["SECRET", "SECRET_ENV", "Ops", "PrefectServer", "deployed", "prefect_server", "site_config"]

SECRET_ENV = "RADAR_TEST_OPS_WEBHOOK_SECRET"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def site_config(
    root: Path,
    base_url: str,
    *,
    sources: list[str] | None = None,
    extra: list[str] | None = None,
    store_path: str | None = None,
) -> Path:
    """Like tests/test_cli_digest.py's: the sample corpus on 127.0.0.1, every path inside `root`."""
    root.mkdir(parents=True, exist_ok=True)
    return sample_config(
        root / "radar.toml",
        base_url,
        root=root,
        sources=sources,
        store_path=store_path,
        digest=[f'out_dir = "{root / "out"}"'],
        extra=extra or [],
    )


@dataclass(frozen=True)
class PrefectServer:
    api_url: str
    home: Path
    root: Path
    setup_s: float


@contextmanager
def prefect_server(root: Path) -> Iterator[PrefectServer]:
    t0 = time.monotonic()
    home = root / "prefect-home"
    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    server = start_server(home, port, root / "server.log")
    try:
        wait_healthy(api_url, 120, server, root / "server.log")
        yield PrefectServer(api_url, home, root, time.monotonic() - t0)
    finally:
        stop_group(server.pid, "server")
        server.wait(timeout=30)


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
                artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id]))
            )

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


@contextmanager
def deployed(server: PrefectServer) -> Iterator[Ops]:
    """The pool, every deployment of prefect.yaml and a worker on `server`, its data under a directory of its own."""
    t0 = time.monotonic()
    root = server.root / "ops"
    root.mkdir()
    with serve_corpus() as corpus, receiver() as hook:
        config = site_config(root / "site", corpus.base_url)
        worker = None
        try:
            env = prefect_env(server.home, server.api_url, config=config, query_seconds=1)
            env[SECRET_ENV] = SECRET  # the worker's environment carries secrets, never prefect.yaml
            ensure_pool(env)
            deploy_all(env)
            worker = start_worker(env, root / "worker.log", name=f"test-worker-{uuid.uuid4().hex[:6]}")
            yield Ops(server.api_url, config, root, corpus.base_url, hook, server.setup_s + time.monotonic() - t0)
        finally:
            if worker is not None:
                stop_group(worker.pid, "worker")
                worker.wait(timeout=30)
            # Brokers that flow runs started in the test data dirs (a successful run leaves its broker up).
            for data in root.glob("*/data"):
                EmbeddedBroker(data).stop()
