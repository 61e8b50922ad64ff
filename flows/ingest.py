"""Prefect flow `ingest`: every configured source once, into `radar.raw.v1`.

Thin over `connectors.ingest.run_ingest`, which is tested without Prefect. Call
`flows.prefect_env.configure_prefect()` before importing this module.

Failing loudly (issue 14): a run needs a config file (`config_path` or $RADAR_CONFIG) with at
least one enabled source and usable paths, else it fails at once naming the key, unretried; it
publishes a table artifact `ingest-sources` with every source's outcome, forwards every dead
letter and source failure to the run log, and ends Failed (message: the sources and their first
failure) when a source failed, unless `fail_on_source_errors=False`. A run that started the
embedded broker and then crashed stops it again.

Groups (issue 16): `groups` runs the enabled sources of those groups (`x`, `feeds`, `arxiv`
derived from the kind, or a source's own `group`), `exclude_groups` leaves groups out; the
deployments in prefect.yaml poll each group on its own cadence. A group with no source in
this config completes with a log line and fetches nothing (an unused deployment is no failure);
an unknown custom group name fails at once like an unknown source name.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.states import Failed

from flows.prefect_env import broker_for_run, forward_to_run_logger, notify_failure_hook, retry_unless_permanent
from infra.config import load_settings
from infra.preflight import load_checked

__all__ = ["ingest"]


@task(retries=2, retry_delay_seconds=[5, 30], retry_condition_fn=retry_unless_permanent)
def ingest_sources(
    config_path: str | None,
    source_names: list[str] | None,
    groups: list[str] | None = None,
    exclude_groups: list[str] | None = None,
) -> Any:
    from connectors.ingest import run_ingest

    settings = load_settings(config_path or None)
    return run_ingest(settings, source_names=source_names, groups=groups, exclude_groups=exclude_groups)


def _last_errors(settings: Any, names: list[str]) -> dict[str, str]:
    """The first failure of each source's latest run, as `radar status` shows it (table source_runs)."""
    from infra.store import Store

    if not names:
        return {}
    with Store(settings.store.path, settings.store.lock_timeout_s).read() as con:
        rows = con.execute(
            "SELECT source_name, last_error FROM source_runs WHERE source_name IN (SELECT unnest($n))"
            " AND NOT last_run_ok",
            {"n": names},
        ).fetchall()
    return {name: error or "" for name, error in rows}


@flow(name="ingest", on_failure=[notify_failure_hook])
def ingest(
    config_path: str | None = None,
    source_names: list[str] | None = None,
    fail_on_source_errors: bool = True,
    groups: list[str] | None = None,
    exclude_groups: list[str] | None = None,
) -> Any:
    from connectors.ingest import select_sources

    logger = get_run_logger()
    settings = load_checked(config_path, need_sources=True, source_names=source_names)
    # Before a broker starts: an unknown group fails here (ConfigError, not retried), and a group
    # this config has no source in ends the run at once.
    selected = select_sources(settings, source_names, groups, exclude_groups)
    if not selected:
        wanted = ", ".join(groups or []) or "all groups"
        without = f" except {', '.join(exclude_groups)}" if exclude_groups else ""
        message = f"no enabled sources in {wanted}{without}: nothing to ingest"
        logger.info("ingest: %s", message)
        return message
    with forward_to_run_logger(logger), broker_for_run(settings, logger):
        report = ingest_sources(config_path, source_names, groups, exclude_groups)
    summary = report.summary()
    logger.info("ingest: %s", summary)
    failed = [s.name for s in report.sources if s.errors]
    errors = _last_errors(settings, failed)
    rows = [
        {
            "source": s.name,
            "kind": s.kind,
            "outcome": "failed" if s.errors else "ok",
            "fetched": s.fetched,
            "produced": s.produced,
            "unchanged": s.unchanged,
            "dead_lettered": s.dead_lettered,
            "errors": s.errors,
            "not_modified": s.not_modified,
            "seconds": round(s.elapsed_s, 2),
            "first_failure": errors.get(s.name, ""),
        }
        for s in report.sources
    ]
    create_table_artifact(
        key="ingest-sources",
        table=rows,
        description=f"ingest: {summary}" + (f"; FAILED: {', '.join(failed)}" if failed else ""),
    )
    for name in failed:
        logger.error("source %s failed: %s", name, errors.get(name) or "see the dead letters above")
    if failed and fail_on_source_errors:
        listed = "; ".join(f"{name} ({errors.get(name) or 'failed'})" for name in failed)
        return Failed(message=f"{len(failed)} of {len(report.sources)} sources failed: {listed}")
    return summary
