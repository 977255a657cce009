"""Implicit and default devices: what libvirt adds to a definition before placing anything.

Follows libvirt's post-parse order (docs/placement.md §1): machine name, controller indexes, the
machine's default devices, per-device defaults (models, drive addresses), then implicit
controllers for disks and channels, the console/serial pair and the video for graphics.
"""

from __future__ import annotations

from ..model.addresses import write_address
from ..model.domain import Device, disk_bus, disk_index, parse_int
from ..model.numbers import number
from ..policy.devices import SCSI_NARROW_UNITS, SCSI_UNIT_LIMITS, address_ignored
from ..policy.machines import (
    default_input_bus,
    default_scsi_model,
    default_usb_model,
    serial_model,
    serial_target,
)
from ..xml.document import (
    Element,
    insert_before,
    new_element,
    remove_child,
    set_child,
    sub_element,
)
from .guest import Guest

# a drive address implies every controller of its bus up to its own index; past 256 of them
# (the PCI buses a guest can have) libvirt cannot place them, and adding them would not end
MAX_IMPLIED_INDEX = 255
DRIVE_BUSES = ("scsi", "fdc", "ide", "sata")  # libvirt adds implicit controllers in this order
# units per bus and buses per controller, for the target-name-derived drive address
DRIVE_GEOMETRY = {"ide": (2, 2), "sata": (6, 1), "scsi": (7, 1), "fdc": (2, 1)}
# serial target types that get a matching console 0 (not pci-serial or usb-serial)
CONSOLE_SERIALS = (None, "isa-serial", "spapr-vio-serial", "system-serial", "sclp-serial")
ICH9_USB2 = {"ich9-ehci1", "ich9-uhci1", "ich9-uhci2", "ich9-uhci3"}
ICH9_COMPANIONS = (("ich9-uhci1", 0), ("ich9-uhci2", 2), ("ich9-uhci3", 4))


def drop_ignored_addresses(guest: Guest) -> None:
    """The addresses libvirt's parser does not read are not in its output either."""
    for dev in guest.dom.devices:
        if dev.address is not None and address_ignored(dev):
            remove_child(dev.el, dev.address)
            dev.set_address(None)


def fill_input_buses(guest: Guest) -> None:
    """An input written without ``bus`` gets the arch's, as libvirt's parser writes it."""
    dom = guest.dom
    if dom.os_type is None or (dom.os_type.text or "").strip() != "hvm":
        return
    for dev in dom.of("input"):
        if dev.el.get("bus") is None:
            bus = default_input_bus(dom.arch, dev.type)
            if bus is not None:
                dev.el.set("bus", bus)


def fill_controller_indexes(guest: Guest) -> None:
    """Controllers without ``index`` get the lowest unused one of their type."""
    controllers = guest.dom.controllers
    for pos, ctrl in enumerate(controllers):
        if ctrl.el.get("index") is not None:
            continue
        if ctrl.type == "usb" and ctrl.model in ICH9_USB2 and pos > 0:
            prev = controllers[pos - 1]
            if (prev.type == "usb" and prev.model in ICH9_USB2
                    and prev.el.get("index") is not None
                    and not any(c.model == ctrl.model and c.index == prev.index
                                and c.el.get("index") is not None for c in controllers)):
                ctrl.el.set("index", str(prev.index))
                continue
        used = {c.index for c in controllers if c.type == ctrl.type
                and c.el.get("index") is not None}
        ctrl.el.set("index", str(next(i for i in range(len(controllers) + 1) if i not in used)))


def add_machine_defaults(guest: Guest) -> None:
    """Default USB, SATA, root PCI controller, balloon and PS/2 inputs (docs/placement.md §2)."""
    dom, family = guest.dom, guest.family
    if family is None:
        return
    if family.add_usb and dom.controller("usb", 0) is None:
        model = default_usb_model(family, guest.emulator, dom.arch)
        if model is not None or not family.usb_defaults:
            attrib = {"type": "usb", "index": "0"} | ({"model": model} if model else {})
            dom.add("controller", attrib, why=f"default USB controller of {family.name}")
            if model == "ich9-ehci1":
                for companion, port in ICH9_COMPANIONS:
                    dom.add("controller", {"type": "usb", "index": "0", "model": companion},
                            [new_element("master", {"startport": str(port)})],
                            why="companion of the default ICH9 EHCI controller")
    if family.implicit_sata and dom.controller("sata", 0) is None:
        dom.add("controller", {"type": "sata", "index": "0"},
                why=f"{family.name} always has its built-in SATA controller")
    root = guest.root_model
    if root and dom.controller("pci", 0) is None:
        dom.add("controller", {"type": "pci", "index": "0", "model": root},
                why="the root PCI bus of the machine")
    if family.balloon and not dom.of("memballoon"):
        dom.add("memballoon", {"model": "virtio"}, why="libvirt adds a balloon unless told none")
    if family.ps2_inputs:
        for kind in ("mouse", "keyboard"):
            if not any(i.type == kind and i.el.get("bus") == "ps2" for i in dom.of("input")):
                dom.add("input", {"type": kind, "bus": "ps2"}, why="the board's i8042 PS/2 port")
    if family.usb_inputs_with_graphics and dom.root.find("devices/graphics") is not None:
        usb_inputs = {i.type for i in dom.of("input") if i.el.get("bus") == "usb"}
        if "keyboard" not in usb_inputs:
            dom.add("input", {"type": "keyboard", "bus": "usb"},
                    why="graphics on this machine get a USB keyboard")
        if not usb_inputs & {"mouse", "tablet"}:
            dom.add("input", {"type": "mouse", "bus": "usb"},
                    why="graphics on this machine get a USB mouse")
    if family.panic and not any(p.model in (None, family.panic) for p in dom.of("panic")):
        dom.add("panic", {"model": family.panic}, why=f"{family.name} always has this panic device")


def _default_model(guest: Guest, ctrl: Device) -> str | None:
    family = guest.family
    if ctrl.type == "usb":
        if family is None:
            return None
        if family.usb_unaddressed and ctrl.address is None:
            return family.usb_unaddressed
        return default_usb_model(family, guest.emulator, guest.dom.arch, written=True)
    if ctrl.type == "scsi":
        return default_scsi_model(family, guest.emulator)
    return None


def fill_device_models(guest: Guest) -> None:
    """Interfaces and videos without a model get the machine's default, as libvirt writes."""
    family = guest.family
    if family is None:
        return
    if family.net_model:
        for net in guest.dom.of("interface"):
            if net.el.find("model") is None and net.type not in ("hostdev", "vdpa"):
                sub_element(net.el, "model", {"type": family.net_model})
    for video in guest.dom.of("video"):
        model = video.el.find("model")
        if model is None:
            sub_element(video.el, "model", {"type": default_video(guest)})
        elif model.get("type") is None:
            model.set("type", default_video(guest))


def default_video(guest: Guest) -> str:
    if guest.family is not None and guest.family.video_model:
        return guest.family.video_model
    return "cirrus" if guest.has("cirrus-vga") else "vga"


def fill_controller_models(guest: Guest) -> None:
    for ctrl in guest.dom.controllers:
        if ctrl.type in ("usb", "scsi") and ctrl.el.get("model") in (None, "auto", "default"):
            if ctrl.type == "scsi" and ctrl.el.get("model") == "auto":
                pass
            model = _default_model(guest, ctrl)
            if model is not None:
                ctrl.el.set("model", model)


def drive_address(disk: Device, bus: str) -> tuple[int, int, int, int] | None:
    """(controller, bus, target, unit) from the target name (docs/placement.md §3)."""
    idx = disk_index(disk.target("dev") or "")
    if idx is None:
        return None
    units, buses = DRIVE_GEOMETRY[bus]
    per_ctrl = units * buses
    return idx // per_ctrl, (idx % per_ctrl) // units, 0, idx % units


def assign_drive_addresses(guest: Guest) -> None:
    for disk in guest.dom.of("disk"):
        bus = disk_bus(disk)
        if bus not in DRIVE_GEOMETRY or disk.address is not None:
            continue
        addr = drive_address(disk, bus)
        if addr is None:
            raise guest.fail(disk, f"Unknown disk name '{disk.target('dev')}' and no address "
                                   "specified")
        ctrl, b, target, unit = addr
        write_address(disk, "drive", controller=ctrl, bus=b, target=target, unit=unit)


def _drive_tuple(dev: Device) -> tuple[int, int, int, int] | None:
    a = dev.address
    if a is None or a.get("type") != "drive":
        return None
    return (parse_int(a.get("controller"), 0) or 0, parse_int(a.get("bus"), 0) or 0,
            parse_int(a.get("target"), 0) or 0, parse_int(a.get("unit"), 0) or 0)


def assign_scsi_hostdev_addresses(guest: Guest) -> None:
    """A SCSI host device without an address takes the first unit of bus 0, target 0 that no
    SCSI disk or host device uses and its controller's model allows, on the lowest controller
    index that has one (virDomainHostdevAssignAddress); the controller itself comes later,
    with the other implicit ones. The models read are the ones written: libvirt gives
    controllers theirs after the host devices."""
    dom = guest.dom
    scsi = [h for h in dom.of("hostdev") if h.type == "scsi"
            and h.el.get("mode", "subsystem") == "subsystem"]
    if not any(h.address is None for h in scsi):
        return
    used = {t for d in dom.of("disk") if disk_bus(d) == "scsi"
            and (t := _drive_tuple(d)) is not None}
    used |= {t for h in scsi if (t := _drive_tuple(h)) is not None}
    models = {c.index: c.model for c in dom.controllers if c.type == "scsi"}

    def free(controller: int, unit: int) -> bool:
        highest, reserved = SCSI_UNIT_LIMITS.get(models.get(controller) or "", (None, None))
        return (controller, 0, 0, unit) not in used and unit != reserved and (
            highest is None or unit <= highest)

    for host in scsi:
        if host.address is not None:
            continue
        controller = 0
        while (unit := next((u for u in range(SCSI_NARROW_UNITS) if free(controller, u)),
                            None)) is None:
            controller += 1
        used.add((controller, 0, 0, unit))
        write_address(host, "drive", controller=controller, bus=0, target=0, unit=unit)


def _drive_controller(disk: Device) -> int | None:
    a = disk.address
    if a is None or a.get("type") != "drive":
        return None
    return parse_int(a.get("controller"), 0)


def add_implicit_controllers(guest: Guest) -> None:
    """Controllers implied by disks, channels and smartcards, appended in libvirt's order."""
    dom = guest.dom
    disks = [(d, disk_bus(d)) for d in dom.of("disk")]
    for bus in DRIVE_BUSES:
        owners = [d for d, on in disks if on == bus]
        if bus == "scsi":
            owners += [h for h in dom.of("hostdev") if h.type == "scsi"]
        indexes = [i for d in owners if (i := _drive_controller(d)) is not None]
        too_far = next((d for d in owners if (_drive_controller(d) or 0) > MAX_IMPLIED_INDEX),
                       None)
        if too_far is not None:
            index = _drive_controller(too_far) or 0
            raise guest.fail(too_far, f"drive address controller='{index}' would need "
                                      f"{index + 1} {bus} controllers; at most "
                                      f"{MAX_IMPLIED_INDEX + 1} fit in a guest")
        for i in range(max(indexes, default=-1) + 1):
            if dom.controller(bus, i) is None:
                if bus == "ide" and not guest.builtin_ide:
                    raise guest.fail(
                        next(d for d in dom.of("disk") if disk_bus(d) == "ide"),
                        "IDE controllers are unsupported for this QEMU binary or machine type")
                attrib = {"type": bus, "index": str(i)}
                ctrl = dom.add("controller", attrib, why=f"implied by {bus} disks")
                model = _default_model(guest, ctrl)
                if model is not None:
                    ctrl.el.set("model", model)
    vserial: list[int] = []
    for dev in dom.of("channel") + dom.of("console"):
        if dev.target("type") == "virtio":
            a = dev.address
            wanted = parse_int(a.get("controller"), 0) if a is not None and a.get(
                "type") == "virtio-serial" else 0
            vserial.append(wanted or 0)
    for i in sorted(set(vserial), key=vserial.index):
        if dom.controller("virtio-serial", i) is None:
            dom.add("controller", {"type": "virtio-serial", "index": str(i)},
                    why="implied by virtio channels or consoles")
    for card in dom.of("smartcard"):
        a = card.address
        i = parse_int(a.get("controller"), 0) if a is not None else 0
        if dom.controller("ccid", i or 0) is None:
            dom.add("controller", {"type": "ccid", "index": str(i or 0)},
                    why="implied by a smartcard")


def add_console_compat(guest: Guest) -> None:
    """libvirt pairs the first serial port with console 0, and a serial console with a serial."""
    dom = guest.dom
    serials, consoles = dom.of("serial"), dom.of("console")
    serial_console = bool(consoles) and consoles[0].target("type") in (None, "serial")
    if serials and not serial_console and serials[0].target("type") in CONSOLE_SERIALS:
        dom.add("console", {"type": serials[0].type or "pty"},
                [new_element("target", {"type": "serial", "port": "0"})], first=True,
                why="console 0 mirrors the first serial port")
    elif serial_console and not serials:
        con = consoles[0]
        serial = dom.add("serial", {"type": con.type or "pty"},
                         [new_element("target", {"port": "0"})],
                         why="a serial console needs a serial port")
        fill_serial_targets(guest, [serial])  # libvirt runs its post-parse on it once more


MAX_ISA_SERIAL_PORTS = 4  # VIR_MAX_ISA_SERIAL_PORTS


def _target(dev: Device) -> Element:
    """The device's ``<target>``, added where libvirt writes it (before ``<alias>`` and
    ``<address>``) when there is none."""
    target = dev.child("target")
    if target is not None:
        return target
    before = next((c for c in dev.el if c.tag in ("alias", "address")), None)
    if before is not None:
        return insert_before(dev.el, before, new_element("target"))
    return sub_element(dev.el, "target")


def _port(dev: Device) -> int | None:
    return parse_int(dev.target("port"))


def fill_serial_targets(guest: Guest, serials: list[Device] | None = None) -> None:
    """Each serial port's target type, port and model name, as libvirt writes them
    (virDomainChrIsaSerialDefPostParse, qemuDomainChrDefPostParse, virDomainChrDefPostParse):
    a written ``isa-serial`` without a port takes the lowest free ISA port; then, in order,
    the machine's default type where none (or ``isa-serial``) is written, the type's model,
    and one more than the highest port of any serial."""
    every = guest.dom.of("serial")
    todo = every if serials is None else serials
    isa_used = {p for d in every if d.target("type") == "isa-serial"
                and (p := _port(d)) is not None}
    for dev in todo:
        if dev.target("type") == "isa-serial" and _port(dev) is None:
            free = next((p for p in range(MAX_ISA_SERIAL_PORTS) if p not in isa_used), None)
            if free is not None:
                isa_used.add(free)
                _target(dev).set("port", str(free))
    for dev in todo:
        written = dev.target("type")
        kind = serial_target(guest.family, written)
        if kind is not None and kind != written:
            _target(dev).set("type", kind)
        model = serial_model(guest.family, kind)
        if model is not None and _target(dev).find("model") is None:
            sub_element(_target(dev), "model", {"name": model})
        if _port(dev) is None:
            highest = max((p for d in every if (p := _port(d)) is not None), default=-1)
            _target(dev).set("port", str(highest + 1))


def fill_console_targets(guest: Guest) -> None:
    """A console's target type is ``serial`` when none is written, and its port is its
    place among the consoles (virDomainDefParseXML sets it, whatever is written)."""
    for i, con in enumerate(guest.dom.of("console")):
        target = _target(con)
        if target.get("type") is None:
            target.set("type", "serial")
        if _port(con) != i:
            target.set("port", str(i))


def put_primary_video_first(guest: Guest) -> None:
    """libvirt keeps the primary video at the head of the video list, and writes it there."""
    videos = guest.dom.of("video")
    if videos:
        guest.dom.move_first(videos[0])


def add_ich9_masters(guest: Guest) -> None:
    """ICH9 UHCI companions name their EHCI master's ports, as libvirt fills in."""
    for ctrl in guest.dom.controllers:
        for model, port in ICH9_COMPANIONS:
            if ctrl.type == "usb" and ctrl.model == model and ctrl.el.find("master") is None:
                master = new_element("master", {"startport": str(port)})
                first = next(iter(ctrl.el), None)
                if first is not None and isinstance(first.tag, str):
                    insert_before(ctrl.el, first, master)
                else:
                    sub_element(ctrl.el, "master", {"startport": str(port)})


def assign_dimm_slots(guest: Guest) -> None:
    """Memory modules without an address take the lowest free DIMM slot (docs/placement.md §19)."""
    max_mem = guest.dom.root.find("maxMemory")
    # virXPathUInt: virStrToLong_uip, base 10
    slots = (number(max_mem, "slots", "uip") or 0) if max_mem is not None else 0
    dimms = [m for m in guest.dom.of("memory") if m.model in ("dimm", "nvdimm")]
    used = {parse_int(m.address.get("slot")) for m in dimms
            if m.address is not None and m.address.get("type") == "dimm"}
    for mem in dimms:
        if mem.address is not None:
            continue
        slot = next((s for s in range(slots or 0) if s not in used), None)
        if slot is None:
            raise guest.fail(mem, "no free memory device slot available")
        used.add(slot)
        write_address(mem, "dimm", slot=slot)


def add_implicit_video(guest: Guest) -> None:
    dom = guest.dom
    if dom.root.find("devices/graphics") is not None and not dom.of("video"):
        model = default_video(guest)
        dom.add("video", {}, [new_element("model", {"type": model, "vram": "16384",
                                                    "heads": "1", "primary": "yes"})],
                why="graphics need a video device")


def validate_drive_buses(guest: Guest) -> None:
    """IDE disks on a machine without IDE are refused (q35, virt, pseries)."""
    if guest.builtin_ide:
        return
    for disk in guest.dom.of("disk"):
        if disk_bus(disk) == "ide":
            raise guest.fail(disk, "IDE controllers are unsupported for this QEMU binary or "
                                   "machine type")
    for ctrl in guest.dom.controllers:
        if ctrl.type == "ide":
            raise guest.fail(ctrl, "IDE controllers are unsupported for this QEMU binary or "
                                   "machine type")


def mirror_console_address(guest: Guest) -> None:
    """Console 0 of a serial port is the same device in libvirt: it shows the port's number
    and address (virDomainDefFormatInternal writes serial 0 in its place)."""
    serials, consoles = guest.dom.of("serial"), guest.dom.of("console")
    if not serials or not consoles or consoles[0].target("type") not in (None, "serial"):
        return
    port = serials[0].target("port")
    if port is not None and consoles[0].target("port") != port:
        _target(consoles[0]).set("port", port)
    source = serials[0].address
    if source is None:
        return
    consoles[0].set_address(set_child(consoles[0].el, "address", dict(source.attrib)))
