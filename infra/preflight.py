"""Checks an unattended run makes before it starts anything, and what counts as "do not retry".

A Prefect flow run (or `radar ops up`) calls `check_settings` right after loading the
configuration: an unusable path or an empty source list is a mistake in the configuration,
reported as one `ConfigError` line that names the key (`store.path: /srv/x/radar.duckdb:
/srv/x is not a directory`), before a broker is started or a file is created. Such errors,
permission errors and a damaged store are `permanent`: retrying them only delays the alarm.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from infra.config import ConfigError, Settings, load_settings
from infra.store import StoreDamaged

__all__ = ["PERMANENT_ERRORS", "check_path", "check_settings", "is_permanent", "load_checked"]

# Mistakes a retry cannot fix: configuration, permissions, a path that is a file, a damaged store.
PERMANENT_ERRORS: tuple[type[BaseException], ...] = (
    ConfigError,
    PermissionError,
    NotADirectoryError,
    IsADirectoryError,
    FileExistsError,
    StoreDamaged,
)


def is_permanent(exc: BaseException | None) -> bool:
    """True for an error no retry can fix (see PERMANENT_ERRORS), looking through its causes."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, PERMANENT_ERRORS):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


def check_path(key: str, path: Path, *, is_dir: bool) -> None:
    """`path` (a directory when `is_dir`, else a file) can be created and written.

    Walks up to the first existing ancestor: it must be a directory we may write into; an
    existing `path` must have the right kind and be writable. Raises ConfigError naming `key`.
    """
    path = Path(path).expanduser().absolute()
    if path.exists():
        if is_dir and not path.is_dir():
            raise ConfigError(f"{key}: {path} is not a directory")
        if not is_dir and path.is_dir():
            raise ConfigError(f"{key}: {path} is a directory, not a file")
        target = path if is_dir else path.parent
        if not os.access(target, os.W_OK | os.X_OK) or (not is_dir and not os.access(path, os.W_OK)):
            raise ConfigError(f"{key}: {path} is not writable by uid {os.getuid()}")
        return
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ConfigError(f"{key}: {path}: {ancestor} is not a directory")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise ConfigError(f"{key}: {path}: cannot create it, {ancestor} is not writable by uid {os.getuid()}")


def check_settings(
    settings: Settings,
    *,
    need_sources: bool = False,
    source_names: Iterable[str] | None = None,
    out_dir: Path | None = None,
) -> None:
    """The paths a run writes are usable; with `need_sources`, at least one source is enabled."""
    check_path("data_dir", settings.data_dir, is_dir=True)
    check_path("store.path", settings.store.path, is_dir=False)
    if out_dir is not None:
        check_path("digest.out_dir", out_dir, is_dir=True)
    if need_sources:
        names = list(source_names or [])
        for name in names:
            settings.source(name)  # ConfigError naming an unknown source
        if not names and not any(source.enabled for source in settings.sources):
            origin = settings.config_file or "no config file ($RADAR_CONFIG is not set)"
            raise ConfigError(
                f"sources: no enabled [[sources]] in {origin}: nothing to ingest"
                " (a deployment reads the file named by RADAR_CONFIG in prefect.yaml's job_variables)"
            )


def load_checked(config_path: str | None, **checks: object) -> Settings:
    """Settings for an unattended run: a config file is required, then `check_settings`.

    A deployment without `config_path` reads `$RADAR_CONFIG`; with neither, it would run on
    defaults (no sources, ./data) and report success, so that is an error instead.
    """
    if not config_path and not os.environ.get("RADAR_CONFIG"):
        raise ConfigError(
            "RADAR_CONFIG: not set and no config_path parameter; set it in prefect.yaml"
            " (job_variables.env.RADAR_CONFIG, taken from the shell that runs `prefect deploy`)"
        )
    settings = load_settings(config_path or None)
    check_settings(settings, **checks)  # type: ignore[arg-type]
    return settings
