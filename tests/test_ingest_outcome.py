"""What an unattended ingest run publishes (connectors.ingest.IngestOutcome), without Prefect: the
`ingest` flow's table artifact, log lines and failure message come from here
(tests/test_prefect_deployments.py runs the flow through a real server and worker)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from connectors.ingest import IngestOutcome, IngestReport, SourceReport, nothing_to_ingest
from connectors.source_runs import last_errors, record_source_run
from infra.store import Store


def _source(name: str, errors: int = 0, not_modified: bool = False) -> SourceReport:
    return SourceReport(
        name=name,
        kind="feed",
        fetched=3,
        produced=0 if errors else 2,
        unchanged=1,
        dead_lettered=errors,
        skipped_links=0,
        errors=errors,
        requests=1,
        not_modified=not_modified,
        elapsed_s=0.1234,
    )


def test_each_source_gets_a_row_and_a_failed_one_its_first_failure(tmp_path: Path) -> None:
    store = Store(tmp_path / "radar.duckdb")
    with store.write() as con:
        record_source_run(con, "good", ok=True, produced=2, error=None)
        record_source_run(con, "broken", ok=False, produced=0, error="fetch: HTTP 404 for /feed.xml")
        # Failed before, fine now: its old error is not this run's failure.
        record_source_run(con, "healed", ok=False, produced=0, error="fetch: timeout")
        record_source_run(con, "healed", ok=True, produced=1, error=None)
    assert last_errors(store, ["good", "broken", "healed"]) == {"broken": "fetch: HTTP 404 for /feed.xml"}
    assert last_errors(store, []) == {}

    report = IngestReport(
        sources=(_source("good"), _source("broken", errors=1), _source("unrecorded", errors=2)),
        started_at=datetime(2026, 4, 19, tzinfo=UTC),
        elapsed_s=1.0,
    )
    outcome = IngestOutcome.of(report, store)
    assert outcome.summary == report.summary()
    assert outcome.failed == ("broken", "unrecorded")
    rows = {row["source"]: row for row in outcome.rows}
    assert [row["source"] for row in outcome.rows] == ["good", "broken", "unrecorded"]
    assert rows["good"] == {
        "source": "good",
        "kind": "feed",
        "outcome": "ok",
        "fetched": 3,
        "produced": 2,
        "unchanged": 1,
        "dead_lettered": 0,
        "errors": 0,
        "not_modified": False,
        "seconds": 0.12,
        "first_failure": "",
    }
    assert rows["broken"]["outcome"] == "failed" and rows["broken"]["first_failure"] == "fetch: HTTP 404 for /feed.xml"
    assert rows["unrecorded"]["first_failure"] == ""
    assert outcome.description == f"ingest: {report.summary()}; FAILED: broken, unrecorded"
    assert outcome.failure_of("broken") == "fetch: HTTP 404 for /feed.xml"
    assert outcome.failure_of("unrecorded") == "see the dead letters above"
    assert outcome.failure_message() == (
        "2 of 3 sources failed: broken (fetch: HTTP 404 for /feed.xml); unrecorded (failed)"
    )


def test_a_not_modified_repeat_of_a_failed_run_is_still_a_failure(tmp_path: Path) -> None:
    """A broken feed answers 304 the next time: the run sees no error of its own, but the document
    is the one that failed (source_runs repeats the verdict), so the run fails again."""
    store = Store(tmp_path / "radar.duckdb")
    with store.write() as con:
        record_source_run(con, "broken", ok=False, produced=0, error="parse: empty body")
        record_source_run(con, "broken", ok=True, produced=0, error=None, not_modified=True)
        record_source_run(con, "good", ok=True, produced=2, error=None)
        record_source_run(con, "good", ok=True, produced=0, error=None, not_modified=True)
    report = IngestReport(
        sources=(_source("broken", not_modified=True), _source("good", not_modified=True)),
        started_at=datetime(2026, 4, 19, tzinfo=UTC),
        elapsed_s=1.0,
    )
    outcome = IngestOutcome.of(report, store)
    assert outcome.failed == ("broken",)
    assert [row["outcome"] for row in outcome.rows] == ["failed", "ok"]
    assert outcome.failure_message() == "1 of 2 sources failed: broken (parse: empty body)"


def test_a_run_without_failures_has_no_failure_message(tmp_path: Path) -> None:
    report = IngestReport(sources=(_source("good"),), started_at=datetime(2026, 4, 19, tzinfo=UTC), elapsed_s=0.5)
    outcome = IngestOutcome.of(report, Store(tmp_path / "radar.duckdb"))
    assert outcome.failed == () and outcome.failure_message() is None
    assert outcome.description == f"ingest: {report.summary()}"


def test_nothing_to_ingest_names_the_groups() -> None:
    assert nothing_to_ingest(["x"], None) == "no enabled sources in x: nothing to ingest"
    assert (
        nothing_to_ingest(None, ["x", "arxiv"]) == "no enabled sources in all groups except x, arxiv: nothing to ingest"
    )
