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

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any, Protocol

from rich.text import Text
from rich.tree import Tree

from ..errors import printable
from ..model.addresses import PciAddress
from ..model.connect import KIND_NAMES, Connect
from ..model.domain import Device, disk_bus, parse_int
from ..placement.topology import Bus

if TYPE_CHECKING:
    from ..placement.guest import Guest

SCHEMA = 1


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


def _device_record(i: int, dev: Device) -> dict[str, Any]:
    who, why = _placed_by(dev)
    a = dev.address
    return {
        "id": i,
        "name": dev.name(),
        "tag": dev.tag,
        "detail": detail(dev),
        "line": dev.line or None,
        "origin": "implicit" if dev.implicit else "user",
        "added": (dev.why_added or "implicit device") if dev.implicit else None,
        "address_type": a.get("type") if a is not None else None,
        "placed_by": who,
        "placed": why,
        "placement": None,  # filled in below: {"kind": ..., "text": ...}
    }


def reason(rec: dict[str, Any]) -> str:
    """One line: why the device exists and why it sits where it does."""
    if rec["origin"] == "implicit":
        parts = [f"added: {rec['added']}"]
    else:
        where = f" (line {rec['line']})" if rec["line"] else ""
        parts = [f"written by the user{where}"]
    if rec["placed"] and rec["placed_by"] == "rule":
        parts.append(f"placed: {rec['placed']}")
    elif rec["placed_by"] == "user":
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


def _pci_data(result: Placed, ids: dict[Device, int],
              records: list[dict[str, Any]]) -> dict[str, Any] | None:
    guest = result.guest
    topo = guest.topology
    if topo is None:
        return None
    pci_ctrls = {d.index: d for d in guest.dom.controllers if d.type == "pci"}
    board = {(b.slot, b.function): b.type for b in guest.board.pci} if guest.board else {}
    buses: list[dict[str, Any]] = []
    for bus in topo.buses:
        ctrl = pci_ctrls.get(bus.index)
        functions: list[dict[str, Any]] = []
        occupants: list[tuple[int, int, Hashable]] = list(topo.occupants(bus.index))
        if bus.index == 0:  # built-ins outside the usable range (the host bridge at 00.0)
            taken = {(s, f) for s, f, _ in occupants}
            occupants += [(s, f, ("board", s, f)) for (s, f) in board
                          if (s, f) not in taken and s < bus.min_slot]
            occupants.sort(key=lambda t: (t[0], t[1]))
        for slot, function, owner in occupants:
            addr = str(PciAddress(bus.index, slot, function))
            entry: dict[str, Any] = {
                "address": addr, "slot": slot, "function": function,
                "device": None, "name": "", "origin": "", "why": "", "bus": None,
                "board_function": board.get((slot, function)) if bus.index == 0 else None,
            }
            if isinstance(owner, Device):
                rec = records[ids[owner]]
                entry.update(device=rec["id"], name=rec["name"], origin=rec["origin"],
                             why=reason(rec))
                if owner.tag == "controller" and owner.type == "pci":
                    entry["bus"] = owner.index
                rec["placement"] = {"kind": "pci", "text": addr}
            elif isinstance(owner, tuple) and owner and owner[0] == "board":
                entry.update(name=board.get((slot, function), "board function"),
                             origin="board", why="built into the board")
            else:
                entry.update(name=str(owner), origin="reserved",
                             why="held back by libvirt's placement")
            functions.append(entry)
        parent = None
        if ctrl is not None and ctrl in topo.graph:
            for up in topo.graph.predecessors(ctrl):
                edge = topo.graph.edges[up, ctrl]
                up_index = up[1] if isinstance(up, tuple) else None
                parent = {"bus": up_index, "slot": edge["slot"], "function": edge["function"]}
        free = free_hotplug_slots(bus)
        if ctrl is not None and parent is None and records[ids[ctrl]]["placement"] is None:
            records[ids[ctrl]]["placement"] = {"kind": "pci-root",
                                               "text": f"root of PCI bus {bus.index}"}
        buses.append({
            "index": bus.index,
            "model": bus.model,
            "controller": ids[ctrl] if ctrl is not None else None,
            "link": link_kind(bus),
            "accepts": _kinds(bus.flags),
            "hotplug": bool(bus.flags & Connect.HOTPLUG),
            "slots": [bus.min_slot, bus.max_slot],
            "parent": parent,
            "functions": functions,
            "free_hotplug_slots": [str(PciAddress(bus.index, s, 0)) for s in free],
        })
    return {"root": 0 if buses else None, "buses": buses}


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
    a = dev.address
    assert a is not None
    field = "bus" if kind == "usb" else "controller"
    return _ctrl_type(kind, dev), parse_int(a.get(field), 0) or 0


def _entry_text(kind: str, a: Any) -> str:
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


def _sort_key(kind: str, a: Any) -> tuple[int, ...]:
    def num(name: str) -> int:
        return parse_int(a.get(name), 0) or 0

    if kind == "drive":
        return num("bus"), num("target"), num("unit")
    if kind == "virtio-serial":
        return num("bus"), num("port")
    if kind == "usb":
        try:
            return tuple(int(p) for p in (a.get("port") or "0").split("."))
        except ValueError:
            return (0,)
    if kind == "ccid":
        return (num("slot"),)
    return ()


def _controller_of(result: Placed, type_: str, index: int) -> Device | None:
    same = [c for c in result.guest.dom.controllers if c.type == type_ and c.index == index]
    masters = [c for c in same if c.el.find("master") is None]
    return next(iter(masters or same), None)


def _address_groups(result: Placed, ids: dict[Device, int],
                    records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, dict[tuple[str, int], list[tuple[Device, Any]]]] = {k: {} for k in GROUPED}
    for dev in result.guest.dom.devices:
        a = dev.address
        kind = a.get("type") if a is not None else None
        if kind in GROUPED and records[ids[dev]]["placement"] is None:
            groups[kind].setdefault(_group_key(kind, dev), []).append((dev, a))
    out: dict[str, list[dict[str, Any]]] = {}
    for kind in GROUPED:
        out[kind] = []
        for (ctype, index), members in sorted(groups[kind].items()):
            ctrl = _controller_of(result, "usb" if kind == "usb" else ctype, index)
            members.sort(key=lambda m: _sort_key(kind, m[1]))
            entries: list[dict[str, Any]] = []
            by_port: dict[str, dict[str, Any]] = {}
            for dev, a in members:
                rec = records[ids[dev]]
                text = _entry_text(kind, a)
                label = (f"{ctype} {index} " if kind == "drive" else f"{kind} {index} ") + text
                rec["placement"] = {"kind": kind, "text": label}
                entry: dict[str, Any] = {
                    "address": text,
                    "fields": {k: v for k, v in a.attrib.items() if k != "type"},
                    "device": rec["id"], "name": rec["name"], "origin": rec["origin"],
                    "why": reason(rec),
                }
                if kind == "usb":
                    entry["children"] = []
                    port = a.get("port") or ""
                    by_port[port] = entry
                    parent = by_port.get(port.rsplit(".", 1)[0]) if "." in port else None
                    if parent is not None:
                        parent["children"].append(entry)
                        continue
                entries.append(entry)
            out[kind].append({
                "type": "usb" if kind == "usb" else ctype,
                "index": index,
                "controller": ids[ctrl] if ctrl is not None else None,
                "model": ctrl.model if ctrl is not None else None,
                "entries": entries,
            })
    return out


def _other_addresses(result: Placed, ids: dict[Device, int],
                     records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for dev in result.guest.dom.devices:
        rec = records[ids[dev]]
        a = dev.address
        if rec["placement"] is not None or a is None:
            continue
        kind = a.get("type") or "unknown"
        text = _entry_text(kind, a)
        rec["placement"] = {"kind": "other", "text": text}
        out.setdefault(kind, []).append({
            "address": text,
            "fields": {k: v for k, v in a.attrib.items() if k != "type"},
            "device": rec["id"], "name": rec["name"], "origin": rec["origin"],
            "why": reason(rec),
        })
    return out


# -- the public functions ----------------------------------------------------------------------
def explain_data(result: Placed) -> dict[str, Any]:
    """Everything the tree shows, as JSON-able data (see the module doc for the layout)."""
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
        if rec["placement"] is None:
            why = _no_address_reason(dev, guest.machine)
            rec["placement"] = {"kind": "none", "text": "no address"}
            unaddressed.append({"device": rec["id"], "name": rec["name"],
                                "origin": rec["origin"], "why": reason(rec), "reason": why})
    free = [{"address": addr, "bus": b["index"], "model": b["model"]}
            for b in (pci["buses"] if pci else []) for addr in b["free_hotplug_slots"]]
    name = guest.dom.root.findtext("name")
    return {
        "schema": SCHEMA,
        "domain": name.strip() if name else None,
        "arch": guest.dom.arch,
        "machine": guest.machine,
        "family": guest.family.name if guest.family else None,
        "pci": pci,
        "hotplug": {"free": len(free), "slots": free},
        "addresses": addresses,
        "other_addresses": other,
        "unaddressed": unaddressed,
        "devices": records,
        # what augment did beyond libvirt (docs/placement.md §20-§24)
        "beyond_libvirt": list(guest.notes),
        "conversion": [c.as_dict() for c in guest.conversion],
    }


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


def _bus_flags(bus: dict[str, Any]) -> str:
    flags = ["PCIe links" if bus["link"] == "pcie" else "conventional PCI links"]
    if bus["hotplug"]:
        flags.append("hot-plug")
    lo, hi = bus["slots"]
    flags.append(f"slot {lo:#04x}" if lo == hi else f"slots {lo:#04x}-{hi:#04x}")
    return f"[{', '.join(flags)}]"


def _bus_label(bus: dict[str, Any], data: dict[str, Any]) -> Text:
    """A bus that hangs from no slot (the root): the bus and its controller."""
    text = Text()
    text.append(f"bus {bus['index']}: {bus['model']}", style="bold blue")
    text.append(f" {_bus_flags(bus)}", style="dim")
    if bus["controller"] is not None:
        rec = data["devices"][bus["controller"]]
        text.append(f"  {rec['name']}", style=_ORIGIN_STYLE[rec["origin"]])
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


def _free_line(bus: dict[str, Any]) -> Text:
    slots = [int(a.split(":")[2].split(".")[0], 16) for a in bus["free_hotplug_slots"]]
    word = "slot" if len(slots) == 1 else "slots"
    return Text.assemble((f"{len(slots)} free hot-plug {word}", "bold"),
                         (f"  {word} {ranges(slots)}", "dim"))


def _add_bus(node: Tree, bus: dict[str, Any], data: dict[str, Any],
             by_index: dict[int, dict[str, Any]], seen: set[int]) -> None:
    seen.add(bus["index"])
    for fn in bus["functions"]:
        extra = ""
        if fn["device"] is not None:
            extra = data["devices"][fn["device"]]["detail"]
            if fn["board_function"] and fn["origin"] != "board":
                extra = f"{extra}, board's {fn['board_function']}" if extra else (
                    f"board's {fn['board_function']}")
        sub = by_index.get(fn["bus"]) if fn["bus"] is not None else None
        line = _line(fn["address"], fn["name"], extra, fn["origin"], "")
        if sub is not None:
            line.append(f" -> bus {sub['index']} {_bus_flags(sub)}", style="blue")
        if fn["why"]:
            line.append(f"  - {fn['why']}", style="italic dim")
        child = node.add(line)
        if sub is not None and sub["index"] not in seen:
            _add_bus(child, sub, data, by_index, seen)
    if bus["free_hotplug_slots"]:
        node.add(_free_line(bus))


def _add_usb(node: Tree, entries: list[dict[str, Any]], data: dict[str, Any]) -> None:
    for e in entries:
        rec = data["devices"][e["device"]]
        child = node.add(_line(e["address"], e["name"], rec["detail"], e["origin"], e["why"]))
        _add_usb(child, e["children"], data)


def _printable(value: Any) -> Any:
    """``value`` (explain data: dicts, lists, strings, numbers) with every string printable."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, dict):
        return {key: _printable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_printable(item) for item in value]
    return value


def explain_tree(result: Placed) -> Tree:
    """The topology as a rich tree: PCI buses, then drive, virtio-serial, USB and ccid
    addresses, free hot-plug slots, and the devices without an address. Every name and
    value is shown printable: a document's values may hold line feeds or escape codes."""
    data = _printable(explain_data(result))
    title = Text()
    title.append(data["domain"] or "domain", style="bold")
    title.append(f"  {data['machine']} ({data['arch']})", style="dim")
    tree = Tree(title)
    if data["beyond_libvirt"] or data["conversion"]:
        branch = tree.add(Text("beyond libvirt", style="bold"))
        for c in data["conversion"]:
            branch.add(Text(f"converted: {c['device']}: {c['change']}", style="yellow"))
        for note in data["beyond_libvirt"]:
            branch.add(Text(note, style="yellow"))
    pci = data["pci"]
    if pci is not None and pci["buses"]:
        by_index = {b["index"]: b for b in pci["buses"]}
        seen: set[int] = set()
        branch = tree.add(Text("PCI", style="bold"))
        for bus in pci["buses"]:
            if bus["index"] not in seen and (bus["parent"] is None
                                             or bus["parent"]["bus"] not in by_index):
                _add_bus(branch.add(_bus_label(bus, data)), bus, data, by_index, seen)
        for bus in pci["buses"]:  # a bus whose controller sits on a bus not reached above
            if bus["index"] not in seen:
                _add_bus(branch.add(_bus_label(bus, data)), bus, data, by_index, seen)
    for kind in GROUPED:
        groups = data["addresses"][kind]
        if not groups:
            continue
        branch = tree.add(Text(GROUP_TITLES[kind], style="bold"))
        for g in groups:
            label = Text(f"controller {g['type']} {g['index']}", style="bold blue")
            if g["model"]:
                label.append(f" ({g['model']})", style="dim")
            if g["controller"] is not None:
                place = data["devices"][g["controller"]]["placement"]
                if place and place["kind"] not in ("none", "pci-root"):
                    label.append(f" at {place['text']}", style="dim")
            else:
                label.append(" (no such controller)", style="red")
            sub = branch.add(label)
            if kind == "usb":
                _add_usb(sub, g["entries"], data)
                continue
            for e in g["entries"]:
                rec = data["devices"][e["device"]]
                sub.add(_line(e["address"], e["name"], rec["detail"], e["origin"], e["why"]))
    for kind, entries in sorted(data["other_addresses"].items()):
        branch = tree.add(Text(f"{kind} addresses", style="bold"))
        for e in entries:
            rec = data["devices"][e["device"]]
            branch.add(_line(e["address"], e["name"], rec["detail"], e["origin"], e["why"]))
    hp = data["hotplug"]
    branch = tree.add(Text(f"free hot-plug slots: {hp['free']}", style="bold"))
    for bus in pci["buses"] if pci is not None else []:
        if bus["free_hotplug_slots"]:
            first, last = bus["free_hotplug_slots"][0], bus["free_hotplug_slots"][-1]
            count = len(bus["free_hotplug_slots"])
            span = first if count == 1 else f"{count} slots, {first} ... {last}"
            branch.add(Text.assemble((f"bus {bus['index']} ({bus['model']}): ", "blue"), span))
    if data["unaddressed"]:
        branch = tree.add(Text("no address", style="bold"))
        for e in data["unaddressed"]:
            rec = data["devices"][e["device"]]
            why = f"{e['reason']}; {e['why']}"
            branch.add(_line("-", e["name"], rec["detail"], e["origin"], why))
    return tree
