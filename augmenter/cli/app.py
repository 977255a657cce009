"""The ``augment`` command line: typer's front over :mod:`augmenter.cli.files`."""

from typing import Annotated

import typer

from .files import Request, UsageError, execute, guarded, validate
from .options import spec

# No "from __future__ import annotations" here: typer would have to eval every string
# annotation at start-up, which costs 70 ms of a 300 ms run.

app = typer.Typer(add_completion=True, no_args_is_help=True, rich_markup_mode=None,
                  context_settings={"help_option_names": ["-h", "--help"]})

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
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=0,
                                      help="worker processes for many files; 0: one per "
                                      "CPU")] = 0,
    # beyond libvirt: names and help from augmenter.cli.options
    reserve_hotplug: Annotated[int | None, typer.Option(
        *spec("reserve_hotplug").names, min=0, metavar=spec("reserve_hotplug").metavar,
        help=spec("reserve_hotplug").help)] = None,
    lock_occupied: Annotated[bool, typer.Option(
        *spec("lock_occupied").names, help=spec("lock_occupied").help)] = False,
    convert_to: Annotated[str | None, typer.Option(
        *spec("convert_to").names, metavar=spec("convert_to").metavar,
        help=spec("convert_to").help)] = None,
    group_host_functions: Annotated[bool, typer.Option(
        *spec("group_host_functions").names, help=spec("group_host_functions").help)] = False,
    numa_aware: Annotated[bool, typer.Option(
        *spec("numa_aware").names, help=spec("numa_aware").help)] = False,
    host_numa: Annotated[str | None, typer.Option(
        *spec("host_numa").names, metavar=spec("host_numa").metavar,
        help=spec("host_numa").help)] = None,
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

      augment --convert-to q35 pc-guest.xml -o q35-guest.xml

      augment --group-host-functions --numa-aware gpu-guest.xml

    Exit status: 0 done (or, with --check, no errors), 1 bad input or a placement that cannot
    be made, 2 usage error or unreadable input.
    """
    request = Request(files=files, output=output, in_place=in_place, check=check,
                      explain=explain, graph=graph, verify=verify, fmt=fmt, strict=strict,
                      boards=boards, reserve_hotplug=reserve_hotplug, jobs=jobs,
                      lock_occupied=lock_occupied, convert_to=convert_to,
                      group_host_functions=group_host_functions, numa_aware=numa_aware,
                      host_numa=host_numa)
    try:
        validate(request)
    except UsageError as exc:
        raise typer.BadParameter(str(exc)) from None
    raise typer.Exit(execute(request))


def main() -> None:
    """The command through typer: every option, ``--help``, usage errors."""
    guarded(app)
