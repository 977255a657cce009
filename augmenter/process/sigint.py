"""Holding Ctrl-C (and SIGTERM, SIGHUP) back for a few steps that must not be cut in two.

Python raises KeyboardInterrupt between any two bytecodes, and the command turns SIGTERM and
SIGHUP into an exception too (:mod:`augmenter.cli.guard`), so without this a signal can land
just after a temporary file is created and before it is recorded for removal (it would be left
behind), or just after a fork, in the child, before the child has taken its own handlers (it
would run the parent's clean-up). A signal that arrives meanwhile waits and is delivered, as
usual, when the block ends.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

Mask = set[int | signal.Signals]  # a thread's blocked signals, as pthread_sigmask gives them


HELD = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP})


@contextlib.contextmanager
def held() -> Iterator[Mask]:
    """The signals of :data:`HELD` blocked inside the block; yields the mask the thread had
    before."""
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, HELD)
    try:
        yield mask
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
