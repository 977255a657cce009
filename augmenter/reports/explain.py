"""Where everything went and why: the augmented topology as data and as a terminal tree.

:func:`explain_data` walks the final PCI topology (``Guest.topology``) and the non-PCI addresses
of a run (:class:`Placed`: an :class:`~augmenter.pipeline.Result`) and returns plain, JSON-able
data; :func:`explain_tree` renders the same data as a :class:`rich.tree.Tree`. Every device of
the domain appears exactly once, at its place: a PCI function, the root of a PCI bus, a drive
unit, a virtio-serial port, a USB port, a ccid slot, another kind of address, or "no address"
with the reason.

The data is versioned (``"schema": 1``); keys are only ever added, never renamed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeAlias

import rich.style
import rich.text
from rich.tree import Tree

from ..errors import printable
from ..model.addresses import PciAddress
from ..model.connect import KIND_NAMES, Connect
from ..model.domain import Device, disk_bus
from ..model.values import AddressValue, CcidValue, DriveValue, UsbValue, VirtioSerialValue
from ..placement.topology import BoardFunction, Bus, Occupant
from ..xml.document import Element

if TYPE_CHECKING:
    from ..placement.convert import Change
    from ..placement.guest import Guest

SCHEMA = 1

Json: TypeAlias = "bool | int | str | list[Json] | dict[str, Json] | None"
"""A JSON value."""


class Placed(Protocol):
    """What the reports read of a run (an :class:`augmenter.pipeline.Result`): the placed guest.

    A protocol, so that this layer needs nothing from the pipeline above it."""

    @property
    def guest(self) -> Guest: ...

# Address kinds grouped under their controller, in the order the tree shows them.
GROUPED = ("drive", "virtio-serial", "usb", "ccid")
GROUP_TITLES = {
    "drive": "drive controllers",
    "virtio-serial": "virtio-serial ports",
    "usb": "USB ports",
    "ccid": "smartcard (ccid) slots",
}
RULES = {
    "drive": "libvirt's drive address from the target name",
    "virtio-serial": "first free port of the first virtio-serial controller with room",
    "usb": "first free USB port, filling root ports and hubs depth-first",
    "ccid": "next slot of ccid controller 0",
    "dimm": "lowest free DIMM slot",
}
USER = "written by the user"


# -- devices -----------------------------------------------------------------------------------
def detail(dev: Device) -> str:
    """A few words that tell two devices of one kind apart (model, bus, target name)."""
    el = dev.el
    if dev.tag == "disk":
        return f"{el.get('device') or 'disk'} on {disk_bus(dev)}"
    if dev.tag == "channel":
        return dev.target("name") or dev.target("type") or ""
    if dev.tag in ("serial", "console"):
        kind = dev.target("type") or "serial"
        port = dev.target("port")
        return f"{kind} port {port}" if port is not None else kind
    if dev.tag in ("input", "redirdev"):
        return f"on {el.get('bus')}" if el.get("bus") else ""
    if dev.tag == "hostdev":
        return el.get("mode") or ""
    return dev.model or ""


def _placed_by(dev: Device) -> tuple[str | None, str | None]:
    """(who chose the address: "user" | "rule" | None, why) for one device."""
    a = dev.address
    if dev.why_placed:
        return ("user" if dev.why_placed == USER else "rule"), dev.why_placed
    if a is None:
        return None, None
    if a.sourceline is not None:  # an element the input had (maybe completed): the user's
        return "user", USER
    kind = a.get("type") or ""
    return "rule", RULES.get(kind, f"libvirt's default {kind} address")


def _no_address_reason(dev: Device, machine: str) -> str:
    bus = dev.el.get("bus")
    if dev.tag == "input" and bus == "ps2":
        return "on the board's i8042 PS/2 controller, which has no address"
    if dev.tag in ("input", "sound", "video") and (bus or dev.model) in ("xen", "pcspk", "sb16",
                                                                         "none", "ramfb"):
        return "not a PCI device: it has no address"
    if dev.tag == "console":
        if dev.target("type") in (None, "serial"):
            return "the console of a serial port: it has no device of its own"
        if dev.target("type") == "virtio":
            return "a virtio console: libvirt writes no address for it"
        return f"a {dev.target('type')} console has no address"
    if dev.tag == "serial":
        return "an ISA serial port of the board: no address"
    if dev.tag == "parallel":
        return "an ISA parallel port of the board: no address"
    if dev.tag == "controller":
        if dev.model == "none":
            return "model none: no controller is created"
        if dev.type == "fdc":
            return "the board's ISA floppy controller: no address"
        return f"a {dev.type} controller of the board: no address"
    if dev.model == "none":
        return "model none: no device is created"
    return f"libvirt gives this device no address on {machine}"


@dataclass
class Placement:
    """Where one device ended up: ``kind`` (pci, pci-root, drive, virtio-serial, usb, ccid,
    other, none) and the words that say where."""

    kind: str
    text: str

    def as_json(self) -> Json:
        return {"kind": self.kind, "text": self.text}


@dataclass
class DeviceRecord:
    """One device of the domain: what it is, where it came from, who chose its address."""

    id: int
    name: str
    tag: str
    detail: str
    line: int | None
    origin: str  # "user" | "implicit"
    added: str | None  # for implicit devices: why libvirt adds it
    address_type: str | None
    placed_by: str | None  # "user" | "rule" | None
    placed: str | None  # the rule, or the user, that chose the address
    placement: Placement | None = None  # filled in as the topology is walked

    def as_json(self) -> Json:
        return {
            "id": self.id, "name": self.name, "tag": self.tag, "detail": self.detail,
            "line": self.line, "origin": self.origin, "added": self.added,
            "address_type": self.address_type, "placed_by": self.placed_by,
            "placed": self.placed,
            "placement": self.placement.as_json() if self.placement is not None else None,
        }


def _device_record(i: int, dev: Device) -> DeviceRecord:
    who, why = _placed_by(dev)
    a = dev.address
    return DeviceRecord(
        id=i, name=dev.name(), tag=dev.tag, detail=detail(dev), line=dev.line or None,
        origin="implicit" if dev.implicit else "user",
        added=(dev.why_added or "implicit device") if dev.implicit else None,
        address_type=a.get("type") if a is not None else None,
        placed_by=who, placed=why)


def reason(rec: DeviceRecord) -> str:
    """One line: why the device exists and why it sits where it does."""
    if rec.origin == "implicit":
        parts = [f"added: {rec.added}"]
    else:
        where = f" (line {rec.line})" if rec.line else ""
        parts = [f"written by the user{where}"]
    if rec.placed and rec.placed_by == "rule":
        parts.append(f"placed: {rec.placed}")
    elif rec.placed_by == "user":
        parts.append("address written by the user")
    return "; ".join(parts)


# -- PCI ---------------------------------------------------------------------------------------
def _kinds(flags: Connect) -> list[str]:
    return [name for kind, name in KIND_NAMES.items() if flags & kind]


def link_kind(bus: Bus) -> str:
    """"pcie" when the links below the bus are PCI Express, "pci" when conventional."""
    return "pcie" if bus.flags & (Connect.PCIE | Connect.RP | Connect.DSP) else "pci"


def free_hotplug_slots(bus: Bus) -> list[int]:
    """Empty slots in range of a bus that supports hot-plug; none on other buses."""
    if not bus.flags & Connect.HOTPLUG:
        return []
    return [s for s in range(bus.min_slot, bus.max_slot + 1) if bus.used.get(s, 0) == 0]


@dataclass
class FunctionEntry:
    """One occupied function of a PCI bus."""

    address: str
    slot: int
    function: int
    device: int | None = None  # the device's id, when a device of the domain holds it
    name: str = ""
    origin: str = ""  # "user" | "implicit" | "board" | "reserved"
    why: str = ""
    bus: int | None = None  # the bus a PCI controller here provides
    board_function: str | None = None  # the board's built-in at this function of bus 0

    def as_json(self) -> Json:
        return {
            "address": self.address, "slot": self.slot, "function": self.function,
            "device": self.device, "name": self.name, "origin": self.origin, "why": self.why,
            "bus": self.bus, "board_function": self.board_function,
        }


@dataclass(frozen=True)
class Upstream:
    """Where a bus's controller is plugged in."""

    bus: int
    slot: int
    function: int

    def as_json(self) -> Json:
        return {"bus": self.bus, "slot": self.slot, "function": self.function}


@dataclass
class BusRecord:
    """One PCI bus: its controller, what it accepts, its occupied and free slots."""

    index: int
    model: str
    controller: int | None  # the id of the controller that provides it
    link: str  # "pcie" | "pci"
    accepts: list[str]
    hotplug: bool
    slots: tuple[int, int]  # the usable slot range
    parent: Upstream | None
    functions: list[FunctionEntry]
    free_hotplug_slots: list[str]

    def as_json(self) -> Json:
        return {
            "index": self.index, "model": self.model, "controller": self.controller,
            "link": self.link, "accepts": list(self.accepts), "hotplug": self.hotplug,
            "slots": list(self.slots),
            "parent": self.parent.as_json() if self.parent is not None else None,
            "functions": [f.as_json() for f in self.functions],
            "free_hotplug_slots": list(self.free_hotplug_slots),
        }


def _occupant_entry(entry: FunctionEntry, occupant: Occupant, records: list[DeviceRecord],
                    ids: dict[Device, int]) -> None:
    """Fill ``entry`` in for what holds it."""
    if isinstance(occupant, Device):
        rec = records[ids[occupant]]
        entry.device, entry.name, entry.origin = rec.id, rec.name, rec.origin
        entry.why = reason(rec)
        if occupant.tag == "controller" and occupant.type == "pci":
            entry.bus = occupant.index
        rec.placement = Placement("pci", entry.address)
    elif isinstance(occupant, BoardFunction):
        entry.name, entry.origin, entry.why = occupant.type, "board", "built into the board"
    else:
        entry.name, entry.origin = str(occupant), "reserved"
        entry.why = "held back by libvirt's placement"


def _pci_data(result: Placed, ids: dict[Device, int],
              records: list[DeviceRecord]) -> list[BusRecord] | None:
    guest = result.guest
    topo = guest.topology
    if topo is None:
        return None
    pci_ctrls = {d.index: d for d in guest.dom.controllers if d.type == "pci"}
    board = {(b.slot, b.function): b.type for b in guest.board.pci} if guest.board else {}
    buses: list[BusRecord] = []
    for bus in topo.buses:
        ctrl = pci_ctrls.get(bus.index)
        functions: list[FunctionEntry] = []
        occupants: list[tuple[int, int, Occupant]] = [
            (r.slot, r.function, r.occupant) for r in topo.occupants(bus.index)]
        if bus.index == 0:  # built-ins outside the usable range (the host bridge at 00.0)
            taken = {(s, f) for s, f, _ in occupants}
            occupants += [(s, f, BoardFunction(s, f, kind)) for (s, f), kind in board.items()
                          if (s, f) not in taken and s < bus.min_slot]
            occupants.sort(key=lambda t: (t[0], t[1]))
        for slot, function, owner in occupants:
            entry = FunctionEntry(
                str(PciAddress(bus.index, slot, function)), slot, function,
                board_function=board.get((slot, function)) if bus.index == 0 else None)
            _occupant_entry(entry, owner, records, ids)
            functions.append(entry)
        parent = None
        where = topo.place_of(ctrl) if ctrl is not None else None
        if where is not None:
            up_bus, taken_at = where
            parent = Upstream(up_bus, taken_at.slot, taken_at.function)
        free = free_hotplug_slots(bus)
        if ctrl is not None and parent is None and records[ids[ctrl]].placement is None:
            records[ids[ctrl]].placement = Placement("pci-root", f"root of PCI bus {bus.index}")
        buses.append(BusRecord(
            index=bus.index, model=bus.model,
            controller=ids[ctrl] if ctrl is not None else None,
            link=link_kind(bus), accepts=_kinds(bus.flags),
            hotplug=bool(bus.flags & Connect.HOTPLUG), slots=(bus.min_slot, bus.max_slot),
            parent=parent, functions=functions,
            free_hotplug_slots=[str(PciAddress(bus.index, s, 0)) for s in free]))
    return buses


# -- other addresses -----------------------------------------------------------------------------
def _drive_controller_type(dev: Device) -> str:
    if dev.tag == "disk":
        return disk_bus(dev) or "ide"
    if dev.tag == "hostdev":
        return "scsi"
    return dev.el.get("bus") or "drive"


def _ctrl_type(kind: str, dev: Device) -> str:
    return _drive_controller_type(dev) if kind == "drive" else kind


def _group_key(kind: str, dev: Device) -> tuple[str, int]:
    value = dev.addr
    index = value.bus if isinstance(value, UsbValue) else (
        value.controller if isinstance(value, DriveValue | VirtioSerialValue | CcidValue) else 0)
    return _ctrl_type(kind, dev), index


def _entry_text(kind: str, a: Element) -> str:
    if kind == "drive":
        return f"bus {a.get('bus')} target {a.get('target')} unit {a.get('unit')}"
    if kind == "virtio-serial":
        return f"bus {a.get('bus')} port {a.get('port') or '?'}"
    if kind == "usb":
        return f"port {a.get('port') or '?'}"
    if kind == "ccid":
        return f"slot {a.get('slot') or '0'}"
    fields = " ".join(f"{k}={v}" for k, v in a.attrib.items() if k != "type")
    return f"{kind} {fields}".strip()


def _sort_key(value: AddressValue | None) -> tuple[int, ...]:
    if isinstance(value, DriveValue):
        return value.bus, value.target, value.unit
    if isinstance(value, VirtioSerialValue):
        return value.bus, value.port
    if isinstance(value, UsbValue):
        return value.port or (0,)
    if isinstance(value, CcidValue):
        return (value.slot,)
    return ()


def _controller_of(result: Placed, type_: str, index: int) -> Device | None:
    same = [c for c in result.guest.dom.controllers if c.type == type_ and c.index == index]
    masters = [c for c in same if c.el.find("master") is None]
    return next(iter(masters or same), None)


@dataclass
class AddressEntry:
    """One device at a non-PCI address; a USB entry holds the devices on the hub it is."""

    address: str
    fields: dict[str, str]
    device: int
    name: str
    origin: str
    why: str
    children: list[AddressEntry] | None = None  # USB only: what hangs from a hub

    def as_json(self) -> Json:
        out: dict[str, Json] = {
            "address": self.address, "fields": dict(self.fields), "device": self.device,
            "name": self.name, "origin": self.origin, "why": self.why,
        }
        if self.children is not None:
            out["children"] = [c.as_json() for c in self.children]
        return out


@dataclass
class AddressGroup:
    """The devices on one drive, virtio-serial, USB or ccid controller."""

    type: str
    index: int
    controller: int | None
    model: str | None
    entries: list[AddressEntry]

    def as_json(self) -> Json:
        return {"type": self.type, "index": self.index, "controller": self.controller,
                "model": self.model, "entries": [e.as_json() for e in self.entries]}


def _address_entry(a: Element, text: str, rec: DeviceRecord) -> AddressEntry:
    return AddressEntry(text, {str(k): str(v) for k, v in a.attrib.items() if k != "type"},
                        rec.id, rec.name, rec.origin, reason(rec))


def _address_groups(result: Placed, ids: dict[Device, int],
                    records: list[DeviceRecord]) -> dict[str, list[AddressGroup]]:
    groups: dict[str, dict[tuple[str, int], list[tuple[Device, Element]]]] = {
        k: {} for k in GROUPED}
    for dev in result.guest.dom.devices:
        a = dev.address
        kind = a.get("type") if a is not None else None
        if a is not None and kind in GROUPED and records[ids[dev]].placement is None:
            groups[kind].setdefault(_group_key(kind, dev), []).append((dev, a))
    out: dict[str, list[AddressGroup]] = {}
    for kind in GROUPED:
        out[kind] = []
        for (ctype, index), members in sorted(groups[kind].items()):
            ctrl = _controller_of(result, "usb" if kind == "usb" else ctype, index)
            members.sort(key=lambda m: _sort_key(m[0].addr))
            entries: list[AddressEntry] = []
            by_port: dict[str, AddressEntry] = {}
            for dev, a in members:
                rec = records[ids[dev]]
                text = _entry_text(kind, a)
                label = (f"{ctype} {index} " if kind == "drive" else f"{kind} {index} ") + text
                rec.placement = Placement(kind, label)
                entry = _address_entry(a, text, rec)
                if kind == "usb":
                    entry.children = []
                    port = a.get("port") or ""
                    by_port[port] = entry
                    parent = by_port.get(port.rsplit(".", 1)[0]) if "." in port else None
                    if parent is not None and parent.children is not None:
                        parent.children.append(entry)
                        continue
                entries.append(entry)
            out[kind].append(AddressGroup(
                "usb" if kind == "usb" else ctype, index,
                ids[ctrl] if ctrl is not None else None,
                ctrl.model if ctrl is not None else None, entries))
    return out


def _other_addresses(result: Placed, ids: dict[Device, int],
                     records: list[DeviceRecord]) -> dict[str, list[AddressEntry]]:
    out: dict[str, list[AddressEntry]] = {}
    for dev in result.guest.dom.devices:
        rec = records[ids[dev]]
        a = dev.address
        if rec.placement is not None or a is None:
            continue
        kind = a.get("type") or "unknown"
        text = _entry_text(kind, a)
        rec.placement = Placement("other", text)
        out.setdefault(kind, []).append(_address_entry(a, text, rec))
    return out


@dataclass(frozen=True)
class Unaddressed:
    """A device with no address, and why it has none."""

    device: int
    name: str
    origin: str
    why: str
    reason: str

    def as_json(self) -> Json:
        return {"device": self.device, "name": self.name, "origin": self.origin,
                "why": self.why, "reason": self.reason}


@dataclass(frozen=True)
class FreeSlot:
    """An empty hot-pluggable slot."""

    address: str
    bus: int
    model: str

    def as_json(self) -> Json:
        return {"address": self.address, "bus": self.bus, "model": self.model}


@dataclass
class Explanation:
    """Everything ``--explain`` shows, typed; :meth:`as_json` is its versioned JSON form."""

    domain: str | None
    arch: str
    machine: str
    family: str | None
    pci: list[BusRecord] | None  # None: the machine has no PCI topology
    free: list[FreeSlot]
    addresses: dict[str, list[AddressGroup]]
    other_addresses: dict[str, list[AddressEntry]]
    unaddressed: list[Unaddressed]
    devices: list[DeviceRecord]
    notes: list[str]  # what augment did beyond libvirt (docs/placement.md §20-§24)
    conversion: list[Change]  # what --convert-to changed

    def as_json(self) -> dict[str, Json]:
        pci: Json = None
        if self.pci is not None:
            pci = {"root": 0 if self.pci else None, "buses": [b.as_json() for b in self.pci]}
        return {
            "schema": SCHEMA,
            "domain": self.domain,
            "arch": self.arch,
            "machine": self.machine,
            "family": self.family,
            "pci": pci,
            "hotplug": {"free": len(self.free), "slots": [f.as_json() for f in self.free]},
            "addresses": {k: [g.as_json() for g in v] for k, v in self.addresses.items()},
            "other_addresses": {k: [e.as_json() for e in v]
                                for k, v in self.other_addresses.items()},
            "unaddressed": [u.as_json() for u in self.unaddressed],
            "devices": [r.as_json() for r in self.devices],
            "beyond_libvirt": list(self.notes),
            "conversion": [{"device": c.device, "change": c.change, "line": c.line}
                           for c in self.conversion],
        }


# -- the public functions ----------------------------------------------------------------------
def explain(result: Placed) -> Explanation:
    """Where every device went and why, as typed records."""
    guest = result.guest
    devices = guest.dom.devices
    ids = {dev: i for i, dev in enumerate(devices)}
    records = [_device_record(i, dev) for i, dev in enumerate(devices)]
    pci = _pci_data(result, ids, records)
    addresses = _address_groups(result, ids, records)
    other = _other_addresses(result, ids, records)
    unaddressed = []
    for dev in devices:
        rec = records[ids[dev]]
        if rec.placement is None:
            why = _no_address_reason(dev, guest.machine)
            rec.placement = Placement("none", "no address")
            unaddressed.append(Unaddressed(rec.id, rec.name, rec.origin, reason(rec), why))
    free = [FreeSlot(addr, b.index, b.model)
            for b in (pci or []) for addr in b.free_hotplug_slots]
    name = guest.dom.root.findtext("name")
    return Explanation(
        domain=name.strip() if name else None, arch=guest.dom.arch, machine=guest.machine,
        family=guest.family.name if guest.family else None, pci=pci, free=free,
        addresses=addresses, other_addresses=other, unaddressed=unaddressed, devices=records,
        notes=list(guest.notes), conversion=list(guest.conversion))


def explain_data(result: Placed) -> dict[str, Json]:
    """Everything the tree shows, as JSON-able data (see the module doc for the layout)."""
    return explain(result).as_json()


_ORIGIN_STYLE = {"user": "green", "implicit": "yellow", "board": "cyan", "reserved": "magenta"}


def _line(address: str, name: str, extra: str, origin: str, why: str) -> Text:
    text = Text()
    text.append(address, style="bold")
    text.append("  ")
    text.append(name, style=_ORIGIN_STYLE.get(origin, ""))
    if extra:
        text.append(f" ({extra})", style="dim")
    if why:
        text.append(f"  - {why}", style="italic dim")
    return text


def _bus_flags(bus: BusRecord) -> str:
    flags = ["PCIe links" if bus.link == "pcie" else "conventional PCI links"]
    if bus.hotplug:
        flags.append("hot-plug")
    lo, hi = bus.slots
    flags.append(f"slot {lo:#04x}" if lo == hi else f"slots {lo:#04x}-{hi:#04x}")
    return f"[{', '.join(flags)}]"


def _bus_label(bus: BusRecord, data: Explanation) -> Text:
    """A bus that hangs from no slot (the root): the bus and its controller."""
    text = Text()
    text.append(f"bus {bus.index}: {bus.model}", style="bold blue")
    text.append(f" {_bus_flags(bus)}", style="dim")
    if bus.controller is not None:
        rec = data.devices[bus.controller]
        text.append(f"  {rec.name}", style=_ORIGIN_STYLE[rec.origin])
        text.append(f"  - {reason(rec)}", style="italic dim")
    return text


def ranges(slots: list[int]) -> str:
    """``[8, 9, 10, 12]`` -> ``"0x08-0x0a, 0x0c"``."""
    out: list[str] = []
    start = prev = None
    for s in [*slots, None]:
        if s is not None and prev is not None and s == prev + 1:
            prev = s
            continue
        if start is not None and prev is not None:
            out.append(f"{start:#04x}" if start == prev else f"{start:#04x}-{prev:#04x}")
        start = prev = s
    return ", ".join(out)


def _free_line(bus: BusRecord) -> Text:
    slots = [int(a.split(":")[2].split(".")[0], 16) for a in bus.free_hotplug_slots]
    word = "slot" if len(slots) == 1 else "slots"
    return Text().append(f"{len(slots)} free hot-plug {word}", "bold").append(
        f"  {word} {ranges(slots)}", "dim")


def _add_bus(node: Tree, bus: BusRecord, data: Explanation,
             by_index: dict[int, BusRecord], seen: set[int]) -> None:
    seen.add(bus.index)
    for fn in bus.functions:
        extra = ""
        if fn.device is not None:
            extra = data.devices[fn.device].detail
            if fn.board_function and fn.origin != "board":
                extra = f"{extra}, board's {fn.board_function}" if extra else (
                    f"board's {fn.board_function}")
        sub = by_index.get(fn.bus) if fn.bus is not None else None
        line = _line(fn.address, fn.name, extra, fn.origin, "")
        if sub is not None:
            line.append(f" -> bus {sub.index} {_bus_flags(sub)}", style="blue")
        if fn.why:
            line.append(f"  - {fn.why}", style="italic dim")
        child = node.add(line)
        if sub is not None and sub.index not in seen:
            _add_bus(child, sub, data, by_index, seen)
    if bus.free_hotplug_slots:
        node.add(_free_line(bus))


def _add_usb(node: Tree, entries: list[AddressEntry], data: Explanation) -> None:
    for e in entries:
        rec = data.devices[e.device]
        child = node.add(_line(e.address, e.name, rec.detail, e.origin, e.why))
        _add_usb(child, e.children or [], data)


class Text(rich.text.Text):
    """rich's Text with every string made printable (:func:`~augmenter.errors.printable`): a
    document's names and values may hold line feeds or escape codes."""

    def __init__(self, text: str = "", style: str = "") -> None:
        super().__init__(printable(text), style=style)

    def append(self, text: str | rich.text.Text, style: str | rich.style.Style | None = None
               ) -> Text:
        super().append(printable(text) if isinstance(text, str) else text, style)
        return self


def explain_tree(result: Placed) -> Tree:
    """The topology as a rich tree: PCI buses, then drive, virtio-serial, USB and ccid
    addresses, free hot-plug slots, and the devices without an address. Every name and
    value is shown printable: a document's values may hold line feeds or escape codes."""
    data = explain(result)
    title = Text()
    title.append(data.domain or "domain", style="bold")
    title.append(f"  {data.machine} ({data.arch})", style="dim")
    tree = Tree(title)
    if data.notes or data.conversion:
        branch = tree.add(Text("beyond libvirt", style="bold"))
        for c in data.conversion:
            branch.add(Text(f"converted: {c.device}: {c.change}", style="yellow"))
        for note in data.notes:
            branch.add(Text(note, style="yellow"))
    buses = data.pci or []
    if buses:
        by_index = {b.index: b for b in buses}
        seen: set[int] = set()
        branch = tree.add(Text("PCI", style="bold"))
        for bus in buses:
            if bus.index not in seen and (bus.parent is None
                                          or bus.parent.bus not in by_index):
                _add_bus(branch.add(_bus_label(bus, data)), bus, data, by_index, seen)
        for bus in buses:  # a bus whose controller sits on a bus not reached above
            if bus.index not in seen:
                _add_bus(branch.add(_bus_label(bus, data)), bus, data, by_index, seen)
    for kind in GROUPED:
        groups = data.addresses[kind]
        if not groups:
            continue
        branch = tree.add(Text(GROUP_TITLES[kind], style="bold"))
        for g in groups:
            label = Text(f"controller {g.type} {g.index}", style="bold blue")
            if g.model:
                label.append(f" ({g.model})", style="dim")
            if g.controller is not None:
                place = data.devices[g.controller].placement
                if place and place.kind not in ("none", "pci-root"):
                    label.append(f" at {place.text}", style="dim")
            else:
                label.append(" (no such controller)", style="red")
            sub = branch.add(label)
            if kind == "usb":
                _add_usb(sub, g.entries, data)
                continue
            for e in g.entries:
                rec = data.devices[e.device]
                sub.add(_line(e.address, e.name, rec.detail, e.origin, e.why))
    for kind, entries in sorted(data.other_addresses.items()):
        branch = tree.add(Text(f"{kind} addresses", style="bold"))
        for e in entries:
            rec = data.devices[e.device]
            branch.add(_line(e.address, e.name, rec.detail, e.origin, e.why))
    branch = tree.add(Text(f"free hot-plug slots: {len(data.free)}", style="bold"))
    for bus in buses:
        if bus.free_hotplug_slots:
            first, last = bus.free_hotplug_slots[0], bus.free_hotplug_slots[-1]
            count = len(bus.free_hotplug_slots)
            span = first if count == 1 else f"{count} slots, {first} ... {last}"
            line = Text().append(f"bus {bus.index} ({bus.model}): ", "blue")
            branch.add(line.append(str(span)))
    if data.unaddressed:
        branch = tree.add(Text("no address", style="bold"))
        for u in data.unaddressed:
            rec = data.devices[u.device]
            why = f"{u.reason}; {u.why}"
            branch.add(_line("-", u.name, rec.detail, u.origin, why))
    return tree
