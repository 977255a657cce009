"""Placement beyond libvirt (docs/placement.md §20): guests libvirt 9.0's own algorithm gives
up on are placed by a planned topology; the guests it places are left to it.

A sample of device counts runs here (where libvirt gives up on pc: 59, 89-90, 119-121, ... and
past 688; on q35 past 237); ``bench/bench_beyond.py`` sweeps every count from 1 to 1,000 (q35)
and 700 (pc). Each sampled guest is also defined in libvirtd, which must keep it unchanged,
and two large ones start paused under QEMU with every PCI device where the XML says.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from dense_guests import KINDS, sweep_guest
from hypothesis import given, settings
from hypothesis import strategies as st
from libvirt_env import (
    Topology,
    define_and_dump,
    libvirt_or_skip,
    remove_leftovers,
    topology_diff,
)
from lxml import etree

import augmenter
from augmenter.cli.verify import VerifyReport, verify_xml
from augmenter.placement import dense
from augmenter.reports.explain import explain_data

OPTIONS = augmenter.Options(boards="embedded")
# counts where libvirt 9.0 gives up, and where it places again
GIVES_UP = {"pc": (59, 89, 90, 119, 121, 152, 183, 689, 700), "q35": (238, 241, 300, 1000)}
PLACES = {"pc": (1, 58, 60, 88, 91, 688), "q35": (1, 100, 237)}
BOOTED = (("q35", 300, "mix"), ("pc", 700, "mix"))


def run(machine: str, count: int, kind: str = "disk") -> augmenter.Result:
    return augmenter.run(sweep_guest(machine, count, kind), OPTIONS)


def pci_controllers(xml: str) -> list[etree._Element]:
    return etree.fromstring(xml.encode()).findall("devices/controller[@type='pci']")


# -- which path ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("machine", "count"),
                         [(m, n) for m, counts in PLACES.items() for n in counts])
def test_guests_libvirt_places_take_libvirts_path(machine: str, count: int) -> None:
    result = run(machine, count)
    assert result.guest.notes == []
    assert explain_data(result)["beyond_libvirt"] == []


@pytest.mark.slow  # real libvirt or QEMU
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("machine", "count"),
                         [(m, n) for m, counts in GIVES_UP.items() for n in counts])
def test_guests_libvirt_gives_up_on_are_placed_and_final(machine: str, count: int,
                                                          kind: str) -> None:
    result = run(machine, count, kind)
    out = result.to_string()
    assert augmenter.run(out, OPTIONS).to_string() == out  # a fixed point
    if kind != "mix" or machine == "pc" or count > 300:  # libvirt places q35 mixes to ~300
        assert result.guest.notes and "libvirt 9.0 cannot place" in result.guest.notes[0]


@pytest.mark.parametrize(("machine", "count"), [("pc", 700), ("q35", 1000), ("q35", 250)])
def test_the_buses_form_a_tree_within_256_bus_numbers(machine: str, count: int) -> None:
    out = run(machine, count, "mix").to_string()
    ctrls = pci_controllers(out)
    indexes = sorted(int(c.get("index") or 0) for c in ctrls)
    assert indexes == list(range(len(indexes))) and len(indexes) <= 256
    for ctrl in ctrls:
        addr = ctrl.find("address")
        if addr is not None:  # plugged into a bus that exists and comes before it
            assert int(addr.get("bus") or "0", 16) < int(ctrl.get("index") or 0)


def test_bridges_hang_breadth_first() -> None:
    """q35, 1,000 disks: every pci-bridge sits on the pcie-to-pci-bridge, none deeper."""
    out = run("q35", 1000).to_string()
    ctrls = {int(c.get("index") or 0): c for c in pci_controllers(out)}
    p2p = [i for i, c in ctrls.items() if c.get("model") == "pcie-to-pci-bridge"]
    assert len(p2p) == 1
    for c in ctrls.values():
        if c.get("model") == "pci-bridge":
            addr = c.find("address")
            assert addr is not None and int(addr.get("bus") or "0", 16) == p2p[0]


def test_pcie_endpoints_keep_ports_of_their_own_while_bus_numbers_last() -> None:
    result = run("q35", 241)  # pcie-root's 240 functions are not enough: a switch
    models = [c.get("model") for c in pci_controllers(result.to_string())]
    assert "pcie-switch-upstream-port" in models
    assert "pcie-to-pci-bridge" not in models  # every disk on a port of its own
    assert result.guest.topology is not None and len(result.guest.topology.buses) <= 256


def test_explain_says_libvirt_could_not_place_it(capsys: pytest.CaptureFixture[str]) -> None:
    from rich.console import Console

    from augmenter.reports.explain import explain_tree

    Console(width=200).print(explain_tree(run("pc", 59)))
    text = capsys.readouterr().out
    assert "beyond libvirt" in text and "libvirt 9.0 cannot place this guest" in text
    assert "added 2 pci-bridges" in text


@pytest.mark.slow  # plans for the whole board before it gives up
def test_a_guest_too_big_for_the_board_says_why() -> None:
    """q35, 8,000 disks (and the balloon and USB): more than 255 buses of 31 slots hold."""
    with pytest.raises(augmenter.AugmentError,
                       match=r"nor does any other topology hold 8002 PCI devices \(240 "
                             r"pcie-root functions and 255 of 256 bus numbers left\)"):
        run("q35", 8000)


def _many(machine: str, element: str, count: int) -> str:
    return (f"<domain type='kvm'><name>many</name><memory unit='GiB'>4</memory><os><type "
            f"arch='x86_64' machine='{machine}'>hvm</type></os><devices>{element * count}"
            "</devices></domain>")


@pytest.mark.parametrize(("machine", "element", "count", "message"), [
    # libvirt's dry run adds a pci-bridge per 31 devices, and stops at the first it cannot plug
    ("q35", "<controller type='sata'/>", 8100,
     "controller pci 26: a PCI slot is needed to connect a PCI controller model=pci-bridge, "
     "but none is available, and it cannot be automatically added; nor does any other "
     "topology hold 8101 PCI devices (240 pcie-root functions and 255 of 256 bus numbers "
     "left)"),
    # ... a root port per device, and runs out of pcie-root functions
    ("q35", "<input type='keyboard' bus='virtio'/>", 8000,
     "controller pci 241: a PCI slot is needed to connect a PCI controller "
     "model=pcie-root-port, but none is available, and it cannot be automatically added; nor "
     "does any other topology hold 8002 PCI devices (240 pcie-root functions and 255 of 256 "
     "bus numbers left)"),
    ("pc", "<controller type='usb' model='qemu-xhci'/>", 8000,
     "controller pci 27: a PCI slot is needed to connect a PCI controller model=pci-bridge, "
     "but none is available, and it cannot be automatically added; nor does any other "
     "topology hold 8001 PCI devices (30 free slots and 255 of 256 bus numbers left)"),
])
def test_a_refusal_names_where_libvirt_stopped_and_what_no_topology_holds(
        machine: str, element: str, count: int, message: str) -> None:
    """libvirt's passes and the planned topology share what each device needs
    (``pci.Needs``): the refusal still names the controller libvirt's dry run could not plug
    and counts every device (with the implicit balloon and controllers) for the plan."""
    with pytest.raises(augmenter.AugmentError) as err:
        augmenter.run(_many(machine, element, count), OPTIONS)
    assert err.value.message == message


# -- the plan, as a pure function ----------------------------------------------------------------
@st.composite
def cases(draw: st.DrawFn) -> tuple[dense.Demand, dense.Resources]:
    pcie_root = draw(st.booleans())
    res = dense.Resources(
        pcie_root, free_native=draw(st.integers(0, 10)),
        free_conventional=draw(st.integers(0, 40)), bridge_host=draw(st.booleans()),
        root_functions=draw(st.integers(0, 248)) if pcie_root else 0,
        buses=draw(st.integers(0, 255)))
    demand = dense.Demand(pcie=draw(st.integers(0, 1200)) if pcie_root else 0,
                          conventional=draw(st.integers(0, 1200)),
                          ports=draw(st.integers(0, 40)))
    return demand, res


@settings(max_examples=500, deadline=None)
@given(cases())
def test_a_plan_fits_the_bus_numbers_and_holds_the_demand(
        case: tuple[dense.Demand, dense.Resources]) -> None:
    demand, res = case
    plan = dense.plan(demand, res)
    if plan is None:
        return
    assert plan.buses <= res.buses
    slots = res.free_conventional + 31 * plan.groups + 30 * plan.bridges
    if res.pcie_root:
        ports = max(0, res.free_native - demand.pcie)
        native_ports = plan.root_ports + plan.downstream
        assert native_ports >= plan.native + max(0, demand.ports - ports)
        assert plan.downstream <= 32 * plan.switches
        assert plan.root_ports + plan.switches + plan.groups <= res.root_functions
        overflow = max(0, demand.pcie - res.free_native) - plan.native
        assert slots >= demand.conventional + overflow
    else:
        assert slots >= demand.conventional + max(demand.ports, 1)


@settings(max_examples=500, deadline=None)
@given(cases())
def test_a_plan_gives_ports_to_the_most_endpoints_that_fit(
        case: tuple[dense.Demand, dense.Resources]) -> None:
    """The plan is the first that fits of every count of endpoints on ports, most first: the
    search skips only the counts whose ports alone outnumber the bus numbers left."""
    demand, res = case
    if not res.pcie_root:
        return
    wanted = max(0, demand.pcie - res.free_native)
    ports = max(0, demand.ports - max(0, res.free_native - demand.pcie))
    every = (dense._pcie_plan(native, wanted - native, ports, demand.conventional, res)
             for native in range(wanted, -1, -1))
    assert dense.plan(demand, res) == next((p for p in every if p is not None), None)


@settings(max_examples=300, deadline=None)
@given(cases())
def test_fewer_devices_never_stop_fitting(case: tuple[dense.Demand, dense.Resources]) -> None:
    demand, res = case
    if dense.plan(demand, res) is not None:
        fewer = dense.Demand(demand.pcie // 2, demand.conventional // 2, demand.ports)
        assert dense.plan(fewer, res) is not None


# -- libvirt and QEMU ------------------------------------------------------------------------
SAMPLE = [(m, n, k) for m, counts in GIVES_UP.items() for n in counts[::2] for k in KINDS]


@pytest.mark.slow  # real libvirt or QEMU
@pytest.mark.parametrize(("machine", "count", "kind"), SAMPLE)
def test_libvirt_defines_the_planned_guest_unchanged(machine: str, count: int, kind: str,
                                                     tmp_path: Path) -> None:
    virsh = libvirt_or_skip()
    ours = run(machine, count, kind).to_string()
    theirs = define_and_dump(virsh, ours, f"dense-{machine}-{kind}-{count}", tmp_path)
    diff = topology_diff(Topology.of(ours), Topology.of(theirs), ordered_controllers=False)
    assert not diff, "\n".join(diff[:20])


@pytest.fixture(scope="module")
def boots() -> Iterator[dict[tuple[str, int, str], Future[VerifyReport]]]:
    virsh = libvirt_or_skip()
    with ThreadPoolExecutor(2) as pool:
        yield {case: pool.submit(lambda c: verify_xml(run(*c).to_string(),
                                                      label=f"dense-{c[0]}-{c[1]}",
                                                      virsh=virsh), case)
               for case in BOOTED}
    remove_leftovers(virsh)


@pytest.mark.slow  # real libvirt or QEMU
@pytest.mark.parametrize("case", BOOTED)
def test_qemu_puts_every_device_where_the_plan_says(
        case: tuple[str, int, str],
        boots: dict[tuple[str, int, str], Future[VerifyReport]]) -> None:
    report = boots[case].result()
    assert report.ok, report.render()
    assert len(report.rows) > case[1]
