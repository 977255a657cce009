"""Everything placement needs to know about one guest: its records, board and policy."""

from __future__ import annotations

from dataclasses import dataclass

from ..boards.records import Board, Emulator
from ..errors import AugmentError
from ..model.domain import Device, Domain
from ..policy.machines import Family, has_builtin_ide, root_model, supports_pci
from .topology import Topology


@dataclass(eq=False)
class Guest:
    dom: Domain
    emulator: Emulator
    machine: str  # canonical name
    family: Family | None
    board: Board | None
    topology: Topology | None = None  # the final PCI topology, once placed
    reserve_hotplug: int = 0  # empty hot-pluggable slots to keep beyond libvirt's own

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
