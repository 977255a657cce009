"""s390 channel addresses: ``fe.0.xxxx`` devnos in libvirt's order (docs/placement.md §17)."""

from __future__ import annotations

from ..model.addresses import write_address
from ..model.domain import Device
from ..model.values import CCW_DEVNO_MAX, CcwValue
from .guest import Guest

DEFAULT_CSSID = 0xFE
MAX_DEVNO = CCW_DEVNO_MAX


def assign(guest: Guest) -> None:
    ccw = [d for d in guest.dom.iterate() if d.address_type == "ccw"]
    if not ccw:
        return
    if guest.family is None or guest.family.virtio_transport != "ccw":
        raise guest.fail(ccw[0], "cannot use CCW address type for device "
                                 f"'{ccw[0].name()}' using machine type '{guest.machine}'")
    used: set[tuple[int, int, int]] = set()
    pending: list[Device] = []
    for dev in ccw:
        value = dev.addr
        assert isinstance(value, CcwValue)  # ranges and partial ones: model.values
        cssid, ssid, devno = value.cssid, value.ssid, value.devno
        if cssid is None or ssid is None or devno is None:
            pending.append(dev)
            continue
        key = (cssid, ssid, devno)
        if key in used:
            raise guest.fail(dev, f"The CCW devno '{cssid:x}.{ssid:x}.{devno:04x}' is in use "
                                  "already")
        used.add(key)
    cursor = 0
    for dev in pending:
        while (DEFAULT_CSSID, 0, cursor) in used:
            cursor += 1
        if cursor > MAX_DEVNO:
            raise guest.fail(dev, "There are no more free CCW devnos.")
        used.add((DEFAULT_CSSID, 0, cursor))
        write_address(dev, "ccw", cssid=f"0x{DEFAULT_CSSID:x}", ssid="0x0",
                      devno=f"0x{cursor:04x}")
        cursor += 1
