"""virtio-serial ports for channels and consoles (docs/placement.md §14)."""

from __future__ import annotations

from ..model.addresses import write_address
from ..model.domain import Device, parse_int
from .guest import Guest


def _ports(ctrl: Device) -> int:
    return parse_int(ctrl.el.get("ports"), 31) or 31


def assign(guest: Guest) -> None:
    dom = guest.dom
    devs = [d for d in dom.of("console") + dom.of("channel") if d.target("type") == "virtio"]
    if not devs:
        return
    used: dict[int, set[int]] = {}
    pending: list[Device] = []
    for dev in devs:
        a = dev.address
        if a is not None and a.get("type") == "virtio-serial":
            index = parse_int(a.get("controller"), 0) or 0
            fixed = parse_int(a.get("port"), 0) or 0
            if fixed != 0:
                owner = dom.controller("virtio-serial", index)
                if owner is not None and fixed >= _ports(owner):
                    raise guest.fail(dev, f"virtio-serial controller {index} does not have "
                                          f"port {fixed}")
                if fixed in used.setdefault(index, set()):
                    raise guest.fail(dev, f"virtio serial port {fixed} on controller {index} "
                                          "is already occupied")
                used[index].add(fixed)
                continue
        pending.append(dev)
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
