"""How a command ends: with a status and at most one line, whatever happened to its streams.

A filter meets closed and full streams (``augment g.xml >&-``, ``augment - <&-``,
``--explain >/dev/full``): each is one line on stderr and a status, never a traceback
(issue 18, item 2). Both commands run inside :func:`guarded`:

* :func:`standard_streams` first makes sure descriptors 0, 1 and 2 are open (on ``/dev/null``
  when they were closed), so that no file augmenter opens later can become its standard
  output, and a closed standard output or input fails on first use as an ordinary
  ``OSError``;
* an ``OSError`` nobody else caught is a standard stream failing (every file augmenter opens
  reports its own errors, naming the file): one line, status 1; standard output is then
  pointed at ``/dev/null`` so that Python's own flush at exit has nothing left to fail on;
* output is flushed before the status is returned, so that a full disk is noticed here and
  not by the interpreter's exit code;
* Ctrl-C, SIGTERM and SIGHUP end the command with ``PROGRAM: interrupted`` (or
  ``terminated``) and 128 + the signal's number, after every ``finally`` has removed the
  temporary files it owns (issue 18, item 15).
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import signal
import sys
from collections.abc import Callable
from typing import NoReturn, TextIO, cast

from ..errors import printable

CAUGHT_SIGNALS = (signal.SIGTERM, signal.SIGHUP)  # SIGINT is Python's KeyboardInterrupt


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived: unwind (running every ``finally``) and exit."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _terminate(signum: int, _frame: object) -> NoReturn:
    raise Terminated(signum)


class ClosedStream:
    """Standard input or output that was closed when the command started: using it fails
    (as text and as bytes: it is its own ``buffer``); flushing it has nothing to do."""

    encoding = "utf-8"
    errors = "strict"

    def __init__(self, name: str) -> None:
        self.name = name
        self.buffer = self

    def _fail(self) -> NoReturn:
        raise OSError(errno.EBADF, f"{self.name} is closed")

    def write(self, data: object) -> int:
        self._fail()

    def read(self, size: int = -1) -> bytes:
        self._fail()

    def fileno(self) -> int:
        raise io.UnsupportedOperation("fileno")

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def standard_streams() -> None:
    """Open ``/dev/null`` on whichever of descriptors 0, 1 and 2 is closed; a closed standard
    input or output then fails when used, a closed standard error swallows what is said."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
            if fd == 0:
                sys.stdin = cast(TextIO, ClosedStream("standard input"))
            elif fd == 1:
                sys.stdout = cast(TextIO, ClosedStream("standard output"))
            else:
                sys.stderr = open(fd, "w", encoding="utf-8", errors="replace",  # noqa: SIM115
                                  closefd=False)
    if sys.stderr is None:  # Python found nothing on 2 at start-up
        sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115


def abandon_stdout() -> None:
    """Standard output failed: point it at ``/dev/null``, so that what is still buffered
    cannot fail again (and print a traceback) when Python flushes it at exit."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)


def guarded(run: Callable[[], object], program: str = "augment") -> None:
    """Run a command; every way it can end is a status and at most one line (see above)."""
    for signum in CAUGHT_SIGNALS:
        with contextlib.suppress(ValueError, OSError):  # only the main thread may set them
            signal.signal(signum, _terminate)
    status: int | str | None = 0
    try:
        try:
            run()
        finally:
            _flush()
    except SystemExit as done:
        status = done.code
    except KeyboardInterrupt:
        _say(f"{program}: interrupted")
        status = 128 + signal.SIGINT
    except Terminated as why:
        _say(f"{program}: terminated")
        status = 128 + why.signum
    except BrokenPipeError:
        # the reader went away (augment ... | head): not an error of ours
        abandon_stdout()
        status = 1
    except OSError as exc:
        abandon_stdout()
        _say(f"{program}: error: cannot write to standard output: {exc.strerror or exc}")
        status = 1
    finally:
        # The work is over, done or abandoned: a signal while Python shuts down has nothing
        # left to stop, and would only print a traceback from the interpreter's exit code.
        for signum in (signal.SIGINT, *CAUGHT_SIGNALS):
            with contextlib.suppress(ValueError, OSError):
                signal.signal(signum, signal.SIG_IGN)
    sys.exit(status)


def _flush() -> None:
    """Write out what standard output still buffers (a full disk shows up here); standard
    error has nobody left to tell."""
    sys.stdout.flush()
    with contextlib.suppress(OSError, ValueError, AttributeError):
        sys.stderr.flush()


def _say(line: str) -> None:
    with contextlib.suppress(OSError, ValueError, AttributeError):
        sys.stderr.write(printable(line) + "\n")
        sys.stderr.flush()
