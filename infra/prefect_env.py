"""What every Prefect flow run shares, in a module that does not import Prefect at load time.

Prefect reads most of its settings from the environment when its modules load, so
callers MUST call `configure_prefect(settings)` before the first `import prefect`
(directly or through the flow objects in flows/). Calling it later still sets the
variables, but a Prefect already imported may keep its old home; we log a warning in
that case rather than failing, because the telemetry switches are still honoured per
request. The run helpers below (retry condition, failure hook, log forwarding, the
broker a run started) take Prefect's objects as arguments and import Prefect only
inside the one function that needs it, so flows/*.py stay wiring and this is tested
without a flow (tests/test_flow_failures.py).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from infra.config import Settings

__all__ = [
    "broker_for_run",
    "configure_prefect",
    "forward_to_run_logger",
    "notify_failure_hook",
    "retry_unless_permanent",
]

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


# --- What every flow of prefect.yaml shares (prefect is imported inside the functions) ---------

# Loggers of the project whose WARNING+ records a flow run forwards to its own run logger, so a
# dead letter or a failing source shows in the Prefect UI, not only on the worker's stdout.
# "app" and "digest": the processor and the digest library moved there out of infra/ and flows/.
FORWARDED_LOGGERS = ("infra", "connectors", "transforms", "digest", "app", "flows")


def retry_unless_permanent(task: Any, task_run: Any, state: Any) -> bool:
    """`retry_condition_fn` for every task: retry transient errors, never a configuration,
    permission or damaged-store error (infra.preflight.PERMANENT_ERRORS)."""
    from infra.preflight import is_permanent

    try:
        state.result()
    except BaseException as exc:  # noqa: BLE001 - classifying the task's own failure
        return not is_permanent(exc)
    return True


def notify_failure_hook(flow: Any, flow_run: Any, state: Any) -> None:
    """Flow-level `on_failure` hook: POST the failure to every `[[alerts.webhooks]]`.

    Reads the configuration the run used (its `config_path` parameter, else $RADAR_CONFIG); a
    configuration that cannot be loaded is logged (nothing to post to), never raised.
    """
    from prefect.logging.loggers import flow_run_logger

    from infra.config import load_settings
    from infra.run_failure import FailureNotice, first_line, notify_failure

    logger = flow_run_logger(flow_run, flow)
    error = first_line(getattr(state, "message", None))
    params = getattr(flow_run, "parameters", None) or {}
    config_path = params.get("config_path") or os.environ.get("RADAR_CONFIG") or None
    try:
        settings = load_settings(config_path)
    except Exception as exc:  # noqa: BLE001 - the hook must not raise over the failure it reports
        logger.error("failure notice not sent: the configuration does not load (%s)", exc)
        return
    if not settings.alerts.webhooks:
        logger.info("failure notice: no [[alerts.webhooks]] configured")
        return
    deployment = None
    if getattr(flow_run, "deployment_id", None):
        deployment = str(flow_run.deployment_id)
    notice = FailureNotice(
        flow=flow.name,
        flow_run_id=str(flow_run.id),
        flow_run_name=str(flow_run.name),
        state=str(getattr(state, "name", "Failed")),
        error=error,
        deployment=deployment,
    )
    for key, verdict in notify_failure(settings, notice):
        logger.info("failure notice to webhook %s: %s", key, verdict)


class _ToRunLogger(logging.Handler):
    def __init__(self, target: logging.LoggerAdapter[Any] | logging.Logger) -> None:
        super().__init__(logging.WARNING)
        self.target = target

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                message += f" ({type(record.exc_info[1]).__name__}: {record.exc_info[1]})"
            self.target.log(record.levelno, "%s: %s", record.name, message)
        except Exception:  # noqa: BLE001 - logging must not break the run
            self.handleError(record)


@contextlib.contextmanager
def forward_to_run_logger(target: logging.LoggerAdapter[Any] | logging.Logger) -> Iterator[None]:
    """While inside, WARNING+ records of the project's loggers also go to `target` (the run logger).

    Worker threads (ingest runs sources concurrently) included: the handler is on the loggers,
    and the run logger carries the flow run id itself.
    """
    handler = _ToRunLogger(target)
    loggers = [logging.getLogger(name) for name in FORWARDED_LOGGERS]
    for one in loggers:
        one.addHandler(handler)
    try:
        yield
    finally:
        for one in loggers:
            one.removeHandler(handler)


@contextlib.contextmanager
def broker_for_run(settings: Settings, target: logging.LoggerAdapter[Any] | logging.Logger) -> Iterator[None]:
    """Start the embedded broker when configured and not running; stop it again if the run fails.

    A broker this run did not start (`radar ops up`'s, another command's) is never touched; after a
    success it keeps running, because it holds the raw topic the next `process` run reads.
    """
    if not settings.kafka.embedded:
        yield
        return
    from infra.broker import EmbeddedBroker, resolve_bootstrap

    _bootstrap, started = resolve_bootstrap(settings)
    if started:
        target.info("started the embedded broker at %s", _bootstrap)
    try:
        yield
    except BaseException:
        if started:
            stopped = EmbeddedBroker(settings.data_dir).stop()
            if stopped is not None:
                target.warning("run failed: stopped the embedded broker it started (pid %s)", stopped.pid)
        raise
