"""The real stack for the tests: a running libvirtd, virsh, and seeded random guests.

``libvirt_or_skip()`` makes sure ``libvirtd`` (and ``virtlogd``, which starts
guests' logs) answers on ``qemu:///system``. A daemon that already runs is left alone; otherwise,
as root, it is started the way DEVELOPERS.md describes. Without root or the packages the tests
skip with the reason, or fail when the environment variable ``CI`` is set.

``generated_guests()`` is a deterministic, seeded generator of pc / q35 guests (``random.Random``,
not Hypothesis, so the same guests come out on every run and on every machine): 0 to 60 devices
of every kind the placement handles, a few user-fixed addresses and user-written buses, every
guest one that libvirt 9.0 accepts.
"""

from __future__ import annotations

import functools
import os
import random
import shutil
import socket
import subprocess
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import pytest
from lxml import etree

from augmenter.cli.verify import NAME_PREFIX, VIRSH_TIMEOUT, VerifyError, Virsh, device_entries
from augmenter.model.domain import disk_name
from augmenter.model.numbers import read

URI = "qemu:///system"
SOCKET = Path("/var/run/libvirt/libvirt-sock")
VIRTLOGD_SOCKET = Path("/var/run/libvirt/virtlogd-sock")
QEMU_CONF = Path("/etc/libvirt/qemu.conf")
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
EMULATOR = "/usr/bin/qemu-system-x86_64"

GUEST_SEED = 20240905
GUEST_COUNT = 220
BOOT_SAMPLE = 30


def missing(what: str) -> NoReturn:
    """Skip the test, or fail it under CI (where everything must be installed and running)."""
    if os.environ.get("CI"):
        pytest.fail(f"{what}; CI must provide it (scripts/test.sh installs the packages, "
                    "these fixtures start the daemons as root)", pytrace=False)
    pytest.skip(what)


# ---- the daemons ------------------------------------------------------------------------------


def _answers(virsh: Virsh) -> bool:
    try:
        virsh("uri", timeout=15)
    except VerifyError:
        return False
    return True


def _ensure_root_user_config() -> None:
    """qemu.conf: run QEMU as root (a container has no use for the libvirt-qemu user)."""
    text = QEMU_CONF.read_text() if QEMU_CONF.exists() else ""
    keys = {line.split("=")[0].strip() for line in text.splitlines()
            if "=" in line and not line.lstrip().startswith("#")}
    extra = [f'{key} = "root"' for key in ("user", "group") if key not in keys]
    if extra:
        QEMU_CONF.parent.mkdir(parents=True, exist_ok=True)
        with QEMU_CONF.open("a") as fh:
            fh.write(("\n" if text and not text.endswith("\n") else "") + "\n".join(extra) + "\n")


def listening(path: Path) -> bool:
    """Whether a daemon accepts connections on the UNIX socket ``path``.

    A socket file alone proves nothing: a daemon that was killed (a machine restored from a
    snapshot, a session that ended) leaves its file behind, and every client then gets
    "Connection refused"."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        try:
            sock.connect(str(path))
        except OSError:
            return False
    return True


def _wait_for(path: Path, seconds: float) -> bool:
    """Wait until a daemon listens on ``path``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if listening(path):
            return True
        time.sleep(0.05)
    return listening(path)


def start_daemons() -> str | None:
    """Start virtlogd and libvirtd when they are not running; None, or why it cannot be done."""
    virsh = Virsh(URI)
    libvirtd_up = listening(SOCKET) and _answers(virsh)
    virtlogd_up = listening(VIRTLOGD_SOCKET)
    if libvirtd_up and virtlogd_up:
        return None
    if os.geteuid() != 0:
        if SOCKET.exists() and not libvirtd_up:
            return (f"libvirtd at {SOCKET} does not let this user use qemu:///system "
                    "(run the tests as root)")
        return "libvirtd/virtlogd not running and not root, cannot start them"
    for binary in ("libvirtd", "virtlogd"):
        if shutil.which(binary) is None and not Path(f"/usr/sbin/{binary}").exists():
            return f"{binary} not installed (Debian package libvirt-daemon)"
    env = dict(os.environ, PATH=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    for folder in ("/var/log/libvirt", "/var/run/libvirt", "/var/lib/libvirt/images"):
        Path(folder).mkdir(parents=True, exist_ok=True)
    if not virtlogd_up:
        # QEMU's output goes through virtlogd (qemu.conf stdio_handler "logd", the default);
        # without systemd socket activation nobody else starts it. It replaces a stale socket.
        subprocess.run(["virtlogd", "-d"], env=env, check=False, capture_output=True)
        if not _wait_for(VIRTLOGD_SOCKET, 10):
            return f"virtlogd -d does not listen on {VIRTLOGD_SOCKET} after 10 s"
    if not libvirtd_up:
        _ensure_root_user_config()
        if subprocess.run(["id", "libvirt-qemu"], capture_output=True).returncode != 0:
            subprocess.run(["useradd", "-r", "libvirt-qemu"], env=env, check=False,
                           capture_output=True)
        subprocess.run(["libvirtd", "-d"], env=env, check=False, capture_output=True)
        if not _wait_for(SOCKET, 30):
            return f"libvirtd -d does not listen on {SOCKET} after 30 s"
        deadline = time.monotonic() + 30
        while not _answers(virsh):
            if time.monotonic() > deadline:
                return "libvirtd started but does not answer on qemu:///system"
            time.sleep(0.1)
    return None


@functools.cache
def _setup_problem() -> str | None:
    """Why the real stack is not usable here (None: it is). Tried once per test run."""
    for tool in ("virsh", "qemu-img"):
        if shutil.which(tool) is None:
            return f"{tool} not found on PATH (Debian packages libvirt-clients, qemu-utils)"
    if not Path(EMULATOR).exists():
        return f"{EMULATOR} not installed (Debian package qemu-system-x86)"
    if shutil.which("libvirtd") is None and not Path("/usr/sbin/libvirtd").exists():
        return "libvirtd not installed (Debian package libvirt-daemon)"
    return start_daemons()


_revive_lock = threading.Lock()
_restarts: list[str] = []  # why the daemons were started again during this run (at most once)


def _daemons_alive() -> bool:
    return listening(SOCKET) and listening(VIRTLOGD_SOCKET)


def revive_daemons() -> None:
    """Start the shared daemons again if they died since the run began: once per run, and
    said as a warning, so that one dead libvirtd does not fail every later test with a
    connection error. A second death fails the calling test with the reason."""
    with _revive_lock:  # tests define guests from several threads at once
        if _daemons_alive():
            return
        if _restarts:
            pytest.fail(f"libvirtd/virtlogd died again after being restarted once "
                        f"({_restarts[0]})", pytrace=False)
        why = start_daemons()
        _restarts.append(why or "restarted")
    if why is not None:
        missing(f"libvirtd/virtlogd died during the run and could not be started again: {why}")
    warnings.warn("libvirtd/virtlogd had stopped during the test run; started them again",
                  stacklevel=2)


class RevivingVirsh(Virsh):
    """:class:`Virsh` that, when the daemon stops answering, starts it again once and
    retries the command."""

    def __call__(self, *args: str, check: bool = True, timeout: float = VIRSH_TIMEOUT) -> str:
        try:
            return super().__call__(*args, check=check, timeout=timeout)
        except VerifyError:
            if _daemons_alive():
                raise
            revive_daemons()
            return super().__call__(*args, check=check, timeout=timeout)


def libvirt_or_skip() -> Virsh:
    """A :class:`Virsh` on qemu:///system with the daemons running, QEMU and qemu-img present;
    otherwise the calling test (or fixture) skips, or fails under CI. Daemons that died since
    the run began are started again (once)."""
    why = _setup_problem()
    if why is not None:
        missing(why)
    revive_daemons()
    return RevivingVirsh(URI)


def remove_leftovers(virsh: Virsh) -> None:
    """Destroy and undefine every domain this test run defined (by name prefix and pid)."""
    prefix = run_prefix()
    for name in virsh("list", "--all", "--name", check=False).split():
        if name.startswith(prefix):
            virsh.cleanup(name)


def run_prefix() -> str:
    return f"{NAME_PREFIX}-t{os.getpid()}-"


def define_and_dump(virsh: Virsh, xml: str, label: str, workdir: Path) -> str:
    """``virsh define`` the document under a fresh name, return ``dumpxml``, undefine."""
    root = etree.fromstring(xml.encode("utf-8"))
    name = f"{run_prefix()}{label}"[:60]
    name_el = root.find("name")
    assert name_el is not None
    name_el.text = name
    root.set("type", "qemu")
    for el in root.findall("uuid"):
        root.remove(el)
    path = workdir / f"{label}.xml"
    path.write_bytes(etree.tostring(root))
    try:
        virsh("define", str(path))
        return virsh("dumpxml", "--inactive", name)
    finally:
        virsh("undefine", "--nvram", name, check=False)


def as_qemu_type(xml: str) -> str:
    """The same domain with ``type='qemu'`` (no KVM here; it changes no placement)."""
    root = etree.fromstring(xml.encode("utf-8"))
    root.set("type", "qemu")
    return etree.tostring(root, encoding="unicode")


# ---- topologies -------------------------------------------------------------------------------
# What placement decided, as values that compare equal when libvirt and augmenter agree.


def address_fields(addr: etree._Element | None) -> tuple[tuple[str, object], ...] | None:
    """All attributes of an ``<address>`` element, numbers as numbers, in name order."""
    if addr is None:
        return None
    out: list[tuple[str, object]] = []
    for key, value in sorted(addr.attrib.items()):
        number = read(value, "uip", 0) if key != "type" else None
        out.append((str(key), number if number is not None else str(value)))
    return tuple(out)


def describe_address(fields: tuple[tuple[str, object], ...] | None) -> str:
    """``pci 00:1f.2``, ``drive 0:0:0:1``, ... for messages."""
    if fields is None:
        return "-"
    d = dict(fields)
    kind = str(d.pop("type", "?"))
    if kind == "pci":
        text = (f"pci {int(str(d.get('bus', 0))):02x}:{int(str(d.get('slot', 0))):02x}"
                f".{int(str(d.get('function', 0))):x}")
        if d.get("multifunction") is not None:
            text += f" multifunction={d['multifunction']}"
        return text
    return kind + " " + " ".join(f"{k}={v}" for k, v in d.items() if k != "domain")


def controller_signature(el: etree._Element) -> tuple[str, ...]:
    """What defines a controller besides its address: type, index, model, model name, target."""
    parts = [str(el.get("type")), str(read(el.get("index") or "0", "uip", 0)),
             el.get("model") or "-"]
    model = el.find("model")
    parts.append(f"name={model.get('name')}" if model is not None else "name=-")
    target = el.find("target")
    if target is not None:
        parts += [f"{k}={number if (number := read(v, 'uip', 0)) is not None else v}"
                  for k, v in sorted(target.attrib.items())]
    return tuple(parts)


AddressFields = tuple[tuple[str, object], ...] | None


@dataclass
class Topology:
    """What placement decides: every device's address, and the controllers."""

    addresses: dict[str, AddressFields]  # device key -> address (None: no address)
    labels: dict[str, str]
    controllers: list[tuple[str, ...]]  # controller_signature, in document order

    @classmethod
    def of(cls, xml: str) -> Topology:
        root = etree.fromstring(xml.encode("utf-8"))
        addresses: dict[str, AddressFields] = {}
        labels: dict[str, str] = {}
        controllers: list[tuple[str, ...]] = []
        hubs: list[AddressFields] = []
        for entry in device_entries(root):
            fields = address_fields(entry.element.find("address"))
            if entry.element.tag == "hub":
                hubs.append(fields)
                continue
            addresses[entry.key] = fields
            labels[entry.key] = entry.label
            if entry.element.tag == "controller":
                controllers.append(controller_signature(entry.element))
        # Hubs are all alike, and libvirt appends the ones it adds where we may not: compare
        # them as a set of addresses.
        for n, fields in enumerate(sorted(hubs, key=repr)):
            addresses[f"hub {n}"] = fields
            labels[f"hub {n}"] = f"hub {n}"
        return cls(addresses, labels, controllers)


def topology_diff(ours: Topology, theirs: Topology, ordered_controllers: bool,
                  their_name: str = "libvirt") -> list[str]:
    """Readable differences, one line each; empty when the topologies agree."""
    lines: list[str] = []
    for key in sorted(set(ours.addresses) | set(theirs.addresses)):
        label = ours.labels.get(key) or theirs.labels.get(key, key)
        if key not in theirs.addresses:
            lines.append(f"{label}: only in ours ({describe_address(ours.addresses[key])})")
        elif key not in ours.addresses:
            lines.append(f"{label}: added by {their_name} "
                         f"({describe_address(theirs.addresses[key])})")
        elif ours.addresses[key] != theirs.addresses[key]:
            lines.append(f"{label}: ours {describe_address(ours.addresses[key])}, "
                         f"{their_name} {describe_address(theirs.addresses[key])}")
    a, b = ours.controllers, theirs.controllers
    if not ordered_controllers:
        # libvirt sorts what it parses into its own order; we keep the document's
        a, b = sorted(a), sorted(b)
    if a != b:
        sa, sb = set(a), set(b)
        for sig in a:
            if sig not in sb:
                lines.append(f"controller only in ours: {' '.join(sig)}")
        for sig in b:
            if sig not in sa:
                lines.append(f"controller added/changed by {their_name}: {' '.join(sig)}")
        if sa == sb:
            lines.append("controller order differs:")
            lines += [f"  ours {i:2}: {' '.join(x)}" for i, x in enumerate(a)]
            lines += [f"  {their_name} {i:2}: {' '.join(x)}" for i, x in enumerate(b)]
    return lines


def render_topology(topo: Topology) -> str:
    """The topology as a sorted table, for side-by-side reading."""
    width = max((len(v) for v in topo.labels.values()), default=10)
    rows = [f"{topo.labels[k]:<{width}}  {describe_address(a)}"
            for k, a in sorted(topo.addresses.items())]
    return "\n".join(rows)


# ---- seeded guests ----------------------------------------------------------------------------


@dataclass
class GeneratedGuest:
    """One generated guest: its XML (no addresses but a few user-fixed ones) and facts."""

    label: str
    seed: int
    machine: str
    xml: str
    kinds: list[str]
    bootable: bool  # nothing in it needs host hardware this machine lacks
    device_count: int  # devices written, not counting controllers, video, balloon, watchdog


def _pci(bus: int, slot: int, function: int = 0, multifunction: bool = False) -> str:
    mf = " multifunction='on'" if multifunction else ""
    return (f"<address type='pci' domain='0x0000' bus='0x{bus:02x}' slot='0x{slot:02x}' "
            f"function='0x{function:x}'{mf}/>")


@dataclass
class _Dev:
    kind: str
    head: str  # start tag, without the closing '>'
    body: list[str] = field(default_factory=list)
    tag: str = ""
    pci: str | None = None  # "pcie" | "pci" | "virtio" when it can take a fixed PCI address
    address: str = ""
    name: str = ""  # disks: the target name

    def render(self) -> str:
        inner = [*self.body, self.address] if self.address else list(self.body)
        if not inner:
            return f"    {self.head}/>"
        lines = [f"    {self.head}>", *(f"      {x}" for x in inner), f"    </{self.tag}>"]
        return "\n".join(lines)


def _dev(kind: str, tag: str, attrs: str, body: list[str] | None = None,
         pci: str | None = None) -> _Dev:
    return _Dev(kind, f"<{tag} {attrs}".rstrip(), body or [], tag, pci)


DEVICE_WEIGHTS: dict[str, int] = {
    "virtio-disk": 6, "sata-disk": 2, "ide-disk": 1, "scsi-disk": 4, "usb-disk": 1,
    "floppy": 1, "interface": 5, "channel": 3, "virtio-console": 1, "serial": 1,
    "pci-serial": 1, "usb-serial": 1, "parallel": 1, "usb-input": 2, "virtio-input": 1,
    "redirdev": 2, "hub": 1, "sound": 2, "rng": 1, "filesystem": 1, "shmem": 1,
    "smartcard": 1, "panic": 1, "vsock": 1, "hostdev": 1, "iommu": 1, "video2": 1,
}
Q35_MACHINES = ("q35", "q35", "q35", "pc-q35-7.2", "pc-q35-5.2", "pc-q35-2.12")
PC_MACHINES = ("pc", "pc", "pc", "pc-i440fx-7.2", "pc-i440fx-5.2", "pc-i440fx-2.12")
# need /dev/vhost-vsock, a real PCI device, swtpm
UNBOOTABLE = {"vsock", "hostdev", "hostdev-interface", "tpm"}
NET_MODELS = ("virtio", "virtio", "virtio", "e1000", "e1000e", "rtl8139",
              "virtio-transitional", "vmxnet3")
USB_MODELS = (None, None, "none", "piix3-uhci", "piix4-uhci", "ehci", "ich9-ehci1",
              "ich9-ehci1+companions", "nec-xhci", "qemu-xhci", "qemu-xhci", "pci-ohci")
SCSI_MODELS = (None, "virtio-scsi", "virtio-scsi", "lsilogic", "virtio-transitional")
VIDEO_MODELS = (None, "vga", "cirrus", "qxl", "virtio", "bochs", "none")


USB_DEVICE_TAGS = {"input", "redirdev", "hub"}
DRIVE_GEOMETRY = {"sata-disk": 6, "scsi-disk": 7}  # units per controller (one bus each)


def _pin_other_addresses(rng: random.Random, devs: list[_Dev], kinds: list[str],
                         sd_pool: list[int], usb_model: str | None, controllers: list[str],
                         vserial_ports: int) -> None:
    """User-fixed drive, USB and virtio-serial addresses that collide with nothing."""
    for dev in devs:
        if dev.kind in DRIVE_GEOMETRY and sd_pool and rng.random() < 0.3:
            # take the address another name would have had, and keep that name unused
            reserved = sd_pool.pop(rng.randrange(len(sd_pool)))
            ctrl, unit = divmod(reserved, DRIVE_GEOMETRY[dev.kind])
            dev.address = (f"<address type='drive' controller='{ctrl}' bus='0' target='0' "
                           f"unit='{unit}'/>")
            kinds.append("drive-address")
    root_ports = {"qemu-xhci": 4, "nec-xhci": 4, "piix3-uhci": 2, "piix4-uhci": 2,
                  "ehci": 6, "pci-ohci": 3}.get(usb_model or "", 0)
    if any("ports='15'" in c for c in controllers):
        root_ports = 15
    usb = [d for d in devs if ((d.tag in USB_DEVICE_TAGS and "bus='usb'" in d.head)
                               or d.tag == "hub" or d.kind == "usb-disk")]
    if root_ports and usb and len(usb) < root_ports and rng.random() < 0.5:
        # (with more devices than root ports, libvirt's hubs need the root ports)
        ports = list(range(1, root_ports + 1))
        rng.shuffle(ports)
        for dev in usb[:rng.randint(1, min(2, len(usb)))]:
            dev.address = f"<address type='usb' bus='0' port='{ports.pop()}'/>"
        kinds.append("usb-address")
    channels = [d for d in devs if d.tag == "channel"]
    if channels and rng.random() < 0.5:
        ports = list(range(1, vserial_ports))
        rng.shuffle(ports)
        for dev in channels[:rng.randint(1, 2)]:
            if rng.random() < 0.2:
                dev.address = "<address type='virtio-serial' controller='1' bus='0'/>"
            elif ports:
                dev.address = (f"<address type='virtio-serial' controller='0' bus='0' "
                               f"port='{ports.pop()}'/>")
        kinds.append("virtio-serial-address")


def generate_guest(seed: int) -> GeneratedGuest:
    """One guest from a seed; the same seed always gives the same guest."""
    rng = random.Random(seed)
    q35 = rng.random() < 0.5
    machine = rng.choice(Q35_MACHINES) if q35 else rng.choice(PC_MACHINES)
    edgy = rng.random() < 0.4  # user-fixed drive / USB / virtio-serial / PCI addresses
    host_devices = rng.random() < 0.25  # vsock, PCI host devices: define only, no boot
    count = rng.randint(0, 60)
    pool = [k for k, w in DEVICE_WEIGHTS.items() for _ in range(w)]
    wanted = [rng.choice(pool) for _ in range(count)]
    graphics = rng.choice((None, "vnc", "spice", "spice"))
    usb_model = rng.choice(USB_MODELS)
    devs: list[_Dev] = []
    controllers: list[str] = []
    kinds: list[str] = []
    usb_kinds = {"usb-disk", "usb-serial", "usb-input", "redirdev", "hub", "smartcard",
                 "usb-sound"}

    vd = 0
    hd_pool = list(range(4))
    sd_pool = list(range(40))
    fd_pool = [0, 1]
    counters: dict[str, int] = {}
    scsi_used = sata_used = False
    serial_ports = list(range(4))
    parallel_ports = list(range(3))
    once: set[str] = set()

    def bump(name: str) -> int:
        counters[name] = counters.get(name, 0) + 1
        return counters[name]

    def disk(name: str, bus: str, device: str = "disk", extra: list[str] | None = None,
             model: str | None = None) -> _Dev:
        fmt = "raw" if device in ("cdrom", "floppy") else "qcow2"
        ext = {"cdrom": "iso", "floppy": "img"}.get(device, "qcow2")
        body = [f"<driver name='qemu' type='{fmt}'/>",
                f"<source file='/var/lib/libvirt/images/{name}.{ext}'/>",
                f"<target dev='{name}' bus='{bus}'/>"]
        if device == "cdrom":
            body.append("<readonly/>")
        body += extra or []
        attrs = f"type='file' device='{device}'" + (f" model='{model}'" if model else "")
        dev = _dev(bus + "-disk", "disk", attrs, body, "virtio" if bus == "virtio" else None)
        dev.name = name
        return dev

    for kind in wanted:
        if kind in usb_kinds and usb_model == "none":
            continue
        if kind in UNBOOTABLE and not host_devices:
            continue
        if kind == "virtio-disk":
            vd += rng.choice((0, 0, 0, 1, 2))
            model = rng.choice((None,) * 8 + ("virtio-transitional", "virtio-non-transitional"))
            dev = disk(disk_name("vd", vd), "virtio", model=model)
            if model == "virtio-transitional":
                dev.pci = "pci"
            devs.append(dev)
            vd += 1
        elif kind == "sata-disk" and sd_pool:
            name = disk_name("sd", sd_pool.pop(rng.randrange(len(sd_pool))))
            devs.append(disk(name, "sata", rng.choice(("disk", "cdrom"))))
            sata_used = True
        elif kind == "ide-disk" and not q35 and hd_pool:
            name = disk_name("hd", hd_pool.pop(rng.randrange(len(hd_pool))))
            devs.append(disk(name, "ide", rng.choice(("disk", "cdrom"))))
        elif kind == "scsi-disk" and sd_pool:
            name = disk_name("sd", sd_pool.pop(rng.randrange(len(sd_pool))))
            devs.append(disk(name, "scsi", rng.choice(("disk",) * 4 + ("cdrom",))))
            scsi_used = True
        elif kind == "usb-disk" and sd_pool:
            name = disk_name("sd", sd_pool.pop(rng.randrange(len(sd_pool))))
            devs.append(disk(name, "usb"))
        elif kind == "floppy" and not q35 and fd_pool:
            devs.append(disk(disk_name("fd", fd_pool.pop(0)), "fdc", "floppy"))
        elif kind == "interface":
            model = rng.choice(NET_MODELS)
            n = bump("net")
            cls = {"e1000e": "pcie", "virtio": "virtio", "vmxnet3": "pci"}.get(model, "pci")
            devs.append(_dev(f"{model}-net", "interface", "type='network'", [
                f"<mac address='52:54:00:{seed % 256:02x}:{n // 256:02x}:{n % 256:02x}'/>",
                "<source network='default'/>", f"<model type='{model}'/>"], cls))
        elif kind == "channel":
            n = bump("channel")
            spice = graphics == "spice" and "spicevmc" not in once
            ctype = rng.choice(("unix", "unix", "pty", "spicevmc" if spice else "unix"))
            if ctype == "spicevmc":
                once.add("spicevmc")  # QEMU knows one spicevmc channel name only
            name = "com.redhat.spice.0" if ctype == "spicevmc" else f"org.example.channel.{n}"
            body = []
            if ctype == "unix" and rng.random() < 0.5:
                body.append(f"<source mode='bind' path='/var/lib/libvirt/qemu/ch-{seed}-{n}'/>")
            body.append(f"<target type='virtio' name='{name}'/>")
            devs.append(_dev("channel", "channel", f"type='{ctype}'", body))
        elif kind == "virtio-console":
            devs.append(_dev("virtio-console", "console", "type='pty'",
                             ["<target type='virtio'/>"]))
        elif kind == "serial" and serial_ports:
            port = serial_ports.pop(0)
            devs.append(_dev("serial", "serial", "type='pty'",
                             [f"<target type='isa-serial' port='{port}'/>"]))
        elif kind == "pci-serial":
            devs.append(_dev("pci-serial", "serial", "type='pty'",
                             ["<target type='pci-serial'/>"], "pci"))
        elif kind == "usb-serial":
            devs.append(_dev("usb-serial", "serial", "type='pty'",
                             ["<target type='usb-serial'/>"]))
        elif kind == "parallel" and parallel_ports:
            port = parallel_ports.pop(0)
            devs.append(_dev("parallel", "parallel", "type='pty'",
                             [f"<target port='{port}'/>"]))
        elif kind == "usb-input":
            itype = rng.choice(("tablet", "keyboard", "mouse"))
            devs.append(_dev("usb-input", "input", f"type='{itype}' bus='usb'"))
        elif kind == "virtio-input":
            itype = rng.choice(("tablet", "keyboard", "mouse"))
            devs.append(_dev("virtio-input", "input", f"type='{itype}' bus='virtio'", pci="virtio"))
        elif kind == "redirdev":
            if graphics == "spice" and rng.random() < 0.5:
                devs.append(_dev("redirdev", "redirdev", "bus='usb' type='spicevmc'"))
            else:
                port = 4000 + bump("redir")
                devs.append(_dev("redirdev", "redirdev", "bus='usb' type='tcp'", [
                    f"<source mode='connect' host='localhost' service='{port}'/>"]))
        elif kind == "hub":
            devs.append(_dev("hub", "hub", "type='usb'"))
        elif kind == "sound":
            models = ["ich6", "ac97", "es1370", "usb"] + (["ich9"] if q35 else [])
            model = rng.choice(models)
            if model == "usb" and usb_model == "none":
                continue
            devs.append(_dev(f"sound-{model}", "sound", f"model='{model}'",
                             pci=None if model == "usb" else "pci"))
        elif kind == "rng":
            model = rng.choice(("virtio", "virtio", "virtio-transitional"))
            devs.append(_dev("rng", "rng", f"model='{model}'",
                             ["<backend model='random'>/dev/urandom</backend>"],
                             "virtio" if model == "virtio" else "pci"))
        elif kind == "filesystem":
            n = bump("fs")
            devs.append(_dev("filesystem", "filesystem", "type='mount' accessmode='mapped'", [
                f"<source dir='/var/lib/libvirt/images/share{n}'/>",
                f"<target dir='share{n}'/>"], "virtio"))
        elif kind == "shmem":
            n = bump("shmem")
            devs.append(_dev("shmem", "shmem", f"name='shmem-{seed}-{n}'", [
                "<model type='ivshmem-plain'/>", "<size unit='M'>1</size>"], "pci"))
        elif kind == "smartcard" and graphics == "spice" and "smartcard" not in once:
            once.add("smartcard")
            devs.append(_dev("smartcard", "smartcard", "mode='passthrough' type='spicevmc'"))
        elif kind == "panic" and "panic" not in once:
            once.add("panic")
            devs.append(_dev("panic", "panic", "model='isa'"))
        elif kind == "vsock" and "vsock" not in once:
            once.add("vsock")
            devs.append(_dev("vsock", "vsock", "model='virtio'", ["<cid auto='yes'/>"],
                             "virtio"))
        elif kind == "hostdev":
            n = bump("hostdev")
            devs.append(_dev("hostdev", "hostdev", "mode='subsystem' type='pci' managed='yes'", [
                f"<source><address domain='0x0000' bus='0x{0x40 + n:02x}' slot='0x00' "
                "function='0x0'/></source>"], "pcie"))
        elif kind == "iommu" and q35 and "iommu" not in once:
            once.add("iommu")
            devs.append(_dev("iommu", "iommu", "model='virtio'"))
        elif kind == "video2":
            once.add("video2")
        else:
            continue
        kinds.append(devs[-1].kind if devs else kind)

    # Controllers the devices may want, and extra ones.
    if usb_model is not None:
        if usb_model == "ich9-ehci1+companions":
            controllers.append("    <controller type='usb' index='0' model='ich9-ehci1'/>")
            for n, port in ((1, 0), (2, 2), (3, 4)):
                controllers.append(
                    f"    <controller type='usb' index='0' model='ich9-uhci{n}'>\n"
                    f"      <master startport='{port}'/>\n    </controller>")
        else:
            ports = " ports='15'" if usb_model == "qemu-xhci" and rng.random() < 0.3 else ""
            controllers.append(f"    <controller type='usb' index='0' model='{usb_model}'"
                               f"{ports}/>")
        if usb_model != "none" and rng.random() < 0.15:
            controllers.append("    <controller type='usb' index='1' model='qemu-xhci'/>")
    if scsi_used or rng.random() < 0.1:
        model = rng.choice(SCSI_MODELS)
        attr = f" model='{model}'" if model else ""
        controllers.append(f"    <controller type='scsi' index='0'{attr}/>")
        if rng.random() < 0.2:
            controllers.append("    <controller type='scsi' index='1' model='virtio-scsi'/>")
    if sata_used and q35 and rng.random() < 0.1:
        controllers.append("    <controller type='sata' index='1'/>")
    vserial_ports = 31
    if any(d.kind in ("channel", "virtio-console") for d in devs) and rng.random() < 0.3:
        vserial_ports = rng.choice((2, 4, 31))
        controllers.append(f"    <controller type='virtio-serial' index='0' "
                           f"ports='{vserial_ports}'/>")
    if edgy:
        _pin_other_addresses(rng, devs, kinds, sd_pool, usb_model, controllers, vserial_ports)

    # User-written PCI buses, and user-fixed addresses.
    free_root = list(range(1, 0x1F)) if q35 else list(range(2, 0x20))
    rng.shuffle(free_root)
    next_index = 1
    fixed_slots: dict[int, list[int]] = {}  # bus index -> free slots on it (pinnable)
    bus_kind: dict[int, str] = {}  # "pcie" (root port) | "pci" (bridge)
    if rng.random() < 0.4:
        for _ in range(rng.randint(1, 3)):
            if q35:
                model = rng.choice(("pcie-root-port", "pcie-root-port", "pcie-to-pci-bridge",
                                    "dmi-to-pci-bridge", "switch", "pcie-expander-bus"))
            else:
                model = rng.choice(("pci-bridge", "pci-bridge", "pci-expander-bus"))
            if model == "switch":
                ctrl = [f"    <controller type='pci' index='{next_index}' "
                        "model='pcie-root-port'/>",
                        f"    <controller type='pci' index='{next_index + 1}' "
                        "model='pcie-switch-upstream-port'/>"]
                for k in range(rng.randint(1, 3)):
                    ctrl.append(f"    <controller type='pci' index='{next_index + 2 + k}' "
                                "model='pcie-switch-downstream-port'/>")
                    fixed_slots[next_index + 2 + k] = [0]
                    bus_kind[next_index + 2 + k] = "pcie"
                controllers += ctrl
                next_index += len(ctrl)
                kinds.append("pcie-switch")
                continue
            if model == "pcie-expander-bus":
                controllers.append(f"    <controller type='pci' index='{next_index}' "
                                   "model='pcie-expander-bus'/>")
                controllers.append(f"    <controller type='pci' index='{next_index + 1}' "
                                   "model='pcie-root-port'>\n"
                                   f"      {_pci(next_index, 0)}\n    </controller>")
                fixed_slots[next_index + 1] = [0]
                bus_kind[next_index + 1] = "pcie"
                next_index += 2
                kinds.append(model)
                continue
            if model == "pcie-to-pci-bridge":
                # libvirt cannot add a root port for it on its own when none is free, and an
                # endpoint may take this one first: the bridge gets a fixed address in it
                controllers.append(f"    <controller type='pci' index='{next_index}' "
                                   "model='pcie-root-port'/>")
                fixed_slots[next_index], bus_kind[next_index] = [], "pcie"
                next_index += 1
            pin = rng.random() < 0.3 and model in ("pcie-root-port", "pci-bridge")
            addr = f">\n      {_pci(0, free_root.pop())}\n    </controller>" if pin else "/>"
            if model == "pcie-to-pci-bridge":  # into the root port just written
                addr = f">\n      {_pci(next_index - 1, 0)}\n    </controller>"
            controllers.append(f"    <controller type='pci' index='{next_index}' "
                               f"model='{model}'{addr}")
            if model == "pcie-root-port":
                fixed_slots[next_index], bus_kind[next_index] = [0], "pcie"
            elif model in ("pci-bridge", "pcie-to-pci-bridge"):
                fixed_slots[next_index] = list(range(1, 0x20))
                bus_kind[next_index] = "pci"
            elif model == "pci-expander-bus":
                fixed_slots[next_index] = list(range(0, 0x20))
                bus_kind[next_index] = "pci"
            next_index += 1
            kinds.append(model)

    if edgy and q35 and rng.random() < 0.4 and free_root:
        # a slot full of user-fixed root ports, as virt-manager writes them
        slot = free_root.pop()
        for fn in range(rng.randint(2, 5)):
            controllers.append(f"    <controller type='pci' index='{next_index}' "
                               f"model='pcie-root-port'>\n"
                               f"      {_pci(0, slot, fn, multifunction=fn == 0)}\n"
                               "    </controller>")
            fixed_slots[next_index], bus_kind[next_index] = [0], "pcie"
            next_index += 1
        kinds.append("root-port-slot")
    pinnable = [d for d in devs if d.pci is not None]
    rng.shuffle(pinnable)
    if edgy and pinnable and rng.random() < 0.3:
        pinnable[0].address = "<address type='pci'/>"  # an empty address: libvirt picks
        kinds.append("empty-address")
        pinnable = pinnable[1:]
    if edgy and not q35 and pinnable and pinnable[0].pci == "pci" and rng.random() < 0.2:
        # a bus nobody wrote: libvirt adds the pci-bridges up to it
        pinnable[0].address = _pci(next_index + rng.randint(0, 1), rng.randint(1, 0x1F))
        kinds.append("implied-bridges")
        pinnable = pinnable[1:]
    if edgy and not q35 and 2 in free_root and pinnable and rng.random() < 0.3:
        free_root.remove(2)  # the slot libvirt keeps for the primary video
        pinnable[0].address = _pci(0, 2)
        kinds.append("video-slot-taken")
        pinnable = pinnable[1:]
    if pinnable and rng.random() < 0.4:
        for dev in pinnable[:rng.randint(1, 4)]:
            buses = [0] if free_root else []
            for bus, slots in fixed_slots.items():
                if not slots:
                    continue
                if bus_kind[bus] == "pcie" and dev.pci == "pci":
                    continue  # conventional PCI under a root port: libvirt refuses
                if bus_kind[bus] == "pci" and dev.pci == "pcie" and q35:
                    continue
                buses.append(bus)
            if not buses:
                break
            bus = rng.choice(buses)
            slot = free_root.pop() if bus == 0 else fixed_slots[bus].pop(
                rng.randrange(len(fixed_slots[bus])))
            dev.address = _pci(bus, slot)
        # now and then a multifunction slot on the root bus
        rest = [d for d in pinnable if not d.address]
        if len(rest) >= 2 and free_root and rng.random() < 0.4:
            slot = free_root.pop()
            for fn, dev in enumerate(rest[:rng.randint(2, min(4, len(rest)))]):
                dev.address = _pci(0, slot, fn, multifunction=fn == 0)
            kinds.append("multifunction")
        # and a partial address (slot only: bus 0, function 0)
        rest = [d for d in pinnable if not d.address]
        if rest and free_root and rng.random() < 0.3:
            rest[0].address = f"<address type='pci' slot='0x{free_root.pop():02x}'/>"
            kinds.append("partial-address")

    video = rng.choice(VIDEO_MODELS)
    videos: list[str] = []
    if video is not None:
        videos.append(f"    <video>\n      <model type='{video}'/>\n    </video>")
        if video == "qxl" and "video2" in once:
            videos.append("    <video>\n      <model type='qxl'/>\n    </video>")
            kinds.append("video2")
    balloon = rng.choice((None, None, "virtio", "none", "virtio-transitional"))
    watchdog = rng.choice((None, None, "i6300esb", "ib700"))
    serial_console = rng.random() < 0.3 and 0 in serial_ports

    # Rarer features, from a second generator so that adding them left the other guests as
    # they were: memory modules, TPM, host-device NICs, root ports without hot-plug.
    wild = random.Random(seed * 7919 + 1)
    memory_mib, head, extra = 256, [], []
    if wild.random() < 0.15:
        dimms = wild.randint(1, 3)
        slots = list(range(4))
        wild.shuffle(slots)
        for _ in range(dimms):
            addr = (f"\n      <address type='dimm' slot='{slots.pop()}'/>"
                    if wild.random() < 0.3 else "")
            extra.append("    <memory model='dimm'>\n      <target>\n"
                         "        <size unit='MiB'>128</size>\n        <node>0</node>\n"
                         f"      </target>{addr}\n    </memory>")
            memory_mib += 128
        if wild.random() < 0.5:
            extra.append("    <memory model='virtio-mem'>\n      <target>\n"
                         "        <size unit='MiB'>128</size>\n        <node>0</node>\n"
                         "        <block unit='MiB'>2</block>\n"
                         "        <requested unit='MiB'>0</requested>\n"
                         "      </target>\n    </memory>")
            memory_mib += 128
            kinds.append("virtio-mem")
        head = ["  <maxMemory slots='4' unit='MiB'>4096</maxMemory>"]
        kinds.append("dimm")
    if wild.random() < 0.08:
        extra.append("    <tpm model='tpm-crb'>\n      <backend type='emulator' version='2.0'/>\n"
                     "    </tpm>")
        kinds.append("tpm")
    if wild.random() < 0.08:
        extra.append("    <interface type='hostdev' managed='yes'>\n"
                     f"      <mac address='52:54:00:{seed % 256:02x}:ff:01'/>\n"
                     "      <source>\n        <address type='pci' domain='0x0000' bus='0x50' "
                     "slot='0x00' function='0x0'/>\n      </source>\n    </interface>")
        kinds.append("hostdev-interface")
    if q35 and wild.random() < 0.15:
        controllers.append(f"    <controller type='pci' index='{next_index}' "
                           "model='pcie-root-port'>\n      <target hotplug='off'/>\n"
                           "    </controller>")
        next_index += 1
        kinds.append("root-port-hotplug-off")
    lines = [
        "<domain type='qemu'>",
        f"  <name>gen-{seed}</name>",
        *head,
        f"  <memory unit='MiB'>{memory_mib}</memory>",
        "  <vcpu>1</vcpu>",
        "  <os>",
        f"    <type arch='x86_64' machine='{machine}'>hvm</type>",
        "  </os>",
        "  <features>",
        "    <acpi/>",
        "  </features>",
    ]
    if head:
        lines += ["  <cpu>", "    <numa>",
                  "      <cell id='0' cpus='0' memory='256' unit='MiB'/>",
                  "    </numa>", "  </cpu>"]
    lines += [
        "  <devices>",
        f"    <emulator>{EMULATOR}</emulator>",
    ]
    if serial_console:  # libvirt: only the first console may be a serial one
        lines.append("    <console type='pty'>\n      <target type='serial' port='0'/>\n"
                     "    </console>")
    order = list(devs)
    rng.shuffle(order)  # libvirt sorts devices by kind; the input need not
    lines += [d.render() for d in order]
    lines += controllers
    if graphics == "vnc":
        lines.append("    <graphics type='vnc' port='-1' autoport='yes'/>")
    elif graphics == "spice":
        lines.append("    <graphics type='spice' autoport='yes'/>")
    lines += videos
    if watchdog is not None:
        lines.append(f"    <watchdog model='{watchdog}' action='reset'/>")
        kinds.append(f"watchdog-{watchdog}")
    if balloon is not None:
        lines.append(f"    <memballoon model='{balloon}'/>")
    lines += extra
    lines += ["  </devices>", "</domain>", ""]
    # A lone EHCI controller takes high-speed devices only: QEMU refuses hubs and serials
    usb2_only = usb_model in ("ehci", "ich9-ehci1") and any(
        d.tag in ("hub", "serial", "redirdev", "smartcard") or d.kind in ("usb-disk", "usb-input",
                                                             "sound-usb") for d in devs)
    bootable = not any(k in UNBOOTABLE for k in kinds) and not usb2_only
    label = f"{'q35' if q35 else 'pc'}-{seed}"
    return GeneratedGuest(label, seed, machine, "\n".join(lines), kinds, bootable, len(devs))


def generated_guests(count: int = GUEST_COUNT, seed: int = GUEST_SEED) -> list[GeneratedGuest]:
    """``count`` guests from consecutive seeds, the same on every run."""
    return [generate_guest(seed + i) for i in range(count)]


def boot_sample(guests: list[GeneratedGuest], size: int = BOOT_SAMPLE) -> list[GeneratedGuest]:
    """A deterministic sample of bootable guests, half pc and half q35, spread over sizes."""
    bootable = [g for g in guests if g.bootable]
    rng = random.Random(GUEST_SEED)
    pc = [g for g in bootable if not g.machine.startswith(("q35", "pc-q35"))]
    q35 = [g for g in bootable if g.machine.startswith(("q35", "pc-q35"))]
    half = size // 2
    picked = rng.sample(pc, min(half, len(pc))) + rng.sample(q35, min(size - half, len(q35)))
    return sorted(picked, key=lambda g: g.seed)


def example_inputs() -> list[Path]:
    return sorted(p for p in EXAMPLES.glob("*.xml") if not p.name.endswith(".out.xml"))

