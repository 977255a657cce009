"""Which virtio devices leave PCI: CCW on s390, virtio-mmio on ARM/RISC-V virt and vexpress
(docs/placement.md §17).

Priming marks a device with an empty address of its transport before PCI placement runs, so the
PCI passes skip it; :mod:`augmenter.placement.ccw` then numbers the CCW ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ..model.addresses import write_address
from ..model.domain import Device, disk_bus
from ..policy.devices import pci_class
from .guest import Guest

VIRTIO_NET_MODELS = ("virtio", "virtio-non-transitional", "virtio-transitional")

# element -> does this device move to the virtio transport?
MOVES: dict[str, Callable[[Device], bool]] = {
    "disk": lambda d: disk_bus(d) == "virtio",
    "interface": lambda d: d.model in VIRTIO_NET_MODELS,
    "video": lambda d: d.model == "virtio",
    "input": lambda d: d.el.get("bus") == "virtio",
    "controller": lambda d: d.type in ("virtio-serial", "scsi"),
    "hostdev": lambda d: d.type == "scsi_host",
    "memballoon": lambda d: pci_class(d) is not None,
    "rng": lambda d: True,
    "memory": lambda d: d.model in ("virtio-pmem", "virtio-mem"),
    "filesystem": lambda d: True,
    "vsock": lambda d: True,
}


def virtio_devices(guest: Guest, with_fs: bool = True) -> Iterator[Device]:
    """Devices libvirt moves to the machine's virtio transport, in its iteration order."""
    for dev in guest.dom.iterate():
        if not with_fs and dev.tag in ("filesystem", "vsock"):
            continue
        rule = MOVES.get(dev.tag)
        if rule is not None and rule(dev):
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
            for dev in virtio_devices(guest, with_fs=False):
                if dev.address is None:
                    write_address(dev, "virtio-mmio")
