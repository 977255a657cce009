"""Deterministic benchmark guests: pc and q35 domains with N mixed devices, no addresses.

    >>> from bench.guests import guest
    >>> xml = guest("q35", 128)          # 128 device elements, mixed kinds

Everything here is a pure function of its arguments (no randomness), so the same call always
gives the same text and the benchmark sizes mean the same guests from run to run.

A "device" is one element written under ``<devices>`` (the ``<emulator>`` is not counted). The
kinds follow a fixed rotation per machine; a kind that reached what libvirt 9.0 can take without
extra user-written controllers is replaced by the next kind in the rotation that still has room:

* virtio-serial channels: 30 (ports 1-30 of the one virtio-serial controller libvirt adds);
* USB inputs: 12 (libvirt adds USB hubs once the controller's root ports are used);
* IDE disks (pc): 4 (``hda``-``hdd``);
* SATA disks (q35): 100 (``sda``...; libvirt adds one AHCI controller per 6 disks);
* sound cards: 4; rng: 16.

With ``mix="pci"`` every device is a PCI endpoint (virtio disks and NICs, plus e1000 / rtl8139
NICs on pc): the guests for the placement scaling check. On q35 each PCIe endpoint takes a
``pcie-root-port`` of its own, so about 220 of them fit; on pc, 31 slots per ``pci-bridge``.
"""

from __future__ import annotations

from collections.abc import Iterator

from augmenter.model.domain import disk_name

MACHINES = ("q35", "pc")

# One rotation per machine: 16 entries, the mixed proportions of the benchmark guests.
ROTATION = {
    "q35": (
        "virtio-disk", "sata-disk", "virtio-net", "virtio-disk", "channel", "e1000e-net",
        "virtio-disk", "sata-disk", "rng", "virtio-net", "virtio-disk", "channel", "e1000-net",
        "usb-input", "virtio-disk", "sata-disk",
    ),
    "pc": (
        "virtio-disk", "scsi-disk", "virtio-net", "virtio-disk", "channel", "e1000-net",
        "virtio-disk", "ide-disk", "rng", "virtio-net", "virtio-disk", "channel",
        "rtl8139-net", "usb-input", "scsi-disk", "sound",
    ),
}
PCI_ROTATION = {
    "q35": ("virtio-disk", "virtio-net", "virtio-disk", "virtio-disk"),
    "pc": ("virtio-disk", "virtio-net", "virtio-disk", "e1000-net", "virtio-disk",
           "rtl8139-net"),
}
CAPS = {
    "channel": 30, "usb-input": 12, "ide-disk": 4, "sata-disk": 100, "sound": 4, "rng": 16,
}
# When every capped kind in the rotation is full, the rest are virtio disks.
FALLBACK = "virtio-disk"


def kinds(machine: str, n: int, mix: str = "mixed") -> list[str]:
    """The ``n`` device kinds of a guest, in document order."""
    if machine not in MACHINES:
        raise ValueError(f"machine must be one of {MACHINES}: {machine!r}")
    rotation = (ROTATION if mix == "mixed" else PCI_ROTATION)[machine]
    counts: dict[str, int] = {}
    out: list[str] = []
    for i in range(n):
        kind = FALLBACK
        for step in range(len(rotation)):
            cand = rotation[(i + step) % len(rotation)]
            if counts.get(cand, 0) < CAPS.get(cand, 1 << 30):
                kind = cand
                break
        counts[kind] = counts.get(kind, 0) + 1
        out.append(kind)
    return out


def _disk(name: str, bus: str, i: int) -> str:
    return (
        "    <disk type='file' device='disk'>\n"
        "      <driver name='qemu' type='qcow2'/>\n"
        f"      <source file='/var/lib/libvirt/images/bench-{i:04d}.qcow2'/>\n"
        f"      <target dev='{name}' bus='{bus}'/>\n"
        "    </disk>"
    )


def _interface(model: str, n: int) -> str:
    return (
        "    <interface type='network'>\n"
        f"      <mac address='52:54:00:{n // 65536:02x}:{n // 256 % 256:02x}:{n % 256:02x}'/>\n"
        "      <source network='default'/>\n"
        f"      <model type='{model}'/>\n"
        "    </interface>"
    )


def _channel(n: int) -> str:
    name = f"org.example.bench.{n}"
    return (
        "    <channel type='unix'>\n"
        f"      <source mode='bind' path='/var/lib/libvirt/qemu/channel/target/{name}'/>\n"
        f"      <target type='virtio' name='{name}'/>\n"
        "    </channel>"
    )


def _render_devices(machine: str, kinds_: list[str]) -> list[str]:
    out: list[str] = []
    vd = sd = hd = nets = channels = 0
    # SATA and SCSI disks share the sd* names; the name picks the drive address, so give the
    # first block of names to one bus and the next to the other (no sparse controllers).
    sd_first = "sata-disk" if machine == "q35" else "scsi-disk"
    sd_offset = {sd_first: 0, "other": sum(1 for k in kinds_ if k == sd_first)}
    sd_next = dict.fromkeys(sd_offset, 0)
    sound_models = ("ich9", "ich6", "ac97", "ich6") if machine == "q35" else ("ich6", "ac97")
    sounds = 0
    for i, kind in enumerate(kinds_):
        if kind == "virtio-disk":
            out.append(_disk(disk_name("vd", vd), "virtio", i))
            vd += 1
        elif kind in ("sata-disk", "scsi-disk"):
            block = kind if kind == sd_first else "other"
            index = sd_offset[block] + sd_next[block]
            sd_next[block] += 1
            out.append(_disk(disk_name("sd", index), kind.split("-")[0], i))
            sd += 1
        elif kind == "ide-disk":
            out.append(_disk(disk_name("hd", hd), "ide", i))
            hd += 1
        elif kind.endswith("-net"):
            nets += 1
            out.append(_interface(kind[: -len("-net")], nets))
        elif kind == "channel":
            channels += 1
            out.append(_channel(channels))
        elif kind == "usb-input":
            itype = ("tablet", "keyboard", "mouse")[i % 3]
            out.append(f"    <input type='{itype}' bus='usb'/>")
        elif kind == "rng":
            out.append(
                "    <rng model='virtio'>\n"
                "      <backend model='random'>/dev/urandom</backend>\n"
                "    </rng>"
            )
        elif kind == "sound":
            out.append(f"    <sound model='{sound_models[sounds % len(sound_models)]}'/>")
            sounds += 1
        else:  # pragma: no cover - the rotations only hold the kinds above
            raise AssertionError(kind)
    return out


def guest(machine: str, n: int, name: str | None = None, mix: str = "mixed",
          uuid_seq: int = 0) -> str:
    """A domain on ``machine`` ('q35' or 'pc') with ``n`` devices and no addresses."""
    name = name or f"bench-{machine}-{mix}-{n}"
    lines = [
        "<domain type='qemu'>",
        f"  <name>{name}</name>",
        f"  <uuid>6f1e6c9a-3b0e-4d6a-9c55-{uuid_seq:012x}</uuid>",
        "  <memory unit='MiB'>2048</memory>",
        "  <vcpu>2</vcpu>",
        "  <os>",
        f"    <type arch='x86_64' machine='{machine}'>hvm</type>",
        "  </os>",
        "  <features>",
        "    <acpi/>",
        "    <apic/>",
        "  </features>",
        "  <devices>",
        "    <emulator>/usr/bin/qemu-system-x86_64</emulator>",
        *_render_devices(machine, kinds(machine, n, mix)),
        "  </devices>",
        "</domain>",
        "",
    ]
    return "\n".join(lines)


# The batch: typical small guests, both machines, 4 to 32 devices.
BATCH_SIZES = (4, 8, 12, 16, 24, 32)


def batch(count: int = 1000) -> Iterator[tuple[str, str]]:
    """``count`` distinct ``(name, xml)`` guests: machines and sizes in a fixed rotation."""
    for i in range(count):
        machine = MACHINES[i % len(MACHINES)]
        n = BATCH_SIZES[(i // len(MACHINES)) % len(BATCH_SIZES)]
        name = f"bench-batch-{i:04d}"
        yield name, guest(machine, n, name=name, uuid_seq=0x100000 + i)
