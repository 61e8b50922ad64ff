"""Named crash points, so crash tests hit a chosen phase instead of a random moment.

A test sets `RADAR_CRASH_AT=after-pipeline:3` (several as `a:1,b:2`) in a child's
environment; the 3rd time the processor reaches `after-pipeline` the child writes
`radar-crash-point after-pipeline 3` on stderr and dies:

- `RADAR_CRASH_MODE=exit` (default): `os._exit(137)` on the spot — no `finally`, no
  atexit, no flush of Kafka clients: what a power cut leaves behind.
- `RADAR_CRASH_MODE=pause`: the child stops there and waits; the test reads the line
  on the pipe and sends a real SIGKILL while the process (and its Kafka I/O threads)
  is alive at exactly that phase.
- `RADAR_CRASH_MODE=hold`: the child stops there until a line arrives on its stdin, then
  goes on, alive: the test changes the world at exactly that phase (stops the broker,
  say) and lets the child meet the change, with no timing involved.

Unset, `crash_point` is a dict miss: production never pays for it and can never be
made to crash by it without someone setting the variable.
"""

from __future__ import annotations

import os
import sys
import threading

__all__ = ["CRASH_EXIT_CODE", "PHASES", "REPORT_PREFIX", "CrashPlanError", "crash_point", "parse_plan"]

CRASH_EXIT_CODE = 137  # what a shell reports for SIGKILL: the same code for both modes
REPORT_PREFIX = "radar-crash-point"

# Every point the code calls; a plan naming anything else is a typo that would silently
# never fire, so it is refused.
PHASES: dict[str, str] = {
    "after-state-read": "processor: offsets and cross-batch state read, Beam not started",
    "after-pipeline": "processor: Beam batch written to files, nothing sent or committed",
    "after-dlq-send": "processor: dead letters acknowledged by Kafka, alerts not sent",
    "after-alert-send": "processor: alerts acknowledged by Kafka, DuckDB not committed",
    "commit-after-items": "processor: items upserted inside the open DuckDB transaction",
    "commit-before-end": "processor: offsets written, the DuckDB transaction not yet committed",
    "after-commit": "processor: batch committed, before the next poll",
    "ingest-after-produce": "ingest: a source's envelopes acknowledged, its cursor not committed",
    "webhook-after-post": "webhooks: a receiver answered 2xx, the delivery not yet logged as delivered",
}


class CrashPlanError(ValueError):
    """RADAR_CRASH_AT names an unknown phase or a count that is not a positive integer."""


def parse_plan(text: str) -> dict[str, int]:
    plan: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, count = part.partition(":")
        if name not in PHASES:
            raise CrashPlanError(f"RADAR_CRASH_AT: unknown phase {name!r} (known: {', '.join(PHASES)})")
        if not count.isdigit() or int(count) < 1:
            raise CrashPlanError(f"RADAR_CRASH_AT: {part!r} needs a positive count, e.g. {name}:1")
        plan[name] = int(count)
    return plan


# Read once at import: a plan must not change under a running process.
_PLAN = parse_plan(os.environ.get("RADAR_CRASH_AT", ""))
_MODE = os.environ.get("RADAR_CRASH_MODE", "exit")
_SEEN: dict[str, int] = {}
_LOCK = threading.Lock()


def crash_point(name: str) -> None:
    """Die here if the plan says this is the n-th time `name` is reached."""
    if not _PLAN:
        return
    with _LOCK:
        seen = _SEEN[name] = _SEEN.get(name, 0) + 1
    if _PLAN.get(name) != seen:
        return
    sys.stderr.write(f"{REPORT_PREFIX} {name} {seen}\n")
    sys.stderr.flush()
    if _MODE == "hold":
        sys.stdin.readline()
        return
    if _MODE == "pause":
        # Wait for the test's SIGKILL; an Event never set is a wait without polling.
        threading.Event().wait()
    os._exit(CRASH_EXIT_CODE)
