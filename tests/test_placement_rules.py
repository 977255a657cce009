"""libvirt's placement rules, one behaviour per test, on small hand-written guests."""

from __future__ import annotations

import pytest
from lxml import etree

import augmenter
from augmenter.pipeline import Options

EMBEDDED = Options(boards="embedded")


def guest(devices: str, machine: str = "q35", arch: str = "x86_64") -> str:
    return f"""<domain type='kvm'>
  <name>t</name>
  <memory unit='MiB'>512</memory>
  <os><type arch='{arch}' machine='{machine}'>hvm</type></os>
  <devices>
{devices}
  </devices>
</domain>
"""


def place(devices: str, machine: str = "q35", **opts: int) -> etree._Element:
    options = Options(boards="embedded", **opts)  # type: ignore[arg-type]
    out = augmenter.run(guest(devices, machine), options).to_bytes()
    return etree.fromstring(out)


def pci(root: etree._Element, xpath: str) -> tuple[int, int, int]:
    addr = root.find(xpath + "/address")
    assert addr is not None, f"no address for {xpath}"
    assert addr.get("type") == "pci"
    return (int(addr.get("bus"), 0), int(addr.get("slot"), 0), int(addr.get("function"), 0))


def controllers(root: etree._Element, model: str) -> list[etree._Element]:
    return root.findall(f"devices/controller[@model='{model}']")


VIRTIO_NIC = "<interface type='network'><source network='default'/><model type='virtio'/>" \
             "</interface>"
E1000 = "<interface type='network'><source network='default'/><model type='e1000'/></interface>"


def test_a_virtio_nic_on_q35_gets_its_own_root_port_and_one_spare_is_left() -> None:
    root = place(VIRTIO_NIC + "<memballoon model='none'/><controller type='usb' model='none'/>")
    ports = controllers(root, "pcie-root-port")
    assert len(ports) == 2  # the NIC's, and libvirt's spare
    assert pci(root, "devices/interface") == (1, 0, 0)


def test_root_ports_are_packed_eight_to_a_slot_with_multifunction_on_function_0() -> None:
    disks = "".join(f"<disk type='file' device='disk'><source file='/d{i}'/>"
                    f"<target dev='vd{chr(97 + i)}' bus='virtio'/></disk>" for i in range(10))
    root = place(disks)
    addrs = [pci(root, f"devices/controller[@index='{i}']") for i in range(1, 9)]
    assert addrs == [(0, 1, f) for f in range(8)]
    first = root.find("devices/controller[@index='1']/address")
    assert first is not None and first.get("multifunction") == "on"
    assert pci(root, "devices/controller[@index='9']") == (0, 2, 0)


def test_chassis_and_port_of_a_root_port_follow_its_index_and_address() -> None:
    root = place(VIRTIO_NIC)
    target = root.find("devices/controller[@index='1']/target")
    assert target is not None
    assert target.get("chassis") == "1" and int(target.get("port"), 0) == 0x8


def test_a_conventional_pci_nic_on_q35_lands_behind_a_pcie_to_pci_bridge() -> None:
    root = place(E1000)
    bridge = controllers(root, "pcie-to-pci-bridge")
    assert len(bridge) == 1
    bus, slot, _ = pci(root, "devices/interface")
    assert bus == int(bridge[0].get("index")) and slot >= 1


def test_q35_keeps_its_built_in_sata_controller_at_1f_2() -> None:
    root = place("")
    assert pci(root, "devices/controller[@type='sata']") == (0, 0x1F, 2)


def test_q35_primary_video_takes_slot_1_and_ich9_sound_slot_1b() -> None:
    root = place("<video><model type='qxl'/></video><sound model='ich9'/>")
    assert pci(root, "devices/video") == (0, 1, 0)
    assert pci(root, "devices/sound") == (0, 0x1B, 0)


def test_pc_puts_ide_at_1_1_usb_at_1_2_and_video_at_2() -> None:
    root = place("<disk type='file' device='cdrom'><target dev='hdc' bus='ide'/></disk>"
                 "<video><model type='cirrus'/></video>", machine="pc")
    assert pci(root, "devices/controller[@type='ide']") == (0, 1, 1)
    assert pci(root, "devices/controller[@type='usb']") == (0, 1, 2)
    assert pci(root, "devices/video") == (0, 2, 0)


def test_a_pc_guest_with_more_than_31_devices_gets_a_pci_bridge() -> None:
    disks = "".join(f"<disk type='file' device='disk'><source file='/d{i}'/>"
                    f"<target dev='vd{chr(97 + i // 26) if i >= 26 else ''}{chr(97 + i % 26)}'"
                    f" bus='virtio'/></disk>" for i in range(40))
    root = place(disks, machine="pc")
    bridges = controllers(root, "pci-bridge")
    assert len(bridges) == 1
    assert pci(root, "devices/controller[@model='pci-bridge']")[0] == 0
    buses = {pci(root, f"devices/disk[{i + 1}]")[0] for i in range(40)}
    assert buses == {0, 1}


def test_addresses_the_user_wrote_are_kept() -> None:
    nic = VIRTIO_NIC.replace("</interface>", "<address type='pci' domain='0x0000' bus='0x00' "
                             "slot='0x05' function='0x0'/></interface>")
    root = place(nic, machine="pc")
    assert pci(root, "devices/interface") == (0, 5, 0)


def test_the_ide_target_name_gives_the_drive_address() -> None:
    root = place("<disk type='file' device='cdrom'><target dev='hdc' bus='ide'/></disk>",
                 machine="pc")
    addr = root.find("devices/disk/address")
    assert addr is not None
    assert (addr.get("controller"), addr.get("bus"), addr.get("unit")) == ("0", "1", "0")


def test_scsi_disk_h_goes_to_a_second_controller() -> None:
    root = place("<disk type='file' device='disk'><source file='/x.img'/>"
                 "<target dev='sdh' bus='scsi'/></disk>")
    addr = root.find("devices/disk/address")
    assert addr is not None and addr.get("controller") == "1" and addr.get("unit") == "0"
    assert len(root.findall("devices/controller[@type='scsi']")) == 2


def test_virtio_channels_take_ports_from_1() -> None:
    chans = "".join(f"<channel type='unix'><target type='virtio' name='c{i}'/></channel>"
                    for i in range(3))
    root = place(chans)
    ports = [a.get("port") for a in root.findall("devices/channel/address")]
    assert ports == ["1", "2", "3"]
    assert root.find("devices/controller[@type='virtio-serial']") is not None


def test_a_usb_hub_is_added_when_the_root_ports_run_out() -> None:
    tablets = "<input type='tablet' bus='usb'/>" * 3
    root = place("<controller type='usb' index='0' model='piix3-uhci'/>" + tablets, machine="pc")
    assert root.find("devices/hub") is not None
    ports = sorted(a.get("port") for a in root.findall("devices/input[@bus='usb']/address"))
    assert ports == ["1.1", "1.2", "2"]


@pytest.mark.parametrize("machine", ["pc", "q35"])
def test_a_second_run_changes_nothing(machine: str) -> None:
    first = augmenter.run(guest(VIRTIO_NIC + E1000, machine), EMBEDDED).to_string()
    assert augmenter.run(first, EMBEDDED).to_string() == first


def test_reserve_hotplug_leaves_exactly_that_many_empty_root_ports() -> None:
    plain = place(VIRTIO_NIC)  # libvirt's spare root port among them
    reserved = place(VIRTIO_NIC, reserve_hotplug=3)
    assert len(controllers(reserved, "pcie-root-port")) == \
        len(controllers(plain, "pcie-root-port")) - 1 + 3


def test_reserve_hotplug_on_pc_adds_a_bridge_when_bus_0_is_short() -> None:
    root = place("", machine="pc", reserve_hotplug=40)
    assert controllers(root, "pci-bridge")


def test_the_machine_alias_is_written_as_its_versioned_name() -> None:
    root = place("")
    os_type = root.find("os/type")
    assert os_type is not None and os_type.get("machine") == "pc-q35-7.2"


def test_an_ide_disk_on_q35_is_refused_with_its_line() -> None:
    with pytest.raises(augmenter.AugmentError) as err:
        augmenter.run(guest("<disk type='file' device='disk'><source file='/x.img'/>"
                            "<target dev='hda' bus='ide'/></disk>"), EMBEDDED)
    assert "IDE" in err.value.message
    assert err.value.line == 6


@pytest.mark.parametrize(("arch", "machine", "expect"), [
    ("aarch64", "virt", (1, 0, 0)),
    ("ppc64", "pseries", (0, 1, 0)),
])
def test_other_machines_place_a_virtio_nic_like_libvirt(arch: str, machine: str,
                                                        expect: tuple[int, int, int]) -> None:
    text = guest(VIRTIO_NIC, machine=machine, arch=arch)
    root = etree.fromstring(augmenter.run(text, EMBEDDED).to_bytes())
    assert pci(root, "devices/interface") == expect


def test_s390_virtio_devices_get_ccw_devnos_in_order() -> None:
    text = guest("<disk type='file' device='disk'><source file='/x.img'/>"
                 "<target dev='vda' bus='virtio'/></disk>" + VIRTIO_NIC,
                 machine="s390-ccw-virtio", arch="s390x")
    root = etree.fromstring(augmenter.run(text, EMBEDDED).to_bytes())
    devnos = [root.find(f"devices/{tag}/address").get("devno")  # type: ignore[union-attr]
              for tag in ("disk", "interface", "memballoon")]
    assert devnos == ["0x0000", "0x0001", "0x0002"]


PXB = "<controller type='pci' index='{i}' model='pcie-expander-bus'>{target}</controller>"


def test_an_expander_bus_without_busnr_gets_two_below_the_lowest() -> None:
    """qemuDomainAddressFindNewBusNr: the lowest busNr (256 when none is written), less two
    (the expander's bus and its integrated bridge's); each numbered one counts for the next."""
    root = place(PXB.format(i=1, target="<target busNr='200'/>") + PXB.format(i=2, target="")
                 + PXB.format(i=3, target=""))
    assert [c.find("target").get("busNr") for c in controllers(root, "pcie-expander-bus")] == [
        "200", "198", "196"]
    alone = place(PXB.format(i=1, target=""))
    assert controllers(alone, "pcie-expander-bus")[0].find("target").get("busNr") == "254"


def test_no_busnr_is_given_below_a_lowest_of_two() -> None:
    """qemuDomainAssignPCIAddresses refuses to number an expander bus when the lowest busNr
    written is 2 or less: 0 is the root's, and the others were chosen on purpose."""
    with pytest.raises(augmenter.InvalidDomain, match="No free busNr lower than current "
                       "lowest busNr is available to auto-assign"):
        place(PXB.format(i=1, target="<target busNr='2'/>") + PXB.format(i=2, target=""))


SCSI_DISK = ("<disk type='file' device='disk'><source file='/s{n}'/><target dev='sd{letter}' "
             "bus='scsi'/>{address}</disk>")


def test_a_scsi_controller_models_units_are_one_table_for_placing_and_checking() -> None:
    """virDomainSCSIDriveAddressIsUsed's limits decide both the units libvirt gives a SCSI
    host device and the units QEMU takes (a unit past them is warned about)."""
    from augmenter.policy.devices import SCSI_UNITS
    counts = {m: SCSI_UNITS[m].count for m in ("lsilogic", "virtio-scsi", "ibmvscsi",
                                               "lsisas1068", "lsisas1078", "dc390")}
    assert counts == {"lsilogic": 7, "virtio-scsi": 16384, "ibmvscsi": 32, "lsisas1068": 2,
                      "lsisas1078": 256, "dc390": 7}
    assert not SCSI_UNITS["lsilogic"].usable(7) and SCSI_UNITS["lsilogic"].usable(8)
    assert not SCSI_UNITS["ibmvscsi"].usable(7) and not SCSI_UNITS["ibmvscsi"].usable(32)
    lsi = "<controller type='scsi' index='0' model='lsilogic'/>"
    beyond = SCSI_DISK.format(n=0, letter="a", address="<address type='drive' controller='0' "
                              "bus='0' target='0' unit='7'/>")
    found = augmenter.check(guest(lsi + beyond, "pc"), EMBEDDED)
    assert [(f.code, f.severity) for f in found if "unit 7" in f.message] == [
        ("drive-out-of-range", "warning")]


def _disk_name(prefix: str, index: int) -> str:
    """libvirt's disk name for an index (virDiskNameToIndex's inverse): 0 ``a``, 26 ``aa``."""
    name = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        name = chr(97 + rest) + name
    return prefix + name


@pytest.mark.parametrize("unaddressed_scsi_host", [False, True])
def test_a_disk_past_the_last_implied_controller_is_refused_alike_early_or_late(
        unaddressed_scsi_host: bool) -> None:
    """An IDE disk whose name needs controller 256: refused before any address is written
    (half a million disks would each get one first), with the words and line of the refusal
    that comes once the implicit controllers are added; a SCSI host device still to be placed
    could name a controller too, so then it comes there."""
    from augmenter.errors import AugmentError
    from augmenter.pipeline import make_guest, prepare
    from augmenter.placement import defaults
    from augmenter.xml.document import parse_document

    disks = "".join(f"<disk type='file' device='disk'><source file='/d{i}'/>"
                    f"<target dev='{_disk_name('hd', i)}' bus='ide'/></disk>\n"
                    for i in (0, 1024, 1025))
    host = ("<hostdev mode='subsystem' type='scsi'><source><adapter name='scsi_host0'/>"
            "<address bus='0' target='0' unit='0'/></source></hostdev>\n")
    text = guest(disks + (host if unaddressed_scsi_host else ""), "pc")
    placed = make_guest(parse_document(text.encode()), EMBEDDED)
    prepare(placed)
    if unaddressed_scsi_host:
        defaults.assign_drive_addresses(placed)
        assert placed.dom.disks[0].address is not None
        defaults.assign_scsi_hostdev_addresses(placed)
        with pytest.raises(AugmentError) as late:
            defaults.add_implicit_controllers(placed)
        refusal = late.value
    else:
        with pytest.raises(AugmentError) as early:
            defaults.assign_drive_addresses(placed)
        assert all(d.address is None for d in placed.dom.disks)
        refusal = early.value
    far = _disk_name("hd", 1024)  # the first name of controller 256 (4 disks a controller)
    assert refusal.message == (f"disk {far}: drive address controller='256' would need 257 "
                               "ide controllers; at most 256 fit in a guest")
    lines = text.splitlines()
    assert refusal.line == lines.index(next(x for x in lines if f"'{far}'" in x)) + 1
    with pytest.raises(augmenter.InvalidDomain) as whole:
        augmenter.run(text, EMBEDDED)
    assert [(f.message, f.line) for f in whole.value.findings] == [
        (refusal.message, refusal.line)]
