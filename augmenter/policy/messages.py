"""libvirt's words for the problems both placement and the checks report, stated once.

Each text cites the libvirt 9.0 function that says it. Placement raises them (the guest cannot
be placed); the checks report them as findings before placement runs, with a hint.
"""

from __future__ import annotations

IDE_UNSUPPORTED = "IDE controllers are unsupported for this QEMU binary or machine type"
"""qemuValidateDomainDeviceDefControllerIDE: IDE on q35, ARM/RISC-V virt, pSeries, s390."""

ROOT_WITH_ADDRESS = "pci-root and pcie-root controllers should not have an address"
"""virDomainControllerDefValidate."""

SMARTCARD_NOT_CCID = "smartcard device must use address type ccid"
"""virDomainSmartcardDefValidate."""

USB_DISABLED = "USB is disabled for this domain"
"""virDomainDefParseXML and qemuDomainAssignUSBAddresses: a USB device with model='none'."""

NO_PCI_SLOTS = "No more available PCI slots"
"""virDomainPCIAddressGetNextAddr."""


def unknown_disk_name(name: str | None) -> str:
    """virDomainDiskDefAssignAddress: a disk without an address whose target names no drive
    libvirt can derive one from."""
    return f"Unknown disk name '{name}' and no address specified"


def usb_duplicate(bus: int, port: str) -> str:
    """virDomainUSBAddressReserve: a USB port written for two devices."""
    return f"Duplicate USB address bus {bus} port {port}"


def usb_bus_missing(bus: int) -> str:
    """virDomainUSBAddressAssign."""
    return f"USB bus {bus} requested but no controller with that index is present"


def vserial_port_taken(port: int, controller: int) -> str:
    """virDomainVirtioSerialAddrReserve."""
    return f"virtio serial port {port} on controller {controller} is already occupied"


def vserial_no_port(controller: int, port: int) -> str:
    """virDomainVirtioSerialAddrReserve ("virtio serial controller %u does not have port
    %u")."""
    return f"virtio-serial controller {controller} does not have port {port}"


def cannot_add_bus(model: str | None) -> str:
    """virDomainPCIAddressSetGrow: no bus takes the device, and libvirt cannot add one."""
    what = f"a PCI controller model={model}" if model else "this device"
    return (f"a PCI slot is needed to connect {what}, but none is available, and it cannot be "
            "automatically added")
