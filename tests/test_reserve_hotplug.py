"""``--reserve-hotplug N``: exactly N free hot-pluggable ports, new guest or not, and libvirt
accepts the result (docs/placement.md §21).

A port is an empty root port or switch downstream port on a PCI Express machine (q35, ARM
``virt``), an empty slot of a hot-pluggable bus on pc, where the board's own free slots count
too (so there, at least N). More than the guest can take is an error that says how many fit;
``--lock-occupied`` turns hot plug off on the ports that hold what must not be ejected.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from libvirt_env import Topology, define_and_dump, libvirt_or_skip, topology_diff

import augmenter
from augmenter.cli.verify import verify_xml
from augmenter.placement import hotplug

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
PCIE = ["q35-desktop", "q35-server", "q35-fixed-addresses", "aarch64-virt-server"]
PC = ["pc-legacy", "pc-many-devices"]


def run(text: str, reserve: int | None, **more: bool) -> augmenter.Result:
    return augmenter.run(text, augmenter.Options(boards="embedded", reserve_hotplug=reserve,
                                                 **more))


def example(name: str) -> str:
    return (EXAMPLES / f"{name}.xml").read_text()


def free(result: augmenter.Result) -> int:
    assert result.guest.topology is not None
    return len(hotplug.free_ports(result.guest.topology, result.guest.pcie_root))


@pytest.mark.parametrize("name", PCIE)
@pytest.mark.parametrize("reserve", [0, 1, 4, 20])
def test_a_pcie_guest_gets_exactly_n_free_ports(name: str, reserve: int) -> None:
    assert free(run(example(name), reserve)) == reserve


@pytest.mark.parametrize("name", ["q35-desktop", "q35-server", "aarch64-virt-server"])
def test_without_the_option_libvirts_spare_root_port_stays(name: str) -> None:
    assert free(run(example(name), None)) == 1  # a new guest: libvirt adds one


@pytest.mark.parametrize("name", PCIE + PC)
@pytest.mark.parametrize("reserve", [2, 9])
def test_a_second_run_keeps_the_count_and_changes_nothing(name: str, reserve: int) -> None:
    first = run(example(name), reserve).to_string()
    again = run(first, reserve)
    assert again.to_string() == first
    if name in PCIE:
        assert free(again) == reserve


@pytest.mark.parametrize("name", PCIE)
def test_an_existing_guest_is_topped_up_to_n_not_given_n_more(name: str) -> None:
    """Augmented once without the option (libvirt's spare port), then with N: N in all."""
    existing = run(example(name), None).to_string()
    assert free(run(existing, 5)) == 5


@pytest.mark.parametrize("name", PC)
@pytest.mark.parametrize("reserve", [1, 40, 100])
def test_a_pc_guest_gets_at_least_n_free_slots(name: str, reserve: int) -> None:
    result = run(example(name), reserve)
    assert free(result) >= reserve
    if free(result) > reserve:  # and says so
        assert any(code == "reserve-hotplug-exceeded" for code, _ in result.guest.warnings)


def test_many_ports_take_switches_once_pcie_root_is_full() -> None:
    result = run(example("q35-desktop"), 250)
    assert free(result) == 250
    models = [c.get("model") for c in result.tree.getroot().iter("controller")]
    assert "pcie-switch-downstream-port" in models


def test_more_than_fit_says_how_many_do() -> None:
    with pytest.raises(augmenter.AugmentError,
                       match=r"--reserve-hotplug 300: at most (\d+) free hot-pluggable ports "
                             "fit in this guest") as err:
        run(example("q35-desktop"), 300)
    most = int(re.search(r"at most (\d+)", err.value.message).group(1))  # type: ignore[union-attr]
    assert free(run(example("q35-desktop"), most)) == most
    with pytest.raises(augmenter.AugmentError):
        run(example("q35-desktop"), most + 1)


def test_the_command_line_takes_more_than_64() -> None:
    done = subprocess.run([sys.executable, "-m", "augmenter", "--boards", "embedded",
                           "--reserve-hotplug", "100", str(EXAMPLES / "q35-desktop.xml")],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert free(run(done.stdout, None)) == 100


# -- --lock-occupied ---------------------------------------------------------------------------
def locked_ports(result: augmenter.Result) -> dict[int, bool]:
    """Root port index -> hot plug off, for every root port."""
    return {int(c.get("index") or 0): c.find("target[@hotplug='off']") is not None
            for c in result.tree.getroot().iter("controller")
            if c.get("model") == "pcie-root-port"}


def test_lock_occupied_turns_hot_plug_off_where_a_disk_or_controller_sits() -> None:
    result = run(example("q35-desktop"), None, lock_occupied=True)
    root = result.tree.getroot()
    holder: dict[int, str] = {}
    devices = root.find("devices")
    assert devices is not None
    for dev in devices:
        addr = dev.find("address")
        if addr is not None and addr.get("type") == "pci" and addr.get("bus") != "0x00":
            holder[int(addr.get("bus") or "0", 16)] = dev.tag
    locked = locked_ports(result)
    for index, off in locked.items():
        tag = holder.get(index)
        assert off == (tag is not None and tag not in ("interface", "hostdev")), (index, tag)
    assert any(locked.values()) and not all(locked.values())  # the NIC's and the spare stay


def test_locked_output_is_a_fixed_point() -> None:
    first = run(example("q35-server"), None, lock_occupied=True).to_string()
    assert run(first, None, lock_occupied=True).to_string() == first
    assert run(first, None).to_string() == first


# -- libvirt and QEMU ------------------------------------------------------------------------
@pytest.mark.slow  # real libvirt or QEMU
@pytest.mark.parametrize(("name", "reserve", "lock"), [
    ("q35-desktop", 3, False), ("q35-server", 0, True), ("q35-desktop", 250, True),
    ("pc-legacy", 40, False), ("aarch64-virt-server", 6, False),
])
def test_libvirt_accepts_the_reserved_topology_unchanged(name: str, reserve: int, lock: bool,
                                                         tmp_path: Path) -> None:
    virsh = libvirt_or_skip()
    ours = run(example(name), reserve, lock_occupied=lock).to_string()
    theirs = define_and_dump(virsh, ours, f"reserve-{name}-{reserve}", tmp_path)
    diff = topology_diff(Topology.of(ours), Topology.of(theirs), ordered_controllers=False)
    assert not diff, "\n".join(diff)


@pytest.mark.slow  # real libvirt or QEMU
def test_qemu_starts_with_switch_ports_and_locked_ports() -> None:
    virsh = libvirt_or_skip()
    ours = run(example("q35-desktop"), 250, lock_occupied=True).to_string()
    report = verify_xml(ours, label="reserve-lock-q35-desktop", virsh=virsh)
    assert report.ok, report.render()
