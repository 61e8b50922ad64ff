"""The latest outcome of each source's ingest runs (table `source_runs`, read by `radar status`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import duckdb

from infra.store import Store
from schemas.dead_letter import DeadLetter

__all__ = ["first_failure", "last_errors", "record_source_run"]


def first_failure(dead_letters: Sequence[DeadLetter]) -> str | None:
    """The run's first dead letter as "<stage>: <reason>": connectors dead-letter the cause first."""
    if not dead_letters:
        return None
    first = dead_letters[0]
    return f"{first.stage}: {first.reason}"


def record_source_run(
    con: duckdb.DuckDBPyConnection,
    source_name: str,
    *,
    ok: bool,
    produced: int,
    error: str | None,
    not_modified: bool = False,
    at: datetime | None = None,
) -> None:
    """Upsert one run's outcome inside the caller's transaction (it shares the cursor's commit).

    A failed run keeps the last success as it was, and a successful one keeps the last error:
    the operator wants both, and when each happened. A "not modified" (304) run saw the same
    document as the run before, so it repeats that run's outcome: a feed that failed to parse
    keeps its validators (connectors.base.SourceRun.remember_validators) and is still broken.
    """
    when = at or datetime.now(UTC)
    if not_modified and ok:
        previous = con.execute(
            "SELECT last_run_ok, last_error FROM source_runs WHERE source_name = ?", [source_name]
        ).fetchone()
        if previous is not None and not previous[0]:
            ok, error = False, previous[1]
    con.execute(
        "INSERT INTO source_runs (source_name, last_run_at, last_run_ok, last_success_at, last_success_produced,"
        " last_error_at, last_error, consecutive_failures)"
        " VALUES ($name, $at, $ok, CASE WHEN $ok THEN $at END, CASE WHEN $ok THEN $produced END,"
        " CASE WHEN $ok THEN NULL ELSE $at END, CASE WHEN $ok THEN NULL ELSE $error END,"
        " CASE WHEN $ok THEN 0 ELSE 1 END)"
        " ON CONFLICT (source_name) DO UPDATE SET"
        " last_run_at = excluded.last_run_at,"
        " last_run_ok = excluded.last_run_ok,"
        " last_success_at = coalesce(excluded.last_success_at, source_runs.last_success_at),"
        " last_success_produced = CASE WHEN excluded.last_run_ok THEN excluded.last_success_produced"
        " ELSE source_runs.last_success_produced END,"
        " last_error_at = coalesce(excluded.last_error_at, source_runs.last_error_at),"
        " last_error = CASE WHEN excluded.last_run_ok THEN source_runs.last_error ELSE excluded.last_error END,"
        " consecutive_failures = CASE WHEN excluded.last_run_ok THEN 0"
        " ELSE source_runs.consecutive_failures + 1 END",
        {"name": source_name, "at": when, "ok": ok, "produced": produced, "error": error or "unspecified error"},
    )


def last_errors(store: Store, names: Sequence[str]) -> dict[str, str]:
    """The first failure of each named source whose latest run failed, as `radar status` shows it."""
    if not names:
        return {}
    with store.read() as con:
        rows = con.execute(
            "SELECT source_name, last_error FROM source_runs WHERE source_name IN (SELECT unnest($n))"
            " AND NOT last_run_ok",
            {"n": list(names)},
        ).fetchall()
    return {name: error or "" for name, error in rows}
