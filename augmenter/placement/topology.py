"""The PCI topology as a graph, and the generic address search over it.

Buses are nodes (``("bus", index)``) carrying a :class:`Bus` record; every occupied function is
an edge from its bus to the occupant's node with the slot and function on it. An occupant is a
:class:`Device`, a :class:`BoardFunction`, a :class:`Phantom` or a :class:`FutureController`
(:data:`Occupant`). The engine knows
connection kinds, slot ranges and functions; it knows nothing about any machine type. Policy
(which device goes first, when to add a bridge) lives in :mod:`augmenter.placement.pci`.

The networkx graph is built when it is first read: placement itself only asks the buses' slot
maps, and a networkx node and edge per reservation cost it several percent (importing networkx
costs the command a tenth of a second at start-up, too).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Literal, TypeAlias

from ..model.addresses import PciAddress, pci_at
from ..model.connect import KINDS, Connect, describe
from ..model.domain import Device
from ..model.record import Record

if TYPE_CHECKING:
    import networkx as nx


class Bus:
    """One PCI bus: what it accepts, its slot range and which functions are taken.

    Compared by identity: it is one bus of one topology, and :attr:`Topology.open` membership
    is asked on every reservation. Written out rather than a dataclass: libvirt's dry run
    adds one per device when each takes a root port of its own (hundreds of thousands in a
    large guest), and this ``__init__`` costs half of a generated one."""

    __slots__ = ("accepts", "aggregate", "aggregate_room", "first_empty", "flags", "free",
                 "index", "is_open", "max_slot", "min_slot", "model", "used")

    def __init__(self, index: int, model: str, flags: Connect, min_slot: int,
                 max_slot: int) -> None:
        self.index = index
        self.model = model
        self.flags = flags
        self.min_slot = min_slot
        self.max_slot = max_slot
        self.used: dict[int, int] = {}  # slot -> function bit mask
        # the shared (aggregate) slots, one bit per slot: a slot is shared when its first
        # function went to a device that aggregates (virDomainPCIAddressReserveAddrInternal)
        self.aggregate = 0
        slots = max_slot - min_slot + 1
        self.free = slots if slots > 0 else 0  # empty slots left in range; kept by
        # Topology.occupy. No slot below ``first_empty`` is empty (slots are never given
        # back): where a search for an empty slot starts, so that filling a bus does not
        # rescan its full slots each time.
        self.first_empty = min_slot
        self.accepts = int(flags)  # ``flags`` as a plain int, for the searches
        # shared slots with a free function, and whether the bus is in Topology.open: both
        # kept by Topology.occupy, so that a full bus costs nothing to ask
        self.aggregate_room = 0
        self.is_open = False

    def __repr__(self) -> str:
        return (f"Bus(index={self.index}, model={self.model!r}, flags={self.flags!r}, "
                f"min_slot={self.min_slot}, max_slot={self.max_slot})")

    def shared(self, slot: int) -> bool:
        """Whether ``slot`` is shared: its functions go to devices that aggregate."""
        return bool(self.aggregate >> slot & 1)

    def empty(self) -> bool:
        return not any(self.used.values())

    def slot_free(self, slot: int) -> bool:
        return self.used.get(slot, 0) == 0

    def function_free(self, slot: int, function: int) -> bool:
        return not self.used.get(slot, 0) & (1 << function)

    def has_room(self) -> bool:
        """An empty slot, or a shared (aggregate) slot with a free function."""
        return self.free > 0 or self.aggregate_room > 0


class BoardFunction(Record):
    """A function the board builds in (LPC, SMBus, PIIX3's ISA bridge) that no controller of
    the definition stands for: nothing else may take it."""

    __slots__ = ("function", "slot", "type")

    def __init__(self, slot: int, function: int, type: str) -> None:
        self.slot, self.function = slot, function
        self.type = type  # QEMU's type of the function, e.g. ICH9-LPC


class Phantom(Record):
    """A slot libvirt's dry run holds back, for a bridge it may add later or for hot-plug."""

    __slots__ = ("number",)

    def __init__(self, number: int) -> None:
        self.number = number


class FutureController(Record):
    """The controller libvirt will add at its fixed address (pc's IDE controller for IDE
    disks): the checks hold its function before the controller exists."""

    __slots__ = ("index", "type")

    def __init__(self, type: str, index: int) -> None:
        self.type, self.index = type, index


Occupant: TypeAlias = Device | BoardFunction | Phantom | FutureController
"""What takes one PCI function."""


class Reservation(Record):
    """One occupied function of a bus."""

    __slots__ = ("function", "occupant", "slot")

    def __init__(self, slot: int, function: int, occupant: Occupant) -> None:
        self.slot, self.function, self.occupant = slot, function, occupant


Misfit: TypeAlias = Literal["integrated", "no-auto", "no-hotplug", "kind"]
"""Why a device does not fit a bus (the tests of virDomainPCIAddressFlagsCompatible): an
integrated device off bus 0; an auto-placed device on a bus that takes only written addresses;
a device that needs hot-plug on a bus without it; a bus that takes none of the device's
connection kinds."""

INTEGRATED: Misfit = "integrated"

Refusal: TypeAlias = Literal["no-bus", "misfit", "slot-low", "slot-high", "taken"]
"""Why an address cannot be taken (virDomainPCIAddressReserveAddrInternal)."""


class Conflict(Exception):
    """An address that cannot be taken: why (``refusal``, ``misfit``), on which bus, and what
    holds it already (``other``); ``str()`` says it in plain words."""

    def __init__(self, message: str, refusal: Refusal, bus: Bus | None = None,
                 misfit: Misfit | None = None, other: Occupant | None = None) -> None:
        super().__init__(message)
        self.refusal = refusal
        self.bus = bus
        self.misfit = misfit
        self.other = other


# Plain integers for the hot path: IntFlag arithmetic costs a microsecond per operation.
_PCI, _PCIE, _BR = int(Connect.PCI), int(Connect.PCIE), int(Connect.BR)
_AUTO, _HOTPLUG = int(Connect.AUTO), int(Connect.HOTPLUG)
_INTEGRATED, _AGGREGATE, _KINDS = int(Connect.INTEGRATED), int(Connect.AGGREGATE), int(KINDS)


def misfit(dev: int, bus_flags: int, bus_index: int, explicit: bool) -> Misfit | None:
    """Whether a device with connection flags ``dev`` fits a bus, and if not why: libvirt's
    virDomainPCIAddressFlagsCompatible (docs/placement.md §5). ``explicit``: the address was
    written, which lets a PCI device sit where PCIe is offered and the other way round, and a
    pci-bridge wherever a PCI device could. None: it fits."""
    if dev & _INTEGRATED:
        if bus_index != 0:
            return "integrated"
        bus_flags |= _AUTO
    if explicit:
        if bus_flags & (_PCI | _PCIE):
            bus_flags |= _PCI | _PCIE
        if dev & _BR:
            dev |= _PCI
    elif dev & _AUTO and not bus_flags & _AUTO:
        return "no-auto"
    if dev & _HOTPLUG and not bus_flags & _HOTPLUG:
        return "no-hotplug"
    return None if dev & bus_flags & _KINDS else "kind"


def why_not(why: Misfit, dev: Connect, bus: Bus) -> str:
    """:func:`misfit`'s answer in words, for messages."""
    if why == "integrated":
        return "the device must be an integrated device on bus 0"
    if why == "no-auto":
        return (f"controller index {bus.index} ({bus.model}) takes only devices whose address "
                "is written")
    if why == "no-hotplug":
        return f"controller index {bus.index} ({bus.model}) does not support hot-plug"
    return (
        f"it requires a controller that accepts a {describe(dev & KINDS)}, "
        f"and controller index {bus.index} ({bus.model}) accepts a {describe(bus.flags & KINDS)}"
    )


def cannot_plug(what: str, addr: PciAddress, bus_index: int, why: str,
                model: str | None = None) -> str:
    """A written address on a bus that does not take the device (``why``: :func:`why_not`),
    in the words of both placement and the checks; ``model``: the bus's, when it is named."""
    named = f" ({model})" if model else ""
    return f"{what} at {addr} cannot be plugged into controller index {bus_index}{named}: {why}"


def double_use(addr: PciAddress) -> str:
    """libvirt's words for a function taken twice (virDomainPCIAddressReserveAddrInternal)."""
    return f"Attempted double use of PCI Address {addr}"


class Topology:
    """Buses and occupants. ``graph`` is the networkx view used by explain and checks.

    ``open`` keeps, in index order, the buses that still have room, so that a search does not
    walk the hundreds of full root ports of a large guest: placement stays linear.
    """

    def __init__(self) -> None:
        self.buses: list[Bus] = []
        self.open: list[Bus] = []
        self._offered = 0  # every bus's flags or-ed together
        # Every reservation, in order: (bus index, occupant, slot, function); and for each bus,
        # how many reservations came before it. From these two, :attr:`graph` is built with
        # its nodes and edges in the order an eager one would have had.
        self._taken: list[tuple[int, Occupant, int, int]] = []
        self._bus_marks: list[int] = []
        # Built when first asked for, from ``_taken``: each function's occupant (then kept up to
        # date, for the checks, which ask on every conflict), and where each occupant sits.
        self._owners: dict[tuple[int, int, int], Occupant] | None = None
        self._where: dict[Occupant, tuple[int, Reservation]] | None = None
        self._by_bus: list[list[Reservation]] | None = None
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
        self._offered |= bus.accepts
        if max_slot >= min_slot:
            self.open.append(bus)
            bus.is_open = True
        if self._graph is not None:
            self._graph.add_node(("bus", bus.index), bus=bus)
        return bus

    def offers(self, kind: Connect) -> bool:
        """Whether some bus accepts ``kind`` (kept up to date: placement asks once per bus it
        adds, and the walk over every bus it replaces made growth quadratic)."""
        return bool(self._offered & int(kind))

    def fits(self, dev: Connect, bus: Bus, explicit: bool) -> bool:
        """Whether a device with connection flags ``dev`` fits ``bus`` (:func:`misfit`)."""
        return misfit(int(dev), bus.accepts, bus.index, explicit) is None

    def reserve(self, addr: PciAddress, dev: Connect, owner: Occupant, explicit: bool) -> None:
        """Take one function. Raises :class:`Conflict` naming the rule that refuses it."""
        if addr.bus >= len(self.buses):
            raise Conflict(f"PCI bus {addr.bus:#04x} does not exist "
                           f"(only buses up to {len(self.buses) - 1:#04x} are available)",
                           "no-bus")
        bus = self.buses[addr.bus]
        flags, slot, function = int(dev), addr.slot, addr.function
        why = misfit(flags, bus.accepts, bus.index, explicit)
        if why is not None:
            raise Conflict(cannot_plug("device", addr, bus.index, why_not(why, dev, bus)),
                           "misfit", bus, why)
        if slot < bus.min_slot:
            raise Conflict(f"invalid PCI address {addr}: slot must be >= {bus.min_slot:#x}",
                           "slot-low", bus)
        if slot > bus.max_slot:
            raise Conflict(f"invalid PCI address {addr}: slot must be <= {bus.max_slot:#x}",
                           "slot-high", bus)
        if bus.used.get(slot, 0) & (1 << function):
            other = self._owner_of(addr.bus, slot, function)
            raise Conflict(double_use(addr), "taken", bus, other=other)
        self.occupy(addr, flags, owner)

    def occupy(self, addr: PciAddress, flags: int, owner: Occupant) -> None:
        """Take one function :meth:`reserve` has found free and fitting, or one :meth:`find`
        returned (it only returns those): the bookkeeping half of :meth:`reserve`, without
        its tests, for the first-fit passes that take every address :meth:`find` gives.
        ``flags``: the device's, as a plain int."""
        bus = self.buses[addr.bus]
        slot, function = addr.slot, addr.function
        mask = bus.used.get(slot, 0)
        if mask == 0:
            bus.free -= 1
            if flags & _AGGREGATE:
                bus.aggregate |= 1 << slot
                bus.aggregate_room += 1
        mask |= 1 << function
        bus.used[slot] = mask
        if mask == 0xFF and bus.shared(slot):
            bus.aggregate_room -= 1
        self._taken.append((addr.bus, owner, slot, function))
        if self._owners is not None:
            self._owners[(addr.bus, slot, function)] = owner
        self._where = self._by_bus = None
        if self._graph is not None:
            self._graph.add_edge(("bus", addr.bus), owner, slot=slot, function=function)
        if bus.is_open and not bus.has_room():
            self.open.remove(bus)
            bus.is_open = False

    def find(self, dev: Connect, function: int | None = None) -> PciAddress | None:
        """First free address for ``dev`` (docs/placement.md §6): lowest bus, lowest slot.

        ``function`` asks for that function in an empty slot; None means function 0 of an
        empty slot, or any free function of a slot shared by devices that aggregate.
        """
        want = 0 if function is None else function
        flags = int(dev)
        aggregate = flags & _AGGREGATE
        for bus in self.open:
            if misfit(flags, bus.accepts, bus.index, False) is not None:
                continue
            used = bus.used
            # shared slots may have a free function below the first empty slot
            start = bus.min_slot if aggregate and bus.aggregate else bus.first_empty
            for slot in range(start, bus.max_slot + 1):
                mask = used.get(slot, 0)
                if mask == 0:
                    bus.first_empty = slot  # every slot before it was full
                    return pci_at(bus.index, slot, want)
                if aggregate and bus.shared(slot):
                    if function is not None:
                        if not mask & (1 << function):
                            return pci_at(bus.index, slot, function)
                        continue
                    for fn in range(8):
                        if not mask & (1 << fn):
                            return pci_at(bus.index, slot, fn)
        return None

    def occupants(self, bus_index: int) -> list[Reservation]:
        """The occupied functions of one bus, by slot and function: for explain and checks."""
        return sorted(self.reservations(bus_index), key=lambda t: (t.slot, t.function))

    def reservations(self, bus_index: int) -> list[Reservation]:
        """The occupied functions of one bus, in the order they were taken."""
        if self._by_bus is None:  # for the reports, once placement is done
            self._by_bus = [[] for _ in self.buses]
            for bus, owner, slot, function in self._taken:
                self._by_bus[bus].append(Reservation(slot, function, owner))
        return list(self._by_bus[bus_index])

    def taken(self) -> list[tuple[int, Reservation]]:
        """Every reservation so far, in the order they were taken: (bus index, reservation)."""
        return [(bus, Reservation(slot, function, owner))
                for bus, owner, slot, function in self._taken]

    def _owner_of(self, bus: int, slot: int, function: int) -> Occupant | None:
        """What holds a function (for a conflict's message)."""
        if self._owners is None:
            self._owners = {(b, s, f): o for b, o, s, f in reversed(self._taken)}
        return self._owners.get((bus, slot, function))

    def place_of(self, occupant: Occupant) -> tuple[int, Reservation] | None:
        """(bus index, reservation) of the first function ``occupant`` took, if any."""
        if self._where is None:  # for the reports, once placement is done
            self._where = {}
            for bus, owner, slot, function in self._taken:
                if owner not in self._where:
                    self._where[owner] = (bus, Reservation(slot, function, owner))
        return self._where.get(occupant)
