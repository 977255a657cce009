"""Check a guest against the real stack: where QEMU actually puts each PCI device.

:func:`verify` augments one domain file, defines a copy of it in the local libvirt under a
temporary name, starts it paused under TCG (no guest code runs), reads the device tree QEMU
built (``info qtree``) and compares every PCI device's bus/slot/function with the address in the
XML (and, on s390x, every CCW device's devno). Whatever happens, the temporary domain is
destroyed and undefined and its scratch files are removed.

The boot copy differs from the augmented XML only where a paused start on this host needs it, and
never in anything that decides placement: domain type ``qemu``, a unique name, no UUID, disk
images created empty in a scratch folder, networks turned into user-mode networking, socket
paths moved into the scratch folder, a plain CPU model and small memory.

The steps are public, and tested one by one: :func:`device_entries` names the devices of a
domain the same way on both sides of a comparison, :func:`parse_qtree` reads QEMU's tree,
:func:`compare_with_qemu` makes the rows. What only the tests need (address and controller
signatures, topology diffs) lives in ``tests/libvirt_env.py``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from ..model.numbers import strict
from ..model.values import CONTROLLER_INDEX, CcwValue, PciValue, read_address
from ..xml.document import Element

DEFAULT_URI = "qemu:///system"


def default_uri() -> str:
    """The libvirt URI ``virsh`` itself would use without ``-c``: ``$LIBVIRT_DEFAULT_URI``,
    else the system QEMU driver."""
    return os.environ.get("LIBVIRT_DEFAULT_URI") or DEFAULT_URI
NAME_PREFIX = "augmenter-verify"
VIRSH_TIMEOUT = 120.0

# Elements of <devices> that are not devices with an address of their own.
NOT_DEVICES = {"emulator", "audio", "graphics", "lease", "redirfilter", "crypto"}


class VerifyError(Exception):
    """libvirt or QEMU refused a step (define, start, monitor); the message is theirs."""


# ---- addresses and names ---------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class PciLocation:
    """Where the XML or QEMU's qtree puts a PCI function: controller index of the bus, slot,
    function, shown as ``bus:slot.function`` (``model.addresses.PciAddress`` is the placement
    value, shown with its domain)."""

    bus: int
    slot: int
    function: int

    def __str__(self) -> str:
        return f"{self.bus:02x}:{self.slot:02x}.{self.function:x}"


@dataclass(frozen=True, order=True)
class CcwAddress:
    """A channel-subsystem address (s390): ``fe.0.0001``."""

    cssid: int
    ssid: int
    devno: int

    def __str__(self) -> str:
        return f"{self.cssid:x}.{self.ssid:x}.{self.devno:04x}"

    @classmethod
    def parse(cls, text: str) -> CcwAddress | None:
        """QEMU's spelling ``fe.0.0001``; None for ``<unset>`` or anything else."""
        m = re.fullmatch(r"([0-9a-fA-F]+)\.([0-9a-fA-F]+)\.([0-9a-fA-F]{4})", text.strip())
        if m is None:
            return None
        return cls(int(m.group(1), 16), int(m.group(2), 16), int(m.group(3), 16))


Address = PciLocation | CcwAddress


def device_address(el: Element) -> Address | None:
    """The PCI or CCW address of a device element, or None (other kinds or none at all)."""
    pci = pci_address(el)
    if pci is not None:
        return pci
    addr = el.find("address")
    value = read_address(addr) if addr is not None and addr.get("type") == "ccw" else None
    if not isinstance(value, CcwValue):
        return None
    return CcwAddress(value.cssid or 0, value.ssid or 0, value.devno or 0)


def pci_address(el: Element) -> PciLocation | None:
    """The ``<address type='pci'>`` of a device element, or None. Raises
    :class:`~augmenter.model.numbers.InvalidValue` for one libvirt would refuse."""
    addr = el.find("address")
    value = read_address(addr) if addr is not None and addr.get("type") == "pci" else None
    if not isinstance(value, PciValue):
        return None
    return PciLocation(value.bus, value.slot, value.function)


def controller_index(el: Element) -> int:
    """A ``<controller>``'s index as libvirt reads it (libvirt writes one on every
    controller; one without is index 0)."""
    f = CONTROLLER_INDEX
    index = strict(el, f.name, f.reader, f.base, nonnegative=f.nonnegative)
    return 0 if index is None else index


@dataclass(frozen=True)
class DeviceEntry:
    """One device of a ``<devices>`` list, under a key that survives re-ordering."""

    key: str  # "disk vda", "controller pci 1", "interface #0", ...
    label: str  # key plus a model, for people
    element: Element


def _model(el: Element) -> str | None:
    if el.tag in ("interface", "video"):
        m = el.find("model")
        return None if m is None else m.get("type")
    value: str | None = el.get("model")
    return value


def device_entries(root: Element) -> Iterator[DeviceEntry]:
    """Every device element of a domain, keyed the same way in libvirt's and our output.

    Disks go by target name, controllers by type, index and (for several controllers sharing an
    index, the ICH9 USB companions) their position among those, inputs by bus, type and position
    among those, everything else by its position among the devices with the same element name,
    which libvirt keeps.
    """
    devices = root.find("devices")
    if devices is None:
        return
    seen: dict[str, int] = {}
    for el in devices:
        if not isinstance(el.tag, str) or el.tag in NOT_DEVICES:
            continue
        if el.tag == "disk":
            target = el.find("target")
            base = f"disk {target.get('dev') if target is not None else '?'}"
        elif el.tag == "controller":
            base = f"controller {el.get('type')} {controller_index(el)}"
        elif el.tag == "input":
            # libvirt appends the implicit PS/2 pair after the user's inputs; we may not
            base = f"input {el.get('bus')} {el.get('type')} #"
        else:
            base = f"{el.tag} #"
        n = seen.get(base, 0)
        seen[base] = n + 1
        if base.endswith("#"):
            key = f"{base}{n}"
        elif n:
            key = f"{base} ({n + 1})"
        else:
            key = base
        model = _model(el)
        extra = [x for x in (el.get("type") if el.tag != "controller" else None, model) if x]
        label = key + (f" ({' '.join(extra)})" if extra else "")
        yield DeviceEntry(key, label, el)


# ---- QEMU's tree -----------------------------------------------------------------------------


@dataclass
class QemuDevice:
    """One ``dev:`` node of ``info qtree``."""

    type: str
    id: str
    bus: str  # name of the bus it sits on
    bus_type: str  # "PCI", "PCIE", "usb-bus", ...
    props: dict[str, str] = field(default_factory=dict)

    @property
    def devfn(self) -> tuple[int, int] | None:
        """(slot, function) on a PCI bus, from the ``addr = 1f.2`` property."""
        addr = self.props.get("addr")
        if addr is None or self.bus_type not in PCI_BUS_TYPES:
            return None
        m = re.fullmatch(r"([0-9a-fA-F]+)\.([0-7])", addr.strip())
        if m is None:
            return None
        return int(m.group(1), 16), int(m.group(2))

    @property
    def ccw(self) -> CcwAddress | None:
        """The channel-subsystem address of a device on the virtual CSS bus (s390)."""
        if self.bus_type != "virtual-css-bus":
            return None
        return CcwAddress.parse(self.props.get("devno", ""))


PCI_BUS_TYPES = {"PCI", "PCIE", "pxb-bus", "pxb-pcie-bus", "pxb-cxl-bus"}
"""qtree bus types whose devices carry a PCI ``addr``: the expander buses have their own."""

QEMU_INTERNAL_BUSES = {"pxb-internal"}
"""Buses QEMU builds inside one device; what sits there is not a device of the XML."""

_DEV_RE = re.compile(r'dev: (.+), id "(.*)"$')


def parse_qtree(text: str) -> list[QemuDevice]:
    """Devices of an ``info qtree`` dump, each with the bus it sits on.

    The dump is an indented tree of ``bus:`` and ``dev:`` nodes; a device's properties are the
    ``name = value`` lines indented one step below it, a bus's ``type`` likewise.
    """
    out: list[QemuDevice] = []
    # stack of (indent, the bus ([name, type]) or the device)
    stack: list[tuple[int, list[str] | QemuDevice]] = []
    for raw in text.splitlines():
        if not raw.strip():
            continue
        indent = len(raw) - len(raw.lstrip(" "))
        line = raw.strip()
        while stack and stack[-1][0] >= indent:
            stack.pop()
        parent = stack[-1] if stack else None
        if line.startswith("bus: "):
            bus = [line[5:].strip(), ""]
            stack.append((indent, bus))
            continue
        m = _DEV_RE.match(line)
        if m is not None:
            bus_name, bus_type = ("", "")
            if parent is not None and isinstance(parent[1], list):
                bus_name, bus_type = parent[1][0], parent[1][1]
            dev = QemuDevice(m.group(1), m.group(2), bus_name, bus_type)
            out.append(dev)
            stack.append((indent, dev))
            continue
        if parent is None:
            continue
        node = parent[1]
        if isinstance(node, list):
            if line.startswith("type "):
                node[1] = line[5:].strip()
        elif " = " in line:
            name, _, value = line.partition(" = ")
            node.props.setdefault(name.strip(), value.strip().strip('"'))
    return out


# ---- the report -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One PCI (or CCW) device: where the XML puts it and where QEMU has it."""

    device: str
    xml: Address | None
    qemu: Address | None
    qemu_type: str
    ok: bool
    note: str = ""


@dataclass
class VerifyReport:
    """The outcome of :func:`verify`: one row per PCI (or CCW) device, and any problem on the
    way."""

    source: str
    machine: str
    rows: list[Row] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # extra QEMU devices, libvirt changes

    @property
    def ok(self) -> bool:
        return not self.problems and all(r.ok for r in self.rows)

    @property
    def mismatches(self) -> list[Row]:
        return [r for r in self.rows if not r.ok]

    def _kind(self) -> str:
        if any(isinstance(r.xml, CcwAddress) for r in self.rows):
            return "devices" if any(isinstance(r.xml, PciLocation) for r in self.rows) else \
                "CCW devices"
        return "PCI devices"

    def render(self) -> str:
        """A plain-text table: device, XML address, address seen in QEMU, QEMU type, verdict."""
        head = ("device", "XML", "QEMU", "QEMU device", "")
        body = [(r.device, str(r.xml) if r.xml else "-", str(r.qemu) if r.qemu else "-",
                 r.qemu_type or "-", "ok" if r.ok else "MISMATCH" + (f": {r.note}" if r.note
                                                                     else ""))
                for r in self.rows]
        widths = [max(len(row[i]) for row in [head, *body]) for i in range(4)]
        lines = [f"{self.source} ({self.machine}): "
                 + (f"all {len(self.rows)} {self._kind()} where the XML puts them" if self.ok
                    else f"{len(self.mismatches)} of {len(self.rows)} {self._kind()} differ"
                    + (f", {len(self.problems)} other problems" if self.problems else ""))]
        for row in [head, *body]:
            cells = [row[i].ljust(widths[i]) for i in range(4)]
            lines.append("  ".join([*cells, row[4]]).rstrip())
        lines += [f"problem: {p}" for p in self.problems]
        return "\n".join(lines) + "\n"


def _bus_names(live: Element) -> dict[str, int]:
    """QEMU bus name -> libvirt controller index, from the live XML's PCI controller aliases."""
    names: dict[str, int] = {}
    for ctrl in live.iterfind("devices/controller[@type='pci']"):
        alias = ctrl.find("alias")
        index = controller_index(ctrl)
        if alias is not None and alias.get("name"):
            names[str(alias.get("name"))] = index
        names.setdefault(f"pci.{index}", index)
    return names


def _alias(el: Element | None) -> str | None:
    a = el.find("alias") if el is not None else None
    name: str | None = a.get("name") if a is not None else None
    return name or None


def compare_with_qemu(xml_root: Element, live_root: Element, qtree: list[QemuDevice]) -> tuple[
        list[Row], list[str]]:
    """Rows for every device of ``xml_root`` with a PCI or CCW address, located in QEMU through
    the alias libvirt gave it in ``live_root`` (the running domain's XML); plus problems: PCI and
    CCW devices in QEMU that no XML device accounts for, and devices libvirt moved."""
    bus_index = _bus_names(live_root)
    live = {e.key: e.element for e in device_entries(live_root)}
    # ICH9 UHCI companions share their EHCI master's alias, and QEMU gives them no id at all
    alias_count: dict[str, int] = {}
    for el in live.values():
        name = _alias(el)
        if name:
            alias_count[name] = alias_count.get(name, 0) + 1
    # A conventional pxb hides a pci-bridge with the pxb's own id on its internal bus: plumbing
    qtree = [d for d in qtree if d.bus not in QEMU_INTERNAL_BUSES]

    def located(d: QemuDevice) -> Address | None:
        devfn = d.devfn
        if devfn is not None and d.bus in bus_index:
            return PciLocation(bus_index[d.bus], *devfn)
        return d.ccw

    by_id = {d.id: d for d in qtree if d.id}
    by_place = {a: d for d in qtree if (a := located(d)) is not None}
    rows: list[Row] = []
    problems: list[str] = []
    accounted: set[int] = set()
    for entry in device_entries(xml_root):
        want = device_address(entry.element)
        if want is None:
            continue
        live_el = live.get(entry.key)
        alias = _alias(live_el)
        if live_el is not None and device_address(live_el) != want:
            problems.append(f"{entry.label}: libvirt moved it from {want} to "
                            f"{device_address(live_el)}")
        note = ""
        qdev = by_id.get(alias) if alias and alias_count.get(alias, 0) == 1 else None
        if qdev is None:
            # Board devices (q35 SATA, pc IDE) and ICH9 USB companions have no QEMU id: find
            # what sits at the address instead.
            qdev = by_place.get(want)
            if qdev is None:
                note = f"no QEMU device with id {alias!r} or at {want}"
            elif qdev.id and (qdev.id != alias or alias_count.get(alias or "", 0) == 1):
                note = f"QEMU has {qdev.id!r} there"
        seen: Address | None = None
        if qdev is not None:
            accounted.add(id(qdev))
            seen = located(qdev)
            if seen is None and not note:
                note = f"on bus {qdev.bus!r} ({qdev.bus_type}), no PCI or CCW address"
        if seen is not None and seen != want and not note:
            note = f"QEMU has it at {seen}"
        ok = not note and seen == want
        rows.append(Row(entry.label, want, seen, qdev.type if qdev else "", ok, note))
    for d in qtree:
        where = located(d)
        if where is None or id(d) in accounted or not d.id:
            continue
        problems.append(f"QEMU device {d.type} id {d.id!r} at {where} has no address in the XML")
    return rows, problems


# ---- driving libvirt --------------------------------------------------------------------------


class Virsh:
    """``virsh -c URI`` as a function: stdout on success, :class:`VerifyError` otherwise."""

    def __init__(self, uri: str = DEFAULT_URI, binary: str = "virsh") -> None:
        self.uri = uri
        self.binary = binary

    def __call__(self, *args: str, check: bool = True, timeout: float = VIRSH_TIMEOUT) -> str:
        cmd = [self.binary, "-q", "-c", self.uri, *args]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                                  check=False)
        except FileNotFoundError:
            raise VerifyError(f"{self.binary} not found (install libvirt-clients)") from None
        except subprocess.TimeoutExpired:
            raise VerifyError(f"virsh {' '.join(args)}: no answer in {timeout:.0f} s") from None
        if check and done.returncode != 0:
            msg = " ".join(done.stderr.split()) or f"exit status {done.returncode}"
            raise VerifyError(f"virsh {args[0]}: {msg}")
        return done.stdout

    def define(self, xml: str, workdir: Path) -> None:
        fd, path = tempfile.mkstemp(prefix="define-", suffix=".xml", dir=workdir)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(xml)
        self("define", path)

    def cleanup(self, name: str) -> None:
        """Destroy and undefine, ignoring "not running" / "no such domain"."""
        self("destroy", name, check=False)
        self("undefine", "--nvram", name, check=False)


def unique_name(label: str) -> str:
    """A domain name nobody else uses: prefix, a tidied label, a random tag."""
    tidy = re.sub(r"[^A-Za-z0-9_.-]+", "-", label)[:40].strip("-") or "guest"
    return f"{NAME_PREFIX}-{tidy}-{uuid.uuid4().hex[:8]}"


def _set_file_source(disk: Element, path: Path) -> None:
    source = disk.find("source")
    if source is None:
        source = etree.SubElement(disk, "source")
        disk.insert(0, source)
    for attr in list(source.attrib):
        del source.attrib[attr]
    for child in list(source):
        source.remove(child)
    source.set("file", str(path))
    disk.set("type", "file")


def _image_format(disk: Element) -> str:
    driver = disk.find("driver")
    fmt = driver.get("type") if driver is not None else None
    return "qcow2" if fmt == "qcow2" else "raw"


def boot_copy(xml: str, name: str, workdir: Path, qemu_img: str = "qemu-img") -> str:
    """The domain as it can start paused on this host: see the module docstring.

    Creates the disk images in ``workdir`` (``qemu-img create``: qcow2 16M, or raw for drives
    whose driver says raw, 1440K for floppies)."""
    root = etree.fromstring(xml.encode("utf-8"), etree.XMLParser(resolve_entities=False,
                                                                 no_network=True))
    root.set("type", "qemu")
    name_el = root.find("name")
    if name_el is None:
        name_el = etree.SubElement(root, "name")
    name_el.text = name
    for tag in ("uuid", "seclabel"):
        for el in root.findall(tag):
            root.remove(el)
    cpu = root.find("cpu")
    if cpu is not None and cpu.get("mode") in ("host-passthrough", "host-model", "maximum"):
        # TCG cannot do the host's CPU; NUMA cells (if any) stay.
        for attr in list(cpu.attrib):
            del cpu.attrib[attr]
        for child in list(cpu):
            if child.tag != "numa":
                cpu.remove(child)
        cpu.set("mode", "custom")
        cpu.set("match", "exact")
        model = etree.Element("model", fallback="allow")
        model.text = "qemu64"
        cpu.insert(0, model)
    if root.find("maxMemory") is None and root.find("cpu/numa") is None:
        for tag in ("memory", "currentMemory"):
            memory = root.find(tag)
            if memory is not None:
                memory.set("unit", "MiB")
                memory.text = "256"
    devices = root.find("devices")
    if devices is None:
        return str(etree.tostring(root, encoding="unicode"))
    for n, disk in enumerate(devices.findall("disk")):
        source = disk.find("source")
        has_source = source is not None and bool(source.attrib)
        if disk.get("device") in ("cdrom", "floppy") and not has_source:
            continue
        fmt = _image_format(disk)
        size = "1440K" if disk.get("device") == "floppy" else "16M"
        image = workdir / f"disk{n}.{fmt}"
        done = subprocess.run([qemu_img, "create", "-q", "-f", fmt, str(image), size],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise VerifyError(f"qemu-img create {image}: {done.stderr.strip()}")
        _set_file_source(disk, image)
    for iface in devices.findall("interface"):
        if iface.get("type") in ("network", "bridge", "direct", "ethernet"):
            iface.set("type", "user")
            for tag in ("source", "target", "virtualport", "bandwidth"):
                for el in iface.findall(tag):
                    iface.remove(el)
    sockets = 0
    for dev in devices:
        if dev.tag not in ("channel", "serial", "console", "parallel", "redirdev",
                           "smartcard"):
            continue
        source = dev.find("source")
        if dev.get("type") == "unix" and source is not None and source.get("path"):
            sockets += 1
            source.set("path", str(workdir / f"sock{sockets}"))
        elif dev.get("type") in ("tcp", "udp") and source is not None:
            # nothing listens on the far end: a pty starts without a peer
            dev.set("type", "pty")
            for el in dev.findall("source") + dev.findall("protocol"):
                dev.remove(el)
    for fs in devices.findall("filesystem"):
        source = fs.find("source")
        if source is not None and source.get("dir"):
            folder = workdir / f"fs-{abs(hash(source.get('dir')))}"
            folder.mkdir(exist_ok=True)
            source.set("dir", str(folder))
    for graphics in devices.findall("graphics"):
        if graphics.get("port") not in (None, "-1"):
            graphics.set("port", "-1")
            graphics.set("autoport", "yes")
    return str(etree.tostring(root, encoding="unicode"))


def _machine(root: Element) -> str:
    os_type = root.find("os/type")
    return str(os_type.get("machine")) if os_type is not None else "?"


def verify_xml(xml: str, label: str = "guest", *, uri: str = DEFAULT_URI,
               virsh: Virsh | None = None) -> VerifyReport:
    """:func:`verify` for a document already augmented (every PCI address written)."""
    virsh = virsh or Virsh(uri)
    root = etree.fromstring(xml.encode("utf-8"), etree.XMLParser(resolve_entities=False,
                                                                 no_network=True))
    report = VerifyReport(label, _machine(root))
    name = unique_name(label)
    workdir = Path(tempfile.mkdtemp(prefix="augmenter-verify-"))
    os.chmod(workdir, 0o755)  # QEMU may run as another user
    defined = False
    try:
        copy = boot_copy(xml, name, workdir)
        virsh.define(copy, workdir)
        defined = True
        virsh("start", "--paused", name)
        live = etree.fromstring(virsh("dumpxml", name).encode("utf-8"))
        report.machine = _machine(live)
        qtree = parse_qtree(virsh("qemu-monitor-command", "--hmp", name, "info qtree"))
        report.rows, report.problems = compare_with_qemu(root, live, qtree)
    finally:
        if defined:
            virsh.cleanup(name)
        shutil.rmtree(workdir, ignore_errors=True)
    return report


def verify(path: str, *, uri: str = DEFAULT_URI) -> VerifyReport:
    """Augment the domain in ``path``, boot a copy paused on the local host, and compare every
    PCI device's XML address with where QEMU put it.

    Raises :class:`augmenter.AugmentError` if the file cannot be augmented and
    :class:`VerifyError` if libvirt or QEMU refuse a step (the temporary domain is removed
    either way)."""
    from .. import augment  # late: augmenter/__init__ imports nothing from here

    text = Path(path).read_bytes()
    return verify_xml(augment(text), label=Path(path).stem, uri=uri)
