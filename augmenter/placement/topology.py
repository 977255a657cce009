"""The PCI topology as a graph, and the generic address search over it.

Buses are nodes (``("bus", index)``) carrying a :class:`Bus` record; every occupied function is
an edge from its bus to the occupant's node with the slot and function on it. The engine knows
connection kinds, slot ranges and functions; it knows nothing about any machine type. Policy
(which device goes first, when to add a bridge) lives in :mod:`augmenter.placement.pci`.

The networkx graph is built when it is first read: placement itself only asks the buses' slot
maps, and a networkx node and edge per reservation cost it several percent (importing networkx
costs the command a tenth of a second at start-up, too).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..model.addresses import PciAddress, pci_at
from ..model.connect import KINDS, Connect, describe

if TYPE_CHECKING:
    import networkx as nx


@dataclass(eq=False, slots=True)
class Bus:
    """One PCI bus: what it accepts, its slot range and which functions are taken.

    Compared by identity: it is one bus of one topology, and :attr:`Topology.open` membership
    is asked on every reservation (field-by-field equality compared the slot maps too)."""

    index: int
    model: str
    flags: Connect
    min_slot: int
    max_slot: int
    used: dict[int, int] = field(default_factory=dict)  # slot -> function bit mask
    aggregate: set[int] = field(default_factory=set)
    free: int = -1  # empty slots left in range; kept by Topology.reserve
    # No slot below this one is empty (slots are never given back): where a search for an
    # empty slot starts, so that filling a bus does not rescan its full slots each time.
    first_empty: int = -1
    accepts: int = field(init=False, default=0)  # ``flags`` as a plain int, for the searches

    def __post_init__(self) -> None:
        self.free = max(self.max_slot - self.min_slot + 1, 0)
        self.first_empty = self.min_slot
        self.accepts = int(self.flags)

    def empty(self) -> bool:
        return not any(self.used.values())

    def slot_free(self, slot: int) -> bool:
        return self.used.get(slot, 0) == 0

    def function_free(self, slot: int, function: int) -> bool:
        return not self.used.get(slot, 0) & (1 << function)

    def has_room(self) -> bool:
        """An empty slot, or a shared (aggregate) slot with a free function."""
        return self.free > 0 or any(self.used.get(s, 0) != 0xFF for s in self.aggregate)


class Conflict(Exception):
    """An address that cannot be taken; the message says why in plain words."""


# Plain integers for the hot path: IntFlag arithmetic costs a microsecond per operation.
_PCI, _PCIE, _BR = int(Connect.PCI), int(Connect.PCIE), int(Connect.BR)
_AUTO, _HOTPLUG = int(Connect.AUTO), int(Connect.HOTPLUG)
_INTEGRATED, _AGGREGATE, _KINDS = int(Connect.INTEGRATED), int(Connect.AGGREGATE), int(KINDS)


def _fits(dev: int, bus_flags: int, bus_index: int, explicit: bool) -> bool:
    if dev & _INTEGRATED:
        if bus_index != 0:
            return False
        bus_flags |= _AUTO
    if explicit:
        if bus_flags & (_PCI | _PCIE):
            bus_flags |= _PCI | _PCIE
        if dev & _BR:
            dev |= _PCI
    elif dev & _AUTO and not bus_flags & _AUTO:
        return False
    if dev & _HOTPLUG and not bus_flags & _HOTPLUG:
        return False
    return bool(dev & bus_flags & _KINDS)


class Topology:
    """Buses and occupants. ``graph`` is the networkx view used by explain and checks.

    ``open`` keeps, in index order, the buses that still have room, so that a search does not
    walk the hundreds of full root ports of a large guest: placement stays linear.
    """

    def __init__(self) -> None:
        self.buses: list[Bus] = []
        self.open: list[Bus] = []
        self._offered = 0  # every bus's flags or-ed together
        # Every reservation, in order: (bus index, owner, slot, function); and for each bus,
        # how many reservations came before it. From these two, :attr:`graph` is built with
        # its nodes and edges in the order an eager one would have had.
        self._taken: list[tuple[int, Hashable, int, int]] = []
        self._bus_marks: list[int] = []
        self._graph: nx.DiGraph[Hashable] | None = None  # once read, kept up to date

    @property
    def graph(self) -> nx.DiGraph[Hashable]:
        """The topology as a networkx graph: bus nodes, one edge per occupied function."""
        if self._graph is None:
            self._graph = self._build_graph()
        return self._graph

    def _build_graph(self) -> nx.DiGraph[Hashable]:
        import networkx as nx

        graph: nx.DiGraph[Hashable] = nx.DiGraph()
        buses = list(zip(self.buses, self._bus_marks, strict=True))
        next_bus = 0
        for i, (bus_index, owner, slot, function) in enumerate(self._taken):
            while next_bus < len(buses) and buses[next_bus][1] <= i:
                graph.add_node(("bus", next_bus), bus=buses[next_bus][0])
                next_bus += 1
            graph.add_edge(("bus", bus_index), owner, slot=slot, function=function)
        for bus, _ in buses[next_bus:]:
            graph.add_node(("bus", bus.index), bus=bus)
        return graph

    def add_bus(self, model: str, flags: Connect, min_slot: int, max_slot: int) -> Bus:
        bus = Bus(len(self.buses), model, flags, min_slot, max_slot)
        self.buses.append(bus)
        self._bus_marks.append(len(self._taken))
        self._offered |= int(flags)
        if bus.max_slot >= bus.min_slot:
            self.open.append(bus)
        if self._graph is not None:
            self._graph.add_node(("bus", bus.index), bus=bus)
        return bus

    def offers(self, kind: Connect) -> bool:
        """Whether some bus accepts ``kind`` (kept up to date: placement asks once per bus it
        adds, and the walk over every bus it replaces made growth quadratic)."""
        return bool(self._offered & int(kind))

    def fits(self, dev: Connect, bus: Bus, explicit: bool) -> bool:
        """libvirt's compatibility test of a device's flags against a bus (docs/placement.md §5)."""
        return _fits(int(dev), bus.accepts, bus.index, explicit)

    def why_not(self, dev: Connect, bus: Bus) -> str:
        """Why an explicit address on ``bus`` is refused, for messages."""
        if dev & Connect.INTEGRATED and bus.index != 0:
            return "the device must be an integrated device on bus 0"
        accepts = describe(bus.flags & KINDS)
        return (
            f"it requires a controller that accepts a {describe(dev & KINDS)}, "
            f"and controller index {bus.index} ({bus.model}) accepts a {accepts}"
        )

    def reserve(self, addr: PciAddress, dev: Connect, owner: Hashable, explicit: bool) -> None:
        """Take one function. Raises :class:`Conflict` naming the rule that refuses it."""
        if addr.bus >= len(self.buses):
            raise Conflict(f"PCI bus {addr.bus:#04x} does not exist "
                           f"(only buses up to {len(self.buses) - 1:#04x} are available)")
        bus = self.buses[addr.bus]
        flags, slot, function = int(dev), addr.slot, addr.function
        if not _fits(flags, bus.accepts, bus.index, explicit):
            raise Conflict(f"device at {addr} cannot be plugged into controller index "
                           f"{bus.index}: {self.why_not(dev, bus)}")
        if slot < bus.min_slot:
            raise Conflict(f"invalid PCI address {addr}: slot must be >= {bus.min_slot:#x}")
        if slot > bus.max_slot:
            raise Conflict(f"invalid PCI address {addr}: slot must be <= {bus.max_slot:#x}")
        mask = bus.used.get(slot, 0)
        if mask & (1 << function):
            raise Conflict(f"Attempted double use of PCI Address {addr}")
        if mask == 0:
            bus.free -= 1
            if flags & _AGGREGATE:
                bus.aggregate.add(slot)
        bus.used[slot] = mask | (1 << function)
        self._taken.append((addr.bus, owner, slot, function))
        if self._graph is not None:
            self._graph.add_edge(("bus", addr.bus), owner, slot=slot, function=function)
        if bus.free <= 0 and not bus.has_room() and bus in self.open:
            self.open.remove(bus)

    def find(self, dev: Connect, function: int | None = None) -> PciAddress | None:
        """First free address for ``dev`` (docs/placement.md §6): lowest bus, lowest slot.

        ``function`` asks for that function in an empty slot; None means function 0 of an
        empty slot, or any free function of a slot shared by devices that aggregate.
        """
        want = 0 if function is None else function
        flags = int(dev)
        aggregate = flags & _AGGREGATE
        for bus in self.open:
            if not _fits(flags, bus.accepts, bus.index, False):
                continue
            used = bus.used
            # shared slots may have a free function below the first empty slot
            start = bus.min_slot if aggregate and bus.aggregate else bus.first_empty
            for slot in range(start, bus.max_slot + 1):
                mask = used.get(slot, 0)
                if mask == 0:
                    bus.first_empty = slot  # every slot before it was full
                    return pci_at(bus.index, slot, want)
                if aggregate and slot in bus.aggregate:
                    if function is not None:
                        if not mask & (1 << function):
                            return pci_at(bus.index, slot, function)
                        continue
                    for fn in range(8):
                        if not mask & (1 << fn):
                            return pci_at(bus.index, slot, fn)
        return None

    def reservations(self) -> list[tuple[int, Hashable, int, int]]:
        """Every reservation so far, in order: (bus index, owner, slot, function)."""
        return self._taken

    def occupants(self, bus_index: int) -> list[tuple[int, int, Hashable]]:
        """(slot, function, owner) on one bus, sorted: for explain and checks."""
        out = [
            (data["slot"], data["function"], owner)
            for _, owner, data in self.graph.out_edges(("bus", bus_index), data=True)
        ]
        return sorted(out, key=lambda t: (t[0], t[1]))
