"""Prefect flow `process`: raw envelopes up to the current end offsets into DuckDB.

Thin over `infra.processor.Processor`, which is tested without Prefect. No retries at
the task level are needed for correctness: a failed batch left DuckDB untouched and
the next run starts from the stored offsets; the retries only save an operator a rerun.
"""

from __future__ import annotations

from prefect import flow, get_run_logger, task

from infra.config import load_settings

__all__ = ["process"]


@task(retries=2, retry_delay_seconds=[5, 30])
def process_pending(config_path: str | None) -> int:
    from infra.processor import Processor

    settings = load_settings(config_path)
    with Processor(settings) as processor:
        return processor.run_once().records


@flow(name="process")
def process(config_path: str | None = None) -> int:
    records = process_pending(config_path)
    get_run_logger().info("processed %s records", records)
    return records
