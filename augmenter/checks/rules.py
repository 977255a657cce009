"""Validation rules: every bad placement in a hand-written definition, found at once.

Each ``check_*`` function looks at one kind of address or one rule and yields findings; none of
them stops at the first problem. PCI checks replay the user's addresses onto the same topology
engine that placement uses, so a conflict is found by the same code that would hit it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from operator import attrgetter

from ..errors import AugmentError
from ..model.addresses import PciAddress, pci_address
from ..model.connect import KINDS, Connect, describe
from ..model.domain import Device, disk_bus
from ..model.values import (
    CONTROLLER_PORTS,
    DriveValue,
    Unreadable,
    UsbValue,
    VirtioSerialValue,
    field_value,
    target_option,
)
from ..placement import pci, vserial
from ..placement.defaults import implies_controller
from ..placement.guest import Guest
from ..placement.topology import (
    INTEGRATED,
    Bus,
    Conflict,
    FutureController,
    Occupant,
    cannot_plug,
    double_use,
    why_not,
)
from ..placement.usb import duplicate_ports, usb_devices
from ..policy.devices import (
    DRIVE_BUSES,
    ICH9_USB2,
    MAX_PCI_INDEX,
    NO_SCSI_LIMIT,
    ROOT_MODELS,
    SCSI_UNITS,
    SERIAL_TARGET_ADDRESS,
    VIRTIO_DISK_ADDRESSES,
    XHCI_MODELS,
    address_ignored,
    usb_model,
)
from ..policy.machines import serial_target
from ..policy.messages import (
    SMARTCARD_NOT_CCID,
    USB_DISABLED,
    usb_bus_missing,
    usb_duplicate,
    vserial_no_controller,
)
from ..xml.document import Element
from . import capabilities, controllers, cpu, disks, models, platform, unique
from .findings import Finding, make
from .located import named
from .names import Found, check_names

Check = Callable[[Guest], Iterator[Finding]]

def finding(dev: Device | None, code: str, message: str, hint: str | None = None,
            severity: str = "error", at: Element | None = None) -> Finding:
    """A finding about ``dev``, named at the head of the message. Its line is that of ``at``
    (the element with the problem) when given, else the device's ``<address>``, else the
    device's own."""
    if dev is None:
        return make(code, severity, message, None, None, None, hint)
    addr = at if at is not None else dev.address
    line = (addr.sourceline if addr is not None else None) or dev.line or None
    name, message = named(dev.name(), message)
    return make(code, severity, message, line, None, name, hint)


def alike(devices: Iterable[Device], code: str, message: str, hint: str) -> Iterator[Finding]:
    """``finding(dev, code, message, hint)`` for each of ``devices``, the same refusal of
    many (half a million consoles that cannot be serial): each name is put at the head of
    the message once."""
    heads: dict[str, tuple[str, str]] = {}
    for dev in devices:
        addr = dev.address
        line = (addr.sourceline if addr is not None else None) or dev.line or None
        name = dev.name()
        head = heads.get(name)
        if head is None:
            head = heads[name] = named(name, message)
        yield make(code, "error", head[1], line, None, head[0], hint)


# -- controllers ---------------------------------------------------------------------------

def check_controllers(guest: Guest) -> Iterator[Finding]:
    seen: dict[tuple[str | None, int, str | None], Device] = {}
    for ctrl in guest.dom.controllers:
        if ctrl.implicit:
            continue
        usb2 = ctrl.type == "usb" and ctrl.model in ICH9_USB2
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
        if ctrl.type == "usb" and ctrl.model in XHCI_MODELS:
            ports = field_value(ctrl.el, CONTROLLER_PORTS)
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
    if model in ROOT_MODELS:
        if ctrl.index != 0 and not (family is not None and family.phb and model == "pci-root"):
            yield finding(ctrl, "root-index", "pci-root and pcie-root controllers should "
                          "have index 0")
        if ctrl.address is not None:
            yield finding(ctrl, "root-address", "pci-root and pcie-root controllers should "
                          "not have an address", "remove the <address> element")
    elif written_at_0 and model is not None and not wrong_root:
        yield finding(ctrl, "root-index", f"index for {model} controllers must be > 0")
    rootish = model in ROOT_MODELS and ctrl.index == 0
    if wrong_root and (rootish or written_at_0):
        yield finding(ctrl, "root-model",
                      f"The PCI controller with index='0' must be model='{guest.root_model}' "
                      f"for this machine type, but model='{model}' was found instead",
                      f"{guest.machine} has a {guest.root_model}")


def _check_usb_controllers(guest: Guest) -> Iterator[Finding]:
    usbs = [c for c in guest.dom.controllers if c.type == "usb" and not c.implicit]
    none = [c for c in usbs if c.model == "none"]
    if none and len(usbs) > 1:
        # the controller besides the first 'none' (a second 'none' is refused alike)
        other = next((c for c in usbs if c.model != "none"), None) or none[1]
        yield finding(other, "usb-disabled", "Can't add another USB controller: USB is "
                      "disabled for this domain", "remove the controller with model='none'")
    # virDomainDefParseXML: some USB controller must be a master, one without <master>; the
    # ICH9 UHCI companions get one when they have none (virDomainControllerDefParseXML)
    others = [c for c in usbs if c.model != "none"]
    if others and all(c.child("master") is not None or usb_model(c).master_port is not None
                      for c in others):
        ctrl = others[0]
        yield finding(ctrl, "usb-no-master", "No master USB controller specified",
                      f"add an ich9-ehci1 controller with index {ctrl.index}")


# -- PCI -----------------------------------------------------------------------------------

def check_pci(guest: Guest) -> Iterator[Finding]:
    """Every written PCI address, replayed through placement's own reservations: the buses the
    definition names (pci.build_topology, grown as libvirt's dry run grows them), the board's
    functions and the controllers libvirt pins, then each device as it is written."""
    if not guest.supports_pci:
        return  # qemuDomainSupportsPCI: libvirt leaves PCI addresses here as written
    addressed = [d for d in guest.dom.devices if d.address is not None]  # few of them, mostly
    if not any(c.type == "pci" for c in guest.dom.controllers):
        for dev in addressed:
            if dev.address_type == "pci" and not address_ignored(dev):
                yield finding(dev, "no-pci", f"{guest.machine} has no PCI bus",
                              "remove the PCI address")
        return
    if not any(d.address_type == "pci" for d in addressed):
        # Nothing written to check: every rule below is about a user's PCI address (the
        # board's and the chipset's own slots are only replayed to find conflicts with them).
        return
    devices = [d for d in guest.dom.iterate_once()
               if d.address_type == "pci" and not address_ignored(d)]
    replay = pci.Pass(guest, pci.build_topology(guest, pci.bus_count(guest)), dry=True,
                      needs=pci.Needs(guest))
    topo = replay.topo
    controllers = {c.index for c in guest.dom.controllers if c.type == "pci"}
    owners: dict[Occupant, str] = {}
    root_ok = bool(topo.buses) and topo.buses[0].model == guest.root_model
    for builtin in pci.board_functions(guest) if root_ok else ():
        owners[builtin] = f"board's built-in {builtin.type}"
        replay.take(None, PciAddress(0, builtin.slot, builtin.function), Connect.PCI, True,
                    builtin)
    pinned = {(p.type, p.index): p for p in (guest.family.pinned if guest.family else ())}
    present = dict(pci.pinned_controllers(guest))
    pinned_at: set[Device] = set()
    for pin in pinned.values() if root_ok else ():
        at = PciAddress(0, pin.slot, pin.function)
        ctrl = present.get(pin)
        if ctrl is not None:
            written = pci_address(ctrl)
            if written is not None and written != at:
                continue  # reported below as pinned-address
            owners[ctrl] = f"{ctrl.name()}, which libvirt always puts there"
            pinned_at.add(ctrl)
            replay.take(ctrl, at, Connect.PCI, True)
        elif guest.dom.controller(pin.type, pin.index) is None and implies_controller(
                guest, pin.type, pin.index):
            future = FutureController(pin.type, pin.index)
            owners[future] = (f"{pin.type.upper()} controller libvirt adds there for the "
                              f"{pin.type.upper()} disks")
            replay.take(None, at, Connect.PCI, True, future)
    for dev in devices:
        addr = pci_address(dev)
        if addr is None:
            continue
        if dev.tag == "controller" and dev.model in ROOT_MODELS:
            continue
        if dev in pinned_at:
            continue  # already holds its fixed address
        fixed = pinned.get((dev.type or "", dev.index)) if dev.tag == "controller" else None
        if fixed is not None and (fixed.models is None or dev.model in fixed.models) and (
                addr != PciAddress(0, fixed.slot, fixed.function)):
            yield finding(dev, "pinned-address", fixed.message,
                          f"leave the address out and augment will put it at "
                          f"00:{fixed.slot:02x}.{fixed.function}")
            continue
        if addr.bus not in controllers and addr.bus != 0:
            yield finding(dev, "missing-controller",
                          f"{dev.name()}: PCI bus {addr.bus:#04x} has no controller",
                          "libvirt will add the missing buses; write the controllers to be "
                          "sure which kind you get", severity="warning")
        flags = replay.needs.flags(dev) or Connect.PCI
        yield from _replay_one(guest, replay, dev, addr, flags, owners)
    board = guest.board
    board_slots = {(0, b.slot) for b in board.pci if b.function == 0} if board else set()
    yield from _check_multifunction(devices, board_slots)


def _written(guest: Guest, bus: Bus) -> str:
    """A bus as the definition has it: its controller's model, or ``(missing)`` for one that
    libvirt adds."""
    has = bus.index == 0 or guest.dom.controller("pci", bus.index) is not None
    return bus.model if has else "(missing)"


def _conflict_finding(guest: Guest, dev: Device, addr: PciAddress, flags: Connect,
                      conflict: Conflict, owners: dict[Occupant, str]) -> Finding:
    """What the checks say about an address placement cannot take."""
    bus = conflict.bus
    if conflict.refusal == "misfit" and bus is not None and conflict.misfit is not None:
        integrated = conflict.misfit == INTEGRATED
        code = "integrated-device" if integrated else "wrong-bus-kind"
        return finding(dev, code, cannot_plug(dev.name(), addr, bus.index,
                                              why_not(conflict.misfit, flags, bus),
                                              _written(guest, bus)),
                       "leave the address out and augment will pick a bus that fits")
    if conflict.refusal in ("slot-low", "slot-high") and bus is not None:
        if bus.max_slot == 0:
            hint = f"a {bus.model} has a single slot, 0"
        elif addr.slot == 0:
            hint = f"slot 0 of a {bus.model} is reserved (use 1 to {bus.max_slot:#x})"
        else:
            hint = f"use a slot from {bus.min_slot:#x} to {bus.max_slot:#x}"
        return finding(dev, "slot-out-of-range", f"{dev.name()}: slot {addr.slot:#x} is not "
                       f"usable on controller index {bus.index} ({bus.model})", hint)
    other = conflict.other
    if conflict.refusal == "taken" and other is not None and other in owners:
        return finding(dev, "reserved-slot",
                       f"{dev.name()}: PCI address {addr} is taken by the {owners[other]}",
                       f"slot {addr.slot:#x} function {addr.function} on {guest.machine} "
                       f"is the {owners[other]}; leave the address out and augment will "
                       "place it")
    if conflict.refusal == "taken":
        name = other.name() if isinstance(other, Device) else "another device"
        line = other.line if isinstance(other, Device) else None
        return finding(dev, "pci-conflict",
                       f"{dev.name()}: {double_use(addr)} "
                       f"(also used by {name}{f' on line {line}' if line else ''})",
                       "give one of them another slot, or leave its address out")
    return finding(dev, "pci-conflict", str(conflict))


def _replay_one(guest: Guest, replay: pci.Pass, dev: Device, addr: PciAddress, flags: Connect,
                owners: dict[Occupant, str]) -> Iterator[Finding]:
    try:
        replay.take(dev, addr, flags, explicit=True)
    except Conflict as conflict:
        yield _conflict_finding(guest, dev, addr, flags, conflict, owners)
        return
    except AugmentError as err:  # no bus can be added for it
        yield finding(dev, "wrong-bus-kind", err.message,
                      "leave the address out and augment will pick a bus that fits")
        return
    bus = replay.topo.buses[addr.bus]
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
        addr = pci_address(dev)
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
        if bus in DRIVE_BUSES and atype not in (None, "drive"):
            yield finding(disk, "address-type", f"Invalid address type '{atype}' for the disk "
                          f"'{dev_name}' with the bus type '{bus}'",
                          "a disk on this bus takes <address type='drive'>")
        if bus == "virtio" and atype is not None and atype not in VIRTIO_DISK_ADDRESSES:
            yield finding(disk, "address-type", f"virtio disk '{dev_name}' cannot have an "
                          f"address of type '{atype}'", "give it a PCI address or none")
    drive_devs = [d for d in guest.dom.of("disk") if d.address_type == "drive"] + [
        h for h in guest.dom.of("hostdev") if h.type == "scsi" and h.address_type == "drive"]
    for dev in drive_devs:
        bus = disk_bus(dev) if dev.tag == "disk" else "scsi"
        drive = dev.addr
        if not isinstance(drive, DriveValue):
            continue  # one libvirt refuses: check_numbers says so
        ctrl_i, bus_i, target_i, unit_i = drive.controller, drive.bus, drive.target, drive.unit
        key = (bus or "?", ctrl_i, bus_i, target_i, unit_i)
        if key in used:
            other = used[key]
            yield finding(dev, "drive-conflict",
                          f"{dev.name()}: drive address controller={key[1]} bus={key[2]} "
                          f"target={key[3]} unit={key[4]} is in use by {other.name()}",
                          "give one of them another unit, or leave its address out")
        used.setdefault(key, dev)
        geometry = DRIVE_BUSES.get(bus or "")
        if geometry is None:
            continue
        ctrls, buses, targets, units = (geometry.controllers, geometry.buses, geometry.targets,
                                        geometry.units)
        if bus == "scsi":
            model = scsi_models.get(ctrl_i, default_scsi)
            units = SCSI_UNITS.get(model or "", NO_SCSI_LIMIT).count
            if model == "lsilogic" and target_i != 0:
                yield finding(dev, "drive-out-of-range", "target must be 0 for controller "
                              "model 'lsilogic'")
        for name, value, limit in (("controller", ctrl_i, ctrls), ("bus", bus_i, buses),
                                   ("target", target_i, targets), ("unit", unit_i, units)):
            if limit is None or value < limit:
                continue
            # libvirt refuses some fields at define time; the others it defines, and QEMU
            # refuses to start the guest
            refused = name in geometry.refused
            yield finding(dev, "drive-out-of-range",
                          f"{dev.name()}: {bus} {name} {value} is beyond the controller's "
                          "capacity" + ("" if refused else "; QEMU will refuse to start the "
                                        "guest"),
                          f"{bus} allows {name} 0 to {limit - 1}",
                          severity="error" if refused else "warning")


# -- virtio-serial, USB, CCID --------------------------------------------------------------

def check_virtio_serial(guest: Guest) -> Iterator[Finding]:
    """virDomainVirtioSerialAddrReserve, over every device with a virtio-serial address (not
    only channels): its controller must exist, written or added for a virtio channel or
    console (virDomainDefMaybeAddVirtioSerialController), and have the port."""
    # the devices with a written port, first: most guests have none, and then neither the
    # controllers nor half a million consoles need a look
    held = [(dev, written) for dev in guest.dom.iterate() if dev.address is not None
            and (written := vserial.written_port(dev)) is not None
            # a serial console is the serial port's copy (virDomainDefAddConsoleCompat)
            and (dev.tag != "console" or dev.target("type") == "virtio")]
    if not held:
        return
    ports = {c.index: vserial.port_count(c)
             for c in guest.dom.controllers if c.type == "virtio-serial"}
    for dev in guest.dom.of("channel") + guest.dom.of("console"):
        if dev.target("type") == "virtio":
            value = dev.addr
            index = value.controller if isinstance(value, VirtioSerialValue) else 0
            ports.setdefault(index, vserial.DEFAULT_PORTS)
    devices = []
    for dev, written in held:
        if written[0] in ports:
            devices.append(dev)
        else:
            yield finding(dev, "vserial-out-of-range", vserial_no_controller(written[0]),
                          "add the controller, or leave the address out")
    for problem in vserial.reserve_written(devices, ports.get, {}):
        dev = problem.dev
        if problem.other is not None:
            yield finding(dev, problem.code, f"{dev.name()}: {problem.message} by "
                          f"{problem.other.name()}", "leave the address out")
        else:
            yield finding(dev, problem.code, problem.message,
                          f"ports are 1 to {problem.ports - 1}")


def check_usb(guest: Guest) -> Iterator[Finding]:
    devices = usb_devices(guest)
    usbs = [c for c in guest.dom.controllers if c.type == "usb"]
    enabled = {c.index for c in usbs if c.model != "none"}
    if devices and usbs and not enabled:
        yield finding(devices[0], "usb-disabled", f"{devices[0].name()}: {USB_DISABLED} "
                      "(controller model='none')", "remove model='none' or the USB device")
        return
    for dev in devices:
        value = dev.addr
        if not isinstance(value, UsbValue) or not value.port:
            continue  # no port (libvirt picks one), or one libvirt refuses (check_numbers)
        if value.bus not in enabled and usbs:
            yield finding(dev, "missing-controller", usb_bus_missing(value.bus))
    for dev, value, first in duplicate_ports(devices):
        yield finding(dev, "usb-conflict", usb_duplicate(value.bus, value.port_text),
                      f"also used by {first.name()}")


def check_ccid(guest: Guest) -> Iterator[Finding]:
    cards = guest.dom.of("smartcard")
    for card in cards[1:]:
        yield finding(card, "smartcard-count", "this QEMU binary lacks multiple smartcard "
                      "support", "a guest can have one <smartcard>")
    for card in cards:
        a = card.address
        if a is not None and a.get("type") != "ccid":
            yield finding(card, "address-type", SMARTCARD_NOT_CCID)


def check_devices(guest: Guest) -> Iterator[Finding]:
    consoles = guest.dom.each("console")
    # a console without a target type is a serial one (virDomainChrDefPostParse)
    serial = [con for con in consoles[1:] if (kind := con.target("type")) is None
              or kind == "serial"]
    yield from alike(serial, "console-serial", "Only the first console can be a serial port",
                     "make it a virtio console, or put it first")
    for host in guest.dom.of("hostdev"):
        if host.type == "mdev" and host.el.get("model") == "vfio-ccw" and (
                host.address_type not in (None, "ccw")):
            yield finding(host, "address-type", f"Unsupported address type "
                          f"'{host.address_type}' with mediated device model 'vfio-ccw'")
    if guest.family is not None and guest.family.phb:
        for ctrl in guest.dom.controllers:
            target = ctrl.child("target")
            index = target_option(target, "index")
            if ctrl.type == "pci" and index is not None and (index == 0) != (ctrl.index == 0):
                yield finding(ctrl, "phb-target-index", "Only the PCI controller with index 0 "
                              "can have target index 0, and vice versa")
    for iommu in guest.dom.of("iommu"):
        if iommu.model == "virtio" and iommu.address_type not in (None, "pci"):
            yield finding(iommu, "address-type", "IOMMU device: 'virtio' needs a PCI address")


def serial_target_type(guest: Guest, serial: Device) -> str | None:
    """The target type libvirt gives a serial port: the written one, except that none and
    ``isa-serial`` (historically the same) become the machine's default."""
    return serial_target(guest.family, guest.dom.arch, serial.target("type"))


def check_serial_addresses(guest: Guest) -> Iterator[Finding]:
    """A serial port's address must be of the kind its target type plugs into."""
    for serial in guest.dom.each("serial"):
        if serial.address is None:
            continue  # no address to be of the wrong kind (most ports)
        atype = serial.address_type
        target = serial_target_type(guest, serial)
        if atype is None or target is None or target not in SERIAL_TARGET_ADDRESS:
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


def check_numbers(guest: Guest) -> Iterator[Finding]:
    """What libvirt's parser refuses in an address after it has read its numbers
    (model.values: a PCI address's bus, slot, function and domain, a CCW address's ranges, a
    USB port path, a virtio-s390 address), with libvirt's words. A field it cannot read, an
    address without a known type and a controller's index are rules of the parse-time table
    (policy/parse_rules.py, expanded from model.values.ADDRESS_FIELDS): reported there, before
    any check runs."""
    for dev in guest.dom.devices:
        if dev.address is None or dev.implicit or dev.addr is not None:
            continue  # no address, none refused
        problem = dev.refused
        if problem is None or isinstance(problem, Unreadable):
            continue
        yield Finding(problem.code, "error", _named(dev, problem.message),
                      problem.line or dev.line, None, dev.name(),
                      problem.hint or _HINTS[problem.code])


_HINTS = {
    "invalid-value": "see libvirt's domain XML format for the values it accepts",
    "address-out-of-range": "leave the address out and augment will place it",
}


def _named(dev: Device, message: str) -> str:
    return message if message.startswith(dev.name()) else f"{dev.name()}: {message}"


CHECKS: tuple[Check, ...] = (
    check_numbers, check_controllers, check_pci, check_drives, check_virtio_serial, check_usb,
    check_ccid, check_devices, check_serial_addresses,
    # the define-time rules, a module per topic, each citing libvirt's function
    *cpu.CHECKS, *platform.CHECKS, *unique.CHECKS, *models.CHECKS, *capabilities.CHECKS,
    *disks.CHECKS, *controllers.CHECKS,
)


def run_checks(guest: Guest, written: Found | None = None) -> list[Finding]:
    """Every finding of every rule in :data:`CHECKS`, and of the names check, sorted by line.
    ``written``: the unknown names of the document as written, found before libvirt's
    defaults changed it (:func:`~augmenter.checks.names.check_names`)."""
    found = [f for check in CHECKS for f in check(guest)]
    found += check_names(guest, written)  # its codes are its own: the sort keeps their order
    return ordered(_unshadowed(found))


def ordered(findings: list[Finding]) -> list[Finding]:
    """Findings by line; on a line, errors first (then by code; else as they came)."""
    if None in map(_LINE, findings) or not _SEVERITIES.issuperset(map(_SEVERITY, findings)):
        return sorted(findings, key=lambda f: (f.line or 0, f.severity != "error", f.code))
    # The same order, by three stable sorts on fields as they are: no key tuple per finding
    # (half a million refused consoles: 40 MB and 0.3 s, against 8 MB and 0.05 s). Every
    # line is a number, and "error" sorts before "warning".
    out = sorted(findings, key=_CODE)
    out.sort(key=_SEVERITY)
    out.sort(key=_LINE)
    return out


_LINE, _SEVERITY, _CODE = attrgetter("line"), attrgetter("severity"), attrgetter("code")
_SEVERITIES = frozenset({"error", "warning"})


SHADOWED = frozenset({"unlisted-value", "duplicate-element"})


def _unshadowed(findings: list[Finding]) -> list[Finding]:
    """Without a value the schema does not list, or a second copy of an element, on a line
    where an error already says what libvirt makes of it: libvirt refuses the value, or the
    second device (a second watchdog), and that is the finding that matters."""
    if SHADOWED.isdisjoint({f.code for f in findings}):
        return findings  # nothing to shadow: no set of half a million refused lines
    refused = {f.line for f in findings if f.severity == "error"}
    return [f for f in findings if f.code not in SHADOWED or f.line not in refused]
