"""The `hourly-rollup` Prefect flow over `digest.rollup.rollup_hours` (retries and caching here only).

Import this module after `infra.prefect_env.configure_prefect()` (it imports prefect).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.context import TaskRunContext
from prefect.utilities.hashing import hash_objects

from digest.rollup import rollup_hours, rollup_span, rollup_summary
from infra.config import Settings
from infra.prefect_env import forward_to_run_logger, notify_failure_hook, retry_unless_permanent
from infra.preflight import load_checked
from infra.store import Store

__all__ = ["hourly_rollup"]


def _store_and_hours(context: TaskRunContext, inputs: dict[str, Any]) -> str:
    # The rows depend on the store and the hours only: keyed by the store's absolute path (a relative
    # one means another file from another working directory), not by the rest of the settings.
    settings: Settings = inputs["settings"]
    return hash_objects(str(settings.store.path.resolve()), inputs["start"], inputs["end"]) or ""


@task(
    retries=3,
    retry_delay_seconds=[2, 5, 15],
    retry_condition_fn=retry_unless_permanent,
    # A retried flow run does not redo finished hours.
    cache_key_fn=_store_and_hours,
    # Short expiry: the cache spares a retried run the finished hours, yet a later re-run
    # of the same hours (late items arrived) recomputes them.
    cache_expiration=timedelta(minutes=15),
    persist_result=True,
)
def rollup_task(settings: Settings, start: datetime, end: datetime) -> int:
    return rollup_hours(Store(settings.store.path, settings.store.lock_timeout_s), start, end)


@flow(name="hourly-rollup", log_prints=False, on_failure=[notify_failure_hook])
def hourly_rollup(
    start: datetime | None = None,
    end: datetime | None = None,
    config_path: str | None = None,
) -> int:
    """Roll up [start, end) (default: the last completed UTC hour) into `rollup_hourly`."""
    logger = get_run_logger()
    settings = load_checked(config_path)
    lo, hi = rollup_span(start, end)
    with forward_to_run_logger(logger):
        written = rollup_task(settings, lo, hi)
    logger.info("%s", rollup_summary(lo, hi, written))
    return written
