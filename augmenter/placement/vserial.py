"""virtio-serial ports for channels and consoles (docs/placement.md §14)."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator

from ..model.addresses import write_address
from ..model.domain import Device
from ..model.record import Record
from ..model.values import CONTROLLER_PORTS, VirtioSerialValue, field_value
from ..policy.messages import vserial_no_port, vserial_port_taken
from .guest import Guest

DEFAULT_PORTS = 31


def port_count(ctrl: Device) -> int:
    """A virtio-serial controller's ports: its ``ports``, else 31
    (virDomainVirtioSerialAddrSetAddController)."""
    written = field_value(ctrl.el, CONTROLLER_PORTS)
    return DEFAULT_PORTS if written is None else written


class PortProblem(Record):
    """A written virtio-serial port libvirt refuses (virDomainVirtioSerialAddrReserve)."""

    __slots__ = ("code", "controller", "dev", "message", "other", "port", "ports")

    def __init__(self, dev: Device, code: str, message: str, controller: int, port: int,
                 ports: int = 0, other: Device | None = None) -> None:
        self.dev = dev
        self.code = code  # "vserial-conflict" | "vserial-out-of-range"
        self.message = message
        self.controller, self.port = controller, port
        self.ports = ports  # out of range: the ports the controller has
        self.other = other  # taken: the device that holds the port


def written_port(dev: Device) -> tuple[int, int] | None:
    """(controller, port) of a device's written virtio-serial port; None without one (port 0
    is no port: libvirt assigns one)."""
    value = dev.addr
    if not isinstance(value, VirtioSerialValue) or value.port == 0:
        return None
    return value.controller, value.port


def reserve_written(devices: Iterable[Device], ports_of: Callable[[int], int | None],
                    used: dict[int, dict[int, Device]]) -> Iterator[PortProblem]:
    """Take the written port of each of ``devices`` into ``used`` (controller -> port ->
    device), and say what is wrong with each that cannot be taken. ``ports_of`` gives a
    controller's ports, None for a controller the definition lacks."""
    for dev in devices:
        written = written_port(dev)
        if written is None:
            continue
        index, port = written
        taken = used.setdefault(index, {})
        if port in taken:
            yield PortProblem(dev, "vserial-conflict", vserial_port_taken(port, index), index,
                              port, other=taken[port])
        else:
            taken[port] = dev
        ports = ports_of(index)
        if ports is not None and port >= ports:
            yield PortProblem(dev, "vserial-out-of-range", vserial_no_port(index, port), index,
                              port, ports)


def assign(guest: Guest) -> None:
    dom = guest.dom
    devs = [d for d in dom.of("console") + dom.of("channel") if d.target("type") == "virtio"]
    if not devs:
        return
    written: dict[int, dict[int, Device]] = {}
    serial = [c for c in dom.controllers if c.type == "virtio-serial"]
    first: dict[int, Device] = {}  # dom.controller's answer per index, looked up once
    for c in serial:
        first.setdefault(c.index, c)

    def ports_of(index: int) -> int | None:
        owner = first.get(index)
        return port_count(owner) if owner is not None else None

    for problem in reserve_written(devs, ports_of, written):
        raise guest.fail(problem.dev, problem.message)
    used = {index: set(ports) for index, ports in written.items()}
    pending = [d for d in devs if written_port(d) is None]
    # The controllers in index order (document order among equal indexes), as a heap of the
    # ones that may still have a free port, and each one's lowest port not yet known taken:
    # ports are only ever taken, so a full controller stays full and the lowest free port only
    # grows. One pass instead of a sort and a scan of every port per device (issue 18: 100,000
    # channels took minutes).
    open_ctrls = [(c.index, pos, c) for pos, c in enumerate(serial)]
    heapq.heapify(open_ctrls)
    by_index: dict[int, list[Device]] = {}  # in document order
    for c in serial:
        by_index.setdefault(c.index, []).append(c)
    lowest: dict[int, int] = {}  # id(controller) -> its lowest port maybe free
    existing = {c.index for c in serial}
    fresh = 0

    def free_port(ctrl: Device) -> int | None:
        taken = used.setdefault(ctrl.index, set())
        port, last = lowest.get(id(ctrl), 1), port_count(ctrl)
        while port < last and port in taken:
            port += 1
        lowest[id(ctrl)] = port
        return port if port < last else None

    for dev in pending:
        if dev.tag == "console":
            # A console may take port 0, which libvirt never marks as used: it costs nothing.
            continue
        a, value = dev.address, dev.addr
        wanted = None
        if isinstance(value, VirtioSerialValue) and a is not None and a.get("controller"):
            wanted = value.controller
        chosen: tuple[int, int] | None = None
        if wanted is not None:
            for ctrl in by_index.get(wanted, ()):
                port = free_port(ctrl)
                if port is not None:
                    chosen = (ctrl.index, port)
                    break
        else:
            while open_ctrls:
                ctrl = open_ctrls[0][2]
                port = free_port(ctrl)
                if port is not None:
                    chosen = (ctrl.index, port)
                    break
                heapq.heappop(open_ctrls)
        if chosen is None:
            if wanted is not None:
                raise guest.fail(dev, f"Unable to find a free port on virtio-serial "
                                      f"controller {wanted}")
            while fresh in existing:  # the lowest unused index only grows
                fresh += 1
            index = fresh
            added = dom.add("controller", {"type": "virtio-serial", "index": str(index)},
                            why="the other virtio-serial controllers were full")
            existing.add(index)
            heapq.heappush(open_ctrls, (index, len(serial), added))
            serial.append(added)
            by_index.setdefault(index, []).append(added)
            chosen = (index, 1)
        used.setdefault(chosen[0], set()).add(chosen[1])
        write_address(dev, "virtio-serial", VirtioSerialValue(chosen[0], 0, chosen[1]),
                      controller=chosen[0], bus=0, port=chosen[1])
