"""spapr-vio ``reg`` addresses, on pSeries and wherever one is written (docs/placement.md §18)."""

from __future__ import annotations

from ..model.addresses import write_address
from ..model.domain import Device, parse_int
from ..policy.machines import serial_target
from .guest import Guest

STEP = 0x1000
MAX_REG = 0xFFFFFFFF


def _vio_devices(guest: Guest) -> list[tuple[Device, int]]:
    """Devices on the spapr-vio bus with their default reg, in libvirt's order: those whose
    kind puts them there, and any other of these kinds written with a spapr-vio address
    (qemuDomainAssignSpaprVIOAddresses, on every machine)."""
    dom = guest.dom
    pseries = guest.family is not None and guest.family.spapr_vio

    def on(dev: Device, moves: bool) -> bool:
        return (moves and dev.address is None) or dev.address_type == "spapr-vio"

    out: list[tuple[Device, int]] = []
    out += [(n, 0x1000) for n in dom.of("interface") if on(n, n.model == "spapr-vlan")]
    out += [(c, 0x2000) for c in dom.controllers
            if on(c, c.type == "scsi" and c.model == "ibmvscsi")]
    out += [(s, 0x30000000) for s in dom.of("serial")
            if on(s, serial_target(guest.family, s.target("type")) == "spapr-vio-serial")]
    out += [(n, 0x3000) for n in dom.of("nvram") if on(n, pseries)]
    out += [(t, 0x4000) for t in dom.of("tpm") if on(t, pseries and t.model != "spapr-tpm-proxy")]
    return out


def assign(guest: Guest) -> None:
    devices = _vio_devices(guest)
    used: set[int] = set()
    for dev, _ in devices:
        a = dev.address
        reg = parse_int(a.get("reg")) if a is not None else None
        if reg is None:
            continue
        if reg > MAX_REG:
            raise guest.fail(dev, f"spapr-vio reg='{reg:#x}' exceeds maximum of 0xffffffff")
        if reg in used:
            raise guest.fail(dev, f"spapr-vio address {reg:#x} already in use")
        used.add(reg)
    for dev, default in devices:
        a = dev.address
        if a is not None and a.get("reg") is not None:
            continue
        reg = default
        while reg in used:
            reg += STEP
        used.add(reg)
        write_address(dev, "spapr-vio", reg=f"0x{reg:08x}")
