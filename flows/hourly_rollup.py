"""The `hourly-rollup` Prefect flow over `digest.rollup.rollup_hours` (retries and caching here only).

Import this module after `flows.prefect_env.configure_prefect()` (it imports prefect).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prefect import flow, get_run_logger, task
from prefect.cache_policies import INPUTS

from digest.rollup import HOUR, hour_range, rollup_hours
from flows.prefect_env import forward_to_run_logger, notify_failure_hook, retry_unless_permanent
from infra.store import Store

__all__ = ["hourly_rollup"]


@task(
    retries=3,
    retry_delay_seconds=[2, 5, 15],
    retry_condition_fn=retry_unless_permanent,
    # Keyed by the hour range (and store path): a retried flow run does not redo finished hours.
    cache_policy=INPUTS,
    # Short expiry: the cache spares a retried run the finished hours, yet a later re-run
    # of the same hours (late items arrived) recomputes them.
    cache_expiration=timedelta(minutes=15),
    persist_result=True,
)
def rollup_task(store_path: str, lock_timeout_s: float, start: datetime, end: datetime) -> int:
    return rollup_hours(Store(store_path, lock_timeout_s), start, end)


@flow(name="hourly-rollup", log_prints=False, on_failure=[notify_failure_hook])
def hourly_rollup(
    start: datetime | None = None,
    end: datetime | None = None,
    config_path: str | None = None,
) -> int:
    """Roll up [start, end) (default: the last completed UTC hour) into `rollup_hourly`."""
    from infra.preflight import load_checked

    logger = get_run_logger()
    settings = load_checked(config_path)
    if end is None:
        end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    if start is None:
        start = end - HOUR
    lo, hi = hour_range(start, end)
    with forward_to_run_logger(logger):
        written = rollup_task(str(settings.store.path.resolve()), settings.store.lock_timeout_s, lo, hi)
    logger.info(
        "hourly-rollup %s .. %s: wrote %d rows into rollup_hourly%s",
        lo.isoformat(),
        hi.isoformat(),
        written,
        " (no items or events in these hours)" if written == 0 else "",
    )
    return written
