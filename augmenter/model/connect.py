"""Connection kinds: what a device needs upstream and what a bus accepts downstream.

Modelled on libvirt's ``virDomainPCIConnectFlags``: a device and a bus fit when they share at
least one kind, and the auto/hotplug flags agree. Kept as a bit set so that a bus's accepted
kinds and a device's offered kinds are both plain values that data tables can name.
"""

from __future__ import annotations

from enum import IntFlag
from functools import lru_cache


class Connect(IntFlag):
    """Connection kinds and placement flags (libvirt's names, shortened; docs/placement.md §5)."""

    NONE = 0
    PCI = 1 << 0  # conventional PCI endpoint
    PCIE = 1 << 1  # PCI Express endpoint
    RP = 1 << 2  # pcie-root-port
    DMI = 1 << 3  # dmi-to-pci-bridge
    P2P = 1 << 4  # pcie-to-pci-bridge
    BR = 1 << 5  # pci-bridge
    USP = 1 << 6  # pcie-switch-upstream-port
    DSP = 1 << 7  # pcie-switch-downstream-port
    PXB = 1 << 8  # pci-expander-bus
    PXBE = 1 << 9  # pcie-expander-bus
    AUTO = 1 << 16  # may be auto-assigned (device) / allows auto assignment (bus)
    HOTPLUG = 1 << 17  # needs hotplug (device) / supports hotplug (bus)
    INTEGRATED = 1 << 18  # must sit on bus 0
    AGGREGATE = 1 << 19  # may share a slot, one device per function (root ports)

    @classmethod
    def parse(cls, text: str) -> Connect:
        """``"PCI|AUTO"`` -> flags; the form boards and rules use in JSON."""
        value = cls.NONE
        for part in text.split("|"):
            part = part.strip()
            if part:
                value |= cls[part]
        return value


KINDS = (
    Connect.PCI
    | Connect.PCIE
    | Connect.RP
    | Connect.DMI
    | Connect.P2P
    | Connect.BR
    | Connect.USP
    | Connect.DSP
    | Connect.PXB
    | Connect.PXBE
)
"""Every connection kind, without the placement flags."""

KIND_NAMES: dict[Connect, str] = {
    Connect.PCI: "standard PCI device",
    Connect.PCIE: "PCI Express device",
    Connect.RP: "pcie-root-port",
    Connect.DMI: "dmi-to-pci-bridge",
    Connect.P2P: "pcie-to-pci-bridge",
    Connect.BR: "pci-bridge",
    Connect.USP: "pcie-switch-upstream-port",
    Connect.DSP: "pcie-switch-downstream-port",
    Connect.PXB: "pci-expander-bus",
    Connect.PXBE: "pcie-expander-bus",
}


@lru_cache(maxsize=256)
def describe(flags: Connect) -> str:
    """Human words for the kinds in ``flags``, for messages (placement flags are not named).

    Cached: every placed device's ``why_placed`` names its kinds, from a handful of values."""
    value = int(flags)
    names = [name for kind, name in KIND_NAMES.items() if value & kind]
    return " or ".join(names) if names else "no PCI connection"
