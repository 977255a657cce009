"""Guests beyond the six families: the eight classes of mismatch of issue 16, one reproducer each.

Each :class:`Case` is a minimal guest written for this module and what libvirt 9.0 makes of it,
written down here after defining it in libvirtd (``virsh define`` then ``dumpxml --inactive``):
every device as ``element type model [target] @ address``, or libvirt's refusal. Two tests per
case:

* ``test_augment_places_as_libvirt``: augment's output, rendered the same way, equals libvirt's;
  where libvirt refuses, augment refuses too. Every case guards a fix against coming back; a
  case augment differs on names why (``today``) and is a strict xfail until it is fixed.
* ``test_libvirt_still_places_so``: the written-down expectation is still what the local
  libvirtd does (needs libvirtd; skipped without it, failed under ``CI``), so that the
  expectations cannot drift from libvirt.

The classes (issue 16): 1 a hostdev interface with a guest PCI address; 2 a USB controller
``model='none'`` with an address; 3 an s390x USB controller without a model; 4 a tablet without
a bus; 5 PowerMac, embedded PowerPC, sh4 and alpha boards (pci-root); 6 ARM boards other than
``virt`` (virtio-mmio or no address, the board's NIC model); 7 a spapr-vio address without
``reg`` off pseries; 8 other families' details (SCSI host devices, pci-serial consoles, zPCI
ids, SCSI controllers foreign to the arch).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from libvirt_env import define_and_dump
from lxml import etree
from machine_survey import Placement, render
from qemu_env import need_qemu

import augmenter
from augmenter.boards.records import embedded
from augmenter.cli.verify import VerifyError, Virsh
from augmenter.pipeline import Options


def guest(arch: str, machine: str, devices: str, emulator: str | None = None) -> str:
    binary = emulator or f"/usr/bin/qemu-system-{arch}"
    return f"""<domain type='qemu'>
  <name>beyond</name>
  <memory unit='MiB'>256</memory>
  <os>
    <type arch='{arch}' machine='{machine}'>hvm</type>
  </os>
  <devices>
    <emulator>{binary}</emulator>
{devices}
  </devices>
</domain>
"""


@dataclass(frozen=True)
class Case:
    """One reproducer: the guest, and libvirt 9.0's placement of it (or its refusal)."""

    id: str
    klass: int  # the class, 1-8
    xml: str
    libvirt: Placement | str  # a str: libvirt refuses, with this message
    today: str = ""  # why augment differs from libvirt today ("": it agrees)

    @property
    def arch_machine(self) -> tuple[str, str]:
        root = etree.fromstring(self.xml.encode("utf-8"))
        os_type = root.find("os/type")
        assert os_type is not None
        return str(os_type.get("arch")), str(os_type.get("machine"))


def disk(dev: str = "vda", address: str = "") -> str:
    return (f"    <disk type='file' device='disk'>\n"
            f"      <source file='/var/lib/libvirt/images/{dev}.img'/>\n"
            f"      <target dev='{dev}' bus='virtio'/>\n{address}    </disk>")


NO_BALLOON = "    <memballoon model='none'/>"
X86 = "/usr/bin/qemu-system-x86_64"
ARM = "/usr/bin/qemu-system-arm"
PPC = "/usr/bin/qemu-system-ppc"
PS2 = {"input ps2 mouse #0": "input mouse @ -", "input ps2 keyboard #0": "input keyboard @ -"}
PC_USB = {"controller usb 0": "controller usb piix3-uhci @ pci 00:01.2",
          "controller pci 0": "controller pci pci-root @ -"}
NIC_USER = "    <interface type='user'/>"
PCI_ROOT = {"controller pci 0": "controller pci pci-root @ -"}
PC_BASE = {**PCI_ROOT, **PS2, "controller usb 0": "controller usb piix3-uhci @ pci 00:01.2"}
Q35_BASE = {
    "controller pci 0": "controller pci pcie-root @ -",
    "controller pci 1": "controller pci pcie-root-port @ pci 00:01.0 multifunction=on",
    "controller pci 2": "controller pci pcie-root-port @ pci 00:01.1",
    "controller sata 0": "controller sata @ pci 00:1f.2",
    "controller usb 0": "controller usb qemu-xhci @ pci 01:00.0", **PS2}
S390_BASE = {**PCI_ROOT, "panic #0": "panic s390 @ -", "memballoon #0": "memballoon none @ -"}


def pci_root_board(machine: str, arch: str, binary: str, usb: str = "piix3-uhci") -> Case:
    """Class 5: a board libvirt gives a pci-root (qemuDomainSupportsPCI: every arch but ARM and
    RISC-V), whatever its PCI host bridge: USB, the disk and the balloon in slots 1-3."""
    return Case(
        f"pci-root-board-{machine}", 5, guest(arch, machine, disk(), f"/usr/bin/{binary}"),
        {**PCI_ROOT, "controller usb 0": f"controller usb {usb} @ pci 00:01.0",
         "disk vda": "disk file @ pci 00:02.0",
         "memballoon #0": "memballoon virtio @ pci 00:03.0"})


def arm_board(machine: str, mmio: bool, arch: str = "armv7l") -> Case:
    """Class 6: an ARM board other than ``virt``: virtio-mmio on vexpress-* only
    (qemuDomainAssignVirtioMMIOAddresses), no address elsewhere, lan9118 as the default NIC
    (qemuDomainDefaultNetModel)."""
    binary = "/usr/bin/qemu-system-" + ("aarch64" if arch == "aarch64" else "arm")
    return Case(
        f"arm-board-{machine}", 6, guest(arch, machine, disk() + "\n" + NIC_USER, binary),
        {"disk vda": "disk file @ " + ("virtio-mmio" if mmio else "-"),
         "interface #0": "interface user lan9118 @ -"})


CASES: list[Case] = [
    # 1: libvirt counts a hostdev interface's address once (the hostdev is the interface)
    Case("hostdev-interface-with-pci-address", 1, guest("x86_64", "pc", """\
    <interface type='hostdev' managed='yes'>
      <mac address='52:54:00:6d:90:02'/>
      <source>
        <address type='pci' domain='0x0000' bus='0x50' slot='0x00' function='0x0'/>
      </source>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x05' function='0x0'/>
    </interface>""", X86),
         {**PC_BASE, "interface #0": "interface hostdev @ pci 00:05.0",
          "memballoon #0": "memballoon virtio @ pci 00:02.0"}),
    # 2: kubevirt writes the address of a USB controller it turns off
    Case("usb-none-with-an-address", 2, guest("x86_64", "pc", disk() + """
    <controller type='usb' index='0' model='none'>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0'/>
    </controller>
""" + NO_BALLOON, X86),
         {**PC_BASE, "controller usb 0": "controller usb none @ -",
          "disk vda": "disk file @ pci 00:02.0", "memballoon #0": "memballoon none @ -"}),
    # 3
    Case("s390x-usb-without-model", 3, guest("s390x", "s390-ccw-virtio", """\
    <controller type='usb'/>
""" + NO_BALLOON), {**S390_BASE, "controller usb 0": "controller usb none @ -"}),
    # 4
    Case("tablet-without-bus-on-q35", 4, guest("x86_64", "q35", """\
    <input type='tablet'/>
""" + NO_BALLOON, X86),
         {**Q35_BASE, "input usb tablet #0": "input tablet @ usb bus=0 port=1",
          "memballoon #0": "memballoon none @ -"}),
    Case("tablet-without-bus-on-pc", 4, guest("x86_64", "pc", """\
    <input type='tablet'/>
""" + NO_BALLOON, X86),
         {**PC_BASE, "input usb tablet #0": "input tablet @ usb bus=0 port=1",
          "memballoon #0": "memballoon none @ -"}),
    # 5
    *(pci_root_board(m, "ppc", "qemu-system-ppc")
      for m in ("mac99", "g3beige", "40p", "bamboo", "sam460ex", "pegasos2")),
    pci_root_board("powernv9", "ppc64", "qemu-system-ppc64", usb="qemu-xhci"),
    pci_root_board("r2d", "sh4", "qemu-system-sh4"),
    pci_root_board("clipper", "alpha", "qemu-system-alpha"),
    # 6
    arm_board("vexpress-a9", mmio=True),
    arm_board("vexpress-a15", mmio=True),
    arm_board("realview-eb", mmio=False),
    arm_board("raspi2b", mmio=False),
    arm_board("sbsa-ref", mmio=False, arch="aarch64"),
    Case("arm-board-versatilepb-with-pci-root", 6, guest("armv7l", "versatilepb", disk() + """
    <controller type='pci' index='0' model='pci-root'/>
    <controller type='usb' index='0'/>
""" + NIC_USER, ARM),
         {**PCI_ROOT, "controller usb 0": "controller usb piix3-uhci @ pci 00:02.0",
          "disk vda": "disk file @ pci 00:03.0",
          # libvirt spells the model scm91c111 (virDomainNetModel), and gives it a PCI slot
          "interface #0": "interface user scm91c111 @ pci 00:01.0"}),
    Case("arm-board-versatilepb-without-pci-root", 6,
         guest("armv7l", "versatilepb", disk() + "\n" + NIC_USER, ARM),
         "No PCI buses available"),
    Case("arm-board-vexpress-usb", 6, guest("armv7l", "vexpress-a9", """\
    <controller type='usb' index='0'/>
    <input type='tablet' bus='usb'/>
    <interface type='user'>
      <model type='virtio'/>
    </interface>""", ARM),
         {"controller usb 0": "controller usb piix3-uhci @ -",
          "input usb tablet #0": "input tablet @ usb bus=0 port=1",
          "interface #0": "interface user virtio @ virtio-mmio"}),
    # 7
    Case("spapr-vio-nic-without-reg-off-pseries", 7, guest("x86_64", "pc", """\
    <interface type='user'>
      <model type='spapr-vlan'/>
      <address type='spapr-vio'/>
    </interface>
""" + NO_BALLOON, X86),
         {**PC_BASE, "interface #0": "interface user spapr-vlan @ spapr-vio reg=0x1000",
          "memballoon #0": "memballoon none @ -"}),
    Case("spapr-vio-scsi-without-reg-off-pseries", 7, guest("x86_64", "pc", """\
    <controller type='scsi' index='0' model='ibmvscsi'>
      <address type='spapr-vio'/>
    </controller>
""" + NO_BALLOON, X86),
         {**PC_BASE, "controller scsi 0": "controller scsi ibmvscsi @ spapr-vio reg=0x2000",
          "memballoon #0": "memballoon none @ -"}),
    # 8: SCSI host devices
    Case("scsi-hostdevs-get-the-default-controller", 8, guest("x86_64", "pc", "".join(f"""\
    <hostdev mode='subsystem' type='scsi'>
      <source>
        <adapter name='scsi_host0'/>
        <address bus='0' target='0' unit='{unit}'/>
      </source>
    </hostdev>
""" for unit in (0, 1)) + NO_BALLOON, X86),
         {**PC_BASE, "controller scsi 0": "controller scsi lsilogic @ pci 00:02.0",
          "hostdev #0": "hostdev scsi @ drive bus=0 controller=0 target=0 unit=0",
          "hostdev #1": "hostdev scsi @ drive bus=0 controller=0 target=0 unit=1",
          "memballoon #0": "memballoon none @ -"}),
    # 8: pci-serial devices and the console that is one of them
    Case("pci-serial-console-is-serial-0", 8, guest("x86_64", "pc", """\
    <serial type='pty'>
      <target type='pci-serial'/>
    </serial>
    <serial type='pty'>
      <target type='pci-serial'/>
    </serial>
    <console type='pty'>
      <target type='serial' port='1'/>
    </console>
""" + NO_BALLOON, X86),
         {**PC_BASE, "memballoon #0": "memballoon none @ -",
          "serial #0": "serial pty [port=0 type=pci-serial model=pci-serial] @ pci 00:02.0",
          "serial #1": "serial pty [port=1 type=pci-serial model=pci-serial] @ pci 00:03.0",
          "console #0": "console pty [port=0 type=serial] @ pci 00:02.0"}),
    # 8: zPCI ids
    Case("zpci-fid-of-a-written-uid-comes-first", 8, guest("s390x", "s390-ccw-virtio",
                                                          disk("vda", """\
      <address type='pci'/>
""") + "\n" + disk("vdb", """\
      <address type='pci'>
        <zpci uid='0x0010'/>
      </address>
""") + "\n" + NO_BALLOON),
         {**S390_BASE, "disk vda": "disk file @ pci 00:01.0 zpci fid=0x1 uid=0x1",
          "disk vdb": "disk file @ pci 00:02.0 zpci fid=0x0 uid=0x10"}),
    Case("zpci-of-a-pci-bridge", 8, guest("s390x", "s390-ccw-virtio", """\
    <controller type='pci' index='1' model='pci-bridge'/>
""" + disk("vda", """\
      <address type='pci' bus='0x01' slot='0x01'/>
""") + "\n" + NO_BALLOON),
         {**S390_BASE, "controller pci 1": "controller pci pci-bridge @ pci 00:01.0 "
                                           "zpci fid=0x1 uid=0x2",
          "disk vda": "disk file @ pci 01:01.0 zpci fid=0x0 uid=0x1"}),
    # ... but a pci-bridge libvirt adds to make room wants no zPCI extension: it comes after
    # qemuDomainFillAllPCIExtensionFlags
    Case("zpci-not-for-an-added-pci-bridge", 8, guest("s390x", "s390-ccw-virtio", disk("vda", """\
      <address type='pci' bus='0x01' slot='0x01'/>
""") + "\n" + NO_BALLOON),
         {**S390_BASE, "controller pci 1": "controller pci pci-bridge @ pci 00:01.0",
          "disk vda": "disk file @ pci 01:01.0 zpci fid=0x0 uid=0x1"}),
    # 8: SCSI controllers of a model foreign to the arch
    Case("ibmvscsi-on-x86-is-spapr-vio", 8, guest("x86_64", "pc", """\
    <controller type='scsi' index='0' model='ibmvscsi'/>
""" + NO_BALLOON, X86),
         {**PC_BASE, "controller scsi 0": "controller scsi ibmvscsi @ spapr-vio reg=0x2000",
          "memballoon #0": "memballoon none @ -"}),
    Case("ibmvscsi-on-aarch64-is-spapr-vio", 8, guest("aarch64", "virt", """\
    <controller type='scsi' index='0' model='ibmvscsi'/>
""" + NO_BALLOON),
         {"controller pci 0": "controller pci pcie-root @ -",
          "controller scsi 0": "controller scsi ibmvscsi @ spapr-vio reg=0x2000",
          "memballoon #0": "memballoon none @ -"}),
    Case("lsilogic-on-s390x-is-refused", 8, guest("s390x", "s390-ccw-virtio", """\
    <controller type='scsi' index='0' model='lsilogic'/>
""" + NO_BALLOON),
         "unsupported configuration: This QEMU doesn't support the LSI 53C895A SCSI controller"),
]


def in_the_table(case: Case) -> bool:
    arch, machine = case.arch_machine
    table = embedded().get(arch)
    return table is not None and table.table_board(table.canonical(machine)) is not None


def options_for(case: Case) -> Options:
    """The shipped table where it has the board; else the installed QEMU (skipped without it,
    failed under CI)."""
    if in_the_table(case):
        return Options(boards="embedded")
    root = etree.fromstring(case.xml.encode("utf-8"))
    need_qemu(Path(root.findtext("devices/emulator") or "").name)
    return Options(boards="qemu")


def params() -> Iterator[object]:
    for case in CASES:
        marks = [pytest.mark.xfail(reason=case.today, strict=True)] if case.today else []
        if not in_the_table(case):
            marks.append(pytest.mark.slow)  # QEMU is asked for the board
        yield pytest.param(case, id=f"class{case.klass}-{case.id}", marks=marks)


@pytest.mark.parametrize("case", list(params()))
def test_augment_places_as_libvirt(case: Case) -> None:
    options = options_for(case)
    try:
        ours: Placement | str = render(augmenter.run(case.xml, options).to_string())
    except augmenter.AugmentError as err:
        ours = err.message
    if isinstance(case.libvirt, str):
        assert isinstance(ours, str), f"libvirt refuses it ({case.libvirt}); augment places it"
        return
    assert not isinstance(ours, str), f"augment refuses it: {ours}"
    assert ours == case.libvirt


def test_every_class_has_a_reproducer() -> None:
    assert {c.klass for c in CASES} == set(range(1, 9))
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=[f"class{c.klass}-{c.id}" for c in CASES])
def test_libvirt_still_places_so(case: Case, virsh: Virsh, tmp_path: Path) -> None:
    """The written-down expectation is what libvirtd does with the guest today."""
    try:
        theirs: Placement | str = render(define_and_dump(virsh, case.xml, case.id, tmp_path))
    except VerifyError as err:
        theirs = str(err)
    if isinstance(case.libvirt, str):
        assert isinstance(theirs, str) and case.libvirt in theirs, theirs
    else:
        assert theirs == case.libvirt
