"""Numbers in attributes are read as libvirt 9.0 reads them, and a bad one is refused with its
words (issue 15, Build 1; issue 18, items 1 and 7).

``augmenter.model.numbers`` mirrors ``virStrToLong_*`` (C's strtol/strtoul) and
``virXMLPropUInt``/``virXMLPropInt``/``virXMLPropULongLong``; ``augmenter.model.values`` reads
every address kind as ``src/conf/device_conf.c`` does. Each case below is one bad value in one
place: ``augment --check`` must report exactly one error, on the marked line, in libvirt's
words; and where libvirtd answers, ``virsh define`` of the same guest must be refused with the
same words. The values libvirt accepts (a leading space or ``+``, octal ``010``, ``0X3``) are
accepted too, by both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from test_checks import MARK, check, domain, libvirt_accepts, unmark

from augmenter.model.domain import index_value
from augmenter.model.numbers import read, strtol_whole

UINT0, UINT10, UINT16, ULL16, TARGET = ("uip", 0), ("uip", 10), ("uip", 16), ("ullp", 16), (
    "i", 0)
INDEX = ("index", 10)  # a controller's index: index_value

# ---- the reader, against C's strtoul and libvirt's wrappers -----------------------------------

READS = [
    # (text, rule, value or None): what libvirtd answered for each (tests/test_numbers.py cases
    # below define the same spellings)
    ("3", UINT0, 3), (" 3", UINT0, 3), ("\t3", UINT0, 3), ("+3", UINT0, 3), ("0X3", UINT0, 3),
    ("0x1f", UINT0, 31), ("010", UINT0, 8), ("0", UINT0, 0), ("4294967295", UINT0, 2**32 - 1),
    ("3 ", UINT0, None), ("0x0_5", UINT0, None), ("\u0665", UINT0, None), ("", UINT0, None),
    ("abc", UINT0, None), ("08", UINT0, None), ("-0", UINT0, None), ("-0x0", UINT0, None),
    ("0x", UINT0, None), ("+-3", UINT0, None), ("4294967296", UINT0, None), ("-1", UINT0, None),
    ("010", UINT10, 10), ("0x1", UINT10, None), ("+1", UINT10, 1), (" 1", UINT10, 1),
    ("65536", UINT10, 65536), ("1000", UINT16, 0x1000), ("0x1000", UINT16, 0x1000),
    ("ffffffffffffffff", ULL16, 2**64 - 1), ("10000000000000000", ULL16, None),
    ("-0", INDEX, 0), ("-1", INDEX, None), ("2147483647", INDEX, 2**31 - 1),
    ("2147483648", INDEX, None), ("0x1", INDEX, None), ("0x10", TARGET, 16),
]


@pytest.mark.parametrize(("text", "rule", "want"), READS)
def test_a_number_reads_as_libvirt_reads_it(text: str, rule: tuple[str, int],
                                            want: int | None) -> None:
    reader, base = rule
    if reader == "index":
        assert index_value(text) == (-1 if want is None else want)
    else:
        assert read(text, reader, base) == want


def test_strtoul_reads_the_sign_and_only_ascii_digits() -> None:
    assert strtol_whole("-5", 10) == (-5, True)
    assert strtol_whole("\u0665", 10) is None
    assert strtol_whole("1 ", 10) is None


# ---- one bad value per place, and libvirt's words ----------------------------------------------

NIC = "<interface type='user'><model type='e1000'/>{}</interface>"
SATA = ("<disk type='file' device='disk'><source file='/x.img'/><target dev='sda' bus='sata'/>"
        "{}</disk>")
CHANNEL = "<channel type='pty'><target type='virtio' name='org.example.0'/>{}</channel>"
CARD = "<smartcard mode='passthrough' type='pty'>{}</smartcard>"
TABLET = "<input type='tablet' bus='usb'>{}</input>"
SERIAL = "<serial type='pty'><target type='isa-serial' port='0'/>{}</serial>"
CELLS = "<cpu><numa><cell id='0' cpus='0' memory='256' unit='MiB'/></numa></cpu>"
NUMA = "<maxMemory slots='4' unit='GiB'>4</maxMemory>" + CELLS
DIMM = ("<memory model='dimm'><target><size unit='MiB'>128</size><node>0</node></target>{}"
        "</memory>")


@dataclass(frozen=True)
class Bad:
    id: str
    machine: str
    devices: str  # one device; '<<<' after the element with the bad value
    says: str  # libvirt 9.0's words (as virsh define prints them)
    code: str = "invalid-value"
    before: str = ""  # elements of <domain> before <os> (maxMemory, cpu)

    def xml(self) -> tuple[str, int | None]:
        text = domain(self.machine, "    " + self.devices.replace("<<<", MARK + "\n") + "\n")
        if self.before:
            before = self.before.replace("<<<", MARK + "\n  ")
            text = text.replace("  <os>", f"  {before}\n  <os>", 1)
        return unmark(text)


def _mark(template: str, inner: str) -> str:
    """``inner`` in ``template``, marked: the line break after it puts it on a line of its
    own, which the finding must name."""
    return template.format("\n      " + inner + "<<<")


BAD = [
    # pci (virPCIDeviceAddressParseXML: virXMLPropUInt base 0, then virPCIDeviceAddressIsValid)
    Bad("pci-function-negative", "pc",
        _mark(NIC, "<address type='pci' domain='0' bus='0' slot='3' function='-1'/>"),
        "Invalid value for attribute 'function' in element 'address': '-1'. Expected "
        "non-negative integer value"),
    Bad("pci-bus-negative", "q35",
        _mark(NIC, "<address type='pci' domain='0' bus='-8' slot='3' function='0'/>"),
        "Invalid value for attribute 'bus' in element 'address': '-8'. Expected non-negative "
        "integer value"),
    Bad("pci-slot-trailing-space", "pc",
        _mark(NIC, "<address type='pci' domain='0' bus='0' slot='3 ' function='0'/>"),
        "Invalid value for attribute 'slot' in element 'address': '3 '. Expected non-negative "
        "integer value"),
    Bad("pci-slot-underscore", "pc",
        _mark(NIC, "<address type='pci' domain='0' bus='0' slot='0x0_5' function='0'/>"),
        "Invalid value for attribute 'slot' in element 'address': '0x0_5'. Expected "
        "non-negative integer value"),
    Bad("pci-slot-arabic-digit", "pc",
        _mark(NIC, "<address type='pci' domain='0' bus='0' slot='\u0665' function='0'/>"),
        "Invalid value for attribute 'slot' in element 'address': '\u0665'. Expected "
        "non-negative integer value"),
    Bad("pci-slot-not-octal", "pc",
        _mark(NIC, "<address type='pci' domain='0' bus='0' slot='08' function='0'/>"),
        "Invalid value for attribute 'slot' in element 'address': '08'. Expected non-negative "
        "integer value"),
    Bad("pci-bus-past-uint", "pc",
        _mark(NIC, "<address type='pci' domain='0' bus='4294967296' slot='3' function='0'/>"),
        "Invalid value for attribute 'bus' in element 'address': '4294967296'. Expected "
        "non-negative integer value"),
    Bad("pci-bus-max-uint", "pc",
        _mark(NIC, "<address type='pci' domain='0' bus='4294967295' slot='3' function='0'/>"),
        "Invalid PCI address bus='0xffffffff', must be <= 0xFF", "address-out-of-range"),
    Bad("pci-function-8", "pc",
        _mark(NIC, "<address type='pci' domain='0' bus='0' slot='3' function='8'/>"),
        "Invalid PCI address function=0x8, must be <= 7", "address-out-of-range"),
    Bad("zpci-uid-word", "s390",
        _mark(NIC.replace("e1000", "virtio"),
              "<address type='pci' domain='0' bus='0' slot='3'><zpci uid='abc'/></address>"),
        "Invalid value for attribute 'uid' in element 'zpci': 'abc'. Expected non-negative "
        "integer value"),
    # drive (virDomainDeviceDriveAddressParseXML: base 10)
    Bad("drive-controller-hex", "q35", _mark(SATA, "<address type='drive' controller='0x1'/>"),
        "Invalid value for attribute 'controller' in element 'address': '0x1'. Expected "
        "non-negative integer value"),
    Bad("drive-unit-word", "q35", _mark(SATA, "<address type='drive' unit='abc'/>"),
        "Invalid value for attribute 'unit' in element 'address': 'abc'. Expected non-negative "
        "integer value"),
    Bad("drive-target-past-uint", "q35", _mark(SATA, "<address type='drive' target='4294967296'/>"),
        "Invalid value for attribute 'target' in element 'address': '4294967296'. Expected "
        "non-negative integer value"),
    # virtio-serial, ccid, usb
    Bad("vserial-port-negative", "q35",
        _mark(CHANNEL, "<address type='virtio-serial' port='-1'/>"),
        "Invalid value for attribute 'port' in element 'address': '-1'. Expected non-negative "
        "integer value"),
    Bad("ccid-slot-hex", "q35", _mark(CARD, "<address type='ccid' slot='0x1'/>"),
        "Invalid value for attribute 'slot' in element 'address': '0x1'. Expected non-negative "
        "integer value"),
    Bad("usb-port-letter", "q35", _mark(TABLET, "<address type='usb' bus='0' port='1.a'/>"),
        "Cannot parse <address> 'port' attribute"),
    Bad("usb-port-five-deep", "q35",
        _mark(TABLET, "<address type='usb' bus='0' port='1.2.3.4.5'/>"),
        "Cannot parse <address> 'port' attribute"),
    Bad("usb-bus-negative", "q35", _mark(TABLET, "<address type='usb' bus='-1' port='1'/>"),
        "Invalid value for attribute 'bus' in element 'address': '-1'. Expected non-negative "
        "integer value"),
    # ccw (virCCWDeviceAddressParseXML), spapr-vio (base 16), isa (base 16), dimm
    Bad("ccw-devno-too-big", "s390",
        _mark("<rng model='virtio'><backend model='random'>/dev/urandom</backend>{}</rng>",
              "<address type='ccw' cssid='0xfe' ssid='0x0' devno='0x10000'/>"),
        "Invalid specification for virtio ccw address: cssid='0xfe' ssid='0x0' "
        "devno='0x10000'", "address-out-of-range"),
    Bad("ccw-partial", "s390",
        _mark("<rng model='virtio'><backend model='random'>/dev/urandom</backend>{}</rng>",
              "<address type='ccw' cssid='0xfe' devno='0x0001'/>"),
        "Invalid partial specification for virtio ccw address", "address-out-of-range"),
    Bad("spapr-vio-reg-word", "pseries",
        _mark("<serial type='pty'><target port='0'/>{}</serial>",
              "<address type='spapr-vio' reg='zz'/>"),
        "Invalid value for attribute 'reg' in element 'address': 'zz'. Expected non-negative "
        "integer value"),
    Bad("isa-iobase-word", "q35", _mark(SERIAL, "<address type='isa' iobase='zz'/>"),
        "Invalid value for attribute 'iobase' in element 'address': 'zz'. Expected "
        "non-negative integer value"),
    Bad("dimm-slot-word", "q35", _mark(DIMM, "<address type='dimm' slot='abc'/>"),
        "Invalid value for attribute 'slot' in element 'address': 'abc'. Expected non-negative "
        "integer value", before=NUMA),
    Bad("dimm-slot-missing", "q35", _mark(DIMM, "<address type='dimm'/>"),
        "Missing required attribute 'slot' in element 'address'", before=NUMA),
    Bad("address-type-unknown", "q35", _mark(NIC, "<address type='pcie'/>"),
        "unknown address type 'pcie'"),
    Bad("address-type-missing", "q35", _mark(NIC, "<address bus='0'/>"),
        "No type specified for device address"),
    # controllers (virDomainControllerDefParseXML: virXMLPropInt base 10, non-negative;
    # target options base 0; then virDomainControllerDefValidate's ranges)
    Bad("controller-index-past-int", "q35",
        "<controller type='pci' index='4294967295' model='pcie-root-port'/><<<",
        "Invalid value for attribute 'index' in element 'controller': '4294967295'. Expected "
        "integer value"),
    Bad("controller-index-negative", "q35", "<controller type='sata' index='-1'/><<<",
        "Invalid value for attribute 'index' in element 'controller': '-1'. Expected "
        "non-negative value"),
    Bad("controller-ports-hex", "q35", "<controller type='usb' model='qemu-xhci' ports='0x4'/><<<",
        "Invalid value for attribute 'ports' in element 'controller': '0x4'. Expected integer "
        "value"),
    Bad("controller-vectors-word", "q35", "<controller type='virtio-serial' vectors='abc'/><<<",
        "Invalid value for attribute 'vectors' in element 'controller': 'abc'. Expected "
        "integer value"),
    Bad("controller-target-port-negative", "q35",
        _mark("<controller type='pci' index='1' model='pcie-root-port'>{}</controller>",
              "<target port='-1'/>"),
        "Invalid value for attribute 'port' in element 'target': '-1'. Expected non-negative "
        "value"),
    Bad("controller-target-port-256", "q35",
        _mark("<controller type='pci' index='1' model='pcie-root-port'>{}</controller>",
              "<target port='0x100'/>"),
        "PCI controller port '256' out of range - must be 0-255", "pci-controller"),
    Bad("controller-master-negative", "q35",
        _mark("<controller type='usb' index='0' model='ich9-uhci1'>{}</controller>",
              "<master startport='-1'/>")
        + "<controller type='usb' index='0' model='ich9-ehci1'/>",
        "Invalid value for attribute 'startport' in element 'master': '-1'. Expected "
        "non-negative integer value"),
    Bad("memory-slots-word", "q35", DIMM.format(""),
        "Failed to parse memory slot count",
        before="<maxMemory slots='abc' unit='GiB'>4</maxMemory><<<" + CELLS),
]


@pytest.mark.parametrize("case", BAD, ids=[c.id for c in BAD])
def test_a_bad_number_is_one_error_in_libvirts_words(case: Bad) -> None:
    xml, line = case.xml()
    errors = [f for f in check(case.machine, xml) if f.severity == "error"]
    assert [(f.code, f.line) for f in errors] == [(case.code, line)], errors
    assert case.says in errors[0].message


@pytest.mark.slow
@pytest.mark.parametrize("case", BAD, ids=[c.id for c in BAD])
def test_libvirtd_refuses_it_with_the_same_words(case: Bad, tmp_path: Path) -> None:
    xml, _ = case.xml()
    accepted, why = libvirt_accepts(case.machine, xml, f"num-{case.id}", tmp_path)
    assert not accepted and case.says in why, why


GOOD = [
    ("pci-slot-leading-space", "pc",
     NIC.format("<address type='pci' domain='0' bus='0' slot=' 3' function='0'/>")),
    ("pci-slot-plus", "pc", NIC.format("<address type='pci' domain='0' bus='0' slot='+3'/>")),
    ("pci-slot-octal", "pc", NIC.format("<address type='pci' domain='0' bus='0' slot='010'/>")),
    ("pci-slot-upper-x", "pc", NIC.format("<address type='pci' domain='0' bus='0' slot='0X3'/>")),
    ("drive-controller-plus", "q35", SATA.format("<address type='drive' controller='+0'/>")),
    ("usb-port-00", "q35", TABLET.format("<address type='usb' bus='0' port='00'/>")),
    ("usb-port-leading-space", "q35", TABLET.format("<address type='usb' bus='0' port=' 1'/>")),
    ("controller-index-plus", "q35", "<controller type='pci' model='pcie-root-port' index='+1'/>"),
    ("virtio-serial-ports-0", "q35", "<controller type='virtio-serial' ports='0'/>"),
]


@pytest.mark.parametrize(("name", "machine", "device"), GOOD, ids=[g[0] for g in GOOD])
def test_what_libvirt_reads_is_read(name: str, machine: str, device: str) -> None:
    xml, _ = unmark(domain(machine, f"    {device}\n"))
    assert [f for f in check(machine, xml) if f.severity == "error"] == []


@pytest.mark.slow
@pytest.mark.parametrize(("name", "machine", "device"), GOOD, ids=[g[0] for g in GOOD])
def test_libvirtd_reads_it_too(name: str, machine: str, device: str, tmp_path: Path) -> None:
    xml, _ = unmark(domain(machine, f"    {device}\n"))
    accepted, why = libvirt_accepts(machine, xml, f"num-{name}", tmp_path)
    assert accepted, why
