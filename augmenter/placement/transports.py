"""Which virtio devices leave PCI: CCW on s390, virtio-mmio on ARM/RISC-V virt and vexpress
(docs/placement.md §17).

Priming marks a device with an empty address of its transport before PCI placement runs, so the
PCI passes skip it; :mod:`augmenter.placement.ccw` then numbers the CCW ones.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..model.addresses import write_address
from ..model.domain import Device
from ..policy.devices import primed
from .guest import Guest


def virtio_devices(guest: Guest, ccw: bool = True) -> Iterator[Device]:
    """Devices libvirt moves to the machine's virtio transport (CCW when ``ccw``, else
    virtio-mmio), in its iteration order."""
    for dev in guest.dom.iterate():
        if primed(dev, ccw):
            yield dev


def prime(guest: Guest) -> None:
    family = guest.family
    if family is None:
        return
    if family.virtio_transport == "ccw":
        for dev in virtio_devices(guest):
            if dev.address is None:
                write_address(dev, "ccw")
        for dev in guest.dom.of("hostdev"):
            if dev.type == "mdev" and dev.el.get("model") == "vfio-ccw" and dev.address is None:
                write_address(dev, "ccw")
    elif family.virtio_transport == "mmio-or-pci":
        # qemuDomainAssignVirtioMMIOAddresses: the definition's own root, as written or added
        any_mmio = any(d.address_type == "virtio-mmio" for d in guest.dom.devices)
        root = guest.dom.controller("pci", 0)
        pcie_root = root is not None and root.model == "pcie-root"
        if pcie_root and (guest.has("pcie-root-port") or guest.has("ioh3420")) and (
                not any_mmio):
            return  # they stay on PCI
        if guest.has("virtio-mmio"):
            for dev in virtio_devices(guest, ccw=False):
                if dev.address is None:
                    write_address(dev, "virtio-mmio")
