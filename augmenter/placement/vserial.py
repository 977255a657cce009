"""virtio-serial ports for channels and consoles (docs/placement.md §14)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from ..model.addresses import write_address
from ..model.domain import Device, parse_int
from ..policy.messages import vserial_no_port, vserial_port_taken
from .guest import Guest


def _ports(ctrl: Device) -> int:
    return parse_int(ctrl.el.get("ports"), 31) or 31


@dataclass(frozen=True)
class PortProblem:
    """A written virtio-serial port libvirt refuses (virDomainVirtioSerialAddrReserve)."""

    dev: Device
    code: str  # "vserial-conflict" | "vserial-out-of-range"
    message: str
    controller: int
    port: int
    ports: int = 0  # out of range: the ports the controller has
    other: Device | None = None  # taken: the device that holds the port


def written_port(dev: Device) -> tuple[int, int] | None:
    """(controller, port) of a device's written virtio-serial port; None without one (port 0
    is no port: libvirt assigns one)."""
    a = dev.address
    if a is None or a.get("type") != "virtio-serial":
        return None
    port = parse_int(a.get("port"), 0) or 0
    return (parse_int(a.get("controller"), 0) or 0, port) if port else None


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

    def ports_of(index: int) -> int | None:
        owner = dom.controller("virtio-serial", index)
        return _ports(owner) if owner is not None else None

    for problem in reserve_written(devs, ports_of, written):
        raise guest.fail(problem.dev, problem.message)
    used = {index: set(ports) for index, ports in written.items()}
    pending = [d for d in devs if written_port(d) is None]
    for dev in pending:
        if dev.tag == "console":
            # A console may take port 0, which libvirt never marks as used: it costs nothing.
            continue
        a = dev.address
        wanted = None
        if a is not None and a.get("type") == "virtio-serial" and a.get("controller"):
            wanted = parse_int(a.get("controller"), 0)
        ctrls = sorted((c for c in dom.controllers if c.type == "virtio-serial"),
                       key=lambda c: c.index)
        if wanted is not None:
            ctrls = [c for c in ctrls if c.index == wanted]
        chosen: tuple[int, int] | None = None
        for ctrl in ctrls:
            taken = used.setdefault(ctrl.index, set())
            port = next((p for p in range(1, _ports(ctrl)) if p not in taken), None)
            if port is not None:
                chosen = (ctrl.index, port)
                break
        if chosen is None:
            if wanted is not None:
                raise guest.fail(dev, f"Unable to find a free port on virtio-serial "
                                      f"controller {wanted}")
            existing = {c.index for c in dom.controllers if c.type == "virtio-serial"}
            index = next(i for i in range(len(existing) + 1) if i not in existing)
            dom.add("controller", {"type": "virtio-serial", "index": str(index)},
                    why="the other virtio-serial controllers were full")
            chosen = (index, 1)
        used.setdefault(chosen[0], set()).add(chosen[1])
        write_address(dev, "virtio-serial", controller=chosen[0], bus=0, port=chosen[1])
