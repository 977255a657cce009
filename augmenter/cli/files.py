"""What the ``augment`` command does with its files, without the command-line framework.

The typer front (:mod:`augmenter.cli.app`) and the quick start path (:mod:`augmenter.cli.launch`)
both build a :class:`Request` and hand it to :func:`execute`. Keeping typer out of this module
lets a plain ``augment guest.xml`` skip importing it (about a fifth of a short run's time).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import io
import json
import math
import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..checks.findings import BLOCK, Finding, json_report, make, render_lines
from ..errors import AugmentError, printable
from ..process.workers import available_cpus, ordered_map
from .guard import abandon_stdout
from .inputs import read_input
from .outputs import Target, staged, target_for, write_atomically

if TYPE_CHECKING:
    from ..pipeline import Options, Result

FORMATS = ("text", "json")
BOARD_SOURCES = ("auto", "qemu", "embedded")
CONVERT_TARGETS = ("q35", "pc")  # --convert-to (docs/placement.md §24)
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
    schema: bool = False
    boards: str = "auto"
    reserve_hotplug: int | None = None  # exactly this many free ports (placement.md §21)
    jobs: int = 0  # worker processes for a batch; 0: one per available CPU
    timeout: float | None = None  # seconds each QEMU gets to describe a board (None: 5)
    quiet: bool = False  # errors only: no warnings
    connect: str | None = None  # --verify's libvirt URI
    force: bool = False  # rewrite a read-only file (-o, --in-place)
    allow_emulator: tuple[str, ...] = ()  # emulators a domain may have run (boards.trust)
    # beyond libvirt (docs/placement.md §21-§24)
    lock_occupied: bool = False
    convert_to: str | None = None
    group_host_functions: bool = False
    numa_aware: bool = False
    host_numa: str | None = None


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
    if req.timeout is not None and not (math.isfinite(req.timeout) and req.timeout > 0):
        raise UsageError("--timeout must be a positive number of seconds")
    if req.reserve_hotplug is not None and req.reserve_hotplug < 0:
        raise UsageError("--reserve-hotplug must be 0 or more")
    if req.convert_to is not None and req.convert_to not in CONVERT_TARGETS:
        raise UsageError(f"--convert-to must be {' or '.join(CONVERT_TARGETS)}")
    if req.host_numa is not None:
        from ..placement.hostaware import parse_host_numa

        try:
            parse_host_numa(req.host_numa)
        except ValueError as exc:
            raise UsageError(f"--host-numa: {exc}") from None
    if req.schema and not req.check:
        raise UsageError("--schema works with --check")
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
    if plain and (out_dir is not None or req.in_place):
        _refuse_duplicates(req.files, out_dir)


def _refuse_duplicates(files: list[str], out_dir: Path | None) -> None:
    """Two inputs that would write one output (``a/g.xml b/g.xml -o out/``; one file named
    twice, or by two of its hard links, for ``--in-place``): the second would silently replace
    the first, so the command line is refused (issue 18)."""
    seen: dict[object, str] = {}
    for name in files:
        key: object
        if out_dir is not None:
            key = Path(name).name
        else:
            try:
                st = os.stat(name)
                key = (st.st_dev, st.st_ino)
            except OSError:
                key = os.path.realpath(name)
        first = seen.get(key)
        if first == name:
            raise UsageError(f"{name} is named twice")
        if first is not None:
            where = out_dir / Path(name).name if out_dir is not None else first
            raise UsageError(f"{first} and {name} would both be written to {where}")
        seen[key] = name


def execute(req: Request) -> int:
    """Run a validated request; the exit status (0 done, 1 bad input, 2 unreadable)."""
    from ..pipeline import Options

    options = Options(boards=req.boards, reserve_hotplug=req.reserve_hotplug,
                      warn=_silent if req.quiet else None, schema=req.schema,
                      timeout=req.timeout, allow_emulators=tuple(req.allow_emulator),
                      lock_occupied=req.lock_occupied, convert_to=req.convert_to,
                      group_host_functions=req.group_host_functions,
                      numa_aware=req.numa_aware, host_numa=req.host_numa)
    if req.schema:  # compiled here, once: the workers of a batch inherit it
        from ..checks.schema import SchemaUnavailable, relaxng

        try:
            relaxng()
        except SchemaUnavailable as exc:
            say(f"augment: error: {exc.message}")
            return 2
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
                          req.quiet, req.force, req.fmt)


def _silent(message: str) -> None:
    """``--quiet``'s warning sink."""


def _out_dir(req: Request) -> Path | None:
    """Where each output goes by its input's name: ``-o`` names a folder for several inputs,
    or an existing folder for one (as ``cp`` does). ``-o -`` is standard output."""
    if not req.output or req.output == "-":
        return None
    if len(req.files) > 1 or os.path.isdir(req.output):
        return Path(req.output)
    return None


# ---- reading and reporting --------------------------------------------------------------------


def say(line: str) -> None:
    """One line on stderr, its control characters escaped (a file name or a value could hold
    a line feed that forges a second message, or a terminal's escape codes)."""
    sys.stderr.write(printable(line) + "\n")


def with_columns(findings: list[Finding], data: bytes) -> list[Finding]:
    """Each finding pointed at the first element on its line (lxml keeps lines, not columns).
    The document is split into lines once, however many findings there are; a line is
    searched as bytes and only what comes before the element is decoded."""
    if not any(f.line for f in findings):
        return findings
    lines = data.split(b"\n")
    count = len(lines)
    out = []
    for f in findings:
        line = f.line
        if not line or line > count:
            out.append(f)
            continue
        raw = lines[line - 1]
        at = raw.find(b"<address")
        if at < 0:
            at = raw.find(b"<")
        column = None
        if at >= 0:
            column = at + 1 if raw.isascii() else len(raw[:at].decode("utf-8", "replace")) + 1
        out.append(make(f.code, f.severity, f.message, line, column, f.device, f.hint))
    return out


Records = list[tuple[str, list[Finding]]]  # --format json's findings: (file, its findings)


def _print_findings(label: str, data: bytes, findings: list[Finding], fmt: str,
                    sink: Records, quiet: bool = False) -> None:
    """Every finding, one line each as ``FILE:LINE:COL: severity: message (hint: ...)``, or
    kept for ``--format json``'s records: the one way a problem is reported, whichever command
    found it. Text goes out a block of lines at a time."""
    shown = [f for f in findings if f.severity == "error"] if quiet else findings
    if not shown:
        return
    shown = with_columns(shown, data)
    if fmt == "json":
        sink.append((label, shown))
        return
    for i in range(0, len(shown), BLOCK):
        sys.stderr.write(render_lines(label, shown[i:i + BLOCK]))


def _read_or_report(name: str, label: str) -> bytes | None:
    try:
        from ..xml.document import MAX_BYTES

        return read_input(name, MAX_BYTES + 1)
    except OSError as exc:
        say(f"{label}: error: cannot read: {exc.strerror or exc}")
        return None


# ---- the modes --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Done:
    """One input's outcome as data (what to print, what to write, its exit status), so that
    it can be made in a worker process and reported here in input order."""

    messages: str  # for stderr, as a one-process run prints them
    status: int
    output: bytes | None = None  # the augmented document
    records: tuple[tuple[str, list[Finding]], ...] = ()  # findings for --format json


def print_conversion(label: str, outcome: Result, fmt: str) -> None:
    """``--convert-to``: every change made, one line each (a JSON object each with
    ``--format json``), on stderr: stdout may be the document."""
    for change in outcome.guest.conversion:
        if fmt == "json":
            sys.stderr.write(json.dumps({"file": label, **change.as_dict()}) + "\n")
        else:
            sys.stderr.write(change.render(label) + "\n")


def _augmented(name: str, options: Options, quiet: bool = False, fmt: str = "text") -> Done:
    """Augment one input, its messages captured rather than printed."""
    with contextlib.redirect_stderr(io.StringIO()) as messages:
        label, data, outcome, failed = augment_one(name, options, quiet)
        output = None
        if outcome is not None:
            output = outcome.to_bytes()
            print_conversion(label, outcome, fmt)
            _print_findings(label, data, outcome.findings, "text", [], quiet)
    return Done(messages.getvalue(), failed, output)


def _output_paths(files: list[str], output: str | None, out_dir: Path | None,
                  in_place: bool) -> dict[str, Path]:
    """Where each input's output goes (none: standard output)."""
    if in_place:
        return {name: Path(name) for name in files}
    if out_dir is not None:
        return {name: out_dir / Path(name).name for name in files}
    if output:
        return {name: Path(output) for name in files}
    return {}


def _targets(paths: dict[str, Path], in_place: bool, force: bool) -> dict[str, Target] | None:
    """Every output's target, checked before anything is written (issue 18, item 14); None
    when one cannot be written, each such one reported. An input rewritten in place that
    cannot be read (missing, a folder) is left to the reading, which reports it (status 2)."""
    targets: dict[str, Target] = {}
    bad = False
    batch = " (no output was written)" if len(paths) > 1 else ""
    for name, path in paths.items():
        if in_place and (not os.path.lexists(path) or os.path.isdir(path)):
            continue
        try:
            targets[name] = target_for(path, force=force, keep_links=in_place)
        except OSError as exc:
            say(f"{exc.filename or path}: error: cannot write: {exc.strerror or exc}{batch}")
            bad = True
    return None if bad else targets


def _augment_files(files: list[str], output: str | None, out_dir: Path | None, in_place: bool,
                   options: Options, jobs: int, quiet: bool = False,
                   force: bool = False, fmt: str = "text") -> int:
    paths = _output_paths(files, output, out_dir, in_place)
    targets = _targets(paths, in_place, force)
    if targets is None:
        return 1
    status = 0
    work = functools.partial(_augmented, options=options, quiet=quiet, fmt=fmt)
    warn = None if quiet else (lambda message: say(f"augment: warning: {message}"))
    with staged(warn) as outputs, \
            contextlib.closing(ordered_map(work, files, jobs)) as results:
        for name, done in zip(files, results, strict=True):
            sys.stderr.write(done.messages)
            status = max(status, done.status)
            if done.output is None:
                continue
            try:
                if name in targets:
                    outputs.add(targets[name], done.output)
                else:
                    sys.stdout.buffer.write(done.output)
                    sys.stdout.flush()
            except OSError as exc:
                if not paths:
                    abandon_stdout()
                target = str(paths[name]) if paths else "<stdout>"
                unchanged = " (no output file was changed)" if len(files) > 1 else ""
                say(f"{target}: error: cannot write: {exc.strerror or exc}{unchanged}")
                return 1
        try:
            outputs.commit()
        except OSError as exc:
            target = exc.filename2 or exc.filename or "augment"
            say(f"{target}: error: cannot write: {exc.strerror or exc}")
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
    sink: Records = []
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
    sink: Records = []
    work = functools.partial(_checked, fmt=fmt, strict=strict, options=options, quiet=quiet)
    with contextlib.closing(ordered_map(work, files, jobs)) as results:
        for done in results:
            sys.stderr.write(done.messages)
            sink.extend(done.records)
            status = max(status, done.status)
    if fmt == "json":
        json_report(sink, sys.stdout.write)
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
        if fmt != "json" or not explain:
            print_conversion(label, outcome, fmt)
        if explain:
            from ..reports.explain import explain_data, explain_tree

            if fmt == "json":
                sink.append({"file": label, **explain_data(outcome)})
            else:
                from .console import console

                console().print(explain_tree(outcome))
        if graph:
            status = max(status, _draw(outcome, graph))
    if explain and fmt == "json":
        sys.stdout.write(json.dumps(sink, indent=1) + "\n")
    return status


def _draw(outcome: Result, graph: str) -> int:
    """``--graph``: the picture, written as any output is (atomically, beside its target)."""
    from ..reports.graph import GraphError, picture

    try:
        data = picture(outcome, graph)
    except GraphError as exc:
        say(f"{graph}: error: {exc}")
        return 1
    try:
        if os.path.isdir(graph):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), graph)
        write_atomically(Path(graph), data)
    except OSError as exc:
        say(f"{graph}: error: cannot write: {exc.strerror or exc}")
        return 1
    return 0


def _verify_files(files: list[str], uri: str | None) -> int:
    """``--verify``: start each guest paused in the local libvirt and compare with QEMU."""
    from .verify import VerifyError, default_uri, verify

    status = 0
    for name in files:
        try:
            report = verify(name, uri=uri or default_uri())
        except (VerifyError, AugmentError, OSError) as exc:
            say(f"{name}: error: {exc}")
            status = max(status, 1)
            continue
        sys.stdout.write(report.render())
        if not report.ok:
            status = max(status, 1)
    return status
