"""``--convert-to q35|pc`` (docs/placement.md §24): each mapping, the changes it prints, and
the round trip of every x86 example (pc -> q35 -> pc, q35 -> pc -> q35) into guests libvirt
defines unchanged and QEMU starts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from libvirt_env import Topology, as_qemu_type, define_and_dump, libvirt_or_skip, topology_diff
from lxml import etree

import augmenter
from augmenter.cli.verify import verify_xml

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
X86 = sorted(p.stem for p in EXAMPLES.glob("*.xml")
             if not p.name.endswith(".out.xml") and p.stem.startswith(("pc-", "q35-")))


def guest(machine: str, devices: str, os_extra: str = "") -> str:
    """A guest; with ACPI, which UEFI on x86 requires (qemuValidateDomainDef)."""
    return (f"<domain type='kvm'><name>c</name><memory unit='MiB'>256</memory>"
            f"<os><type arch='x86_64' machine='{machine}'>hvm</type>{os_extra}</os>"
            f"<features><acpi/></features><devices>{devices}</devices></domain>")


def convert(text: str, target: str) -> augmenter.Result:
    return augmenter.run(text, augmenter.Options(boards="embedded", convert_to=target))


def changes(result: augmenter.Result) -> list[str]:
    return [f"{c.device}: {c.change}" for c in result.guest.conversion]


def disk(name: str, bus: str, device: str = "disk") -> str:
    return (f"<disk type='file' device='{device}'><source file='/d/{name}'/>"
            f"<target dev='{name}' bus='{bus}'/></disk>")


def targets(result: augmenter.Result) -> list[tuple[str | None, str | None]]:
    return [(t.get("dev"), t.get("bus")) for t in result.tree.getroot().iter("target")
            if t.getparent() is not None and t.getparent().tag == "disk"]  # type: ignore[union-attr]


def test_the_machine_keeps_its_version() -> None:
    result = convert(guest("pc-i440fx-5.2", ""), "q35")
    assert result.guest.machine == "pc-q35-5.2"
    assert changes(result)[0] == "machine: pc-i440fx-5.2 -> pc-q35-5.2"


def test_ide_disks_move_to_sata_on_q35_keeping_their_index() -> None:
    result = convert(guest("pc", disk("hda", "ide") + disk("hdc", "ide", "cdrom")
                           + "<controller type='ide' index='0'/>"), "q35")
    assert targets(result) == [("sda", "sata"), ("sdc", "sata")]
    assert "controller ide 0: removed: q35 has no IDE controller (its disks move to SATA)" in \
        changes(result)


def test_a_taken_sata_name_gives_the_next_free_one() -> None:
    result = convert(guest("pc", disk("sda", "sata") + disk("hda", "ide")), "q35")
    assert sorted(targets(result)) == [("sda", "sata"), ("sdb", "sata")]


def test_sata_disks_move_to_ide_on_pc_within_its_four_units() -> None:
    disks = "".join(disk(f"sd{c}", "sata") for c in "abcdef")
    result = convert(guest("q35", disks), "pc")
    assert targets(result) == [("hda", "ide"), ("hdb", "ide"), ("hdc", "ide"),
                               ("hdd", "ide"), ("sde", "sata"), ("sdf", "sata")]
    assert sum("stays on SATA" in c for c in changes(result)) == 2


def test_the_sata_controller_goes_when_no_sata_disk_is_left() -> None:
    result = convert(guest("q35", disk("sda", "sata") + "<controller type='sata' index='0'>"
                           "<address type='pci' domain='0' bus='0' slot='0x1f' function='2'/>"
                           "</controller>"), "pc")
    assert not [c for c in result.tree.getroot().iter("controller") if c.get("type") == "sata"]


@pytest.mark.parametrize(("source", "target", "before", "after"), [
    ("pc", "q35", "<sound model='ich6'/>", "ich9"),
    ("q35", "pc", "<sound model='ich9'/>", "ich6"),
])
def test_hda_sound_follows_the_chipset(source: str, target: str, before: str,
                                       after: str) -> None:
    result = convert(guest(source, before), target)
    sound = result.tree.getroot().find("devices/sound")
    assert sound is not None and sound.get("model") == after


def test_usb1_controllers_become_xhci_on_q35() -> None:
    result = convert(guest("pc", "<controller type='usb' index='0' model='piix3-uhci'/>"),
                     "q35")
    usb = result.tree.getroot().find("devices/controller[@type='usb']")
    assert usb is not None and usb.get("model") == "qemu-xhci"


def test_q35_only_devices_and_firmware_go_on_pc() -> None:
    result = convert(guest("q35", "<iommu model='intel'/>",
                           "<loader readonly='yes' secure='yes' type='pflash'>"
                           "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd</loader>"), "pc")
    root = result.tree.getroot()
    assert root.find("devices/iommu") is None
    loader = root.find("os/loader")
    assert loader is not None and loader.get("secure") is None


def test_pci_controllers_go_and_the_root_changes_model() -> None:
    result = convert(guest("q35", "<controller type='pci' index='0' model='pcie-root'/>"
                           "<controller type='pci' index='1' model='pcie-root-port'/>"), "pc")
    assert changes(result)[1:3] == [
        "controller pci 0: model pcie-root -> pci-root",
        "controller pci 1: removed: a pcie-root-port of the old board's topology (libvirt "
        "adds the buses the new board needs)"]


def test_addresses_that_still_fit_are_kept_the_others_dropped() -> None:
    nic = ("<interface type='user'><mac address='52:54:00:00:00:{n}'/><model type='e1000e'/>"
           "<address type='pci' domain='0' bus='{bus}' slot='{slot}' function='0'/>"
           "</interface>")
    devices = ("<controller type='pci' index='0' model='pcie-root'/>"
               "<controller type='pci' index='1' model='pcie-root-port'>"
               "<address type='pci' domain='0' bus='0' slot='2' function='0'/></controller>"
               + nic.format(n="01", bus="0", slot="5")  # q35 root bus slot 5: free on pc
               + nic.format(n="02", bus="1", slot="0")  # in the root port: it goes
               + nic.format(n="03", bus="0", slot="1"))  # slot 1: pc's PIIX3
    result = convert(guest("q35", devices), "pc")
    nics = [n.find("address") for n in result.tree.getroot().iter("interface")]
    kept = [(int(a.get("bus") or "0", 0), int(a.get("slot") or "0", 0))
            for a in nics if a is not None]
    assert kept[0] == (0, 5)
    dropped = [c for c in changes(result) if "dropped" in c]
    assert len(dropped) == 2
    macs = [m.get("address") for m in result.tree.getroot().iter("mac")]
    assert macs == ["52:54:00:00:00:01", "52:54:00:00:00:02", "52:54:00:00:00:03"]


def test_a_pc_root_bus_address_moves_to_a_root_port_on_q35() -> None:
    devices = ("<interface type='user'><model type='virtio'/>"
               "<address type='pci' domain='0' bus='0' slot='7' function='0'/></interface>")
    result = convert(guest("pc", devices), "q35")
    addr = result.tree.getroot().find("devices/interface/address")
    assert addr is not None and addr.get("bus") != "0x00"


def test_converting_to_the_same_board_changes_nothing() -> None:
    text = (EXAMPLES / "q35-desktop.xml").read_text()
    assert convert(text, "q35").to_string() == augmenter.run(
        text, augmenter.Options(boards="embedded")).to_string()


def test_a_non_x86_guest_is_refused() -> None:
    with pytest.raises(augmenter.AugmentError, match="converts x86 pc and q35 guests"):
        convert((EXAMPLES / "aarch64-virt-server.xml").read_text(), "q35")


# -- the command line ------------------------------------------------------------------------
def augment(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "augmenter", "--boards", "embedded", *args],
                          capture_output=True, text=True, timeout=120, check=False)


def test_every_change_is_printed_one_line_each() -> None:
    path = EXAMPLES / "pc-legacy.xml"
    done = augment("--convert-to", "q35", str(path))
    assert done.returncode == 0 and done.stdout.startswith("<domain")
    assert done.stderr.splitlines() == [
        f"{path}:15: converted: machine: pc -> pc-q35-7.2",
        f"{path}:32: converted: disk hda: bus ide -> sata, target hda -> sda",
        f"{path}:38: converted: disk hdc: bus ide -> sata, target hdc -> sdc"]


def test_format_json_prints_the_changes_as_json_lines() -> None:
    done = augment("--convert-to", "q35", "--format", "json", str(EXAMPLES / "pc-legacy.xml"))
    records = [json.loads(line) for line in done.stderr.splitlines()]
    assert [r["device"] for r in records] == ["machine", "disk hda", "disk hdc"]
    assert set(records[0]) == {"file", "device", "change", "line"}


def test_explain_json_has_the_changes() -> None:
    done = augment("--convert-to", "q35", "--explain", "--format", "json",
                   str(EXAMPLES / "pc-legacy.xml"))
    (data,) = json.loads(done.stdout)
    assert len(data["conversion"]) == 3 and done.stderr == ""


def test_a_bad_target_is_a_usage_error() -> None:
    done = augment("--convert-to", "i440fx", str(EXAMPLES / "pc-legacy.xml"))
    assert done.returncode == 2 and "--convert-to must be q35 or pc" in done.stderr


# -- round trips in libvirt and QEMU ------------------------------------------------------------
@pytest.mark.slow  # real libvirt or QEMU
@pytest.mark.parametrize("name", X86)
def test_round_trip_is_defined_unchanged_and_starts(name: str, tmp_path: Path) -> None:
    virsh = libvirt_or_skip()
    source = "pc" if name.startswith("pc") else "q35"
    text = as_qemu_type((EXAMPLES / f"{name}.xml").read_text())
    for target in ("q35" if source == "pc" else "pc", source):
        out = convert(text, target).to_string()
        assert etree.fromstring(out.encode()).find("os/type") is not None
        theirs = define_and_dump(virsh, out, f"convert-{name}-{target}", tmp_path)
        diff = topology_diff(Topology.of(out), Topology.of(theirs), ordered_controllers=False)
        assert not diff, f"{name} -> {target}:\n" + "\n".join(diff)
        report = verify_xml(out, label=f"convert-{name}-{target}", virsh=virsh)
        assert report.ok, report.render()
        text = out
