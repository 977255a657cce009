"""USB ports: a tree of root hubs and hubs, filled depth-first (docs/placement.md §15)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from ..model.addresses import write_address
from ..model.domain import Device
from ..model.values import CONTROLLER_PORTS, CcidValue, UsbValue, field_value
from ..policy.devices import KINDS, USB_ORDER, XHCI_MODELS, usb_model
from ..policy.messages import SMARTCARD_NOT_CCID, USB_DISABLED, usb_bus_missing, usb_duplicate
from .guest import Guest

HUB_PORTS = 8
MAX_DEPTH = 4


@dataclass
class Hub:
    ports: int
    used: dict[int, Hub | None] = field(default_factory=dict)


def usb_devices(guest: Guest) -> list[Device]:
    """USB-addressed devices in libvirt's order: hubs first, redirdevs last."""
    dom = guest.dom
    out: list[Device] = []
    for tag in USB_ORDER:
        plugs = KINDS[tag].usb
        out += [d for d in dom.each(tag) if plugs(d)]
    return out


def _root_ports(ctrl: Device) -> int:
    """Ports of a USB controller's root hub (virDomainUSBAddressControllerModelToPorts): an
    xHCI's ``ports`` when written, else its model's."""
    written = field_value(ctrl.el, CONTROLLER_PORTS) if ctrl.model in XHCI_MODELS else None
    return usb_model(ctrl).root_ports if written is None else written


def _path(dev: Device) -> tuple[int, list[int]] | None:
    """(bus, port path) of a USB address the user wrote with a port; None without one (port 0
    means no port to libvirt)."""
    value = dev.addr
    if not isinstance(value, UsbValue) or not value.port:
        return None
    return value.bus, list(value.port)


def duplicate_ports(devices: Iterable[Device]) -> Iterator[tuple[Device, UsbValue, Device]]:
    """Each device whose written USB port (bus and port path) an earlier one of ``devices``
    has, with its address and that earlier device: what virDomainUSBAddressReserve refuses."""
    seen: dict[tuple[int, tuple[int, ...]], Device] = {}
    for dev in devices:
        value = dev.addr
        if not isinstance(value, UsbValue) or not value.port:
            continue  # no port: libvirt picks one
        first = seen.setdefault((value.bus, value.port), dev)
        if first is not dev:
            yield dev, value, first


def _free(hub: Hub, depth: int) -> list[int] | None:
    for port in range(1, hub.ports + 1):
        if port not in hub.used:
            return [port]
    if depth >= MAX_DEPTH:
        return None
    for port in sorted(hub.used):
        child = hub.used[port]
        if child is not None:
            sub = _free(child, depth + 1)
            if sub is not None:
                return [port, *sub]
    return None


def assign(guest: Guest) -> None:
    dom = guest.dom
    devices = usb_devices(guest)
    controllers = [c for c in dom.controllers if c.type == "usb" and c.model != "none"]
    if not devices:
        return
    if not controllers:
        raise guest.fail(devices[0], f"{USB_DISABLED}, but USB devices are present in the "
                                     "domain XML")
    roots: dict[int, Hub] = {}
    for ctrl in controllers:
        ports = _root_ports(ctrl)
        if ports > 0:
            if ctrl.index in roots:
                raise guest.fail(ctrl, f"Duplicate USB controllers with index {ctrl.index}")
            roots[ctrl.index] = Hub(ports)
    hubs = [h for h in dom.of("hub") if h.type == "usb"]
    total = sum(h.ports for h in roots.values()) + HUB_PORTS * len(hubs)
    if len(devices) > total:
        added = [dom.add("hub", {"type": "usb"}, why="more USB devices than root ports")
                 for _ in range(math.ceil((len(devices) - total + 1) / (HUB_PORTS - 1)))]
        devices[len(hubs):len(hubs)] = added  # after the written hubs, in one move
        hubs += added

    def attach(dev: Device, bus: int, ports: list[int], is_hub: bool) -> None:
        node = roots.get(bus)
        if node is None:
            raise guest.fail(dev, usb_bus_missing(bus))
        for p in ports[:-1]:
            child = node.used.get(p)
            if child is None:
                raise guest.fail(dev, f"there is no hub at port {p} on USB bus {bus}")
            node = child
        last = ports[-1]
        if last < 1 or last > node.ports:
            raise guest.fail(dev, f"port {'.'.join(map(str, ports))} out of range on USB "
                                  f"bus {bus}")
        assert last not in node.used, "duplicate_ports refused a port written twice"
        node.used[last] = Hub(HUB_PORTS) if is_hub else None

    for dev, taken, _ in duplicate_ports(devices):
        raise guest.fail(dev, usb_duplicate(taken.bus, taken.port_text))
    explicit = [(d, p) for d in devices if (p := _path(d)) is not None]
    for dev, (fixed_bus, fixed_ports) in sorted(explicit, key=lambda t: len(t[1][1])):
        attach(dev, fixed_bus, fixed_ports, dev.tag == "hub")
    for dev in devices:
        if _path(dev) is not None:
            continue
        a, value = dev.address, dev.addr
        want_bus = value.bus if isinstance(value, UsbValue) and a is not None and (
            a.get("bus") is not None) else None
        found: tuple[int, list[int]] | None = None
        for bus in sorted(roots):
            if want_bus is not None and bus != want_bus:
                continue
            free = _free(roots[bus], 1)
            if free is not None:
                found = (bus, free)
                break
        if found is None:
            raise guest.fail(dev, "No free USB ports")
        attach(dev, found[0], found[1], dev.tag == "hub")
        write_address(dev, "usb", bus=found[0], port=".".join(map(str, found[1])))


def assign_ccid(guest: Guest) -> None:
    """Smartcards: controller 0, the next slot (docs/placement.md §16)."""
    slots: list[int] = []
    for card in guest.dom.of("smartcard"):
        a = card.address
        if a is not None:
            if a.get("type") != "ccid":
                raise guest.fail(card, SMARTCARD_NOT_CCID)
            value = card.addr
            if isinstance(value, CcidValue) and value.controller == 0:
                slots.append(value.slot)
            continue
        slot = max(slots) + 1 if slots else 0
        slots.append(slot)
        write_address(card, "ccid", CcidValue(0, slot), controller=0, slot=slot)
