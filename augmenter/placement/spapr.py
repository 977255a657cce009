"""spapr-vio ``reg`` addresses, on pSeries and wherever one is written (docs/placement.md §18)."""

from __future__ import annotations

from ..model.addresses import write_address
from ..model.domain import Device
from ..model.values import SpaprVioValue
from ..policy.devices import SPAPR_VIO
from .guest import Guest

STEP = 0x1000
MAX_REG = 0xFFFFFFFF


def _vio_devices(guest: Guest) -> list[tuple[Device, int]]:
    """Devices on the spapr-vio bus with their default reg, in libvirt's order: those whose
    kind puts them there, and any other of these kinds written with a spapr-vio address
    (qemuDomainAssignSpaprVIOAddresses, on every machine)."""
    pseries = guest.family is not None and guest.family.spapr_vio
    # an address-less device goes there when its kind's rule says so; one with an address,
    # when that is a spapr-vio one (the rule asked only when it decides)
    return [(d, reg) for tag, rule, reg in SPAPR_VIO for d in guest.dom.each(tag)
            if (rule(d, pseries) if d.address is None else d.address_type == "spapr-vio")]


def assign(guest: Guest) -> None:
    devices = _vio_devices(guest)
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
