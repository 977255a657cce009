"""Device addresses as typed values, read by the one strict reader.

``<address type='...'>`` is read as libvirt 9.0's ``virDomainDeviceAddressParseXML``
(``src/conf/domain_conf.c``) and the per-kind parsers of ``src/conf/device_conf.c`` read it:
each field with its base and range (:mod:`augmenter.model.numbers`), then the checks libvirt
makes at parse time (a PCI address's bus, slot and function; a CCW address's ranges and its
all-or-nothing fields). A refused address raises
:class:`~augmenter.model.numbers.InvalidValue` with libvirt's words, at the address's line,
and the first refused field only, as libvirt stops there too.

Every kind has a value class; a field the document leaves out reads as libvirt's default (0,
or None where libvirt tells "absent" apart).
"""

from __future__ import annotations

from typing import TypeAlias

from ..xml.document import Element, first_child
from .numbers import READERS, InvalidValue, scan, strict
from .record import Record

UINT_MAX = READERS["uip"].high


class PciValue(Record):
    """``<address type='pci'>`` (virPCIDeviceAddressParseXML), its ``<zpci>`` ids too."""

    __slots__ = ("bus", "domain", "fid", "function", "slot", "uid")

    def __init__(self, domain: int = 0, bus: int = 0, slot: int = 0, function: int = 0,
                 uid: int | None = None, fid: int | None = None) -> None:
        self.domain, self.bus, self.slot, self.function = domain, bus, slot, function
        self.uid = uid  # <zpci uid> (s390)
        self.fid = fid  # <zpci fid>

    @property
    def empty(self) -> bool:
        """Domain, bus and slot all 0: no address yet, libvirt assigns one
        (virPCIDeviceAddressIsEmpty)."""
        return not (self.domain or self.bus or self.slot)


class DriveValue(Record):
    """``<address type='drive'>``: a disk's (or SCSI host device's) unit on a controller."""

    __slots__ = ("bus", "controller", "target", "unit")

    def __init__(self, controller: int = 0, bus: int = 0, target: int = 0,
                 unit: int = 0) -> None:
        self.controller, self.bus, self.target, self.unit = controller, bus, target, unit


class VirtioSerialValue(Record):
    """``<address type='virtio-serial'>``; port 0: no port yet (libvirt assigns one)."""

    __slots__ = ("bus", "controller", "port")

    def __init__(self, controller: int = 0, bus: int = 0, port: int = 0) -> None:
        self.controller, self.bus, self.port = controller, bus, port


class CcidValue(Record):
    __slots__ = ("controller", "slot")

    def __init__(self, controller: int = 0, slot: int = 0) -> None:
        self.controller, self.slot = controller, slot


class UsbValue(Record):
    """``<address type='usb'>``: a bus (controller index) and a port path, ``(1, 4)`` for
    port 4 of the hub on root port 1; ``()`` when no port is given (or port 0)."""

    __slots__ = ("bus", "port")

    def __init__(self, bus: int = 0, port: tuple[int, ...] = ()) -> None:
        self.bus, self.port = bus, port

    @property
    def port_text(self) -> str:
        return ".".join(map(str, self.port))


class CcwValue(Record):
    """``<address type='ccw'>``: None in every field, or a value in every field."""

    __slots__ = ("cssid", "devno", "ssid")

    def __init__(self, cssid: int | None = None, ssid: int | None = None,
                 devno: int | None = None) -> None:
        self.cssid, self.ssid, self.devno = cssid, ssid, devno


class SpaprVioValue(Record):
    __slots__ = ("reg",)

    def __init__(self, reg: int | None = None) -> None:
        self.reg = reg


class IsaValue(Record):
    __slots__ = ("iobase", "irq")

    def __init__(self, iobase: int = 0, irq: int = 0) -> None:
        self.iobase, self.irq = iobase, irq


class DimmValue(Record):
    __slots__ = ("base", "slot")

    def __init__(self, slot: int, base: int | None = None) -> None:
        self.slot, self.base = slot, base


class BareValue(Record):
    """An address kind with no fields of its own: virtio-mmio, unassigned."""

    __slots__ = ("type",)

    def __init__(self, type: str) -> None:
        self.type = type


AddressValue: TypeAlias = (PciValue | DriveValue | VirtioSerialValue | CcidValue | UsbValue
                           | CcwValue | SpaprVioValue | IsaValue | DimmValue | BareValue)

ADDRESS_TYPES = ("pci", "drive", "virtio-serial", "ccid", "usb", "spapr-vio", "virtio-s390",
                 "ccw", "virtio-mmio", "isa", "dimm", "unassigned")
"""libvirt's address types (virDomainDeviceAddressType), in its order."""

PCI_BUS_MAX, PCI_SLOT_MAX, PCI_FUNCTION_MAX = 0xFF, 0x1F, 7
CCW_CSSID_MAX, CCW_SSID_MAX, CCW_DEVNO_MAX = 0xFE, 3, 0xFFFF  # virccw.h


def _range(message: str, el: Element) -> InvalidValue:
    return InvalidValue(message, line=el.sourceline, code="address-out-of-range")


def _pci(el: Element) -> PciValue:
    domain, bus, slot, function = (strict(el, k, "uip", 0) or 0
                                   for k in ("domain", "bus", "slot", "function"))
    value = PciValue(domain, bus, slot, function)
    if not value.empty:  # virPCIDeviceAddressIsValid, then virDomainPCIAddressValidate
        if bus > PCI_BUS_MAX:
            raise _range(f"Invalid PCI address bus='{bus:#x}', must be <= 0xFF", el)
        if slot > PCI_SLOT_MAX:
            raise _range(f"Invalid PCI address slot='{slot:#x}', must be <= 0x1F", el)
        if function > PCI_FUNCTION_MAX:
            raise _range(f"Invalid PCI address function={function:#x}, must be <= 7", el)
        if domain != 0:
            raise _range(f"Invalid PCI address {domain:04x}:{bus:02x}:{slot:02x}.{function:x}. "
                         "Only PCI domain 0 is available", el)
    zpci = first_child(el, "zpci")
    if zpci is None:
        return value
    return PciValue(domain, bus, slot, function, strict(zpci, "uid", "uip", 0),
                    strict(zpci, "fid", "uip", 0))


def _usb_port(text: str) -> tuple[int, ...] | None:
    """A USB port path as virDomainDeviceUSBAddressParsePort reads it, or None when libvirt
    cannot: up to four numbers, each read by virStrToLong_uip in base 10 from where the last
    stopped (after a dot, if one follows it), the last one reaching the end."""
    parts: list[int] = []
    at = 0
    for _ in range(4):
        got = scan(text, 10, at)
        if got is None or got[1] or got[0] > UINT_MAX:  # no digit, a '-', or too large
            return None
        parts.append(got[0])
        at = got[2]
        if at == len(text):
            return tuple(parts)
        if text[at] == ".":
            at += 1
    return None


def _usb(el: Element) -> UsbValue:
    text = el.get("port")
    port: tuple[int, ...] = ()
    if text is not None:
        parsed = _usb_port(text)
        if parsed is None:
            raise InvalidValue("Cannot parse <address> 'port' attribute", line=el.sourceline,
                               hint="a USB port is up to four numbers joined by dots: 1, 2.4")
        port = parsed if parsed[0] != 0 else ()  # port 0: none (virDomainUSBAddressPortIsValid)
    return UsbValue(strict(el, "bus") or 0, port)


def _ccw(el: Element) -> CcwValue:
    cssid, ssid, devno = (strict(el, k, "uip", 0) for k in ("cssid", "ssid", "devno"))
    if (cssid or 0) > CCW_CSSID_MAX or (ssid or 0) > CCW_SSID_MAX or (
            (devno or 0) > CCW_DEVNO_MAX):
        raise _range(f"Invalid specification for virtio ccw address: cssid='{cssid or 0:#x}' "
                     f"ssid='{ssid or 0:#x}' devno='0x{devno or 0:04x}'", el)
    given = [v is not None for v in (cssid, ssid, devno)]
    if any(given) and not all(given):
        raise _range("Invalid partial specification for virtio ccw address", el)
    return CcwValue(cssid, ssid, devno)


def read_address(el: Element) -> AddressValue:
    """An ``<address>`` element's value, as libvirt reads it. Raises
    :class:`~augmenter.model.numbers.InvalidValue` (libvirt's words) when libvirt refuses it."""
    kind = el.get("type")
    if kind is None:
        raise InvalidValue("No type specified for device address", line=el.sourceline)
    if kind not in ADDRESS_TYPES:
        raise InvalidValue(f"unknown address type '{kind}'", line=el.sourceline)
    if kind == "pci":
        return _pci(el)
    if kind == "drive":
        return DriveValue(*(strict(el, k) or 0 for k in ("controller", "bus", "target", "unit")))
    if kind == "virtio-serial":
        return VirtioSerialValue(*(strict(el, k) or 0 for k in ("controller", "bus", "port")))
    if kind == "ccid":
        return CcidValue(strict(el, "controller") or 0, strict(el, "slot") or 0)
    if kind == "usb":
        return _usb(el)
    if kind == "spapr-vio":
        return SpaprVioValue(strict(el, "reg", "ullp", 16))
    if kind == "ccw":
        return _ccw(el)
    if kind == "isa":
        return IsaValue(strict(el, "iobase", "uip", 16) or 0, strict(el, "irq", "uip", 16) or 0)
    if kind == "dimm":
        slot = strict(el, "slot", required=True)
        assert slot is not None  # required: read raises without it
        return DimmValue(slot, strict(el, "base", "ullp", 16))
    if kind == "virtio-s390":
        raise InvalidValue("virtio-s390 bus doesn't have an address", line=el.sourceline)
    return BareValue(kind)
