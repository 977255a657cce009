"""Holding Ctrl-C back for a few steps that must not be cut in two.

Python raises KeyboardInterrupt between any two bytecodes, so without this a Ctrl-C can land
just after a temporary file is created and before it is recorded for removal (it would be left
behind), or just after a fork, in the child, before the child has taken its own handler (it
would run the parent's clean-up). A SIGINT that arrives meanwhile waits and is delivered, as
usual, when the block ends.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

Mask = set[int | signal.Signals]  # a thread's blocked signals, as pthread_sigmask gives them


@contextlib.contextmanager
def held() -> Iterator[Mask]:
    """SIGINT blocked inside the block; yields the mask the thread had before."""
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield mask
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
