"""``--convert-to q35|pc``: re-home an x86 guest onto the other chipset (docs/placement.md §24).

Moving a guest between i440FX (pc) and Q35 by hand means stripping addresses, dropping the
IDE controller, renaming disks, swapping ``pci-root`` for ``pcie-root``, ... and every step
missed is an opaque error at define time (virt-manager#719, #398; unraid/webgui#2103). This
module does it to the definition as written, before anything else runs, and says what it did,
one :class:`Change` per edit. Then augment places the guest on its new board as usual.

What changes, as data (the tables below):

* the machine type: ``pc``/``pc-i440fx-X.Y`` <-> ``q35``/``pc-q35-X.Y`` (the same version
  when QEMU has it);
* PCI controllers: the root changes model; every other PCI controller goes (its buses belong
  to the old board's topology; libvirt adds what the new board needs);
* controllers the new board does not have: IDE on q35; on pc, the SATA controller when no
  SATA disk is left;
* disks: IDE -> SATA on q35; SATA -> IDE on pc for as many as IDE holds (2 buses of 2 units),
  the rest stay SATA (an AHCI controller on pc's PCI bus); a renamed disk keeps its index when
  that name is free, and its drive address is derived again from the new name;
* models only one board takes: ``ich6`` <-> ``ich9`` sound, USB 1 controllers on pc (PIIX3/4
  UHCI) -> ``qemu-xhci`` on q35, the Intel IOMMU (q35 only), secure boot (q35 only);
* PCI addresses: kept when they still fit the new board as libvirt would place the device (a
  bus that survives, a slot the new board leaves free); dropped otherwise, and libvirt places
  the device again. On q35 that drops every root-bus endpoint address of a pc guest:
  ``pcie-root`` takes endpoints only where a user writes them, without hot plug.

MACs, names, sources and everything else stay as written.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass

from ..boards.records import Emulator
from ..errors import AugmentError
from ..model.addresses import pci_address
from ..model.domain import Device, Domain, disk_bus, disk_index, disk_name
from ..policy.machines import I440FX, Q35, family_of

TARGETS = ("q35", "pc")

# model changes that must happen, per target: (tag, what) -> {old: new}
SOUND = {"q35": {"ich6": "ich9"}, "pc": {"ich9": "ich6"}}
USB = {"q35": {"piix3-uhci": "qemu-xhci", "piix4-uhci": "qemu-xhci"}, "pc": {}}
IDE_UNITS = 4  # pc: one PIIX3 IDE controller, 2 buses x 2 units (hda-hdd)
# pc root-bus slots that are not free for a kept address: the host bridge, the PIIX3
PC_TAKEN_SLOTS = frozenset({0, 1})


@dataclass(frozen=True)
class Change:
    """One edit ``--convert-to`` made: to which device, and what."""

    device: str
    change: str
    line: int | None = None

    def render(self, label: str) -> str:
        where = f"{label}:{self.line}" if self.line else label
        return f"{where}: converted: {self.device}: {self.change}"

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _versioned(machine: str, target: str, emulator: Emulator) -> str:
    """``pc-i440fx-7.2`` -> ``pc-q35-7.2`` (and back) when QEMU has it, else the alias."""
    m = re.fullmatch(r"pc-(?:i440fx|q35)-(\d+\.\d+)", emulator.canonical(machine))
    if m:
        name = f"pc-{'q35' if target == 'q35' else 'i440fx'}-{m.group(1)}"
        if name in emulator.machines:
            return name
    return target


class Converter:
    def __init__(self, dom: Domain, target: str, emulator: Emulator) -> None:
        self.dom = dom
        self.target = target
        self.emulator = emulator
        self.changes: list[Change] = []
        self.gone: set[int] = set()  # PCI buses (controller indexes) that are removed
        # the disk indexes each name prefix has taken, counted (two disks may share a name),
        # kept as disks are renamed: a walk over every disk per disk was quadratic
        self._names: dict[str, Counter[int]] = {}
        self._lowest: dict[str, int] = {}  # no index below it is free, per prefix

    def note(self, dev: Device | None, change: str, device: str = "") -> None:
        name = device or (dev.name() if dev is not None else "domain")
        self.changes.append(Change(name, change, dev.line or None if dev else None))

    def remove(self, dev: Device, why: str) -> None:
        self.note(dev, f"removed: {why}")
        self.dom.remove(dev)

    def run(self) -> list[Change]:
        dom = self.dom
        family = family_of(dom.arch, self.emulator.canonical(dom.machine or "pc"))
        if family not in (I440FX, Q35):
            raise AugmentError(f"--convert-to converts x86 pc and q35 guests; this one is "
                               f"{dom.machine or 'of no machine type'} ({dom.arch})",
                               line=dom.os_type.sourceline if dom.os_type is not None else None)
        source = "q35" if family is Q35 else "pc"
        if source == self.target:
            return []
        machine = _versioned(dom.machine or source, self.target, self.emulator)
        assert dom.os_type is not None  # family_of found one
        dom.os_type.set("machine", machine)
        self.changes.append(Change("machine", f"{dom.machine} -> {machine}",
                                   dom.os_type.sourceline))
        self.controllers()
        self.disks()
        self.models()
        self.addresses()
        self.firmware()
        return self.changes

    # -- controllers --------------------------------------------------------------------
    def controllers(self) -> None:
        root = "pcie-root" if self.target == "q35" else "pci-root"
        for ctrl in list(self.dom.controllers):
            if ctrl.type == "pci":
                if ctrl.index == 0:
                    if ctrl.model and ctrl.model != root:
                        self.note(ctrl, f"model {ctrl.model} -> {root}")
                        ctrl.set_model(root)
                        for child in ("model", "target"):
                            el = ctrl.child(child)
                            if el is not None:
                                ctrl.el.remove(el)
                    continue
                self.gone.add(ctrl.index)
                self.remove(ctrl, f"a {ctrl.model or 'PCI'} of the old board's topology "
                                  "(libvirt adds the buses the new board needs)")
            elif ctrl.type == "ide" and self.target == "q35":
                self.remove(ctrl, "q35 has no IDE controller (its disks move to SATA)")

    # -- disks ------------------------------------------------------------------------------
    def _taken(self, prefix: str) -> Counter[int]:
        """The indexes of the disk names that start with ``prefix``."""
        taken = self._names.get(prefix)
        if taken is None:
            taken = self._names[prefix] = Counter(
                i for d in self.dom.disks
                if (i := disk_index(d.target("dev") or "")) is not None
                and (d.target("dev") or "").startswith(prefix))
            self._lowest[prefix] = 0
        return taken

    def _free_index(self, prefix: str, limit: int) -> int | None:
        """The lowest index of ``prefix`` no disk name has, below ``limit``."""
        taken = self._taken(prefix)
        index = next((i for i in range(self._lowest[prefix], limit) if not taken[i]), None)
        if index is not None:
            self._lowest[prefix] = index
        return index

    def _renamed(self, old: str, new: str) -> None:
        """Keep the counts of :meth:`_taken` true after a disk named ``old`` took ``new``."""
        for prefix, taken in self._names.items():
            for name, step in ((old, -1), (new, 1)):
                i = disk_index(name)
                if i is not None and name.startswith(prefix):
                    taken[i] += step
                    if step < 0 and not taken[i]:
                        self._lowest[prefix] = min(self._lowest[prefix], i)

    def _rename(self, disk: Device, bus: str, prefix: str, limit: int | None) -> bool:
        """Move ``disk`` to ``bus`` with a free name of ``prefix``; False when none is free
        below ``limit``."""
        target = disk.child("target")
        assert target is not None
        old = target.get("dev") or ""
        old_bus = disk_bus(disk)
        index = disk_index(old)
        taken = self._taken(prefix)
        if index is None or taken[index] or (limit is not None and index >= limit):
            index = self._free_index(prefix, limit or 1 << 16)
            if index is None:
                return False
        new = disk_name(prefix, index)
        self._renamed(old, new)
        target.set("dev", new)
        target.set("bus", bus)
        change = f"bus {old_bus} -> {bus}, target {old} -> {new}"
        address = disk.address
        if address is not None and address.get("type") == "drive":
            disk.el.remove(address)
            disk.set_address(None)
            change += " (drive address derived again from the name)"
        self.changes.append(Change(f"disk {old}", change, disk.line or None))
        return True

    def disks(self) -> None:
        if self.target == "q35":
            for disk in list(self.dom.disks):
                if disk_bus(disk) == "ide":
                    self._rename(disk, "sata", "sd", None)
            return
        moved = 0
        for disk in list(self.dom.disks):
            if disk_bus(disk) != "sata":
                continue
            if moved < IDE_UNITS and self._rename(disk, "ide", "hd", IDE_UNITS):
                moved += 1
            else:
                self.note(disk, "stays on SATA: pc's IDE controller holds 4 drives "
                                "(an AHCI controller on pc's PCI bus holds the rest)")
        if not any(disk_bus(d) == "sata" for d in self.dom.disks):
            for ctrl in list(self.dom.controllers):
                if ctrl.type == "sata":
                    self.remove(ctrl, "pc has no built-in SATA controller and no SATA disk "
                                      "is left")

    # -- models -----------------------------------------------------------------------------
    def models(self) -> None:
        for sound in self.dom.of("sound"):
            new = SOUND[self.target].get(sound.model or "")
            if new:
                self.note(sound, f"model {sound.model} -> {new}")
                sound.set_model(new)
        for ctrl in list(self.dom.controllers):
            if ctrl.type != "usb":
                continue
            new = USB[self.target].get(ctrl.model or "")
            if new:
                self.note(ctrl, f"model {ctrl.model} -> {new}")
                ctrl.set_model(new)
        if self.target == "pc":
            for iommu in self.dom.of("iommu"):
                if iommu.model == "intel":
                    self.remove(iommu, "the Intel IOMMU is a q35 device")

    def firmware(self) -> None:
        loader = self.dom.root.find("os/loader")
        if self.target == "pc" and loader is not None and loader.get("secure") == "yes":
            del loader.attrib["secure"]
            self.changes.append(Change("os loader", "secure='yes' removed: libvirt supports "
                                       "secure boot on q35 only", loader.sourceline))

    # -- addresses --------------------------------------------------------------------------
    def _fits(self, dev: Device) -> bool:
        """Whether the device's PCI address still fits the new board as libvirt would
        place it (see the module doc)."""
        addr = pci_address(dev)
        if addr is None:
            return True
        if addr.bus in self.gone or addr.bus != 0 or self.target == "q35":
            return False
        if addr.slot in PC_TAKEN_SLOTS:
            return False
        if addr.function == 0:
            return True
        head = next((d for d in self.dom.devices if d is not dev and (
            a := pci_address(d)) is not None and a.bus == 0 and a.slot == addr.slot
            and a.function == 0), None)
        return head is not None and self._fits(head)

    def addresses(self) -> None:
        drop = [d for d in self.dom.devices if d.address is not None
                and d.address.get("type") == "pci" and not self._fits(d)]
        for dev in drop:
            addr = pci_address(dev)
            where = "its bus is removed" if addr is not None and addr.bus in self.gone else (
                "libvirt places it on the new board")
            self.note(dev, f"PCI address {addr} dropped: {where}")
            assert dev.address is not None
            dev.el.remove(dev.address)
            dev.set_address(None)


def convert(dom: Domain, target: str, emulator: Emulator) -> list[Change]:
    """Re-home the guest in ``dom`` (its XML, in place) onto ``target``; every change made."""
    if target not in TARGETS:
        raise AugmentError(f"--convert-to takes q35 or pc, not '{target}'")
    return Converter(dom, target, emulator).run()
