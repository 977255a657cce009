"""PCI addresses as values, and reading and writing ``<address>`` elements in libvirt's own
spelling."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ..errors import AugmentError
from ..xml.document import new_element, new_element_of, replace_child
from .domain import Device, parse_int


@dataclass(frozen=True, order=True)
class PciAddress:
    """Where a PCI function sits: the controller index of its bus, the slot, the function."""

    bus: int
    slot: int
    function: int = 0

    def __str__(self) -> str:
        return f"0000:{self.bus:02x}:{self.slot:02x}.{self.function}"


@lru_cache(maxsize=4096)
def pci_at(bus: int, slot: int, function: int = 0) -> PciAddress:
    """``PciAddress(bus, slot, function)``, shared: it is frozen, placement makes tens of them
    per guest, and building a frozen dataclass costs about a microsecond."""
    return PciAddress(bus, slot, function)


def pci_address(dev: Device) -> PciAddress | None:
    """The device's PCI address, or None when it has none or it is "empty" (0000:00:00.x)."""
    a = dev.address
    if a is None or a.get("type") != "pci":
        return None
    try:
        return _pci_value(a.get("domain"), a.get("bus"), a.get("slot"), a.get("function"))
    except _BadAddress as bad:
        raise AugmentError(f"{dev.name()}: {bad}", line=a.sourceline) from None


class _BadAddress(Exception):
    """What is wrong with a PCI address, for :func:`pci_address` to name the device."""


@lru_cache(maxsize=1024)
def _pci_value(domain_text: str | None, bus_text: str | None, slot_text: str | None,
               function_text: str | None) -> PciAddress | None:
    """:func:`pci_address` of the attribute values. Cached: placement and the checks read
    every device's address several times, and a run spells few distinct ones."""
    domain = parse_int(domain_text, 0)
    bus = parse_int(bus_text, 0)
    slot = parse_int(slot_text, 0)
    function = parse_int(function_text, 0)
    if domain is None or bus is None or slot is None or function is None:
        raise _BadAddress("cannot parse PCI address")
    if domain == 0 and bus == 0 and slot == 0:
        return None
    if domain != 0:
        raise _BadAddress("only PCI domain 0 is available")
    if bus > 0xFF:
        raise _BadAddress(f"invalid PCI address bus='{bus:#x}', must be <= 0xFF")
    if slot > 0x1F:
        raise _BadAddress(f"invalid PCI address slot='{slot:#x}', must be <= 0x1F")
    if function > 7:
        raise _BadAddress(f"invalid PCI address function='{function:#x}', must be <= 7")
    return pci_at(bus, slot, function)


def wants_pci(dev: Device) -> bool:
    """No address yet, or a PCI one that is "empty" (libvirt then assigns one)."""
    a = dev.address
    if a is None:
        return True
    return a.get("type") == "pci" and pci_address(dev) is None


def multifunction(dev: Device) -> str | None:
    a = dev.address
    return a.get("multifunction") if a is not None else None


def write_pci(dev: Device, addr: PciAddress, multi: str | None = None) -> None:
    keep = multi if multi is not None else multifunction(dev)
    attrib = _pci_attributes(addr.bus, addr.slot, addr.function, keep)
    old = dev.address
    if old is not None and len(old):
        # keep children such as <zpci>: rewrite the attributes in place
        for key in list(old.attrib):
            del old.attrib[key]
        for key, value in attrib:
            old.set(key, value)
        return
    dev.set_address(replace_child(dev.el, old, new_element_of("address", attrib)))


@lru_cache(maxsize=1024)
def _pci_attributes(bus: int, slot: int, function: int,
                    multi: str | None) -> tuple[tuple[str, str], ...]:
    """A PCI ``<address>``'s attributes in libvirt's spelling. Cached: a run writes tens."""
    attrib = (("type", "pci"), ("domain", "0x0000"), ("bus", f"0x{bus:02x}"),
              ("slot", f"0x{slot:02x}"), ("function", f"0x{function:x}"))
    return attrib if multi is None else (*attrib, ("multifunction", multi))


def write_address(dev: Device, type_: str, **fields: str | int) -> None:
    attrib = {"type": type_}
    attrib.update({k: str(v) for k, v in fields.items()})
    dev.set_address(replace_child(dev.el, dev.address, new_element("address", attrib)))


# Fields libvirt always writes, with the value it gives a field left out.
FULL_FIELDS = {
    "pci": (("domain", "0x0000"), ("bus", "0x00"), ("slot", "0x00"), ("function", "0x0")),
    "drive": (("controller", "0"), ("bus", "0"), ("target", "0"), ("unit", "0")),
    "virtio-serial": (("controller", "0"), ("bus", "0")),
    "ccid": (("controller", "0"),),
}


def complete(dev: Device) -> None:
    """Spell out the fields of a user's partial address the way libvirt writes it back."""
    a = dev.address
    if a is None:
        return
    if a.get("type") == "pci":
        try:
            if pci_address(dev) is None:
                return  # an "empty" PCI address is replaced on assignment
        except AugmentError:
            return  # out of range: the checks report it, with every other problem
    if a.get("type") == "virtio-serial" and not a.get("port"):
        return  # completed on assignment
    for key, value in FULL_FIELDS.get(a.get("type") or "", ()):
        if a.get(key) is None:
            a.set(key, value)
