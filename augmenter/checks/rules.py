"""Validation rules: every bad placement in a hand-written definition, found at once.

Each ``check_*`` function looks at one kind of address or one rule and yields findings; none of
them stops at the first problem. PCI checks replay the user's addresses onto the same topology
engine that placement uses, so a conflict is found by the same code that would hit it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterator

from ..errors import AugmentError
from ..model.addresses import PciAddress, pci_address
from ..model.connect import KINDS, Connect, describe
from ..model.domain import Device, disk_bus, parse_int
from ..model.numbers import number
from ..placement.guest import Guest
from ..placement.topology import Conflict, Topology
from ..placement.usb import MAX_DEPTH, usb_devices
from ..policy.devices import BUS_ACCEPTS, address_ignored, device_flags, pci_class
from ..policy.machines import serial_target
from ..xml.document import Element
from . import capabilities, controllers, cpu, disks, models, platform, unique
from .findings import Finding
from .names import check_names

Check = Callable[[Guest], Iterator[Finding]]

# What each drive bus can hold: (controllers, buses, targets, units); None = no limit
DRIVE_LIMITS: dict[str, tuple[int | None, int, int | None, int | None]] = {
    "ide": (1, 2, 1, 2),
    "fdc": (1, 1, 1, 2),
    "sata": (None, 1, 1, 6),
    "scsi": (None, 1, None, None),  # per model, see SCSI_UNITS
}
# out-of-range drive fields that libvirt itself refuses (the rest only QEMU does)
REFUSED_DRIVE_FIELDS = {
    ("ide", "controller"), ("ide", "target"), ("sata", "bus"), ("sata", "target"),
    ("scsi", "bus"), ("fdc", "controller"), ("fdc", "bus"), ("fdc", "target"),
}
SCSI_UNITS: dict[str | None, int] = {
    "lsilogic": 7, "vmpvscsi": 7, "buslogic": 7, "lsisas1068": 2, "lsisas1078": 256,
    "virtio-scsi": 16384, "ibmvscsi": 32, "ncr53c90": 7, "dc390": 7, "am53c974": 7,
}


def finding(dev: Device | None, code: str, message: str, hint: str | None = None,
            severity: str = "error", at: Element | None = None) -> Finding:
    """A finding about ``dev``, named at the head of the message. Its line is that of ``at``
    (the element with the problem) when given, else the device's ``<address>``, else the
    device's own."""
    line = None
    name = None
    if dev is not None:
        addr = at if at is not None else dev.address
        line = (addr.sourceline if addr is not None and addr.sourceline else dev.line) or None
        name = dev.name()
        if not message.startswith(name):
            message = f"{name}: {message}"
    return Finding(code, severity, message, line, None, name, hint)


# -- controllers ---------------------------------------------------------------------------

def check_controllers(guest: Guest) -> Iterator[Finding]:
    seen: dict[tuple[str | None, int, str | None], Device] = {}
    for ctrl in guest.dom.controllers:
        if ctrl.implicit:
            continue
        usb2 = ctrl.type == "usb" and (ctrl.model or "").startswith("ich9-")
        key = (ctrl.type, ctrl.index, ctrl.model if usb2 else None)
        if key in seen:
            yield finding(ctrl, "duplicate-controller-index",
                          f"{ctrl.name()} is defined twice",
                          f"the first one is on line {seen[key].line}; give this one another "
                          "index", severity="warning" if usb2 else "error")
        else:
            seen[key] = ctrl
        if ctrl.type == "pci":
            yield from _check_pci_controller(guest, ctrl)
        if ctrl.address is not None and address_ignored(ctrl):
            yield finding(ctrl, "ignored-address", "libvirt ignores the address of a USB "
                          "controller with model='none'", "remove the <address>",
                          severity="warning")
        if ctrl.type == "ide" and not guest.builtin_ide:
            yield finding(ctrl, "controller-not-on-machine",
                          f"{guest.machine} has no IDE controller",
                          "use a SATA or virtio disk instead")
        if ctrl.type == "ide" and ctrl.index > 0:
            yield finding(ctrl, "controller-not-on-machine",
                          "Only a single IDE controller is supported",
                          "the PIIX3 IDE controller is index 0")
        if ctrl.type == "usb" and ctrl.model in ("qemu-xhci", "nec-xhci"):
            ports = number(ctrl.el, "ports")  # virXMLPropInt, base 10
            if ports is not None and ports > 15:
                yield finding(ctrl, "usb-ports", f"'{ctrl.model}' controller only supports up "
                              "to '15' ports")
    yield from _check_usb_controllers(guest)


def _check_pci_controller(guest: Guest, ctrl: Device) -> Iterator[Finding]:
    family = guest.family
    model = ctrl.model
    # libvirt asks first whether index 0 is the machine's root bus: a written index 0 of any
    # other model is refused for that, before any rule about the model's own index
    written_at_0 = ctrl.el.get("index") is not None and ctrl.index == 0
    wrong_root = bool(guest.root_model) and model is not None and model != guest.root_model
    if ctrl.index > MAX_PCI_INDEX:
        yield finding(ctrl, "pci-index", f"PCI controller index {ctrl.index} too high, "
                      f"maximum is {MAX_PCI_INDEX}")
    if model in ("pci-root", "pcie-root"):
        if ctrl.index != 0 and not (family is not None and family.phb and model == "pci-root"):
            yield finding(ctrl, "root-index", "pci-root and pcie-root controllers should "
                          "have index 0")
        if ctrl.address is not None:
            yield finding(ctrl, "root-address", "pci-root and pcie-root controllers should "
                          "not have an address", "remove the <address> element")
    elif written_at_0 and model is not None and not wrong_root:
        yield finding(ctrl, "root-index", f"index for {model} controllers must be > 0")
    rootish = model in ("pci-root", "pcie-root") and ctrl.index == 0
    if wrong_root and (rootish or written_at_0):
        yield finding(ctrl, "root-model",
                      f"The PCI controller with index='0' must be model='{guest.root_model}' "
                      f"for this machine type, but model='{model}' was found instead",
                      f"{guest.machine} has a {guest.root_model}")


def _check_usb_controllers(guest: Guest) -> Iterator[Finding]:
    usbs = [c for c in guest.dom.controllers if c.type == "usb" and not c.implicit]
    none = [c for c in usbs if c.model == "none"]
    if none and len(usbs) > 1:
        other = next(c for c in usbs if c.model != "none")
        yield finding(other, "usb-disabled", "Can't add another USB controller: USB is "
                      "disabled for this domain", "remove the controller with model='none'")
    for ctrl in usbs:
        if ctrl.model in ("ich9-uhci1", "ich9-uhci2", "ich9-uhci3") and not any(
                c.model in ("ich9-ehci1", "ehci") and c.index == ctrl.index for c in usbs):
            yield finding(ctrl, "usb-no-master", "No master USB controller specified",
                          f"add an ich9-ehci1 controller with index {ctrl.index}")


# -- PCI -----------------------------------------------------------------------------------

def _explicit_topology(guest: Guest) -> tuple[Topology, int]:
    """The buses the definition names, before anything is added. An index beyond 255 names
    no bus (libvirt refuses it: virDomainControllerDefValidate) and must not make one."""
    controllers = {c.index: c for c in guest.dom.controllers
                   if c.type == "pci" and c.index <= MAX_PCI_INDEX}
    highest = max([*controllers, *(a.bus for d in guest.dom.devices
                                   if (a := _safe_pci(d)) is not None)], default=0)
    topo = Topology()
    for i in range(highest + 1):
        ctrl = controllers.get(i)
        model = ctrl.model if ctrl is not None and ctrl.model else (
            (guest.family.root_model if guest.family else None) if i == 0 else None)
        if model is None:
            # no controller: libvirt will add buses of whatever kind the device needs
            model = "(missing)"
        flags, lo, hi = BUS_ACCEPTS.get(model, _MISSING_BUS)
        if model == "pci-root":
            flags, lo, hi = BUS_ACCEPTS["pci-root"]
        if ctrl is not None:
            target = ctrl.child("target")
            if target is not None and target.get("hotplug") == "off":
                flags &= ~Connect.HOTPLUG
        topo.add_bus(model, flags, lo, hi)
    return topo, len(controllers)


MAX_PCI_INDEX = 255
# A bus without a controller: it accepts anything, as libvirt adds whatever kind fits.
_MISSING_BUS = (Connect.PCI | Connect.PCIE | Connect.BR | Connect.AUTO | Connect.HOTPLUG, 0, 31)


def _safe_pci(dev: Device) -> PciAddress | None:
    try:
        return pci_address(dev)
    except AugmentError:
        return None


def check_pci(guest: Guest) -> Iterator[Finding]:
    if not guest.supports_pci:
        return  # qemuDomainSupportsPCI: libvirt leaves PCI addresses here as written
    if not any(c.type == "pci" for c in guest.dom.controllers):
        for dev in guest.dom.devices:
            if dev.address_type == "pci" and not address_ignored(dev):
                yield finding(dev, "no-pci", f"{guest.machine} has no PCI bus",
                              "remove the PCI address")
        return
    if not any(d.address_type == "pci" for d in guest.dom.devices):
        # Nothing written to check: every rule below is about a user's PCI address (the
        # board's and the chipset's own slots are only replayed to find conflicts with them).
        return
    devices = [d for d in guest.dom.iterate_once()
               if d.address_type == "pci" and not address_ignored(d)]
    for dev in devices:
        try:
            pci_address(dev)
        except AugmentError as err:
            yield finding(dev, "address-out-of-range", err.message)
    topo, _ = _explicit_topology(guest)
    controllers = {c.index for c in guest.dom.controllers if c.type == "pci"}
    owners: dict[Hashable, str] = {}
    root_ok = bool(topo.buses) and topo.buses[0].model == guest.root_model
    if root_ok and guest.board is not None and guest.family is not None:
        builtin = {(b.slot, b.function): b.type for b in guest.board.pci}
        for slot, function in guest.family.reserved_functions(guest.board):
            board_owner = ("board", slot, function)
            owners[board_owner] = f"board's built-in {builtin.get((slot, function), 'device')}"
            topo.reserve(PciAddress(0, slot, function), Connect.PCI, board_owner, explicit=True)
    pinned = {(p.type, p.index): p for p in (guest.family.pinned if guest.family else ())}
    pinned_at: set[Device] = set()
    for pin in pinned.values() if root_ok else ():
        owner: Hashable
        ctrl = guest.dom.controller(pin.type, pin.index)
        if ctrl is not None:
            if pin.models is not None and ctrl.model not in pin.models:
                continue
            at = _safe_pci(ctrl)
            if at is not None and (at.bus, at.slot, at.function) != (0, pin.slot, pin.function):
                continue  # reported below as pinned-address
            owner = ctrl
            owners[owner] = f"{ctrl.name()}, which libvirt always puts there"
            pinned_at.add(ctrl)
        elif pin.type == "ide" and any(disk_bus(d) == "ide" for d in guest.dom.of("disk")):
            owner = ("pinned", pin.type, pin.index)
            owners[owner] = "IDE controller libvirt adds there for the IDE disks"
        else:
            continue
        topo.reserve(PciAddress(0, pin.slot, pin.function), Connect.PCI, owner, explicit=True)
    for dev in devices:
        addr = _safe_pci(dev)
        if addr is None:
            continue
        if dev.tag == "controller" and dev.model in ("pci-root", "pcie-root"):
            continue
        if dev in pinned_at:
            continue  # already holds its fixed address
        fixed = pinned.get((dev.type or "", dev.index)) if dev.tag == "controller" else None
        if fixed is not None and (fixed.models is None or dev.model in fixed.models) and (
                (addr.bus, addr.slot, addr.function) != (0, fixed.slot, fixed.function)):
            yield finding(dev, "pinned-address", fixed.message,
                          f"leave the address out and augment will put it at "
                          f"00:{fixed.slot:02x}.{fixed.function}")
            continue
        if addr.bus not in controllers and addr.bus != 0:
            yield finding(dev, "missing-controller",
                          f"{dev.name()}: PCI bus {addr.bus:#04x} has no controller",
                          "libvirt will add the missing buses; write the controllers to be "
                          "sure which kind you get", severity="warning")
        flags = device_flags(dev, guest.pcie_root, guest.virtio_pcie) or Connect.PCI
        yield from _reserve_one(guest, topo, dev, addr, flags, owners)
    board = guest.board
    board_slots = {(0, b.slot) for b in board.pci if b.function == 0} if board else set()
    yield from _check_multifunction(devices, board_slots)


def _reserve_one(guest: Guest, topo: Topology, dev: Device, addr: PciAddress, flags: Connect,
                 owners: dict[Hashable, str]) -> Iterator[Finding]:
    bus = topo.buses[addr.bus]
    if not topo.fits(flags, bus, explicit=True):
        code = "integrated-device" if flags & Connect.INTEGRATED else "wrong-bus-kind"
        yield finding(dev, code, f"{dev.name()} at {addr} cannot be plugged into controller "
                      f"index {bus.index} ({bus.model}): {topo.why_not(flags, bus)}",
                      "leave the address out and augment will pick a bus that fits")
        return
    if addr.slot < bus.min_slot or addr.slot > bus.max_slot:
        if bus.max_slot == 0:
            hint = f"a {bus.model} has a single slot, 0"
        elif addr.slot == 0:
            hint = f"slot 0 of a {bus.model} is reserved (use 1 to {bus.max_slot:#x})"
        else:
            hint = f"use a slot from {bus.min_slot:#x} to {bus.max_slot:#x}"
        yield finding(dev, "slot-out-of-range", f"{dev.name()}: slot {addr.slot:#x} is not "
                      f"usable on controller index {bus.index} ({bus.model})", hint)
        return
    if not bus.function_free(addr.slot, addr.function):
        other = next((o for s, f, o in topo.occupants(addr.bus)
                      if (s, f) == (addr.slot, addr.function)), None)
        if other in owners:
            yield finding(dev, "reserved-slot",
                          f"{dev.name()}: PCI address {addr} is taken by the {owners[other]}",
                          f"slot {addr.slot:#x} function {addr.function} on {guest.machine} "
                          f"is the {owners[other]}; leave the address out and augment will "
                          "place it")
        else:
            name = other.name() if isinstance(other, Device) else "another device"
            line = other.line if isinstance(other, Device) else None
            yield finding(dev, "pci-conflict",
                          f"{dev.name()}: Attempted double use of PCI Address {addr} "
                          f"(also used by {name}{f' on line {line}' if line else ''})",
                          "give one of them another slot, or leave its address out")
        return
    try:
        topo.reserve(addr, flags, dev, explicit=True)
    except Conflict as exc:  # pragma: no cover - the checks above cover every reason
        yield finding(dev, "pci-conflict", str(exc))
        return
    if dev.tag in ("controller", "video", "sound"):
        return  # libvirt itself puts these on the root bus; nothing to warn about
    if not bus.flags & Connect.HOTPLUG:
        yield finding(dev, "no-hotplug", f"{dev.name()} sits on controller index {bus.index} "
                      f"({bus.model}), which does not support hot-plug",
                      "it cannot be hot-unplugged; put it behind a root port or bridge to "
                      "allow that", severity="warning")
    kinds = flags & KINDS
    if bus.model == "pcie-root" and kinds == Connect.PCI:
        yield finding(dev, "pci-on-pcie-root", f"{dev.name()} is a conventional PCI device "
                      "on the PCIe root bus", "libvirt puts such devices behind a "
                      "pcie-to-pci-bridge", severity="warning")
    if kinds == Connect.PCIE and bus.flags & KINDS & Connect.PCIE == 0 and (
            bus.flags & Connect.PCI):
        yield finding(dev, "pcie-on-pci", f"{dev.name()} is a PCI Express device on a "
                      f"conventional PCI bus ({bus.model})",
                      f"it works as {describe(Connect.PCI)} there", severity="warning")


def _check_multifunction(devices: list[Device],
                         board_slots: set[tuple[int, int]]) -> Iterator[Finding]:
    slots: dict[tuple[int, int], dict[int, Device]] = defaultdict(dict)
    for dev in devices:
        addr = _safe_pci(dev)
        if addr is not None:
            slots[(addr.bus, addr.slot)][addr.function] = dev
    for (bus, slot), functions in slots.items():
        if len(functions) == 1 and 0 in functions:
            continue
        head = functions.get(0)
        if head is None and (bus, slot) in board_slots:
            continue  # the board's own function 0 (pc 00:01.0, q35 00:1f.0)
        if head is None:
            dev = functions[min(functions)]
            yield finding(dev, "multifunction-no-function0",
                          f"{dev.name()} uses function {min(functions)} of slot "
                          f"{bus:02x}:{slot:02x} but nothing is at function 0",
                          "QEMU refuses to start a guest with a slot without function 0",
                          severity="warning")
        elif head.address is not None and head.address.get("multifunction") == "off":
            yield finding(head, "multifunction-off",
                          f"{head.name()} has multifunction='off' but slot {bus:02x}:{slot:02x} "
                          "has other functions in use", "set multifunction='on'",
                          severity="warning")


# -- drives --------------------------------------------------------------------------------

def check_drives(guest: Guest) -> Iterator[Finding]:
    seen_targets: dict[str, Device] = {}
    used: dict[tuple[str, int, int, int, int], Device] = {}
    scsi_models = {c.index: c.model for c in guest.dom.controllers if c.type == "scsi"}
    default_scsi = (guest.family.scsi_model if guest.family else None) or "lsilogic"
    for disk in guest.dom.of("disk"):
        dev_name = disk.target("dev")
        if dev_name:
            if dev_name in seen_targets:
                yield finding(disk, "duplicate-target",
                              f"target '{dev_name}' duplicated for two disks",
                              f"the other disk is on line {seen_targets[dev_name].line}")
            seen_targets.setdefault(dev_name, disk)
        bus = disk_bus(disk)
        atype = disk.address_type
        if bus in DRIVE_LIMITS and atype not in (None, "drive"):
            yield finding(disk, "address-type", f"Invalid address type '{atype}' for the disk "
                          f"'{dev_name}' with the bus type '{bus}'",
                          "a disk on this bus takes <address type='drive'>")
        if bus == "virtio" and atype not in (None, "pci", "ccw", "virtio-mmio"):
            yield finding(disk, "address-type", f"virtio disk '{dev_name}' cannot have an "
                          f"address of type '{atype}'", "give it a PCI address or none")
    drive_devs = [d for d in guest.dom.of("disk") if d.address_type == "drive"] + [
        h for h in guest.dom.of("hostdev") if h.type == "scsi" and h.address_type == "drive"]
    for dev in drive_devs:
        bus = disk_bus(dev) if dev.tag == "disk" else "scsi"
        a = dev.address
        assert a is not None
        ctrl_i, bus_i, target_i, unit_i = (parse_int(a.get(k), 0) or 0
                                           for k in ("controller", "bus", "target", "unit"))
        key = (bus or "?", ctrl_i, bus_i, target_i, unit_i)
        if key in used:
            other = used[key]
            yield finding(dev, "drive-conflict",
                          f"{dev.name()}: drive address controller={key[1]} bus={key[2]} "
                          f"target={key[3]} unit={key[4]} is in use by {other.name()}",
                          "give one of them another unit, or leave its address out")
        used.setdefault(key, dev)
        if bus not in DRIVE_LIMITS:
            continue
        ctrls, buses, targets, units = DRIVE_LIMITS[bus]
        if bus == "scsi":
            model = scsi_models.get(ctrl_i, default_scsi)
            units = SCSI_UNITS.get(model)
            if model == "lsilogic" and target_i != 0:
                yield finding(dev, "drive-out-of-range", "target must be 0 for controller "
                              "model 'lsilogic'")
        for name, value, limit in (("controller", ctrl_i, ctrls), ("bus", bus_i, buses),
                                   ("target", target_i, targets), ("unit", unit_i, units)):
            if limit is None or value < limit:
                continue
            # libvirt refuses some fields at define time; the others it defines, and QEMU
            # refuses to start the guest
            refused = (bus, name) in REFUSED_DRIVE_FIELDS
            yield finding(dev, "drive-out-of-range",
                          f"{dev.name()}: {bus} {name} {value} is beyond the controller's "
                          "capacity" + ("" if refused else "; QEMU will refuse to start the "
                                        "guest"),
                          f"{bus} allows {name} 0 to {limit - 1}",
                          severity="error" if refused else "warning")


# -- virtio-serial, USB, CCID --------------------------------------------------------------

def check_virtio_serial(guest: Guest) -> Iterator[Finding]:
    used: dict[tuple[int, int], Device] = {}
    ports = {c.index: number(c.el, "ports") or 31
             for c in guest.dom.controllers if c.type == "virtio-serial"}
    for dev in guest.dom.of("channel") + guest.dom.of("console"):
        a = dev.address
        if a is None or a.get("type") != "virtio-serial" or not parse_int(a.get("port"), 0):
            continue
        key = (parse_int(a.get("controller"), 0) or 0, parse_int(a.get("port"), 0) or 0)
        if key in used:
            yield finding(dev, "vserial-conflict", f"{dev.name()}: virtio serial port "
                          f"{key[1]} on controller {key[0]} is already occupied by "
                          f"{used[key].name()}", "leave the address out")
        used.setdefault(key, dev)
        if key[0] in ports and key[1] >= ports[key[0]]:
            yield finding(dev, "vserial-out-of-range", f"virtio-serial controller {key[0]} "
                          f"does not have port {key[1]}", f"ports are 1 to {ports[key[0]] - 1}")


def check_usb(guest: Guest) -> Iterator[Finding]:
    devices = usb_devices(guest)
    usbs = [c for c in guest.dom.controllers if c.type == "usb"]
    enabled = {c.index for c in usbs if c.model != "none"}
    if devices and usbs and not enabled:
        yield finding(devices[0], "usb-disabled", f"{devices[0].name()}: USB is disabled for "
                      "this domain (controller model='none')", "remove model='none' or the "
                      "USB device")
        return
    seen: dict[tuple[int, str], Device] = {}
    for dev in devices:
        a = dev.address
        if a is None or a.get("type") != "usb" or a.get("port") in (None, "", "0"):
            continue
        port = a.get("port") or ""
        bus = parse_int(a.get("bus"), 0) or 0
        parts = port.split(".")
        if not all(p.isdigit() for p in parts) or len(parts) > MAX_DEPTH:
            yield finding(dev, "usb-port-path", f"{dev.name()}: cannot parse USB port "
                          f"'{port}'", f"a port path has 1 to {MAX_DEPTH} numbers")
            continue
        if bus not in enabled and usbs:
            yield finding(dev, "missing-controller", f"USB bus {bus} requested but no "
                          "controller with that index is present")
        if (bus, port) in seen:
            yield finding(dev, "usb-conflict", f"Duplicate USB address bus {bus} port {port}",
                          f"also used by {seen[(bus, port)].name()}")
        seen.setdefault((bus, port), dev)


def check_ccid(guest: Guest) -> Iterator[Finding]:
    cards = guest.dom.of("smartcard")
    for card in cards[1:]:
        yield finding(card, "smartcard-count", "this QEMU binary lacks multiple smartcard "
                      "support", "a guest can have one <smartcard>")
    for card in cards:
        a = card.address
        if a is not None and a.get("type") != "ccid":
            yield finding(card, "address-type", "smartcard device must use address type ccid")


def check_devices(guest: Guest) -> Iterator[Finding]:
    for con in guest.dom.of("console")[1:]:
        if con.target("type") == "serial":
            yield finding(con, "console-serial", "Only the first console can be a serial port",
                          "make it a virtio console, or put it first")
    default_panic = (guest.family.panic if guest.family else None) or "isa"
    for panic in guest.dom.of("panic"):
        model = panic.model or default_panic
        if model in ("pseries", "s390", "hyperv") and panic.address is not None:
            yield finding(panic, "address-type", "setting the panic device address is not "
                          f"supported for model '{model}'", "remove the <address>")
    for host in guest.dom.of("hostdev"):
        if host.type == "mdev" and host.el.get("model") == "vfio-ccw" and (
                host.address_type not in (None, "ccw")):
            yield finding(host, "address-type", f"Unsupported address type "
                          f"'{host.address_type}' with mediated device model 'vfio-ccw'")
    if guest.family is not None and guest.family.phb:
        for ctrl in guest.dom.controllers:
            target = ctrl.el.find("target")
            index = number(target, "index", "i", 0) if target is not None else None
            if ctrl.type == "pci" and index is not None and (index == 0) != (ctrl.index == 0):
                yield finding(ctrl, "phb-target-index", "Only the PCI controller with index 0 "
                              "can have target index 0, and vice versa")
    for iommu in guest.dom.of("iommu"):
        if iommu.model == "virtio" and iommu.address_type not in (None, "pci"):
            yield finding(iommu, "address-type", "IOMMU device: 'virtio' needs a PCI address")
    for dev in guest.dom.devices:
        if dev.tag in _NEVER_PCI_UNLESS_CLASSED and dev.address_type == "pci" and (
                pci_class(dev) is None):
            yield finding(dev, "address-type", f"{dev.name()} cannot have a PCI address")


# The address each serial target type takes (libvirt 9.0, qemuValidateDomainChrTargetDef);
# None: it is a board's own port and takes no address at all.
SERIAL_TARGET_ADDRESS: dict[str, str | None] = {
    "isa-serial": "isa", "isa-debug": "isa", "usb-serial": "usb", "pci-serial": "pci",
    "spapr-vio-serial": "spapr-vio", "system-serial": None, "sclp-serial": None,
}


def serial_target_type(guest: Guest, serial: Device) -> str | None:
    """The target type libvirt gives a serial port: the written one, except that none and
    ``isa-serial`` (historically the same) become the machine's default."""
    return serial_target(guest.family, serial.target("type"))


def check_serial_addresses(guest: Guest) -> Iterator[Finding]:
    """A serial port's address must be of the kind its target type plugs into."""
    for serial in guest.dom.of("serial"):
        atype = serial.address_type
        target = serial_target_type(guest, serial)
        if atype is None or target not in SERIAL_TARGET_ADDRESS:
            continue
        expected = SERIAL_TARGET_ADDRESS[target]
        if expected is None:
            yield finding(serial, "address-type", f"Target type '{target}' cannot have an "
                          "associated address", "remove the <address>")
        elif atype != expected:
            message = (  # the parser's own words come first for a USB serial
                "usb-serial requires address of usb type" if target == "usb-serial"
                else f"Target type '{target}' requires address type '{expected}'")
            yield finding(serial, "address-type", message,
                          f"write <address type='{expected}' ...> or leave the address out")


# Kinds whose PCI address is refused when their model makes them no PCI device.
_NEVER_PCI_UNLESS_CLASSED = frozenset(
    {"input", "watchdog", "panic", "tpm", "hub", "redirdev", "smartcard"})


CHECKS: tuple[Check, ...] = (
    check_controllers, check_pci, check_drives, check_virtio_serial, check_usb,
    check_ccid, check_devices, check_serial_addresses, check_names,
    # the define-time rules, a module per topic, each citing libvirt's function
    *cpu.CHECKS, *platform.CHECKS, *unique.CHECKS, *models.CHECKS, *capabilities.CHECKS,
    *disks.CHECKS, *controllers.CHECKS,
)


def run_checks(guest: Guest) -> list[Finding]:
    """Every finding of every rule, sorted by line."""
    return ordered(_unshadowed([f for check in CHECKS for f in check(guest)]))


def ordered(findings: list[Finding]) -> list[Finding]:
    """Findings by line; on a line, errors first."""
    return sorted(findings, key=lambda f: (f.line or 0, f.severity != "error", f.code))


SHADOWED = frozenset({"unlisted-value", "duplicate-element"})


def _unshadowed(findings: list[Finding]) -> list[Finding]:
    """Without a value the schema does not list, or a second copy of an element, on a line
    where an error already says what libvirt makes of it: libvirt refuses the value, or the
    second device (a second watchdog), and that is the finding that matters."""
    refused = {f.line for f in findings if f.severity == "error"}
    return [f for f in findings if f.code not in SHADOWED or f.line not in refused]
