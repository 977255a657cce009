"""Guests for the placement beyond libvirt (docs/placement.md §20-§24), for the tests and
``bench/bench_beyond.py``: deterministic text, a pure function of the arguments.

* :func:`sweep_guest` -- N virtio disks, N virtio NICs, or a mix (virtio disks and NICs and
  conventional e1000 NICs), no addresses: the guests of the device-count sweeps;
* :func:`host_device_guest` -- q35 or pc with a GPU and its audio function, a NIC and a
  second GPU passed through, in two guest NUMA cells;
* :func:`stand_in` -- the same domain with each PCI host device replaced by an emulated
  e1000e at the same guest address, so that QEMU can start it on a host without those
  devices (the topology, expander buses and multifunction slots are what is checked).
"""

from __future__ import annotations

from lxml import etree

from augmenter.model.domain import disk_name

KINDS = ("disk", "nic", "mix")
MIX = ("disk", "nic", "disk", "e1000")  # the mix's rotation


def _disk(i: int) -> str:
    return ("    <disk type='file' device='disk'>\n"
            "      <driver name='qemu' type='qcow2'/>\n"
            f"      <source file='/var/lib/libvirt/images/dense-{i:04d}.qcow2'/>\n"
            f"      <target dev='{disk_name('vd', i)}' bus='virtio'/>\n"
            "    </disk>\n")


def _nic(i: int, model: str) -> str:
    return ("    <interface type='network'>\n"
            f"      <mac address='52:54:00:{i // 65536:02x}:{i // 256 % 256:02x}:"
            f"{i % 256:02x}'/>\n"
            "      <source network='default'/>\n"
            f"      <model type='{model}'/>\n"
            "    </interface>\n")


def sweep_guest(machine: str, count: int, kind: str = "disk") -> str:
    """A ``machine`` (``pc`` or ``q35``) guest with ``count`` devices of ``kind``."""
    disks = nics = 0
    devices: list[str] = []
    for i in range(count):
        what = kind if kind != "mix" else MIX[i % len(MIX)]
        if what == "disk":
            devices.append(_disk(disks))
            disks += 1
        else:
            nics += 1
            devices.append(_nic(nics, "virtio" if what == "nic" else "e1000"))
    return ("<domain type='kvm'>\n"
            f"  <name>dense-{machine}-{kind}-{count}</name>\n"
            "  <memory unit='MiB'>512</memory>\n"
            "  <vcpu>1</vcpu>\n"
            f"  <os>\n    <type arch='x86_64' machine='{machine}'>hvm</type>\n  </os>\n"
            "  <devices>\n"
            "    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n"
            f"{''.join(devices)}"
            "  </devices>\n"
            "</domain>\n")


# Host devices of the host-aware guest: (host address, host NUMA node). A GPU and its audio
# function on node 1, a NIC on node 0, a second GPU (alone in its host slot) on node 1.
HOST_DEVICES = (("0000:65:00.0", 1), ("0000:65:00.1", 1), ("0000:b3:00.0", 0),
                ("0000:17:00.0", 1))
HOST_NUMA = ",".join(f"{addr}={node}" for addr, node in HOST_DEVICES)


def _hostdev(addr: str) -> str:
    domain, bus, rest = addr.split(":")
    slot, function = rest.split(".")
    return ("    <hostdev mode='subsystem' type='pci' managed='yes'>\n"
            f"      <source><address domain='0x{domain}' bus='0x{bus}' slot='0x{slot}' "
            f"function='0x{function}'/></source>\n"
            "    </hostdev>\n")


def host_device_guest(machine: str = "q35", cells: int = 2) -> str:
    """A guest passing :data:`HOST_DEVICES` through, with ``cells`` NUMA cells."""
    numa = "".join(f"      <cell id='{c}' cpus='{c}' memory='256' unit='MiB'/>\n"
                   for c in range(cells))
    cpu = f"  <cpu>\n    <numa>\n{numa}    </numa>\n  </cpu>\n" if cells else ""
    return ("<domain type='kvm'>\n"
            f"  <name>host-devices-{machine}</name>\n"
            f"  <memory unit='MiB'>{256 * max(cells, 1)}</memory>\n"
            f"  <vcpu>{max(cells, 1)}</vcpu>\n"
            f"  <os>\n    <type arch='x86_64' machine='{machine}'>hvm</type>\n  </os>\n"
            f"{cpu}"
            "  <devices>\n"
            "    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n"
            f"{_disk(0)}"
            f"{''.join(_hostdev(addr) for addr, _ in HOST_DEVICES)}"
            "  </devices>\n"
            "</domain>\n")


def stand_in(xml: str) -> str:
    """Each ``<hostdev type='pci'>`` as an e1000e NIC at the same guest address: QEMU can
    start that without the host's devices, and puts it where the host device would go."""
    root = etree.fromstring(xml.encode("utf-8"))
    devices = root.find("devices")
    assert devices is not None
    for n, hostdev in enumerate(devices.findall("hostdev")):
        address = hostdev.find("address")
        nic = etree.Element("interface", type="user")
        etree.SubElement(nic, "mac", address=f"52:54:00:fe:00:{n:02x}")
        etree.SubElement(nic, "model", type="e1000e")
        if address is not None:
            nic.append(address)
        nic.tail = hostdev.tail
        devices.replace(hostdev, nic)
    return etree.tostring(root, encoding="unicode")
