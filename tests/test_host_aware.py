"""Host-aware placement (docs/placement.md §22, §23): ``--group-host-functions`` puts the
functions of one host slot into one guest slot; ``--numa-aware`` puts each PCI host device
behind the expander bus of its guest NUMA node, from sysfs or ``--host-numa``.

libvirt must define every result unchanged, and QEMU must start it with every device where
the XML says. QEMU cannot pass through devices this host lacks, so the boot runs a stand-in:
each host device replaced by an emulated e1000e at the same guest address
(``dense_guests.stand_in``): the topology, expander buses and shared slots are what it tests.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import pytest
from dense_guests import HOST_DEVICES, HOST_NUMA, host_device_guest, stand_in
from libvirt_env import Topology, define_and_dump, libvirt_or_skip, topology_diff
from lxml import etree

import augmenter
from augmenter.cli.verify import verify_xml
from augmenter.placement.hostaware import parse_host_numa, parse_nodeset

Address = tuple[int, int, int]


def run(machine: str = "q35", cells: int = 2, **options: object) -> augmenter.Result:
    return augmenter.run(host_device_guest(machine, cells),
                         augmenter.Options(boards="embedded", **options))  # type: ignore[arg-type]


def guest_addresses(result: augmenter.Result) -> dict[str, Address]:
    """Host address -> guest (bus, slot, function) of every host device."""
    out: dict[str, Address] = {}
    for hostdev in result.tree.getroot().iter("hostdev"):
        src = hostdev.find("source/address")
        addr = hostdev.find("address")
        assert src is not None and addr is not None
        host = (f"{int(src.get('domain') or '0', 16):04x}:{int(src.get('bus') or '0', 16):02x}:"
                f"{int(src.get('slot') or '0', 16):02x}.{int(src.get('function') or '0', 16)}")
        out[host] = tuple(int(addr.get(k) or "0", 16)  # type: ignore[assignment]
                          for k in ("bus", "slot", "function"))
    return out


def controllers(result: augmenter.Result) -> dict[int, etree._Element]:
    return {int(c.get("index") or 0): c for c in result.tree.getroot().iter("controller")
            if c.get("type") == "pci"}


def parent(ctrls: dict[int, etree._Element], bus: int) -> int:
    addr = ctrls[bus].find("address")
    assert addr is not None
    return int(addr.get("bus") or "0", 16)


# -- functions of one host slot ------------------------------------------------------------
@pytest.mark.parametrize("machine", ["q35", "pc"])
def test_the_gpu_and_its_audio_function_share_one_slot(machine: str) -> None:
    result = run(machine, group_host_functions=True)
    at = guest_addresses(result)
    gpu, audio = at["0000:65:00.0"], at["0000:65:00.1"]
    assert gpu[:2] == audio[:2] and (gpu[2], audio[2]) == (0, 1)
    heads = [h.find("address") for h in result.tree.getroot().iter("hostdev")]
    assert heads[0] is not None and heads[0].get("multifunction") == "on"
    assert len({a[:2] for a in at.values()}) == 3  # the other two keep slots of their own


@pytest.mark.parametrize("machine", ["q35", "pc"])
def test_without_the_option_each_function_gets_a_slot_as_libvirt_gives(machine: str) -> None:
    at = guest_addresses(run(machine))
    assert at["0000:65:00.0"][:2] != at["0000:65:00.1"][:2]


def test_functions_without_function_0_stay_apart_with_a_warning() -> None:
    text = host_device_guest("q35").replace("bus='0x65' slot='0x00' function='0x0'",
                                            "bus='0x65' slot='0x00' function='0x2'")
    result = augmenter.run(text, augmenter.Options(boards="embedded",
                                                   group_host_functions=True))
    at = guest_addresses(result)
    assert at["0000:65:00.1"][:2] != at["0000:65:00.2"][:2]
    assert [c for c, _ in result.guest.warnings] == ["host-functions-apart"]
    assert any(f.code == "host-functions-apart" for f in result.findings)


def test_grouped_output_is_a_fixed_point() -> None:
    first = run(group_host_functions=True).to_string()
    again = augmenter.run(first, augmenter.Options(boards="embedded",
                                                   group_host_functions=True))
    assert again.to_string() == first


# -- NUMA -------------------------------------------------------------------------------------
@pytest.mark.parametrize("machine", ["q35", "pc"])
@pytest.mark.parametrize("grouped", [False, True])
def test_each_host_device_sits_behind_its_nodes_expander_bus(machine: str,
                                                             grouped: bool) -> None:
    result = run(machine, host_numa=HOST_NUMA, group_host_functions=grouped)
    ctrls = controllers(result)
    model = "pcie-expander-bus" if machine == "q35" else "pci-expander-bus"
    for host, (bus, _slot, _fn) in guest_addresses(result).items():
        pxb = parent(ctrls, bus) if machine == "q35" else bus  # q35: through a root port
        assert ctrls[pxb].get("model") == model
        assert ctrls[pxb].findtext("target/node") == str(dict(HOST_DEVICES)[host])
        if machine == "q35":
            assert ctrls[bus].get("model") == "pcie-root-port"


@pytest.mark.parametrize("machine", ["q35", "pc"])
def test_expander_bus_numbers_leave_room_for_the_buses_behind_them(machine: str) -> None:
    result = run(machine, host_numa=HOST_NUMA)
    ctrls = controllers(result)
    ranges: list[tuple[int, int]] = []
    for index, ctrl in ctrls.items():
        if ctrl.get("model", "").endswith("expander-bus"):
            target = ctrl.find("target")
            assert target is not None
            bus_nr = int(target.get("busNr") or "0")
            below = sum(1 for c in ctrls.values() if (a := c.find("address")) is not None
                        and int(a.get("bus") or "0", 16) == index)
            needed = 1 + (below if machine == "q35" else 1)
            ranges.append((bus_nr, bus_nr + needed - 1))
    ranges.sort()
    main_buses = sum(1 for c in ctrls.values() if not c.get("model", "").endswith("bus"))
    assert ranges and ranges[-1][1] <= 255 and ranges[0][0] > main_buses
    for (_, hi), (lo, _) in itertools.pairwise(ranges):
        assert hi < lo


def test_the_host_node_comes_from_sysfs(tmp_path: Path) -> None:
    for addr, node in HOST_DEVICES:
        folder = tmp_path / "bus" / "pci" / "devices" / addr
        folder.mkdir(parents=True)
        (folder / "numa_node").write_text(f"{node}\n")
    from_sysfs = run(numa_aware=True, sysfs_root=str(tmp_path)).to_string()
    assert from_sysfs == run(host_numa=HOST_NUMA).to_string()


def test_a_device_with_no_known_node_is_placed_as_usual_with_a_warning(tmp_path: Path) -> None:
    result = run(numa_aware=True, sysfs_root=str(tmp_path))  # an empty sysfs: -1 everywhere
    assert not any(c.get("model", "").endswith("expander-bus")
                   for c in controllers(result).values())
    assert {code for code, _ in result.guest.warnings} == {"numa-unplaced"}


def test_memnode_maps_host_nodes_to_guest_cells() -> None:
    text = host_device_guest("q35").replace(
        "  <devices>", "  <numatune>\n    <memnode cellid='0' nodeset='1'/>\n"
                       "    <memnode cellid='1' nodeset='0'/>\n  </numatune>\n  <devices>")
    result = augmenter.run(text, augmenter.Options(boards="embedded", host_numa=HOST_NUMA))
    ctrls = controllers(result)
    bus = guest_addresses(result)["0000:b3:00.0"][0]  # host node 0 -> guest cell 1
    assert ctrls[parent(ctrls, bus)].findtext("target/node") == "1"


def test_a_guest_without_numa_cells_is_placed_as_usual() -> None:
    result = run(cells=0, host_numa=HOST_NUMA)
    assert [c for c, _ in result.guest.warnings] == ["numa-unplaced"]


def test_numa_output_is_a_fixed_point() -> None:
    first = run(host_numa=HOST_NUMA, group_host_functions=True).to_string()
    assert augmenter.run(first, augmenter.Options(boards="embedded")).to_string() == first


@pytest.mark.parametrize(("text", "error"), [
    ("65:00.0", "is not ADDR=NODE"), ("65:00=1", "is not a PCI address"),
    ("0000:65:00.0=x", "must be a number"), ("65:00.0=1,0000:65:00.0=2", "given twice"),
    ("", "empty"), ("65:20.0=1", "above 0x1f"),
])
def test_the_host_numa_map_is_checked(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        parse_host_numa(text)


def test_a_bad_map_is_a_usage_error() -> None:
    done = subprocess.run([sys.executable, "-m", "augmenter", "--host-numa", "65:00.0",
                           "guest.xml"], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 2 and "ADDR=NODE" in done.stderr


def test_nodesets_read_as_libvirt_reads_them() -> None:
    assert parse_nodeset("0-3,^2,5") == {0, 1, 3, 5}


# -- libvirt and QEMU ------------------------------------------------------------------------
CASES = [(m, opts) for m in ("q35", "pc") for opts in (
    {"group_host_functions": True}, {"host_numa": HOST_NUMA},
    {"group_host_functions": True, "host_numa": HOST_NUMA})]


@pytest.mark.slow  # real libvirt or QEMU
@pytest.mark.parametrize(("machine", "options"), CASES)
def test_libvirt_defines_it_unchanged_and_qemu_starts_the_stand_in(
        machine: str, options: dict[str, object], tmp_path: Path) -> None:
    virsh = libvirt_or_skip()
    ours = run(machine, **options).to_string()
    theirs = define_and_dump(virsh, ours, f"hostaware-{machine}", tmp_path)
    diff = topology_diff(Topology.of(ours), Topology.of(theirs), ordered_controllers=False)
    assert not diff, "\n".join(diff)
    report = verify_xml(stand_in(ours), label=f"hostaware-{machine}", virsh=virsh)
    assert report.ok, report.render()
