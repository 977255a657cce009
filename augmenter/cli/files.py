"""What the ``augment`` command does with its files, without the command-line framework.

The typer front (:mod:`augmenter.cli.app`) and the quick start path (:mod:`augmenter.cli.launch`)
both build a :class:`Request` and hand it to :func:`execute`. Keeping typer out of this module
lets a plain ``augment guest.xml`` skip importing it (about a fifth of a short run's time).
"""

from __future__ import annotations

import contextlib
import functools
import io
import itertools
import json
import os
import signal
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..checks.findings import Finding
from ..errors import AugmentError
from ..process import sigint
from ..process.workers import available_cpus, ordered_map

if TYPE_CHECKING:
    from ..pipeline import Options, Result

FORMATS = ("text", "json")
BOARD_SOURCES = ("auto", "qemu", "embedded")
RESERVE_HOTPLUG_MAX = 64
NEW_FILE_MODE = 0o600  # a new output: its owner's only (a definition may hold passwords)


class UsageError(Exception):
    """A command line that asks for something impossible (exit status 2)."""


@dataclass(frozen=True)
class Request:
    """One ``augment`` command line, parsed: the files and what to do with them."""

    files: list[str]
    output: str | None = None
    in_place: bool = False
    check: bool = False
    explain: bool = False
    graph: str | None = None
    verify: bool = False
    fmt: str = "text"
    strict: bool = False
    boards: str = "auto"
    reserve_hotplug: int = 0
    jobs: int = 0  # worker processes for a batch; 0: one per available CPU
    quiet: bool = False  # errors only: no warnings
    connect: str | None = None  # --verify's libvirt URI


# How each option is spelt, for usage errors that name them.
SPELLING = {"output": "--output", "in_place": "--in-place", "check": "--check",
            "explain": "--explain", "graph": "--graph", "verify": "--verify",
            "connect": "--connect"}
# Options that each say what to do with the result (or where it goes): no two of a pair can
# share one run, since each would leave the other's work undone. --explain and --graph go
# together: one prints, the other draws.
EXCLUSIVE = (
    ("in_place", "output"), ("check", "output"), ("check", "in_place"), ("check", "explain"),
    ("check", "graph"), ("check", "verify"), ("verify", "output"), ("verify", "in_place"),
    ("verify", "explain"), ("verify", "graph"), ("explain", "output"), ("explain", "in_place"),
    ("graph", "output"), ("graph", "in_place"),
)
# Options that only mean something beside another.
NEEDS = (("connect", "verify"),)


def with_stdin(req: Request, stdin_is_terminal: bool) -> Request:
    """No file named: standard input, when something is piped in (``augment < in.xml``).
    From a terminal that would wait for typing, so it is a usage error instead."""
    if req.files:
        return req
    if stdin_is_terminal:
        raise UsageError("no input: name a domain XML file, or pipe one in ('-' reads "
                         "standard input)")
    return replace(req, files=["-"])


def version_text() -> str:
    """``augment --version``: the package, and the board table it falls back to."""
    import json as json_

    from .. import __version__

    table = Path(__file__).resolve().parent.parent / "data" / "boards.json"
    try:
        doc = json_.loads(table.read_text(encoding="utf-8"))
        emulators = doc["emulators"]
        qemu = sorted({str(e["version"]) for e in emulators.values()})
        package = sorted({str(e.get("package", "")) for e in emulators.values()} - {""})
        boards = (f"board table format {doc['format']}, QEMU {', '.join(qemu)}"
                  + (f" ({', '.join(package)})" if package else ""))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        boards = f"board table unreadable: {exc}"
    return f"augment {__version__} ({boards})"


def validate(req: Request) -> None:
    """Refuse option combinations that make no sense, before any file is touched."""
    given = {name for name in SPELLING if getattr(req, name)}
    for one, other in EXCLUSIVE:
        if one in given and other in given:
            raise UsageError(f"{SPELLING[one]} and {SPELLING[other]} cannot be used together")
    for one, needed in NEEDS:
        if one in given and needed not in given:
            raise UsageError(f"{SPELLING[one]} only works with {SPELLING[needed]}")
    if req.fmt not in FORMATS:
        raise UsageError("--format must be 'text' or 'json'")
    if req.boards not in BOARD_SOURCES:
        raise UsageError("--boards must be auto, qemu or embedded")
    if req.jobs < 0:
        raise UsageError("--jobs must be 0 (one per CPU) or more")
    if not 0 <= req.reserve_hotplug <= RESERVE_HOTPLUG_MAX:
        raise UsageError(f"--reserve-hotplug must be between 0 and {RESERVE_HOTPLUG_MAX}")
    if req.in_place and "-" in req.files:
        raise UsageError("--in-place cannot rewrite stdin")
    if req.graph and len(req.files) != 1 and not (req.check or req.verify):
        raise UsageError("--graph takes exactly one input file")
    plain = not (req.check or req.verify or req.explain or req.graph)
    out_dir = _out_dir(req)
    if plain and out_dir is not None:
        if not out_dir.is_dir():
            raise UsageError(f"with several inputs, -o must be an existing folder: {req.output}")
        if "-" in req.files:
            raise UsageError("standard input has no name to write into a folder; "
                             "augment it on its own with -o FILE")


def execute(req: Request) -> int:
    """Run a validated request; the exit status (0 done, 1 bad input, 2 unreadable)."""
    from ..pipeline import Options

    options = Options(boards=req.boards, reserve_hotplug=req.reserve_hotplug,
                      warn=_silent if req.quiet else None)
    # stdin can be read once, by one process: a batch that reads it stays in this one
    jobs = 1 if "-" in req.files else req.jobs or available_cpus()
    if req.check:
        return _check_files(req.files, req.fmt, req.strict, options, jobs, req.quiet)
    if req.verify:
        return _verify_files(req.files, req.connect)
    if req.explain or req.graph:
        return _show_files(req.files, req.fmt, req.explain, req.graph, options, req.quiet)
    output = None if req.output == "-" else req.output
    return _augment_files(req.files, output, _out_dir(req), req.in_place, options, jobs,
                          req.quiet)


def _silent(message: str) -> None:
    """``--quiet``'s warning sink."""


def guarded(run: Callable[[], object]) -> None:
    """Run the command; a Ctrl-C or a closed pipe ends it quietly with the usual status."""
    try:
        run()
    except KeyboardInterrupt:
        sys.stderr.write("augment: interrupted\n")
        sys.exit(130)
    except BrokenPipeError:
        # the reader went away (augment ... | head): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    finally:
        # The work is over, done or abandoned: a Ctrl-C while Python shuts down has nothing
        # left to stop, and would only print a traceback from the interpreter's exit code.
        with contextlib.suppress(ValueError):  # only the main thread may set handlers
            signal.signal(signal.SIGINT, signal.SIG_IGN)


def _out_dir(req: Request) -> Path | None:
    """Where each output goes by its input's name: ``-o`` names a folder for several inputs,
    or an existing folder for one (as ``cp`` does). ``-o -`` is standard output."""
    if not req.output or req.output == "-":
        return None
    if len(req.files) > 1 or os.path.isdir(req.output):
        return Path(req.output)
    return None


# ---- reading and reporting --------------------------------------------------------------------


def with_column(f: Finding, lines: list[bytes]) -> Finding:
    """Point at the first element on the finding's line (lxml keeps lines, not columns)."""
    if not f.line or f.line > len(lines):
        return f
    text = lines[f.line - 1].decode("utf-8", "replace")
    at = text.find("<address")
    if at < 0:
        at = text.find("<")
    return Finding(f.code, f.severity, f.message, f.line, at + 1 if at >= 0 else None,
                   f.device, f.hint)


def _print_findings(label: str, data: bytes, findings: list[Finding], fmt: str,
                    sink: list[dict[str, object]], quiet: bool = False) -> None:
    """Every finding, one line each as ``FILE:LINE:COL: severity: message (hint: ...)``, or
    as records for ``--format json``: the one way a problem is reported, whichever command
    found it. The document is split into lines once, however many findings there are."""
    shown = [f for f in findings if not (quiet and f.severity != "error")]
    if not shown:
        return
    lines = data.split(b"\n") if any(f.line for f in shown) else []
    for f in shown:
        f = with_column(f, lines)
        if fmt == "json":
            sink.append({"file": label, **f.as_dict()})
        else:
            sys.stderr.write(f.render(label) + "\n")


def read_input(name: str) -> bytes:
    """The input, read up to one byte past the size limit (``/dev/zero`` ends too)."""
    from ..xml.document import MAX_BYTES

    if name == "-":
        return sys.stdin.buffer.read(MAX_BYTES + 1)
    with open(name, "rb") as fh:
        return fh.read(MAX_BYTES + 1)


def _read_or_report(name: str, label: str) -> bytes | None:
    try:
        return read_input(name)
    except OSError as exc:
        sys.stderr.write(f"{label}: error: cannot read: {exc.strerror or exc}\n")
        return None


# ---- writing ----------------------------------------------------------------------------------


class Staged:
    """Files written next to their targets and renamed over them together, after one sync.

    Each file is written to a temporary name in the target's folder and renamed only once its
    bytes are on disk, so a crash leaves either the old file or the new one, never a torn one.
    For one file that costs an fsync; for a batch (``-o DIR/``, ``--in-place`` on many files),
    one ``sync`` covers every temporary file, which is several times cheaper than an fsync
    each. Whatever was not committed (an error, a Ctrl-C) is removed.
    """

    def __init__(self) -> None:
        self._pending: list[tuple[str, Path]] = []

    def add(self, path: Path, data: bytes) -> None:
        # a symlink stays; the file it names is replaced
        target = Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)
        with sigint.held():  # a Ctrl-C between the two would leave the file behind
            fd, tmp = _create_beside(target)
            self._pending.append((tmp, target))
        with os.fdopen(fd, "wb") as fh:
            try:
                st: os.stat_result | None = os.stat(target)
            except FileNotFoundError:
                st = None
            if st is not None:  # keep the mode and, where we may set it, the owner
                new = os.fstat(fh.fileno())  # set only what differs: each is a journal write
                if new.st_mode & 0o7777 != st.st_mode & 0o7777:
                    os.fchmod(fh.fileno(), st.st_mode & 0o7777)
                if (new.st_uid, new.st_gid) != (st.st_uid, st.st_gid):
                    with contextlib.suppress(PermissionError):  # not ours to give away
                        os.fchown(fh.fileno(), st.st_uid, st.st_gid)
            fh.write(data)

    def commit(self) -> None:
        """Rename every staged file over its target, once its bytes are on disk."""
        if len(self._pending) == 1:
            fd = os.open(self._pending[0][0], os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        elif self._pending:
            os.sync()
        folders: set[Path] = set()
        done = 0
        try:
            for tmp, path in self._pending:  # in order: of two outputs to one name, the last wins
                os.replace(tmp, path)
                done += 1
                folders.add(path.parent)
        finally:
            del self._pending[:done]
        for folder in folders:  # the renames themselves, on disk
            with contextlib.suppress(OSError):
                fd = os.open(folder, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)

    def discard(self) -> None:
        for tmp, _ in self._pending:
            Path(tmp).unlink(missing_ok=True)
        self._pending.clear()


_serial = itertools.count()


def _create_beside(target: Path) -> tuple[int, str]:
    """A new, empty temporary file in ``target``'s folder: (descriptor, path).

    The name is the target's with this process's id and a serial number, created exclusively
    (``O_EXCL`` neither reuses nor follows anything already there); a name that is taken falls
    back to :func:`tempfile.mkstemp`. A new output is readable by its owner only (``0600``,
    as ``mkstemp`` makes it): a domain definition may hold passwords (VNC, SPICE, iSCSI).
    """
    tmp = target.with_name(f".{target.name}.{os.getpid()}-{next(_serial)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    try:
        return os.open(tmp, flags, NEW_FILE_MODE), str(tmp)
    except FileExistsError:
        return tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)


@contextlib.contextmanager
def staged() -> Iterator[Staged]:
    """A :class:`Staged` set whose uncommitted files are removed however the block ends."""
    files = Staged()
    try:
        yield files
    finally:
        files.discard()


def write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, then rename: never a half-written file."""
    with staged() as files:
        files.add(path, data)
        files.commit()


# ---- the modes --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Done:
    """One input's outcome as data (what to print, what to write, its exit status), so that
    it can be made in a worker process and reported here in input order."""

    messages: str  # for stderr, as a one-process run prints them
    status: int
    output: bytes | None = None  # the augmented document
    records: tuple[dict[str, object], ...] = ()  # findings for --format json


def _augmented(name: str, options: Options, quiet: bool = False) -> Done:
    """Augment one input, its messages captured rather than printed."""
    with contextlib.redirect_stderr(io.StringIO()) as messages:
        label, data, outcome, failed = augment_one(name, options, quiet)
        output = None
        if outcome is not None:
            output = outcome.to_bytes()
            _print_findings(label, data, outcome.findings, "text", [], quiet)
    return Done(messages.getvalue(), failed, output)


def _augment_files(files: list[str], output: str | None, out_dir: Path | None, in_place: bool,
                   options: Options, jobs: int, quiet: bool = False) -> int:
    status = 0
    work = functools.partial(_augmented, options=options, quiet=quiet)
    with staged() as outputs, contextlib.closing(ordered_map(work, files, jobs)) as results:
        for name, done in zip(files, results, strict=True):
            sys.stderr.write(done.messages)
            status = max(status, done.status)
            if done.output is None:
                continue
            try:
                if in_place:
                    outputs.add(Path(name), done.output)
                elif out_dir is not None:
                    outputs.add(out_dir / Path(name).name, done.output)
                elif output:
                    outputs.add(Path(output), done.output)
                else:
                    sys.stdout.buffer.write(done.output)
                    sys.stdout.flush()
            except OSError as exc:
                target = name if in_place else (
                    str(out_dir / Path(name).name) if out_dir is not None
                    else output or "<stdout>")
                unchanged = " (no output file was changed)" if len(files) > 1 else ""
                sys.stderr.write(f"{target}: error: cannot write: {exc.strerror or exc}"
                                 f"{unchanged}\n")
                return 1
        try:
            outputs.commit()
        except OSError as exc:
            target = exc.filename2 or exc.filename or "augment"
            sys.stderr.write(f"{target}: error: cannot write: {exc.strerror or exc}\n")
            return 1
    return status


def augment_one(name: str, options: Options,
                quiet: bool = False) -> tuple[str, bytes, Result | None, int]:
    """Read and augment one input: (label, bytes, result or None, exit status so far).

    Problems are reported on stderr here, once for every mode that augments, exactly as
    ``--check`` reports them.
    """
    from ..pipeline import attempt

    label = "<stdin>" if name == "-" else name
    data = _read_or_report(name, label)
    if data is None:
        return label, b"", None, 2
    outcome, findings = attempt(data, options)
    if outcome is None:
        _print_findings(label, data, findings, "text", [], quiet)
        return label, data, None, 1
    return label, data, outcome, 0


def _checked(name: str, fmt: str, strict: bool, options: Options, quiet: bool = False) -> Done:
    """Check one input: its findings as text or records, and its exit status."""
    from ..pipeline import check as check_document

    label = "<stdin>" if name == "-" else name
    sink: list[dict[str, object]] = []
    with contextlib.redirect_stderr(io.StringIO()) as messages:
        data = _read_or_report(name, label)
        if data is None:
            return Done(messages.getvalue(), 2)
        findings = check_document(data, options)
        _print_findings(label, data, findings, fmt, sink, quiet)
    failed = any(f.severity == "error" for f in findings) or (strict and bool(findings))
    return Done(messages.getvalue(), int(failed), records=tuple(sink))


def _check_files(files: list[str], fmt: str, strict: bool, options: Options, jobs: int,
                 quiet: bool = False) -> int:
    """``--check``: every finding of every file; 0 clean, 1 errors, 2 unreadable."""
    status = 0
    sink: list[dict[str, object]] = []
    work = functools.partial(_checked, fmt=fmt, strict=strict, options=options, quiet=quiet)
    with contextlib.closing(ordered_map(work, files, jobs)) as results:
        for done in results:
            sys.stderr.write(done.messages)
            sink.extend(done.records)
            status = max(status, done.status)
    if fmt == "json":
        sys.stdout.write(json.dumps(sink, indent=1) + "\n")
    return status


def _show_files(files: list[str], fmt: str, explain: bool, graph: str | None,
                options: Options, quiet: bool = False) -> int:
    """``--explain`` and ``--graph``: the topology as a tree, data or picture."""
    status = 0
    sink: list[dict[str, object]] = []
    for name in files:
        label, _, outcome, failed = augment_one(name, options, quiet)
        status = max(status, failed)
        if outcome is None:
            continue
        if explain:
            from ..reports.explain import explain_data, explain_tree

            if fmt == "json":
                sink.append({"file": label, **explain_data(outcome)})
            else:
                from .console import console

                console().print(explain_tree(outcome))
        if graph:
            from ..reports.graph import GraphError, render

            try:
                render(outcome, graph)
            except GraphError as exc:
                sys.stderr.write(f"augment: error: {exc}\n")
                status = max(status, 1)
    if explain and fmt == "json":
        sys.stdout.write(json.dumps(sink, indent=1) + "\n")
    return status


def _verify_files(files: list[str], uri: str | None) -> int:
    """``--verify``: start each guest paused in the local libvirt and compare with QEMU."""
    from .verify import VerifyError, default_uri, verify

    status = 0
    for name in files:
        try:
            report = verify(name, uri=uri or default_uri())
        except (VerifyError, AugmentError, OSError) as exc:
            sys.stderr.write(f"{name}: error: {exc}\n")
            status = max(status, 1)
            continue
        sys.stdout.write(report.render())
        if not report.ok:
            status = max(status, 1)
    return status
