"""The ``augment`` command's entry point: a quick start for plain command lines, and a Ctrl-C
while Python is still importing is a quiet exit, never a traceback.

Most runs are ``augment guest.xml`` or ``augment -o DIR/ *.xml``. For those, building typer's
command costs more than augmenting the guest, so :func:`quick_request` reads the common forms
itself and hands them straight to :mod:`augmenter.cli.files`. Anything it does not recognise with
certainty (``--help``, an unknown or repeated option, ``--``, a bad value) goes to typer, which
owns the whole command line: help, completion and usage errors. A test holds the two parsers
to the same reading of every command line the quick one accepts.

The cyclic garbage collector is off while the modules load (see :func:`main`).

SIGINT is held back while the heavy modules load and let through just before the command runs,
inside the handler that turns it into ``augment: interrupted`` and exit status 130.
"""

from __future__ import annotations

import functools
import gc
import signal
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from .options import BEYOND

if TYPE_CHECKING:
    from .files import Request

# option spelling -> Request field; flags take no value, the others exactly one
FLAGS = {"-i": "in_place", "--in-place": "in_place", "--check": "check", "--strict": "strict",
         "--explain": "explain", "--verify": "verify",
         **{name: s.field for s in BEYOND if s.kind == "flag" for name in s.names}}
VALUED = {"-o": "output", "--output": "output", "--graph": "graph", "--format": "fmt",
          "--boards": "boards", "-j": "jobs", "--jobs": "jobs",
          **{name: s.field for s in BEYOND if s.kind != "flag" for name in s.names}}
# valued options that take a count, and their value when absent (None: not given)
NUMBERS: dict[str, str | None] = {"jobs": "0",
                                  **{s.field: None for s in BEYOND if s.kind == "count"}}


def quick_request(argv: Sequence[str]) -> Request | None:
    """The request a plain command line makes, or None: let typer read it."""
    files: list[str] = []
    given: dict[str, str | bool] = {}
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg == "-" or not arg.startswith("-"):
            files.append(arg)
            continue
        found: str | bool
        name, eq, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name in FLAGS and not eq:
            key, found = FLAGS[name], True
        elif name in VALUED:
            if not eq:
                if not args:
                    return None
                value = args.pop(0)
            key, found = VALUED[name], value
        else:
            return None
        if key in given:
            return None
        given[key] = found
    counts = {key: given.pop(key, absent) for key, absent in NUMBERS.items()}
    if not files or not all(v is None or (isinstance(v, str) and v.isdigit())
                            for v in counts.values()):
        return None
    from .files import Request, UsageError, validate

    numbers = {key: None if value is None else int(str(value))
               for key, value in counts.items()}
    request = Request(files=files, **numbers, **given)  # type: ignore[arg-type]
    try:
        validate(request)
    except UsageError:
        return None  # typer says what is wrong, in its usual form
    return request


def _execute(request: Request) -> None:
    from .files import execute

    sys.exit(execute(request))


def main() -> None:
    # Importing makes tens of thousands of objects and no garbage, so the cyclic collector
    # only wastes time while it runs (about a tenth of a short run). Once the modules are in,
    # they are frozen (kept out of every later collection: they live as long as the process)
    # and the collector is back on for the work itself, so a long batch stays bounded.
    gc.disable()
    held = hasattr(signal, "pthread_sigmask")
    if held:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    request = quick_request(sys.argv[1:])
    command: Callable[[], object]
    if request is not None:
        from .. import pipeline
        from . import files  # noqa: F401

        command = functools.partial(_execute, request)
    else:
        from .. import pipeline  # noqa: F401
        from . import app

        command = app.app
    from .files import guarded

    gc.freeze()
    gc.enable()

    def run() -> None:
        if held:  # a Ctrl-C that came while importing is raised here
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        command()

    guarded(run)
