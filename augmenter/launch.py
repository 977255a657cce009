"""The ``augment`` command's entry point: a Ctrl-C while Python is still importing is a quiet
exit, never a traceback.

SIGINT is held back while the heavy modules load and let through just before the command runs,
inside the handler that turns it into ``augment: interrupted`` and exit status 130.
"""

from __future__ import annotations

import signal
import sys


def main() -> None:
    held = hasattr(signal, "pthread_sigmask")
    if held:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    from . import cli, pipeline  # noqa: F401  (the imports that take the time)

    try:
        if held:  # a Ctrl-C that came while importing is raised here
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        cli.main()
    except KeyboardInterrupt:
        sys.stderr.write("augment: interrupted\n")
        sys.exit(130)
