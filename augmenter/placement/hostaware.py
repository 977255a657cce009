"""Host-aware placement of PCI host devices: functions kept together, NUMA nodes honoured.

Two things users write by hand today (docs/placement.md §22, §23):

* ``--group-host-functions``: the functions of one host slot (a GPU at 65:00.0 and its audio
  function 65:00.1) are one device to the guest's drivers, so they go to one guest slot with
  the same function numbers, ``multifunction='on'`` on function 0 (virt-manager#303,
  kubevirt#14375). libvirt gives each a slot of its own.
* ``--numa-aware``: a guest with NUMA cells sees where its devices are only through expander
  buses, each tied to a guest node (``<target><node>``). Each PCI host device goes behind the
  expander bus of the guest node that holds its host NUMA node: a ``pcie-expander-bus`` with a
  root port per device on q35, a ``pci-expander-bus`` on pc (kubevirt VEP 115). The host node
  comes from ``/sys/bus/pci/devices/ADDR/numa_node``, or from a map written for a definition
  made on another machine (:func:`parse_host_numa`).

Both only edit the definition, the way a user would, before libvirt's placement runs: a group
becomes a :class:`~augmenter.placement.guest.Together` the PCI pass places as one; NUMA
placement adds expander buses and root ports and writes the host devices' addresses on them.
libvirt's own placement then does the rest (the expander buses' own slots included).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from ..errors import AugmentError
from ..model.addresses import pci_at, wants_pci, write_pci
from ..model.domain import Device
from ..model.values import ADDRESS_FIELDS, MEMNODE_CELLID, NUMA_CELL_ID, field_value
from ..policy.devices import lowest_bus_nr
from ..xml.document import Element, append_child, new_element
from .guest import Guest, Together
from .pci import expander_bus_nrs

HostAddress = tuple[int, int, int, int]  # domain, bus, slot, function

_ADDRESS = re.compile(
    r"^(?:(?P<domain>[0-9a-fA-F]{1,4}):)?(?P<bus>[0-9a-fA-F]{1,2}):(?P<slot>[0-9a-fA-F]{1,2})"
    r"\.(?P<function>[0-7])$")


def format_host(addr: HostAddress) -> str:
    return f"{addr[0]:04x}:{addr[1]:02x}:{addr[2]:02x}.{addr[3]}"


def parse_host_address(text: str) -> HostAddress:
    """``0000:65:00.1`` or ``65:00.1`` -> (0, 0x65, 0, 1); ValueError otherwise."""
    m = _ADDRESS.match(text.strip())
    if m is None:
        raise ValueError(f"'{text}' is not a PCI address (DDDD:BB:SS.F or BB:SS.F)")
    slot = int(m["slot"], 16)
    if slot > 0x1F:
        raise ValueError(f"'{text}': slot {slot:#x} is above 0x1f")
    return (int(m["domain"] or "0", 16), int(m["bus"], 16), slot, int(m["function"]))


def parse_host_numa(text: str) -> dict[HostAddress, int]:
    """The ``--host-numa`` map: ``ADDR=NODE`` pairs separated by commas, where ADDR is a host
    PCI address (``0000:65:00.0``; the domain may be left out) and NODE a host NUMA node
    number. ``0000:65:00.0=1,0000:b3:00.0=0``. ValueError with the reason otherwise."""
    out: dict[HostAddress, int] = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        addr_text, eq, node_text = item.partition("=")
        if not eq:
            raise ValueError(f"'{item}' is not ADDR=NODE (e.g. 0000:65:00.0=1)")
        addr = parse_host_address(addr_text)
        if not node_text.strip().isdigit():
            raise ValueError(f"'{item}': the NUMA node must be a number from 0")
        if addr in out:
            raise ValueError(f"'{item}': {format_host(addr)} is given twice")
        out[addr] = int(node_text)
    if not out:
        raise ValueError("the map is empty: give ADDR=NODE pairs, e.g. 0000:65:00.0=1")
    return out


def host_address(dev: Device) -> HostAddress | None:
    """The host PCI address a ``<hostdev type='pci'>`` or ``<interface type='hostdev'>``
    passes through (its ``<source><address>``), or None."""
    if dev.tag == "hostdev" and (dev.el.get("mode", "subsystem") != "subsystem"
                                 or dev.type != "pci"):
        return None
    if dev.tag == "interface" and dev.type != "hostdev":
        return None
    if dev.tag not in ("hostdev", "interface"):
        return None
    source = dev.child("source")
    addr = source.find("address") if source is not None else None
    if addr is None or addr.get("type", "pci") != "pci":
        return None
    # virPCIDeviceAddressParseXML (ADDRESS_FIELDS); a field left out is 0
    fields = [field_value(addr, f) if addr.get(f.name) else 0 for f in ADDRESS_FIELDS["pci"]]
    if any(f is None for f in fields):
        return None
    domain, bus, slot, function = (f or 0 for f in fields)
    return domain, bus, slot, function


def _pci_host_devices(guest: Guest) -> Iterator[tuple[Device, HostAddress]]:
    for dev in guest.dom.iterate():
        addr = host_address(dev)
        if addr is not None:
            yield dev, addr


# -- functions of one host slot ---------------------------------------------------------------
def host_groups(guest: Guest) -> list[Together]:
    """The functions of each host slot that two or more unaddressed host devices pass
    through, function 0 first; slots without function 0 are left alone (with a note): a
    guest slot needs function 0."""
    slots: dict[tuple[int, int, int], list[tuple[Device, int]]] = {}
    for dev, (domain, bus, slot, function) in _pci_host_devices(guest):
        if wants_pci(dev):
            slots.setdefault((domain, bus, slot), []).append((dev, function))
    groups: list[Together] = []
    for (domain, bus, slot), members in slots.items():
        if len(members) < 2:
            continue
        members.sort(key=lambda m: m[1])
        functions = [f for _, f in members]
        where = f"{domain:04x}:{bus:02x}:{slot:02x}"
        if functions[0] != 0:
            guest.warnings.append(("host-functions-apart",
                                   f"--group-host-functions: host slot {where} passes functions "
                               f"{', '.join(map(str, functions))} but not 0: placed apart"))
            continue
        if len(set(functions)) != len(functions):
            continue  # the same function twice: libvirt refuses that itself
        groups.append(Together(tuple(members)))
        guest.notes.append(f"--group-host-functions: host slot {where}: functions "
                           f"{', '.join(map(str, functions))} share one guest slot")
    return groups


def group_functions(guest: Guest) -> None:
    """Mark the groups for the PCI pass (``Guest.together``)."""
    for group in host_groups(guest):
        for dev, _ in group.members:
            guest.together[dev] = group


# -- NUMA -------------------------------------------------------------------------------------
def guest_cells(guest: Guest) -> list[int]:
    """The guest's NUMA cell ids (``<cpu><numa><cell id>``), in order."""
    cells = guest.dom.root.findall("cpu/numa/cell")
    out: list[int] = []
    for n, cell in enumerate(cells):
        ident = field_value(cell, NUMA_CELL_ID)
        out.append(n if ident is None else ident)
    return out


def parse_nodeset(text: str) -> set[int]:
    """libvirt's nodeset syntax: ``0-3,^2,5``."""
    out: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        drop = part.startswith("^")
        part = part.lstrip("^")
        lo, _, hi = part.partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()):
            continue
        values = set(range(int(lo), int(hi or lo) + 1))
        out = out - values if drop else out | values
    return out


def cell_of_host_node(guest: Guest, cells: list[int]) -> dict[int, int]:
    """Host node -> guest cell: from ``<numatune><memnode cellid nodeset>`` (the host nodes
    backing each cell's memory); a host node no memnode names maps to the cell of the same
    number, when the guest has one."""
    out: dict[int, int] = {}
    for memnode in guest.dom.root.findall("numatune/memnode"):
        cell = field_value(memnode, MEMNODE_CELLID)
        if cell is None or cell not in cells:
            continue
        for node in sorted(parse_nodeset(memnode.get("nodeset") or "")):
            out.setdefault(node, cell)
    for cell in cells:
        out.setdefault(cell, cell)
    return out


def read_sysfs_node(addr: HostAddress, sysfs: Path) -> int | None:
    """``numa_node`` of a host PCI device from sysfs; None when unknown (-1) or absent."""
    path = sysfs / "bus" / "pci" / "devices" / format_host(addr) / "numa_node"
    try:
        value = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    return value if value >= 0 else None


@dataclass(frozen=True)
class Expander:
    """One expander bus to add: the guest node, its devices (groups keep their functions)."""

    cell: int
    devices: tuple[tuple[tuple[Device, int], ...], ...]  # per root port/slot: (dev, function)


def numa_plan(guest: Guest, host_nodes: Mapping[HostAddress, int] | None,
              sysfs: Path) -> list[Expander]:
    """Which host devices go behind which guest node's expander bus."""
    cells = guest_cells(guest)
    if not cells:
        guest.warnings.append(("numa-unplaced", "--numa-aware: the guest has no NUMA cells "
                               "(<cpu><numa>): host devices are placed as usual"))
        return []
    to_cell = cell_of_host_node(guest, cells)
    by_cell: dict[int, list[tuple[tuple[Device, int], ...]]] = {}
    grouped: set[Device] = set()
    for dev, addr in _pci_host_devices(guest):
        if not wants_pci(dev) or dev in grouped:
            continue
        node = host_nodes.get(addr) if host_nodes is not None else read_sysfs_node(addr, sysfs)
        where = format_host(addr)
        if node is None:
            source = "--host-numa" if host_nodes is not None else str(sysfs)
            guest.warnings.append(("numa-unplaced", f"--numa-aware: {dev.name()} ({where}): "
                                   f"no host NUMA node in {source}: placed as usual"))
            continue
        cell = to_cell.get(node)
        if cell is None:
            guest.warnings.append(("numa-unplaced", f"--numa-aware: {dev.name()} ({where}) is "
                                   f"on host node {node}, which no guest cell holds: placed "
                                   "as usual"))
            continue
        group = guest.together.get(dev)
        members = group.members if group is not None else ((dev, 0),)
        grouped.update(d for d, _ in members)
        by_cell.setdefault(cell, []).append(members)
        guest.notes.append(f"--numa-aware: {dev.name()} ({where}, host node {node}) goes "
                           f"behind the expander bus of guest node {cell}")
    return [Expander(cell, tuple(devs)) for cell, devs in sorted(by_cell.items())]


def _add_node(target: Element, cell: int) -> None:
    """``<node>N</node>`` in an expander bus's ``<target>`` (once it sits in the document,
    so that it is indented like its neighbours)."""
    node = new_element("node")
    node.text = str(cell)
    append_child(target, node)


def add_expanders(guest: Guest, plan: list[Expander]) -> None:
    """Write the plan into the definition: an expander bus per guest node (its ``busNr``
    leaving a bus number for each bus behind it), on q35 a root port per device on it, and
    each device's address."""
    if not plan:
        return
    pcie = guest.pcie_root
    model = "pcie-expander-bus" if pcie else "pci-expander-bus"
    index = max((c.index for c in guest.dom.controllers if c.type == "pci"), default=0) + 1
    top = lowest_bus_nr(expander_bus_nrs(guest))
    for exp in plan:
        if len(exp.devices) > (32 * 8 if pcie else 32):
            raise AugmentError(f"--numa-aware: {len(exp.devices)} host devices on guest node "
                               f"{exp.cell} are more than one expander bus holds")
        # the expander's own bus, then one per root port (pc: and its built-in pci-bridge)
        needed = 1 + (len(exp.devices) if pcie else 1)
        bus_nr = top - needed
        if bus_nr <= index + len(exp.devices):
            raise AugmentError(f"--numa-aware: no bus numbers left below {top} for the "
                               f"expander bus of guest node {exp.cell}")
        top = bus_nr
        target = new_element("target", {"busNr": str(bus_nr)})
        guest.dom.add("controller", {"type": "pci", "index": str(index), "model": model},
                      children=[target], why=f"added for guest NUMA node {exp.cell} "
                                            "(--numa-aware, docs/placement.md §23)")
        _add_node(target, exp.cell)
        pxb_index = index
        index += 1
        for n, members in enumerate(exp.devices):
            if pcie:
                slot, function = divmod(n, 8)
                port = guest.dom.add(
                    "controller", {"type": "pci", "index": str(index),
                                   "model": "pcie-root-port"},
                    why=f"a root port on the expander bus of guest node {exp.cell}")
                write_pci(port, pci_at(pxb_index, slot, function))
                port.why_placed = "on its NUMA node's expander bus (docs/placement.md §23)"
                bus, slot = index, 0
                index += 1
            else:
                bus, slot = pxb_index, n
            for dev, function in members:
                write_pci(dev, pci_at(bus, slot, function))
                dev.why_placed = (f"behind the expander bus of guest NUMA node {exp.cell} "
                                  "(docs/placement.md §23)")


def numa_place(guest: Guest, host_numa: Mapping[HostAddress, int] | None,
               sysfs: Path) -> None:
    """``--numa-aware``: add the expander buses and place the host devices behind them."""
    if not guest.supports_pci or guest.family is None or guest.family.name not in (
            "q35", "i440fx"):
        guest.warnings.append(("numa-unplaced",
                               "--numa-aware: expander buses are placed on x86 pc and q35 only"))
        return
    add_expanders(guest, numa_plan(guest, host_numa, sysfs))
