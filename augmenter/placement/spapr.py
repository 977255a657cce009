"""spapr-vio ``reg`` addresses on pSeries (docs/placement.md §18)."""

from __future__ import annotations

from ..model.addresses import write_address
from ..model.domain import Device
from ..model.values import SpaprVioValue
from ..policy.devices import SPAPR_VIO
from .guest import Guest

STEP = 0x1000
MAX_REG = 0xFFFFFFFF


def _vio_devices(guest: Guest) -> list[tuple[Device, int]]:
    """Devices on the spapr-vio bus with their default reg: nets, SCSI, serials, nvram, TPM."""
    return [(d, reg) for tag, rule, reg in SPAPR_VIO for d in guest.dom.each(tag) if rule(d)]


def assign(guest: Guest) -> None:
    if guest.family is None or not guest.family.spapr_vio:
        return
    devices = [(d, reg) for d, reg in _vio_devices(guest)
               if d.address is None or d.address_type == "spapr-vio"]
    used: set[int] = set()
    for dev, _ in devices:
        value = dev.addr
        reg = value.reg if isinstance(value, SpaprVioValue) else None
        if reg is None:
            continue
        if reg > MAX_REG:
            raise guest.fail(dev, f"spapr-vio reg='{reg:#x}' exceeds maximum of 0xffffffff")
        if reg in used:
            raise guest.fail(dev, f"spapr-vio address {reg:#x} already in use")
        used.add(reg)
    for dev, default in devices:
        value = dev.addr
        if isinstance(value, SpaprVioValue) and value.reg is not None:
            continue
        reg = default
        while reg in used:
            reg += STEP
        used.add(reg)
        write_address(dev, "spapr-vio", reg=f"0x{reg:08x}")
