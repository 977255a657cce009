"""Random bad placements: each is reported by ``augment --check`` or accepted by libvirt.

A valid random pc / q35 guest (``guests.random_guest``) gets one injected fault: a duplicate PCI
address, a board's reserved slot, a slot, function or bus out of range, two disks on one drive
address, two channels on one virtio-serial port, a USB port path too deep, two controllers with
one index, and so on (:data:`FAULTS`). ``augment --check --format json`` runs on the result.

Where libvirtd answers (``libvirt_env``), the same document is defined with ``virsh define`` and
undefined again, and the two must agree both ways: libvirt refuses it exactly when ``--check``
reports an error. Under ``CI`` a missing libvirtd fails the test instead of leaving that half
out. Without libvirtd (outside CI), each fault's known verdict stands in for libvirt's: a fault
libvirt 9.0 refuses must be an error, one it accepts must not be.

An error must also point at the fault: its line is one of the injected elements (or their
addresses) or of the device the fault collides with.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from guests import random_guest
from hypothesis import HealthCheck, Phase, assume, event, given, note, settings
from hypothesis import strategies as st
from lxml import etree
from test_checks import define_verdict, require_libvirt
from typer.testing import CliRunner

from augmenter.cli.app import app

PROPERTY_SETTINGS = settings(
    max_examples=4,  # per fault: about 100 in all
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

Element = Any  # lxml's _Element
DrawFn = Callable[[st.SearchStrategy[Any]], Any]


# ---- libvirt, when there is one -------------------------------------------------------------


@pytest.fixture(scope="module")
def libvirt() -> bool:
    """Whether libvirtd answers; outside CI False when it cannot be had (under CI: fail)."""
    try:
        require_libvirt()
    except pytest.skip.Exception:
        return False
    return True


# ---- --check --------------------------------------------------------------------------------


def check_json(xml: str) -> tuple[int, list[dict[str, Any]]]:
    """``augment --check --format json`` on the document: exit status and findings."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "guest.xml"
        path.write_text(xml)
        done = CliRunner().invoke(app, ["--check", "--format", "json", "--boards", "embedded",
                                        str(path)])
    assert done.exception is None or isinstance(done.exception, SystemExit), done.output
    start = done.stdout.index("[")
    findings: list[dict[str, Any]] = json.loads(done.stdout[start:])
    return done.exit_code, findings


# ---- faults ---------------------------------------------------------------------------------


@dataclass
class Doc:
    """The guest being broken: its tree, and what the fault put in or points at."""

    root: Element
    machine: str
    added: list[Element] = field(default_factory=list)
    partners: list[Element] = field(default_factory=list)  # existing devices it collides with
    serial: int = 0

    @property
    def q35(self) -> bool:
        return self.machine == "q35"

    @property
    def devices(self) -> Element:
        return self.root.find("devices")

    def add(self, xml: str) -> Element:
        el = etree.fromstring(xml)
        self.devices.append(el)
        self.added.append(el)
        return el

    def mac(self) -> str:
        self.serial += 1
        return f"52:54:00:fa:{self.serial // 256:02x}:{self.serial % 256:02x}"

    def nic(self, model: str, address: str) -> Element:
        return self.add(f"<interface type='network'><mac address='{self.mac()}'/>"
                        f"<source network='default'/><model type='{model}'/>{address}"
                        "</interface>")

    def endpoint_model(self) -> str:
        return "e1000e" if self.q35 else "e1000"

    def pinned(self) -> list[tuple[Element, int, int, int]]:
        """Existing devices with a user-fixed PCI address: (element, bus, slot, function)."""
        out = []
        for el in self.devices:
            a = el.find("address")
            if isinstance(el.tag, str) and a is not None and a.get("type") == "pci":
                bus, slot, fn = (int(a.get(k, "0"), 0) for k in ("bus", "slot", "function"))
                if (bus, slot) != (0, 0):
                    out.append((el, bus, slot, fn))
        return out

    def free_root_slots(self) -> list[int]:
        used = {slot for _, bus, slot, _ in self.pinned() if bus == 0}
        usable = range(2, 0x1F) if self.q35 else range(3, 0x20)
        return [s for s in usable if s not in used]

    def next_pci_index(self) -> int:
        indexes = [int(c.get("index", "0"), 0) for c in self.devices.findall("controller")
                   if c.get("type") == "pci"]
        return max(indexes, default=0) + 1

    def usb_on(self) -> None:
        """USB faults need USB: a guest with ``model='none'`` gets a real controller instead."""
        for c in self.devices.findall("controller"):
            if c.get("type") == "usb" and c.get("model") == "none":
                c.set("model", "qemu-xhci" if self.q35 else "piix3-uhci")


def pci(bus: int, slot: int, function: int = 0, extra: str = "") -> str:
    return (f"<address type='pci' domain='0x0000' bus='{bus:#04x}' slot='{slot:#04x}' "
            f"function='{function:#x}'{extra}/>")


def _disk(name: str, bus: str, address: str = "") -> str:
    return (f"<disk type='file' device='disk'><source file='/var/lib/libvirt/images/{name}.img'/>"
            f"<target dev='{name}' bus='{bus}'/>{address}</disk>")


def _channel(name: str, address: str) -> str:
    return f"<channel type='pty'><target type='virtio' name='{name}'/>{address}</channel>"


def _tablet(address: str) -> str:
    return f"<input type='tablet' bus='usb'>{address}</input>"


# Each fault breaks the guest in one way and returns libvirt 9.0's known verdict: True refuses,
# False accepts, None depends on the rest of the guest (then only libvirt itself can say).
Fault = Callable[[DrawFn, Doc], bool | None]


def duplicate_pci(draw: DrawFn, doc: Doc) -> bool | None:
    pinned = [p for p in doc.pinned() if p[0].tag != "controller"]
    if pinned and draw(st.booleans()):
        el, bus, slot, fn = draw(st.sampled_from(pinned))
        doc.partners.append(el)
        doc.nic(doc.endpoint_model(), pci(bus, slot, fn))
    else:
        slot = draw(st.sampled_from(doc.free_root_slots()))
        doc.nic(doc.endpoint_model(), pci(0, slot))
        doc.nic("virtio", pci(0, slot))
    return True


def reserved_slot(draw: DrawFn, doc: Doc) -> bool | None:
    slot, fn = draw(st.sampled_from([(0x1F, 0), (0x1F, 3)] if doc.q35 else [(1, 0), (1, 3)]))
    doc.nic(doc.endpoint_model(), pci(0, slot, fn))
    return True


def builtin_controller_slot(draw: DrawFn, doc: Doc) -> bool | None:
    """q35 00:1f.2 (SATA), pc 00:01.1 (IDE) and 00:01.2 (PIIX3 USB): taken when libvirt puts
    its controller there, which depends on the guest."""
    slot, fn = draw(st.sampled_from([(0x1F, 2)] if doc.q35 else [(1, 1), (1, 2)]))
    doc.nic(doc.endpoint_model(), pci(0, slot, fn))
    return True if doc.q35 else None


def slot_out_of_range(draw: DrawFn, doc: Doc) -> bool | None:
    slot = draw(st.integers(0x20, 0xFF))
    doc.nic(doc.endpoint_model(), pci(0, slot))
    return True


def function_out_of_range(draw: DrawFn, doc: Doc) -> bool | None:
    slot = draw(st.sampled_from(doc.free_root_slots()))
    doc.nic(doc.endpoint_model(), pci(0, slot, draw(st.integers(8, 0xFF))))
    return True


def bus_out_of_range(draw: DrawFn, doc: Doc) -> bool | None:
    doc.nic(doc.endpoint_model(), pci(draw(st.integers(0x100, 0xFFFF)), 1))
    return True


def duplicate_drive(draw: DrawFn, doc: Doc) -> bool | None:
    bus, units = ("sata", 6) if doc.q35 and draw(st.booleans()) else ("scsi", 7)
    unit = draw(st.integers(0, units - 1))
    address = f"<address type='drive' controller='0' bus='0' target='0' unit='{unit}'/>"
    doc.add(_disk("sdba", bus, address))
    doc.add(_disk("sdbb", bus, address))
    return True


def duplicate_vserial_port(draw: DrawFn, doc: Doc) -> bool | None:
    port = draw(st.integers(1, 30))
    address = f"<address type='virtio-serial' controller='0' bus='0' port='{port}'/>"
    doc.add(_channel("org.fault.a", address))
    doc.add(_channel("org.fault.b", address))
    return True


def vserial_port_beyond(draw: DrawFn, doc: Doc) -> bool | None:
    ports = draw(st.integers(1, 8))
    doc.add(f"<controller type='virtio-serial' index='5' ports='{ports}'/>")
    port = draw(st.integers(ports, 31))
    doc.add(_channel("org.fault.a", f"<address type='virtio-serial' controller='5' bus='0' "
                                    f"port='{port}'/>"))
    return True


def usb_path_too_deep(draw: DrawFn, doc: Doc) -> bool | None:
    doc.usb_on()
    depth = draw(st.integers(5, 7))
    port = ".".join(str(draw(st.integers(1, 8))) for _ in range(depth))
    doc.add(_tablet(f"<address type='usb' bus='0' port='{port}'/>"))
    return True


def duplicate_usb_port(draw: DrawFn, doc: Doc) -> bool | None:
    doc.usb_on()
    port = draw(st.integers(1, 2))
    doc.add(_tablet(f"<address type='usb' bus='0' port='{port}'/>"))
    doc.add(_tablet(f"<address type='usb' bus='0' port='{port}'/>"))
    return True


def usb_bus_missing(draw: DrawFn, doc: Doc) -> bool | None:
    doc.usb_on()
    doc.add(_tablet(f"<address type='usb' bus='{draw(st.integers(3, 9))}' port='1'/>"))
    return True


def duplicate_controller_index(draw: DrawFn, doc: Doc) -> bool | None:
    existing = [c for c in doc.devices.findall("controller")
                if c.get("type") in ("usb", "scsi", "pci")]
    if existing and draw(st.booleans()):
        el = draw(st.sampled_from(existing))
        doc.partners.append(el)
        copy = etree.fromstring(etree.tostring(el))
        for a in copy.findall("address"):
            copy.remove(a)
        doc.devices.append(copy)
        doc.added.append(copy)
        return True
    ctype = draw(st.sampled_from(["scsi", "virtio-serial", "ccid"]
                                 + (["sata"] if doc.q35 else [])))
    index = draw(st.integers(1, 4))
    doc.add(f"<controller type='{ctype}' index='{index}'/>")
    doc.add(f"<controller type='{ctype}' index='{index}'/>")
    return True


def slot_beyond_bus(draw: DrawFn, doc: Doc) -> bool | None:
    """Slot 0 of a pci-bridge (pc), or a slot other than 0 under a root port (q35)."""
    index = doc.next_pci_index()
    if doc.q35:
        doc.add(f"<controller type='pci' index='{index}' model='pcie-root-port'/>")
        doc.nic("e1000e", pci(index, draw(st.integers(1, 0x1F))))
    else:
        doc.add(f"<controller type='pci' index='{index}' model='pci-bridge'/>")
        doc.nic("e1000", pci(index, 0))
    return True


def ide_not_here(draw: DrawFn, doc: Doc) -> bool | None:
    """IDE on q35 (a controller or a disk), a second IDE controller on pc."""
    if doc.q35:
        if draw(st.booleans()):
            doc.add("<controller type='ide' index='0'/>")
        else:
            doc.add(_disk("hdz", "ide"))
    else:
        doc.add("<controller type='ide' index='1'/>")
    return True


def builtin_controller_moved(draw: DrawFn, doc: Doc) -> bool | None:
    """pc's IDE controller or q35's SATA controller at another address."""
    slot = draw(st.sampled_from(doc.free_root_slots()))
    doc.add(f"<controller type='{'sata' if doc.q35 else 'ide'}' index='0'>{pci(0, slot)}"
            "</controller>")
    return True


def lsilogic_target(draw: DrawFn, doc: Doc) -> bool | None:
    doc.add("<controller type='scsi' index='3' model='lsilogic'/>")
    target = draw(st.integers(1, 6))
    doc.add(_disk("sdba", "scsi", f"<address type='drive' controller='3' bus='0' "
                                  f"target='{target}' unit='0'/>"))
    return True


def duplicate_target(draw: DrawFn, doc: Doc) -> bool | None:
    disks = doc.devices.findall("disk")
    if not disks:
        doc.add(_disk("vdzz", "virtio"))
        doc.add(_disk("vdzz", "virtio"))
        return True
    el = draw(st.sampled_from(disks))
    target = el.find("target")
    doc.partners.append(el)
    doc.add(_disk(target.get("dev"), target.get("bus")))
    return True


def usb_port_missing(draw: DrawFn, doc: Doc) -> bool | None:
    """A root port no USB controller has (they have 15 at most), or a port behind a hub that
    is not there."""
    doc.usb_on()
    if draw(st.booleans()):
        port = str(draw(st.integers(16, 30)))
    else:
        port = f"{draw(st.integers(1, 2))}.{draw(st.integers(1, 8))}"
    doc.add(_tablet(f"<address type='usb' bus='0' port='{port}'/>"))
    return True


def drive_bus_or_target(draw: DrawFn, doc: Doc) -> bool | None:
    """A drive address on a bus, target or controller the drive bus does not have: IDE
    controller or target other than 0, SATA/SCSI/FDC bus other than 0, SATA/FDC target other
    than 0."""
    choices = [("sata", "bus"), ("sata", "target"), ("scsi", "bus")] if doc.q35 else [
        ("ide", "controller"), ("ide", "target"), ("scsi", "bus"), ("fdc", "bus"),
        ("fdc", "target")]
    bus, field_ = draw(st.sampled_from(choices))
    values = {"controller": 0, "bus": 0, "target": 0, "unit": 0}
    values[field_] = draw(st.integers(1, 3))
    address = "<address type='drive' " + " ".join(f"{k}='{v}'" for k, v in values.items()) + "/>"
    name = {"ide": "hdd", "fdc": "fdb"}.get(bus, "sdba")
    device = "floppy" if bus == "fdc" else "disk"
    doc.add(_disk(name, bus, address).replace("device='disk'", f"device='{device}'"))
    return True


# Oddities libvirt accepts: at most a warning, never an error.


def function_without_function0(draw: DrawFn, doc: Doc) -> bool | None:
    slot = draw(st.sampled_from(doc.free_root_slots()))
    doc.nic(doc.endpoint_model(), pci(0, slot, draw(st.integers(1, 7))))
    return False


def multifunction_off(draw: DrawFn, doc: Doc) -> bool | None:
    slot = draw(st.sampled_from(doc.free_root_slots()))
    doc.nic(doc.endpoint_model(), pci(0, slot, 0, " multifunction='off'"))
    doc.nic(doc.endpoint_model(), pci(0, slot, draw(st.integers(1, 7))))
    return False


def legacy_pci_on_pcie(draw: DrawFn, doc: Doc) -> bool | None:
    """A conventional PCI NIC on q35's root bus or under a root port; a PCIe NIC on pc."""
    if doc.q35:
        if draw(st.booleans()):
            index = doc.next_pci_index()
            doc.add(f"<controller type='pci' index='{index}' model='pcie-root-port'/>")
            doc.nic("e1000", pci(index, 0))
        else:
            doc.nic("e1000", pci(0, draw(st.sampled_from(doc.free_root_slots()))))
    else:
        doc.nic("e1000e", pci(0, draw(st.sampled_from(doc.free_root_slots()))))
    return False


def usb_port_zero(draw: DrawFn, doc: Doc) -> bool | None:
    """``port='0'`` is no port at all for libvirt: it picks one."""
    doc.usb_on()
    doc.add(_tablet("<address type='usb' bus='0' port='0'/>"))
    return False


def pci_bus_implied(draw: DrawFn, doc: Doc) -> bool | None:
    """A conventional PCI NIC on a bus nobody wrote, slot 1 or more: libvirt adds the buses
    (on q35 a root port, a pcie-to-pci-bridge and pci-bridges)."""
    index = doc.next_pci_index() + draw(st.integers(0, 3))
    doc.nic("e1000", pci(index, draw(st.integers(1, 0x1F))))
    return False


def drive_unit_beyond(draw: DrawFn, doc: Doc) -> bool | None:
    """A unit QEMU has no room for: libvirt defines it (QEMU refuses to start: a warning)."""
    bus, first = ("sata", 6) if doc.q35 else ("scsi", 7)
    unit = draw(st.integers(first, first + 10))
    doc.add(_disk("sdba", bus, f"<address type='drive' controller='0' bus='0' target='0' "
                               f"unit='{unit}'/>"))
    return False if doc.q35 else None  # pc: the SCSI model decides (virtio-scsi has room)


FAULTS: dict[str, Fault] = {f.__name__.replace("_", "-"): f for f in (
    duplicate_pci, reserved_slot, builtin_controller_slot, slot_out_of_range,
    function_out_of_range, bus_out_of_range, duplicate_drive, duplicate_vserial_port,
    vserial_port_beyond, usb_path_too_deep, duplicate_usb_port, usb_bus_missing,
    duplicate_controller_index, slot_beyond_bus, ide_not_here, builtin_controller_moved,
    lsilogic_target, duplicate_target, function_without_function0, multifunction_off,
    legacy_pci_on_pcie, drive_unit_beyond, usb_port_missing, drive_bus_or_target, usb_port_zero,
    pci_bus_implied,
)}

# Faults the rules get wrong today, reported to the lead: their tests are strict xfails (a fix
# XPASSes, which fails, until the entry goes).
BOTH = ("pc", "q35")
KNOWN_BUGS: dict[str, tuple[tuple[str, ...], str]] = {  # fault: (machines, what goes wrong)
    "pci-bus-implied": (("q35",), "--check accepts it now, but placement adds the restricted "
                                  "root port + pcie-to-pci-bridge pair and does not move the "
                                  "device's bus by one as libvirt does: refused"),
}
# Fixed since reported, now guarded: drive bus/target refused by libvirt are errors; USB port 0
# means "no port".
# Faults whose error has no line (the pipeline blames libvirt's own implicit controller).
NO_LINE = {"builtin-controller-slot"}


def fault_lines(root: Element, indexes: list[int]) -> set[int]:
    """Lines of the devices at these positions of <devices>, and of their addresses."""
    devices = list(root.find("devices"))
    lines = set()
    for i in indexes:
        el = devices[i]
        lines.add(el.sourceline)
        lines |= {a.sourceline for a in el.iter("address")}
    return lines


def broken(xml: str, machine: str, name: str, draw: DrawFn) -> tuple[str, bool | None,
                                                                     set[int]]:
    """The guest with fault ``name``: the document, libvirt's known verdict, the fault's lines."""
    root = etree.fromstring(xml.encode())
    doc = Doc(root, machine)
    verdict = FAULTS[name](draw, doc)
    devices = list(doc.devices)
    positions = [devices.index(el) for el in doc.added + doc.partners]
    etree.indent(root, space="  ")
    text = etree.tostring(root, encoding="unicode") + "\n"
    return text, verdict, fault_lines(etree.fromstring(text.encode()), positions)


# ---- the property ---------------------------------------------------------------------------


def judge(text: str, verdict: bool | None, lines: set[int], fault: str, libvirt: bool) -> None:
    status, findings = check_json(text)
    errors = [f for f in findings if f["severity"] == "error"]
    note(f"--check exit {status}: {json.dumps(findings, indent=1)}")
    assert status == (1 if errors else 0)
    if errors:
        allowed = lines | ({None} if fault in NO_LINE else set())
        assert any(f["line"] in allowed for f in errors), (
            f"no error points at the fault (lines {sorted(lines)}): {errors}")
    if libvirt:
        with tempfile.TemporaryDirectory() as folder:
            accepted, why = define_verdict(text, fault, Path(folder))
        note(f"libvirt: {'accepts' if accepted else why}")
        if verdict is not None:
            assert accepted != verdict, f"libvirt's verdict is not the known one: {why}"
    else:
        if verdict is None:
            return
        accepted = not verdict
    if accepted:
        assert not errors, "libvirt accepts this guest, but --check reports errors"
    else:
        assert errors, "libvirt refuses this guest, but --check reports no error"


GOOD = sorted(f for f in FAULTS if KNOWN_BUGS.get(f, ((), ""))[0] != BOTH)


# Every fault gets its share of the ~100 examples: drawn from one strategy, a few would get none.
@pytest.mark.slow
@pytest.mark.parametrize("fault", GOOD)
@PROPERTY_SETTINGS
@given(guest=random_guest(), data=st.data())
def test_each_bad_placement_is_reported_or_accepted_by_libvirt(
        libvirt: bool, fault: str, guest: tuple[str, str], data: st.DataObject) -> None:
    xml, machine = guest
    assume(machine not in KNOWN_BUGS.get(fault, ((), ""))[0])
    event(f"{machine}, {xml.count('<target') + xml.count('<model')} devices-ish")
    text, verdict, lines = broken(xml, machine, fault, data.draw)
    note(text)
    judge(text, verdict, lines, fault, libvirt)


EMPTY = ("<domain type='kvm'><name>fault</name><memory unit='MiB'>256</memory><os>"
         "<type arch='x86_64' machine='{machine}'>hvm</type></os><devices>"
         "<emulator>/usr/bin/qemu-system-x86_64</emulator></devices></domain>")


def _empty_guest_params() -> list[object]:
    out: list[object] = []
    for fault in sorted(FAULTS):
        for machine in ("pc", "q35"):
            machines, why = KNOWN_BUGS.get(fault, ((), ""))
            marks = [pytest.mark.xfail(reason=why, strict=True)] if machine in machines else []
            out.append(pytest.param(fault, machine, id=f"{fault}-{machine}", marks=marks))
    return out


# Each fault, known bugs included, a few times on an empty guest of each machine (no shrinking:
# a known bug fails fast).
@pytest.mark.slow
@pytest.mark.parametrize(("fault", "machine"), _empty_guest_params())
def test_each_fault_on_an_empty_guest(libvirt: bool, fault: str, machine: str) -> None:
    xml = EMPTY.format(machine=machine)

    @settings(max_examples=3, deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate])
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        text, verdict, lines = broken(xml, machine, fault, data.draw)
        note(text)
        judge(text, verdict, lines, fault, libvirt)

    run()
