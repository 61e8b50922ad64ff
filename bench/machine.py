"""How fast this shared, virtual machine is running right now, for benchmarks to print beside their
figures: its speed drifts by a third between minutes, more than most changes under measurement."""

from __future__ import annotations

import time

__all__ = ["reference_loop_s"]


def reference_loop_s() -> float:
    """Seconds a fixed pure-Python loop takes here now (0.16-0.37 s seen on these machines): figures
    measured at similar reference times compare; others say as much about the host as the code."""
    started = time.perf_counter()
    total = 0
    for i in range(3_000_000):
        total += i * i
    return time.perf_counter() - started
