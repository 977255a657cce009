"""libvirt's policy for each machine family, as data.

QEMU can tell what a board contains (:mod:`augmenter.boards.records`) but not what a management
layer does with it: which built-in functions libvirt models as controllers, which slots it keeps
for video or sound, which USB controller it adds. Those choices are written down here, one record
per family, so the placement engine never asks "is this q35?".
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

from ..boards.records import Board, BuiltinPci, Emulator
from . import capabilities
from .devices import USB_MODELS


@dataclass(frozen=True)
class PinnedController:
    """A controller libvirt always puts at one address of the root bus (pc IDE 01.1)."""

    type: str
    index: int
    slot: int
    function: int
    models: frozenset[str | None] | None = None  # None: any model
    reserve_early: bool = True  # reserved by the chipset step (pc) or only as explicit (q35)
    message: str = ""


@dataclass(frozen=True)
class PreferredSlot:
    """A root-bus slot libvirt gives to the first device of a kind, if the slot is empty."""

    kind: str  # "primary-video", "ich9-sound", "dmi-to-pci-bridge", "ich9-uhci1"
    slots: tuple[int, ...]


@dataclass(frozen=True)
class Family:
    """How libvirt treats one family of machine types."""

    name: str
    arches: frozenset[str]
    patterns: tuple[str, ...]
    root_model: str | None  # controller model of PCI bus 0, or None without PCI
    board_owned: dict[str, tuple[str, int]] = field(default_factory=dict)
    pinned: tuple[PinnedController, ...] = ()
    preferred: tuple[PreferredSlot, ...] = ()
    usb_defaults: tuple[str, ...] = ()  # first model QEMU has wins; () = no default USB
    usb_model: tuple[str, ...] = ("piix3-uhci",)  # for a USB controller written without model
    implicit_sata: bool = False
    ide_allowed: bool = False
    ps2_inputs: bool = False
    balloon: bool = True  # libvirt adds a virtio memballoon when none is written
    usb_inputs_with_graphics: bool = False  # pSeries: USB keyboard and mouse with graphics
    panic: str | None = None  # panic model libvirt adds (pseries, s390)
    root_needs: str | None = None  # QEMU type the PCI root depends on (gpex-pcihost, zpci)
    net_model: str | None = None  # None: rtl8139 > e1000 > virtio, by QEMU's types
    video_model: str | None = None  # None: cirrus > vga, by QEMU's types
    scsi_model: str | None = None  # None: lsilogic > virtio-scsi, by QEMU's types
    serial_target: str = "isa-serial"
    virtio_transport: str = "pci"  # "pci", "ccw" (s390) or "mmio-or-pci" (ARM/RISC-V virt)
    phb: bool = False  # pSeries: new buses are PHBs (pci-root with a target index)
    spapr_vio: bool = False
    zpci: bool = False

    def matches(self, arch: str, machine: str) -> bool:
        return arch in self.arches and any(fnmatch.fnmatchcase(machine, p) for p in self.patterns)

    def reserved_functions(self, board: Board) -> list[BuiltinPci]:
        """Board functions nobody may use: built-ins that no libvirt controller stands for.

        Slot 0 of the root bus (host bridge) is outside the usable slot range anyway.
        """
        return [b for b in board.pci if b.slot != 0 and b.type not in self.board_owned]


X86 = frozenset({"x86_64", "i686"})  # libvirt's ARCH_IS_X86
PPC64 = frozenset({"ppc64", "ppc64le"})  # ARCH_IS_PPC64
S390 = frozenset({"s390", "s390x"})  # ARCH_IS_S390

I440FX = Family(
    name="i440fx",
    arches=X86,
    patterns=("pc", "pc-0.*", "pc-1.*", "pc-i440fx-*", "rhel*"),
    root_model="pci-root",
    board_owned={"piix3-ide": ("ide", 0)},
    pinned=(
        PinnedController(
            "ide", 0, 1, 1, message="Primary IDE controller must have PCI address 0:0:1.1"
        ),
        PinnedController(
            "usb",
            0,
            1,
            2,
            models=frozenset({"piix3-uhci", None}),
            message="PIIX3 USB controller at index 0 must have PCI address 0:0:1.2",
        ),
    ),
    preferred=(PreferredSlot("primary-video", (2,)),),
    usb_defaults=("piix3-uhci",),
    ide_allowed=True,
    ps2_inputs=True,
)

Q35 = Family(
    name="q35",
    arches=X86,
    patterns=("q35", "pc-q35-*"),
    root_model="pcie-root",
    board_owned={"ich9-ahci": ("sata", 0)},
    pinned=(
        PinnedController(
            "sata",
            0,
            0x1F,
            2,
            reserve_early=False,
            message="Primary SATA controller must have PCI address 0:0:1f.2",
        ),
    ),
    preferred=(
        PreferredSlot("ich9-uhci1", (0x1D, 0x1A)),
        PreferredSlot("dmi-to-pci-bridge", (0x1E,)),
        PreferredSlot("primary-video", (1,)),
        PreferredSlot("ich9-sound", (0x1B,)),
    ),
    usb_defaults=("qemu-xhci", "nec-xhci", "ich9-ehci1"),
    implicit_sata=True,
    ps2_inputs=True,
)

ARM_VIRT = Family(
    name="arm-virt",
    arches=frozenset({"armv6l", "armv7l", "aarch64"}),
    patterns=("virt", "virt-*"),
    root_model="pcie-root",
    root_needs="gpex-pcihost",
    balloon=False,
    usb_model=("qemu-xhci", "nec-xhci"),
    net_model="virtio",
    video_model="virtio",
    serial_target="system-serial",
    virtio_transport="mmio-or-pci",
)

RISCV_VIRT = Family(
    name="riscv-virt",
    arches=frozenset({"riscv32", "riscv64"}),
    patterns=("virt", "virt-*"),
    root_model="pcie-root",
    root_needs="gpex-pcihost",
    net_model="virtio",
    video_model="virtio",
    serial_target="system-serial",
    virtio_transport="mmio-or-pci",
)

PSERIES = Family(
    name="pseries",
    arches=frozenset({"ppc64", "ppc64le"}),
    patterns=("pseries", "pseries-*"),
    root_model="pci-root",
    usb_defaults=("qemu-xhci", "nec-xhci", "pci-ohci"),
    usb_model=("qemu-xhci", "nec-xhci", "pci-ohci"),
    usb_inputs_with_graphics=True,
    panic="pseries",
    video_model="vga",
    scsi_model="ibmvscsi",
    serial_target="spapr-vio-serial",
    phb=True,
    spapr_vio=True,
)

S390_CCW = Family(
    name="s390-ccw",
    arches=frozenset({"s390", "s390x"}),
    patterns=("s390-ccw*",),
    root_model="pci-root",
    root_needs="zpci",
    panic="s390",
    net_model="virtio",
    video_model="virtio",
    scsi_model="virtio-scsi",
    serial_target="sclp-serial",
    virtio_transport="ccw",
    zpci=True,
)

ISAPC = Family(
    name="isapc",
    arches=X86,
    patterns=("isapc",),
    root_model=None,
    ps2_inputs=True,
)

OTHER_X86 = Family(
    name="x86",
    arches=X86,
    patterns=("*",),
    root_model=None,
    usb_defaults=("piix3-uhci",),
    ps2_inputs=True,
)

FAMILIES: tuple[Family, ...] = (I440FX, Q35, ARM_VIRT, RISCV_VIRT, PSERIES, S390_CCW, ISAPC,
                                OTHER_X86)



def _usb_qemu_type(model: str) -> str:
    """The QEMU type to ask a binary for before libvirt picks a USB model."""
    return USB_MODELS[model].qemu_type or model


USB_QEMU_TYPES: frozenset[str] = frozenset(
    _usb_qemu_type(m) for f in FAMILIES for m in (*f.usb_defaults, *f.usb_model))
"""The QEMU types behind the USB models a family may default to."""


# Every QEMU device type libvirt's rules here ask a binary about (``Emulator.has_device``).
# The board drift test compares a fresh QEMU with the shipped table on these, not on the whole
# list of types, which depends on the optional module packages a host happens to have
# (``virtio-gpu-gl-device`` comes with qemu-system-gui). A test holds every question asked
# while placing the examples and generated guests to this set.
QEMU_TYPES_ASKED: frozenset[str] = frozenset({
    "virtio-net-pci-non-transitional", "lsi53c895a", "virtio-scsi-pci", "cirrus-vga",
    "pcie-pci-bridge", "pcie-root-port", "ioh3420", "virtio-mmio", "zpci", "gpex-pcihost",
    *USB_QEMU_TYPES,
    *capabilities.TYPES,  # the capability rules' device types (policy/capabilities.py)
})


def default_serial_target(family: Family | None, arch: str) -> str | None:
    """The target type a serial port without one (or with ``isa-serial``, historically the
    same) gets (qemuDomainChrDefPostParse): the family's; ``isa-serial`` on any x86 machine;
    None where libvirt has no default."""
    if family is not None:
        return family.serial_target
    return "isa-serial" if arch in X86 else None


def family_of(arch: str, machine: str) -> Family | None:
    """The family of a machine, by name and arch, as libvirt decides it."""
    return next((f for f in FAMILIES if f.matches(arch, machine)), None)


def root_model(family: Family | None, emulator: Emulator) -> str | None:
    """The model of PCI bus 0, or None when the machine has no PCI (or QEMU lacks it)."""
    if family is None or family.root_model is None:
        return None
    if family.root_needs and not emulator.has_device(family.root_needs):
        return None
    return family.root_model


def default_usb_model(family: Family, emulator: Emulator, written: bool = False) -> str | None:
    """libvirt's model for the USB controller it adds (or, ``written``, for one the user wrote
    without a model): the first one QEMU offers."""
    for model in family.usb_model if written else family.usb_defaults:
        if emulator.has_device(_usb_qemu_type(model)):
            return model
    return None


SCSI_BY_QEMU_TYPE = (("lsilogic", "lsi53c895a"), ("virtio-scsi", "virtio-scsi-pci"))
"""libvirt's SCSI controller model where the family names none: the first QEMU has
(qemuDomainGetSCSIControllerModel)."""
VIDEO_BY_QEMU_TYPE = (("cirrus", "cirrus-vga"),)
"""libvirt's video model where the family names none: the first QEMU has, else vga
(qemuDomainDefaultVideoDevice)."""


def default_scsi_model(family: Family | None, emulator: Emulator) -> str | None:
    """libvirt's model for a SCSI controller written without one (or with ``auto``)."""
    if family is not None and family.scsi_model:
        return family.scsi_model
    return next((model for model, qemu in SCSI_BY_QEMU_TYPE if emulator.has_device(qemu)), None)


def default_video_model(family: Family | None, emulator: Emulator) -> str:
    """libvirt's model for a video written without one."""
    if family is not None and family.video_model:
        return family.video_model
    return next((model for model, qemu in VIDEO_BY_QEMU_TYPE if emulator.has_device(qemu)),
                "vga")


# libvirt's machine for a guest that names none, per arch, when QEMU has it
PREFERRED_MACHINES = {
    "x86_64": "pc", "i686": "pc", "aarch64": "integratorcp", "armv7l": "integratorcp",
    "armv6l": "integratorcp", "ppc64": "pseries", "ppc64le": "pseries",
    "s390x": "s390-ccw-virtio", "s390": "s390-ccw-virtio", "riscv64": "spike_v1.10",
    "riscv32": "spike_v1.10",
}


def preferred_machine(emulator: Emulator) -> str:
    """libvirt's default machine for an arch, else QEMU's own default ('' when neither)."""
    name = PREFERRED_MACHINES.get(emulator.arch, "")
    if name and (name in emulator.aliases or name in emulator.machines):
        return name
    return emulator.default_machine
