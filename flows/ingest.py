"""Prefect flow `ingest`: every configured source once, into `radar.raw.v1`.

Thin over `connectors.ingest` (`run_ingest`, `IngestOutcome`), which is tested without Prefect.
Call `infra.prefect_env.configure_prefect()` before importing this module.

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

from connectors.ingest import IngestOutcome, IngestReport, nothing_to_ingest, run_ingest, select_sources
from infra.config import Settings
from infra.prefect_env import broker_for_run, forward_to_run_logger, notify_failure_hook, retry_unless_permanent
from infra.preflight import load_checked
from infra.store import Store

__all__ = ["ingest"]


@task(retries=2, retry_delay_seconds=[5, 30], retry_condition_fn=retry_unless_permanent)
def ingest_sources(
    settings: Settings,
    source_names: list[str] | None,
    groups: list[str] | None = None,
    exclude_groups: list[str] | None = None,
) -> IngestReport:
    return run_ingest(settings, source_names=source_names, groups=groups, exclude_groups=exclude_groups)


@flow(name="ingest", on_failure=[notify_failure_hook])
def ingest(
    config_path: str | None = None,
    source_names: list[str] | None = None,
    fail_on_source_errors: bool = True,
    groups: list[str] | None = None,
    exclude_groups: list[str] | None = None,
) -> Any:
    logger = get_run_logger()
    settings = load_checked(config_path, need_sources=True, source_names=source_names)
    # Before a broker starts: an unknown group fails here (ConfigError, not retried), and a group
    # this config has no source in ends the run at once.
    if not select_sources(settings, source_names, groups, exclude_groups):
        message = nothing_to_ingest(groups, exclude_groups)
        logger.info("ingest: %s", message)
        return message
    with forward_to_run_logger(logger), broker_for_run(settings, logger):
        report = ingest_sources(settings, source_names, groups, exclude_groups)
    outcome = IngestOutcome.of(report, Store(settings.store.path, settings.store.lock_timeout_s))
    logger.info("ingest: %s", outcome.summary)
    create_table_artifact(key="ingest-sources", table=list(outcome.rows), description=outcome.description)
    for name in outcome.failed:
        logger.error("source %s failed: %s", name, outcome.failure_of(name))
    failure = outcome.failure_message()
    if failure and fail_on_source_errors:
        return Failed(message=failure)
    return outcome.summary
