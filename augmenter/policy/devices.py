"""What libvirt knows of each kind of device, declared once, as data.

Per device element (:data:`KINDS`): its PCI class (does it take a PCI address, and of which
connection kind), whether libvirt moves it to the machine's virtio transport (CCW on s390,
virtio-mmio on ARM and RISC-V ``virt``), whether it plugs into USB or the spapr-vio bus, and
which address types it may be given. Per USB controller model (:data:`USB_MODELS`): its QEMU
type, its root hub's ports, its PCI class and its place in an ICH9 USB2 set. Per PCI controller
model: its upstream connection kind (:data:`PCI_CONTROLLER_UPSTREAM`) and the bus it offers
(:data:`BUS_ACCEPTS`).

A PCI class is one of :data:`PciClass`: ``virtio`` (PCI Express where the root is PCIe and QEMU
has the non-transitional virtio types, else conventional; a ``virtio-transitional`` model is
always conventional), ``pcie`` (PCI Express where the root is PCIe), ``pci`` (conventional),
``virtio-integrated`` (virtio, root bus only), ``controller`` (a PCI controller: its upstream
kind is its model's) or None (no PCI address). libvirt states these per device in
``qemuDomainDeviceCalculatePCIConnectFlags`` (``src/qemu/qemu_domain_address.c``);
docs/placement.md §5.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import Literal, TypeAlias

from ..model.connect import Connect
from ..model.domain import Device, disk_bus
from ..model.record import Record

PciClass: TypeAlias = Literal["virtio", "pcie", "pci", "virtio-integrated", "controller"]
Rule: TypeAlias = Callable[[Device], bool]

VIRTIO_MODELS = ("virtio", "virtio-transitional", "virtio-non-transitional")
"""The models of a virtio device (a NIC, a disk, a controller...)."""
VIRTIO_SCSI_MODELS = ("virtio-scsi", *VIRTIO_MODELS[1:])
"""The models of a virtio SCSI controller (virtio-scsi, not virtio)."""

NET_MODELS: Mapping[str, PciClass | None] = {
    **dict.fromkeys(VIRTIO_MODELS, "virtio"), "e1000e": "pcie", "usb-net": None,
    "igb": "pcie",
}
SOUND_MODELS: Mapping[str, PciClass | None] = {
    "es1370": "pci", "ac97": "pci", "ich6": "pci", "ich9": "pci", "ich7": "pci",
    "sb16": None, "pcspk": None, "usb": None,
}
VIDEO_MODELS: Mapping[str, PciClass | None] = {
    "virtio": "virtio", "bochs": "pcie", "none": None, "ramfb": None, "gop": None,
}
SCSI_MODELS: Mapping[str, PciClass | None] = {
    **dict.fromkeys(VIRTIO_MODELS, "virtio"), "virtio-scsi": "virtio", "ncr53c90": None,
}
CONTROLLER_TYPES: Mapping[str, PciClass | None] = {
    "sata": "pci", "ide": "pci", "fdc": None, "ccid": None, "isa": None, "xenbus": None,
}


class UsbModel(Record):
    """A USB controller model as libvirt knows it."""

    __slots__ = ("ehci", "ich9_function", "master_port", "pci", "qemu_type", "root_ports")

    def __init__(self, qemu_type: str | None, root_ports: int, pci: PciClass | None = "pci",
                 ich9_function: int | None = None, master_port: int | None = None,
                 ehci: bool = False) -> None:
        self.qemu_type = qemu_type  # the QEMU device type behind it (None: none, not asked)
        self.root_ports = root_ports  # its root hub's (virDomainUSBAddressControllerModelToPorts)
        self.pci = pci
        self.ich9_function = ich9_function  # in an ICH9 USB2 set: its function of the slot
        self.master_port = master_port  # an ICH9 UHCI companion: its first port on the EHCI
        self.ehci = ehci  # a USB2 master its UHCI companions attach to


USB_MODELS: Mapping[str, UsbModel] = {
    "piix3-uhci": UsbModel("piix3-usb-uhci", 2),
    "piix4-uhci": UsbModel("piix4-usb-uhci", 2),
    "vt82c686b-uhci": UsbModel("vt82c686b-usb-uhci", 2),
    "ehci": UsbModel("usb-ehci", 6, ehci=True),
    "ich9-ehci1": UsbModel("ich9-usb-ehci1", 6, ich9_function=7, ehci=True),
    "ich9-uhci1": UsbModel("ich9-usb-uhci1", 0, ich9_function=0, master_port=0),
    "ich9-uhci2": UsbModel("ich9-usb-uhci2", 0, ich9_function=1, master_port=2),
    "ich9-uhci3": UsbModel("ich9-usb-uhci3", 0, ich9_function=2, master_port=4),
    "pci-ohci": UsbModel("pci-ohci", 3),
    "nec-xhci": UsbModel("nec-usb-xhci", 4, "pcie"),
    "qemu-xhci": UsbModel("qemu-xhci", 4, "pcie"),
    "qusb1": UsbModel(None, 4, None),
    "qusb2": UsbModel(None, 4, None),
    "none": UsbModel(None, 0, None),
}
UNKNOWN_USB = UsbModel(None, 2)
"""A USB controller written without a model, or with one libvirt's table lacks."""

ICH9_USB2: frozenset[str] = frozenset(
    name for name, m in USB_MODELS.items() if m.ich9_function is not None)
"""The ICH9 USB2 set: an EHCI and its three UHCI companions, one slot, one function each."""

ICH9_COMPANIONS: tuple[tuple[str, int], ...] = tuple(
    (name, m.master_port) for name, m in USB_MODELS.items() if m.master_port is not None)
"""(model, first port on the EHCI master) of each UHCI companion, in libvirt's order
(virDomainDefAddUSBController)."""

XHCI_MODELS = ("nec-xhci", "qemu-xhci")
"""The USB controllers whose ``ports`` attribute sets their root hub's size (at most 15)."""


def usb_model(ctrl: Device) -> UsbModel:
    """The facts of a USB controller's model."""
    return USB_MODELS.get(ctrl.model or "", UNKNOWN_USB)


def _never(dev: Device) -> bool:
    return False


def _always(dev: Device) -> bool:
    return True


def _virtio_by_model(dev: Device) -> PciClass | None:
    return "virtio"


def _none(dev: Device) -> PciClass | None:
    return None


def _hostdev_class(dev: Device) -> PciClass | None:
    if dev.el.get("mode", "subsystem") != "subsystem":
        return None
    if dev.type == "pci":
        return "pcie"
    if dev.type == "mdev":
        return "pcie" if dev.el.get("model") in (None, "vfio-pci") else None
    return "virtio" if dev.type == "scsi_host" else None


def _controller_class(dev: Device) -> PciClass | None:
    ctype = dev.type or ""
    if ctype == "pci":
        return "controller"
    if ctype == "usb":
        return usb_model(dev).pci
    if ctype == "scsi":
        return SCSI_MODELS.get(dev.model or "", "pci")
    if ctype == "virtio-serial":
        return "virtio"
    return CONTROLLER_TYPES.get(ctype)


class DeviceKind(Record):
    """What libvirt knows of one device element (``<disk>``, ``<interface>``, ...)."""

    __slots__ = ("pci", "primed", "primed_on_ccw_only", "usb")

    def __init__(self, pci: Callable[[Device], PciClass | None] = _none, primed: Rule = _never,
                 primed_on_ccw_only: bool = False, usb: Rule = _never) -> None:
        self.pci = pci
        # libvirt moves an address-less device to the machine's virtio transport
        # (qemuDomainPrimeVirtioDeviceAddresses): CCW on s390, virtio-mmio on ARM/RISC-V virt
        self.primed = primed
        self.primed_on_ccw_only = primed_on_ccw_only  # filesystems, vsock: to CCW only
        self.usb = usb  # it plugs into a USB port (virDomainUSBDeviceDefForeach)


KINDS: Mapping[str, DeviceKind] = {
    "disk": DeviceKind(
        pci=lambda d: "virtio" if disk_bus(d) == "virtio" else None,
        primed=lambda d: disk_bus(d) == "virtio",
        usb=lambda d: disk_bus(d) == "usb"),
    "interface": DeviceKind(
        pci=lambda d: "pcie" if d.type == "hostdev" else (
            "pci" if d.model is None else NET_MODELS.get(d.model, "pci")),
        primed=lambda d: d.model in VIRTIO_MODELS),
    "sound": DeviceKind(
        pci=lambda d: SOUND_MODELS.get(d.model or "", "pci"),
        usb=lambda d: d.model == "usb"),
    "video": DeviceKind(
        pci=lambda d: VIDEO_MODELS.get(d.model or "", "pci"),
        primed=lambda d: d.model == "virtio"),
    "controller": DeviceKind(
        pci=_controller_class,
        primed=lambda d: d.type in ("virtio-serial", "scsi"),
        usb=lambda d: d.type == "ccid"),
    "hostdev": DeviceKind(
        pci=_hostdev_class,
        primed=lambda d: d.type == "scsi_host",
        usb=lambda d: d.type == "usb"),
    "memballoon": DeviceKind(
        pci=lambda d: None if d.model == "none" else "virtio",
        primed=lambda d: d.model != "none"),
    "rng": DeviceKind(pci=_virtio_by_model, primed=_always),
    "vsock": DeviceKind(pci=_virtio_by_model, primed=_always, primed_on_ccw_only=True),
    "filesystem": DeviceKind(pci=_virtio_by_model, primed=_always, primed_on_ccw_only=True),
    "input": DeviceKind(
        pci=lambda d: "virtio" if d.el.get("bus") == "virtio" else None,
        primed=lambda d: d.el.get("bus") == "virtio",
        usb=lambda d: d.el.get("bus") == "usb"),
    "watchdog": DeviceKind(pci=lambda d: "pci" if d.model == "i6300esb" else None),
    "shmem": DeviceKind(pci=lambda d: "pci"),
    "serial": DeviceKind(
        pci=lambda d: "pci" if d.target("type") in ("pci-serial", "pci") else None,
        usb=lambda d: d.target("type") == "usb-serial"),
    "iommu": DeviceKind(pci=lambda d: "virtio-integrated" if d.model == "virtio" else None),
    "memory": DeviceKind(
        pci=lambda d: "virtio" if d.model in ("virtio-pmem", "virtio-mem") else None,
        primed=lambda d: d.model in ("virtio-pmem", "virtio-mem")),
    "hub": DeviceKind(usb=lambda d: d.type == "usb"),
    "redirdev": DeviceKind(usb=lambda d: d.el.get("bus") == "usb"),
}
NO_KIND = DeviceKind()
"""What libvirt knows of an element :data:`KINDS` does not list: nothing to place."""

USB_ORDER = ("hub", "hostdev", "disk", "controller", "input", "serial", "sound", "redirdev")
"""The order libvirt gives USB ports in: hubs first, so that devices can go behind them
(virDomainUSBDeviceDefForeach; qemuDomainAssignUSBAddresses)."""


def pci_class(dev: Device) -> PciClass | None:
    """The PCI class of a device, from its element and model (None: not a PCI device)."""
    found = KINDS.get(dev.tag, NO_KIND).pci(dev)
    if found == "virtio" and dev.model == "virtio-transitional":
        return "pci"  # a transitional virtio device is conventional PCI only
    return found


def primed(dev: Device, ccw: bool) -> bool:
    """Whether libvirt moves an address-less ``dev`` to the virtio transport (CCW when
    ``ccw``, else virtio-mmio)."""
    kind = KINDS.get(dev.tag, NO_KIND)
    return (ccw or not kind.primed_on_ccw_only) and kind.primed(dev)


def plugs_into_usb(dev: Device) -> bool:
    return KINDS.get(dev.tag, NO_KIND).usb(dev)


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

MAX_PCI_INDEX = 255
"""The highest PCI controller index libvirt accepts (virDomainControllerDefValidate)."""

ROOT_MODELS = ("pci-root", "pcie-root")
"""The PCI controller models of a root bus: index 0 (or a pSeries PHB), never an address."""
EXPANDER_MODELS = ("pci-expander-bus", "pcie-expander-bus")
"""The PCI controllers that start a bus hierarchy of their own, numbered from their busNr."""

BUS_NR_CEILING = 256
"""Where qemuDomainAddressFindNewBusNr starts looking for the lowest busNr: above every bus
number of PCI domain 0."""
BUS_NRS_PER_EXPANDER = 2
"""The bus numbers qemuDomainAddressFindNewBusNr leaves a new expander bus: its own and its
integrated pci-bridge's."""


def lowest_bus_nr(bus_nrs: Iterable[int | None]) -> int:
    """The lowest busNr of the expander buses (None: one without a busNr yet), or
    :data:`BUS_NR_CEILING` when none has one (qemuDomainAddressFindNewBusNr)."""
    return min((n for n in bus_nrs if n is not None), default=BUS_NR_CEILING)


def new_bus_nr(bus_nrs: Iterable[int | None]) -> int | None:
    """The busNr libvirt gives an expander bus written without one: two below the lowest
    (qemuDomainAddressFindNewBusNr, called by qemuDomainAssignPCIAddresses for each such bus
    in turn, each seeing those numbered before it). None when the lowest is 2 or less: libvirt
    will not number it then (:data:`NO_FREE_BUS_NR`)."""
    lowest = lowest_bus_nr(bus_nrs)
    return lowest - BUS_NRS_PER_EXPANDER if lowest > BUS_NRS_PER_EXPANDER else None


NO_FREE_BUS_NR = ("No free busNr lower than current lowest busNr is available to auto-assign "
                  "to bus {bus}. Must be manually assigned")
"""qemuDomainAssignPCIAddresses's words when :func:`new_bus_nr` has none."""


def numbered_floor(bus_nrs: Iterable[int | None]) -> int:
    """The lowest busNr once libvirt has numbered every expander bus written without one:
    the bus numbers below it are the main hierarchy's."""
    nrs = list(bus_nrs)
    return lowest_bus_nr(nrs) - BUS_NRS_PER_EXPANDER * nrs.count(None)

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


def default_model_name(model: str, phb: bool, has_pcie_root_port: bool) -> str | None:
    """The ``<model name>`` libvirt gives a PCI controller that has none
    (qemuDomainPCIControllerSetDefaultModelName): the QEMU device of its model; a pSeries
    PHB's is spapr-pci-host-bridge, and a pcie-root-port is an ioh3420 where QEMU has no
    pcie-root-port."""
    if model == "pci-root":
        return "spapr-pci-host-bridge" if phb else None
    if model == "pcie-root-port" and not has_pcie_root_port:
        return "ioh3420"
    return MODEL_NAMES.get(model)


@lru_cache(maxsize=64)
def connect_flags(pci_cls: PciClass | None, pcie_root: bool, virtio_pcie: bool) -> Connect:
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


def class_flags(dev: Device, pci_cls: PciClass | None, pcie_root: bool,
                virtio_pcie: bool) -> Connect:
    """:func:`device_flags` of a device whose :func:`pci_class` is known to be ``pci_cls``."""
    if pci_cls == "controller":
        return PCI_CONTROLLER_UPSTREAM.get(dev.model or "", Connect.NONE)
    return connect_flags(pci_cls, pcie_root, virtio_pcie)


# -- address kinds ---------------------------------------------------------------------------

class DriveBus(Record):
    """A disk bus that takes drive addresses (controller, bus, target, unit)."""

    __slots__ = ("buses", "controllers", "refused", "targets", "units", "units_per_bus")

    def __init__(self, units_per_bus: int, buses: int, controllers: int | None,
                 targets: int | None, units: int | None,
                 refused: frozenset[str] = frozenset()) -> None:
        self.units_per_bus = units_per_bus  # for the address derived from a target name
        self.buses = buses  # buses per controller
        self.controllers = controllers  # controllers a guest may have (None: no limit)
        self.targets = targets  # targets per bus (None: no limit)
        self.units = units  # units per target (None: per controller model, SCSI_UNITS.count)
        self.refused = refused  # fields libvirt refuses out of range (QEMU the rest)


DRIVE_BUSES: Mapping[str, DriveBus] = {
    "ide": DriveBus(2, 2, 1, 1, 2, frozenset({"controller", "target"})),
    "fdc": DriveBus(2, 1, 1, 1, 2, frozenset({"controller", "bus", "target"})),
    "sata": DriveBus(6, 1, None, 1, 6, frozenset({"bus", "target"})),
    "scsi": DriveBus(7, 1, None, None, None, frozenset({"bus"})),
}
IMPLICIT_DRIVE_CONTROLLERS = ("scsi", "fdc", "ide", "sata")
"""The order libvirt adds the controllers disks imply (virDomainDefAddImplicitControllers)."""

VIRTIO_DISK_ADDRESSES = ("pci", "ccw", "virtio-mmio")
"""The address types a virtio disk may have."""

SERIAL_TARGET_ADDRESS: Mapping[str, str | None] = {
    "isa-serial": "isa", "isa-debug": "isa", "usb-serial": "usb", "pci-serial": "pci",
    "spapr-vio-serial": "spapr-vio", "system-serial": None, "sclp-serial": None,
}
"""The address each serial target type takes (qemuValidateDomainChrTargetDef); None: a
board's own port, which takes no address at all."""

PANIC_WITHOUT_ADDRESS = ("pseries", "s390", "hyperv")
"""Panic models that are part of the machine: they take no address."""

SPAPR_VIO: tuple[tuple[str, Callable[[Device, bool], bool], int], ...] = (
    ("interface", lambda d, pseries: d.model == "spapr-vlan", 0x1000),
    ("controller", lambda d, pseries: d.type == "scsi" and d.model == "ibmvscsi", 0x2000),
    ("serial", lambda d, pseries: d.target("type") == "spapr-vio-serial" or (
        pseries and d.target("type") in (None, "isa-serial")), 0x30000000),
    ("nvram", lambda d, pseries: pseries, 0x3000),
    ("tpm", lambda d, pseries: pseries and d.model != "spapr-tpm-proxy", 0x4000),
)
"""(element, whether its kind puts it on the spapr-vio bus — given whether the machine is a
pSeries —, first ``reg``), in the order libvirt numbers them (qemuDomainAssignSpaprVIOAddresses,
which runs on every machine: a device of these kinds written with a spapr-vio address takes part
too). A serial without a target type is a spapr-vio one on pSeries only (its default)."""


def address_ignored(dev: Device) -> bool:
    """libvirt's parser skips this device's ``<address>`` altogether: a USB controller of
    model ``none`` (virDomainControllerDefParseXML), so it is neither kept nor reserved."""
    return dev.tag == "controller" and dev.type == "usb" and dev.model == "none"


class ScsiUnits(Record):
    """The units of a SCSI controller model, as virDomainSCSIDriveAddressIsUsed knows them
    (limits libvirt took from QEMU's sources): the highest unit a device may have, and the
    unit the controller is itself (None: no limit, none)."""

    __slots__ = ("highest", "reserved")

    def __init__(self, highest: int | None = None, reserved: int | None = None) -> None:
        self.highest, self.reserved = highest, reserved

    def usable(self, unit: int) -> bool:
        """Whether libvirt may give a device this unit (virDomainHostdevAssignAddress asks
        virDomainSCSIDriveAddressIsUsed)."""
        return unit != self.reserved and (self.highest is None or unit <= self.highest)

    @property
    def count(self) -> int | None:
        """The units the controller holds, from 0: up to the highest, else up to the one it
        is itself (its SCSI id is the top of a narrow bus); None: no limit. A unit from here
        up is one QEMU refuses to start the guest with (check_drives warns)."""
        return self.highest + 1 if self.highest is not None else self.reserved


SCSI_UNITS: Mapping[str, ScsiUnits] = {
    "virtio-scsi": ScsiUnits(16383), "virtio-transitional": ScsiUnits(16383),
    "virtio-non-transitional": ScsiUnits(16383), "ibmvscsi": ScsiUnits(31, 7),
    "lsisas1068": ScsiUnits(1), "lsisas1078": ScsiUnits(255), "lsilogic": ScsiUnits(None, 7),
    "vmpvscsi": ScsiUnits(None, 7), "buslogic": ScsiUnits(None, 7), "ncr53c90": ScsiUnits(6),
    "dc390": ScsiUnits(6), "am53c974": ScsiUnits(6),
}
"""Each SCSI controller model's units (virDomainSCSIDriveAddressIsUsed); a model not listed
takes any unit."""
NO_SCSI_LIMIT = ScsiUnits()
"""The units of a model :data:`SCSI_UNITS` does not list: any."""
SCSI_NARROW_UNITS = 7  # SCSI_NARROW_BUS_MAX_CONT_UNIT: the units a host device is given from
