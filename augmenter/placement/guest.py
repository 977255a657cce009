"""Everything placement needs to know about one guest: its records, board and policy."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..boards.records import Board, Emulator
from ..errors import AugmentError
from ..model.domain import Device, Domain
from ..policy.machines import Family, has_builtin_ide, root_model, supports_pci
from .convert import Change
from .topology import Topology


@dataclass(eq=False)
class Together:
    """Devices that share one guest slot, each on its own function: the functions of one
    host slot, passed through (docs/placement.md §22). Function 0 comes first."""

    members: tuple[tuple[Device, int], ...]  # (device, function)


@dataclass(eq=False)
class Guest:
    dom: Domain
    emulator: Emulator
    machine: str  # canonical name
    family: Family | None
    board: Board | None
    topology: Topology | None = None  # the final PCI topology, once placed
    # Empty hot-pluggable ports the result must have (docs/placement.md §21); None: libvirt's
    # own reserve (one spare root port on a new PCIe guest)
    reserve_hotplug: int | None = None
    # What augment did beyond libvirt, one sentence each, for --explain (docs/placement.md §20)
    notes: list[str] = field(default_factory=list)
    # PCI host devices placed together (--group-host-functions): each member -> its group
    together: dict[Device, Together] = field(default_factory=dict)
    # --convert-to: every change made to the definition (docs/placement.md §24)
    conversion: list[Change] = field(default_factory=list)
    # Warnings of what augment did beyond libvirt: (code, message), as findings at the end
    warnings: list[tuple[str, str]] = field(default_factory=list)

    @property
    def root_model(self) -> str | None:
        """Model of PCI bus 0 on this machine and QEMU, or None without PCI."""
        return root_model(self.family, self.emulator)

    @property
    def pcie_root(self) -> bool:
        return self.root_model == "pcie-root"

    @property
    def virtio_pcie(self) -> bool:
        """QEMU has the virtio non-transitional types, so virtio is PCIe-capable."""
        return self.emulator.has_device("virtio-net-pci-non-transitional")

    @property
    def supports_pci(self) -> bool:
        """libvirt assigns PCI addresses on this machine (qemuDomainSupportsPCI), whether or
        not it has a PCI bus to assign them on."""
        return supports_pci(self.family, self.emulator)

    @property
    def builtin_ide(self) -> bool:
        """IDE controller 0 is the machine's own (qemuDomainHasBuiltinIDE): allowed, and
        given no address."""
        return has_builtin_ide(self.family, self.machine)

    def has(self, qemu_type: str) -> bool:
        return self.emulator.has_device(qemu_type)

    def fail(self, dev: Device | None, message: str, hint: str | None = None) -> AugmentError:
        """An error about ``dev``: its line, and its name at the head of the message."""
        line = dev.line if dev is not None and dev.line else None
        if dev is not None and not message.startswith(dev.name()):
            message = f"{dev.name()}: {message}"
        return AugmentError(message, line=line, hint=hint)
