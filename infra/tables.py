"""Printing rich tables so that piped output (logs, CI, Prefect) keeps every cell whole."""

from __future__ import annotations

from rich.console import Console, RenderableType
from rich.measure import Measurement

__all__ = ["print_wide"]

# Not a terminal: rich assumes 80 columns and squeezes tables into them, cutting source names
# to "openai-n…". A log line has no width, so such output gets the table's natural width,
# capped only so that one pathological cell cannot make a megabyte-wide line.
_MAX_PIPE_WIDTH = 1000


def print_wide(console: Console, renderable: RenderableType) -> None:
    """Print at the terminal's width on a terminal, at the content's natural width otherwise."""
    if console.is_terminal:
        console.print(renderable)
        return
    natural = Measurement.get(console, console.options.update_width(_MAX_PIPE_WIDTH), renderable).maximum
    # print(width=...) cannot exceed the console's width, so a console of that width does it.
    wide = Console(
        file=console.file,
        width=max(console.width, min(natural, _MAX_PIPE_WIDTH)),
        highlight=False,
        color_system=console.color_system,
        force_terminal=False,
    )
    wide.print(renderable)
