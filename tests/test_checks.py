"""Every validation rule, each on a small hand-written bad guest (issue 4).

Each :class:`Case` is one guest with one problem. Its device XML marks the line the finding must
point at with a trailing ``<<<`` (the offending element, or its ``<address>``); the marker is
cut before the guest is checked. A case names the rule ``code`` it exercises, the severity, the
device as a person names it (``disk vdb``, ``interface 52:54:00:..``) and a piece of the message.
Pipeline errors (no slot left, IDE on q35, ...) are findings with code ``placement``.

``test_every_rule_is_exercised`` reads ``augmenter/checks/rules.py`` and fails when a rule code
there has no case here: a new rule needs a new case.

Known defects are listed with reproducers (``KNOWN_BUGS`` for aspects of a case, ``MISSES`` for
faults the rules miss or misreport); their tests are strict xfails: a fix makes one XPASS, which
fails the suite until its entry moves out of the list (for ``MISSES``, into ``FIXED_MISSES``).

Where libvirtd answers on ``qemu:///system`` (``libvirt_env.libvirt_or_skip`` starts it; under
``CI`` its absence fails), every case and every reproducer is also defined there: an error case
must be refused by libvirt 9.0 and a warning case accepted, so that a rule rejecting a valid
guest, or a case that is not really bad, shows up.
"""

from __future__ import annotations

import ast
import functools
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pytest
from lxml import etree
from qemu_env import need_qemu

import augmenter
from augmenter.boards.lookup import binary_for
from augmenter.boards.records import embedded
from augmenter.checks.findings import Finding
from augmenter.pipeline import Options

CHECKS_PY = Path(augmenter.__file__).resolve().parent / "checks" / "rules.py"
EMBEDDED = Options(boards="embedded")  # the shipped board tables: the same on every machine
MARK = "  <<<"

MACHINES: dict[str, tuple[str, str]] = {
    # key: (arch, machine)
    "pc": ("x86_64", "pc"),
    "q35": ("x86_64", "q35"),
    "isapc": ("x86_64", "isapc"),
    "pseries": ("ppc64", "pseries"),
    "s390": ("s390x", "s390-ccw-virtio"),
    "virt": ("aarch64", "virt"),
}


def domain(machine: str, devices: str, name: str = "check") -> str:
    """A minimal guest of ``machine`` (a :data:`MACHINES` key) around ``devices``."""
    arch, machine_type = MACHINES[machine]
    return (
        "<domain type='qemu'>\n"
        f"  <name>{name}</name>\n"
        "  <memory unit='MiB'>256</memory>\n"
        "  <os>\n"
        f"    <type arch='{arch}' machine='{machine_type}'>hvm</type>\n"
        # x86 guests have ACPI, as virt-install writes them (a virtio IOMMU needs it); on the
        # line of </os>, so that the cases' line numbers stay what they were
        + ("  </os><features><acpi/></features>\n" if arch == "x86_64" else "  </os>\n") +
        "  <devices>\n"
        f"    <emulator>/usr/bin/qemu-system-{arch}</emulator>\n"
        f"{devices}"
        "  </devices>\n"
        "</domain>\n"
    )


@functools.cache
def options_for(machine: str) -> Options:
    """The shipped board table when it has the arch; else the installed QEMU (skipped without
    it, or failed under CI, where every QEMU must be installed)."""
    arch = MACHINES[machine][0]
    if arch in embedded():
        return EMBEDDED
    need_qemu(binary_for(arch))
    return Options(boards="qemu")


def check(machine: str, xml: str) -> list[Finding]:
    return augmenter.check(xml, options_for(machine))


def unmark(xml: str) -> tuple[str, int | None]:
    """The document without ``<<<`` markers, and the line of the (single) marker."""
    lines = xml.split("\n")
    marked = [n for n, text in enumerate(lines, 1) if text.endswith(MARK)]
    assert len(marked) <= 1, f"more than one marked line: {marked}"
    clean = "\n".join(t[: -len(MARK)] if t.endswith(MARK) else t for t in lines)
    return clean, (marked[0] if marked else None)


# ---- device snippets -------------------------------------------------------------------------


def pci(bus: int, slot: int, function: int = 0, multifunction: str | None = None,
        domain_: int = 0, mark: bool = True) -> str:
    mf = f" multifunction='{multifunction}'" if multifunction else ""
    return (f"<address type='pci' domain='{domain_:#06x}' bus='{bus:#04x}' slot='{slot:#04x}' "
            f"function='{function:#x}'{mf}/>" + (MARK if mark else ""))


def drive(controller: int = 0, bus: int = 0, target: int = 0, unit: int = 0,
          mark: bool = True) -> str:
    return (f"<address type='drive' controller='{controller}' bus='{bus}' target='{target}' "
            f"unit='{unit}'/>" + (MARK if mark else ""))


def element(head: str, tag: str, *body: str, mark: bool = False) -> str:
    """``<head>`` with ``body`` lines inside (or self-closing without), 4-space indented."""
    first = f"    <{head}" + ("/>" if not body else ">") + (MARK if mark else "")
    if not body:
        return first + "\n"
    inner = "".join(f"      {line}\n" for line in body)
    return f"{first}\n{inner}    </{tag}>\n"


def disk(name: str, bus: str, address: str = "", *, device: str = "disk",
         mark: bool = False) -> str:
    body = [f"<source file='/var/lib/libvirt/images/{name}.img'/>",
            f"<target dev='{name}' bus='{bus}'/>"]
    if address:
        body.append(address)
    return element(f"disk type='file' device='{device}'", "disk", *body, mark=mark)


def nic(mac: str, model: str = "virtio", address: str = "", mark: bool = False) -> str:
    body = [f"<mac address='{mac}'/>", "<source network='default'/>", f"<model type='{model}'/>"]
    if address:
        body.append(address)
    return element("interface type='network'", "interface", *body, mark=mark)


def controller(ctype: str, index: int, model: str | None = None, *body: str,
               extra: str = "", mark: bool = False) -> str:
    attrs = f"controller type='{ctype}' index='{index}'"
    if model:
        attrs += f" model='{model}'"
    return element(attrs + extra, "controller", *body, mark=mark)


def channel(n: int, address: str = "") -> str:
    body = [f"<target type='virtio' name='org.example.{n}'/>"]
    if address:
        body.append(address)
    return element("channel type='pty'", "channel", *body)


def tablet(address: str = "", mark: bool = False) -> str:
    return element("input type='tablet' bus='usb'", "input", *([address] if address else []),
                   mark=mark)


def vserial(port: int, controller_: int = 0) -> str:
    return (f"<address type='virtio-serial' controller='{controller_}' bus='0' "
            f"port='{port}'/>" + MARK)


def usb(port: str, bus: int = 0) -> str:
    return f"<address type='usb' bus='{bus}' port='{port}'/>" + MARK


MAC1, MAC2, MAC3 = "52:54:00:12:34:01", "52:54:00:12:34:02", "52:54:00:12:34:03"


# ---- the cases -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    machine: str  # a MACHINES key
    code: str
    severity: str  # "error" | "warning"
    device: str  # the device as a person names it (in the message; rules: Finding.device)
    devices: str  # the <devices> content; '<<<' marks the line the finding must report
    says: str  # a piece of the message, case-insensitive
    # libvirt 9.0's own verdict at define time (checked against libvirtd when it runs):
    # an error case is refused, a warning case accepted
    libvirt_refuses: bool | None = None  # None: same as severity == "error"

    @property
    def refused(self) -> bool:
        return self.severity == "error" if self.libvirt_refuses is None else self.libvirt_refuses

    def xml(self) -> tuple[str, int | None]:
        return unmark(domain(self.machine, self.devices, name=f"check-{self.id}"))


def _many_nics(count: int, first_slot: int) -> str:
    return "".join(
        nic(f"52:54:00:00:01:{n:02x}", "e1000", pci(0, first_slot + n, mark=False))
        for n in range(count))


CASES: list[Case] = [
    # -- controllers ---------------------------------------------------------------------------
    Case("duplicate-controller-index", "pc", "duplicate-controller-index", "error",
         "controller scsi 0",
         controller("scsi", 0, "virtio-scsi") + controller("scsi", 0, "lsilogic", mark=True),
         "defined twice"),
    Case("ide-controller-on-q35", "q35", "controller-not-on-machine", "error",
         "controller ide 0", controller("ide", 0, mark=True), "no IDE controller"),
    Case("second-ide-controller", "pc", "controller-not-on-machine", "error",
         "controller ide 1", controller("ide", 1, mark=True), "single IDE controller"),
    Case("ide-controller-on-virt", "virt", "controller-not-on-machine", "error",
         "controller ide 0", controller("ide", 0, mark=True), "no IDE controller"),
    Case("xhci-too-many-ports", "q35", "usb-ports", "error", "controller usb 0",
         controller("usb", 0, "qemu-xhci", extra=" ports='16'", mark=True), "15"),
    Case("pci-index-too-high", "q35", "pci-index", "error", "controller pci 256",
         controller("pci", 256, "pcie-root-port", mark=True), "index 256 too high"),
    Case("pci-root-index-1", "pc", "root-index", "error", "controller pci 1",
         controller("pci", 0, "pci-root") + controller("pci", 1, "pci-root", mark=True),
         "index 0"),
    Case("pci-bridge-index-0", "pc", "root-model", "error", "controller pci 0",
         controller("pci", 0, "pci-bridge", mark=True), "must be model='pci-root'"),
    Case("root-with-address", "pc", "root-address", "error", "controller pci 0",
         controller("pci", 0, "pci-root", pci(0, 3)), "should not have an address"),
    Case("pcie-root-on-pc", "pc", "root-model", "error", "controller pci 0",
         controller("pci", 0, "pcie-root", mark=True), "must be model='pci-root'"),
    Case("pci-root-on-q35", "q35", "root-model", "error", "controller pci 0",
         controller("pci", 0, "pci-root", mark=True), "must be model='pcie-root'"),
    Case("unknown-pci-model", "pc", "invalid-value", "error", "controller pci 1",
         controller("pci", 1, "pci-frobnicator", mark=True),
         "Unknown model type 'pci-frobnicator'"),
    Case("second-usb-with-usb-none", "pc", "usb-disabled", "error", "controller usb 1",
         controller("usb", 0, "none") + controller("usb", 1, "piix3-uhci", mark=True),
         "USB is disabled"),
    Case("second-usb-none", "pc", "usb-disabled", "error", "controller usb 1",
         controller("usb", 0, "none") + controller("usb", 1, "none", mark=True),
         "USB is disabled"),
    Case("usb-device-with-usb-none", "pc", "usb-disabled", "error", "input tablet",
         controller("usb", 0, "none") + tablet(mark=True), "USB is disabled"),
    Case("address-of-usb-none", "pc", "ignored-address", "warning", "controller usb 0",
         controller("usb", 0, "none", pci(0, 5)), "ignores the address"),
    Case("uhci-companion-without-master", "q35", "usb-no-master", "error", "controller usb 0",
         controller("usb", 0, "ich9-uhci1", mark=True), "master"),
    # -- PCI -----------------------------------------------------------------------------------
    Case("pci-address-on-isapc", "isapc", "no-pci", "error", f"interface {MAC1}",
         nic(MAC1, "e1000", pci(0, 3)), "no PCI bus"),
    Case("slot-over-0x1f", "pc", "address-out-of-range", "error", f"interface {MAC1}",
         nic(MAC1, "e1000", pci(0, 0x20)), "must be <= 0x1F"),
    Case("function-over-7", "q35", "address-out-of-range", "error", "disk vdb",
         disk("vdb", "virtio", pci(0, 3, 8)), "must be <= 7"),
    Case("bus-over-0xff", "pc", "address-out-of-range", "error", f"interface {MAC1}",
         nic(MAC1, "e1000", pci(0x100, 3)), "must be <= 0xFF"),
    Case("pci-domain-1", "pc", "address-out-of-range", "error", f"interface {MAC1}",
         nic(MAC1, "e1000", pci(0, 3, domain_=1)), "domain 0"),
    Case("pci-function-negative", "pc", "invalid-value", "error", f"interface {MAC1}",
         nic(MAC1, "e1000", "<address type='pci' domain='0' bus='0' slot='3' function='-1'/>"
             + MARK), "Invalid value for attribute 'function' in element 'address': '-1'"),
    Case("pci-bus-without-controller", "pc", "missing-controller", "warning",
         f"interface {MAC1}", nic(MAC1, "e1000", pci(1, 3)), "has no controller"),
    Case("endpoint-on-upstream-port", "q35", "wrong-bus-kind", "error", f"interface {MAC1}",
         controller("pci", 1, "pcie-root-port")
         + controller("pci", 2, "pcie-switch-upstream-port")
         + nic(MAC1, "e1000e", pci(2, 0)), "cannot be plugged into controller index 2"),
    Case("pcie-root-port-on-pc", "pc", "wrong-bus-kind", "error", "controller pci 1",
         controller("pci", 1, "pcie-root-port", pci(0, 5)), "accepts a pcie-root-port"),
    Case("virtio-iommu-off-bus-0", "q35", "integrated-device", "error", "iommu virtio",
         controller("pci", 1, "pcie-root-port")
         + element("iommu model='virtio'", "iommu", pci(1, 0)), "bus"),
    Case("bridge-slot-0", "pc", "slot-out-of-range", "error", f"interface {MAC1}",
         controller("pci", 1, "pci-bridge") + nic(MAC1, "e1000", pci(1, 0)), "slot 0x0"),
    Case("root-port-slot-1", "q35", "slot-out-of-range", "error", f"interface {MAC1}",
         controller("pci", 1, "pcie-root-port") + nic(MAC1, "e1000e", pci(1, 1)),
         "slot 0x1"),
    Case("q35-lpc-slot", "q35", "reserved-slot", "error", f"interface {MAC1}",
         nic(MAC1, "e1000e", pci(0, 0x1F, 0)), "built-in"),
    Case("q35-smbus-slot", "q35", "reserved-slot", "error", "disk vda",
         disk("vda", "virtio", pci(0, 0x1F, 3)), "built-in"),
    Case("pc-isa-bridge-slot", "pc", "reserved-slot", "error", f"interface {MAC1}",
         nic(MAC1, "e1000", pci(0, 1, 0)), "built-in"),
    Case("pc-acpi-slot", "pc", "reserved-slot", "error", "sound ich6",
         element("sound model='ich6'", "sound", pci(0, 1, 3)), "built-in"),
    Case("two-nics-one-slot", "pc", "pci-conflict", "error", f"interface {MAC2}",
         nic(MAC1, "e1000", pci(0, 5, mark=False)) + nic(MAC2, "rtl8139", pci(0, 5)),
         "double use of PCI Address 0000:00:05.0"),
    Case("two-nics-one-slot-virt", "virt", "pci-conflict", "error", f"interface {MAC2}",
         controller("pci", 1, "pcie-root-port") + nic(MAC1, "virtio", pci(1, 0, mark=False))
         + nic(MAC2, "virtio", pci(1, 0)), "double use of PCI Address 0000:01:00.0"),
    Case("two-phbs-one-slot-pseries", "pseries", "pci-conflict", "error", f"interface {MAC2}",
         nic(MAC1, "virtio", pci(0, 3, mark=False)) + nic(MAC2, "virtio", pci(0, 3)),
         "double use"),
    Case("endpoint-on-pcie-root", "q35", "no-hotplug", "warning", "disk vda",
         disk("vda", "virtio", pci(0, 5)), "hot-plug"),
    Case("legacy-pci-on-pcie-root", "q35", "pci-on-pcie-root", "warning", f"interface {MAC1}",
         nic(MAC1, "e1000", pci(0, 5)), "conventional PCI"),
    Case("pcie-device-on-pci-bridge", "q35", "pcie-on-pci", "warning", f"interface {MAC1}",
         controller("pci", 1, "pcie-root-port")
         + controller("pci", 2, "pcie-to-pci-bridge", pci(1, 0, mark=False))
         + nic(MAC1, "e1000e", pci(2, 1)), "PCI Express device on a conventional PCI bus"),
    Case("ide-controller-moved", "pc", "pinned-address", "error", "controller ide 0",
         controller("ide", 0, None, pci(0, 5)), "0:0:1.1"),
    Case("piix3-usb-moved", "pc", "pinned-address", "error", "controller usb 0",
         controller("usb", 0, "piix3-uhci", pci(0, 5)), "0:0:1.2"),
    Case("sata-controller-moved", "q35", "pinned-address", "error", "controller sata 0",
         controller("sata", 0, None, pci(0, 5)), "0:0:1f.2"),
    Case("function-1-without-function-0", "pc", "multifunction-no-function0", "warning",
         f"interface {MAC1}", nic(MAC1, "e1000", pci(0, 5, 1)), "function 0"),
    Case("multifunction-off-with-function-1", "pc", "multifunction-off", "warning",
         f"interface {MAC1}",
         nic(MAC1, "e1000", pci(0, 5, 0, "off")) + nic(MAC2, "e1000", pci(0, 5, 1, mark=False)),
         "multifunction='off'"),
    # -- drives --------------------------------------------------------------------------------
    Case("two-disks-vda", "pc", "duplicate-target", "error", "disk vda",
         disk("vda", "virtio") + disk("vda", "virtio", mark=True), "duplicated"),
    Case("sata-disk-pci-address", "q35", "address-type", "error", "disk sda",
         disk("sda", "sata", pci(0, 5)), "address type 'pci'"),
    Case("virtio-disk-drive-address", "pc", "address-type", "error", "disk vda",
         disk("vda", "virtio", drive()), "address of type 'drive'"),
    Case("pseries-panic-address", "pseries", "address-type", "error", "panic pseries",
         element("panic model='pseries'", "panic",
                 "<address type='isa' iobase='0x505'/>" + MARK), "panic"),
    Case("pseries-panic-without-model", "pseries", "address-type", "error", "panic",
         element("panic", "panic", "<address type='isa' iobase='0x505'/>" + MARK),
         "model 'pseries'"),
    Case("s390-panic-without-model", "s390", "address-type", "error", "panic",
         element("panic", "panic", "<address type='isa' iobase='0x505'/>" + MARK),
         "model 's390'"),
    Case("vfio-ccw-pci-address", "s390", "address-type", "error", "hostdev mdev",
         element("hostdev mode='subsystem' type='mdev' model='vfio-ccw'", "hostdev",
                 "<source><address uuid='90c6c135-ad44-41d0-b1b7-bae47de48627'/></source>",
                 pci(0, 1)), "vfio-ccw"),
    Case("virtio-iommu-ccw-address", "q35", "address-type", "error", "iommu virtio",
         element("iommu model='virtio'", "iommu",
                 "<address type='ccw' cssid='0xfe' ssid='0x0' devno='0x0001'/>" + MARK),
         "PCI address"),
    Case("usb-tablet-pci-address", "pc", "address-type", "error", "input tablet",
         tablet(pci(0, 5)), "Invalid address for a USB device"),
    Case("smartcard-usb-address", "pc", "address-type", "error", "smartcard",
         element("smartcard mode='host'", "smartcard", usb("1")), "ccid"),
    Case("two-sata-disks-one-unit", "q35", "drive-conflict", "error", "disk sdb",
         disk("sda", "sata", drive(mark=False)) + disk("sdb", "sata", drive()),
         "in use by disk sda"),
    Case("lsilogic-target-1", "pc", "drive-out-of-range", "error", "disk sda",
         controller("scsi", 0, "lsilogic") + disk("sda", "scsi", drive(target=1)), "target"),
    Case("sata-unit-6", "q35", "drive-out-of-range", "warning", "disk sda",
         disk("sda", "sata", drive(unit=6)), "unit 6"),
    # -- virtio-serial, USB, CCID -------------------------------------------------------------
    Case("two-channels-port-1", "pc", "vserial-conflict", "error", "channel pty",
         channel(1, vserial(1).removesuffix(MARK)) + channel(2, vserial(1)), "port 1"),
    Case("channel-beyond-ports", "pc", "vserial-out-of-range", "error", "channel pty",
         controller("virtio-serial", 0, None, extra=" ports='4'") + channel(1, vserial(5)),
         "port 5"),
    Case("usb-port-path-too-deep", "pc", "invalid-value", "error", "input tablet",
         tablet(usb("1.1.1.1.1")), "Cannot parse <address> 'port' attribute"),
    Case("usb-port-not-a-number", "pc", "invalid-value", "error", "input tablet",
         tablet(usb("one")), "Cannot parse <address> 'port' attribute"),
    Case("usb-bus-without-controller", "pc", "missing-controller", "error", "input tablet",
         controller("usb", 0, "piix3-uhci") + tablet(usb("1", bus=1)), "USB bus 1"),
    Case("two-tablets-one-usb-port", "pc", "usb-conflict", "error", "input tablet",
         tablet(usb("1").removesuffix(MARK)) + tablet(usb("1")), "port 1"),
    Case("two-smartcards-one-ccid-slot", "pc", "smartcard-count", "error", "smartcard",
         controller("ccid", 0)
         + element("smartcard mode='host'", "smartcard",
                   "<address type='ccid' controller='0' slot='0'/>")
         + element("smartcard mode='host'", "smartcard",
                   "<address type='ccid' controller='0' slot='0'/>" + MARK),
         "multiple smartcard"),
    Case("serial-console-second", "pc", "console-serial", "error", "console pty",
         element("console type='pty'", "console", "<target type='virtio'/>")
         + element("console type='pty'", "console", "<target type='serial'/>", mark=True),
         "first console"),
    Case("phb-target-index-0", "pseries", "phb-target-index", "error", "controller pci 1",
         controller("pci", 1, "pci-root", "<model name='spapr-pci-host-bridge'/>",
                    "<target index='0'/>", mark=True), "target index 0"),
    # -- pipeline-level placement errors, reported with code 'placement' -----------------------
    Case("ide-disk-on-q35", "q35", "placement", "error", "disk hda",
         disk("hda", "ide", mark=True), "IDE controllers are unsupported"),
    Case("no-pcie-root-slot-left", "q35", "placement", "error", "disk vda",
         _many_nics(30, 1) + disk("vda", "virtio", mark=True), "PCI slot"),
    Case("usb-port-beyond-root-hub", "pc", "placement", "error", "input tablet",
         controller("usb", 0, "piix3-uhci") + tablet(usb("3").removesuffix(MARK), mark=True),
         "out of range"),
    Case("usb-port-behind-missing-hub", "pc", "placement", "error", "input tablet",
         controller("usb", 0, "piix3-uhci") + tablet(usb("1.1").removesuffix(MARK), mark=True),
         "no hub"),
    Case("ccw-address-on-q35", "q35", "placement", "error", f"interface {MAC1}",
         nic(MAC1, "virtio", "<address type='ccw' cssid='0xfe' ssid='0x0' devno='0x0001'/>",
             mark=True), "CCW"),
    Case("ccw-devno-twice", "s390", "placement", "error", f"interface {MAC2}",
         nic(MAC1, "virtio", "<address type='ccw' cssid='0xfe' ssid='0x0' devno='0x0001'/>")
         + nic(MAC2, "virtio", "<address type='ccw' cssid='0xfe' ssid='0x0' devno='0x0001'/>",
               mark=True), "in use"),
    # -- values libvirt's parser refuses (checks/values.py; tests/test_parse_rules.py has more) ---
    Case("disk-bus-unknown", "pc", "invalid-value", "error", "disk vda",
         element("disk type='file' device='disk'", "disk",
                 "<source file='/var/lib/libvirt/images/vda.img'/>",
                 "<target dev='vda' bus='nosuch'/>" + MARK),
         "Invalid value for attribute 'bus' in element 'target'"),
    Case("sound-model-unknown", "pc", "invalid-value", "error", "sound nope",
         element("sound model='nope'", "sound", mark=True),
         "Invalid value for attribute 'model' in element 'sound'"),
    Case("video-type-unknown", "q35", "invalid-value", "error", "video zzz",
         element("video", "video", "<model type='zzz'/>" + MARK), "unknown video model 'zzz'"),
    Case("usb-controller-model-unknown", "pc", "invalid-value", "error", "controller usb 0",
         controller("usb", 0, "bogus", mark=True), "Unknown model type 'bogus'"),
    Case("usb-ports-not-a-number", "q35", "invalid-value", "error", "controller usb 0",
         "    <controller type='usb' index='0' model='qemu-xhci' ports='abc'/>" + MARK + "\n",
         "Invalid value for attribute 'ports' in element 'controller': 'abc'"),
    Case("sound-without-model", "pc", "missing-attribute", "error", "sound",
         element("sound", "sound", mark=True),
         "Missing required attribute 'model' in element 'sound'"),
    Case("spapr-vio-reg-twice", "pseries", "placement", "error", "serial pty",
         element("serial type='pty'", "serial", "<target type='spapr-vio-serial' port='0'/>",
                 "<address type='spapr-vio' reg='0x30000000'/>")
         + element("serial type='pty'", "serial", "<target type='spapr-vio-serial' port='1'/>",
                   "<address type='spapr-vio' reg='0x30000000'/>", mark=True), "in use"),
]

CASE_IDS = [c.id for c in CASES]
# the codes of checks/values.py: libvirt's parser's own words, which name no device
PARSE_TIME = {"invalid-value", "missing-attribute"}


def by_id(case_id: str) -> Case:
    return next(c for c in CASES if c.id == case_id)


def findings_of(case: Case) -> list[Finding]:
    xml, _ = case.xml()
    return check(case.machine, xml)


def the_finding(case: Case) -> Finding:
    """The case's finding: the one with its code (there must be exactly one)."""
    found = findings_of(case)
    mine = [f for f in found if f.code == case.code]
    assert len(mine) == 1, f"expected one {case.code!r} finding, got: {found}"
    return mine[0]


# Known defects of the rules, reported to the lead with these cases as reproducers. Each is
# (case id, aspect) -> what goes wrong; the aspect's test is a strict xfail: once fixed it
# XPASSes, which fails, and the entry must go (the case then guards the fix).
OUT_OF_RANGE = ("prepare() completes addresses before the checks run, so pci_address() raises "
                "there: reported as code 'placement' without device, and it stops every other "
                "rule (address-out-of-range is never reported)")
KNOWN_BUGS: dict[tuple[str, str], str] = {
    ("no-pcie-root-slot-left", "line"): "the placement error has no line: the first device "
                                        "that needs a root port is the USB controller libvirt "
                                        "adds (no line of its own); it should point at the first "
                                        "written one that needs a slot (disk vda)",
}
# Rules whose message does not (yet) name the device the way a person would: the device is in
# Finding.device and the line points at it, but the text line alone does not say which one.
UNNAMED = "the message does not name the device (only Finding.device does)"
for _case_id in ("no-pcie-root-slot-left",):
    KNOWN_BUGS[(_case_id, "name")] = UNNAMED


def params(aspect: str, cases: list[Case] | None = None) -> list[object]:
    """The cases as pytest params, with an xfail mark where ``aspect`` is a known bug."""
    out: list[object] = []
    for case in CASES if cases is None else cases:
        why = KNOWN_BUGS.get((case.id, aspect))
        marks = [pytest.mark.xfail(reason=why, strict=True)] if why else []
        out.append(pytest.param(case, id=case.id, marks=marks))
    return out


def test_known_bugs_name_real_cases() -> None:
    assert {case_id for case_id, _ in KNOWN_BUGS} <= set(CASE_IDS)


# ---- the rules, one case at a time ----------------------------------------------------------


@pytest.mark.parametrize("case", params("code"))
def test_rule_reports_its_code_and_severity(case: Case) -> None:
    f = the_finding(case)
    assert f.severity == case.severity, f
    assert case.says.lower() in f.message.lower(), f.message


@pytest.mark.parametrize("case", params("line"))
def test_rule_reports_the_line(case: Case) -> None:
    """The line of the offending element or its <address>, whatever the code."""
    _, line = case.xml()
    assert line is not None, "a case marks the line it expects"
    found = findings_of(case)
    wanted = [f for f in found if f.severity == case.severity
              and case.says.lower() in f.message.lower()]
    assert wanted, found
    assert wanted[0].line == line, wanted[0]


@pytest.mark.parametrize("case", params("code", [c for c in CASES if c.severity == "error"]))
def test_error_case_has_no_stray_errors(case: Case) -> None:
    """One problem, one error: the other rules stay quiet on a case (warnings allowed)."""
    errors = [f for f in findings_of(case) if f.severity == "error"]
    assert [f.code for f in errors] == [case.code], errors


@pytest.mark.parametrize("case", params("code", [c for c in CASES if c.severity == "warning"]))
def test_warning_case_still_augments(case: Case) -> None:
    """A warning is no error: the guest is augmented and the warning comes with the result."""
    xml, _ = case.xml()
    result = augmenter.run(xml, options_for(case.machine))
    assert case.code in {f.code for f in result.findings}
    assert not [f for f in result.findings if f.severity == "error"]


@pytest.mark.parametrize("case", params("name"))
def test_finding_names_the_device(case: Case) -> None:
    found = [f for f in findings_of(case) if case.says.lower() in f.message.lower()]
    assert found
    f = found[0]
    if case.code != "placement":  # a pipeline error carries no device, only its message
        assert f.device == case.device
    if case.code not in PARSE_TIME:  # libvirt's own words, which name no device
        assert case.device in f.message, f.message


def test_mac_names_an_interface() -> None:
    f = the_finding(by_id("two-nics-one-slot"))
    assert f.message.startswith(f"interface {MAC2}:"), f.message
    assert f"interface {MAC1}" in f.message  # and the device it collides with


def test_out_of_range_addresses_are_errors_on_their_line() -> None:
    """Whatever the code (see OUT_OF_RANGE), each bad PCI address is an error on its line."""
    for case_id in ("slot-over-0x1f", "function-over-7", "bus-over-0xff", "pci-domain-1"):
        case = by_id(case_id)
        _, line = case.xml()
        errors = [f for f in findings_of(case) if f.severity == "error"]
        assert [(f.line, case.says in f.message) for f in errors] == [(line, True)], errors


# ---- faults the rules miss or misreport (reported to the lead) --------------------------------


@dataclass(frozen=True)
class Miss:
    """A guest the rules get wrong today: ``want`` is an error on the marked line (with ``code``
    when given), or ``clean`` (libvirt accepts it: no error at all)."""

    id: str
    machine: str
    devices: str
    want: str  # "error" | "clean"
    code: str | None
    why: str


def _sata(name: str, address: str) -> str:
    return disk(name, "sata", address)


MISSES: list[Miss] = [
    Miss("pcie-root-port-as-index-0", "q35", controller("pci", 0, "pcie-root-port", mark=True),
         "error", "root-model", "check() raises topology.Conflict (a traceback, also from "
         "augment --check): the board's 00:1f.x are reserved on a bus with one slot"),
    Miss("two-smartcards", "pc",
         controller("ccid", 0)
         + element("smartcard mode='host'", "smartcard",
                   "<address type='ccid' controller='0' slot='0'/>")
         + element("smartcard mode='host'", "smartcard", mark=True), "error", None,
         "libvirt 9.0 with QEMU refuses a second smartcard ('this QEMU binary lacks multiple "
         "smartcard support'); no rule says so"),
    Miss("nic-on-q35-sata-function", "q35", nic(MAC1, "e1000e", pci(0, 0x1F, 2)), "error",
         "reserved-slot", "reported by the pipeline as 'controller sata 0: Attempted double "
         "use', without a line or the NIC's name"),
    Miss("nic-on-pc-ide-function", "pc",
         disk("hdc", "ide", device="cdrom") + nic(MAC1, "e1000", pci(0, 1, 1)), "error",
         "reserved-slot", "reported by the pipeline against 'controller ide 0', without a line"),
    Miss("nic-on-pc-usb-function", "pc", nic(MAC1, "e1000", pci(0, 1, 2)), "error",
         "reserved-slot", "reported by the pipeline against 'controller usb 0', without a line"),
    Miss("scsi-target-on-implicit-lsilogic", "pc", disk("sda", "scsi", drive(target=5)),
         "error", "drive-out-of-range", "the SCSI controller libvirt adds is an lsilogic "
         "(target must be 0), but only written controllers' models are looked at"),
    Miss("ide-target-1", "pc", disk("hda", "ide", drive(target=1)), "error",
         "drive-out-of-range", "a warning; libvirt: 'target must be 0 for ide controller'"),
    Miss("ide-drive-controller-1", "pc", disk("hda", "ide", drive(controller=1)), "error",
         "drive-out-of-range", "a warning; libvirt: 'Only 1 IDE controller is supported'"),
    Miss("sata-bus-1", "q35", _sata("sda", drive(bus=1)), "error", "drive-out-of-range",
         "a warning; libvirt: 'bus must be 0 for sata controller'"),
    Miss("sata-target-1", "q35", _sata("sda", drive(target=1)), "error", "drive-out-of-range",
         "a warning; libvirt: 'target must be 0 for sata controller'"),
    Miss("scsi-bus-1", "pc", disk("sda", "scsi", drive(bus=1)), "error", "drive-out-of-range",
         "a warning; libvirt: 'SCSI controller only supports 1 bus'"),
    Miss("fdc-bus-1", "pc", disk("fda", "fdc", drive(bus=1), device="floppy"), "error",
         "drive-out-of-range", "a warning; libvirt: 'Only 1 fdc bus is supported'"),
    Miss("spapr-vio-address-on-pc-serial", "pc",
         element("serial type='pty'", "serial", "<target port='0'/>",
                 "<address type='spapr-vio' reg='0x30000000'/>" + MARK), "error", "address-type",
         "no rule checks a serial's address type against its target type; libvirt: 'Target "
         "type 'isa-serial' requires address type 'isa''"),
    Miss("legacy-pci-on-a-bus-nobody-wrote", "q35", nic(MAC1, "e1000", pci(5, 1)), "clean",
         None, "slot-out-of-range: the missing bus 5 is taken for a pcie-root-port; libvirt "
         "adds a root port, a pcie-to-pci-bridge and pci-bridges and accepts it"),
    Miss("two-ich9-uhci1-companions", "q35",
         controller("usb", 0, "ich9-ehci1") + controller("usb", 0, "ich9-uhci1")
         + controller("usb", 0, "ich9-uhci1"), "clean", None,
         "duplicate-controller-index error; libvirt 9.0 defines it (QEMU may well refuse to "
         "start it: at most a warning?)"),
    Miss("usb-port-0", "pc", tablet(usb("0")), "clean", None,
         "placement error 'port 0 out of range'; libvirt takes port='0' as no port and picks "
         "one"),
]


SERIAL_ON_PCI = "<address type='pci' domain='0' bus='0' slot='5' function='0'/>"


SERIAL_CASES = [
    ("pc", "", "<address type='spapr-vio' reg='0x30000000'/>",
     "Target type 'isa-serial' requires address type 'isa'"),
    ("pc", " type='usb-serial'", SERIAL_ON_PCI, "usb-serial requires address of usb type"),
    ("virt", "", SERIAL_ON_PCI, "Target type 'system-serial' cannot have an associated address"),
    ("s390", "", SERIAL_ON_PCI, "Target type 'sclp-serial' cannot have an associated address"),
    ("pc", " type='pci-serial'", SERIAL_ON_PCI, None),
    ("pseries", " type='isa-serial'", "<address type='spapr-vio' reg='0x30000000'/>", None),
]


def serial_guest(machine: str, target: str, address: str) -> tuple[str, int | None]:
    return unmark(domain(machine, element(
        "serial type='pty'", "serial", f"<target{target} port='0'/>", address + MARK)))


@pytest.mark.parametrize(("machine", "target", "address", "message"), SERIAL_CASES)
def test_a_serial_address_must_fit_its_target_type(machine: str, target: str, address: str,
                                                   message: str | None) -> None:
    """libvirt's words (on pseries an isa-serial target means the machine's default, a
    spapr-vio one)."""
    xml, line = serial_guest(machine, target, address)
    found = [(f.line, f.message) for f in check(machine, xml) if f.code == "address-type"]
    assert found == ([(line, f"serial pty: {message}")] if message else [])


# Misses fixed since they were reported: their tests now guard the fix.
FIXED_MISSES = {
    "fdc-bus-1", "ide-drive-controller-1", "ide-target-1", "legacy-pci-on-a-bus-nobody-wrote",
    "pcie-root-port-as-index-0", "spapr-vio-address-on-pc-serial",
    "nic-on-pc-ide-function", "nic-on-pc-usb-function", "nic-on-q35-sata-function", "sata-bus-1",
    "sata-target-1", "scsi-bus-1", "scsi-target-on-implicit-lsilogic",
    "two-ich9-uhci1-companions", "two-smartcards", "usb-port-0",
}


@pytest.mark.parametrize("miss", [
    pytest.param(m, id=m.id, marks=[] if m.id in FIXED_MISSES else
                 pytest.mark.xfail(reason=m.why, strict=True))
    for m in MISSES])
def test_known_miss(miss: Miss) -> None:
    xml, line = unmark(domain(miss.machine, miss.devices))
    errors = [f for f in check(miss.machine, xml) if f.severity == "error"]
    if miss.want == "clean":
        assert not errors
        return
    assert [(f.line, f.code) for f in errors] == [(line, miss.code or errors[0].code)]


# ---- every rule has a case ------------------------------------------------------------------

CODE_CALL = re.compile(r"""\bfinding\(\s*[^,()]+?\s*,\s*["']([a-z0-9-]+)["']""")


def codes_in_checks() -> set[str]:
    """Rule codes of checks.py: literal ``finding(dev, "code", ...)`` calls (regex), and the
    string constants a variable code is chosen from (``code = "a" if ... else "b"``)."""
    source = CHECKS_PY.read_text()
    codes = set(CODE_CALL.findall(source))
    tree = ast.parse(source)
    for func in ast.walk(tree):
        if not isinstance(func, ast.FunctionDef):
            continue
        assigned: dict[str, set[str]] = {}
        for node in ast.walk(func):
            if isinstance(node, ast.Assign):
                strings = {c.value for c in ast.walk(node.value)
                           if isinstance(c, ast.Constant) and isinstance(c.value, str)}
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        assigned.setdefault(target.id, set()).update(strings)
        for node in ast.walk(func):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id == "finding" and len(node.args) >= 2):
                arg = node.args[1]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    codes.add(arg.value)
                elif isinstance(arg, ast.Name):
                    codes |= assigned.get(arg.id, set())
    return codes


def test_code_scan_finds_the_rules() -> None:
    """The scan itself works: it sees literal codes and the two chosen by a variable."""
    codes = codes_in_checks()
    assert {"pci-conflict", "reserved-slot", "integrated-device", "wrong-bus-kind"} <= codes
    assert len(codes) >= 30


def test_every_rule_is_exercised() -> None:
    from augmenter.checks import values

    exercised = {c.code for c in CASES}
    missing = (codes_in_checks() | {values.INVALID, values.MISSING}) - exercised
    assert not missing, f"rule codes in checks.py without a case in {__name__}: {missing}"
    assert "placement" in exercised


def test_every_machine_family_is_covered() -> None:
    assert {c.machine for c in CASES} == set(MACHINES)


# ---- whole guests ---------------------------------------------------------------------------

VALID = {
    "pc": (disk("vda", "virtio") + disk("hdc", "ide", device="cdrom")
           + controller("usb", 0, "piix3-uhci") + nic(MAC1, "e1000", pci(0, 3, mark=False))
           + channel(1) + tablet() + element("sound model='ich6'", "sound")),
    "q35": (disk("vda", "virtio") + disk("sda", "sata", drive(mark=False))
            + controller("pci", 1, "pcie-root-port") + controller("usb", 0, "qemu-xhci")
            + nic(MAC1, "virtio", pci(1, 0, mark=False)) + nic(MAC2, "e1000e")
            + channel(1, vserial(1).removesuffix(MARK)) + tablet(usb("1").removesuffix(MARK))),
    "pseries": disk("vda", "virtio") + nic(MAC1, "virtio"),
    "s390": disk("vda", "virtio") + nic(MAC1, "virtio"),
    "virt": disk("vda", "virtio") + nic(MAC1, "virtio"),
}


@pytest.mark.parametrize("machine", sorted(VALID))
def test_valid_guest_gets_no_error(machine: str) -> None:
    xml = domain(machine, VALID[machine])
    found = check(machine, xml)
    assert not [f for f in found if f.severity == "error"], found
    augmenter.run(xml, options_for(machine))  # and augments


def test_two_problems_are_both_reported() -> None:
    xml, _ = unmark(domain("q35", (
        disk("vda", "virtio", pci(0, 0x1F, 3, mark=False))  # line 12: q35's SMBus
        + disk("vda", "virtio")  # line 14: duplicate target
        + nic(MAC1, "e1000e", pci(0, 5, mark=False))  # line 22
        + nic(MAC2, "e1000e", pci(0, 5, mark=False))  # line 28: the same slot
        + channel(1, vserial(3).removesuffix(MARK))
        + channel(2, vserial(3).removesuffix(MARK))  # line 36: the same port
    )))
    found = augmenter.check(xml, EMBEDDED)
    got = [(f.code, f.line) for f in found if f.severity == "error"]
    assert got == [("reserved-slot", 12), ("duplicate-target", 14), ("pci-conflict", 28),
                   ("vserial-conflict", 36)], found
    with pytest.raises(augmenter.InvalidDomain) as info:
        augmenter.run(xml, EMBEDDED)
    assert info.value.findings == found


def test_an_out_of_range_address_does_not_hide_other_problems() -> None:
    xml, _ = unmark(domain("pc", (
        nic(MAC1, "e1000", pci(0, 0x20, mark=False))  # line 13: slot out of range
        + disk("vda", "virtio") + disk("vda", "virtio")  # line 19: the second vda
    )))
    got = [(f.code, f.line) for f in augmenter.check(xml, EMBEDDED)]
    assert got == [("address-out-of-range", 13), ("duplicate-target", 19)]


def test_same_problem_twice_is_reported_twice() -> None:
    xml, _ = unmark(domain("pc", (
        nic(MAC1, "e1000", pci(0, 1, 0, mark=False))
        + nic(MAC2, "e1000", pci(0, 1, 3, mark=False))
    )))
    found = augmenter.check(xml, EMBEDDED)
    assert [(f.code, f.device) for f in found if f.severity == "error"] == [
        ("reserved-slot", f"interface {MAC1}"), ("reserved-slot", f"interface {MAC2}")]


def test_findings_are_sorted_by_line() -> None:
    xml, _ = unmark(domain("pc", (
        nic(MAC2, "e1000", pci(0, 1, 3, mark=False))
        + disk("vda", "virtio", drive(mark=False))
        + controller("ide", 1)
        + nic(MAC1, "e1000", pci(0, 1, mark=False))
    )))
    lines = [f.line or 0 for f in augmenter.check(xml, EMBEDDED)]
    assert lines == sorted(lines) and len(lines) >= 3


# ---- augmenting a bad guest: the same findings, and no output -------------------------------

ERROR_CASES = [c for c in CASES if c.severity == "error"]


@pytest.mark.parametrize("case", params("code", ERROR_CASES))
def test_run_raises_with_the_same_findings(case: Case) -> None:
    xml, _ = case.xml()
    with pytest.raises(augmenter.InvalidDomain) as info:
        augmenter.run(xml, options_for(case.machine))
    assert info.value.findings == check(case.machine, xml)
    assert info.value.code == case.code  # the first error's code


def test_augment_raises_an_augment_error() -> None:
    xml, _ = by_id("q35-lpc-slot").xml()
    with pytest.raises(augmenter.AugmentError) as info:
        augmenter.augment(xml)
    assert info.value.line == 13 and "built-in" in info.value.message


AUGMENT = [sys.executable, "-c", "from augmenter.cli.app import main; main()"]


def _augment_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*AUGMENT, "--boards", "embedded", *args], capture_output=True,
                          text=True, cwd=cwd, check=False)


FINDING_LINE = re.compile(r"^(?P<file>[^:]+)(?::(?P<line>\d+)(?::(?P<col>\d+))?)?: "
                          r"(?P<severity>error|warning): (?P<message>.*)$")


def _cli_findings(stderr: str) -> list[tuple[int | None, str, str]]:
    """(line, severity, message) of each ``FILE[:LINE[:COL]]: severity: message`` line."""
    out: list[tuple[int | None, str, str]] = []
    for text in stderr.splitlines():
        m = FINDING_LINE.match(text)
        if m:
            line = int(m["line"]) if m["line"] else None
            out.append((line, m["severity"], m["message"]))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("case_id", ["q35-lpc-slot", "two-disks-vda", "no-pcie-root-slot-left",
                                     "usb-port-beyond-root-hub"])
def test_augment_cli_bad_input_writes_nothing(case_id: str, tmp_path: Path) -> None:
    case = by_id(case_id)
    xml, line = case.xml()
    src = tmp_path / "guest.xml"
    src.write_text(xml)
    before = src.read_bytes()
    stat = src.stat()

    to_stdout = _augment_cli(str(src), cwd=tmp_path)
    assert to_stdout.returncode == 1
    assert to_stdout.stdout == ""
    checked = _augment_cli("--check", str(src), cwd=tmp_path)
    assert checked.returncode == 1
    assert _cli_findings(to_stdout.stderr) == _cli_findings(checked.stderr) != []
    if (case_id, "line") not in KNOWN_BUGS:
        assert (line, "error") in [(n, s) for n, s, _ in _cli_findings(to_stdout.stderr)]

    out = tmp_path / "out.xml"
    with_o = _augment_cli(str(src), "-o", str(out), cwd=tmp_path)
    assert with_o.returncode == 1 and with_o.stdout == ""
    assert not out.exists()

    in_place = _augment_cli("--in-place", str(src), cwd=tmp_path)
    assert in_place.returncode == 1 and in_place.stdout == ""
    assert src.read_bytes() == before
    assert src.stat().st_mtime_ns == stat.st_mtime_ns
    assert sorted(p.name for p in tmp_path.iterdir()) == ["guest.xml"]  # no temporary left


# ---- libvirt's own verdict on the cases -----------------------------------------------------

LIBVIRT_URI = "qemu:///system"
LIBVIRT_SOCKET = Path("/var/run/libvirt/libvirt-sock")


def _missing(what: str) -> NoReturn:
    """Skip, or fail under CI (where libvirtd must be there)."""
    if os.environ.get("CI"):
        pytest.fail(f"{what}; CI must provide it", pytrace=False)
    pytest.skip(what)


def virsh(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["virsh", "-q", "-c", LIBVIRT_URI, *args], capture_output=True,
                          text=True, check=False, timeout=120)


@functools.cache
def _own_libvirtd() -> str | None:
    """Without the shared fixtures: libvirtd answering, started here if need be (root only).
    None when it answers, else why not."""
    if shutil.which("virsh") is None:
        return "virsh not found (Debian package libvirt-clients)"
    if virsh("uri").returncode == 0:
        return None
    libvirtd = shutil.which("libvirtd") or "/usr/sbin/libvirtd"
    if os.geteuid() != 0 or not Path(libvirtd).exists():
        return "libvirtd not running and cannot be started here"
    Path("/var/run/libvirt").mkdir(parents=True, exist_ok=True)
    subprocess.run([libvirtd, "-d"], capture_output=True, check=False)
    deadline = time.monotonic() + 30
    while virsh("uri").returncode != 0:
        if time.monotonic() > deadline:
            return "libvirtd -d started but does not answer on qemu:///system"
        time.sleep(0.2)
    return None


def require_libvirt() -> None:
    """libvirtd on qemu:///system (the shared ``libvirt_env`` fixtures start it where they
    exist), or the test is skipped, or failed under CI."""
    try:
        from libvirt_env import libvirt_or_skip
    except ImportError:
        why = _own_libvirtd()
        if why is not None:
            _missing(why)
        return
    libvirt_or_skip()


def define_verdict(xml: str, label: str, folder: Path) -> tuple[bool, str]:
    """``virsh define`` then ``undefine`` under a name of this process: (accepted, message)."""
    name = f"augment-check-{os.getpid()}-{label}"[:60]
    root = etree.fromstring(xml.encode())
    name_el = root.find("name")
    assert name_el is not None
    name_el.text = name
    root.set("type", "qemu")  # no KVM needed: it changes no address
    for el in root.findall("uuid"):
        root.remove(el)
    path = folder / f"{name}.xml"
    path.write_bytes(etree.tostring(root))
    try:
        done = virsh("define", str(path))
    finally:
        virsh("undefine", "--nvram", name)
    return done.returncode == 0, " ".join(done.stderr.split())


def libvirt_accepts(machine: str, xml: str, label: str, folder: Path) -> tuple[bool, str]:
    """libvirt's verdict on a guest; skipped without libvirtd (failed under CI), and skipped
    without the guest's QEMU (CI installs only the x86 one)."""
    require_libvirt()
    arch = MACHINES[machine][0]
    if not Path(f"/usr/bin/qemu-system-{arch}").exists():
        pytest.skip(f"qemu-system-{arch} not installed")
    return define_verdict(xml, label, folder)


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_libvirt_agrees_on_the_case(case: Case, tmp_path: Path) -> None:
    xml, _ = case.xml()
    accepted, why = libvirt_accepts(case.machine, xml, case.id, tmp_path)
    if case.refused:
        assert not accepted, "libvirt accepts this guest, yet it is a case of an error"
    else:
        assert accepted, f"libvirt refuses this guest: {why}"


@pytest.mark.slow
@pytest.mark.parametrize("miss", MISSES, ids=[m.id for m in MISSES])
def test_libvirt_agrees_on_the_miss(miss: Miss, tmp_path: Path) -> None:
    """The reproducers of the known misses are right about libvirt."""
    xml, _ = unmark(domain(miss.machine, miss.devices))
    accepted, why = libvirt_accepts(miss.machine, xml, miss.id, tmp_path)
    assert accepted == (miss.want == "clean"), why


@pytest.mark.parametrize(("machine", "target", "address", "message"), SERIAL_CASES)
def test_libvirt_agrees_on_the_serial_address(machine: str, target: str, address: str,
                                              message: str | None, tmp_path: Path) -> None:
    xml, _ = serial_guest(machine, target, address)
    accepted, why = libvirt_accepts(machine, xml, f"serial-{machine}", tmp_path)
    assert accepted == (message is None), why
    assert message is None or message in why


def test_the_placement_tables_name_only_values_libvirt_accepts() -> None:
    """policy/devices.py (how a model connects) and the parse-time table (what libvirt
    accepts) are separate tables; a model placement knows must be one the value check lets
    through."""
    from augmenter.policy import devices as rules
    from augmenter.policy.parse_rules import table

    def accepted(context: str, attr: str) -> set[str]:
        return {v for r in table().rules if r.kind == "enum" and r.attr == attr
                and r.context_text == context for v in r.values}

    assert set(rules.SOUND_MODELS) <= accepted("domain/devices/sound", "model")
    assert set(rules.USB_MODELS) <= accepted("domain/devices/controller[@type=usb]", "model")
    assert set(rules.VIDEO_MODELS) <= accepted("domain/devices/video/model[1]", "type")
    assert set(rules.CONTROLLER_TYPES) <= accepted("domain/devices/controller", "type")
    # the virtio spellings are shared with other device kinds; "virtio" is no SCSI model
    assert set(rules.SCSI_MODELS) - accepted("domain/devices/controller[@type=scsi]",
                                             "model") == {"virtio"}
