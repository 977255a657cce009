"""The ``augment`` command: files or stdin in, augmented XML out, one-line errors."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from .errors import AugmentError
from .findings import Finding, InvalidDomain

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
    """Write to a temporary file in the same folder, then rename: never a half-written file."""
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read(name: str) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read()
    return Path(name).read_bytes()


@app.command()
def augment_command(
    files: Annotated[list[str], typer.Argument(help="domain XML files; '-' reads stdin")],
    output: Annotated[str | None, typer.Option("-o", "--output",
                                               help="write here (a folder for many files)")] = None,
    in_place: Annotated[bool, typer.Option("--in-place", "-i",
                                           help="rewrite each file atomically")] = False,
    check: Annotated[bool, typer.Option("--check", help="only report problems; change "
                                        "nothing")] = False,
    fmt: Annotated[str, typer.Option("--format", help="findings as 'text' or 'json'")] = "text",
    strict: Annotated[bool, typer.Option("--strict", help="with --check, warnings fail "
                                         "too")] = False,
) -> None:
    """Add implicit controllers and addresses to libvirt domain XML, as libvirt 9.0 would.

    Examples:

      augment domain.xml > full.xml

      virsh dumpxml guest | augment - -o full.xml

      augment --in-place guests/*.xml

      augment --check --format json guests/*.xml

    Exit status: 0 done (or, with --check, no errors), 1 bad input or a placement that cannot
    be made, 2 usage error or unreadable input.
    """
    from .pipeline import run

    if fmt not in ("text", "json"):
        raise typer.BadParameter("--format must be 'text' or 'json'")
    if check:
        raise typer.Exit(_check_files(files, fmt, strict))

    if in_place and output:
        raise typer.BadParameter("--in-place and --output exclude each other")
    if in_place and "-" in files:
        raise typer.BadParameter("--in-place cannot rewrite stdin")
    out_dir = Path(output) if output and len(files) > 1 else None
    if out_dir is not None and not out_dir.is_dir():
        raise typer.BadParameter(f"with several inputs, -o must be an existing folder: {output}")
    failed = False
    for name in files:
        label = "<stdin>" if name == "-" else name
        try:
            data = _read(name)
        except OSError as exc:
            sys.stderr.write(f"{label}: error: cannot read: {exc.strerror or exc}\n")
            raise typer.Exit(2) from None
        try:
            outcome = run(data)
            result = outcome.to_bytes()
        except InvalidDomain as err:
            _print_findings(label, data, err.findings, "text", [])
            failed = True
            continue
        except AugmentError as err:
            _report(label, err)
            failed = True
            continue
        _print_findings(label, data, outcome.findings, "text", [])
        if in_place:
            write_atomically(Path(name), result)
        elif out_dir is not None:
            write_atomically(out_dir / Path(name).name, result)
        elif output:
            write_atomically(Path(output), result)
        else:
            sys.stdout.buffer.write(result)
            sys.stdout.flush()
    if failed:
        raise typer.Exit(1)


def _check_files(files: list[str], fmt: str, strict: bool) -> int:
    """``--check``: every finding of every file; 0 clean, 1 errors, 2 unreadable."""
    from .pipeline import check as check_document

    status = 0
    sink: list[dict[str, object]] = []
    for name in files:
        label = "<stdin>" if name == "-" else name
        try:
            data = _read(name)
        except OSError as exc:
            sys.stderr.write(f"{label}: error: cannot read: {exc.strerror or exc}\n")
            status = 2
            continue
        findings = check_document(data)
        _print_findings(label, data, findings, fmt, sink)
        if any(f.severity == "error" for f in findings) or (strict and findings):
            status = max(status, 1)
        unreadable = {"xml-syntax", "not-a-domain"}
        if any(f.code in unreadable for f in findings):
            status = 2
    if fmt == "json":
        import json

        sys.stdout.write(json.dumps(sink, indent=1) + "\n")
    return status


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("augment: interrupted\n")
        sys.exit(130)
