"""Hypothesis strategies for random, valid pc / q35 guests (no tests in here).

``random_guest()`` draws ``(xml_text, machine)``: a domain libvirt 9.0 would accept, on machine
``pc`` or ``q35``, with 0..60 devices and no addresses except a few valid user-fixed PCI ones.
The generator keeps to what libvirt accepts at define time:

* disk target names are unique; ``hd*`` (IDE) only on pc and at most hda..hdd; ``sd*`` names
  are shared by SATA (q35 only) and SCSI disks, so one pool hands them out;
* virtio-serial channel names are unique; one video at most, one watchdog at most;
* USB devices (tablets, keyboards, redirdevs) only with a USB controller that is not ``none``;
* ``ich9`` sound only on q35;
* fixed PCI addresses are distinct and sit on a bus that accepts the device: an empty slot of
  the root bus, slot 0 of a user-written ``pcie-root-port`` (q35) or a slot of a user-written
  ``pci-bridge`` (pc).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from augmenter.model.domain import disk_name

MACHINES = ("pc", "q35")
MAX_DEVICES = 60

DrawFn = Callable[[st.SearchStrategy[Any]], Any]

# Device kinds, drawn with replacement. Weights come from repetition.
KINDS = (
    "virtio-disk",
    "virtio-disk",
    "virtio-disk",
    "drive-disk",  # IDE on pc, SATA on q35
    "scsi-disk",
    "scsi-disk",
    "interface",
    "interface",
    "channel",
    "usb-input",
    "redirdev",
    "sound",
    "rng",
)
NET_MODELS = ("virtio", "e1000", "e1000e", "rtl8139")
VIDEO_MODELS = ("qxl", "vga", "virtio", "cirrus")
USB_MODELS = (None, "qemu-xhci", "nec-xhci", "piix3-uhci", "ehci")
SCSI_MODELS = (None, "virtio-scsi", "lsilogic")

IDE_MAX = 4  # hda..hdd: one IDE controller, two buses, two units
SD_MAX = 28  # sda..sdab: up to 5 SATA / 4 SCSI controllers

# PCI connect classes of the devices that can be pinned (section 4.3 of placement-rules.md).
PCIE_CAPABLE = {"virtio-disk", "virtio-net", "e1000e-net", "rng", "memballoon"}


@dataclass
class Device:
    kind: str  # a KINDS entry, refined ("virtio-net", "e1000-net", ...) where it matters
    xml: str  # the element, without an <address>
    pinnable: bool = False  # may take a user-fixed PCI address
    address: str = ""

    def render(self) -> str:
        if not self.address:
            return self.xml
        if "\n" not in self.xml:  # "    <sound model='ac97'/>"
            tag = self.xml.split()[0].lstrip("<")
            return f"{self.xml[:-2]}>\n      {self.address}\n    </{tag}>"
        head, sep, tail = self.xml.rpartition("\n    </")
        assert sep, self.xml
        return f"{head}\n      {self.address}{sep}{tail}"


@dataclass
class Guest:
    machine: str
    devices: list[Device] = field(default_factory=list)
    controllers: list[str] = field(default_factory=list)
    graphics: str | None = None
    video: str | None = None
    memballoon: str | None = None  # None: left out (libvirt adds a virtio one)
    serial_console: bool = False


def _pool_pick(draw: DrawFn, pool: list[int]) -> int:
    """Remove and return one entry of a sorted pool (shrinks towards the lowest)."""
    pos = draw(st.integers(0, len(pool) - 1))
    return pool.pop(pos)


def _disk(name: str, bus: str, cdrom: bool) -> str:
    if cdrom:
        return (
            "    <disk type='file' device='cdrom'>\n"
            "      <driver name='qemu' type='raw'/>\n"
            f"      <source file='/var/lib/libvirt/images/{name}.iso'/>\n"
            f"      <target dev='{name}' bus='{bus}'/>\n"
            "      <readonly/>\n"
            "    </disk>"
        )
    return (
        "    <disk type='file' device='disk'>\n"
        "      <driver name='qemu' type='qcow2'/>\n"
        f"      <source file='/var/lib/libvirt/images/{name}.qcow2'/>\n"
        f"      <target dev='{name}' bus='{bus}'/>\n"
        "    </disk>"
    )


def _interface(model: str, n: int) -> str:
    return (
        "    <interface type='network'>\n"
        f"      <mac address='52:54:00:00:{n // 256:02x}:{n % 256:02x}'/>\n"
        "      <source network='default'/>\n"
        f"      <model type='{model}'/>\n"
        "    </interface>"
    )


def _channel(n: int) -> str:
    name = f"org.example.channel.{n}"
    return (
        "    <channel type='unix'>\n"
        f"      <source mode='bind' path='/var/lib/libvirt/qemu/channel/{name}'/>\n"
        f"      <target type='virtio' name='{name}'/>\n"
        "    </channel>"
    )


@st.composite
def random_guest(draw: DrawFn) -> tuple[str, str]:
    """A random valid pc/q35 guest: ``(xml_text, machine)``."""
    machine: str = draw(st.sampled_from(MACHINES))
    q35 = machine == "q35"
    guest = Guest(machine)
    # Draw the count first: st.lists alone rarely goes past a dozen elements.
    count: int = draw(st.integers(0, MAX_DEVICES))
    kinds: list[str] = draw(st.lists(st.sampled_from(KINDS), min_size=count, max_size=count))

    guest.graphics = draw(st.sampled_from((None, "vnc", "spice")))
    usb_model: str | None = draw(st.sampled_from(USB_MODELS))
    usb_kinds = {"usb-input", "redirdev"}
    if not any(k in usb_kinds for k in kinds) and draw(st.booleans()):
        usb_model = "none"
    if usb_model is not None:
        guest.controllers.append(f"    <controller type='usb' index='0' model='{usb_model}'/>")

    vd_next = 0
    hd_pool = list(range(IDE_MAX))
    sd_pool = list(range(SD_MAX))
    nets = channels = 0
    scsi_used = False
    sound_models = ("ich9", "ich6", "ac97") if q35 else ("ich6", "ac97")
    for kind in kinds:
        if kind == "virtio-disk":
            vd_next += draw(st.integers(0, 2))  # leave gaps now and then: vda, vdc, ...
            guest.devices.append(Device(kind, _disk(disk_name("vd", vd_next), "virtio", False)))
            guest.devices[-1].pinnable = True
            vd_next += 1
        elif kind == "drive-disk":
            cdrom = draw(st.booleans())
            if q35 and sd_pool:
                name = disk_name("sd", _pool_pick(draw, sd_pool))
                guest.devices.append(Device("sata-disk", _disk(name, "sata", cdrom)))
            elif not q35 and hd_pool:
                name = disk_name("hd", _pool_pick(draw, hd_pool))
                guest.devices.append(Device("ide-disk", _disk(name, "ide", cdrom)))
        elif kind == "scsi-disk":
            if sd_pool:
                name = disk_name("sd", _pool_pick(draw, sd_pool))
                cdrom = draw(st.integers(0, 4)) == 0
                guest.devices.append(Device(kind, _disk(name, "scsi", cdrom)))
                scsi_used = True
        elif kind == "interface":
            model: str = draw(st.sampled_from(NET_MODELS))
            nets += 1
            dev = Device(f"{model}-net", _interface(model, nets), pinnable=True)
            guest.devices.append(dev)
        elif kind == "channel":
            channels += 1
            guest.devices.append(Device(kind, _channel(channels)))
        elif kind == "usb-input":
            itype = draw(st.sampled_from(("tablet", "keyboard")))
            guest.devices.append(Device(kind, f"    <input type='{itype}' bus='usb'/>"))
        elif kind == "redirdev":
            if guest.graphics == "spice" and draw(st.booleans()):
                xml = "    <redirdev bus='usb' type='spicevmc'/>"
            else:
                port = 4000 + len(guest.devices)
                xml = (
                    "    <redirdev bus='usb' type='tcp'>\n"
                    f"      <source mode='connect' host='localhost' service='{port}'/>\n"
                    "    </redirdev>"
                )
            guest.devices.append(Device(kind, xml))
        elif kind == "sound":
            smodel = draw(st.sampled_from(sound_models))
            guest.devices.append(Device(kind, f"    <sound model='{smodel}'/>", pinnable=True))
        elif kind == "rng":
            xml = (
                "    <rng model='virtio'>\n"
                "      <backend model='random'>/dev/urandom</backend>\n"
                "    </rng>"
            )
            guest.devices.append(Device(kind, xml, pinnable=True))

    if scsi_used:
        scsi_model = draw(st.sampled_from(SCSI_MODELS))
        if scsi_model is not None:
            guest.controllers.append(
                f"    <controller type='scsi' index='0' model='{scsi_model}'/>"
            )
    if draw(st.booleans()):
        guest.devices.append(
            Device("watchdog", "    <watchdog model='i6300esb' action='reset'/>", pinnable=True)
        )
    # One video at most; with graphics and no video libvirt adds one itself.
    vmodel = draw(st.sampled_from((None, *VIDEO_MODELS)))
    if vmodel is not None:
        guest.video = vmodel
    guest.memballoon = draw(st.sampled_from((None, "virtio", "none")))
    guest.serial_console = draw(st.booleans())

    _pin_some(draw, guest)
    return render(guest), machine


def _pin_some(draw: DrawFn, guest: Guest) -> None:
    """Give a few devices valid user-fixed PCI addresses (often none at all)."""
    candidates = [d for d in guest.devices if d.pinnable]
    if not candidates or draw(st.integers(0, 2)) != 0:
        return
    q35 = guest.machine == "q35"
    # Root bus slots a user may take: pc 00:02-00:1f (00:01 is the PIIX3), q35 00:01-00:1e
    # (00:1f is the ICH9 LPC / SATA / SMBus slot). Explicit endpoints on pcie-root are allowed.
    free_root = list(range(1, 0x1F)) if q35 else list(range(2, 0x20))
    # Optionally some user-written buses to pin devices behind.
    n_buses: int = draw(st.integers(0, 2))
    bus_slots: dict[int, list[int]] = {}
    for index in range(1, n_buses + 1):
        if q35:
            guest.controllers.append(
                f"    <controller type='pci' index='{index}' model='pcie-root-port'/>"
            )
            bus_slots[index] = [0]
        else:
            guest.controllers.append(
                f"    <controller type='pci' index='{index}' model='pci-bridge'/>"
            )
            bus_slots[index] = list(range(1, 0x20))
    n_pins: int = draw(st.integers(1, min(4, len(candidates))))
    chosen: list[Device] = draw(
        st.lists(st.sampled_from(candidates), min_size=n_pins, max_size=n_pins, unique_by=id)
    )
    for dev in chosen:
        buses = [0, *(b for b, slots in bus_slots.items() if slots)]
        if q35 and dev.kind not in PCIE_CAPABLE:
            # Conventional PCI endpoints stay on pcie-root: libvirt accepts them there.
            buses = [0]
        bus: int = draw(st.sampled_from(buses))
        slot = _pool_pick(draw, free_root if bus == 0 else bus_slots[bus])
        dev.address = (
            f"<address type='pci' domain='0x0000' bus='0x{bus:02x}' slot='0x{slot:02x}'"
            " function='0x0'/>"
        )


def render(guest: Guest) -> str:
    lines = [
        "<domain type='kvm'>",
        f"  <name>hypothesis-{guest.machine}</name>",
        "  <uuid>6f1e6c9a-3b0e-4d6a-9c55-0123456789ab</uuid>",
        "  <memory unit='MiB'>2048</memory>",
        "  <vcpu>2</vcpu>",
        "  <os>",
        f"    <type arch='x86_64' machine='{guest.machine}'>hvm</type>",
        "  </os>",
        "  <features>",
        "    <acpi/>",
        "    <apic/>",
        "  </features>",
        "  <devices>",
        "    <emulator>/usr/bin/qemu-system-x86_64</emulator>",
    ]
    lines.extend(d.render() for d in guest.devices)
    lines.extend(guest.controllers)
    if guest.serial_console:
        lines.append("    <serial type='pty'>\n      <target port='0'/>\n    </serial>")
        lines.append(
            "    <console type='pty'>\n      <target type='serial' port='0'/>\n    </console>"
        )
    if guest.graphics == "vnc":
        lines.append("    <graphics type='vnc' port='-1' autoport='yes'/>")
    elif guest.graphics == "spice":
        lines.append("    <graphics type='spice' autoport='yes'/>")
    if guest.video is not None:
        lines.append(f"    <video>\n      <model type='{guest.video}'/>\n    </video>")
    if guest.memballoon is not None:
        lines.append(f"    <memballoon model='{guest.memballoon}'/>")
    lines.extend(["  </devices>", "</domain>", ""])
    return "\n".join(lines)
