"""Implicit and default devices: what libvirt adds to a definition before placing anything.

Follows libvirt's post-parse order (docs/placement.md §1): machine name, controller indexes, the
machine's default devices, per-device defaults (models, drive addresses), then implicit
controllers for disks and channels, the console/serial pair and the video for graphics.
"""

from __future__ import annotations

import functools

from ..model.addresses import write_address
from ..model.domain import Device, disk_bus, disk_index
from ..model.numbers import read as read_number
from ..model.values import (
    MAX_MEMORY_SLOTS,
    CcidValue,
    DimmValue,
    DriveValue,
    VirtioSerialValue,
    field_value,
)
from ..policy.devices import (
    DRIVE_BUSES,
    ICH9_COMPANIONS,
    ICH9_USB2,
    IMPLICIT_DRIVE_CONTROLLERS,
    NO_SCSI_LIMIT,
    SCSI_NARROW_UNITS,
    SCSI_UNITS,
    address_ignored,
    usb_model,
)
from ..policy.machines import (
    default_input_bus,
    default_scsi_model,
    default_usb_model,
    default_video_model,
    serial_model,
    serial_target,
)
from ..policy.messages import IDE_UNSUPPORTED, unknown_disk_name
from ..xml.document import (
    Element,
    Sketch,
    build_before,
    first_child,
    insert_before,
    new_element,
    new_sketch,
    remove_child,
    set_child,
    sub_element,
)
from .guest import Guest

# a drive address implies every controller of its bus up to its own index; past 256 of them
# (the PCI buses a guest can have) libvirt cannot place them, and adding them would not end
MAX_IMPLIED_INDEX = 255
# serial target types that get a matching console 0 (not pci-serial or usb-serial)
CONSOLE_SERIALS = (None, "isa-serial", "spapr-vio-serial", "system-serial", "sclp-serial")


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
    """Controllers without ``index`` get the lowest unused one of their type.

    The indexes in use are kept per type (and per ICH9 model) as they are written, and the
    lowest free one only grows: one pass, however many controllers (issue 18: a scan of every
    controller per controller took 86 s for 10,000)."""
    controllers = guest.dom.controllers
    used: dict[str | None, set[int]] = {}
    lowest: dict[str | None, int] = {}
    written: set[tuple[str | None, int]] = set()  # (model, index) of ICH9 USB2 models indexed
    unindexed: list[int] = []  # positions of the controllers written without one
    for pos, c in enumerate(controllers):
        if c.el.get("index") is None:
            unindexed.append(pos)
            continue
        used.setdefault(c.type, set()).add(c.index)
        if c.model in ICH9_USB2:
            written.add((c.model, c.index))
    for pos in unindexed:
        ctrl = controllers[pos]
        taken = used.get(ctrl.type)
        if taken is None:
            taken = used[ctrl.type] = set()
        if ctrl.type == "usb" and ctrl.model in ICH9_USB2 and pos > 0:
            prev = controllers[pos - 1]
            if (prev.type == "usb" and prev.model in ICH9_USB2
                    and prev.el.get("index") is not None
                    and (ctrl.model, prev.index) not in written):
                ctrl.set_index(prev.index)
                taken.add(prev.index)
                written.add((ctrl.model, prev.index))
                continue
        free = lowest.get(ctrl.type, 0)
        while free in taken:
            free += 1
        lowest[ctrl.type] = free
        ctrl.set_index(free)
        taken.add(free)
        if ctrl.model in ICH9_USB2:
            written.add((ctrl.model, free))


def add_machine_defaults(guest: Guest) -> None:
    """Default USB, SATA, root PCI controller, balloon and PS/2 inputs (docs/placement.md §2)."""
    dom, family = guest.dom, guest.family
    if family is None:
        return
    # the types with a controller 0, from one walk (dom.controller walks every controller)
    firsts = {c.type for c in dom.controllers if c.index == 0}
    if family.add_usb and "usb" not in firsts:
        model = default_usb_model(family, guest.emulator, dom.arch)
        if model is not None or not family.usb_defaults:
            attrib = {"type": "usb", "index": "0"} | ({"model": model} if model else {})
            dom.add("controller", attrib, why=f"default USB controller of {family.name}")
            if model == "ich9-ehci1":
                for companion, port in ICH9_COMPANIONS:
                    dom.add("controller", {"type": "usb", "index": "0", "model": companion},
                            [new_element("master", {"startport": str(port)})],
                            why="companion of the default ICH9 EHCI controller")
    if family.implicit_sata and "sata" not in firsts:
        dom.add("controller", {"type": "sata", "index": "0"},
                why=f"{family.name} always has its built-in SATA controller")
    root = guest.root_model
    if root and "pci" not in firsts:
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
    return default_video_model(guest.family, guest.emulator)


def fill_controller_models(guest: Guest) -> None:
    for ctrl in guest.dom.controllers:
        if ctrl.type in ("usb", "scsi") and ctrl.el.get("model") in (None, "auto", "default"):
            if ctrl.type == "scsi" and ctrl.el.get("model") == "auto":
                pass
            model = _default_model(guest, ctrl)
            if model is not None:
                ctrl.set_model(model)


def drive_address(disk: Device, bus: str) -> tuple[int, int, int, int] | None:
    """(controller, bus, target, unit) from the target name (docs/placement.md §3)."""
    idx = disk_index(disk.target("dev") or "")
    if idx is None:
        return None
    geometry = DRIVE_BUSES[bus]
    units, buses = geometry.units_per_bus, geometry.buses
    per_ctrl = units * buses
    return idx // per_ctrl, (idx % per_ctrl) // units, 0, idx % units


def assign_drive_addresses(guest: Guest) -> None:
    """Each disk on a drive bus without an address takes the one its target name gives
    (docs/placement.md §3). Worked out for every disk before any is written: when one names a
    controller past :data:`MAX_IMPLIED_INDEX`, the guest is refused as
    :func:`add_implicit_controllers` would refuse it, without half a million addresses
    written first."""
    todo: list[tuple[Device, tuple[int, int, int, int]]] = []
    furthest = -1
    for disk in guest.dom.of("disk"):
        bus = disk_bus(disk)
        if bus is None or bus not in DRIVE_BUSES or disk.address is not None:
            continue
        addr = drive_address(disk, bus)
        if addr is None:
            raise guest.fail(disk, unknown_disk_name(disk.target("dev")))
        todo.append((disk, addr))
        furthest = max(furthest, addr[0])
    if furthest > MAX_IMPLIED_INDEX and not any(
            h.type == "scsi" and h.address is None for h in guest.dom.each("hostdev")):
        # every drive address is known (the SCSI host devices' too): the same first refusal
        refuse_far_drives(guest)
    for disk, (ctrl, b, target, unit) in todo:
        write_address(disk, "drive", DriveValue(ctrl, b, target, unit),
                      controller=ctrl, bus=b, target=target, unit=unit)


INT_MAX = 2**31 - 1


def _drive_tuple(dev: Device) -> tuple[int, int, int, int] | None:
    value = dev.addr
    if not isinstance(value, DriveValue):
        return None
    return (value.controller, value.bus, value.target, value.unit)


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
        return (controller, 0, 0, unit) not in used and SCSI_UNITS.get(
            models.get(controller) or "", NO_SCSI_LIMIT).usable(unit)

    controller = 0  # no controller below it has a free unit (units are only taken)
    for host in scsi:
        if host.address is not None:
            continue
        while (unit := next((u for u in range(SCSI_NARROW_UNITS) if free(controller, u)),
                            None)) is None:
            controller += 1
        used.add((controller, 0, 0, unit))
        write_address(host, "drive", DriveValue(controller, 0, 0, unit),
                      controller=controller, bus=0, target=0, unit=unit)


def _drive_controller(disk: Device) -> int | None:
    """The controller a drive address names, as virDomainDefAddDiskControllersForType counts
    it: libvirt compares it as an ``int``, so an index past ``INT_MAX`` names none."""
    value = disk.addr
    if not isinstance(value, DriveValue) or value.controller > INT_MAX:
        return None
    return value.controller


def drive_controller_of(dev: Device, bus: str) -> int | None:
    """The controller of a disk's (or SCSI host device's) drive address: the written one, or
    the one :func:`assign_drive_addresses` will write; None for none."""
    if dev.address is not None or bus not in DRIVE_BUSES:
        return _drive_controller(dev)
    addr = drive_address(dev, bus)
    return None if addr is None else addr[0]


def drive_owners(guest: Guest, bus: str) -> list[tuple[Device, int]]:
    """The devices on a drive bus, each with the controller its drive address names."""
    owners = [d for d in guest.dom.of("disk") if disk_bus(d) == bus]
    if bus == "scsi":
        owners += [h for h in guest.dom.of("hostdev") if h.type == "scsi"]
    return [(d, i) for d in owners if (i := drive_controller_of(d, bus)) is not None]


def refuse_far_drives(guest: Guest) -> None:
    """Refuse a guest whose drive addresses name a controller past
    :data:`MAX_IMPLIED_INDEX` (augmenter's bound: libvirt would add every controller up to
    it), the first such bus in libvirt's order and the first device on it."""
    for bus in IMPLICIT_DRIVE_CONTROLLERS:
        _refuse_far_drive(guest, bus, drive_owners(guest, bus))


def _refuse_far_drive(guest: Guest, bus: str, owners: list[tuple[Device, int]]) -> None:
    too_far = next(((d, i) for d, i in owners if i > MAX_IMPLIED_INDEX), None)
    if too_far is not None:
        dev, index = too_far
        raise guest.fail(dev, f"drive address controller='{index}' would need "
                              f"{index + 1} {bus} controllers; at most "
                              f"{MAX_IMPLIED_INDEX + 1} fit in a guest")


def implies_controller(guest: Guest, bus: str, index: int) -> bool:
    """Whether the disks imply controller ``index`` of ``bus``: libvirt adds every controller
    up to the highest a drive address names (virDomainDefAddDiskControllersForType)."""
    return bus in IMPLICIT_DRIVE_CONTROLLERS and any(
        index <= i for _, i in drive_owners(guest, bus))


def add_implicit_controllers(guest: Guest) -> None:
    """Controllers implied by disks, channels and smartcards, appended in libvirt's order."""
    dom = guest.dom
    # (type, index) of every controller, kept as controllers are added: dom.controller()
    # walks them all, once per index here (issue 18: once per channel was quadratic). Read
    # when first asked: most guests imply no controller, and the walk is over all of them.
    have: set[tuple[str | None, int]] = set()
    walked = False

    def missing(type_: str, index: int) -> bool:
        nonlocal walked
        if not walked:
            have.update((c.type, c.index) for c in dom.controllers)
            walked = True
        return (type_, index) not in have

    for bus in IMPLICIT_DRIVE_CONTROLLERS:
        owners = drive_owners(guest, bus)
        _refuse_far_drive(guest, bus, owners)
        for i in range(max((i for _, i in owners), default=-1) + 1):
            if missing(bus, i):  # IDE where allowed: validate_drive_buses
                attrib = {"type": bus, "index": str(i)}
                ctrl = dom.add("controller", attrib, why=f"implied by {bus} disks")
                have.add((bus, i))
                model = _default_model(guest, ctrl)
                if model is not None:
                    ctrl.set_model(model)
    vserial: list[int] = []
    for dev in dom.of("channel") + dom.of("console"):
        if dev.target("type") == "virtio":
            value = dev.addr
            vserial.append(value.controller if isinstance(value, VirtioSerialValue) else 0)
    for i in dict.fromkeys(vserial):  # each index once, in the order first named
        if missing("virtio-serial", i):
            dom.add("controller", {"type": "virtio-serial", "index": str(i)},
                    why="implied by virtio channels or consoles")
            have.add(("virtio-serial", i))
    for card in dom.of("smartcard"):
        value = card.addr
        i = value.controller if isinstance(value, CcidValue) else 0
        if missing("ccid", i):
            dom.add("controller", {"type": "ccid", "index": str(i)},
                    why="implied by a smartcard")
            have.add(("ccid", i))


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


def _target(dev: Device, attrib: dict[str, str] | None = None) -> Element:
    """The device's ``<target>``, added where libvirt writes it when there is none (see
    :func:`_target_place`), with ``attrib`` then."""
    target = dev.child("target")
    if target is not None:
        return target
    before = _target_place(dev)
    if before is not None:
        return insert_before(dev.el, before, new_element("target", attrib))
    return sub_element(dev.el, "target", attrib)


def _target_place(dev: Device) -> Element | None:
    """The child a new ``<target>`` goes before: libvirt writes it before ``<alias>`` and
    ``<address>`` (None: it goes last)."""
    if not len(dev.el):
        return None
    return next((c for c in dev.el if c.tag in ("alias", "address")), None)


def _add_target(dev: Device, target: Sketch) -> None:
    """A new ``<target>`` where :func:`_target` adds one, kept as data while the element is
    empty (half a million ports may each need one)."""
    before = _target_place(dev)
    if before is None:
        dev.add_sketch(target)
    else:
        build_before(dev.el, before, target)


def _port(dev: Device) -> int | None:
    """A serial target's port as virDomainChrDefParseTargetXML reads it (virXMLPropInt)."""
    target = dev.child("target")
    return None if target is None else _target_port(target)


def fill_serial_targets(guest: Guest, serials: list[Device] | None = None) -> None:
    """Each serial port's target type, port and model name, as libvirt writes them
    (virDomainChrIsaSerialDefPostParse, qemuDomainChrDefPostParse, virDomainChrDefPostParse):
    a written ``isa-serial`` without a port takes the lowest free ISA port; then, in order,
    the machine's default type where none (or ``isa-serial``) is written, the type's model,
    and one more than the highest port of any serial."""
    every = guest.dom.of("serial")
    targets = [d.child("target") for d in every]  # each looked up once (500,000 ports)
    todo = zip(every, targets, strict=True) if serials is None else [
        (d, d.child("target")) for d in serials]
    isa_used: set[int] = set()
    highest = -1  # one more than the highest port of any serial, kept as each port is given
    for target in targets:
        if target is not None and (p := _target_port(target)) is not None:
            highest = max(highest, p)
            if target.get("type") == "isa-serial":
                isa_used.add(p)
    if isa_used or any(t is not None for t in targets):
        todo = list(todo)
        for _, target in todo:
            if target is not None and target.get("type") == "isa-serial" \
                    and _target_port(target) is None:
                free = next((p for p in range(MAX_ISA_SERIAL_PORTS) if p not in isa_used),
                            None)
                if free is not None:
                    isa_used.add(free)
                    highest = max(highest, free)
                    target.set("port", str(free))
    family, arch = guest.family, guest.dom.arch
    # a port without a target: its target's type and children, by machine (one per run)
    kind = serial_target(family, arch, None)
    made = (() if kind is None else (_pair("type", kind),), _target_children(
        serial_model(family, kind)))
    for dev, target in todo:
        if target is None:  # no port number either: it takes the next one
            highest += 1
            _add_target(dev, new_sketch(("target", (*made[0], ("port", str(highest))),
                                          made[1])))
            continue
        written = target.get("type")
        kind = serial_target(family, arch, written)
        model = serial_model(family, kind)
        port = _target_port(target)
        if kind is not None and kind != written:
            target.set("type", kind)
        if model is not None and first_child(target, "model") is None:
            sub_element(target, "model", {"name": model})
        if port is None:
            highest += 1
            target.set("port", str(highest))


@functools.cache
def _pair(name: str, value: str) -> tuple[str, str]:
    """One (name, value) pair shared by every sketch with it."""
    return name, value


@functools.cache
def _target_children(model: str | None) -> tuple[Sketch, ...]:
    """A new serial target's children: its ``<model name>``, one shared by every port of
    the model."""
    return () if model is None else (Sketch("model", (("name", model),)),)


def _target_port(target: Element) -> int | None:
    """:func:`_port` of the ``<target>`` itself."""
    text = target.get("port")
    return None if text is None else read_number(text, "i", 10)


def fill_console_targets(guest: Guest) -> None:
    """A console's target type is ``serial`` when none is written, and its port is its
    place among the consoles (virDomainDefParseXML sets it, whatever is written)."""
    serial = _pair("type", "serial")
    for i, con in enumerate(guest.dom.of("console")):
        if con.child("target") is None:  # half a million consoles may lack one
            _add_target(con, new_sketch(("target", (serial, ("port", str(i))), ())))
            continue
        target = _target(con)
        if target.get("type") is None:
            target.set("type", "serial")
        if _port(con) != i:
            target.set("port", str(i))


def fill_parallel_targets(guest: Guest) -> None:
    """Each parallel port's target port: where none is written (or -1), one more than the
    highest of the ports before it, as virDomainDefParseXML numbers them while it reads them
    (libvirt writes ``<target port='N'/>`` for every parallel port)."""
    highest = -1
    for dev in guest.dom.of("parallel"):
        target = dev.child("target")
        port = None if target is None else _target_port(target)
        if port is None or port == -1:
            port = highest + 1
            if target is None:  # half a million ports may lack one: kept as data
                _add_target(dev, new_sketch(("target", (("port", str(port)),), ())))
            else:
                target.set("port", str(port))
        highest = max(highest, port)


def put_primary_video_first(guest: Guest) -> None:
    """libvirt keeps the primary video at the head of the video list, and writes it there."""
    videos = guest.dom.of("video")
    if videos:
        guest.dom.move_first(videos[0])


def add_ich9_masters(guest: Guest) -> None:
    """ICH9 UHCI companions name their EHCI master's ports, as libvirt fills in."""
    for ctrl in guest.dom.controllers:
        if ctrl.type != "usb":
            continue
        port = usb_model(ctrl).master_port
        if port is not None and ctrl.el.find("master") is None:
            master = new_element("master", {"startport": str(port)})
            first = next(iter(ctrl.el), None)
            if first is not None and isinstance(first.tag, str):
                insert_before(ctrl.el, first, master)
            else:
                sub_element(ctrl.el, "master", {"startport": str(port)})


def assign_dimm_slots(guest: Guest) -> None:
    """Memory modules without an address take the lowest free DIMM slot (docs/placement.md §19)."""
    max_mem = guest.dom.root.find("maxMemory")
    slots = field_value(max_mem, MAX_MEMORY_SLOTS) or 0
    dimms = [m for m in guest.dom.of("memory") if m.model in ("dimm", "nvdimm")]
    used = {value.slot for m in dimms if isinstance(value := m.addr, DimmValue)}
    lowest = 0  # no slot below it is free (slots are only taken): the search starts there
    for mem in dimms:
        if mem.address is not None:
            continue
        slot = next((s for s in range(lowest, slots) if s not in used), None)
        if slot is None:
            raise guest.fail(mem, "no free memory device slot available")
        used.add(slot)
        lowest = slot + 1
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
            raise guest.fail(disk, IDE_UNSUPPORTED)
    for ctrl in guest.dom.controllers:
        if ctrl.type == "ide":
            raise guest.fail(ctrl, IDE_UNSUPPORTED)


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
    consoles[0].settle()
    consoles[0].set_address(set_child(consoles[0].el, "address", dict(source.attrib)))
