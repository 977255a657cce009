"""``augmenter.placement.topology``: the networkx graph built on first read equals one kept
eagerly."""

from __future__ import annotations

from collections.abc import Hashable

import networkx as nx
from lxml import etree
from topology_guests import all_guests

from augmenter.model.connect import Connect
from augmenter.model.domain import Device
from augmenter.pipeline import run
from augmenter.placement.topology import (
    BoardFunction,
    Occupant,
    Phantom,
    Reservation,
    Topology,
    pci_at,
)

ANY = Connect.PCI | Connect.PCIE | Connect.AUTO | Connect.HOTPLUG
# occupants for the steps below (a second run of the steps uses the next ones)
DISKS = {i: Device(etree.Element("disk"), "disk", i) for i in range(8)}
NICS = {i: Device(etree.Element("interface"), "interface", i) for i in range(8)}


def _shape(graph: nx.DiGraph[Hashable]) -> tuple[list[object], list[object]]:
    """Nodes and edges with their data, in insertion order (what explain and graph walk)."""
    return list(graph.nodes(data=True)), list(graph.edges(data=True))


def _steps(topo: Topology, eager: nx.DiGraph[Hashable] | None = None) -> None:
    """Buses added between reservations, as the dry pass grows them; mirrored into ``eager``
    the way the topology kept its graph before it was lazy."""
    def bus(model: str) -> None:
        b = topo.add_bus(model, ANY, 0, 31)
        if eager is not None:
            eager.add_node(("bus", b.index), bus=b)

    def take(bus_index: int, slot: int, function: int, owner: Occupant) -> None:
        topo.reserve(pci_at(bus_index, slot, function), ANY, owner, explicit=True)
        if eager is not None:
            eager.add_edge(("bus", bus_index), owner, slot=slot, function=function)

    base = len(topo.buses)  # a second run uses buses of its own
    bus("pcie-root")
    take(base, 1, 0, BoardFunction(1, 0, f"lpc{base}"))
    take(base, 1, 1, BoardFunction(1, 1, f"smbus{base}"))
    bus("pcie-root-port")
    bus("pcie-root-port")
    take(base + 1, 0, 0, DISKS[base])
    take(base, 2, 0, Phantom(base))
    bus("pci-bridge")
    take(base + 2, 0, 0, NICS[base])


def test_the_lazy_graph_has_the_eager_graphs_nodes_and_edges_in_order() -> None:
    eager: nx.DiGraph[Hashable] = nx.DiGraph()
    topo = Topology()
    _steps(topo, eager)
    assert _shape(topo.graph) == _shape(eager)


def test_a_graph_read_early_follows_later_reservations() -> None:
    eager: nx.DiGraph[Hashable] = nx.DiGraph()
    topo = Topology()
    _steps(topo, eager)
    assert _shape(topo.graph) == _shape(eager)
    _steps(topo, eager)  # more buses and reservations after the first read
    assert _shape(topo.graph) == _shape(eager)
    assert topo.occupants(5) == [Reservation(0, 0, DISKS[4])]


def test_the_placed_guests_graph_has_a_node_per_bus_and_an_edge_per_function() -> None:
    for xml in all_guests().values():
        topo = run(xml).guest.topology
        if topo is None:
            continue
        graph = topo.graph
        for bus in topo.buses:
            assert graph.nodes[("bus", bus.index)]["bus"] is bus
            taken = sum(bin(mask).count("1") for mask in bus.used.values())
            assert len(topo.occupants(bus.index)) <= taken
