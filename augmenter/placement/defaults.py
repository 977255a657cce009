"""Implicit and default devices: what libvirt adds to a definition before placing anything.

Follows libvirt's post-parse order (docs/placement.md §1): machine name, controller indexes, the
machine's default devices, per-device defaults (models, drive addresses), then implicit
controllers for disks and channels, the console/serial pair and the video for graphics.
"""

from __future__ import annotations

from ..model.addresses import write_address
from ..model.domain import Device, disk_bus, disk_index, parse_int
from ..model.numbers import number
from ..policy.machines import default_usb_model
from ..xml.document import insert_before, new_element, set_child, sub_element
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


def fill_controller_indexes(guest: Guest) -> None:
    """Controllers without ``index`` get the lowest unused one of their type.

    The indexes in use are kept per type (and per ICH9 model) as they are written, and the
    lowest free one only grows: one pass, however many controllers (issue 18: a scan of every
    controller per controller took 86 s for 10,000)."""
    controllers = guest.dom.controllers
    used: dict[str | None, set[int]] = {}
    lowest: dict[str | None, int] = {}
    written: set[tuple[str | None, int]] = set()  # (model, index) of ICH9 USB2 models indexed
    for c in controllers:
        if c.el.get("index") is not None:
            used.setdefault(c.type, set()).add(c.index)
            if c.model in ICH9_USB2:
                written.add((c.model, c.index))
    for pos, ctrl in enumerate(controllers):
        if ctrl.el.get("index") is not None:
            continue
        taken = used.setdefault(ctrl.type, set())
        if ctrl.type == "usb" and ctrl.model in ICH9_USB2 and pos > 0:
            prev = controllers[pos - 1]
            if (prev.type == "usb" and prev.model in ICH9_USB2
                    and prev.el.get("index") is not None
                    and (ctrl.model, prev.index) not in written):
                ctrl.el.set("index", str(prev.index))
                taken.add(prev.index)
                written.add((ctrl.model, prev.index))
                continue
        free = lowest.get(ctrl.type, 0)
        while free in taken:
            free += 1
        lowest[ctrl.type] = free
        ctrl.el.set("index", str(free))
        taken.add(free)
        if ctrl.model in ICH9_USB2:
            written.add((ctrl.model, free))


def add_machine_defaults(guest: Guest) -> None:
    """Default USB, SATA, root PCI controller, balloon and PS/2 inputs (docs/placement.md §2)."""
    dom, family = guest.dom, guest.family
    if family is None:
        return
    if family.usb_defaults and dom.controller("usb", 0) is None:
        model = default_usb_model(family, guest.emulator)
        if model is not None:
            dom.add("controller", {"type": "usb", "index": "0", "model": model},
                    why=f"default USB controller of {family.name}")
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
        return default_usb_model(family, guest.emulator, written=True) if family else None
    if ctrl.type == "scsi":
        if family is not None and family.scsi_model:
            return family.scsi_model
        if guest.has("lsi53c895a"):
            return "lsilogic"
        return "virtio-scsi" if guest.has("virtio-scsi-pci") else None
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


def _drive_controller(disk: Device) -> int | None:
    a = disk.address
    if a is None or a.get("type") != "drive":
        return None
    return parse_int(a.get("controller"), 0)


def add_implicit_controllers(guest: Guest) -> None:
    """Controllers implied by disks, channels and smartcards, appended in libvirt's order."""
    dom = guest.dom
    disks = [(d, disk_bus(d)) for d in dom.of("disk")]
    # (type, index) of every controller, kept as controllers are added: dom.controller()
    # walks them all, once per index here (issue 18: once per channel was quadratic)
    have = {(c.type, c.index) for c in dom.controllers}
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
            if (bus, i) not in have:
                if bus == "ide" and guest.family is not None and not guest.family.ide_allowed:
                    raise guest.fail(
                        next(d for d in dom.of("disk") if disk_bus(d) == "ide"),
                        "IDE controllers are unsupported for this QEMU binary or machine type")
                attrib = {"type": bus, "index": str(i)}
                ctrl = dom.add("controller", attrib, why=f"implied by {bus} disks")
                have.add((bus, i))
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
    for i in dict.fromkeys(vserial):  # each index once, in the order first named
        if ("virtio-serial", i) not in have:
            dom.add("controller", {"type": "virtio-serial", "index": str(i)},
                    why="implied by virtio channels or consoles")
            have.add(("virtio-serial", i))
    for card in dom.of("smartcard"):
        a = card.address
        i = parse_int(a.get("controller"), 0) if a is not None else 0
        if ("ccid", i or 0) not in have:
            dom.add("controller", {"type": "ccid", "index": str(i or 0)},
                    why="implied by a smartcard")
            have.add(("ccid", i or 0))


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
        dom.add("serial", {"type": con.type or "pty"}, [new_element("target", {"port": "0"})],
                why="a serial console needs a serial port")


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
    if guest.family is None or guest.family.ide_allowed:
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
    """Console 0 of a serial port is the same device in libvirt: it shows the port's address."""
    serials, consoles = guest.dom.of("serial"), guest.dom.of("console")
    if not serials or not consoles or consoles[0].target("type") not in (None, "serial"):
        return
    source = serials[0].address
    if source is None:
        return
    consoles[0].set_address(set_child(consoles[0].el, "address", dict(source.attrib)))
