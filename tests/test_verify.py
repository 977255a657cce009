"""``augmenter.cli.verify``: reading QEMU's tree, matching it to the XML, the report, the boot copy.

Most tests feed recorded ``info qtree`` text and live XML, so they run anywhere; the last ones
boot real guests through libvirt (skipped without it, failing under CI).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from libvirt_env import EXAMPLES, libvirt_or_skip
from lxml import etree

from augmenter.cli.verify import (
    NAME_PREFIX,
    CcwAddress,
    PciLocation,
    VerifyError,
    boot_copy,
    compare_with_qemu,
    device_entries,
    parse_qtree,
    verify,
    verify_xml,
)

QTREE = """\
bus: main-system-bus
  type System
  dev: q35-pcihost, id ""
    MCFG = 2952790016 (0xb0000000)
    bus: pcie.0
      type PCIE
      dev: qxl-vga, id "video0"
        ram_size = 67108864 (0x4000000)
        addr = 01.0
        romfile = "vgabios-qxl.bin"
        multifunction = false
        class VGA controller, addr 00:01.0, pci id 1b36:0100 (sub 1af4:1100)
        bar 0: mem at 0xffffffffffffffff [0x3fffffe]
      dev: pcie-root-port, id "pci.1"
        chassis = 1 (0x1)
        port = 16 (0x10)
        addr = 02.0
        multifunction = true
        class PCI bridge, addr 00:02.0, pci id 1b36:000c (sub 0000:0000)
        bus: pci.1
          type PCIE
          dev: virtio-blk-pci, id "virtio-disk0"
            drive = "libvirt-1-format"
            addr = 00.0
            class SCSI controller, addr 00:00.0, pci id 1af4:1042 (sub 1af4:1100)
            bus: virtio-bus
              type virtio-bus
              dev: virtio-blk-device, id ""
                drive = "libvirt-1-format"
      dev: ich9-usb-ehci1, id "usb"
        addr = 1d.7
        bus: usb.0
          type usb-bus
          dev: usb-tablet, id "input0"
            port = "1"
      dev: ich9-usb-uhci1, id ""
        addr = 1d.0
      dev: ich9-ahci, id ""
        addr = 1f.2
        multifunction = true
        bus: ide.0
          type IDE
      dev: ICH9-LPC, id ""
        addr = 1f.0
        bus: isa.0
          type ISA
          dev: i8042, id ""
  dev: fw_cfg_io, id ""
"""

XML = """<domain type='qemu'>
  <name>t</name>
  <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'>
      <source file='/x.qcow2'/>
      <target dev='vda' bus='virtio'/>
      <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>
    </disk>
    <controller type='usb' index='0' model='ich9-ehci1'>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x1d' function='0x7'/>
    </controller>
    <controller type='usb' index='0' model='ich9-uhci1'>
      <master startport='0'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x1d' function='0x0'
               multifunction='on'/>
    </controller>
    <controller type='sata' index='0'>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x1f' function='0x2'/>
    </controller>
    <controller type='pci' index='0' model='pcie-root'/>
    <controller type='pci' index='1' model='pcie-root-port'>
      <model name='pcie-root-port'/>
      <target chassis='1' port='0x10'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0'
               multifunction='on'/>
    </controller>
    <input type='tablet' bus='usb'>
      <address type='usb' bus='0' port='1'/>
    </input>
    <input type='mouse' bus='ps2'/>
    <video>
      <model type='qxl'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x01' function='0x0'/>
    </video>
    <memballoon model='none'/>
  </devices>
</domain>
"""

ALIASES = {"disk": "virtio-disk0", "controller": "", "input": "input0", "video": "video0"}


def live_xml(xml: str = XML) -> etree._Element:
    """The domain as a running libvirt prints it: every device with its alias."""
    root = etree.fromstring(xml.encode())
    aliases = {("controller", "usb"): "usb", ("controller", "sata"): "ide",
               ("controller", "pci"): None}
    for dev in root.find("devices"):
        if dev.tag == "controller":
            name = aliases[(dev.tag, dev.get("type"))]
            if name is None:
                index = dev.get("index")
                name = "pcie.0" if index == "0" else f"pci.{index}"
        elif dev.tag == "input":
            name = "input0" if dev.get("bus") == "usb" else "input1"
        else:
            name = ALIASES.get(dev.tag, "")
        if name:
            etree.SubElement(dev, "alias", name=name)
    return root


def test_parse_qtree_finds_devices_buses_and_addresses() -> None:
    devs = {(d.type, d.id): d for d in parse_qtree(QTREE)}
    disk = devs[("virtio-blk-pci", "virtio-disk0")]
    assert (disk.bus, disk.bus_type, disk.devfn) == ("pci.1", "PCIE", (0, 0))
    assert devs[("pcie-root-port", "pci.1")].devfn == (2, 0)
    assert devs[("ich9-ahci", "")].devfn == (0x1F, 2)
    # devices off PCI have no PCI address, even with an ``addr``-like property
    assert devs[("usb-tablet", "input0")].devfn is None
    assert devs[("usb-tablet", "input0")].bus == "usb.0"
    assert devs[("virtio-blk-device", "")].bus == "virtio-bus"
    assert devs[("fw_cfg_io", "")].bus == "main-system-bus"


def test_all_devices_where_the_xml_says() -> None:
    rows, problems = compare_with_qemu(etree.fromstring(XML.encode()), live_xml(),
                                       parse_qtree(QTREE))
    assert problems == []
    seen = {r.device: (r.xml, r.qemu, r.qemu_type, r.ok) for r in rows}
    assert seen["disk vda (file)"] == (PciLocation(1, 0, 0), PciLocation(1, 0, 0),
                                       "virtio-blk-pci", True)
    # board devices and ICH9 companions have no QEMU id: found by their place
    assert seen["controller sata 0"][2:] == ("ich9-ahci", True)
    assert seen["controller usb 0 (2) (ich9-uhci1)"][1:] == (PciLocation(0, 0x1D, 0),
                                                            "ich9-usb-uhci1", True)
    assert len(rows) == 6  # disk, ehci, uhci, sata, root port, video


def test_a_moved_device_is_a_mismatch() -> None:
    qtree = QTREE.replace("            addr = 00.0", "            addr = 03.0")
    rows, _ = compare_with_qemu(etree.fromstring(XML.encode()), live_xml(), parse_qtree(qtree))
    bad = [r for r in rows if not r.ok]
    assert [(r.device, str(r.xml), str(r.qemu)) for r in bad] == [
        ("disk vda (file)", "01:00.0", "01:03.0")]
    assert "QEMU has it at 01:03.0" in bad[0].note


def test_a_device_qemu_lacks_is_a_mismatch() -> None:
    qtree = QTREE.replace('dev: qxl-vga, id "video0"', 'dev: qxl-vga, id "video7"')
    rows, problems = compare_with_qemu(etree.fromstring(XML.encode()), live_xml(),
                                       parse_qtree(qtree))
    video = next(r for r in rows if r.device.startswith("video"))
    assert not video.ok and "'video7'" in video.note
    assert problems == []  # video7 sits where the XML's video is: it is accounted for


def test_a_pci_device_the_xml_lacks_is_a_problem() -> None:
    extra = ('      dev: e1000, id "net5"\n        addr = 05.0\n')
    qtree = QTREE.replace("      dev: ich9-ahci", extra + "      dev: ich9-ahci")
    _, problems = compare_with_qemu(etree.fromstring(XML.encode()), live_xml(),
                                    parse_qtree(qtree))
    assert problems == ["QEMU device e1000 id 'net5' at 00:05.0 has no address in the XML"]


def test_libvirt_moving_a_device_is_a_problem() -> None:
    live = live_xml(XML.replace("slot='0x01' function='0x0'/>\n    </video>",
                                "slot='0x03' function='0x0'/>\n    </video>"))
    _, problems = compare_with_qemu(etree.fromstring(XML.encode()), live, parse_qtree(QTREE))
    assert any("libvirt moved it from 00:01.0 to 00:03.0" in p for p in problems)


CCW_QTREE = """\
bus: main-system-bus
  type System
  dev: virtual-css-bridge, id ""
    bus: virtual-css
      type virtual-css-bus
      dev: virtio-blk-ccw, id "virtio-disk0"
        devno = "fe.0.0000"
        dev_id = "fe.0.0000"
      dev: virtio-net-ccw, id "net0"
        devno = "fe.0.0003"
"""
CCW_XML = """<domain type='qemu'>
  <devices>
    <disk type='file' device='disk'>
      <target dev='vda' bus='virtio'/>
      <address type='ccw' cssid='0xfe' ssid='0x0' devno='0x0000'/>
    </disk>
    <interface type='user'>
      <address type='ccw' cssid='0xfe' ssid='0x0' devno='0x0002'/>
    </interface>
  </devices>
</domain>"""


def test_ccw_devices_are_compared_too() -> None:
    live = etree.fromstring(CCW_XML.encode())
    for dev, alias in zip(live.find("devices"), ("virtio-disk0", "net0"), strict=True):
        etree.SubElement(dev, "alias", name=alias)
    rows, problems = compare_with_qemu(etree.fromstring(CCW_XML.encode()), live,
                                       parse_qtree(CCW_QTREE))
    assert problems == []
    assert [(r.device, str(r.xml), str(r.qemu), r.ok) for r in rows] == [
        ("disk vda (file)", "fe.0.0000", "fe.0.0000", True),
        ("interface #0 (user)", "fe.0.0002", "fe.0.0003", False)]
    assert CcwAddress.parse("<unset>") is None


def test_render_is_a_table() -> None:
    from augmenter.cli.verify import Row, VerifyReport

    report = VerifyReport("g", "pc-q35-7.2", [
        Row("disk vda", PciLocation(1, 0, 0), PciLocation(1, 0, 0), "virtio-blk-pci", True),
        Row("video #0", PciLocation(0, 1, 0), PciLocation(0, 3, 0), "qxl-vga", False,
            "QEMU has it at 00:03.0")])
    text = report.render()
    lines = text.splitlines()
    assert lines[0] == "g (pc-q35-7.2): 1 of 2 PCI devices differ"
    assert lines[1].split() == ["device", "XML", "QEMU", "QEMU", "device"]
    assert lines[2].split() == ["disk", "vda", "01:00.0", "01:00.0", "virtio-blk-pci", "ok"]
    assert "MISMATCH: QEMU has it at 00:03.0" in lines[3]
    assert not report.ok and report.mismatches == [report.rows[1]]


def test_device_entries_keys() -> None:
    keys = [e.key for e in device_entries(etree.fromstring(XML.encode()))]
    assert keys == ["disk vda", "controller usb 0", "controller usb 0 (2)", "controller sata 0",
                    "controller pci 0", "controller pci 1", "input usb tablet #0",
                    "input ps2 mouse #0", "video #0", "memballoon #0"]


def test_boot_copy_rewrites_only_what_a_paused_start_needs(tmp_path: Path) -> None:
    xml = """<domain type='kvm'>
  <name>orig</name>
  <uuid>6f1e6c9a-3b0e-4d6a-9c55-0123456789ab</uuid>
  <memory unit='GiB'>8</memory>
  <cpu mode='host-passthrough'/>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <devices>
    <disk type='block' device='disk'>
      <driver name='qemu' type='raw'/>
      <source dev='/dev/sdz'/>
      <target dev='vda' bus='virtio'/>
      <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>
    </disk>
    <disk type='file' device='cdrom'><target dev='sda' bus='sata'/></disk>
    <interface type='bridge'>
      <source bridge='br0'/>
      <model type='virtio'/>
    </interface>
    <channel type='unix'>
      <source mode='bind' path='/var/lib/libvirt/qemu/x.sock'/>
      <target type='virtio' name='org.example.x'/>
    </channel>
    <redirdev bus='usb' type='tcp'>
      <source mode='connect' host='localhost' service='4000'/>
    </redirdev>
  </devices>
</domain>"""
    root = etree.fromstring(boot_copy(xml, "copy", tmp_path, qemu_img="true").encode())
    assert root.get("type") == "qemu" and root.findtext("name") == "copy"
    assert root.find("uuid") is None
    assert root.find("memory").text == "256" and root.find("memory").get("unit") == "MiB"
    assert root.find("cpu").get("mode") == "custom" and root.findtext("cpu/model") == "qemu64"
    disk = root.find("devices/disk")
    assert disk.get("type") == "file"
    assert disk.find("source").attrib == {"file": str(tmp_path / "disk0.raw")}
    assert disk.find("address").get("bus") == "0x01"  # addresses untouched
    assert root.find("devices/disk[@device='cdrom']/source") is None  # empty drive stays empty
    iface = root.find("devices/interface")
    assert iface.get("type") == "user" and iface.find("source") is None
    assert root.find("devices/channel/source").get("path") == str(tmp_path / "sock1")
    redir = root.find("devices/redirdev")
    assert redir.get("type") == "pty" and redir.find("source") is None


# ---- with the real libvirt and QEMU ------------------------------------------------------------


def leftovers(prefix: str) -> list[str]:
    virsh = libvirt_or_skip()
    return [n for n in virsh("list", "--all", "--name").split() if n.startswith(prefix)]


@pytest.mark.slow
def test_verify_an_example() -> None:
    libvirt_or_skip()
    report = verify(str(EXAMPLES / "q35-desktop.xml"))
    assert report.ok, report.render()
    assert report.machine == "pc-q35-7.2"
    assert len(report.rows) >= 10
    assert {r.qemu_type for r in report.rows} >= {"virtio-blk-pci", "qxl-vga", "ich9-ahci",
                                                  "pcie-root-port", "ich9-intel-hda"}
    assert leftovers(f"{NAME_PREFIX}-q35-desktop-") == []


@pytest.mark.slow
def test_verify_cleans_up_when_qemu_refuses() -> None:
    libvirt_or_skip()
    # libvirt defines it, but refuses to start it: spicevmc channels need a known name
    xml = """<domain type='qemu'>
  <name>x</name>
  <memory unit='MiB'>256</memory>
  <os><type arch='x86_64' machine='pc'>hvm</type></os>
  <devices>
    <channel type='spicevmc'><target type='virtio' name='org.example.unknown'/></channel>
    <graphics type='spice' autoport='yes'/>
  </devices>
</domain>"""
    import augmenter

    with pytest.raises(VerifyError, match="spicevmc"):
        verify_xml(augmenter.augment(xml), label="cleanup-check")
    assert leftovers(f"{NAME_PREFIX}-cleanup-check-") == []


def test_a_socket_file_left_by_a_dead_daemon_is_not_a_daemon(tmp_path: Path) -> None:
    """A daemon killed without cleaning up (a restored machine, an ended session) leaves its
    socket file; the fixtures must start the daemon again rather than trust the file."""
    import socket

    from libvirt_env import listening

    path = tmp_path / "sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)
    assert listening(path)
    server.close()  # the file stays, nobody listens
    assert path.exists() and not listening(path)
    assert not listening(tmp_path / "absent")
