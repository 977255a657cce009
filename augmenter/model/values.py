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

Each field's syntax (its reader, base and whether it is required) is stated once, in
:data:`ADDRESS_FIELDS`: this reader reads by it, and the table of parse-time rules
(``policy/parse_rules.py``) expands it into a rule for every place libvirt reads an address,
which reports a field libvirt cannot read before anything else runs. What libvirt checks
after reading the numbers (ranges, a USB port path, a CCW address's all-or-nothing fields) is
this module's alone.
"""

from __future__ import annotations

from typing import TypeAlias

from ..xml.document import Element, first_child
from .numbers import READERS, InvalidValue, read, scan, strict
from .record import Record

UINT_MAX = READERS["uip"].high


class Field(Record):
    """One number attribute as libvirt's parser reads it: ``virXMLPropInt`` (reader ``i``),
    ``virXMLPropUInt`` (``uip``) or ``virXMLPropULongLong`` (``ullp``) in ``base`` (0:
    decimal, 0x-hex or 0-octal), ``required`` with ``VIR_XML_PROP_REQUIRED``, ``nonnegative``
    with ``VIR_XML_PROP_NONNEGATIVE``, ``nonzero`` with ``VIR_XML_PROP_NONZERO``; ``source``:
    the function and line that reads it. A function that reads the string itself and calls
    ``virStrToLong_<reader>`` has its own ``message`` for a value it cannot read, and reads
    ``''`` as absent when it takes the string through XPath (``empty_is_absent``)."""

    __slots__ = ("base", "empty_is_absent", "message", "name", "nonnegative", "nonzero",
                 "reader", "required", "source")

    def __init__(self, name: str, reader: str, base: int, source: str,
                 required: bool = False, nonnegative: bool = False,
                 nonzero: bool = False, message: str | None = None,
                 empty_is_absent: bool = False) -> None:
        self.name, self.reader, self.base, self.source = name, reader, base, source
        self.required, self.nonnegative, self.nonzero = required, nonnegative, nonzero
        self.message, self.empty_is_absent = message, empty_is_absent


def _fields(function: str, reader: str, base: int, *named: tuple[str, int],
            required: tuple[str, ...] = ()) -> tuple[Field, ...]:
    """The fields one libvirt function (``name (file)``) reads, in its order: (field, the
    line of the file that reads it)."""
    return tuple(Field(name, reader, base, f"{function[:-1]}:{line})", name in required)
                 for name, line in named)


ADDRESS_FIELDS: dict[str, tuple[Field, ...]] = {
    "pci": _fields("virPCIDeviceAddressParseXML (device_conf.c)", "uip", 0,
                   ("domain", 207), ("bus", 211), ("slot", 215), ("function", 219)),
    "drive": _fields("virDomainDeviceDriveAddressParseXML (device_conf.c)", "uip", 10,
                     ("controller", 305), ("bus", 309), ("target", 312), ("unit", 316)),
    "virtio-serial": _fields("virDomainDeviceVirtioSerialAddressParseXML (device_conf.c)",
                             "uip", 10, ("controller", 328), ("bus", 332), ("port", 335)),
    "ccid": _fields("virDomainDeviceCcidAddressParseXML (device_conf.c)", "uip", 10,
                    ("controller", 347), ("slot", 351)),
    "usb": _fields("virDomainDeviceUSBAddressParseXML (device_conf.c)", "uip", 10, ("bus", 391)),
    "spapr-vio": _fields("virDomainDeviceSpaprVioAddressParseXML (device_conf.c)", "ullp", 16,
                         ("reg", 405)),
    "ccw": _fields("virCCWDeviceAddressParseXML (device_conf.c)", "uip", 0,
                   ("cssid", 269), ("ssid", 273), ("devno", 277)),
    "isa": _fields("virDomainDeviceISAAddressParseXML (domain_conf.c)", "uip", 16,
                   ("iobase", 5393), ("irq", 5397)),
    "dimm": (*_fields("virDomainDeviceDimmAddressParseXML (domain_conf.c)", "uip", 10,
                      ("slot", 5408), required=("slot",)),
             *_fields("virDomainDeviceDimmAddressParseXML (domain_conf.c)", "ullp", 16,
                      ("base", 5412))),
}
"""The number fields of each address kind, as libvirt 9.0's per-kind parser reads them
(``src/conf/device_conf.c``, ``domain_conf.c``), in the order it reads them: the one
statement of their syntax (virtio-mmio and unassigned have none; a USB port path is read
by :func:`_usb_port`)."""

CONTROLLER_INDEX = Field("index", "i", 10, "virDomainControllerDefParseXML (domain_conf.c:8265)",
                         nonnegative=True)
"""A controller's ``index``: read by :func:`~augmenter.model.domain.index_value`, and a rule of
the table of parse-time rules (its ``field`` entry)."""

PCI_TARGET_FIELDS: dict[str, Field] = {
    name: Field(name, "i", 0, f"virDomainControllerDefParseXML (domain_conf.c:{line})",
                nonnegative=True)
    for name, line in (("chassisNr", 8319), ("chassis", 8324), ("port", 8329), ("busNr", 8334),
                       ("index", 8344))}
"""A PCI controller's ``<target>`` options: read by :func:`target_option` wherever placement
or a check needs one, and rules of the table of parse-time rules (``field`` entries)."""


def target_option(target: Element | None, name: str) -> int | None:
    """A PCI controller's ``<target>`` option as libvirt reads it (:data:`PCI_TARGET_FIELDS`);
    None when absent or unreadable (the table of parse-time rules reports that)."""
    return field_value(target, PCI_TARGET_FIELDS[name])


def field_value(el: Element | None, f: Field) -> int | None:
    """Attribute ``f.name`` of ``el`` as libvirt reads it (``f``'s reader and base); None when
    absent or unreadable (the table of parse-time rules reports that)."""
    text = el.get(f.name) if el is not None else None
    return None if text is None else read(text, f.reader, f.base)


def text_value(el: Element | None, f: Field) -> int | None:
    """The text of ``el`` as libvirt reads it (``f``, named ``#text``); None when absent or
    unreadable (the table of parse-time rules reports that)."""
    text = el.text if el is not None else None
    return None if text is None else read(text, f.reader, f.base)


VCPU_COUNT = Field("#text", "ui", 10, "virDomainVcpuParse (domain_conf.c:16863)",
                   message="maximum vcpus count must be an integer")
"""``<vcpu>``'s text: the maximum vCPU count (virStrToLong_ui: a '-' wraps)."""

IOTHREADS_COUNT = Field("#text", "uip", 10, "virDomainDefParseIOThreads (domain_conf.c:15704)",
                        message="invalid iothreads count '{value}'", empty_is_absent=True)
"""``<iothreads>``'s text (virXPathUInt)."""

CONTROLLER_NODE = Field("#text", "i", 10, "virDomainControllerDefParseXML (domain_conf.c:8354)",
                        message="invalid NUMA node in target", empty_is_absent=True)
"""A PCI controller's ``<target><node>`` text (virXPathInt)."""

NUMA_CELL_ID = Field("id", "uip", 10, "virDomainNumaDefParseXML (numa_conf.c:922)")
"""``<cpu><numa><cell id>``."""

MEMNODE_CELLID = Field("cellid", "uip", 10, "virDomainNumatuneNodeParseXML (numa_conf.c:168)",
                       required=True)
"""``<numatune><memnode cellid>``."""

CONTROLLER_PORTS = Field("ports", "i", 10, "virDomainControllerDefParseXML (domain_conf.c:8369)",
                         nonnegative=True)
"""A controller's ``ports`` (virtio-serial ports, an xHCI's root hub ports)."""

CONTROLLER_QUEUES = Field("queues", "uip", 10,
                          "virDomainControllerDefParseXML (domain_conf.c:8270)")
"""A controller's ``<driver queues>``."""

BOOT_MENU_TIMEOUT = Field("timeout", "uip", 10, "virDomainDefParseBootXML (domain_conf.c:15544)")
"""``<os><bootmenu timeout>`` (read when ``enable='yes'``)."""

BIOS_REBOOT_TIMEOUT = Field("rebootTimeout", "i", 10,
                            "virDomainDefParseBootXML (domain_conf.c:15563)")
"""``<os><bios rebootTimeout>``."""

VCPU_CURRENT = Field("current", "uip", 10, "virDomainVcpuParse (domain_conf.c:16870)")
"""``<vcpu current>``."""

CPU_TOPOLOGY_FIELDS: dict[str, Field] = {
    name: Field(name, "uip", 10, f"virCPUDefParseXML (cpu_conf.c:{line})",
                required=name != "dies", nonzero=True)
    for name, line in (("sockets", 575), ("dies", 581), ("cores", 589), ("threads", 595))}
"""``<cpu><topology>``'s counts (``dies`` may be left out)."""

IOTHREAD_ID = Field("id", "uip", 10, "virDomainIOThreadIDDefParseXML (domain_conf.c:15642)",
                    required=True, nonzero=True)
"""``<iothreadids><iothread id>``."""

VCPUPIN_VCPU = Field("vcpu", "uip", 10, "virDomainVcpuPinDefParseXML (domain_conf.c:15755)",
                     required=True)
"""``<cputune><vcpupin vcpu>``."""

IOTHREADPIN_IOTHREAD = Field("iothread", "uip", 10,
                             "virDomainIOThreadPinDefParseXML (domain_conf.c:15801)",
                             required=True, nonzero=True)
"""``<cputune><iothreadpin iothread>``."""

DISK_IOTHREAD = Field("iothread", "uip", 10, "virDomainDiskDefDriverParseXML (domain_conf.c:7716)",
                      nonzero=True)
"""A disk's ``<driver iothread>``."""

CONTROLLER_IOTHREAD = Field("iothread", "uip", 10,
                            "virDomainControllerDefParseXML (domain_conf.c:8287)")
"""A controller's ``<driver iothread>``."""

VIDEO_MODEL_FIELDS: dict[str, Field] = {
    name: Field(name, "uip", 10, f"virDomainVideoDefParseXML (domain_conf.c:{line})",
                message=f"cannot parse video {name} '{{value}}'", empty_is_absent=True)
    for name, line in (("ram", 12842), ("vram64", 12858), ("vgamem", 12866), ("heads", 12874))}
"""A video's ``<model>`` sizes and heads that the checks read."""

NET_DRIVER_FIELDS: dict[str, Field] = {
    name: Field(name, "uip", 10, f"virDomainNetDefParseXMLDriver (domain_conf.c:{line})")
    for name, line in (("rx_queue_size", 8951), ("tx_queue_size", 8956))}
"""An interface's ``<driver>`` queue sizes."""

VSOCK_CID = Field("address", "uip", 10, "virDomainVsockDefParseXML (domain_conf.c:13592)",
                  nonzero=True)
"""A vsock's ``<cid address>``."""

RECONNECT_TIMEOUT = Field("timeout", "uip", 10,
                          "virDomainChrSourceReconnectDefParseXML (domain_conf.c:1513)",
                          required=True)
"""A character device source's ``<reconnect timeout>`` (read when ``enabled='yes'``)."""

MAX_MEMORY_SLOTS = Field("slots", "uip", 10, "virDomainDefParseMemory (domain_conf.c:17734)",
                         message="Failed to parse memory slot count", empty_is_absent=True)
"""``<maxMemory slots>`` (virXPathUInt)."""

HOSTDEV_USB_FIELDS: dict[str, Field] = {
    name: Field(name, "uip", 0, f"virDomainHostdevSubsysUSBDefParseXML (domain_conf.c:{line})",
                required=True)
    for name, line in (("bus", 5650), ("device", 5654))}
"""A USB host device's ``<source><address>``."""

USB_VENDOR_ID = Field("id", "uip", 0, "virDomainHostdevSubsysUSBDefParseXML (domain_conf.c:5625)",
                      required=True, nonzero=True)
"""A USB host device's ``<source><vendor id>``."""

USB_PRODUCT_ID = Field("id", "uip", 0,
                       "virDomainHostdevSubsysUSBDefParseXML (domain_conf.c:5638)",
                       required=True)
"""A USB host device's ``<source><product id>``."""

HOSTDEV_SCSI_FIELDS: dict[str, Field] = {
    name: Field(name, "uip", 0,
                f"virDomainHostdevSubsysSCSIHostDefParseXML (domain_conf.c:{line})",
                required=True)
    for name, line in (("bus", 5854), ("target", 5858))}
"""A SCSI host device's ``<source><address>`` bus and target (its unit is 64 bits)."""

BOOT_ORDER = Field("order", "uip", 10, "virDomainDeviceBootParseXML (domain_conf.c:5362)",
                   required=True, nonzero=True)
"""A device's ``<boot order>``."""

AUDIO_ID = Field("id", "uip", 10, "virDomainAudioDefParseXML (domain_conf.c:11891)",
                 required=True, nonzero=True)
"""An ``<audio>`` device's ``id``."""

SOUND_AUDIO_ID = Field("id", "uip", 10, "virDomainSoundDefParseXML (domain_conf.c:11674)",
                       required=True, nonzero=True)
"""The ``<audio id>`` a sound card names."""

VNC_AUDIO_ID = Field("id", "uip", 10, "virDomainGraphicsDefParseXMLVNC (domain_conf.c:11194)",
                     required=True, nonzero=True)
"""The ``<audio id>`` a VNC display names."""

BALLOON_PERIOD = Field("period", "i", 0, "virDomainMemballoonDefParseXML (domain_conf.c:12204)")
"""A memory balloon's ``<stats period>``."""


ZPCI_FIELDS = _fields("virZPCIDeviceAddressParseXML (device_conf.c)", "uip", 0,
                      ("uid", 56), ("fid", 63))
"""A PCI address's ``<zpci>`` child (s390)."""


class Unreadable(InvalidValue):
    """An address libvirt refuses for its type or a field's syntax: a rule of the table of
    parse-time rules too (expanded from :data:`ADDRESS_FIELDS`), which reports it first."""


def _read(el: Element, fields: tuple[Field, ...]) -> list[int | None]:
    """The fields of ``el`` in libvirt's order; the first one it cannot read raises
    :class:`Unreadable` with its words."""
    try:
        return [strict(el, f.name, f.reader, f.base, required=f.required) for f in fields]
    except InvalidValue as err:
        raise Unreadable(err.message, err.line, err.hint, err.code) from None


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
NO_TYPE = "No type specified for device address"
UNKNOWN_TYPE = "unknown address type '{value}'"
TYPE_SOURCES = ("virDomainDeviceAddressParseXML (domain_conf.c:5428)",  # no type
                "virDomainDeviceAddressParseXML (domain_conf.c:5432)")  # an unknown one
"""How virDomainDeviceAddressParseXML refuses an address's type, with the lines that do: the
type's statement for the table of parse-time rules too."""

PCI_BUS_MAX, PCI_SLOT_MAX, PCI_FUNCTION_MAX = 0xFF, 0x1F, 7
CCW_CSSID_MAX, CCW_SSID_MAX, CCW_DEVNO_MAX = 0xFE, 3, 0xFFFF  # virccw.h


def _range(message: str, el: Element) -> InvalidValue:
    return InvalidValue(message, line=el.sourceline, code="address-out-of-range")


def _pci(el: Element) -> PciValue:
    domain, bus, slot, function = (v or 0 for v in _read(el, ADDRESS_FIELDS["pci"]))
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
    uid, fid = _read(zpci, ZPCI_FIELDS)
    return PciValue(domain, bus, slot, function, uid, fid)


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
    bus, = _read(el, ADDRESS_FIELDS["usb"])
    return UsbValue(bus or 0, port)


def _ccw(el: Element) -> CcwValue:
    cssid, ssid, devno = _read(el, ADDRESS_FIELDS["ccw"])
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
    :class:`~augmenter.model.numbers.InvalidValue` (libvirt's words) when libvirt refuses it:
    :class:`Unreadable` for its type or a field's syntax."""
    kind = el.get("type")
    if kind is None:
        raise Unreadable(NO_TYPE, line=el.sourceline)
    if kind not in ADDRESS_TYPES:
        raise Unreadable(UNKNOWN_TYPE.format(value=kind), line=el.sourceline)
    if kind == "pci":
        return _pci(el)
    if kind == "drive":
        return DriveValue(*(v or 0 for v in _read(el, ADDRESS_FIELDS["drive"])))
    if kind == "virtio-serial":
        return VirtioSerialValue(*(v or 0 for v in _read(el, ADDRESS_FIELDS["virtio-serial"])))
    if kind == "ccid":
        return CcidValue(*(v or 0 for v in _read(el, ADDRESS_FIELDS["ccid"])))
    if kind == "usb":
        return _usb(el)
    if kind == "spapr-vio":
        return SpaprVioValue(*_read(el, ADDRESS_FIELDS["spapr-vio"]))
    if kind == "ccw":
        return _ccw(el)
    if kind == "isa":
        return IsaValue(*(v or 0 for v in _read(el, ADDRESS_FIELDS["isa"])))
    if kind == "dimm":
        slot, base = _read(el, ADDRESS_FIELDS["dimm"])
        assert slot is not None  # required: read raises without it
        return DimmValue(slot, base)
    if kind == "virtio-s390":
        raise InvalidValue("virtio-s390 bus doesn't have an address", line=el.sourceline)
    return BareValue(kind)
