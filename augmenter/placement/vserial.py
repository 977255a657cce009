"""virtio-serial ports for channels and consoles (docs/placement.md §14)."""

from __future__ import annotations

import heapq

from ..model.addresses import write_address
from ..model.domain import Device, parse_int
from ..model.numbers import number
from .guest import Guest


def _ports(ctrl: Device) -> int:
    return number(ctrl.el, "ports") or 31  # virXMLPropInt, base 10


def assign(guest: Guest) -> None:
    dom = guest.dom
    devs = [d for d in dom.of("console") + dom.of("channel") if d.target("type") == "virtio"]
    if not devs:
        return
    used: dict[int, set[int]] = {}
    pending: list[Device] = []
    serial = [c for c in dom.controllers if c.type == "virtio-serial"]
    first: dict[int, Device] = {}  # dom.controller's answer per index, looked up once
    for c in serial:
        first.setdefault(c.index, c)
    for dev in devs:
        a = dev.address
        if a is not None and a.get("type") == "virtio-serial":
            index = parse_int(a.get("controller"), 0) or 0
            fixed = parse_int(a.get("port"), 0) or 0
            if fixed != 0:
                owner = first.get(index)
                if owner is not None and fixed >= _ports(owner):
                    raise guest.fail(dev, f"virtio-serial controller {index} does not have "
                                          f"port {fixed}")
                if fixed in used.setdefault(index, set()):
                    raise guest.fail(dev, f"virtio serial port {fixed} on controller {index} "
                                          "is already occupied")
                used[index].add(fixed)
                continue
        pending.append(dev)
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
        port, last = lowest.get(id(ctrl), 1), _ports(ctrl)
        while port < last and port in taken:
            port += 1
        lowest[id(ctrl)] = port
        return port if port < last else None

    for dev in pending:
        if dev.tag == "console":
            # A console may take port 0, which libvirt never marks as used: it costs nothing.
            continue
        a = dev.address
        wanted = None
        if a is not None and a.get("type") == "virtio-serial" and a.get("controller"):
            wanted = parse_int(a.get("controller"), 0)
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
        write_address(dev, "virtio-serial", controller=chosen[0], bus=0, port=chosen[1])
