"""Terminal output as a filter should make it: plain text to pipes and files.

rich wraps at 80 columns and may colour whatever it prints; a pipe or a file then gets lines
cut mid-word and escape codes. Off a terminal these consoles never wrap (one line stays one
line) and never colour; ``NO_COLOR`` (https://no-color.org) turns colour off everywhere.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

# Wide enough that no line of a tree or table is ever folded.
UNWRAPPED = 1 << 16


def console(stderr: bool = False) -> Console:
    """A rich console for stdout (or stderr) that wraps and colours only on a terminal."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    terminal = stream.isatty()
    no_color = bool(os.environ.get("NO_COLOR"))
    return Console(
        file=stream,
        stderr=stderr,
        width=None if terminal else UNWRAPPED,
        no_color=no_color or not terminal,
        color_system="auto" if terminal and not no_color else None,
        highlight=terminal and not no_color,
        soft_wrap=not terminal,
    )
