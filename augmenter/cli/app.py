"""The ``augment`` command line: typer's front over :mod:`augmenter.cli.files`."""

import sys
from typing import Annotated

import typer

from .files import (
    CONVERT_TARGETS,
    Request,
    UsageError,
    execute,
    validate,
    version_text,
    with_stdin,
)
from .guard import guarded, standard_streams

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
    schema: Annotated[bool, typer.Option("--schema", help="with --check, also validate "
                                         "against libvirt's installed RelaxNG schema")] = False,
    boards: Annotated[str, typer.Option("--boards", help=BOARDS_HELP)] = "auto",
    reserve_hotplug: Annotated[int | None, typer.Option(
        "--reserve-hotplug", min=0, metavar="N",
        help="leave exactly N free hot-pluggable ports (empty root ports on PCIe machines, "
             "free slots on pc)")] = None,
    timeout: Annotated[float | None, typer.Option(
        "--timeout", help="seconds each QEMU gets to describe a board (default 5)")] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=0,
                                      help="worker processes for many files; 0: one per "
                                      "CPU")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="print errors only, no "
                                        "warnings")] = False,
    connect: Annotated[str | None, typer.Option("--connect", "-c", help="with --verify: the "
                                                "libvirt URI (default: $LIBVIRT_DEFAULT_URI, "
                                                "else qemu:///system)")] = None,
    force: Annotated[bool, typer.Option("--force", help="with -o or --in-place: rewrite a "
                                        "read-only file too")] = False,
    allow_emulator: Annotated[list[str] | None, typer.Option(
        "--allow-emulator", metavar="PATH", help="run this QEMU when a domain's <emulator> "
        "names it, though it is not in a system folder (repeatable; also "
        "$AUGMENTER_EMULATORS)")] = None,
    version: Annotated[bool, typer.Option("--version", is_eager=True, callback=_print_version,
                                          help="print the version and the board table's, "
                                          "then exit")] = False,
    # beyond libvirt (docs/placement.md §21-§24)
    lock_occupied: Annotated[bool, typer.Option(
        "--lock-occupied", help="turn hot plug off on every root port that holds a device "
                                "the guest must not eject (all but NICs and host "
                                "devices)")] = False,
    convert_to: Annotated[str | None, typer.Option(
        "--convert-to", metavar="|".join(CONVERT_TARGETS),
        help="re-home the guest onto the other x86 chipset first (every change is "
             "printed)")] = None,
    group_host_functions: Annotated[bool, typer.Option(
        "--group-host-functions", help="put PCI host devices that are functions of one host "
                                       "slot into one guest slot, with the same function "
                                       "numbers")] = False,
    numa_aware: Annotated[bool, typer.Option(
        "--numa-aware", help="put each PCI host device behind an expander bus of the guest "
                             "NUMA node of its host node (read from /sys)")] = False,
    host_numa: Annotated[str | None, typer.Option(
        "--host-numa", metavar="ADDR=NODE,...",
        help="host NUMA node of each PCI host device, for a guest written on another "
             "machine (implies --numa-aware)")] = None,
) -> None:
    """Add implicit controllers and addresses to libvirt domain XML, as libvirt 9.0 would.

    Examples:

      augment domain.xml > full.xml

      virsh dumpxml guest | augment - -o full.xml

      augment --in-place guests/*.xml

      augment --check --format json guests/*.xml

      augment --check --schema guest.xml

      augment -o out/ --jobs 4 guests/*.xml

      augment --explain domain.xml

      augment --graph topology.svg domain.xml

      augment --reserve-hotplug 4 domain.xml

      augment --convert-to q35 pc-guest.xml -o q35-guest.xml

      augment --group-host-functions --numa-aware gpu-guest.xml

    Exit status: 0 done (or, with --check, no errors), 1 bad input or a placement that cannot
    be made, 2 usage error or unreadable input.
    """
    request = Request(files=files or [], output=output, in_place=in_place, check=check,
                      explain=explain, graph=graph, verify=verify, fmt=fmt, strict=strict,
                      schema=schema, boards=boards, reserve_hotplug=reserve_hotplug, jobs=jobs,
                      quiet=quiet, connect=connect, timeout=timeout, force=force,
                      allow_emulator=tuple(allow_emulator or ()), lock_occupied=lock_occupied,
                      convert_to=convert_to, group_host_functions=group_host_functions,
                      numa_aware=numa_aware, host_numa=host_numa)
    try:
        request = with_stdin(request, sys.stdin.isatty())
        validate(request)
    except UsageError as exc:
        raise typer.BadParameter(str(exc)) from None
    raise typer.Exit(execute(request))


def main() -> None:
    """The command through typer: every option, ``--help``, usage errors."""
    standard_streams()
    guarded(app)
