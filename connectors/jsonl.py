"""Replay a file of raw envelopes (backfill, tests, the demo): one JSON envelope per line.

Each line goes through `schemas.envelope.parse_envelope`, so a replayed envelope is
exactly what a live connector would have produced (its own source and fetch
provenance are kept). Lines that are not JSON, carry an unknown schema/version, or
are not raw posts/pages are dead-lettered with their bytes; the replay goes on.
"""

from __future__ import annotations

import logging

from connectors.base import SourceRun
from connectors.cursors import fingerprint
from schemas.envelope import EnvelopeError, parse_envelope
from schemas.keys import scoped_key
from schemas.raw import RawPage, RawPost

__all__ = ["collect_jsonl", "parse_jsonl_line"]

log = logging.getLogger(__name__)


def parse_jsonl_line(line: bytes) -> RawPost | RawPage:
    """One line -> a raw envelope; raises EnvelopeError with a one-line reason."""
    envelope = parse_envelope(line)
    if not isinstance(envelope, RawPost | RawPage):
        raise EnvelopeError(f"not a raw envelope: {envelope.schema_}/{envelope.version} does not belong on raw")
    return envelope


def collect_jsonl(run: SourceRun) -> None:
    """A `jsonl` source (file:// or http): every line replayed once per content."""
    result = run.fetch_source_if_changed()
    if result is None:
        return
    body = result.body
    lines = body.split(b"\n")
    # A file cut mid-line (no final newline and not valid) is reported as truncated.
    last_unterminated = not body.endswith(b"\n")
    for number, raw_line in enumerate(lines, start=1):
        line = raw_line.strip()
        if not line:
            continue
        try:
            envelope = parse_jsonl_line(line)
        except EnvelopeError as exc:
            reason = f"line {number}: {exc}"
            if last_unterminated and number == len(lines) and "invalid JSON" in str(exc):
                reason = f"line {number}: truncated last line ({exc})"
            run.dead_letter("parse", reason, original=line, url=f"{result.final_url}#L{number}", error=exc)
            continue
        if isinstance(envelope, RawPost) and envelope.social is None and envelope.paper is None:
            # A feed entry captured before keys were scoped (issue 10): scoped as the feed
            # connector scopes it now, under the source the envelope names.
            envelope = envelope.model_copy(update={"key": scoped_key(envelope.source.name, envelope.key)})
        content = fingerprint(line.decode("utf-8", "replace"))
        if run.is_new(envelope.key, content, page=isinstance(envelope, RawPage)):
            run.emit(envelope, content)
    run.remember_validators(result)
