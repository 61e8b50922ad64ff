"""prefect.yaml's ingest per source group (issue 16 item 3), on the session's real Prefect server, pool
and worker (tests/conftest.py's `ops`, shared with tests/test_prefect_deployments.py): X every 5
minutes, feeds and own groups every 15 (the `ingest` deployment's schedule parameters), arXiv hourly."""

from __future__ import annotations

import json
from typing import Any

from app.ops import schedule_summary
from tests.prefect_support import Ops, site_config

GROUP_DEPLOYMENTS = {"ingest": None, "ingest-x": ["x"], "ingest-arxiv": ["arxiv"]}


def _rows(deployed: Ops, run: Any) -> list[dict[str, Any]]:
    [table] = [a for a in deployed.artifacts(run) if a.key == "ingest-sources"]
    return json.loads(table.data) if isinstance(table.data, str) else table.data


def test_group_deployments_and_their_schedules(ops: Ops) -> None:
    with ops.client() as client:
        deployments = {d.name: d for d in client.read_deployments()}
    for name, groups in GROUP_DEPLOYMENTS.items():
        dep = deployments[name]
        assert dep.parameters.get("groups") == groups
        assert dep.global_concurrency_limit is not None and dep.global_concurrency_limit.limit == 1
        assert dep.schedules and not any(s.active for s in dep.schedules)  # paused on deploy
    [x_schedule] = deployments["ingest-x"].schedules
    assert x_schedule.schedule.interval.total_seconds() == 300
    [feeds_schedule] = deployments["ingest"].schedules
    assert feeds_schedule.schedule.interval.total_seconds() == 900
    # By hand `ingest` takes every source; its schedule leaves x and arxiv to their deployments.
    assert feeds_schedule.parameters == {"exclude_groups": ["x", "arxiv"]}
    [arxiv_schedule] = deployments["ingest-arxiv"].schedules
    assert arxiv_schedule.schedule.cron == "20 * * * *"
    # `radar ops status` says so (ops review, session 19: it did not show whether schedules run).
    scheduled = sum(1 for d in deployments.values() if d.schedules)
    assert schedule_summary(ops.api_url) == f"schedules: all {scheduled} PAUSED (`radar ops resume` starts them)"


def test_each_group_deployment_runs_only_its_sources(ops: Ops) -> None:
    # Its own data dir, not the one the deployments name (other modules' runs use that): the run
    # parameter overrides only config_path, the groups still come from each deployment.
    own = {"config_path": str(site_config(ops.root / "groups", ops.base_url))}
    x_run = ops.run("ingest/ingest-x", own)
    assert x_run.state_type.value == "COMPLETED", x_run.state.message
    assert {r["kind"] for r in _rows(ops, x_run)} == {"x"}

    arxiv_run = ops.run("ingest/ingest-arxiv", own)
    assert arxiv_run.state_type.value == "COMPLETED", arxiv_run.state.message
    assert {r["kind"] for r in _rows(ops, arxiv_run)} == {"arxiv"}

    # What the 15-minute schedule runs: everything but the x and arxiv groups.
    rest = ops.run("ingest/ingest", {**own, "exclude_groups": ["x", "arxiv"]})
    assert rest.state_type.value == "COMPLETED", rest.state.message
    rows = _rows(ops, rest)
    assert {r["kind"] for r in rows} == {"feed", "html"} and len(rows) == 9
