"""The `daily-digest` Prefect flow: tasks over the digest library (digest/), retries and caching here only.

Call `infra.prefect_env.configure_prefect(settings)` before importing this module: it
imports prefect, which reads its home and telemetry settings at import time.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import INPUTS

from digest.build import build_digest
from digest.publish import EmptyWindow, prepare, publication
from digest.read import store_fingerprint
from digest.write import write_digest
from infra.config import Settings
from infra.prefect_env import notify_failure_hook, retry_unless_permanent
from infra.store import Store
from schemas.digest import Digest

__all__ = ["EmptyWindow", "daily_digest"]


def _store(settings: Settings) -> Store:
    return Store(settings.store.path, settings.store.lock_timeout_s)


@task(retries=2, retry_delay_seconds=[1, 5], retry_condition_fn=retry_unless_permanent)
def fingerprint_task(settings: Settings) -> str:
    return store_fingerprint(_store(settings))


@task(
    retries=3,
    retry_delay_seconds=[2, 5, 15],
    retry_condition_fn=retry_unless_permanent,
    # Keyed by the settings' content (Prefect hashes the pydantic model's JSON; secrets are masked in
    # it), window and language, plus the store fingerprint so new data invalidates it.
    cache_policy=INPUTS,
    persist_result=True,
)
def build_digest_task(settings: Settings, window_end: date, days: int, lang: str | None, fingerprint: str) -> Digest:
    return build_digest(_store(settings), settings, window_end, days, lang)  # type: ignore[arg-type]


@task(retries=3, retry_delay_seconds=[2, 5, 15], retry_condition_fn=retry_unless_permanent)
def write_digest_task(settings: Settings, digest: Digest, out_dir: Path) -> list[str]:
    return [str(p) for p in write_digest(digest, out_dir, store=_store(settings))]


@flow(name="daily-digest", log_prints=False, on_failure=[notify_failure_hook])
def daily_digest(
    window_end: date | None = None,
    days: int = 7,
    lang: Literal["zh", "en"] | None = None,
    config_path: str | None = None,
    out_dir: str | None = None,
    fail_on_empty: bool = False,
) -> list[str]:
    """Build, write and store the digest; publish its Markdown as a Prefect artifact.

    `window_end` defaults to yesterday in the digest timezone (what a morning schedule wants);
    the window is the `days` days ending on it; `lang` defaults to `digest.language`. A window
    without any event is said so in the run log and at the top of the artifact; with
    `fail_on_empty` the run then ends Failed (after writing the files).
    """
    logger = get_run_logger()
    run = prepare(config_path, window_end, days, out_dir)
    fingerprint = fingerprint_task(run.settings)
    digest = build_digest_task(run.settings, run.window_end, run.days, lang, fingerprint)
    paths = write_digest_task(run.settings, digest, run.out_dir)
    published = publication(digest, run.window_end, paths)
    logger.log(published.log_level, "%s", published.log_line)
    create_markdown_artifact(key=published.key, markdown=published.markdown, description=published.description)
    published.check(fail_on_empty)
    return paths
