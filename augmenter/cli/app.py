"""The ``augment`` command line: typer's front over :mod:`augmenter.cli.files`."""

import sys
from typing import Annotated

import typer

from .files import (
    RESERVE_HOTPLUG_MAX,
    Request,
    UsageError,
    execute,
    guarded,
    validate,
    version_text,
    with_stdin,
)

# No "from __future__ import annotations" here: typer would have to eval every string
# annotation at start-up, which costs 70 ms of a 300 ms run.

# no_args_is_help would print the help to a pipe: ``augment < in.xml`` reads standard input
app = typer.Typer(add_completion=True, no_args_is_help=False, rich_markup_mode=None,
                  context_settings={"help_option_names": ["-h", "--help"]})

BOARDS_HELP = "where boards come from: auto (cache, QEMU, then embedded), qemu, embedded"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(version_text())
        raise typer.Exit(0)


@app.command()
def augment_command(
    files: Annotated[list[str] | None, typer.Argument(
        help="domain XML files; '-' or none (with a pipe) reads stdin")] = None,
    output: Annotated[str | None, typer.Option("-o", "--output",
                                               help="write here (a folder for many files; "
                                               "'-' is standard output)")] = None,
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
    reserve_hotplug: Annotated[int, typer.Option("--reserve-hotplug", min=0,
                                                 max=RESERVE_HOTPLUG_MAX,
                                                 help="keep N more empty hot-pluggable slots "
                                                 "(root ports on PCIe machines)")] = 0,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=0,
                                      help="worker processes for many files; 0: one per "
                                      "CPU")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="print errors only, no "
                                        "warnings")] = False,
    connect: Annotated[str | None, typer.Option("--connect", "-c", help="with --verify: the "
                                                "libvirt URI (default: $LIBVIRT_DEFAULT_URI, "
                                                "else qemu:///system)")] = None,
    version: Annotated[bool, typer.Option("--version", is_eager=True, callback=_print_version,
                                          help="print the version and the board table's, "
                                          "then exit")] = False,
) -> None:
    """Add implicit controllers and addresses to libvirt domain XML, as libvirt 9.0 would.

    Examples:

      augment domain.xml > full.xml

      virsh dumpxml guest | augment - -o full.xml

      augment --in-place guests/*.xml

      augment --check --format json guests/*.xml

      augment -o out/ --jobs 4 guests/*.xml

      augment --explain domain.xml

      augment --graph topology.svg domain.xml

      augment --reserve-hotplug 4 domain.xml

    Exit status: 0 done (or, with --check, no errors), 1 bad input or a placement that cannot
    be made, 2 usage error or unreadable input.
    """
    request = Request(files=files or [], output=output, in_place=in_place, check=check,
                      explain=explain, graph=graph, verify=verify, fmt=fmt, strict=strict,
                      boards=boards, reserve_hotplug=reserve_hotplug, jobs=jobs, quiet=quiet,
                      connect=connect)
    try:
        request = with_stdin(request, sys.stdin.isatty())
        validate(request)
    except UsageError as exc:
        raise typer.BadParameter(str(exc)) from None
    raise typer.Exit(execute(request))


def main() -> None:
    """The command through typer: every option, ``--help``, usage errors."""
    guarded(app)
