"""Prefect flow `process`: raw envelopes up to the current end offsets into DuckDB.

Thin over `app.processor.Processor`, which is tested without Prefect. No retries at
the task level are needed for correctness: a failed batch left DuckDB untouched and
the next run starts from the stored offsets; the retries only save an operator a rerun,
so configuration, permission and damaged-store errors are not retried. Dead letters of
the batch are forwarded to the run log; a run that started the embedded broker and then
failed stops it again. prefect.yaml limits the deployment to one run at a time.
"""

from __future__ import annotations

from prefect import flow, get_run_logger, task

from infra.config import Settings
from infra.prefect_env import broker_for_run, forward_to_run_logger, notify_failure_hook, retry_unless_permanent
from infra.preflight import load_checked

__all__ = ["process"]


@task(retries=2, retry_delay_seconds=[5, 30], retry_condition_fn=retry_unless_permanent)
def process_pending(settings: Settings) -> str:
    # Imported in the run: app.processor pulls in Beam (~1 s), which `prefect deploy` loading this file need not pay.
    from app.processor import Processor

    with Processor(settings) as processor:
        summary = processor.run_once().summary()
    if settings.alerts.webhooks:
        # After the close, which is what drains the deliveries (up to alerts.drain_timeout_s).
        summary += f"; webhooks: {processor.webhooks.outcome()}"
    return summary


@flow(name="process", on_failure=[notify_failure_hook])
def process(config_path: str | None = None) -> str:
    logger = get_run_logger()
    settings = load_checked(config_path)
    with forward_to_run_logger(logger), broker_for_run(settings, logger):
        summary = process_pending(settings)
    logger.info("processed %s", summary)
    return summary
