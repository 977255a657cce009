"""Guests for the explain and graph tests, plus the example guests of ``examples/``.

The two inline guests cover every kind of place a device can have: PCI functions on the root bus,
root ports and a pcie-to-pci-bridge (q35), the board's own functions, drive units (SATA, SCSI with
a user-written unit, IDE), virtio-serial ports, USB ports behind a hub, a ccid slot, a DIMM slot
(an "other" address), and devices with no address (PS/2 inputs, a serial port, consoles).
"""

from __future__ import annotations

from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

Q35_MIXED = """\
<domain type='kvm'>
  <name>q35-mixed</name>
  <memory unit='GiB'>2</memory>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
  </os>
  <devices>
    <disk type='file' device='disk'>
      <source file='/var/lib/libvirt/images/a.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='disk'>
      <source file='/var/lib/libvirt/images/b.qcow2'/>
      <target dev='vdb' bus='virtio'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x05' function='0x0'/>
    </disk>
    <disk type='file' device='cdrom'>
      <source file='/var/lib/libvirt/images/c.iso'/>
      <target dev='sda' bus='sata'/>
      <readonly/>
    </disk>
    <disk type='file' device='disk'>
      <source file='/var/lib/libvirt/images/d.img'/>
      <target dev='sdb' bus='scsi'/>
      <address type='drive' controller='0' bus='0' target='0' unit='3'/>
    </disk>
    <controller type='scsi' model='virtio-scsi'/>
    <interface type='network'>
      <mac address='52:54:00:00:00:01'/>
      <source network='default'/>
      <model type='virtio'/>
    </interface>
    <interface type='network'>
      <mac address='52:54:00:00:00:02'/>
      <source network='default'/>
      <model type='e1000'/>
    </interface>
    <serial type='pty'/>
    <channel type='unix'>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>
    <input type='tablet' bus='usb'/>
    <graphics type='spice'/>
    <sound model='ich9'/>
    <video>
      <model type='qxl'/>
    </video>
    <redirdev bus='usb' type='spicevmc'/>
    <rng model='virtio'>
      <backend model='random'>/dev/urandom</backend>
    </rng>
  </devices>
</domain>
"""

PC_MIXED = """\
<domain type='kvm'>
  <name>pc-mixed</name>
  <maxMemory slots='4' unit='GiB'>8</maxMemory>
  <memory unit='GiB'>1</memory>
  <vcpu>2</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
  </os>
  <cpu>
    <numa>
      <cell id='0' cpus='0-1' memory='1' unit='GiB'/>
    </numa>
  </cpu>
  <devices>
    <disk type='file' device='disk'>
      <source file='/var/lib/libvirt/images/a.img'/>
      <target dev='hda' bus='ide'/>
    </disk>
    <disk type='file' device='cdrom'>
      <source file='/var/lib/libvirt/images/b.iso'/>
      <target dev='hdc' bus='ide'/>
      <readonly/>
    </disk>
    <interface type='user'>
      <model type='e1000'/>
    </interface>
    <smartcard mode='host'/>
    <console type='pty'>
      <target type='virtio' port='0'/>
    </console>
    <hub type='usb'/>
    <input type='tablet' bus='usb'/>
    <input type='keyboard' bus='usb'/>
    <video>
      <model type='cirrus'/>
    </video>
    <memballoon model='virtio'/>
    <memory model='dimm'>
      <target>
        <size unit='GiB'>1</size>
        <node>0</node>
      </target>
    </memory>
  </devices>
</domain>
"""

INLINE = {"q35-mixed": Q35_MIXED, "pc-mixed": PC_MIXED}


def example_inputs() -> list[Path]:
    """``examples/NAME.xml`` files (not the ``*.out.xml`` expected outputs)."""
    return sorted(p for p in EXAMPLES.glob("*.xml") if not p.name.endswith(".out.xml"))


def all_guests() -> dict[str, bytes]:
    """Every guest the tests walk: the inline ones and every example, by name."""
    guests = {name: xml.encode("utf-8") for name, xml in INLINE.items()}
    guests.update({f"examples/{p.stem}": p.read_bytes() for p in example_inputs()})
    return guests
