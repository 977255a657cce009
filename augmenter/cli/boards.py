"""The ``augment-boards`` command: list, show and refresh what QEMU says about its boards.

    augment-boards list                      # machine types of every installed QEMU
    augment-boards show q35                  # the board as a tree
    augment-boards show virt --arch aarch64 --json
    augment-boards refresh --all --jobs 2    # introspect everything into the cache
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.tree import Tree

from ..boards.cache import BinaryId, BoardCache
from ..boards.lookup import MODES, failure_entry, find_binary, load_board, load_catalogue
from ..boards.records import Board, BoardBus, BoardError, Catalogue, board_to_json, embedded_for
from ..errors import printable
from .console import console

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                  context_settings={"help_option_names": ["-h", "--help"]},
                  help="What QEMU's machine types build, by QMP introspection, cached.")

EmulatorOpt = Annotated[str | None, typer.Option(
    "--emulator", "-e", help="QEMU binary (path or name); default: qemu-system-ARCH on PATH")]
ArchOpt = Annotated[str, typer.Option("--arch", "-a", help="guest arch, when no --emulator")]
TimeoutOpt = Annotated[float, typer.Option("--timeout", help="seconds allowed per QEMU")]


def _err(message: str) -> None:
    sys.stderr.write(printable(f"augment-boards: error: {message}") + "\n")


def _warn(message: str) -> None:
    sys.stderr.write(printable(f"augment-boards: warning: {message}") + "\n")


def installed_binaries() -> list[str]:
    """Every ``qemu-system-*`` on PATH (first of each name), sorted by name."""
    seen: dict[str, str] = {}
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        try:
            names = sorted(os.listdir(folder or "."))
        except OSError:
            continue
        for name in names:
            path = os.path.join(folder, name)
            if (name.startswith("qemu-system-") and name not in seen
                    and os.path.isfile(path) and os.access(path, os.X_OK)):
                seen[name] = path
    return [seen[n] for n in sorted(seen)]


def _catalogue(binary: str, store: BoardCache,
               timeout: float | None = None) -> tuple[BinaryId, Catalogue]:
    try:
        bid = BinaryId.of(binary)
    except OSError as err:
        raise BoardError(f"cannot read {binary}: {err.strerror}") from None
    return bid, load_catalogue(binary, bid, store, timeout)


def _status(store: BoardCache, bid: BinaryId, cat: Catalogue) -> dict[str, str]:
    """machine -> "board" / "needs firmware" / "failed" for the cached default-option
    boards."""
    out: dict[str, str] = {}
    for machine, options in store.entries(bid):
        if options:
            continue
        entry = store.load_board(bid, machine, version=cat.version)
        if entry is not None:
            out[machine] = "board" if "board" in entry else str(entry.get("kind", "failed"))
    return out


def _kind(err: BoardError) -> str:
    """What a listing calls a failure: "failed", "needs firmware" or "skipped"."""
    from ..boards.introspect import FAILED, IntrospectionError

    return err.kind if isinstance(err, IntrospectionError) else FAILED


def _report(err: BoardError) -> None:
    """A binary or board that could not be had: an error, or a warning when it is skipped (the
    host cannot run it) or needs firmware (QEMU cannot start it without a file)."""
    kind = _kind(err)
    if kind == "failed":
        _err(str(err))
    else:
        _warn(f"{kind}: {err}")


# ---- list ------------------------------------------------------------------------------------


@app.command("list")
def list_command(
    emulator: EmulatorOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    timeout: TimeoutOpt = 5.0,
) -> None:
    """Machine types of each installed QEMU: aliases, the default, and what is cached.

    Exit status 1 only when no binary could be listed; one that cannot be (a KVM-only build on a
    host without KVM, a broken QEMU) is reported on stderr."""
    store = BoardCache()
    binaries = [find_binary("", emulator)] if emulator else installed_binaries()
    if not binaries:
        _err("no qemu-system-* binary found on PATH")
        raise typer.Exit(1)
    out = console()
    doc: list[dict[str, Any]] = []
    for binary in binaries:
        try:
            bid, cat = _catalogue(binary, store, timeout)
        except BoardError as err:
            _report(err)
            continue
        status = _status(store, bid, cat)
        aliases: dict[str, list[str]] = {}
        for alias, target in cat.aliases.items():
            aliases.setdefault(target, []).append(alias)
        doc.append({"binary": binary, "version": cat.version, "machines": [
            {"machine": m, "aliases": sorted(aliases.get(m, [])),
             "default": m == cat.default_machine, "cached": status.get(m)}
            for m in cat.machines]})
        if as_json:
            continue
        table = Table(title=f"{_t(binary)}  (QEMU {_t(cat.version)}, {len(cat.machines)} "
                            f"machine types, {len(status)} cached)", title_justify="left")
        for column in ("machine", "alias", "default", "cached"):
            table.add_column(column)
        for m in cat.machines:
            table.add_row(_t(m), _t(", ".join(sorted(aliases.get(m, [])))),
                          "yes" if m == cat.default_machine else "", status.get(m, ""))
        out.print(table)
    if as_json:
        sys.stdout.write(json.dumps(doc, indent=1) + "\n")
    if not doc:  # status 1 only when no binary could be listed at all
        raise typer.Exit(1)


# ---- show ------------------------------------------------------------------------------------


def _parse_options(values: list[str]) -> tuple[tuple[str, str], ...]:
    out = []
    for v in values:
        key, eq, val = v.partition("=")
        if not eq or not key:
            raise typer.BadParameter(f"expected KEY=VALUE, got {v!r}", param_hint="--option")
        out.append((key, val))
    return tuple(sorted(out))


@app.command("show")
def show_command(
    machine: Annotated[str, typer.Argument(help="machine type or alias (q35, pc-i440fx-7.2)")],
    emulator: EmulatorOpt = None,
    arch: ArchOpt = "x86_64",
    option: Annotated[list[str] | None, typer.Option(
        "--option", "-o", help="machine option that changes the board, e.g. usb=on")] = None,
    boards: Annotated[str, typer.Option("--boards", help="auto, qemu or embedded")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="print the board as JSON")] = False,
    timeout: TimeoutOpt = 5.0,
) -> None:
    """One board as a tree: buses, built-in devices with addresses, used slots, hotplug."""
    if boards not in MODES:
        raise typer.BadParameter(f"one of {', '.join(MODES)}", param_hint="--boards")
    options = _parse_options(option or [])
    try:
        board, source = _show_board(machine, emulator, arch, options, boards, timeout)
    except BoardError as err:
        _err(str(err))
        raise typer.Exit(1) from None
    if as_json:
        doc = {"machine": board.machine, **source, **board_to_json(board)}
        sys.stdout.write(json.dumps(doc, indent=1) + "\n")
        return
    out = console()
    out.print(render_tree(board, source))
    for line in _summary(board):
        out.print(printable(line), highlight=False, markup=False)


def _show_board(machine: str, emulator: str | None, arch: str,
                options: tuple[tuple[str, str], ...], mode: str,
                timeout: float) -> tuple[Board, dict[str, Any]]:
    if mode != "embedded":
        try:
            binary = find_binary(arch, emulator)
            store = BoardCache()
            bid, cat = _catalogue(binary, store, timeout)
            canonical = cat.aliases.get(machine, machine)
            if canonical not in cat.machines:
                raise BoardError(f"{binary} has no machine type '{machine}'")
            board = load_board(binary, bid, store, cat, canonical, options, timeout)
            return board, {"emulator": binary, "version": cat.version, "source": "qemu"}
        except BoardError as err:
            if mode == "qemu":
                raise
            _warn(f"{err}; using the embedded board table")
    if options:
        raise BoardError("the embedded table has boards with default options only")
    emu = embedded_for(arch)
    canonical = emu.canonical(machine)
    board_or_none = emu.table_board(canonical)
    if board_or_none is None:
        why = emu.failures.get(canonical, "not in the table")
        raise BoardError(f"no embedded board for {arch} machine '{machine}': {why}")
    return board_or_none, {"emulator": emu.binary, "version": emu.version,
                           "source": "embedded"}


def _bus_label(bus: BoardBus, root: str) -> str:
    hp = "hotplug" if bus.hotplug else "no hotplug"
    extra = [bus.kind, hp]
    if bus.units is not None:
        extra.append(f"{bus.units} unit{'s' if bus.units != 1 else ''}")
    tag = "  [bold]root bus[/bold]" if bus.name == root else ""
    return f"[cyan]{_t(bus.name)}[/cyan] ({_t(', '.join(extra))}){tag}"


def _t(value: object) -> str:
    """A value for rich's markup: shown as it is (``[/i]`` in a path is text, not the end of
    italics), control characters escaped. Paths, names and types may come from anywhere: the
    command line, the board cache, QEMU."""
    from rich.markup import escape

    return escape(printable(str(value)))


def render_tree(board: Board, source: dict[str, Any]) -> Tree:
    """The board as a rich tree: each bus, the devices on it, the buses they provide."""
    title = (f"[bold]{_t(board.machine)}[/bold]  {_t(source.get('emulator', ''))} "
             f"(QEMU {_t(source.get('version', '?'))}, {_t(source.get('source', ''))})")
    if board.options:
        title += "  " + _t(",".join(f"{k}={v}" for k, v in board.options))
    tree = Tree(title)
    buses = {b.name: b for b in board.buses}
    pci = {(p.slot, p.function): p for p in board.pci}

    def add_bus(node: Tree, bus: BoardBus) -> None:
        branch = node.add(_bus_label(bus, board.root_bus))
        for dev in bus.devices:
            label = f"[green]{_t(dev.type)}[/green]"
            addr = dev.address_text()
            if addr:
                label = f"{_t(addr)}  {label}"
            devfn = dict(dev.address).get("addr")
            if bus.name == board.root_bus and isinstance(devfn, int):
                info = pci.get((devfn >> 3, devfn & 7))
                if info is not None:
                    label += _t(f"  {info.class_name} {info.ids}".rstrip())
                    if info.multifunction:
                        label += " (multifunction)"
            sub = branch.add(label)
            for name in dev.buses:
                if name in buses:
                    add_bus(sub, buses[name])

    if board.buses:
        add_bus(tree, board.buses[0])
    elif board.root_bus:  # a board from an old table: the root bus only
        root = tree.add(f"[cyan]{_t(board.root_bus)}[/cyan] ({_t(board.root_kind)})")
        for p in board.pci:
            root.add(f"{p.slot:02x}.{p.function}  [green]{_t(p.type)}[/green]  "
                     f"{_t(p.class_name)}")
    return tree


def _summary(board: Board) -> Iterator[str]:
    if not board.root_bus:
        yield "no PCI root bus"
        return
    occupied = board.occupied()
    hp = "takes hotplug" if board.root_hotplug else "takes no hotplug"
    yield f"root bus {board.root_bus} ({board.root_kind}) {hp}"
    if occupied:
        used = ", ".join(f"{s:02x}.[{','.join(str(f) for f in fs)}]"
                         for s, fs in sorted(occupied.items()))
        yield f"slots the board uses: {used}"
        spare = ", ".join(f"{s:02x}.[{','.join(str(f) for f in range(8) if f not in fs)}]"
                          for s, fs in sorted(occupied.items()) if len(fs) < 8 and s != 0)
        if spare:
            yield f"free functions in those slots: {spare}"
    else:
        yield "slots the board uses: none (slot 0 is free)"


# ---- refresh ---------------------------------------------------------------------------------


@app.command("refresh")
def refresh_command(
    all_binaries: Annotated[bool, typer.Option("--all", help="every qemu-system-* on PATH")]
    = False,
    emulator: EmulatorOpt = None,
    arch: ArchOpt = "x86_64",
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="QEMUs at a time")]
    = os.cpu_count() or 2,
    timeout: TimeoutOpt = 5.0,
) -> None:
    """Introspect every machine type of one QEMU (or all) again, into the cache.

    Boards that need a firmware file no stand-in replaces, and binaries this host cannot run,
    are reported apart from failures. Exit status 1 only when not one board was introspected."""
    if all_binaries and emulator:
        raise typer.BadParameter("--all and --emulator cannot be used together")
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ..boards import introspect
    from ..boards.records import board_to_json as to_json

    store = BoardCache()
    if all_binaries:
        binaries = installed_binaries()
    else:
        try:
            binaries = [find_binary(arch, emulator)]
        except BoardError as err:
            _err(str(err))
            raise typer.Exit(1) from None
    catalogues: list[tuple[str, BinaryId, Catalogue]] = []
    for binary in binaries:
        try:
            bid = BinaryId.of(binary)
            cat = introspect.catalogue(binary, timeout=timeout)
        except OSError as err:
            _err(f"cannot read {binary}: {err.strerror or err}")
            continue
        except BoardError as err:
            _report(err)
            continue
        store.store_catalogue(bid, {"catalogue": cat.to_json()}, version=cat.version)
        catalogues.append((binary, bid, cat))
    total = sum(len(c.machines) for _, _, c in catalogues)
    start = time.perf_counter()
    counts = {"board": 0, introspect.NEEDS_FIRMWARE: 0, introspect.SKIPPED: 0,
              introspect.FAILED: 0}
    errors: list[tuple[str, str]] = []  # (kind, message)
    out = console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=out, transient=False) as bar:
        task = bar.add_task("introspecting", total=total)
        for binary, bid, cat in catalogues:
            name = Path(binary).name

            def done(machine: str, result: Board | introspect.IntrospectionError,
                     bid: BinaryId = bid, cat: Catalogue = cat, name: str = name) -> None:
                if isinstance(result, Board):
                    store.store_board(bid, machine, (), {"board": to_json(result)},
                                      version=cat.version)
                    counts["board"] += 1
                else:
                    if result.cacheable:
                        store.store_board(bid, machine, (), failure_entry(result),
                                          version=cat.version)
                    counts[result.kind] += 1
                    errors.append((result.kind, str(result)))
                bar.update(task, advance=1, description=f"{name} {machine}")

            introspect.boards(binary, cat.machines, jobs=jobs, timeout=timeout, progress=done)
        bar.update(task, description="introspected")
    elapsed = time.perf_counter() - start
    for kind, line in sorted(errors, key=lambda e: e[0] != introspect.FAILED):
        out.print(printable(f"{kind}: {line}"), highlight=False, markup=False)
    where = store.root or "no folder (there is no home folder)"
    out.print(f"{counts['board']} boards, {counts[introspect.NEEDS_FIRMWARE]} that need "
              f"firmware, {counts[introspect.SKIPPED]} skipped and "
              f"{counts[introspect.FAILED]} failures from {len(catalogues)} QEMU "
              f"binar{'y' if len(catalogues) == 1 else 'ies'} in {elapsed:.1f} s, cached in "
              f"{where}", highlight=False, markup=False)
    if not counts["board"]:  # status 1 only when nothing could be introspected
        raise typer.Exit(1)


def main() -> None:
    from .guard import guarded, standard_streams

    standard_streams()
    guarded(app, "augment-boards")
