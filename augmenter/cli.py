"""The ``augment`` command: files or stdin in, augmented XML out, one-line errors."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from .errors import AugmentError

app = typer.Typer(add_completion=True, no_args_is_help=True, rich_markup_mode=None,
                  context_settings={"help_option_names": ["-h", "--help"]})


def _report(name: str, err: AugmentError) -> None:
    where = f"{name}:{err.line}" if err.line else name
    sys.stderr.write(f"{where}: error: {err.message}\n")


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
) -> None:
    """Add implicit controllers and addresses to libvirt domain XML, as libvirt 9.0 would.

    Examples:

      augment domain.xml > full.xml

      virsh dumpxml guest | augment - -o full.xml

      augment --in-place guests/*.xml
    """
    from .pipeline import run

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
            result = run(data).to_bytes()
        except AugmentError as err:
            _report(label, err)
            failed = True
            continue
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


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("augment: interrupted\n")
        sys.exit(130)
