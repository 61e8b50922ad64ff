"""prefect.yaml as the ops team runs it: a real Prefect server on 127.0.0.1, the process work pool,
`prefect --no-prompt deploy --all` from the repository root, a real process worker, flow runs
created from the deployments through the API (no mocks of Prefect, Kafka or DuckDB).

The server, pool, deployments and worker are started once per session (tests/prefect_support.py,
through app/ops.py: the same functions `make ops-up` uses), with PREFECT_HOME in a temporary
directory and PREFECT_WORKER_QUERY_SECONDS=1. Flow runs are awaited by polling the API with a deadline.
"""

from __future__ import annotations

import json
import time

from infra.webhooks import load_secret, verify
from schemas.digest import Digest
from tests.prefect_support import SECRET, SECRET_ENV, Ops, site_config


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

    rollup = ops.run("hourly-rollup/hourly-rollup", {"start": "2026-04-13T00:00:00Z", "end": "2026-04-20T00:00:00Z"})
    assert rollup.state_type.value == "COMPLETED", rollup.state.message
    ops.logs(rollup, "rows into rollup_hourly")

    out = ops.root / "digest-out"
    digest_run = ops.run(
        "daily-digest/daily-digest", {"window_end": "2026-04-19", "days": 7, "lang": "en", "out_dir": str(out)}
    )
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
    config = site_config(
        ops.root / "broken",
        ops.base_url,
        sources=["openai-news"],
        extra=[
            "[[sources]]",
            'name = "broken-feed"',
            'kind = "feed"',
            f'url = "{ops.base_url}/no/such/feed.xml"',
            'tier = "media"',
            "local = true",
            "[[alerts.webhooks]]",
            f'url = "{ops.hook.url}"',
            f'secret_env = "{SECRET_ENV}"',
            "local = true",
        ],
    )
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
    bad_store = site_config(
        root / "store", ops.base_url, sources=["openai-news"], store_path=str(root / "notadir" / "radar.duckdb")
    )
    no_sources = site_config(root / "empty", ops.base_url, sources=[])
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
