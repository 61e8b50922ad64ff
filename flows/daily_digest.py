"""The `daily-digest` Prefect flow: tasks over the digest library (digest/), retries and caching here only.

Call `flows.prefect_env.configure_prefect(settings)` before importing this module: it
imports prefect, which reads its home and telemetry settings at import time.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import INPUTS

from digest.build import build_digest
from digest.read import store_fingerprint
from digest.render import render_markdown
from digest.write import write_digest
from infra.config import ConfigError, Settings, load_settings
from infra.store import Store
from schemas.digest import Digest

__all__ = ["EmptyWindow", "daily_digest"]


def _settings(config_path: str | None) -> Settings:
    return load_settings(config_path or None)


def _store(settings: Settings) -> Store:
    return Store(settings.store.path, settings.store.lock_timeout_s)


def _retry_unless_permanent(task: Any, task_run: Any, state: Any) -> bool:
    from flows.prefect_env import retry_unless_permanent

    return retry_unless_permanent(task, task_run, state)


def _notify_failure(flow: Any, flow_run: Any, state: Any) -> None:
    from flows.prefect_env import notify_failure_hook

    notify_failure_hook(flow, flow_run, state)


@task(retries=2, retry_delay_seconds=[1, 5], retry_condition_fn=_retry_unless_permanent)
def fingerprint_task(config_path: str | None) -> str:
    return store_fingerprint(_store(_settings(config_path)))


@task(
    retries=3,
    retry_delay_seconds=[2, 5, 15],
    retry_condition_fn=_retry_unless_permanent,
    # Keyed by window and language, plus the store fingerprint so new data invalidates it.
    cache_policy=INPUTS,
    persist_result=True,
)
def build_digest_task(
    config_path: str | None, window_end: date, days: int, lang: str | None, fingerprint: str
) -> Digest:
    settings = _settings(config_path)
    return build_digest(_store(settings), settings, window_end, days, lang)  # type: ignore[arg-type]


@task(retries=3, retry_delay_seconds=[2, 5, 15], retry_condition_fn=_retry_unless_permanent)
def write_digest_task(config_path: str | None, digest: Digest, out_dir: str | None) -> list[str]:
    settings = _settings(config_path)
    target = Path(out_dir) if out_dir else settings.digest.out_dir
    return [str(p) for p in write_digest(digest, target, store=_store(settings))]


@flow(name="daily-digest", log_prints=False, on_failure=[_notify_failure])
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
    from infra.preflight import check_path, load_checked

    logger = get_run_logger()
    if days < 1:
        raise ConfigError(f"days: must be at least 1, got {days}")
    settings = load_checked(config_path)
    check_path(
        "out_dir" if out_dir else "digest.out_dir", Path(out_dir) if out_dir else settings.digest.out_dir, is_dir=True
    )
    if window_end is None:
        window_end = datetime.now(ZoneInfo(settings.digest.timezone)).date() - timedelta(days=1)
    fingerprint = fingerprint_task(config_path)
    digest = build_digest_task(config_path, window_end, days, lang, fingerprint)
    paths = write_digest_task(config_path, digest, out_dir)
    window = f"{digest.window.from_} .. {digest.window.to} {digest.window.timezone}"
    empty = not digest.top_events
    markdown = render_markdown(digest)
    if empty:
        note = (
            f"empty window {window}: {digest.stats.items_in} items published in it, {digest.stats.events} events;"
            " the digest says so (check `radar status`: did ingest and process run?)"
        )
        logger.warning("daily-digest: %s", note)
        markdown = f"> **Empty window.** {note}\n\n{markdown}"
    else:
        logger.info(
            "daily-digest %s (%s): %d top events, %d items in the window; wrote %s",
            window,
            digest.language,
            len(digest.top_events),
            digest.stats.items_in,
            ", ".join(paths),
        )
    create_markdown_artifact(
        key=f"digest-{window_end.isoformat()}-{digest.language}",
        markdown=markdown,
        description=f"Daily digest {digest.window.from_} .. {digest.window.to} ({digest.language})"
        + (" - EMPTY WINDOW" if empty else ""),
    )
    if empty and fail_on_empty:
        raise EmptyWindow(f"digest window {window} has no events (fail_on_empty)")
    return paths


class EmptyWindow(RuntimeError):
    """An empty digest window when the run was asked to fail on one."""
