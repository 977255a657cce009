"""``--reserve-hotplug N``: N more empty hot-pluggable slots, and libvirt accepts the result.

The free slots are counted on the augmented topology (empty root ports on q35 and virt, empty
slots of hot-pluggable buses on pc); libvirt must define the output without moving an address
or adding a controller.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from libvirt_env import Topology, define_and_dump, libvirt_or_skip, topology_diff

import augmenter
from augmenter.model.connect import Connect

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
GUESTS = ["q35-desktop", "q35-server", "pc-legacy", "pc-many-devices", "aarch64-virt-server"]


def free_hotplug_slots(result: augmenter.Result) -> int:
    """Empty slots on buses that take hot-plugged endpoints (root ports count one each)."""
    topo = result.guest.topology
    assert topo is not None
    count = 0
    for bus in topo.buses:
        if not bus.flags & Connect.HOTPLUG or not bus.flags & (Connect.PCI | Connect.PCIE):
            continue
        count += sum(1 for s in range(bus.min_slot, bus.max_slot + 1) if bus.slot_free(s))
    return count


def run(name: str, reserve: int) -> augmenter.Result:
    text = (EXAMPLES / f"{name}.xml").read_text()
    return augmenter.run(text, augmenter.Options(boards="embedded", reserve_hotplug=reserve))


@pytest.mark.parametrize("name", GUESTS)
@pytest.mark.parametrize("reserve", [1, 4])
def test_reserve_gives_that_many_more_free_hotplug_slots(name: str, reserve: int) -> None:
    plain = free_hotplug_slots(run(name, 0))
    reserved = free_hotplug_slots(run(name, reserve))
    if name.startswith("pc"):
        assert reserved >= reserve  # pc: free slots, with a pci-bridge when bus 0 is short
    else:
        assert reserved == plain + reserve  # PCIe: N root ports beyond libvirt's spare


@pytest.mark.parametrize("name", GUESTS)
def test_reserved_output_is_a_fixed_point(name: str) -> None:
    first = run(name, 3).to_string()
    again = augmenter.run(first, augmenter.Options(boards="embedded", reserve_hotplug=3))
    assert again.to_string() == first


@pytest.mark.parametrize("name", GUESTS)
def test_libvirt_accepts_the_reserved_topology_unchanged(name: str, tmp_path: Path) -> None:
    virsh = libvirt_or_skip()
    ours = run(name, 3).to_string()
    theirs = define_and_dump(virsh, ours, f"reserve-{name}", tmp_path)
    diff = topology_diff(Topology.of(ours), Topology.of(theirs), ordered_controllers=False)
    assert not diff, "\n".join(diff)
