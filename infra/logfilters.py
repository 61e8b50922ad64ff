"""Log records that are noise in every run of this project, dropped where they are made.

Beam's GCP I/O module logs "apitools not found, and bigquery client libraries are not
available ..." at WARNING on the *root* logger whenever `apache_beam` is imported without the
GCP extras. It concerns Dataflow/BigQuery users only, and an operator reading a Prefect run
log takes it for a problem (issue 14). A filter on the root logger itself (not on a handler)
sees exactly the records made by the root logger, whatever handlers Prefect, pytest or the CLI
install later, so installing it once before Beam is imported is enough.

Beam also logs, at ERROR with a traceback, every exception a DoFn raises before re-raising
it to the pipeline's caller, who reports it: a broker lost under `radar process --once`
showed a traceback above the CLI's one line (issue 10). That duplicate is dropped too.
"""

from __future__ import annotations

import logging

__all__ = ["BEAM_GCP_NOTICE", "drop_beam_gcp_notice", "drop_beam_reraise_log", "install_noise_filters"]

BEAM_GCP_NOTICE = "apitools not found"
BEAM_DOFN_RUNNER_LOGGER = "apache_beam.runners.common"


def drop_beam_gcp_notice(record: logging.LogRecord) -> bool:
    """False for Beam's optional-GCP-clients notice; anything else passes."""
    return not (record.name == "root" and str(record.msg).startswith(BEAM_GCP_NOTICE))


def drop_beam_reraise_log(record: logging.LogRecord) -> bool:
    """False for Beam's ERROR log of an exception a DoFn raised, which Beam re-raises right after.

    `DoFnRunner._reraise_augmented` logs the exception with its traceback, then raises it
    tagged with the step name; whoever runs the pipeline gets it and reports it (the CLI in
    one line, Prefect as the run's failure), so the log is a second, unasked-for traceback.
    """
    return not (isinstance(record.msg, BaseException) and getattr(record.msg, "_tagged_with_step", False))


def install_noise_filters() -> None:
    """Add the filters once (idempotent: the same function is not added twice)."""
    root = logging.getLogger()
    if drop_beam_gcp_notice not in root.filters:
        root.addFilter(drop_beam_gcp_notice)
    # A logger's own filter sees the records it makes, whatever handlers come later.
    beam_runner = logging.getLogger(BEAM_DOFN_RUNNER_LOGGER)
    if drop_beam_reraise_log not in beam_runner.filters:
        beam_runner.addFilter(drop_beam_reraise_log)
