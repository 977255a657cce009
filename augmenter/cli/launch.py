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

if TYPE_CHECKING:
    from .files import Request

def quick_request(argv: Sequence[str], stdin_is_terminal: bool | None = None) -> Request | None:
    """The request a plain command line makes, or None: let typer read it.

    The options come from :mod:`augmenter.cli.quick_options`, a table generated from typer's
    own command, so the two readings agree (a test holds them to it over random command
    lines); anything the table does not cover with certainty goes to typer."""
    from .quick_options import OPTIONS

    files: list[str] = []
    given: dict[str, str | bool | int | float] = {}
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg == "-" or not arg.startswith("-"):
            files.append(arg)
            continue
        name, eq, value = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name not in OPTIONS:
            return None
        key, kind = OPTIONS[name]
        found: str | bool | int | float
        if kind == "flag":
            if eq:
                return None
            found = True
        else:
            if not eq:
                if not args:
                    return None
                value = args.pop(0)
            if kind == "count":
                if not (value.isascii() and value.isdigit()):
                    return None
                found = int(value)
            elif kind == "number":
                seconds = _number(value)
                if seconds is None:
                    return None
                found = seconds
            else:
                found = value
        if key in given:
            return None
        given[key] = found
    from .files import Request, UsageError, validate, with_stdin

    request = Request(files=files, **given)  # type: ignore[arg-type]
    try:
        terminal = sys.stdin.isatty() if stdin_is_terminal is None else stdin_is_terminal
        request = with_stdin(request, terminal)
        validate(request)
    except UsageError:
        return None  # typer says what is wrong, in its usual form
    return request


def _number(text: str) -> float | None:
    """A decimal number as typer reads a float option (``float()``), or None: typer then
    says what is wrong."""
    try:
        return float(text)
    except ValueError:
        return None


def _execute(request: Request) -> None:
    from .files import execute

    sys.exit(execute(request))


def main() -> None:
    # Importing makes tens of thousands of objects and no garbage, so the cyclic collector
    # only wastes time while it runs (about a tenth of a short run). Once the modules are in,
    # they are frozen (kept out of every later collection: they live as long as the process)
    # and the collector is back on for the work itself, so a long batch stays bounded.
    gc.disable()
    from .guard import standard_streams

    standard_streams()  # before anything is opened: nothing may become standard output
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
    from .guard import guarded

    gc.freeze()
    # A large definition holds hundreds of thousands of live objects (an element, a record, an
    # address each per device) and makes little garbage: at the default threshold (700) the
    # young generations are collected thousands of times over them, a tenth of the run
    # (bench/HOSTILE.md). A young collection every 50,000 allocations costs nothing measurable
    # on a small run and keeps a long batch bounded (the old generation still runs).
    gc.set_threshold(50_000, 20, 10)
    gc.enable()

    def run() -> None:
        if held:  # a Ctrl-C that came while importing is raised here
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        command()

    guarded(run)
