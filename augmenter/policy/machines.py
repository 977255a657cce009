"""libvirt's policy for each machine family, as data.

QEMU can tell what a board contains (:mod:`augmenter.boards.records`) but not what a management
layer does with it: which built-in functions libvirt models as controllers, which slots it keeps
for video or sound, which USB controller it adds. Those choices are written down here, one record
per family, so the placement engine never asks "is this q35?".
"""

from __future__ import annotations

import dataclasses
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
    """How libvirt treats one family of machine types: one row of its decision table.

    libvirt 9.0 decides by the guest's arch and machine name, and by the device types QEMU has
    (``root_needs``, ``pci_needs``, the model lists): never by the board QEMU builds. A row
    with ``patterns=("*",)`` holds what libvirt does for every other machine of its arches
    (``arches=None``: of every arch), so a machine type no row names still gets libvirt's
    answer: :data:`FAMILIES` is searched in order and the first row that matches decides.
    """

    name: str
    arches: frozenset[str] | None  # None: every arch
    patterns: tuple[str, ...]
    root_model: str | None  # controller model of PCI bus 0 libvirt adds, or None
    board_owned: dict[str, tuple[str, int]] = field(default_factory=dict)
    pinned: tuple[PinnedController, ...] = ()
    preferred: tuple[PreferredSlot, ...] = ()
    add_usb: bool = True  # qemuDomainDefAddDefaultDevices: addDefaultUSB
    usb_defaults: tuple[str, ...] = ()  # the added USB's model: first QEMU has; () = as written
    usb_unaddressed: str | None = None  # model of a model-less USB without address (s390)
    implicit_sata: bool = False
    ide_allowed: bool = False  # qemuDomainHasBuiltinIDE
    ps2_inputs: bool = False
    balloon: bool = True  # libvirt adds a virtio memballoon when none is written
    usb_inputs_with_graphics: bool = False  # ppc64: USB keyboard and mouse with graphics
    panic: str | None = None  # panic model libvirt adds (pseries, s390)
    root_needs: str | None = None  # QEMU type the PCI root depends on (gpex-pcihost, zpci)
    supports_pci: bool = True  # qemuDomainSupportsPCI: PCI addresses are assigned at all
    pci_needs: str | None = None  # QEMU type without which it does not (gpex-pcihost)
    net_model: str | None = None  # None: rtl8139 > e1000 > virtio, by QEMU's types
    video_model: str | None = None  # None: cirrus > vga, by QEMU's types
    scsi_model: str | None = None  # None: lsilogic > virtio-scsi, by QEMU's types
    serial_target: str | None = None  # a serial port's target type when none is written
    system_serial: str | None = None  # the model of its system-serial (pl011, 16550a)
    virtio_transport: str = "pci"  # "pci", "ccw" (s390) or "mmio-or-pci" (virt, vexpress)
    phb: bool = False  # pSeries: new buses are PHBs (pci-root with a target index)
    spapr_vio: bool = False
    zpci: bool = False
    board_functions: bool = True  # libvirt keeps the board's built-in PCI functions free

    def matches(self, arch: str, machine: str) -> bool:
        return (self.arches is None or arch in self.arches) and any(
            fnmatch.fnmatchcase(machine, p) for p in self.patterns)

    @property
    def needs_board(self) -> bool:
        """Its rules read the board QEMU builds (the built-in functions of its root bus)."""
        return self.board_functions

    def reserved_functions(self, board: Board) -> list[BuiltinPci]:
        """Board functions nobody may use: built-ins that no libvirt controller stands for.

        Slot 0 of the root bus (host bridge) is outside the usable slot range anyway. Only
        where libvirt's chipset rules name them (pc, q35); elsewhere libvirt places devices
        as if the root bus were empty (qemuDomainValidateDevicePCISlotsChipsets).
        """
        if not self.board_functions:
            return []
        return [b for b in board.pci if b.slot != 0 and b.type not in self.board_owned]


X86 = frozenset({"x86_64", "i686"})  # libvirt's ARCH_IS_X86
ARM = frozenset({"armv6l", "armv7l", "aarch64"})
RISCV = frozenset({"riscv32", "riscv64"})
PPC64 = frozenset({"ppc64", "ppc64le"})  # ARCH_IS_PPC64
S390 = frozenset({"s390", "s390x"})  # ARCH_IS_S390
MIPS = frozenset({"mips", "mipsel", "mips64", "mips64el"})

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
    ide_allowed=True,
    ps2_inputs=True,
    serial_target="isa-serial",
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
    serial_target="isa-serial",
)

ISAPC = Family(
    name="isapc",
    arches=X86,
    patterns=("isapc",),
    root_model=None,
    add_usb=False,
    ps2_inputs=True,
    serial_target="isa-serial",
)

OTHER_X86 = Family(
    name="x86",
    arches=X86,
    patterns=("*",),
    root_model=None,
    ps2_inputs=True,
    serial_target="isa-serial",
)

ARM_VIRT = Family(
    name="arm-virt",
    arches=ARM,
    patterns=("virt", "virt-*"),
    root_model="pcie-root",
    root_needs="gpex-pcihost",
    pci_needs="gpex-pcihost",
    add_usb=False,
    balloon=False,
    net_model="virtio",
    video_model="virtio",
    serial_target="system-serial",
    system_serial="pl011",
    virtio_transport="mmio-or-pci",
)

# versatilepb: the one ARM board with PCI (qemuDomainSupportsPCI); libvirt adds its pci-root
# only for armv6l guests, and names its NIC (qemuDomainDefaultNetModel)
VERSATILEPB_ARMV6L = Family(
    name="versatilepb",
    arches=frozenset({"armv6l"}),
    patterns=("versatilepb",),
    root_model="pci-root",
    add_usb=False,
    balloon=False,
    net_model="scm91c111",  # sic: libvirt's spelling (virDomainNetModel)
    board_functions=False,
)

VERSATILEPB = dataclasses.replace(VERSATILEPB_ARMV6L, arches=ARM, root_model=None)

# vexpress-*: virtio-mmio (qemuDomainAssignVirtioMMIOAddresses), no PCI
VEXPRESS = Family(
    name="vexpress",
    arches=ARM,
    patterns=("vexpress-*",),
    root_model=None,
    supports_pci=False,
    add_usb=False,
    balloon=False,
    net_model="lan9118",
    virtio_transport="mmio-or-pci",
    board_functions=False,
)

# every other ARM board: no PCI, no virtio transport; devices are left without an address
OTHER_ARM = dataclasses.replace(VEXPRESS, name="arm", patterns=("*",), virtio_transport="pci")

RISCV_VIRT = Family(
    name="riscv-virt",
    arches=RISCV,
    patterns=("virt", "virt-*"),
    root_model="pcie-root",
    root_needs="gpex-pcihost",
    pci_needs="gpex-pcihost",
    add_usb=False,
    net_model="virtio",
    video_model="virtio",
    serial_target="system-serial",
    system_serial="16550a",
    virtio_transport="mmio-or-pci",
)

OTHER_RISCV = Family(
    name="riscv",
    arches=RISCV,
    patterns=("*",),
    root_model=None,
    supports_pci=False,
    add_usb=False,
    board_functions=False,
)

PSERIES = Family(
    name="pseries",
    arches=PPC64,
    patterns=("pseries", "pseries-*"),
    root_model="pci-root",
    usb_inputs_with_graphics=True,
    panic="pseries",
    video_model="vga",
    scsi_model="ibmvscsi",
    serial_target="spapr-vio-serial",
    phb=True,
    spapr_vio=True,
)

# powernv, and the 32-bit boards a ppc64 QEMU also has
OTHER_PPC64 = Family(
    name="ppc64",
    arches=PPC64,
    patterns=("*",),
    root_model="pci-root",
    usb_inputs_with_graphics=True,
    video_model="vga",
    board_functions=False,
)

S390_CCW = Family(
    name="s390-ccw",
    arches=S390,
    patterns=("s390-ccw*",),
    root_model="pci-root",
    root_needs="zpci",
    add_usb=False,
    usb_unaddressed="none",
    panic="s390",
    net_model="virtio",
    video_model="virtio",
    scsi_model="virtio-scsi",
    serial_target="sclp-serial",
    virtio_transport="ccw",
    zpci=True,
)

OTHER_S390 = dataclasses.replace(S390_CCW, name="s390", patterns=("*",), virtio_transport="pci",
                                 board_functions=False)

# PowerMac and embedded PowerPC, alpha, sh4: a pci-root, whatever PCI host the board has
PCI_ROOT_ARCHES = Family(
    name="pci-root",
    arches=frozenset({"ppc", "ppcemb", "alpha", "sh4", "sh4eb", "sparc64"}),
    patterns=("*",),
    root_model="pci-root",
    board_functions=False,
)

SPARC = Family(
    name="sparc",
    arches=frozenset({"sparc"}),
    patterns=("*",),
    root_model=None,
    add_usb=False,
    balloon=False,
    scsi_model="ncr53c90",  # its built-in ESP (qemuDomainHasBuiltinESP)
    board_functions=False,
)

MIPS_MALTA = Family(
    name="malta",
    arches=MIPS,
    patterns=("malta",),
    root_model="pci-root",
    board_functions=False,
)

# every other machine of every other arch: a default USB controller and a balloon, but no PCI
# bus for them (libvirt: "No PCI buses available")
OTHER = Family(
    name="other",
    arches=None,
    patterns=("*",),
    root_model=None,
    board_functions=False,
)

FAMILIES: tuple[Family, ...] = (
    I440FX, Q35, ISAPC, OTHER_X86,
    ARM_VIRT, VERSATILEPB_ARMV6L, VERSATILEPB, VEXPRESS, OTHER_ARM,
    RISCV_VIRT, OTHER_RISCV,
    PSERIES, OTHER_PPC64,
    S390_CCW, OTHER_S390,
    PCI_ROOT_ARCHES, SPARC, MIPS_MALTA,
    OTHER,
)

# qemuDomainControllerDefPostParse: a USB controller without a model gets the first of its
# arch's list that QEMU has (piix3-uhci elsewhere), or stays without one
USB_MODELS_BY_ARCH: dict[str, tuple[str, ...]] = {
    "ppc64": ("qemu-xhci", "nec-xhci", "pci-ohci"),
    "ppc64le": ("qemu-xhci", "nec-xhci", "pci-ohci"),
    "aarch64": ("qemu-xhci", "nec-xhci", "piix3-uhci"),
}
USB_MODELS_ELSEWHERE = ("piix3-uhci",)


def _usb_qemu_type(model: str) -> str:
    """The QEMU type to ask a binary for before libvirt picks a USB model."""
    return USB_MODELS[model].qemu_type or model


USB_QEMU_TYPES: frozenset[str] = frozenset(
    _usb_qemu_type(m)
    for m in (*(m for f in FAMILIES for m in f.usb_defaults),
              *(m for models in USB_MODELS_BY_ARCH.values() for m in models),
              *USB_MODELS_ELSEWHERE))
"""The QEMU types behind the USB models libvirt may default to."""

# qemuDomainGetSCSIControllerModel, where the family names none: the first QEMU has
SCSI_BY_QEMU_TYPE = (("lsilogic", "lsi53c895a"), ("virtio-scsi", "virtio-scsi-pci"))

# machines with a built-in IDE controller besides i440FX's, on any arch
# (qemuDomainMachineHasBuiltinIDE)
BUILTIN_IDE_MACHINES = frozenset({"malta", "sun4u", "g3beige"})

# machine types libvirt never offers (virQEMUCapsProbeQMPMachineTypes skips them)
UNOFFERED_MACHINES = frozenset({"none"})


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


def family_of(arch: str, machine: str) -> Family | None:
    """The family of a machine, by name and arch, as libvirt decides it."""
    return next((f for f in FAMILIES if f.matches(arch, machine)), None)


def root_model(family: Family | None, emulator: Emulator) -> str | None:
    """The model of PCI bus 0 libvirt adds, or None (no PCI root, or QEMU lacks it)."""
    if family is None or family.root_model is None:
        return None
    if family.root_needs and not emulator.has_device(family.root_needs):
        return None
    return family.root_model


def supports_pci(family: Family | None, emulator: Emulator) -> bool:
    """qemuDomainSupportsPCI: whether libvirt assigns PCI addresses on this machine at all.
    Where it does but has no PCI bus, a device that needs one is refused ("No PCI buses
    available"); where it does not, devices stay without an address."""
    if family is None:
        return True
    return family.supports_pci and not (
        family.pci_needs and not emulator.has_device(family.pci_needs))


def has_builtin_ide(family: Family | None, machine: str) -> bool:
    """qemuDomainHasBuiltinIDE: the machine's IDE controller 0 is its own (no PCI address)."""
    return (family is not None and family.ide_allowed) or machine in BUILTIN_IDE_MACHINES


def default_usb_model(family: Family, emulator: Emulator, arch: str,
                      written: bool = False) -> str | None:
    """libvirt's model for the USB controller it adds (or, ``written``, for one the user wrote
    without a model): the first one QEMU offers of the family's list (q35's), else of the
    arch's (qemuDomainControllerDefPostParse); None: no model."""
    models = family.usb_defaults if family.usb_defaults and not written else \
        USB_MODELS_BY_ARCH.get(arch, USB_MODELS_ELSEWHERE)
    for model in models:
        if emulator.has_device(_usb_qemu_type(model)):
            return model
    return None


def default_scsi_model(family: Family | None, emulator: Emulator) -> str | None:
    """libvirt's model for a SCSI controller written without one (or with ``auto``)."""
    if family is not None and family.scsi_model:
        return family.scsi_model
    return next((model for model, qemu in SCSI_BY_QEMU_TYPE if emulator.has_device(qemu)), None)


VIDEO_BY_QEMU_TYPE = (("cirrus", "cirrus-vga"),)
"""libvirt's video model where the family names none: the first QEMU has, else vga
(qemuDomainDefaultVideoDevice)."""


def default_video_model(family: Family | None, emulator: Emulator) -> str:
    """libvirt's model for a video written without one."""
    if family is not None and family.video_model:
        return family.video_model
    return next((model for model, qemu in VIDEO_BY_QEMU_TYPE if emulator.has_device(qemu)),
                "vga")


def default_input_bus(arch: str, input_type: str | None) -> str | None:
    """The bus libvirt's parser gives an HVM guest's input written without one
    (virDomainInputDefParseXML): PS/2 for an x86 mouse or keyboard, virtio on s390 and for
    passthrough, none for evdev, else USB."""
    if input_type in ("mouse", "keyboard") and arch in X86:
        return "ps2"
    if arch in S390 or input_type == "passthrough":
        return "virtio"
    if input_type == "evdev":
        return None
    return "usb"


def default_serial_target(family: Family | None, arch: str) -> str | None:
    """The target type a serial port without one (or with ``isa-serial``, historically the
    same) gets (qemuDomainChrDefPostParse): the family's; ``isa-serial`` on any x86 machine;
    None where libvirt has no default."""
    if family is not None:
        return family.serial_target
    return "isa-serial" if arch in X86 else None


def serial_target(family: Family | None, arch: str, written: str | None) -> str | None:
    """The target type libvirt gives a serial port (qemuDomainChrDefPostParse): the written
    one, except that none and ``isa-serial`` (historically the same) become the machine's
    default (:func:`default_serial_target`), which some machines lack (None)."""
    if written not in (None, "isa-serial"):
        return written
    return default_serial_target(family, arch)


# qemuDomainChrDefPostParse: the model of each serial target type (system-serial: the
# family's own, Family.system_serial)
SERIAL_TARGET_MODELS = {
    "isa-serial": "isa-serial", "usb-serial": "usb-serial", "pci-serial": "pci-serial",
    "spapr-vio-serial": "spapr-vty", "sclp-serial": "sclpconsole", "isa-debug": "isa-debugcon",
}


def serial_model(family: Family | None, target: str | None) -> str | None:
    """The ``<model name>`` libvirt gives a serial port of this target type, or None."""
    if target == "system-serial":
        return family.system_serial if family is not None else None
    return SERIAL_TARGET_MODELS.get(target or "")


# libvirt's machine for a guest that names none, per arch, when QEMU has it
# (virQEMUCapsProbeQMPMachineTypes, preferredMachines)
PREFERRED_MACHINES = {
    "alpha": "clipper", "armv6l": "integratorcp", "armv7l": "integratorcp",
    "armv7b": "integratorcp", "aarch64": "integratorcp", "cris": "axis-dev88", "i686": "pc",
    "lm32": "lm32-evr", "m68k": "mcf5208evb", "microblaze": "petalogix-s3adsp1800",
    "microblazeel": "petalogix-s3adsp1800", "mips": "malta", "mipsel": "malta",
    "mips64": "malta", "mips64el": "malta", "openrisc": "or1k-sim", "ppc": "g3beige",
    "ppcle": "g3beige", "ppc64": "pseries", "ppc64le": "pseries", "ppcemb": "bamboo",
    "riscv32": "spike_v1.10", "riscv64": "spike_v1.10", "s390x": "s390-ccw-virtio",
    "sh4": "shix", "sh4eb": "shix", "sparc": "SS-5", "sparc64": "sun4u", "unicore32": "puv3",
    "x86_64": "pc", "xtensa": "sim", "xtensaeb": "sim",
}


def preferred_machine(emulator: Emulator) -> str:
    """libvirt's default machine for an arch, else QEMU's own default ('' when neither)."""
    name = PREFERRED_MACHINES.get(emulator.arch, "")
    if name and (name in emulator.aliases or name in emulator.machines):
        return name
    return emulator.default_machine
