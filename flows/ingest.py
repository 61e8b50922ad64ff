"""Prefect flow `ingest`: every configured source once, into `radar.raw.v1`.

Thin over `connectors.ingest.run_ingest`, which is tested without Prefect. Call
`flows.prefect_env.configure_prefect()` before importing this module.
"""

from __future__ import annotations

from prefect import flow, get_run_logger, task

from infra.config import load_settings

__all__ = ["ingest"]


@task(retries=2, retry_delay_seconds=[5, 30])
def ingest_sources(config_path: str | None, source_names: list[str] | None) -> str:
    from connectors.ingest import run_ingest

    settings = load_settings(config_path)
    return run_ingest(settings, source_names=source_names).summary()


@flow(name="ingest")
def ingest(config_path: str | None = None, source_names: list[str] | None = None) -> str:
    summary = ingest_sources(config_path, source_names)
    get_run_logger().info("ingest: %s", summary)
    return summary
