"""Prefect's environment, set before Prefect is imported.

Prefect reads most of its settings from the environment when its modules load, so
callers MUST call `configure_prefect(settings)` before the first `import prefect`
(directly or through `flows.digest` / `flows.rollup` flow objects). Calling it later
still sets the variables, but a Prefect already imported may keep its old home; we
log a warning in that case rather than failing, because the telemetry switches are
still honoured per request.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from infra.config import Settings

__all__ = ["configure_prefect"]

log = logging.getLogger(__name__)

# Telemetry lookups go to the internet (offline here: errors in the log) and hold the
# SQLite database lock while they wait (DESIGN.md §7), so they are forced off.
_FORCED = {
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
}
# Quiet by default, but a user who asks for more logging through the environment wins.
_DEFAULTS = {
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
    # The first ephemeral server in a fresh PREFECT_HOME migrates its database (~26 s measured
    # on 2 cores, DESIGN.md §7): Prefect's 20 s default gives up before it is ready.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
}


def configure_prefect(settings: Settings | None = None, *, data_dir: Path | str | None = None) -> Path:
    """Point Prefect at `<data_dir>/prefect` (absolute), silence telemetry; return PREFECT_HOME.

    Call this before anything imports `prefect`. `data_dir` overrides `settings.data_dir`.
    """
    base = Path(data_dir) if data_dir is not None else (settings.data_dir if settings else Path("data"))
    home = (base / "prefect").resolve()
    home.mkdir(parents=True, exist_ok=True)
    if "prefect" in sys.modules and os.environ.get("PREFECT_HOME") != str(home):
        log.warning("configure_prefect() called after prefect was imported; PREFECT_HOME may not apply")
    os.environ.update(_FORCED)
    os.environ["PREFECT_HOME"] = str(home)
    for name, value in _DEFAULTS.items():
        os.environ.setdefault(name, value)
    return home
