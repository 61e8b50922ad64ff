"""A scheduled digest run around the library: its checked request, and what it tells about itself.

The `daily-digest` flow (flows/daily_digest.py) is Prefect wiring over these: `prepare` before
its tasks, `publication` after them. Kept here so they are tested without Prefect
(tests/test_digest_publish.py) and the flow stays a list of steps.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from digest.render import render_markdown
from infra.config import ConfigError, Settings
from infra.preflight import check_path, load_checked
from schemas.digest import Digest

__all__ = ["DigestRequest", "EmptyWindow", "Publication", "default_window_end", "prepare", "publication"]


class EmptyWindow(RuntimeError):
    """An empty digest window when the run was asked to fail on one."""


def default_window_end(timezone: str, now: datetime | None = None) -> date:
    """Yesterday in the digest timezone: a morning schedule digests the days that have ended."""
    zone = ZoneInfo(timezone)
    today = now.astimezone(zone).date() if now is not None else datetime.now(zone).date()
    return today - timedelta(days=1)


@dataclass(frozen=True)
class DigestRequest:
    """One unattended digest run's inputs, checked before any task starts."""

    settings: Settings
    window_end: date
    days: int
    out_dir: Path


def prepare(
    config_path: str | None,
    window_end: date | None,
    days: int,
    out_dir: str | None,
    *,
    now: datetime | None = None,
) -> DigestRequest:
    """Load and check the configuration once for the whole run; fail at once (ConfigError, not
    retried) on a bad `days` or an output directory that cannot be written."""
    if days < 1:
        raise ConfigError(f"days: must be at least 1, got {days}")
    settings = load_checked(config_path)
    target = Path(out_dir) if out_dir else settings.digest.out_dir
    check_path("out_dir" if out_dir else "digest.out_dir", target, is_dir=True)
    if window_end is None:
        window_end = default_window_end(settings.digest.timezone, now)
    return DigestRequest(settings=settings, window_end=window_end, days=days, out_dir=target)


@dataclass(frozen=True)
class Publication:
    """The Markdown artifact of a run and its log line."""

    key: str
    markdown: str
    description: str
    empty: bool
    window: str
    log_level: int
    log_line: str

    def check(self, fail_on_empty: bool) -> None:
        """Raise EmptyWindow when the window has no event and the run was asked to fail on that."""
        if self.empty and fail_on_empty:
            raise EmptyWindow(f"digest window {self.window} has no events (fail_on_empty)")


def publication(digest: Digest, window_end: date, paths: Sequence[str]) -> Publication:
    """A window without any event says so in the log (a warning) and at the top of the artifact:
    an empty digest most often means ingest or process did not run, which the files alone hide."""
    window = f"{digest.window.from_} .. {digest.window.to} {digest.window.timezone}"
    empty = not digest.top_events
    markdown = render_markdown(digest)
    if empty:
        note = (
            f"empty window {window}: {digest.stats.items_in} items published in it, {digest.stats.events} events;"
            " the digest says so (check `radar status`: did ingest and process run?)"
        )
        markdown = f"> **Empty window.** {note}\n\n{markdown}"
        level, line = logging.WARNING, f"daily-digest: {note}"
    else:
        level = logging.INFO
        line = (
            f"daily-digest {window} ({digest.language}): {len(digest.top_events)} top events,"
            f" {digest.stats.items_in} items in the window; wrote {', '.join(paths)}"
        )
    return Publication(
        key=f"digest-{window_end.isoformat()}-{digest.language}",
        markdown=markdown,
        description=f"Daily digest {digest.window.from_} .. {digest.window.to} ({digest.language})"
        + (" - EMPTY WINDOW" if empty else ""),
        empty=empty,
        window=window,
        log_level=level,
        log_line=line,
    )
