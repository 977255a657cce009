"""The ``augment`` command: files or stdin in, augmented XML out, one-line errors."""

import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .errors import AugmentError
from .findings import Finding, InvalidDomain

if TYPE_CHECKING:
    from .pipeline import Options, Result
# No "from __future__ import annotations" here: typer would have to eval every string
# annotation at start-up, which costs 70 ms of a 300 ms run.

app = typer.Typer(add_completion=True, no_args_is_help=True, rich_markup_mode=None,
                  context_settings={"help_option_names": ["-h", "--help"]})


def _report(name: str, err: AugmentError) -> None:
    where = f"{name}:{err.line}" if err.line else name
    sys.stderr.write(f"{where}: error: {err.message}\n")


def with_column(f: Finding, data: bytes) -> Finding:
    """Point at the first element on the finding's line (lxml keeps lines, not columns)."""
    if not f.line:
        return f
    lines = data.split(b"\n")
    if f.line > len(lines):
        return f
    text = lines[f.line - 1].decode("utf-8", "replace")
    at = text.find("<address")
    if at < 0:
        at = text.find("<")
    return Finding(f.code, f.severity, f.message, f.line, at + 1 if at >= 0 else None,
                   f.device, f.hint)


def _print_findings(label: str, data: bytes, findings: list[Finding], fmt: str,
                    sink: list[dict[str, object]]) -> None:
    for f in findings:
        f = with_column(f, data)
        if fmt == "json":
            sink.append({"file": label, **f.as_dict()})
        else:
            sys.stderr.write(f.render(label) + "\n")


def write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, then rename: never a half-written file.

    A symlink is followed (the file it points at is replaced, the link stays), and an
    existing file keeps its mode and, where we may set it, its owner.
    """
    path = Path(os.path.realpath(path))
    folder = path.parent
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if path.exists():
            st = path.stat()
            os.chmod(tmp, st.st_mode & 0o7777)
            with contextlib.suppress(PermissionError):  # not ours to give away
                os.chown(tmp, st.st_uid, st.st_gid)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read(name: str) -> bytes:
    """The input, read up to one byte past the size limit (``/dev/zero`` ends too)."""
    from .xmldoc import MAX_BYTES

    if name == "-":
        return sys.stdin.buffer.read(MAX_BYTES + 1)
    with open(name, "rb") as fh:
        return fh.read(MAX_BYTES + 1)


BOARDS_HELP = "where boards come from: auto (cache, QEMU, then embedded), qemu, embedded"


@app.command()
def augment_command(
    files: Annotated[list[str], typer.Argument(help="domain XML files; '-' reads stdin")],
    output: Annotated[str | None, typer.Option("-o", "--output",
                                               help="write here (a folder for many files)")] = None,
    in_place: Annotated[bool, typer.Option("--in-place", "-i",
                                           help="rewrite each file atomically")] = False,
    check: Annotated[bool, typer.Option("--check", help="only report problems; change "
                                        "nothing")] = False,
    explain: Annotated[bool, typer.Option("--explain", help="show where every device went "
                                          "and why")] = False,
    graph: Annotated[str | None, typer.Option("--graph", help="draw the topology to this "
                                              ".svg, .png or .dot file")] = None,
    verify: Annotated[bool, typer.Option("--verify", help="define and start the guest paused "
                                         "in the local libvirt and compare QEMU's view")] = False,
    fmt: Annotated[str, typer.Option("--format", help="findings and --explain as 'text' or "
                                     "'json'")] = "text",
    strict: Annotated[bool, typer.Option("--strict", help="with --check, warnings fail "
                                         "too")] = False,
    boards: Annotated[str, typer.Option("--boards", help=BOARDS_HELP)] = "auto",
    reserve_hotplug: Annotated[int, typer.Option("--reserve-hotplug", min=0, max=64,
                                                 help="keep N more empty hot-pluggable "
                                                 "slots (root ports on PCIe machines)")] = 0,
) -> None:
    """Add implicit controllers and addresses to libvirt domain XML, as libvirt 9.0 would.

    Examples:

      augment domain.xml > full.xml

      virsh dumpxml guest | augment - -o full.xml

      augment --in-place guests/*.xml

      augment --check --format json guests/*.xml

      augment --explain domain.xml

      augment --graph topology.svg domain.xml

      augment --reserve-hotplug 4 domain.xml

    Exit status: 0 done (or, with --check, no errors), 1 bad input or a placement that cannot
    be made, 2 usage error or unreadable input.
    """
    from .pipeline import Options

    if fmt not in ("text", "json"):
        raise typer.BadParameter("--format must be 'text' or 'json'")
    if boards not in ("auto", "qemu", "embedded"):
        raise typer.BadParameter("--boards must be auto, qemu or embedded")
    if in_place and output:
        raise typer.BadParameter("--in-place and --output exclude each other")
    if in_place and "-" in files:
        raise typer.BadParameter("--in-place cannot rewrite stdin")
    options = Options(boards=boards, reserve_hotplug=reserve_hotplug)
    if check:
        raise typer.Exit(_check_files(files, fmt, strict, options))
    if verify:
        raise typer.Exit(_verify_files(files))
    if explain or graph:
        raise typer.Exit(_show_files(files, fmt, explain, graph, options))
    out_dir = Path(output) if output and len(files) > 1 else None
    if out_dir is not None and not out_dir.is_dir():
        raise typer.BadParameter(f"with several inputs, -o must be an existing folder: {output}")
    raise typer.Exit(_augment_files(files, output, out_dir, in_place, options))


def _augment_files(files: list[str], output: str | None, out_dir: Path | None, in_place: bool,
                   options: "Options") -> int:
    status = 0
    for name in files:
        label, data, outcome, failed = _augment_one(name, options)
        status = max(status, failed)
        if outcome is None:
            continue
        result = outcome.to_bytes()
        _print_findings(label, data, outcome.findings, "text", [])
        try:
            if in_place:
                write_atomically(Path(name), result)
            elif out_dir is not None:
                write_atomically(out_dir / Path(name).name, result)
            elif output:
                write_atomically(Path(output), result)
            else:
                sys.stdout.buffer.write(result)
                sys.stdout.flush()
        except OSError as exc:
            target = name if in_place else (output or "<stdout>")
            sys.stderr.write(f"{target}: error: cannot write: {exc.strerror or exc}\n")
            return 1
    return status


def _augment_one(name: str, options: "Options") -> tuple[str, bytes, "Result | None", int]:
    """Read and augment one input: (label, bytes, result or None, exit status so far).

    Problems are reported on stderr here, once for every mode that augments.
    """
    from .pipeline import run

    label = "<stdin>" if name == "-" else name
    data = _read_or_report(name, label)
    if data is None:
        return label, b"", None, 2
    try:
        outcome = run(data, options)
    except InvalidDomain as err:
        _print_findings(label, data, err.findings, "text", [])
        return label, data, None, 1
    except AugmentError as err:
        _report(label, err)
        return label, data, None, 1
    return label, data, outcome, 0


def _read_or_report(name: str, label: str) -> bytes | None:
    try:
        return _read(name)
    except OSError as exc:
        sys.stderr.write(f"{label}: error: cannot read: {exc.strerror or exc}\n")
        return None


def _check_files(files: list[str], fmt: str, strict: bool, options: "Options") -> int:
    """``--check``: every finding of every file; 0 clean, 1 errors, 2 unreadable."""
    from .pipeline import check as check_document

    status = 0
    sink: list[dict[str, object]] = []
    for name in files:
        label = "<stdin>" if name == "-" else name
        data = _read_or_report(name, label)
        if data is None:
            status = 2
            continue
        findings = check_document(data, options)
        _print_findings(label, data, findings, fmt, sink)
        if any(f.severity == "error" for f in findings) or (strict and findings):
            status = max(status, 1)
    if fmt == "json":
        sys.stdout.write(json.dumps(sink, indent=1) + "\n")
    return status


def _show_files(files: list[str], fmt: str, explain: bool, graph: str | None,
                options: "Options") -> int:
    """``--explain`` and ``--graph``: the topology as a tree, data or picture."""
    if graph and len(files) != 1:
        raise typer.BadParameter("--graph takes exactly one input file")
    status = 0
    sink: list[dict[str, object]] = []
    for name in files:
        label, _, outcome, failed = _augment_one(name, options)
        status = max(status, failed)
        if outcome is None:
            continue
        if explain:
            from .explain import explain_data, explain_tree

            if fmt == "json":
                sink.append({"file": label, **explain_data(outcome)})
            else:
                from rich.console import Console

                Console().print(explain_tree(outcome))
        if graph:
            from .graph import GraphError, render

            try:
                render(outcome, graph)
            except GraphError as exc:
                sys.stderr.write(f"augment: error: {exc}\n")
                status = max(status, 1)
    if explain and fmt == "json":
        sys.stdout.write(json.dumps(sink, indent=1) + "\n")
    return status


def _verify_files(files: list[str]) -> int:
    """``--verify``: start each guest paused in the local libvirt and compare with QEMU."""
    from .verify import VerifyError, verify

    status = 0
    for name in files:
        try:
            report = verify(name)
        except (VerifyError, AugmentError, OSError) as exc:
            sys.stderr.write(f"{name}: error: {exc}\n")
            status = max(status, 1)
            continue
        sys.stdout.write(report.render())
        if not report.ok:
            status = max(status, 1)
    return status


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("augment: interrupted\n")
        sys.exit(130)
    except BrokenPipeError:
        # the reader went away (augment ... | head): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
