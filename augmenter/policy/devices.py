"""Device rules as data: which devices take a PCI address, and of which connection kind.

Each device resolves to a *class*: ``virtio`` (PCI Express where the root is PCIe and QEMU has
the non-transitional virtio types, else conventional), ``pcie`` (PCI Express where the root is
PCIe), ``pci`` (conventional), ``virtio-integrated`` (virtio, root bus only), or None (no PCI
address). :func:`pci_class` only reads the tables; :func:`connect_flags` turns a class into
:class:`Connect` flags for one board.
"""

from __future__ import annotations

from functools import lru_cache

from ..model.connect import Connect
from ..model.domain import Device, disk_bus

VIRTIO_MODELS = {"virtio": "virtio", "virtio-non-transitional": "virtio",
                 "virtio-transitional": "pci"}

NET_MODELS: dict[str, str | None] = {
    **VIRTIO_MODELS, "e1000e": "pcie", "usb-net": None, "igb": "pcie",
}
SOUND_MODELS: dict[str, str | None] = {
    "es1370": "pci", "ac97": "pci", "ich6": "pci", "ich9": "pci", "ich7": "pci",
    "sb16": None, "pcspk": None, "usb": None,
}
VIDEO_MODELS: dict[str, str | None] = {
    "virtio": "virtio", "bochs": "pcie", "none": None, "ramfb": None, "gop": None,
}
USB_MODELS: dict[str, str | None] = {
    "none": None, "qusb1": None, "qusb2": None, "nec-xhci": "pcie", "qemu-xhci": "pcie",
}
SCSI_MODELS: dict[str, str | None] = {**VIRTIO_MODELS, "virtio-scsi": "virtio", "ncr53c90": None}
CONTROLLER_TYPES: dict[str, str | None] = {
    "sata": "pci", "ide": "pci", "fdc": None, "ccid": None, "isa": None, "xenbus": None,
}

# PCI controllers' own upstream kinds: no AUTO flag, so they may sit on buses that refuse
# auto-placed endpoints (pcie-root, dmi-to-pci-bridge, ...).
PCI_CONTROLLER_UPSTREAM: dict[str, Connect] = {
    "pci-bridge": Connect.BR,
    "pci-expander-bus": Connect.PXB,
    "pcie-expander-bus": Connect.PXBE,
    "dmi-to-pci-bridge": Connect.DMI,
    "pcie-to-pci-bridge": Connect.P2P,
    "pcie-root-port": Connect.RP | Connect.AGGREGATE,
    "pcie-switch-upstream-port": Connect.USP,
    "pcie-switch-downstream-port": Connect.DSP,
}

# What each PCI controller model offers downstream (its bus), libvirt's table.
BUS_ACCEPTS: dict[str, tuple[Connect, int, int]] = {
    # model: (accepted kinds and flags, min slot, max slot)
    "pci-root": (Connect.PCI | Connect.BR | Connect.PXB | Connect.AUTO | Connect.HOTPLUG, 1, 31),
    "pci-bridge": (Connect.PCI | Connect.BR | Connect.AUTO | Connect.HOTPLUG, 1, 31),
    "pci-expander-bus": (Connect.PCI | Connect.BR | Connect.AUTO | Connect.HOTPLUG, 0, 31),
    "pcie-root": (Connect.PCIE | Connect.RP | Connect.DMI | Connect.PXBE, 1, 31),
    "dmi-to-pci-bridge": (Connect.PCI | Connect.BR, 0, 31),
    "pcie-to-pci-bridge": (Connect.PCI | Connect.BR | Connect.AUTO | Connect.HOTPLUG, 1, 31),
    "pcie-root-port": (
        Connect.PCIE | Connect.USP | Connect.P2P | Connect.AUTO | Connect.HOTPLUG, 0, 0),
    "pcie-switch-downstream-port": (
        Connect.PCIE | Connect.USP | Connect.P2P | Connect.AUTO | Connect.HOTPLUG, 0, 0),
    "pcie-switch-upstream-port": (Connect.DSP, 0, 31),
    "pcie-expander-bus": (Connect.RP | Connect.DMI, 0, 31),
}

# Default modelName and the QEMU type behind it, filled in at the end of placement.
MODEL_NAMES: dict[str, str] = {
    "pci-bridge": "pci-bridge",
    "dmi-to-pci-bridge": "i82801b11-bridge",
    "pcie-to-pci-bridge": "pcie-pci-bridge",
    "pcie-root-port": "pcie-root-port",
    "pcie-switch-upstream-port": "x3130-upstream",
    "pcie-switch-downstream-port": "xio3130-downstream",
    "pci-expander-bus": "pxb",
    "pcie-expander-bus": "pxb-pcie",
}


def _virtio(model: str | None) -> str:
    return "pci" if model == "virtio-transitional" else "virtio"


def pci_class(dev: Device) -> str | None:
    """The PCI class of a device, from its element and model (None: not a PCI device)."""
    tag, model = dev.tag, dev.model
    if tag == "disk":
        return _virtio(model) if disk_bus(dev) == "virtio" else None
    if tag == "interface":
        if dev.type == "hostdev":
            return "pcie"
        if model is None:
            return "pci"
        return NET_MODELS.get(model, "pci")
    if tag == "sound":
        return SOUND_MODELS.get(model or "", "pci")
    if tag == "video":
        return VIDEO_MODELS.get(model or "", "pci")
    if tag == "controller":
        ctype = dev.type or ""
        if ctype == "pci":
            return "controller"
        if ctype == "usb":
            return USB_MODELS.get(model or "", "pci")
        if ctype == "scsi":
            return SCSI_MODELS.get(model or "", "pci")
        if ctype == "virtio-serial":
            return _virtio(model)
        return CONTROLLER_TYPES.get(ctype)
    if tag == "hostdev":
        if dev.el.get("mode", "subsystem") != "subsystem":
            return None
        if dev.type == "pci":
            return "pcie"
        if dev.type == "mdev":
            return "pcie" if dev.el.get("model") in (None, "vfio-pci") else None
        if dev.type == "scsi_host":
            return _virtio(model)
        return None
    if tag in ("memballoon", "rng", "vsock"):
        if tag == "memballoon" and model == "none":
            return None
        return _virtio(model)
    if tag == "input":
        return _virtio(model) if dev.el.get("bus") == "virtio" else None
    if tag == "filesystem":
        return _virtio(model)
    if tag == "watchdog":
        return "pci" if model == "i6300esb" else None
    if tag == "shmem":
        return "pci"
    if tag == "serial":
        return "pci" if dev.target("type") == "pci-serial" or dev.target("type") == "pci" else None
    if tag == "iommu":
        return "virtio-integrated" if model == "virtio" else None
    if tag == "memory":
        return "virtio" if model in ("virtio-pmem", "virtio-mem") else None
    return None


@lru_cache(maxsize=64)
def connect_flags(pci_cls: str | None, pcie_root: bool, virtio_pcie: bool) -> Connect:
    """Flags for a class on a board: ``pcie_root`` (bus 0 is pcie-root), ``virtio_pcie`` (QEMU
    has the non-transitional virtio types). Cached: a handful of arguments, asked for every
    device, and flag arithmetic costs a microsecond an operation."""
    if pci_cls is None:
        return Connect.NONE
    pcie_star = (Connect.PCIE if pcie_root else Connect.PCI) | Connect.AUTO
    if pci_cls == "pcie":
        return pcie_star
    if pci_cls == "pci":
        return Connect.PCI | Connect.AUTO
    if pci_cls in ("virtio", "virtio-integrated"):
        flags = pcie_star if virtio_pcie else Connect.PCI | Connect.AUTO
        return flags | Connect.INTEGRATED if pci_cls == "virtio-integrated" else flags
    return Connect.NONE


def device_flags(dev: Device, pcie_root: bool, virtio_pcie: bool) -> Connect:
    """Connection flags of one device (PCI controllers: their upstream kind)."""
    return class_flags(dev, pci_class(dev), pcie_root, virtio_pcie)


def class_flags(dev: Device, pci_cls: str | None, pcie_root: bool, virtio_pcie: bool) -> Connect:
    """:func:`device_flags` of a device whose :func:`pci_class` is known to be ``pci_cls``."""
    if pci_cls == "controller":
        return PCI_CONTROLLER_UPSTREAM.get(dev.model or "", Connect.NONE)
    return connect_flags(pci_cls, pcie_root, virtio_pcie)


def address_ignored(dev: Device) -> bool:
    """libvirt's parser skips this device's ``<address>`` altogether: a USB controller of
    model ``none`` (virDomainControllerDefParseXML), so it is neither kept nor reserved."""
    return dev.tag == "controller" and dev.type == "usb" and dev.model == "none"


# virDomainSCSIDriveAddressIsUsed: units a SCSI controller model cannot give a device (the
# highest it has, and the one it is itself); models not listed take any
SCSI_UNIT_LIMITS: dict[str, tuple[int | None, int | None]] = {
    # model: (highest unit, reserved unit)
    "virtio-scsi": (16383, None), "virtio-transitional": (16383, None),
    "virtio-non-transitional": (16383, None), "ibmvscsi": (31, 7), "lsisas1068": (1, None),
    "lsisas1078": (255, None), "lsilogic": (None, 7), "vmpvscsi": (None, 7),
    "buslogic": (None, 7), "ncr53c90": (6, None), "dc390": (6, None), "am53c974": (6, None),
}
SCSI_NARROW_UNITS = 7  # SCSI_NARROW_BUS_MAX_CONT_UNIT: the units a host device is given from
