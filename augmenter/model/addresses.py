"""PCI addresses as values, and reading and writing ``<address>`` elements in libvirt's own
spelling."""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

from ..xml.document import new_element, new_element_of, replace_child
from .domain import Device
from .values import AddressValue, PciValue, VirtioSerialValue


class PciAddress(NamedTuple):
    """Where a PCI function sits: the controller index of its bus, the slot, the function.

    A named tuple, ordered and compared field by field: placement makes one per device it
    places (half a million in a large guest), and a tuple costs a fraction of a frozen
    dataclass to build."""

    bus: int
    slot: int
    function: int = 0

    def __str__(self) -> str:
        return f"0000:{self.bus:02x}:{self.slot:02x}.{self.function}"


pci_at = PciAddress
"""``PciAddress(bus, slot, function)``: the name placement calls it by."""


def pci_address(dev: Device) -> PciAddress | None:
    """The device's PCI address, or None when it has none or it is "empty" (0000:00:00.x:
    libvirt assigns one)."""
    if dev.address is None:  # most devices, before placement: no need to read anything
        return None
    value = dev.addr_value()
    if type(value) is not PciValue or not (value.domain or value.bus or value.slot):
        return None  # not PCI, or "empty"
    return pci_at(value.bus, value.slot, value.function)


def wants_pci(dev: Device) -> bool:
    """No address yet, or a PCI one that is "empty" (libvirt then assigns one)."""
    if dev.address is None:
        return True
    value = dev.addr
    return value is None or (type(value) is PciValue and value.empty)


def multifunction(dev: Device) -> str | None:
    a = dev.address
    return a.get("multifunction") if a is not None else None


def write_pci(dev: Device, addr: PciAddress, multi: str | None = None) -> None:
    keep = multi if multi is not None else multifunction(dev)
    dev.settle()  # an <address> comes after the children augmenter sketched
    attrib = _pci_attributes(addr.bus, addr.slot, addr.function, keep)
    old = dev.address
    if old is not None and len(old):
        # keep children such as <zpci>: rewrite the attributes in place
        for key in list(old.attrib):
            del old.attrib[key]
        for key, value in attrib:
            old.set(key, value)
        dev.set_address(old)  # the same element, another value
        return
    dev.set_address(replace_child(dev.el, old, new_element_of("address", attrib)),
                    _pci_value(addr.bus, addr.slot, addr.function))


@lru_cache(maxsize=1024)
def _pci_value(bus: int, slot: int, function: int) -> PciValue:
    """The value of an address :func:`write_pci` writes (no ``<zpci>``). Cached: frozen, and a
    run writes the same few."""
    return PciValue(0, bus, slot, function)


@lru_cache(maxsize=1024)
def _pci_attributes(bus: int, slot: int, function: int,
                    multi: str | None) -> tuple[tuple[str, str], ...]:
    """A PCI ``<address>``'s attributes in libvirt's spelling. Cached: a run writes tens."""
    attrib = (("type", "pci"), ("domain", "0x0000"), ("bus", f"0x{bus:02x}"),
              ("slot", f"0x{slot:02x}"), ("function", f"0x{function:x}"))
    return attrib if multi is None else (*attrib, ("multifunction", multi))


def write_address(dev: Device, type_: str, value: AddressValue | None = None,
                  **fields: str | int) -> None:
    """Write ``dev``'s ``<address type=type_>`` with ``fields`` in their order. ``value``:
    the address as read back, when the caller has it (placement asks for it again, and
    half a million devices would each read their new address once more)."""
    attrib = {"type": type_}
    attrib.update({k: str(v) for k, v in fields.items()})
    dev.settle()  # an <address> comes after the children augmenter sketched
    dev.set_address(replace_child(dev.el, dev.address, new_element("address", attrib)), value)


# Fields libvirt always writes, with the value it gives a field left out.
FULL_FIELDS = {
    "pci": (("domain", "0x0000"), ("bus", "0x00"), ("slot", "0x00"), ("function", "0x0")),
    "drive": (("controller", "0"), ("bus", "0"), ("target", "0"), ("unit", "0")),
    "virtio-serial": (("controller", "0"), ("bus", "0")),
    "ccid": (("controller", "0"),),
}


def complete(dev: Device) -> None:
    """Spell out the fields of a user's partial address the way libvirt writes it back."""
    a, value = dev.address, dev.addr
    if a is None or value is None:
        return  # none, or one libvirt refuses (the checks say so)
    if isinstance(value, PciValue) and value.empty:
        return  # an "empty" PCI address is replaced on assignment
    if isinstance(value, VirtioSerialValue) and a.get("port") is None:
        return  # completed on assignment
    for key, text in FULL_FIELDS.get(a.get("type") or "", ()):
        if a.get(key) is None:
            a.set(key, text)
