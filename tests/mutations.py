"""Seeded mutations of valid guests: the inputs of the differential test of ``augment --check``.

Every mutation is one valid guest that lives in the repository (an ``examples/*.xml`` input, a
guest of ``libvirt_env.generated_guests()``, or one of ``mutation_bases.BASES`` for the families
the others cover thinly) with exactly one change, of one of these kinds:

``value``
    a number out of range, negative, or spelt wrong (``abc``, ``0x0_5``, ``+5``, non-ASCII
    digits, empty, a fraction, an overflow), an enum value libvirt does not have, a boolean that
    is not the attribute's yes/no or on/off, a size with a wrong unit; the last 350 mutations are
    of this kind, at places the parse-time table (``augmenter/data/parse_rules.json``) names;
``duplicate``
    a copy of something that must be unique: a device, a controller index, a disk target, an
    address of each type (PCI, drive, USB, virtio-serial, CCW, spapr-vio, DIMM), a MAC, an
    alias, a boot order, a NUMA cell id, a child element libvirt reads once;
``remove``
    an attribute or element taken away, aimed at the ones libvirt requires, and at random;
``misspell``
    an element or attribute name spelt wrong (``<adress>``, ``<interfce>``, ``slott``);
``clash``
    two devices written on one address of each kind (PCI, drive, USB, virtio-serial, CCW,
    spapr-vio, DIMM, a serial port), a disk and a SCSI host device on one drive address, and a
    device on a slot the board keeps for itself;
``address-type``
    an address of a type the device cannot take;
``config``
    define-time mistakes: vCPU count against the CPU topology, NUMA cells, a TPM, watchdog,
    panic, IOMMU or serial model foreign to the architecture, two primary videos, iothreads,
    cputune and numatune out of range, lifecycle actions, boot order mixed with ``<os><boot>``,
    devices foreign to the machine, huge pages, disk, PCI controller, character device, video,
    input and IOMMU options, firmware autoselection, guest CPU options, timers, security
    labels, a device model the guest's QEMU lacks, and more, each aimed at a rule of libvirt
    9.0's ``src/conf/domain_validate.c``, ``domain_conf.c`` post-parse or
    ``src/qemu/qemu_validate.c``.

The generator is a plain ``random.Random`` seeded per mutation (``SEED`` and the mutation's
index), so the same list comes out on every run and every machine, and a change to one operator
moves no mutation of another (only a mutation that would repeat an earlier one is drawn again).
A mutation is known by the hash of its text (``Mutation.id``).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from libvirt_env import example_inputs, generated_guests
from lxml import etree
from mutation_bases import BASES

from augmenter.policy.parse_rules import Rule

SEED = 15_2024
# the first 2,450 follow SCHEDULE; the 350 after them are "value" mutations drawn from the
# parse-time table (TABLE_OPERATORS), so that every kind of rule it holds is tried
SCHEDULED = 2_450
COUNT = 2_800
KINDS = ("value", "duplicate", "remove", "misspell", "clash", "address-type", "config")
# the kind of mutation i is SCHEDULE[i % len(SCHEDULE)]: define-time rules are the most varied,
# so they get two shares
SCHEDULE = (*KINDS, "config")

Element = etree._Element


@dataclass(frozen=True)
class Base:
    """A valid guest to mutate, normalised as the test defines it: ``type='qemu'``, no UUID."""

    label: str
    xml: str


@dataclass(frozen=True)
class Mutation:
    index: int
    kind: str
    operator: str
    base: str
    description: str
    xml: str

    @property
    def id(self) -> str:
        return hashlib.sha256(self.xml.encode()).hexdigest()[:12]


def normalise(xml: str) -> str:
    root = etree.fromstring(xml.encode("utf-8"))
    root.set("type", "qemu")
    for el in root.findall("uuid"):
        root.remove(el)
    return etree.tostring(root, encoding="unicode")


@functools.cache
def base_guests() -> tuple[Base, ...]:
    """Every guest the mutations start from, in a fixed order."""
    out = [Base(f"example:{p.stem}", normalise(p.read_text())) for p in example_inputs()]
    out += [Base(f"family:{label}", normalise(xml)) for label, xml in BASES.items()]
    out += [Base(f"generated:{g.label}", normalise(g.xml)) for g in generated_guests()]
    return tuple(out)


# ---- reading a guest --------------------------------------------------------------------------


class Guest:
    """One parsed copy of a base guest, with what the operators ask of it."""

    def __init__(self, xml: str) -> None:
        self.root = etree.fromstring(xml.encode("utf-8"))
        os_type = self.root.find("os/type")
        self.arch = os_type.get("arch", "x86_64") if os_type is not None else "x86_64"
        self.machine = os_type.get("machine", "") if os_type is not None else ""
        devices = self.root.find("devices")
        assert devices is not None
        self.devices = devices

    @property
    def x86(self) -> bool:
        return self.arch in ("x86_64", "i686")

    @property
    def q35(self) -> bool:
        return self.x86 and "q35" in self.machine

    def where(self, el: Element) -> str:
        return str(self.root.getroottree().getpath(el)).removeprefix("/domain/")

    def all_elements(self) -> list[Element]:
        """Every element but the root, ``<name>`` and what is inside ``<metadata>``."""
        out = []
        for el in self.root.iter():
            if not isinstance(el.tag, str) or el is self.root:
                continue
            if el.tag in ("name", "uuid") and el.getparent() is self.root:
                continue
            if any(a.tag == "metadata" for a in el.iterancestors()) or el.tag == "metadata":
                continue
            out.append(el)
        return out

    def device_list(self, *tags: str) -> list[Element]:
        return [el for el in self.devices if isinstance(el.tag, str) and el.tag != "emulator"
                and (not tags or el.tag in tags)]

    def disks(self, *buses: str) -> list[Element]:
        out = []
        for disk in self.device_list("disk"):
            target = disk.find("target")
            if target is None:
                continue
            if not buses or _disk_bus(disk) in buses:
                out.append(disk)
        return out

    def with_address(self, kind: str) -> list[Element]:
        return [el for el in self.device_list() if (a := el.find("address")) is not None
                and a.get("type") == kind]

    def pci_devices(self) -> list[Element]:
        """Devices that sit on a PCI slot on this guest (by libvirt's defaults)."""
        out = []
        for el in self.device_list():
            addr = el.find("address")
            if addr is not None:
                if addr.get("type") == "pci":
                    out.append(el)
                continue
            if self.arch == "s390x":
                continue
            if _takes_pci(el):
                out.append(el)
        return out


def _disk_bus(disk: Element) -> str:
    target = disk.find("target")
    bus = target.get("bus") if target is not None else None
    if bus:
        return str(bus)
    dev = target.get("dev", "") if target is not None else ""
    return {"vd": "virtio", "sd": "scsi", "hd": "ide", "fd": "fdc"}.get(dev[:2], "?")


def _takes_pci(el: Element) -> bool:
    tag = el.tag
    if tag == "disk":
        return _disk_bus(el) == "virtio"
    if tag == "interface":
        return el.get("type") != "hostdev"
    if tag == "controller":
        return (el.get("type") in ("scsi", "virtio-serial", "usb")
                and el.get("model") not in ("none", "ibmvscsi")) or (
            el.get("type") == "pci" and el.get("model") not in ("pci-root", "pcie-root", None))
    if tag in ("sound",):
        return el.get("model") not in ("pcspk", "usb")
    if tag == "memballoon":
        return el.get("model") != "none"
    if tag == "watchdog":
        return el.get("model") == "i6300esb"
    return tag in ("video", "rng", "vsock")


def _text(el: Element) -> str:
    return etree.tostring(el, encoding="unicode", with_tail=False).strip()


def _new(snippet: str) -> Element:
    el = etree.fromstring(snippet)
    el.tail = "\n    "
    return el


def _set_address(dev: Element, snippet: str) -> Element:
    """Give ``dev`` the address ``snippet``, replacing any it has (same place in its children)."""
    new = _new(snippet)
    old = dev.find("address")
    if old is not None:
        new.tail = old.tail
        dev.replace(old, new)
    else:
        new.tail = dev[-1].tail if len(dev) else None
        dev.append(new)
    return new


def _attr_sites(guest: Guest, table: dict[tuple[str, str], list[str]]
                ) -> list[tuple[Element, str, list[str]]]:
    """(element, attribute, values) for each attribute of ``table`` the guest writes.

    Keys are ``(tag, attribute)``; a tag ``address:pci`` matches ``<address type='pci'>``, a tag
    ``devices/disk`` an element of that name whose parent is ``<devices>``, and the attribute
    ``#text`` an element's text."""
    out = []
    for el in guest.all_elements():
        parent = el.getparent()
        names = [str(el.tag)]
        if el.tag == "address":
            names.insert(0, f"address:{el.get('type')}")
        if parent is not None and isinstance(parent.tag, str):
            names.insert(0, f"{parent.tag}/{el.tag}")
        for name in names:
            for (tag, attr), values in table.items():
                if tag != name:
                    continue
                text = attr == "#text" and bool(el.text and el.text.strip()) and len(el) == 0
                if text or attr in el.attrib:
                    out.append((el, attr, values))
    return out


def _get(el: Element, attr: str) -> str:
    return (el.text or "") if attr == "#text" else str(el.get(attr))


def _put(el: Element, attr: str, value: str) -> None:
    if attr == "#text":
        el.text = value
    else:
        el.set(attr, value)


Operator = Callable[[random.Random, Guest], str | None]
OPERATORS: dict[str, dict[str, Operator]] = {kind: {} for kind in KINDS}


def operator(kind: str, name: str) -> Callable[[Operator], Operator]:
    def register(fn: Operator) -> Operator:
        OPERATORS[kind][name] = fn
        return fn
    return register


# ---- value: numbers, enums, booleans ----------------------------------------------------------

# Attributes (and texts) libvirt reads as numbers, each with values out of its range.
NUMBERS: dict[tuple[str, str], list[str]] = {
    ("address:pci", "domain"): ["0x0001", "0x10000"],
    ("address:pci", "bus"): ["0x100", "0xfe"],
    ("address:pci", "slot"): ["0x20", "0x100"],
    ("address:pci", "function"): ["0x8", "0x10"],
    ("address:drive", "controller"): ["99"],
    ("address:drive", "bus"): ["9"],
    ("address:drive", "target"): ["9"],
    ("address:drive", "unit"): ["7", "99"],
    ("address:usb", "bus"): ["9"],
    ("address:usb", "port"): ["99", "0"],
    ("address:virtio-serial", "controller"): ["9"],
    ("address:virtio-serial", "bus"): ["9"],
    ("address:virtio-serial", "port"): ["99", "0"],
    ("address:ccw", "cssid"): ["0x100", "0xfd"],
    ("address:ccw", "ssid"): ["0x4"],
    ("address:ccw", "devno"): ["0x10000"],
    ("address:spapr-vio", "reg"): ["0x1", "0x100000000"],
    ("address:dimm", "slot"): ["99"],
    ("controller", "index"): ["256", "99999"],
    ("controller", "ports"): ["0", "99"],
    ("controller", "vectors"): ["0", "9999"],
    ("master", "startport"): ["99"],
    ("target", "port"): ["999"],
    ("target", "chassis"): ["256"],
    ("target", "chassisNr"): ["0", "256"],
    ("target", "index"): ["31"],
    ("target", "busNr"): ["0", "255"],
    ("boot", "order"): ["0"],
    ("domain/vcpu", "#text"): ["0", "9999"],
    ("domain/vcpu", "current"): ["0", "9999"],
    ("domain/memory", "#text"): ["0"],
    ("domain/currentMemory", "#text"): ["0", "99999999999"],
    ("maxMemory", "slots"): ["0", "999"],
    ("domain/iothreads", "#text"): ["0", "99999"],
    ("topology", "sockets"): ["0", "99"],
    ("topology", "dies"): ["0", "99"],
    ("topology", "cores"): ["0", "99"],
    ("topology", "threads"): ["0", "99"],
    ("cell", "id"): ["99"],
    ("cell", "memory"): ["0"],
    ("video/model", "heads"): ["0", "99"],
    ("video/model", "vram"): ["1"],
    ("video/model", "ram"): ["1"],
    ("driver", "queues"): ["0", "9999"],
    ("driver", "iothread"): ["0", "99"],
    ("driver", "rx_queue_size"): ["100", "2048"],
    ("driver", "tx_queue_size"): ["100"],
    ("mtu", "size"): ["0", "99999"],
    ("cid", "address"): ["0", "1", "2"],
    ("rate", "bytes"): ["0"],
    ("rate", "period"): ["0"],
    ("target/size", "#text"): ["0"],
    ("target/node", "#text"): ["99"],
    ("vcpupin", "vcpu"): ["99"],
    ("iothreadpin", "iothread"): ["99"],
    ("memnode", "cellid"): ["99"],
    ("bootmenu", "timeout"): ["99999"],
    ("audio", "id"): ["0"],
}

# Spellings of a number libvirt's virStrToLong_* refuse, or read otherwise than Python would.
BAD_NUMBERS: dict[str, str] = {
    "garbage": "abc",
    "underscore": "0x0_5",
    "plus": "+5",
    "non-ascii-digit": "\u0665",  # ARABIC-INDIC DIGIT FIVE
    "fullwidth-digit": "\uff15",
    "negative": "-1",
    "empty": "",
    "fraction": "1.5",
    "trailing-garbage": "5abc",
    "leading-space": " 5",
    "hex-prefix-only": "0x",
    "overflow-32": "4294967296",
    "overflow-64": "18446744073709551616",
    "exponent": "1e3",
    "python-octal": "0o7",
}


@operator("value", "number-out-of-range")
def _number_out_of_range(rng: random.Random, g: Guest) -> str | None:
    sites = _attr_sites(g, NUMBERS)
    if not sites:
        return None
    el, attr, values = rng.choice(sites)
    old, new = _get(el, attr), rng.choice(values)
    if old == new:
        return None
    _put(el, attr, new)
    return f"{g.where(el)}@{attr}: {old!r} -> {new!r}"


@operator("value", "number-spelling")
def _number_spelling(rng: random.Random, g: Guest) -> str | None:
    sites = _attr_sites(g, NUMBERS)
    if not sites:
        return None
    el, attr, _ = rng.choice(sites)
    label = rng.choice(sorted(BAD_NUMBERS))
    old = _get(el, attr)
    new = BAD_NUMBERS[label]
    if label == "negative" and old.startswith("0x"):
        new = "-0x1"
    _put(el, attr, new)
    return f"{g.where(el)}@{attr}: {old!r} -> {new!r} ({label})"


# Attributes libvirt reads as enums (virXMLPropEnum, *TypeFromString); the values are libvirt's
# own, for near misses and cross-overs.
ENUMS: dict[tuple[str, str], list[str]] = {
    ("devices/disk", "type"): ["file", "block", "dir", "network", "volume", "nvme", "vhostuser"],
    ("devices/disk", "device"): ["disk", "cdrom", "floppy", "lun"],
    ("disk/target", "bus"): ["ide", "fdc", "scsi", "virtio", "xen", "usb", "uml", "sata", "sd"],
    ("disk/driver", "type"): ["raw", "qcow2", "qed", "vmdk", "vdi"],
    ("disk/driver", "cache"): ["default", "none", "writethrough", "writeback", "directsync",
                               "unsafe"],
    ("disk/driver", "io"): ["native", "threads", "io_uring"],
    ("disk/driver", "discard"): ["unmap", "ignore"],
    ("devices/controller", "type"): ["ide", "fdc", "scsi", "sata", "virtio-serial", "ccid",
                                     "usb", "pci", "xenbus", "isa"],
    ("devices/controller", "model"): ["piix3-uhci", "qemu-xhci", "virtio-scsi", "lsilogic",
                                      "pcie-root-port", "pci-bridge", "ich9-ehci1"],
    ("devices/interface", "type"): ["user", "network", "bridge", "direct", "ethernet",
                                    "hostdev", "vhostuser"],
    ("interface/model", "type"): ["virtio", "e1000", "e1000e", "rtl8139", "spapr-vlan"],
    ("video/model", "type"): ["vga", "cirrus", "vmvga", "qxl", "virtio", "bochs", "ramfb",
                              "none"],
    ("devices/input", "type"): ["mouse", "tablet", "keyboard", "passthrough", "evdev"],
    ("devices/input", "bus"): ["ps2", "usb", "xen", "virtio"],
    ("devices/graphics", "type"): ["sdl", "vnc", "rdp", "desktop", "spice", "egl-headless"],
    ("devices/sound", "model"): ["sb16", "es1370", "pcspk", "ac97", "ich6", "ich9", "usb"],
    ("devices/memballoon", "model"): ["virtio", "xen", "none"],
    ("devices/watchdog", "model"): ["i6300esb", "ib700", "diag288"],
    ("devices/watchdog", "action"): ["reset", "shutdown", "poweroff", "pause", "none", "dump",
                                     "inject-nmi"],
    ("devices/rng", "model"): ["virtio", "virtio-transitional"],
    ("rng/backend", "model"): ["random", "egd", "builtin"],
    ("devices/tpm", "model"): ["tpm-tis", "tpm-crb", "tpm-spapr", "spapr-tpm-proxy"],
    ("tpm/backend", "type"): ["passthrough", "emulator"],
    ("tpm/backend", "version"): ["1.2", "2.0"],
    ("channel/target", "type"): ["guestfwd", "virtio", "xen"],
    ("serial/target", "type"): ["isa-serial", "usb-serial", "pci-serial", "spapr-vio-serial",
                                "system-serial", "sclp-serial"],
    ("console/target", "type"): ["serial", "xen", "uml", "virtio", "lxc", "openvz", "sclp",
                                 "sclplm"],
    ("os/type", "arch"): ["x86_64", "aarch64", "ppc64", "s390x", "riscv64"],
    ("os/type", "#text"): ["hvm", "xen", "linux", "exe"],
    ("domain/on_poweroff", "#text"): ["destroy", "restart", "preserve", "rename-restart"],
    ("domain/on_reboot", "#text"): ["destroy", "restart", "preserve", "rename-restart"],
    ("domain/on_crash", "#text"): ["destroy", "restart", "preserve", "coredump-destroy",
                                   "coredump-restart"],
    ("domain/clock", "offset"): ["utc", "localtime", "timezone", "variable", "absolute"],
    ("timer", "name"): ["platform", "pit", "rtc", "hpet", "tsc", "kvmclock", "hypervclock"],
    ("timer", "tickpolicy"): ["delay", "catchup", "merge", "discard"],
    ("domain/cpu", "mode"): ["custom", "host-model", "host-passthrough", "maximum"],
    ("domain/cpu", "match"): ["minimum", "exact", "strict"],
    ("domain/cpu", "check"): ["none", "partial", "full"],
    ("devices/redirdev", "bus"): ["usb"],
    ("devices/hostdev", "mode"): ["subsystem", "capabilities"],
    ("devices/hostdev", "type"): ["usb", "pci", "scsi", "scsi_host", "mdev"],
    ("devices/memory", "model"): ["dimm", "nvdimm", "virtio-pmem", "virtio-mem", "sgx-epc"],
    ("devices/vsock", "model"): ["virtio", "virtio-transitional"],
    ("devices/panic", "model"): ["isa", "pseries", "hyperv", "s390"],
    ("devices/hub", "type"): ["usb"],
    ("devices/audio", "type"): ["none", "alsa", "pulseaudio", "spice", "file"],
    ("address", "type"): ["pci", "drive", "virtio-serial", "ccid", "usb", "spapr-vio", "ccw",
                          "virtio-mmio", "isa", "dimm", "unassigned"],
    ("domain/memory", "unit"): ["b", "KiB", "MiB", "GiB"],
    ("domain/vcpu", "placement"): ["static", "auto"],
    ("os", "boot/dev"): ["hd", "cdrom", "fd", "network"],
    ("boot", "dev"): ["hd", "cdrom", "fd", "network"],
    ("numatune/memory", "mode"): ["strict", "preferred", "interleave", "restrictive"],
    ("listen", "type"): ["address", "network", "socket", "none"],
}


@operator("value", "bad-enum")
def _bad_enum(rng: random.Random, g: Guest) -> str | None:
    sites = _attr_sites(g, ENUMS)
    if not sites:
        return None
    el, attr, _ = rng.choice(sites)
    old = _get(el, attr)
    style = rng.choice(("bogus", "upper", "suffix", "space", "empty"))
    new = {"bogus": "bogus", "upper": old.upper() if old != old.upper() else old.title(),
           "suffix": old + "x", "space": f" {old}", "empty": ""}[style]
    if new == old:
        return None
    _put(el, attr, new)
    return f"{g.where(el)}@{attr}: {old!r} -> {new!r} ({style})"


@operator("value", "other-enum-value")
def _other_enum_value(rng: random.Random, g: Guest) -> str | None:
    """Another value of the same enum: valid to the parser, maybe not to the validators."""
    sites = [s for s in _attr_sites(g, ENUMS) if s[1] != "#text" or s[0].tag != "type"]
    if not sites:
        return None
    el, attr, values = rng.choice(sites)
    old = _get(el, attr)
    choices = [v for v in values if v != old]
    if not choices:
        return None
    new = rng.choice(choices)
    _put(el, attr, new)
    return f"{g.where(el)}@{attr}: {old!r} -> {new!r}"


# (tag, attribute) -> the attribute's family: "onoff" (virTristateSwitch) or "yesno"
BOOLEANS: dict[tuple[str, str], list[str]] = {
    ("address:pci", "multifunction"): ["onoff"],
    ("controller/target", "hotplug"): ["onoff"],
    ("devices/graphics", "autoport"): ["yesno"],
    ("video/model", "primary"): ["yesno"],
    ("devices/hostdev", "managed"): ["yesno"],
    ("devices/interface", "managed"): ["yesno"],
    ("devices/memballoon", "autodeflate"): ["onoff"],
    ("vsock/cid", "auto"): ["yesno"],
    ("os/bootmenu", "enable"): ["yesno"],
    ("pm/suspend-to-mem", "enabled"): ["yesno"],
    ("pm/suspend-to-disk", "enabled"): ["yesno"],
    ("timer", "present"): ["yesno"],
    ("vmport", "state"): ["onoff"],
}
BAD_BOOLEANS = ("maybe", "true", "1", "YES", "On", "enabled", "")


@operator("value", "bad-boolean")
def _bad_boolean(rng: random.Random, g: Guest) -> str | None:
    sites = _attr_sites(g, BOOLEANS)
    if not sites:
        pci = [a for a in g.root.iter("address") if a.get("type") == "pci"]
        if not pci:
            return None
        addr = rng.choice(pci)
        new = rng.choice(("maybe", "yes", "true", "1"))
        addr.set("multifunction", new)
        return f"{g.where(addr)}@multifunction: added {new!r}"
    el, attr, (family,) = rng.choice(sites)
    old = _get(el, attr)
    crossed = {"onoff": ("yes", "no"), "yesno": ("on", "off")}[family]
    new = rng.choice((*BAD_BOOLEANS, *crossed))
    if new == old:
        return None
    _put(el, attr, new)
    return f"{g.where(el)}@{attr}: {old!r} -> {new!r}"


# ---- value, drawn from the parse-time table ------------------------------------------------------
#
# augmenter/data/parse_rules.json says which attributes, texts and element names libvirt's parser
# reads as an enum, a boolean, a number or a size, and where. These operators find the places a
# base guest holds (or could hold) one and write a wrong value there, so that the differential
# test tries the whole table, not only the handful of attributes listed above. The table decides
# where to look; libvirt alone decides what is wrong.

TABLE_OPERATORS: dict[str, Operator] = {}


def table_operator(name: str) -> Callable[[Operator], Operator]:
    def register(fn: Operator) -> Operator:
        TABLE_OPERATORS[name] = fn
        return fn
    return register


BOOLEAN_ENUMS = {"virTristateBool": ("yes", "no"), "virTristateSwitch": ("on", "off"),
                 "yesno": ("yes", "no")}


@functools.cache
def _every_enum_value() -> tuple[str, ...]:
    """Every value of every enum of the table: what a cross-over mistake draws from."""
    from augmenter.policy.parse_rules import table
    return tuple(sorted({v for r in table().rules if r.kind == "enum" for v in r.values}))


def _sites(g: Guest, kinds: tuple[str, ...], present: bool = True) -> list[tuple[Element, Rule]]:
    """(element, rule) for each rule of ``kinds`` that holds where it stands in the guest, its
    value written (``present``) or not."""
    from augmenter.checks.values import applicable
    out = []
    for rule, el, _ in applicable(g.root):
        if rule.kind not in kinds:
            continue
        if rule.attr == "#name":
            written = True
        elif rule.attr == "#text":
            written = bool((el.text or "").strip()) and len(el) == 0
        else:
            written = el.get(rule.attr) is not None
        if written == present:
            out.append((el, rule))
    return out


def _write(g: Guest, el: Element, rule: Rule, new: str, label: str) -> str:
    attr = rule.attr
    if attr == "#name":
        old = str(el.tag)
        el.tag = new
        return f"{g.where(el)}: element <{old}> -> <{new}> ({label})"
    old = (el.text or "") if attr == "#text" else el.get(attr)
    where = g.where(el)
    _put(el, attr, new)
    return f"{where}@{attr}: {old!r} -> {new!r} ({label})"


def _wrong_enum(rng: random.Random, rule: Rule, old: str) -> tuple[str, str]:
    if rule.enum in BOOLEAN_ENUMS:
        own = BOOLEAN_ENUMS[rule.enum]
        other = BOOLEAN_ENUMS["virTristateSwitch" if own[0] == "yes" else "virTristateBool"]
        label = rng.choice(("crossed", "true", "one", "default", "upper"))
        return {"crossed": rng.choice(other), "true": "true", "one": "1",
                "default": "default", "upper": old.upper() or "YES"}[label], label
    label = rng.choice(("upper", "suffix", "other-enum", "bogus", "space"))
    foreign = [v for v in _every_enum_value() if v not in rule.values and v]
    new = {"upper": old.upper() if old != old.upper() else old.title(), "suffix": old + "x",
           "other-enum": rng.choice(foreign), "bogus": "bogus", "space": f"{old} "}[label]
    return new, label


# Readers that take "-N" as 2**32 - N (virStrToLong_ui, _ul, _ull): libvirt then believes the
# huge number, and for <vcpu> it allocates that many vCPUs and aborts (libvirtd 9.0 dies on
# "<vcpu>-1</vcpu>"). No mutation writes a minus where one of them reads: the daemon is shared.
WRAPPING = {"ui", "ul", "ull"}


def _wrong_number(rng: random.Random, rule: Rule, old: str) -> tuple[str, str]:
    label = rng.choice(("spelling", "spelling", "too-high", "too-low", "zero"))
    if label == "too-high" and rule.high is not None:
        return str(rule.high + 1), label
    if label == "too-low" and rule.low is not None and rule.reader not in WRAPPING:
        return str(rule.low - 1), label
    if label == "zero" and rule.nonzero:
        return "0", label
    spellings = [k for k, v in BAD_NUMBERS.items()
                 if not (rule.reader in WRAPPING and v.startswith("-"))]
    spelling = rng.choice(sorted(spellings))
    return BAD_NUMBERS[spelling], spelling


def _wrong_size(rng: random.Random, rule: Rule, el: Element) -> tuple[str, str, str | None]:
    """(count, label, unit): a count libvirt cannot read, or a unit it does not know, or a
    size too large for it."""
    label = rng.choice(("unit", "count", "overflow"))
    if label == "unit" and rule.unit:
        return el.text or "1" if rule.attr == "#text" else str(el.get(rule.attr)), label, \
            rng.choice(("MiBs", "mb ", "KiBi", "k1", "bogus"))
    if label == "overflow" and rule.unit:
        return rng.choice(("16", "9999999")), label, "EiB"
    return rng.choice(("1.5", "-1", "0x10", "1e6", "64M", "99999999999999999999")), "count", None


@table_operator("table-enum")
def _table_enum(rng: random.Random, g: Guest) -> str | None:
    sites = [(el, r) for el, r in _sites(g, ("enum",)) if r.enum not in BOOLEAN_ENUMS]
    if not sites:
        return None
    el, rule = rng.choice(sites)
    old = str(el.tag) if rule.attr == "#name" else _get(el, rule.attr)
    new, label = _wrong_enum(rng, rule, old)
    if new == old or new in rule.values or (rule.attr == "#name" and not new.strip()):
        return None
    if rule.attr == "#name" and not re.fullmatch(r"[A-Za-z_][\w.-]*", new):
        return None
    return _write(g, el, rule, new, label)


@table_operator("table-boolean")
def _table_boolean(rng: random.Random, g: Guest) -> str | None:
    sites = [(el, r) for el, r in _sites(g, ("enum",)) if r.enum in BOOLEAN_ENUMS]
    if not sites:
        return None
    el, rule = rng.choice(sites)
    old = _get(el, rule.attr)
    new, label = _wrong_enum(rng, rule, old)
    if new == old or new in rule.values:
        return None
    return _write(g, el, rule, new, label)


@table_operator("table-number")
def _table_number(rng: random.Random, g: Guest) -> str | None:
    sites = _sites(g, ("number",))
    if not sites:
        return None
    el, rule = rng.choice(sites)
    old = _get(el, rule.attr)
    new, label = _wrong_number(rng, rule, old)
    if new == old:
        return None
    return _write(g, el, rule, new, label)


@table_operator("table-size")
def _table_size(rng: random.Random, g: Guest) -> str | None:
    sites = _sites(g, ("scaled",))
    if not sites:
        return None
    el, rule = rng.choice(sites)
    count, label, unit = _wrong_size(rng, rule, el)
    if unit is not None and rule.unit:
        old = el.get(rule.unit)
        el.set(rule.unit, unit)
        _put(el, rule.attr, count.strip())
        return f"{g.where(el)}@{rule.unit}: {old!r} -> {unit!r} ({label})"
    return _write(g, el, rule, count, label)


@table_operator("table-added")
def _table_added(rng: random.Random, g: Guest) -> str | None:
    """A wrong value for an attribute the guest does not write, on an element it has."""
    sites = [(el, r) for el, r in _sites(g, ("enum", "number"), present=False)
             if not r.attr.startswith("#")]
    if not sites:
        return None
    el, rule = rng.choice(sites)
    if rule.kind == "enum":
        new, label = _wrong_enum(rng, rule, rule.values[0] if rule.values else "x")
        if new in rule.values:
            return None
    else:
        new, label = _wrong_number(rng, rule, "")
    el.set(rule.attr, new)
    return f"{g.where(el)}@{rule.attr}: added {new!r} ({label})"


# ---- duplicate --------------------------------------------------------------------------------


@operator("duplicate", "device")
def _duplicate_device(rng: random.Random, g: Guest) -> str | None:
    devs = g.device_list()
    if not devs:
        return None
    dev = rng.choice(devs)
    twin = copy.deepcopy(dev)
    dev.addnext(twin)
    return f"{g.where(dev)} written twice"


@operator("duplicate", "controller-index")
def _duplicate_controller_index(rng: random.Random, g: Guest) -> str | None:
    ctrls = [c for c in g.device_list("controller") if c.get("index") is not None]
    by_type: dict[str, list[Element]] = {}
    for c in ctrls:
        by_type.setdefault(str(c.get("type")), []).append(c)
    pairs = [v for v in by_type.values() if len(v) >= 2
             and len({c.get("index") for c in v}) >= 2]
    if pairs:
        group = rng.choice(pairs)
        a, b = rng.sample(group, 2)
        if a.get("index") == b.get("index"):
            return None
        old = b.get("index")
        b.set("index", str(a.get("index")))
        return f"{g.where(b)}@index: {old} -> {a.get('index')} (as {g.where(a)})"
    if not ctrls:
        return None
    a = rng.choice(ctrls)
    twin = copy.deepcopy(a)
    for child in twin.findall("address"):
        twin.remove(child)
    a.addnext(twin)
    return f"{g.where(a)} copied without its address (same type and index)"


@operator("duplicate", "disk-target")
def _duplicate_disk_target(rng: random.Random, g: Guest) -> str | None:
    disks = g.disks()
    if len(disks) < 2:
        return None
    a, b = rng.sample(disks, 2)
    ta, tb = a.find("target"), b.find("target")
    assert ta is not None and tb is not None
    old = tb.get("dev")
    tb.set("dev", str(ta.get("dev")))
    return f"{g.where(tb)}@dev: {old} -> {ta.get('dev')} (as {g.where(ta)})"


def _copy_address(rng: random.Random, g: Guest, kind: str) -> str | None:
    """A second device gets the written address of a first, of the same type."""
    have = g.with_address(kind)
    if not have:
        return None
    src = rng.choice(have)
    src_addr = src.find("address")
    assert src_addr is not None
    same_kind = [d for d in have if d is not src]
    peers = [d for d in g.device_list(str(src.tag)) if d is not src and d not in same_kind]
    if kind == "pci":
        peers = [d for d in g.pci_devices() if d is not src and d not in same_kind]
    candidates = same_kind or peers
    if not candidates:
        return None
    dst = rng.choice(candidates)
    _set_address(dst, _text(src_addr))
    return f"{g.where(dst)} given the address of {g.where(src)}: {_text(src_addr)}"


for _kind in ("pci", "drive", "usb", "virtio-serial", "ccw", "spapr-vio", "dimm"):
    operator("duplicate", f"address-{_kind}")(
        functools.partial(_copy_address, kind=_kind))


@operator("duplicate", "mac")
def _duplicate_mac(rng: random.Random, g: Guest) -> str | None:
    macs = [n.find("mac") for n in g.device_list("interface")]
    macs = [m for m in macs if m is not None]
    if len(macs) < 2:
        return None
    a, b = rng.sample(macs, 2)
    old = b.get("address")
    b.set("address", str(a.get("address")))
    return f"{g.where(b)}@address: {old} -> {a.get('address')}"


@operator("duplicate", "alias")
def _duplicate_alias(rng: random.Random, g: Guest) -> str | None:
    devs = [d for d in g.device_list() if d.tag not in ("graphics", "audio")]
    if len(devs) < 2:
        return None
    a, b = rng.sample(devs, 2)
    name = "ua-twin"
    for dev in (a, b):
        for old in dev.findall("alias"):
            dev.remove(old)
        dev.append(_new(f"<alias name='{name}'/>"))
    return f"{g.where(a)} and {g.where(b)} both aliased {name!r}"


@operator("duplicate", "child-element")
def _duplicate_child(rng: random.Random, g: Guest) -> str | None:
    """A child libvirt reads once (its XPath takes the first): a second one, different."""
    devs = [d for d in g.device_list() if any(isinstance(c.tag, str) for c in d)]
    if not devs:
        return None
    dev = rng.choice(devs)
    children = [c for c in dev if isinstance(c.tag, str)]
    child = rng.choice(children)
    twin = copy.deepcopy(child)
    child.addnext(twin)
    return f"{g.where(child)} written twice"


@operator("duplicate", "top-level-element")
def _duplicate_top(rng: random.Random, g: Guest) -> str | None:
    tops = [el for el in g.root if isinstance(el.tag, str)
            and el.tag in ("memory", "currentMemory", "vcpu", "os", "cpu", "features", "clock",
                           "on_poweroff", "on_reboot", "on_crash", "iothreads", "devices",
                           "maxMemory", "cputune", "numatune", "pm", "description")]
    if not tops:
        return None
    el = rng.choice(tops)
    twin = copy.deepcopy(el)
    el.addnext(twin)
    return f"{g.where(el)} written twice"


@operator("duplicate", "boot-order")
def _duplicate_boot_order(rng: random.Random, g: Guest) -> str | None:
    bootable = g.device_list("disk", "interface", "hostdev", "redirdev")
    if len(bootable) < 2:
        return None
    if g.root.find("os/boot") is not None:
        return None
    a, b = rng.sample(bootable, 2)
    for dev in (a, b):
        for old in dev.findall("boot"):
            dev.remove(old)
        dev.append(_new("<boot order='1'/>"))
    return f"{g.where(a)} and {g.where(b)} both <boot order='1'>"


@operator("duplicate", "numa-cell-id")
def _duplicate_cell(rng: random.Random, g: Guest) -> str | None:
    cells = g.root.findall("cpu/numa/cell")
    if len(cells) < 2:
        numa = g.root.find("cpu/numa")
        if numa is None or not cells:
            return None
        twin = copy.deepcopy(cells[0])
        cells[0].addnext(twin)
        return f"{g.where(cells[0])} written twice"
    a, b = rng.sample(cells, 2)
    old = b.get("id")
    b.set("id", str(a.get("id")))
    return f"{g.where(b)}@id: {old} -> {a.get('id')}"


@operator("duplicate", "serial-port")
def _duplicate_serial_port(rng: random.Random, g: Guest) -> str | None:
    serials = g.device_list("serial", "parallel")
    if not serials:
        return None
    a = rng.choice(serials)
    twin = copy.deepcopy(a)
    target = twin.find("target")
    if target is None:
        target = _new("<target port='0'/>")
        twin.append(target)
        a_target = _new("<target port='0'/>")
        a.append(a_target)
    a.addnext(twin)
    return f"{g.where(a)} copied with the same target port"


# ---- remove -----------------------------------------------------------------------------------

# Attributes libvirt's parser requires, or that decide what a device is.
REQUIRED_ATTRIBUTES: dict[tuple[str, str], list[str]] = {
    ("disk/target", "dev"): [], ("disk/target", "bus"): [], ("devices/disk", "device"): [],
    ("devices/disk", "type"): [], ("disk/source", "file"): [],
    ("devices/controller", "type"): [], ("devices/controller", "index"): [],
    ("devices/controller", "model"): [],
    ("address", "type"): [], ("address:pci", "slot"): [], ("address:pci", "bus"): [],
    ("address:pci", "domain"): [], ("address:pci", "function"): [],
    ("address:drive", "unit"): [], ("address:drive", "controller"): [],
    ("address:usb", "port"): [], ("address:usb", "bus"): [],
    ("address:virtio-serial", "port"): [], ("address:ccw", "devno"): [],
    ("address:ccw", "cssid"): [], ("address:spapr-vio", "reg"): [],
    ("address:dimm", "slot"): [],
    ("interface/mac", "address"): [], ("interface/model", "type"): [],
    ("interface/source", "network"): [], ("interface/source", "bridge"): [],
    ("devices/interface", "type"): [],
    ("video/model", "type"): [], ("devices/graphics", "type"): [],
    ("devices/input", "type"): [], ("devices/input", "bus"): [],
    ("devices/sound", "model"): [], ("devices/memballoon", "model"): [],
    ("devices/watchdog", "model"): [], ("devices/watchdog", "action"): [],
    ("devices/rng", "model"): [], ("rng/backend", "model"): [],
    ("devices/tpm", "model"): [], ("tpm/backend", "type"): [],
    ("channel/target", "type"): [], ("channel/target", "name"): [],
    ("console/target", "type"): [], ("serial/target", "port"): [],
    ("cell", "id"): [], ("cell", "cpus"): [], ("cell", "memory"): [],
    ("topology", "sockets"): [], ("topology", "cores"): [], ("topology", "threads"): [],
    ("os/type", "arch"): [], ("os/type", "machine"): [],
    ("cid", "address"): [], ("devices/hostdev", "type"): [], ("adapter", "name"): [],
    ("alias", "name"): [], ("boot", "order"): [], ("boot", "dev"): [],
    ("devices/memory", "model"): [], ("maxMemory", "slots"): [],
    ("vcpupin", "vcpu"): [], ("vcpupin", "cpuset"): [], ("memnode", "cellid"): [],
    ("iothreadpin", "iothread"): [], ("timer", "name"): [], ("hub", "type"): [],
    ("devices/redirdev", "bus"): [], ("devices/redirdev", "type"): [],
    ("devices/panic", "model"): [], ("devices/audio", "id"): [],
    ("devices/audio", "type"): [], ("devices/serial", "type"): [],
    ("devices/console", "type"): [], ("devices/channel", "type"): [],
}
REQUIRED_ELEMENTS = (
    "disk/target", "disk/source", "disk/driver", "os/type", "domain/memory", "domain/vcpu",
    "video/model", "rng/backend", "tpm/backend", "interface/mac", "interface/model",
    "interface/source", "cpu/numa", "numa/cell", "memory/target", "target/size", "target/node",
    "hostdev/source", "source/adapter", "source/address", "devices/emulator", "cpu/topology",
    "channel/target", "controller/target", "controller/model", "domain/os", "domain/devices",
    "cpu/model", "vsock/cid", "serial/target", "console/target", "controller/master",
)


@operator("remove", "required-attribute")
def _remove_required_attribute(rng: random.Random, g: Guest) -> str | None:
    sites = _attr_sites(g, REQUIRED_ATTRIBUTES)
    if not sites:
        return None
    el, attr, _ = rng.choice(sites)
    old = el.get(attr)
    del el.attrib[attr]
    return f"{g.where(el)}@{attr}={old!r} removed"


def _element_sites(g: Guest, paths: tuple[str, ...]) -> list[Element]:
    out = []
    for el in g.all_elements():
        parent = el.getparent()
        if parent is not None and isinstance(parent.tag, str) and f"{parent.tag}/{el.tag}" in paths:
            out.append(el)
    return out


@operator("remove", "required-element")
def _remove_required_element(rng: random.Random, g: Guest) -> str | None:
    sites = _element_sites(g, REQUIRED_ELEMENTS)
    if not sites:
        return None
    el = rng.choice(sites)
    where = g.where(el)
    parent = el.getparent()
    assert parent is not None
    parent.remove(el)
    return f"{where} removed"


@operator("remove", "any-attribute")
def _remove_any_attribute(rng: random.Random, g: Guest) -> str | None:
    sites = [(el, a) for el in g.all_elements() for a in el.attrib]
    if not sites:
        return None
    el, attr = rng.choice(sites)
    old = el.get(attr)
    del el.attrib[attr]
    return f"{g.where(el)}@{attr}={old!r} removed"


@operator("remove", "any-element")
def _remove_any_element(rng: random.Random, g: Guest) -> str | None:
    sites = [el for el in g.all_elements() if el.tag != "devices"]
    if not sites:
        return None
    el = rng.choice(sites)
    where = g.where(el)
    parent = el.getparent()
    assert parent is not None
    parent.remove(el)
    return f"{where} removed"


@operator("remove", "device-address-field")
def _remove_address_field(rng: random.Random, g: Guest) -> str | None:
    addrs = [a for a in g.root.iter("address") if a.getparent() is not None
             and a.getparent().getparent() is g.devices and len(a.attrib) > 1]
    if not addrs:
        return None
    addr = rng.choice(addrs)
    attr = rng.choice([a for a in addr.attrib if a != "type"])
    old = addr.get(attr)
    del addr.attrib[attr]
    return f"{g.where(addr)}@{attr}={old!r} removed"


# ---- misspell ---------------------------------------------------------------------------------

KNOWN_TYPOS = {
    "address": ["adress", "addres", "adddress", "Address"],
    "interface": ["interfce", "inteface", "Interface"],
    "target": ["traget", "taget", "targt"],
    "controller": ["controler", "contoller"],
    "source": ["sorce", "souce"],
    "model": ["modle", "mdoel", "modell"],
    "driver": ["drvier", "drive"],
    "slot": ["slott", "solt", "Slot"],
    "bus": ["buss", "bsu"],
    "function": ["fucntion", "funtion"],
    "unit": ["unti", "units"],
    "port": ["prot", "ports"],
    "index": ["idx", "indx"],
    "type": ["typ", "tpye", "Type"],
    "dev": ["dve", "device"],
    "multifunction": ["multifuntion", "multi-function"],
}


def _typo(rng: random.Random, name: str) -> str:
    """A plausible misspelling of ``name`` that is not ``name``."""
    if name in KNOWN_TYPOS and rng.random() < 0.5:
        return rng.choice(KNOWN_TYPOS[name])
    for _ in range(10):
        how = rng.choice(("drop", "double", "swap", "case"))
        i = rng.randrange(len(name))
        if how == "drop" and len(name) > 2:
            out = name[:i] + name[i + 1:]
        elif how == "double":
            out = name[:i] + name[i] + name[i:]
        elif how == "swap" and len(name) > 1:
            i = min(i, len(name) - 2)
            out = name[:i] + name[i + 1] + name[i] + name[i + 2:]
        else:
            out = name[:i] + name[i].swapcase() + name[i + 1:]
        if out != name and out.replace("-", "").replace("_", "").isalnum():
            return out
    return name + "x"


@operator("misspell", "element")
def _misspell_element(rng: random.Random, g: Guest) -> str | None:
    sites = [el for el in g.all_elements() if "}" not in str(el.tag)]
    if not sites:
        return None
    # addresses and targets are what people write by hand most: twice the weight
    sites += [el for el in sites if el.tag in ("address", "target", "model", "source")]
    el = rng.choice(sites)
    old = str(el.tag)
    el.tag = _typo(rng, old)
    return f"{g.where(el)}: <{old}> spelt <{el.tag}>"


@operator("misspell", "attribute")
def _misspell_attribute(rng: random.Random, g: Guest) -> str | None:
    sites = [(el, a) for el in g.all_elements() for a in el.attrib if "}" not in a]
    if not sites:
        return None
    sites += [(el, a) for el, a in sites if el.tag == "address"]
    el, attr = rng.choice(sites)
    new = _typo(rng, attr)
    if new in el.attrib:
        return None
    value = el.get(attr)
    # keep the attribute's place among the others (the misspelling is in place)
    items = [(new if k == attr else k, v) for k, v in el.attrib.items()]
    el.attrib.clear()
    for k, v in items:
        el.set(k, v)
    return f"{g.where(el)}@{attr}={value!r} spelt {new!r}"


# ---- clash ------------------------------------------------------------------------------------


def _free_pci_slot(rng: random.Random, g: Guest) -> int:
    used = set()
    for a in g.root.iter("address"):
        if a.get("type") == "pci" and a.get("bus", "0") in ("0", "0x00", "0x0"):
            with contextlib.suppress(ValueError):
                used.add(int(a.get("slot", "0"), 0))
    first = 1 if g.q35 else 3
    free = [s for s in range(first, 0x1F) if s not in used]
    return rng.choice(free) if free else 0x1E


@operator("clash", "pci")
def _clash_pci(rng: random.Random, g: Guest) -> str | None:
    devs = [d for d in g.pci_devices() if d.tag != "controller" or d.get("type") != "pci"]
    if len(devs) < 2:
        return None
    a, b = rng.sample(devs, 2)
    slot = _free_pci_slot(rng, g)
    snippet = (f"<address type='pci' domain='0x0000' bus='0x00' slot='0x{slot:02x}' "
               "function='0x0'/>")
    _set_address(a, snippet)
    _set_address(b, snippet)
    return f"{g.where(a)} and {g.where(b)} both at {snippet}"


@operator("clash", "pci-builtin")
def _clash_pci_builtin(rng: random.Random, g: Guest) -> str | None:
    """A device on a slot the board keeps: the host bridge, PIIX3, the ICH9 LPC/SATA/SMBus."""
    if not g.x86:
        return None
    devs = g.pci_devices()
    if not devs:
        return None
    slot, fn = rng.choice([(0, 0), (0x1F, 0), (0x1F, 2), (0x1F, 3)] if g.q35
                          else [(0, 0), (1, 0), (1, 1), (1, 3)])
    dev = rng.choice(devs)
    snippet = (f"<address type='pci' domain='0x0000' bus='0x00' slot='0x{slot:02x}' "
               f"function='0x{fn:x}'/>")
    _set_address(dev, snippet)
    return f"{g.where(dev)} at the board's {snippet}"


_DRIVE_BUSES = ("ide", "sata", "scsi", "fdc")


@operator("clash", "drive")
def _clash_drive(rng: random.Random, g: Guest) -> str | None:
    groups = [g.disks(bus) for bus in _DRIVE_BUSES]
    groups = [d for d in groups if len(d) >= 2]
    if not groups:
        return None
    a, b = rng.sample(rng.choice(groups), 2)
    unit = rng.choice((0, 1))
    snippet = f"<address type='drive' controller='0' bus='0' target='0' unit='{unit}'/>"
    _set_address(a, snippet)
    _set_address(b, snippet)
    return f"{g.where(a)} and {g.where(b)} both at {snippet}"


@operator("clash", "disk-and-scsi-hostdev")
def _clash_disk_hostdev(rng: random.Random, g: Guest) -> str | None:
    disks = g.disks("scsi")
    if not disks:
        return None
    disk = rng.choice(disks)
    addr = disk.find("address")
    snippet = (_text(addr) if addr is not None and addr.get("type") == "drive"
               else "<address type='drive' controller='0' bus='0' target='0' unit='0'/>")
    if addr is None:
        _set_address(disk, snippet)
    hostdevs = [h for h in g.device_list("hostdev") if h.get("type") == "scsi"]
    if hostdevs:
        host = rng.choice(hostdevs)
        _set_address(host, snippet)
        return f"{g.where(host)} moved onto {g.where(disk)}'s {snippet}"
    host = _new("<hostdev mode='subsystem' type='scsi' managed='no'>"
                "<source><adapter name='scsi_host7'/><address bus='0' target='0' unit='0'/>"
                f"</source>{snippet}</hostdev>")
    disk.addnext(host)
    return f"a SCSI hostdev added on {g.where(disk)}'s {snippet}"


_USB_DEVICE = ("input", "hub", "redirdev")


def _usb_devices(g: Guest) -> list[Element]:
    out = []
    for el in g.device_list():
        addr = el.find("address")
        if addr is not None:
            if addr.get("type") == "usb":
                out.append(el)
            continue
        if (el.tag == "input" and el.get("bus") == "usb") or el.tag in ("hub", "redirdev") or (
                el.tag == "disk" and _disk_bus(el) == "usb"):
            out.append(el)
    return out


@operator("clash", "usb")
def _clash_usb(rng: random.Random, g: Guest) -> str | None:
    devs = _usb_devices(g)
    if len(devs) < 2:
        return None
    a, b = rng.sample(devs, 2)
    snippet = f"<address type='usb' bus='0' port='{rng.choice((1, 2, 3))}'/>"
    _set_address(a, snippet)
    _set_address(b, snippet)
    return f"{g.where(a)} and {g.where(b)} both at {snippet}"


@operator("clash", "virtio-serial")
def _clash_virtio_serial(rng: random.Random, g: Guest) -> str | None:
    devs = [c for c in g.device_list("channel", "console")
            if (t := c.find("target")) is not None and t.get("type") == "virtio"]
    if len(devs) < 2:
        if not devs:
            return None
        twin = copy.deepcopy(devs[0])
        target = twin.find("target")
        assert target is not None
        if target.get("name"):
            target.set("name", "org.example.clash")
        devs[0].addnext(twin)
        devs.append(twin)
    a, b = rng.sample(devs, 2)
    snippet = f"<address type='virtio-serial' controller='0' bus='0' port='{rng.choice((1, 2))}'/>"
    _set_address(a, snippet)
    _set_address(b, snippet)
    return f"{g.where(a)} and {g.where(b)} both at {snippet}"


@operator("clash", "ccw")
def _clash_ccw(rng: random.Random, g: Guest) -> str | None:
    if g.arch != "s390x":
        return None
    devs = [d for d in g.device_list() if d.tag in ("disk", "interface", "controller",
                                                   "memballoon", "rng")
            and (d.tag != "disk" or _disk_bus(d) == "virtio")
            and (d.tag != "controller" or d.get("type") in ("scsi", "virtio-serial"))]
    if len(devs) < 2:
        return None
    a, b = rng.sample(devs, 2)
    snippet = f"<address type='ccw' cssid='0xfe' ssid='0x0' devno='0x{rng.choice((5, 0x20)):04x}'/>"
    _set_address(a, snippet)
    _set_address(b, snippet)
    return f"{g.where(a)} and {g.where(b)} both at {snippet}"


@operator("clash", "spapr-vio")
def _clash_spapr(rng: random.Random, g: Guest) -> str | None:
    if not g.arch.startswith("ppc64"):
        return None
    devs = [d for d in g.device_list()
            if (d.tag == "controller" and d.get("model") == "ibmvscsi")
            or (d.tag == "interface" and (m := d.find("model")) is not None
                and m.get("type") == "spapr-vlan")
            or d.tag == "nvram"
            or (d.tag in ("serial", "console") and g.arch.startswith("ppc64")
                and (a := d.find("address")) is not None and a.get("type") == "spapr-vio")]
    if len(devs) < 2:
        return None
    a, b = rng.sample(devs, 2)
    snippet = f"<address type='spapr-vio' reg='0x{rng.choice((0x4000, 0x2000)):x}'/>"
    _set_address(a, snippet)
    _set_address(b, snippet)
    return f"{g.where(a)} and {g.where(b)} both at {snippet}"


@operator("clash", "dimm")
def _clash_dimm(rng: random.Random, g: Guest) -> str | None:
    dimms = [m for m in g.device_list("memory") if m.get("model") == "dimm"]
    if not dimms:
        return None
    a = rng.choice(dimms)
    twin = copy.deepcopy(a)
    slot = rng.choice((0, 1))
    _set_address(a, f"<address type='dimm' slot='{slot}'/>")
    _set_address(twin, f"<address type='dimm' slot='{slot}'/>")
    a.addnext(twin)
    return f"{g.where(a)} copied, both at dimm slot {slot}"


@operator("clash", "serial-port")
def _clash_serial_port(rng: random.Random, g: Guest) -> str | None:
    serials = g.device_list("serial")
    if len(serials) < 2:
        return None
    a, b = rng.sample(serials, 2)
    for s in (a, b):
        target = s.find("target")
        if target is None:
            target = _new("<target/>")
            s.insert(0, target)
        target.set("port", "0")
    return f"{g.where(a)} and {g.where(b)} both on serial port 0"


@operator("clash", "pci-multifunction")
def _clash_multifunction(rng: random.Random, g: Guest) -> str | None:
    """Two devices on one slot, functions 0 and 1, multifunction not said (or said off)."""
    devs = [d for d in g.pci_devices() if d.tag != "controller" or d.get("type") != "pci"]
    if len(devs) < 2:
        return None
    a, b = rng.sample(devs, 2)
    slot = _free_pci_slot(rng, g)
    mf = rng.choice(("", " multifunction='off'"))
    _set_address(a, f"<address type='pci' domain='0x0000' bus='0x00' slot='0x{slot:02x}' "
                    f"function='0x0'{mf}/>")
    _set_address(b, f"<address type='pci' domain='0x0000' bus='0x00' slot='0x{slot:02x}' "
                    "function='0x1'/>")
    return f"{g.where(a)} and {g.where(b)} share slot 0x{slot:02x} (functions 0, 1{mf})"


# ---- address-type -----------------------------------------------------------------------------

ADDRESS_OF: dict[str, str] = {
    "pci": "<address type='pci' domain='0x0000' bus='0x00' slot='0x1d' function='0x0'/>",
    "drive": "<address type='drive' controller='0' bus='0' target='0' unit='5'/>",
    "usb": "<address type='usb' bus='0' port='7'/>",
    "virtio-serial": "<address type='virtio-serial' controller='0' bus='0' port='9'/>",
    "ccid": "<address type='ccid' controller='0' slot='0'/>",
    "isa": "<address type='isa' iobase='0x2e8' irq='5'/>",
    "dimm": "<address type='dimm' slot='3'/>",
    "ccw": "<address type='ccw' cssid='0xfe' ssid='0x0' devno='0x0123'/>",
    "spapr-vio": "<address type='spapr-vio' reg='0x5000'/>",
    "virtio-mmio": "<address type='virtio-mmio'/>",
    "unassigned": "<address type='unassigned'/>",
}


def _natural_address(g: Guest, dev: Element) -> str | None:
    addr = dev.find("address")
    if addr is not None:
        return str(addr.get("type"))
    if dev.tag == "disk":
        bus = _disk_bus(dev)
        return {"virtio": "ccw" if g.arch == "s390x" else "pci", "usb": "usb"}.get(bus, "drive")
    if dev in _usb_devices(g):
        return "usb"
    if dev.tag in ("channel", "console") and (t := dev.find("target")) is not None \
            and t.get("type") == "virtio":
        return "virtio-serial"
    if g.arch == "s390x":
        return "ccw"
    if _takes_pci(dev):
        return "pci"
    return None


@operator("address-type", "foreign-type")
def _foreign_address_type(rng: random.Random, g: Guest) -> str | None:
    devs = [d for d in g.device_list() if d.tag not in ("graphics", "audio")]
    if not devs:
        return None
    dev = rng.choice(devs)
    natural = _natural_address(g, dev)
    kind = rng.choice([k for k in ADDRESS_OF if k != natural])
    _set_address(dev, ADDRESS_OF[kind])
    return f"{g.where(dev)} (takes {natural or 'no address'}) given a {kind} address"


@operator("address-type", "address-on-addressless")
def _address_on_addressless(rng: random.Random, g: Guest) -> str | None:
    """An address on a device libvirt gives none: graphics, a PS/2 input, an ISA serial, a
    memballoon of model none, a TPM, a panic device, the SCLP console."""
    devs = [d for d in g.device_list() if d.find("address") is None and (
        d.tag in ("graphics", "tpm", "panic", "audio")
        or (d.tag == "input" and d.get("bus") == "ps2")
        or (d.tag == "memballoon" and d.get("model") == "none")
        or (d.tag == "watchdog" and d.get("model") in ("ib700", "diag288")))]
    if not devs:
        return None
    dev = rng.choice(devs)
    kind = rng.choice(("pci", "usb", "drive"))
    _set_address(dev, ADDRESS_OF[kind])
    return f"{g.where(dev)} given a {kind} address"


@operator("address-type", "controller-address-kind")
def _controller_address_kind(rng: random.Random, g: Guest) -> str | None:
    """A controller on a bus of the wrong kind (a USB controller on a drive address...)."""
    ctrls = [c for c in g.device_list("controller") if c.get("type") not in ("pci",)
             or c.get("model") not in ("pci-root", "pcie-root")]
    if not ctrls:
        return None
    ctrl = rng.choice(ctrls)
    kind = rng.choice(("drive", "usb", "virtio-serial", "ccid", "isa"))
    _set_address(ctrl, ADDRESS_OF[kind])
    return f"{g.where(ctrl)} given a {kind} address"


# ---- config: define-time mistakes -------------------------------------------------------------


def _vcpus(g: Guest) -> int:
    vcpu = g.root.find("vcpu")
    try:
        return int((vcpu.text or "1").strip()) if vcpu is not None else 1
    except ValueError:
        return 1


def _cpu(g: Guest) -> Element:
    cpu = g.root.find("cpu")
    if cpu is None:
        cpu = _new("<cpu/>")
        anchor = g.root.find("features")
        if anchor is None:
            anchor = g.root.find("os")
        assert anchor is not None
        anchor.addnext(cpu)
    return cpu


@operator("config", "topology-vs-vcpus")
def _topology_mismatch(rng: random.Random, g: Guest) -> str | None:
    n = _vcpus(g)
    cpu = _cpu(g)
    topo = cpu.find("topology")
    if topo is None:
        topo = _new("<topology sockets='1' dies='1' cores='1' threads='1'/>")
        cpu.insert(0 if cpu.find("model") is None else 1, topo)
    attr = rng.choice(("sockets", "cores", "threads"))
    value = n + rng.choice((1, 2)) if rng.random() < 0.7 else max(1, n // 2 + 1) * 3
    topo.set(attr, str(value))
    return f"<topology {attr}='{value}'> with {n} vCPUs"


@operator("config", "vcpu-current")
def _vcpu_current(rng: random.Random, g: Guest) -> str | None:
    vcpu = g.root.find("vcpu")
    if vcpu is None:
        return None
    n = _vcpus(g)
    current = n + rng.choice((1, 4))
    vcpu.set("current", str(current))
    return f"<vcpu current='{current}'>{n}</vcpu>"


@operator("config", "vcpu-over-machine-limit")
def _vcpu_over_limit(rng: random.Random, g: Guest) -> str | None:
    vcpu = g.root.find("vcpu")
    if vcpu is None or g.root.find("cpu/topology") is not None \
            or g.root.find("cpu/numa") is not None:
        return None
    n = rng.choice((256, 300, 1024, 5000))
    vcpu.text = str(n)
    return f"<vcpu>{n}</vcpu>"


def _numa(g: Guest) -> tuple[Element, list[Element]] | None:
    numa = g.root.find("cpu/numa")
    if numa is None:
        return None
    return numa, numa.findall("cell")


@operator("config", "numa-cell")
def _numa_cell(rng: random.Random, g: Guest) -> str | None:
    n = _vcpus(g)
    found = _numa(g)
    if found is None:
        if g.root.find("maxMemory") is not None:
            return None
        cpu = _cpu(g)
        how = rng.choice(("cpus-beyond", "id-gap", "two-cells-overlap"))
        cells = {"cpus-beyond": f"<cell id='0' cpus='0-{n + 3}' memory='128' unit='MiB'/>",
                 "id-gap": f"<cell id='1' cpus='0-{n - 1}' memory='128' unit='MiB'/>",
                 "two-cells-overlap": f"<cell id='0' cpus='0-{n - 1}' memory='64' unit='MiB'/>"
                                      f"<cell id='1' cpus='0' memory='64' unit='MiB'/>"}[how]
        cpu.append(_new(f"<numa>{cells}</numa>"))
        return f"<numa> added: {how} ({n} vCPUs)"
    numa, cells = found
    cell = rng.choice(cells)
    how = rng.choice(("cpus-beyond", "id-gap", "overlap", "no-cpus", "cpus-garbage",
                      "memory-zero", "extra-cell"))
    if how == "cpus-beyond":
        cell.set("cpus", f"0-{n + 7}")
    elif how == "id-gap":
        cell.set("id", str(len(cells) + 2))
    elif how == "overlap" and len(cells) >= 2:
        other = next(c for c in cells if c is not cell)
        cell.set("cpus", str(other.get("cpus")))
    elif how == "no-cpus":
        cell.set("cpus", "")
    elif how == "cpus-garbage":
        cell.set("cpus", rng.choice(("0-", "a-b", "1,,2", "3-1")))
    elif how == "memory-zero":
        cell.set("memory", "0")
    elif how == "extra-cell":
        numa.append(_new(f"<cell id='{len(cells)}' cpus='{n + 1}' memory='64' unit='MiB'/>"))
    else:
        return None
    return f"{g.where(cell)}: {how}"


@operator("config", "tpm-model-arch")
def _tpm_model(rng: random.Random, g: Guest) -> str | None:
    foreign = {"x86_64": ("tpm-spapr", "spapr-tpm-proxy"),
               "aarch64": ("tpm-crb", "tpm-spapr"),
               "ppc64": ("tpm-tis", "tpm-crb"), "ppc64le": ("tpm-tis", "tpm-crb"),
               "s390x": ("tpm-tis", "tpm-crb", "tpm-spapr"),
               "riscv64": ("tpm-crb", "tpm-spapr")}.get(g.arch)
    if not foreign:
        return None
    model = rng.choice(foreign)
    version = rng.choice(("2.0", "1.2"))
    for old in g.device_list("tpm"):
        g.devices.remove(old)
    g.devices.append(_new(f"<tpm model='{model}'><backend type='emulator' "
                          f"version='{version}'/></tpm>"))
    return f"TPM {model} (version {version}) on {g.arch}"


@operator("config", "tpm-version")
def _tpm_version(rng: random.Random, g: Guest) -> str | None:
    if not g.x86:
        return None
    for old in g.device_list("tpm"):
        g.devices.remove(old)
    model, version = rng.choice((("tpm-crb", "1.2"), ("tpm-tis", "3.0"), ("tpm-crb", "")))
    v = f" version='{version}'" if version else ""
    g.devices.append(_new(f"<tpm model='{model}'><backend type='emulator'{v}/></tpm>"))
    return f"TPM {model} backend version {version!r}"


@operator("config", "two-tpms")
def _two_tpms(rng: random.Random, g: Guest) -> str | None:
    if not g.x86:
        return None
    g.devices.append(_new("<tpm model='tpm-crb'><backend type='emulator' version='2.0'/></tpm>"))
    g.devices.append(_new("<tpm model='tpm-tis'><backend type='emulator' version='2.0'/></tpm>"))
    return "two emulated TPMs"


@operator("config", "two-primary-videos")
def _two_primary(rng: random.Random, g: Guest) -> str | None:
    videos = g.device_list("video")
    model = "virtio" if not g.x86 else rng.choice(("qxl", "virtio", "vga"))
    if g.arch == "s390x":
        return None
    while len(videos) < 2:
        new = _new(f"<video><model type='{model}'/></video>")
        (videos[-1] if videos else g.devices[-1]).addnext(new)
        videos.append(new)
    for video in videos[:2]:
        m = video.find("model")
        assert m is not None
        m.set("primary", "yes")
    return "two videos with primary='yes'"


@operator("config", "video-model-arch")
def _video_model(rng: random.Random, g: Guest) -> str | None:
    models = {"x86_64": ("ramfb", "gop", "vbox", "xen", "parallels"),
              "aarch64": ("qxl", "vga", "cirrus", "vmvga"),
              "ppc64": ("qxl", "cirrus", "vmvga"),
              "s390x": ("vga", "qxl", "cirrus"),
              "riscv64": ("qxl", "cirrus")}.get(g.arch)
    if not models:
        return None
    model = rng.choice(models)
    videos = g.device_list("video")
    if videos:
        m = rng.choice(videos).find("model")
        if m is None:
            return None
        for attr in ("ram", "vram", "vgamem", "vram64"):
            m.attrib.pop(attr, None)
        m.set("type", model)
    else:
        g.devices.append(_new(f"<video><model type='{model}'/></video>"))
    return f"video model {model} on {g.arch}"


@operator("config", "iothread-reference")
def _iothread(rng: random.Random, g: Guest) -> str | None:
    n = g.root.find("iothreads")
    count = int((n.text or "0").strip()) if n is not None else 0
    disks = g.disks()
    if not disks:
        return None
    disk = rng.choice(disks)
    driver = disk.find("driver")
    if driver is None:
        driver = _new("<driver name='qemu' type='raw'/>")
        disk.insert(0, driver)
    driver.set("iothread", str(count + rng.choice((1, 3))))
    return f"{g.where(driver)} iothread {driver.get('iothread')} of {count} ({_disk_bus(disk)})"


@operator("config", "iothread-on-non-virtio")
def _iothread_non_virtio(rng: random.Random, g: Guest) -> str | None:
    disks = [d for d in g.disks() if _disk_bus(d) not in ("virtio",)]
    if not disks:
        return None
    disk = rng.choice(disks)
    if g.root.find("iothreads") is None:
        g.root.find("vcpu").addnext(_new("<iothreads>1</iothreads>"))  # type: ignore[union-attr]
    driver = disk.find("driver")
    if driver is None:
        driver = _new("<driver name='qemu' type='raw'/>")
        disk.insert(0, driver)
    driver.set("iothread", "1")
    return f"{g.where(driver)} iothread on a {_disk_bus(disk)} disk"


@operator("config", "cputune")
def _cputune(rng: random.Random, g: Guest) -> str | None:
    n = _vcpus(g)
    how = rng.choice(("vcpupin-beyond", "vcpupin-twice", "cpuset-garbage", "emulatorpin-empty",
                      "iothreadpin-beyond", "period-range", "shares-garbage"))
    snippet = {
        "vcpupin-beyond": f"<vcpupin vcpu='{n + 2}' cpuset='0'/>",
        "vcpupin-twice": "<vcpupin vcpu='0' cpuset='0'/><vcpupin vcpu='0' cpuset='1'/>",
        "cpuset-garbage": "<vcpupin vcpu='0' cpuset='x-y'/>",
        "emulatorpin-empty": "<emulatorpin cpuset=''/>",
        "iothreadpin-beyond": "<iothreadpin iothread='9' cpuset='0'/>",
        "period-range": "<period>10</period>",
        "shares-garbage": "<shares>-5</shares>",
    }[how]
    old = g.root.find("cputune")
    if old is not None:
        g.root.remove(old)
    g.root.find("vcpu").addnext(_new(f"<cputune>{snippet}</cputune>"))  # type: ignore[union-attr]
    return f"<cputune>: {how}"


@operator("config", "numatune")
def _numatune(rng: random.Random, g: Guest) -> str | None:
    found = _numa(g)
    cells = len(found[1]) if found else 0
    how = rng.choice(("memnode-beyond", "nodeset-garbage", "memnode-without-numa",
                      "mode-auto-nodeset", "memnode-twice"))
    if how in ("memnode-beyond", "memnode-twice") and not cells:
        how = "memnode-without-numa"
    if how == "memnode-without-numa" and cells:
        how = "memnode-beyond"
    snippet = {
        "memnode-beyond": f"<memnode cellid='{cells + 1}' mode='strict' nodeset='0'/>",
        "nodeset-garbage": "<memory mode='strict' nodeset='zz'/>",
        "memnode-without-numa": "<memnode cellid='0' mode='strict' nodeset='0'/>",
        "mode-auto-nodeset": "<memory mode='strict' placement='auto' nodeset='0'/>",
        "memnode-twice": "<memnode cellid='0' mode='strict' nodeset='0'/>"
                         "<memnode cellid='0' mode='strict' nodeset='0'/>",
    }[how]
    old = g.root.find("numatune")
    if old is not None:
        g.root.remove(old)
    g.root.find("vcpu").addnext(_new(f"<numatune>{snippet}</numatune>"))  # type: ignore[union-attr]
    return f"<numatune>: {how}"


@operator("config", "boot-order-and-os-boot")
def _boot_mixed(rng: random.Random, g: Guest) -> str | None:
    os_el = g.root.find("os")
    devs = g.device_list("disk", "interface")
    if os_el is None or not devs:
        return None
    dev = rng.choice(devs)
    if dev.find("boot") is None:
        dev.append(_new("<boot order='1'/>"))
    if os_el.find("boot") is None:
        os_el.append(_new("<boot dev='hd'/>"))
    return f"{g.where(dev)} has <boot order> and <os> has <boot dev>"


@operator("config", "lifecycle-action")
def _lifecycle(rng: random.Random, g: Guest) -> str | None:
    which, value = rng.choice((("on_poweroff", "preserve"), ("on_poweroff", "rename-restart"),
                               ("on_reboot", "preserve"), ("on_reboot", "rename-restart"),
                               ("on_crash", "rename-restart"), ("on_poweroff",
                                                                "coredump-destroy")))
    el = g.root.find(which)
    if el is None:
        el = _new(f"<{which}/>")
        anchor = g.root.find("devices")
        assert anchor is not None
        anchor.addprevious(el)
    el.text = value
    return f"<{which}>{value}</{which}>"


@operator("config", "watchdog-arch")
def _watchdog(rng: random.Random, g: Guest) -> str | None:
    model = rng.choice({"x86_64": ("diag288",), "aarch64": ("ib700", "diag288", "i6300esb"),
                        "ppc64": ("ib700", "diag288"), "s390x": ("ib700", "i6300esb"),
                        "riscv64": ("ib700", "diag288")}.get(g.arch, ("diag288",)))
    for old in g.device_list("watchdog"):
        g.devices.remove(old)
    g.devices.append(_new(f"<watchdog model='{model}' action='reset'/>"))
    return f"watchdog {model} on {g.arch}"


@operator("config", "panic-arch")
def _panic(rng: random.Random, g: Guest) -> str | None:
    model = rng.choice({"x86_64": ("pseries", "s390"), "aarch64": ("isa", "pseries", "s390"),
                        "ppc64": ("isa", "s390", "hyperv"), "s390x": ("isa", "pseries"),
                        "riscv64": ("isa", "s390")}.get(g.arch, ("isa",)))
    for old in g.device_list("panic"):
        g.devices.remove(old)
    g.devices.append(_new(f"<panic model='{model}'/>"))
    return f"panic {model} on {g.arch}"


@operator("config", "iommu-machine")
def _iommu(rng: random.Random, g: Guest) -> str | None:
    model = rng.choice(("intel", "smmuv3", "virtio"))
    for old in g.device_list("iommu"):
        g.devices.remove(old)
    extra = rng.choice(("", "<driver intremap='on'/>", "<driver caching_mode='on'/>",
                        "<driver aw_bits='99'/>"))
    g.devices.append(_new(f"<iommu model='{model}'>{extra}</iommu>"))
    return f"iommu {model} {extra} on {g.arch} {g.machine}"


@operator("config", "serial-target-arch")
def _serial_target(rng: random.Random, g: Guest) -> str | None:
    serials = g.device_list("serial")
    target_type = rng.choice(("isa-serial", "spapr-vio-serial", "system-serial",
                              "sclp-serial", "usb-serial", "pci-serial"))
    if serials:
        serial = rng.choice(serials)
        target = serial.find("target")
        if target is None:
            target = _new("<target/>")
            serial.insert(0, target)
        for child in list(target):
            target.remove(child)
        target.set("type", target_type)
    else:
        g.devices.append(_new(f"<serial type='pty'><target type='{target_type}'/></serial>"))
    return f"a serial port of target type {target_type} on {g.arch} {g.machine}"


@operator("config", "console-target")
def _console(rng: random.Random, g: Guest) -> str | None:
    target_type = rng.choice(("serial", "sclp", "sclplm", "xen", "uml", "virtio"))
    g.devices.append(_new(f"<console type='pty'><target type='{target_type}'/></console>"))
    return f"another console of target type {target_type} on {g.arch}"


@operator("config", "input-bus-arch")
def _input_bus(rng: random.Random, g: Guest) -> str | None:
    kind, bus = rng.choice((("mouse", "ps2"), ("keyboard", "ps2"), ("tablet", "ps2"),
                            ("mouse", "xen"), ("tablet", "virtio"), ("passthrough", "virtio")))
    g.devices.append(_new(f"<input type='{kind}' bus='{bus}'/>"))
    return f"input {kind} on {bus} ({g.arch} {g.machine})"


@operator("config", "disk-device-bus")
def _disk_device_bus(rng: random.Random, g: Guest) -> str | None:
    disks = g.disks()
    if not disks:
        return None
    disk = rng.choice(disks)
    device, bus = rng.choice((("cdrom", "virtio"), ("floppy", "sata"), ("floppy", "virtio"),
                              ("disk", "fdc"), ("lun", "ide"), ("lun", "virtio"),
                              ("cdrom", "sd"), ("disk", "xen"), ("disk", "uml")))
    disk.set("device", device)
    target = disk.find("target")
    assert target is not None
    target.set("bus", bus)
    addr = disk.find("address")
    if addr is not None:
        disk.remove(addr)
    return f"{g.where(disk)}: device {device} on bus {bus}"


@operator("config", "disk-target-name")
def _disk_target_name(rng: random.Random, g: Guest) -> str | None:
    disks = g.disks()
    if not disks:
        return None
    target = rng.choice(disks).find("target")
    assert target is not None
    old = target.get("dev")
    new = rng.choice(("xyz", "sd", "vda1", "hd", "sdzzzzzzzzzzzz", "vd-a", "nvme0n1"))
    target.set("dev", new)
    return f"{g.where(target)}@dev: {old} -> {new}"


@operator("config", "nic-options")
def _nic(rng: random.Random, g: Guest) -> str | None:
    nics = g.device_list("interface")
    if not nics:
        return None
    nic = rng.choice(nics)
    how = rng.choice(("multicast-mac", "mac-garbage", "rx-not-power-of-2", "queues-on-e1000",
                      "mtu-on-user", "model-garbage-chars", "model-foreign"))
    if how in ("multicast-mac", "mac-garbage"):
        mac = nic.find("mac")
        if mac is None:
            mac = _new("<mac/>")
            nic.insert(0, mac)
        mac.set("address", "01:00:5e:00:00:01" if how == "multicast-mac" else "52:54:00:zz:00:01")
    elif how in ("rx-not-power-of-2", "queues-on-e1000"):
        for d in nic.findall("driver"):
            nic.remove(d)
        model = nic.find("model")
        if how == "queues-on-e1000":
            if model is None:
                model = _new("<model/>")
                nic.append(model)
            model.set("type", "e1000")
            nic.append(_new("<driver queues='4'/>"))
        else:
            nic.append(_new("<driver rx_queue_size='300'/>"))
    elif how == "mtu-on-user":
        nic.set("type", "user")
        for s in nic.findall("source"):
            nic.remove(s)
        nic.append(_new("<mtu size='9000'/>"))
    else:
        model = nic.find("model")
        if model is None:
            model = _new("<model/>")
            nic.append(model)
        model.set("type", "vir tio" if how == "model-garbage-chars" else
                  rng.choice(("spapr-vlan", "smc91c111", "lan9118", "ne2k_isa", "pcnet")))
    return f"{g.where(nic)}: {how}"


@operator("config", "controller-options")
def _controller_options(rng: random.Random, g: Guest) -> str | None:
    how = rng.choice(("pcie-root-port-on-pc", "pci-bridge-index-0", "chassisNr-zero",
                      "target-index-non-phb", "model-name-mismatch", "usb-model-arch",
                      "scsi-model-arch", "xhci-ports", "ide-on-q35", "second-ide",
                      "virtio-serial-vectors", "numa-node-on-root", "sata-on-pc"))
    snippets = {
        "pcie-root-port-on-pc": "<controller type='pci' index='{i}' model='pcie-root-port'/>",
        "pci-bridge-index-0": "<controller type='pci' index='0' model='pci-bridge'/>",
        "chassisNr-zero": "<controller type='pci' index='{i}' model='pci-bridge'>"
                          "<target chassisNr='0'/></controller>",
        "target-index-non-phb": "<controller type='pci' index='{i}' model='pci-bridge'>"
                                "<target index='3'/></controller>",
        "model-name-mismatch": "<controller type='pci' index='{i}' model='pcie-root-port'>"
                               "<model name='pci-bridge'/></controller>",
        "usb-model-arch": "<controller type='usb' index='{u}' model='{usb}'/>",
        "scsi-model-arch": "<controller type='scsi' index='{s}' model='{scsi}'/>",
        "xhci-ports": "<controller type='usb' index='{u}' model='qemu-xhci' ports='16'/>",
        "ide-on-q35": "<controller type='ide' index='0'/>",
        "second-ide": "<controller type='ide' index='1'/>",
        "virtio-serial-vectors": "<controller type='virtio-serial' index='{v}' vectors='0'/>",
        "numa-node-on-root": "<controller type='pci' index='0' model='{root}'>"
                             "<target><node>0</node></target></controller>",
        "sata-on-pc": "<controller type='sata' index='{a}'/>",
    }
    indexes: dict[str, int] = {}
    for c in g.device_list("controller"):
        try:
            i = int(c.get("index", "0"))
        except ValueError:
            continue
        t = str(c.get("type"))
        indexes[t] = max(indexes.get(t, -1), i)
    usb = rng.choice({"x86_64": ("qusb1", "nec-xhci-bogus", "pci-ohci"),
                      "s390x": ("qemu-xhci", "piix3-uhci"),
                      }.get(g.arch, ("piix3-uhci", "ich9-ehci1", "vt82c686b-uhci")))
    scsi = rng.choice({"x86_64": ("ibmvscsi", "ncr53c90", "vmpvscsi"),
                       "ppc64": ("lsisas1078", "vmpvscsi", "buslogic"),
                       "s390x": ("lsilogic", "ibmvscsi")}.get(g.arch, ("ibmvscsi", "buslogic")))
    root = "pcie-root" if (g.q35 or not g.x86) else "pci-root"
    text = snippets[how].format(i=indexes.get("pci", 0) + 1, u=indexes.get("usb", -1) + 1,
                                s=indexes.get("scsi", -1) + 1, usb=usb, scsi=scsi,
                                v=indexes.get("virtio-serial", -1) + 1, root=root,
                                a=indexes.get("sata", -1) + 1)
    if how in ("pci-bridge-index-0", "numa-node-on-root", "ide-on-q35"):
        for c in g.device_list("controller"):
            if c.get("type") == ("ide" if how == "ide-on-q35" else "pci") and \
                    c.get("index", "0") in ("0", "0x0"):
                g.devices.remove(c)
    g.devices.append(_new(text))
    return f"{how}: {text}"


@operator("config", "usb-disabled-with-usb-devices")
def _usb_none(rng: random.Random, g: Guest) -> str | None:
    if not _usb_devices(g):
        return None
    for c in g.device_list("controller"):
        if c.get("type") == "usb":
            g.devices.remove(c)
    g.devices.append(_new("<controller type='usb' index='0' model='none'/>"))
    return "USB controller model none, USB devices kept"


@operator("config", "memory-sizes")
def _memory_sizes(rng: random.Random, g: Guest) -> str | None:
    how = rng.choice(("current-over-max", "maxmemory-below-memory", "maxmemory-no-slots",
                      "dimm-without-numa", "dimm-without-maxmemory", "unit-garbage"))
    memory = g.root.find("memory")
    assert memory is not None
    if how == "current-over-max":
        current = g.root.find("currentMemory")
        if current is None:
            current = _new("<currentMemory/>")
            memory.addnext(current)
        current.set("unit", "GiB")
        current.text = "64"
    elif how in ("maxmemory-below-memory", "maxmemory-no-slots"):
        old = g.root.find("maxMemory")
        if old is not None:
            g.root.remove(old)
        slots = "" if how == "maxmemory-no-slots" else " slots='2'"
        memory.addprevious(_new(f"<maxMemory{slots} unit='KiB'>1024</maxMemory>"
                                if how == "maxmemory-below-memory"
                                else f"<maxMemory{slots} unit='GiB'>8</maxMemory>"))
    elif how in ("dimm-without-numa", "dimm-without-maxmemory"):
        if how == "dimm-without-numa":
            numa = g.root.find("cpu/numa")
            if numa is not None:
                parent = numa.getparent()
                assert parent is not None
                parent.remove(numa)
            if g.root.find("maxMemory") is None:
                memory.addprevious(_new("<maxMemory slots='4' unit='GiB'>8</maxMemory>"))
        else:
            old = g.root.find("maxMemory")
            if old is not None:
                g.root.remove(old)
        g.devices.append(_new("<memory model='dimm'><target><size unit='MiB'>128</size>"
                              "<node>0</node></target></memory>"))
    else:
        memory.set("unit", rng.choice(("MB ", "mib", "XiB", "KiBs")))
    return f"memory: {how}"


@operator("config", "graphics")
def _graphics(rng: random.Random, g: Guest) -> str | None:
    how = rng.choice(("two-vnc", "two-spice", "vnc-port-garbage", "spice-without-audio",
                      "listen-mismatch", "sdl-without-display", "egl-headless-alone"))
    snippet = {
        "two-vnc": "<graphics type='vnc' autoport='yes'/><graphics type='vnc' autoport='yes'/>",
        "two-spice": "<graphics type='spice' autoport='yes'/><graphics type='spice'/>",
        "vnc-port-garbage": "<graphics type='vnc' port='59x0'/>",
        "spice-without-audio": "<graphics type='spice' autoport='no' port='100'/>",
        "listen-mismatch": "<graphics type='vnc' listen='127.0.0.1'>"
                           "<listen type='address' address='0.0.0.0'/></graphics>",
        "sdl-without-display": "<graphics type='sdl'/>",
        "egl-headless-alone": "<graphics type='egl-headless'/>",
    }[how]
    for old in g.device_list("graphics"):
        g.devices.remove(old)
    for el in etree.fromstring(f"<x>{snippet}</x>"):
        el.tail = "\n    "
        g.devices.append(el)
    return f"graphics: {how}"


@operator("config", "features-arch")
def _features(rng: random.Random, g: Guest) -> str | None:
    feature = rng.choice({"x86_64": ("<gic version='3'/>", "<hpt resizing='enabled'/>",
                                     "<htm state='on'/>", "<ccf-assist state='on'/>",
                                     "<ioapic driver='bogus'/>", "<smm state='maybe'/>"),
                          "aarch64": ("<smm state='on'/>", "<vmport state='on'/>",
                                      "<ioapic driver='qemu'/>", "<gic version='9'/>",
                                      "<hpt resizing='enabled'/>"),
                          "ppc64": ("<gic version='2'/>", "<vmport state='on'/>",
                                    "<smm state='on'/>", "<hpt resizing='bogus'/>"),
                          "s390x": ("<gic version='2'/>", "<vmport state='on'/>",
                                    "<hpt resizing='enabled'/>"),
                          "riscv64": ("<gic version='2'/>", "<smm state='on'/>",
                                      "<vmport state='on'/>")}.get(g.arch, ("<gic/>",)))
    features = g.root.find("features")
    if features is None:
        features = _new("<features/>")
        os_el = g.root.find("os")
        assert os_el is not None
        os_el.addnext(features)
    new = _new(feature)
    for old in features.findall(str(new.tag)):
        features.remove(old)
    features.append(new)
    return f"feature {feature} on {g.arch} {g.machine}"


@operator("config", "loader")
def _loader(rng: random.Random, g: Guest) -> str | None:
    os_el = g.root.find("os")
    if os_el is None:
        return None
    how = rng.choice(("secure-without-smm", "secure-on-pc", "nvram-without-loader",
                      "pflash-rom-readonly", "loader-type-garbage", "firmware-bogus"))
    snippet = {
        "secure-without-smm": "<loader readonly='yes' secure='yes' type='pflash'>"
                              "/usr/share/OVMF/OVMF_CODE.secboot.fd</loader>",
        "secure-on-pc": "<loader readonly='yes' secure='yes' type='pflash'>"
                        "/usr/share/OVMF/OVMF_CODE.secboot.fd</loader>",
        "nvram-without-loader": "<nvram>/var/lib/libvirt/qemu/nvram/x_VARS.fd</nvram>",
        "pflash-rom-readonly": "<loader readonly='no' type='rom'>/usr/share/x.fd</loader>",
        "loader-type-garbage": "<loader type='flash'>/usr/share/x.fd</loader>",
        "firmware-bogus": "",
    }[how]
    if how == "firmware-bogus":
        os_el.set("firmware", "bios-efi")
    else:
        for el in etree.fromstring(f"<x>{snippet}</x>"):
            el.tail = "\n    "
            os_el.append(el)
    return f"<os>: {how} ({g.machine})"


@operator("config", "vsock-cid")
def _vsock(rng: random.Random, g: Guest) -> str | None:
    if g.arch == "s390x":
        return None
    for old in g.device_list("vsock"):
        g.devices.remove(old)
    how = rng.choice(("cid-2", "cid-reserved-max", "two-vsocks", "auto-garbage"))
    snippet = {
        "cid-2": "<vsock model='virtio'><cid auto='no' address='2'/></vsock>",
        "cid-reserved-max": "<vsock model='virtio'><cid auto='no' address='4294967295'/>"
                            "</vsock>",
        "two-vsocks": "<vsock model='virtio'><cid auto='yes'/></vsock>"
                      "<vsock model='virtio'><cid auto='yes'/></vsock>",
        "auto-garbage": "<vsock model='virtio'><cid auto='sometimes'/></vsock>",
    }[how]
    for el in etree.fromstring(f"<x>{snippet}</x>"):
        el.tail = "\n    "
        g.devices.append(el)
    return f"vsock: {how}"


@operator("config", "memballoon")
def _memballoon(rng: random.Random, g: Guest) -> str | None:
    how = rng.choice(("two-balloons", "xen-model", "stats-garbage", "none-with-stats"))
    snippet = {
        "two-balloons": "<memballoon model='virtio'/><memballoon model='virtio'/>",
        "xen-model": "<memballoon model='xen'/>",
        "stats-garbage": "<memballoon model='virtio'><stats period='-5'/></memballoon>",
        "none-with-stats": "<memballoon model='none'><stats period='10'/></memballoon>",
    }[how]
    for old in g.device_list("memballoon"):
        g.devices.remove(old)
    for el in etree.fromstring(f"<x>{snippet}</x>"):
        el.tail = "\n    "
        g.devices.append(el)
    return f"memballoon: {how}"


@operator("config", "sound-and-audio")
def _sound(rng: random.Random, g: Guest) -> str | None:
    how = rng.choice(("audio-id-missing", "pcspk-arch", "codec-garbage", "audio-id-dangling",
                      "two-audio-same-id"))
    snippet = {
        "audio-id-missing": "<sound model='ich9'><audio id='5'/></sound>",
        "pcspk-arch": "<sound model='pcspk'/>",
        "codec-garbage": "<sound model='ich6'><codec type='bogus'/></sound>",
        "audio-id-dangling": "<audio id='3' type='none'/>",
        "two-audio-same-id": "<audio id='1' type='none'/><audio id='1' type='none'/>",
    }[how]
    for el in etree.fromstring(f"<x>{snippet}</x>"):
        el.tail = "\n    "
        g.devices.append(el)
    return f"sound: {how} ({g.arch})"


@operator("config", "memtune-and-resource")
def _memtune(rng: random.Random, g: Guest) -> str | None:
    how = rng.choice(("swap-below-hard", "partition-relative", "blkio-twice",
                      "hard-limit-garbage"))
    snippet = {
        "swap-below-hard": "<memtune><hard_limit unit='MiB'>512</hard_limit>"
                           "<swap_hard_limit unit='MiB'>256</swap_hard_limit></memtune>",
        "partition-relative": "<resource><partition>machine</partition></resource>",
        "blkio-twice": "<blkiotune><device><path>/dev/sda</path><weight>100</weight></device>"
                       "<device><path>/dev/sda</path><weight>200</weight></device></blkiotune>",
        "hard-limit-garbage": "<memtune><hard_limit unit='MiB'>lots</hard_limit></memtune>",
    }[how]
    vcpu = g.root.find("vcpu")
    assert vcpu is not None
    for el in reversed(list(etree.fromstring(f"<x>{snippet}</x>"))):
        el.tail = "\n  "
        vcpu.addnext(el)
    return f"tuning: {how}"


@operator("config", "hostdev")
def _hostdev(rng: random.Random, g: Guest) -> str | None:
    how = rng.choice(("pci-twice", "usb-no-source", "scsi-twice", "pci-address-garbage",
                      "mdev-no-uuid"))
    snippet = {
        "pci-twice": "<hostdev mode='subsystem' type='pci' managed='yes'><source><address "
                     "domain='0x0000' bus='0x41' slot='0x00' function='0x0'/></source></hostdev>"
                     "<hostdev mode='subsystem' type='pci' managed='yes'><source><address "
                     "domain='0x0000' bus='0x41' slot='0x00' function='0x0'/></source>"
                     "</hostdev>",
        "usb-no-source": "<hostdev mode='subsystem' type='usb'/>",
        "scsi-twice": "<hostdev mode='subsystem' type='scsi'><source><adapter name='scsi_host3'/>"
                      "<address bus='0' target='0' unit='0'/></source></hostdev>"
                      "<hostdev mode='subsystem' type='scsi'><source><adapter name='scsi_host3'/>"
                      "<address bus='0' target='0' unit='0'/></source></hostdev>",
        "pci-address-garbage": "<hostdev mode='subsystem' type='pci' managed='yes'><source>"
                               "<address domain='0x0000' bus='0xzz' slot='0x00' function='0x0'/>"
                               "</source></hostdev>",
        "mdev-no-uuid": "<hostdev mode='subsystem' type='mdev' model='vfio-pci'><source/>"
                        "</hostdev>",
    }[how]
    for el in etree.fromstring(f"<x>{snippet}</x>"):
        el.tail = "\n    "
        g.devices.append(el)
    return f"hostdev: {how}"


def _append_devices(g: Guest, snippet: str) -> None:
    """Append every element of ``snippet`` to ``<devices>``."""
    for el in etree.fromstring(f"<x>{snippet}</x>"):
        el.tail = "\n    "
        g.devices.append(el)


def _after_os(g: Guest, snippet: str) -> None:
    """Put the elements of ``snippet`` after ``<os>`` (where <features>, <cpu>, <clock> go)."""
    os_el = g.root.find("os")
    assert os_el is not None
    for el in reversed(list(etree.fromstring(f"<x>{snippet}</x>"))):
        el.tail = "\n  "
        os_el.addnext(el)


def _replace_top(g: Guest, tag: str, snippet: str) -> None:
    """Replace the top-level ``<tag>`` (if any) by ``snippet``, after ``<os>``."""
    for old in g.root.findall(tag):
        g.root.remove(old)
    _after_os(g, snippet)


@operator("config", "hugepages")
def _hugepages(rng: random.Random, g: Guest) -> str | None:
    if g.root.find("memoryBacking") is not None or g.root.find("cpu/numa") is not None:
        return None
    how = rng.choice(("two-masters", "node-beyond", "ondemand", "overlap"))
    pages = {
        "two-masters": "<page size='1' unit='GiB'/><page size='2' unit='MiB'/>",
        "node-beyond": "<page size='2' unit='MiB' nodeset='1'/>",
        "ondemand": "<page size='2' unit='MiB'/>",
        "overlap": "<page size='1' unit='GiB' nodeset='0-1'/>"
                   "<page size='2' unit='MiB' nodeset='1'/>",
    }[how]
    extra = "<allocation mode='ondemand'/>" if how == "ondemand" else ""
    memory = g.root.find("memory")
    assert memory is not None
    memory.addnext(_new(f"<memoryBacking><hugepages>{pages}</hugepages>{extra}</memoryBacking>"))
    return f"hugepages: {how}"


@operator("config", "disk-options")
def _disk_options(rng: random.Random, g: Guest) -> str | None:
    disks = g.disks()
    if not disks:
        return None
    disk = rng.choice(disks)
    target = disk.find("target")
    assert target is not None
    how = rng.choice(("cdrom-on-virtio", "readonly-sata", "native-writeback", "shareable-qcow2",
                      "cow-format", "iso-format", "vendor-off-scsi", "partition-target",
                      "no-source", "floppy-on-sata", "driver-name"))
    driver = disk.find("driver")
    if driver is None:
        driver = _new("<driver name='qemu' type='raw'/>")
        disk.insert(0, driver)
    if how == "cdrom-on-virtio":
        disk.set("device", "cdrom")
        target.set("dev", "vdy")
        target.set("bus", "virtio")
        for a in disk.findall("address"):
            disk.remove(a)
    elif how == "readonly-sata":
        if not g.x86:
            return None
        disk.set("device", "disk")
        target.set("dev", "sdy")
        target.set("bus", "sata")
        for a in disk.findall("address"):
            disk.remove(a)
        disk.append(_new("<readonly/>"))
    elif how == "native-writeback":
        driver.set("cache", "writeback")
        driver.set("io", "native")
    elif how == "shareable-qcow2":
        driver.set("type", "qcow2")
        disk.append(_new("<shareable/>"))
    elif how in ("cow-format", "iso-format"):
        driver.set("type", how.split("-")[0])
    elif how == "vendor-off-scsi":
        if _disk_bus(disk) == "scsi":
            return None
        disk.append(_new("<vendor>ACME</vendor>"))
    elif how == "partition-target":
        target.set("dev", f"{target.get('dev')}1")
    elif how == "no-source":
        if disk.get("device", "disk") != "disk":
            return None
        for src in disk.findall("source"):
            disk.remove(src)
    elif how == "floppy-on-sata":
        disk.set("device", "floppy")
    else:
        driver.set("name", "tap")
    return f"{g.where(disk)}: {how}"


@operator("config", "pci-controller-options")
def _pci_controller_options(rng: random.Random, g: Guest) -> str | None:
    if g.arch == "s390x":
        return None
    pcie = g.q35 or not g.x86
    indexes = [int(c.get("index", "0")) for c in g.device_list("controller")
               if c.get("type") == "pci" and c.get("index", "0").isdigit()]
    i = max(indexes, default=0) + 1
    how = rng.choice(("chassisNr-on-root-port", "model-name-mismatch", "pcihole64-elsewhere",
                      "expander-on-wrong-machine", "expander-node-without-numa", "port-on-bridge"))
    if how == "chassisNr-on-root-port" and pcie:
        text = f"<controller type='pci' index='{i}' model='pcie-root-port'>" \
               "<target chassisNr='5'/></controller>"
    elif how == "model-name-mismatch":
        model = "pcie-root-port" if pcie else "pci-bridge"
        wrong = "pci-bridge" if pcie else "ioh3420"
        text = f"<controller type='pci' index='{i}' model='{model}'><model name='{wrong}'/>" \
               "</controller>"
    elif how == "pcihole64-elsewhere" and not g.x86:
        text = ""
        for c in g.device_list("controller"):
            if c.get("type") == "pci" and c.get("index", "0") in ("0", "0x0"):
                c.append(_new("<pcihole64 unit='KiB'>1048576</pcihole64>"))
                return f"{g.where(c)}: pcihole64 on {g.machine}"
        return None
    elif how == "expander-on-wrong-machine" and g.x86:
        model = "pci-expander-bus" if g.q35 else "pcie-expander-bus"
        text = f"<controller type='pci' index='{i}' model='{model}'/>"
    elif how == "expander-node-without-numa" and g.x86 and g.root.find("cpu/numa") is None:
        model = "pcie-expander-bus" if g.q35 else "pci-expander-bus"
        text = f"<controller type='pci' index='{i}' model='{model}'><target busNr='200'>" \
               "<node>1</node></target></controller>"
    elif how == "port-on-bridge" and not pcie:
        text = f"<controller type='pci' index='{i}' model='pci-bridge'><target port='8'/>" \
               "</controller>"
    else:
        return None
    _append_devices(g, text)
    return f"{how}: {text}"


@operator("config", "chardev-source")
def _chardev_source(rng: random.Random, g: Guest) -> str | None:
    how = rng.choice(("file-without-path", "tcp-without-host", "bind-with-reconnect",
                      "reconnect-timeout-0", "spicevmc-without-spice", "unix-serial-no-path"))
    snippet = {
        "file-without-path": "<serial type='file'><source/></serial>",
        "tcp-without-host": "<serial type='tcp'><source mode='connect' service='4555'/>"
                            "</serial>",
        "bind-with-reconnect": "<channel type='unix'><source mode='bind' path='/tmp/m.sock'>"
                               "<reconnect enabled='yes' timeout='5'/></source>"
                               "<target type='virtio' name='org.example.m'/></channel>",
        "reconnect-timeout-0": "<channel type='tcp'><source mode='connect' host='127.0.0.1' "
                               "service='4556'><reconnect enabled='yes' timeout='0'/></source>"
                               "<target type='virtio' name='org.example.t'/></channel>",
        "spicevmc-without-spice": "<channel type='spicevmc'>"
                                  "<target type='virtio' name='com.redhat.spice.0'/></channel>",
        "unix-serial-no-path": "<serial type='unix'><source mode='connect'/></serial>",
    }[how]
    if how == "spicevmc-without-spice" and any(
            gr.get("type") == "spice" for gr in g.device_list("graphics")):
        return None
    if g.arch == "s390x" and "serial" in snippet:
        return None
    _append_devices(g, snippet)
    return f"chardev: {how}"


@operator("config", "firmware-autoselection")
def _firmware_auto(rng: random.Random, g: Guest) -> str | None:
    os_el = g.root.find("os")
    if os_el is None or not g.x86 or os_el.find("loader") is not None:
        return None
    how = rng.choice(("efi-with-loader-path", "efi-loader-insecure", "bios-with-nvram",
                      "enrolled-keys-without-secure-boot", "efi-loader-readonly",
                      "features-without-firmware"))
    if how == "features-without-firmware":
        snippet = "<firmware><feature enabled='yes' name='secure-boot'/></firmware>"
    else:
        os_el.set("firmware", "bios" if how == "bios-with-nvram" else "efi")
        snippet = {
            "efi-with-loader-path": "<loader>/usr/share/OVMF/OVMF_CODE.fd</loader>",
            "efi-loader-insecure": "<loader secure='no'/>",
            "bios-with-nvram": "<nvram>/var/lib/libvirt/qemu/nvram/m_VARS.fd</nvram>",
            "enrolled-keys-without-secure-boot": "<firmware><feature enabled='yes' "
                                                 "name='enrolled-keys'/><feature enabled='no' "
                                                 "name='secure-boot'/></firmware>",
            "efi-loader-readonly": "<loader readonly='yes'/>",
        }[how]
    for el in etree.fromstring(f"<x>{snippet}</x>"):
        el.tail = "\n  "
        os_el.append(el)
    if g.root.find("features/acpi") is None:
        features = g.root.find("features")
        if features is None:
            _after_os(g, "<features><acpi/></features>")
        else:
            features.append(_new("<acpi/>"))
    return f"<os>: {how}"


@operator("config", "guest-cpu-options")
def _guest_cpu(rng: random.Random, g: Guest) -> str | None:
    how = rng.choice(("cache-emulate-level-2", "maxphysaddr-passthrough-bits",
                      "vendor-without-model", "feature-twice", "cache-on-non-x86",
                      "check-without-model"))
    if how == "cache-on-non-x86" and g.x86:
        return None
    snippet = {
        "cache-emulate-level-2": "<cpu><cache level='2' mode='emulate'/></cpu>",
        "maxphysaddr-passthrough-bits": "<cpu mode='host-passthrough'><maxphysaddr "
                                        "mode='passthrough' bits='42'/></cpu>",
        "vendor-without-model": "<cpu><vendor>Intel</vendor></cpu>",
        "feature-twice": "<cpu mode='custom'><model>qemu64</model><feature policy='require' "
                         "name='pdpe1gb'/><feature policy='disable' name='pdpe1gb'/></cpu>",
        "cache-on-non-x86": "<cpu><cache mode='disable'/></cpu>",
        "check-without-model": "<cpu check='full'/>",
    }[how]
    if g.root.find("cpu") is not None:
        return None
    _after_os(g, snippet)
    return f"<cpu>: {how}"


@operator("config", "clock-timers")
def _timers(rng: random.Random, g: Guest) -> str | None:
    how = rng.choice(("tsc-off-x86", "rtc-merge", "pit-merge", "platform", "hpet-off-x86",
                      "rtc-track-boot"))
    if how in ("tsc-off-x86", "hpet-off-x86") and g.x86:
        return None
    timer = {
        "tsc-off-x86": "<timer name='tsc' present='yes'/>",
        "rtc-merge": "<timer name='rtc' tickpolicy='merge'/>",
        "pit-merge": "<timer name='pit' tickpolicy='merge'/>",
        "platform": "<timer name='platform' present='yes'/>",
        "hpet-off-x86": "<timer name='hpet' present='yes'/>",
        "rtc-track-boot": "<timer name='rtc' track='boot'/>",
    }[how]
    _replace_top(g, "clock", f"<clock offset='utc'>{timer}</clock>")
    return f"<clock>: {how}"


@operator("config", "seclabels")
def _seclabels(rng: random.Random, g: Guest) -> str | None:
    how = rng.choice(("dynamic-no-relabel", "none-relabel", "same-model-twice",
                      "static-without-label"))
    snippet = {
        "dynamic-no-relabel": "<seclabel type='dynamic' model='dac' relabel='no'/>",
        "none-relabel": "<seclabel type='none' model='dac' relabel='yes'/>",
        "same-model-twice": "<seclabel type='dynamic' model='dac' relabel='yes'/>"
                            "<seclabel type='dynamic' model='dac' relabel='yes'/>",
        "static-without-label": "<seclabel type='static' model='dac' relabel='no'/>",
    }[how]
    for old in g.root.findall("seclabel"):
        g.root.remove(old)
    for el in etree.fromstring(f"<x>{snippet}</x>"):
        el.tail = "\n"
        g.root.append(el)
    return f"seclabel: {how}"


@operator("config", "video-options")
def _video_options(rng: random.Random, g: Guest) -> str | None:
    videos = g.device_list("video")
    how = rng.choice(("secondary-vga", "ram-on-vga", "heads-on-vga", "accel3d-on-vga"))
    if how == "secondary-vga":
        if not videos or not g.x86:
            return None
        new = _new("<video><model type='vga'/></video>")
        videos[-1].addnext(new)
        return "a second video of type vga"
    if not videos or not g.x86:
        return None
    model = videos[0].find("model")
    if model is None:
        return None
    for attr in ("ram", "vram", "vgamem", "vram64", "heads"):
        model.attrib.pop(attr, None)
    model.set("type", "vga")
    if how == "ram-on-vga":
        model.set("ram", "65536")
    elif how == "heads-on-vga":
        model.set("heads", "2")
    else:
        for old in model.findall("acceleration"):
            model.remove(old)
        model.append(_new("<acceleration accel3d='yes'/>"))
    return f"{g.where(model)}: {how}"


@operator("config", "input-options")
def _input_options(rng: random.Random, g: Guest) -> str | None:
    how = rng.choice(("tablet-on-ps2", "transitional-virtio", "passthrough-on-usb",
                      "evdev-with-bus"))
    snippet = {
        "tablet-on-ps2": "<input type='tablet' bus='ps2'/>",
        "transitional-virtio": "<input type='keyboard' bus='virtio' "
                               "model='virtio-non-transitional'/>",
        "passthrough-on-usb": "<input type='passthrough' bus='usb'>"
                              "<source evdev='/dev/input/event1'/></input>",
        "evdev-with-bus": "<input type='evdev' bus='usb'><source dev='/dev/input/event2'/>"
                          "</input>",
    }[how]
    _append_devices(g, snippet)
    return f"input: {how}"


@operator("config", "iommu-options")
def _iommu_options(rng: random.Random, g: Guest) -> str | None:
    if not g.q35:
        return None
    for old in g.device_list("iommu"):
        g.devices.remove(old)
    how = rng.choice(("intremap-without-split-ioapic", "eim-without-intremap",
                      "virtio-with-caching-mode", "intel-with-address"))
    snippet = {
        "intremap-without-split-ioapic": "<iommu model='intel'><driver intremap='on'/></iommu>",
        "eim-without-intremap": "<iommu model='intel'><driver eim='on'/></iommu>",
        "virtio-with-caching-mode": "<iommu model='virtio'><driver caching_mode='on'/></iommu>",
        "intel-with-address": "<iommu model='intel'><driver aw_bits='48'/></iommu>",
    }[how]
    _append_devices(g, snippet)
    if g.root.find("features/acpi") is None:
        features = g.root.find("features")
        if features is None:
            _after_os(g, "<features><acpi/></features>")
        else:
            features.append(_new("<acpi/>"))
    return f"iommu: {how}"


@operator("config", "qemu-lacks-device")
def _qemu_lacks(rng: random.Random, g: Guest) -> str | None:
    """A device model the guest's QEMU binary does not have (ivshmem everywhere; ramfb and the
    TPM CRB on ppc64; qxl, i8042 and pvpanic on aarch64; HDA sound and LSI SCSI on s390x)."""
    choices = {"x86_64": ("<shmem name='m0'><size unit='M'>4</size></shmem>",),
               "ppc64": ("<video><model type='ramfb'/></video>",
                         "<shmem name='m0'><size unit='M'>4</size></shmem>"),
               "aarch64": ("<video><model type='qxl'/></video>",
                           "<input type='mouse' bus='ps2'/>", "<panic model='isa'/>"),
               "s390x": ("<sound model='ich9'/>",
                         "<controller type='scsi' index='7' model='lsilogic'/>")}.get(g.arch)
    if not choices:
        return None
    snippet = rng.choice(choices)
    _append_devices(g, snippet)
    return f"{g.arch} QEMU lacks: {snippet}"


# ---- the list ---------------------------------------------------------------------------------


def _pick_base(rng: random.Random, bases: tuple[Base, ...]) -> Base:
    """Half the time a generated guest, else an example or a family guest (a quarter each)."""
    generated = [b for b in bases if b.label.startswith("generated:")]
    examples = [b for b in bases if b.label.startswith("example:")]
    family = [b for b in bases if b.label.startswith("family:")]
    r = rng.random()
    pool = generated if r < 0.5 else examples if r < 0.75 else family
    return rng.choice(pool or list(bases))


def _one(index: int, seed: int, bases: tuple[Base, ...], seen: set[str]) -> Mutation:
    rng = random.Random(f"{seed}:{index}")
    kind = SCHEDULE[index % len(SCHEDULE)] if index < SCHEDULED else "value"
    ops = OPERATORS[kind] if index < SCHEDULED else TABLE_OPERATORS
    for _ in range(200):
        name = rng.choice(sorted(ops))
        for _ in range(60):
            base = _pick_base(rng, bases)
            guest = Guest(base.xml)
            description = ops[name](rng, guest)
            if description is None:
                continue
            xml = etree.tostring(guest.root, encoding="unicode")
            if xml == base.xml or xml in seen:
                continue
            seen.add(xml)
            return Mutation(index, kind, name, base.label, description, xml)
    raise RuntimeError(f"no mutation of kind {kind} applies (index {index})")


def mutations(count: int = COUNT, seed: int = SEED) -> list[Mutation]:
    """``count`` mutations, the same on every run; no two alike."""
    bases = base_guests()
    seen = {b.xml for b in bases}
    return [_one(i, seed, bases, seen) for i in range(count)]


def by_kind(items: list[Mutation]) -> Iterator[tuple[str, list[Mutation]]]:
    for kind in KINDS:
        yield kind, [m for m in items if m.kind == kind]


if __name__ == "__main__":  # a look at a few: python tests/mutations.py
    for m in mutations(20):
        print(m.index, m.kind, m.operator, m.base, m.description, sep=" | ")
    print(Path(__file__).name, "ok")
