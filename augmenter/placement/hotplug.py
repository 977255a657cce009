"""Hot-plug planning: counting free hot-pluggable ports, and locking occupied ones.

A *hot-pluggable port* is where a device can be plugged into a running guest without a new
controller (docs/placement.md §21):

* on a PCI Express root (q35, ARM and RISC-V ``virt``): an empty ``pcie-root-port`` or
  ``pcie-switch-downstream-port`` that takes PCI Express endpoints with hot plug on (a root
  port libvirt keeps for a ``pcie-to-pci-bridge`` takes no endpoint: it is not one);
* on a conventional root (pc, pSeries): an empty slot of a bus that takes conventional PCI
  endpoints with hot plug on (``pci-root``, ``pci-bridge``, ``pci-expander-bus``).

``--reserve-hotplug N`` asks for exactly N of them in the result; ``--lock-occupied`` turns hot
plug off on the root ports that hold a device the guest must not eject.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator

from ..model.addresses import pci_address
from ..model.connect import Connect
from ..model.domain import Device
from ..xml.document import set_child
from .guest import Guest
from .topology import Bus, Topology

PORT_MODELS = frozenset({"pcie-root-port", "pcie-switch-downstream-port"})
_ENDPOINT = Connect.PCIE | Connect.AUTO | Connect.HOTPLUG
_SLOT = Connect.PCI | Connect.AUTO | Connect.HOTPLUG


def port_kind(pcie_root: bool) -> Connect:
    """What a device hot-plugged into a free port looks like to the placement engine."""
    return _ENDPOINT if pcie_root else _SLOT


def is_port_bus(bus: Bus, pcie_root: bool) -> bool:
    """Whether the empty slots of ``bus`` are hot-pluggable ports (see the module doc)."""
    if pcie_root:
        return bus.model in PORT_MODELS and bus.flags & _ENDPOINT == _ENDPOINT
    return bus.flags & _SLOT == _SLOT


def _phantom(owner: Hashable) -> bool:
    """A slot libvirt's dry run holds back for nothing: it stays empty in the result."""
    return isinstance(owner, tuple) and bool(owner) and owner[0] == "phantom"


def free_ports(topo: Topology, pcie_root: bool) -> list[tuple[int, int]]:
    """(bus, slot) of every free hot-pluggable port; a slot held only by a phantom of the dry
    run counts as free, since the real pass leaves it empty."""
    held: dict[tuple[int, int], bool] = {}
    for bus_index, owner, slot, _function in topo.reservations():
        key = (bus_index, slot)
        held[key] = held.get(key, True) and _phantom(owner)
    out: list[tuple[int, int]] = []
    for bus in topo.buses:
        if not is_port_bus(bus, pcie_root):
            continue
        for slot in range(bus.min_slot, bus.max_slot + 1):
            if held.get((bus.index, slot), True):
                out.append((bus.index, slot))
    return out


def report(guest: Guest) -> None:
    """A note when the result has more free ports than asked: written ports stay, and on a
    conventional root every empty slot of the board is a port."""
    if guest.reserve_hotplug is None or guest.topology is None:
        return
    have = len(free_ports(guest.topology, guest.pcie_root))
    if have > guest.reserve_hotplug:
        where = ("ports the definition already has" if guest.pcie_root
                 else "free slots of the board and its bridges")
        guest.warnings.append((
            "reserve-hotplug-exceeded",
            f"--reserve-hotplug {guest.reserve_hotplug}: the result has {have} free "
            f"hot-pluggable ports, {have - guest.reserve_hotplug} more than asked: {where} "
            "are never taken away"))


# -- locking --------------------------------------------------------------------------------
# Devices a guest may eject through PCI hot plug without harm: a network interface or a host
# device is what one unplugs on purpose. Everything else (disks, controllers, the balloon, ...)
# stays: a guest that ejects its root disk's port loses the disk (kubevirt#17605).
EJECTABLE = frozenset({"interface", "hostdev"})


def _occupants(guest: Guest) -> Iterator[tuple[int, Device]]:
    for dev in guest.dom.devices:
        addr = pci_address(dev)
        if addr is not None:
            yield addr.bus, dev


def lock_occupied(guest: Guest) -> list[Device]:
    """``<target hotplug='off'/>`` on every root or downstream port holding a device that must
    not be ejected; the ports changed, in document order."""
    keep: dict[int, bool] = {}
    for bus, dev in _occupants(guest):
        keep[bus] = keep.get(bus, False) or dev.tag not in EJECTABLE
    changed: list[Device] = []
    for ctrl in guest.dom.controllers:
        if ctrl.type != "pci" or ctrl.model not in PORT_MODELS or not keep.get(ctrl.index):
            continue
        target = ctrl.child("target")
        if target is not None and target.get("hotplug") == "off":
            continue
        if target is None:
            set_child(ctrl.el, "target", {"hotplug": "off"})
        else:
            target.set("hotplug", "off")
        changed.append(ctrl)
    if changed:
        guest.notes.append(
            f"--lock-occupied: hot plug off on {len(changed)} port"
            f"{'s' if len(changed) != 1 else ''} holding a device the guest must not eject")
    return changed
