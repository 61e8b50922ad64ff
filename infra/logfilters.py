"""Log records that are noise in every run of this project, dropped where they are made.

Beam's GCP I/O module logs "apitools not found, and bigquery client libraries are not
available ..." at WARNING on the *root* logger whenever `apache_beam` is imported without the
GCP extras. It concerns Dataflow/BigQuery users only, and an operator reading a Prefect run
log takes it for a problem (issue 14). A filter on the root logger itself (not on a handler)
sees exactly the records made by the root logger, whatever handlers Prefect, pytest or the CLI
install later, so installing it once before Beam is imported is enough.
"""

from __future__ import annotations

import logging

__all__ = ["BEAM_GCP_NOTICE", "drop_beam_gcp_notice", "install_noise_filters"]

BEAM_GCP_NOTICE = "apitools not found"


def drop_beam_gcp_notice(record: logging.LogRecord) -> bool:
    """False for Beam's optional-GCP-clients notice; anything else passes."""
    return not (record.name == "root" and str(record.msg).startswith(BEAM_GCP_NOTICE))


def install_noise_filters() -> None:
    """Add the filters to the root logger once (idempotent: the same function is not added twice)."""
    root = logging.getLogger()
    if drop_beam_gcp_notice not in root.filters:
        root.addFilter(drop_beam_gcp_notice)
