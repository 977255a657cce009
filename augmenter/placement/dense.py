"""Placement beyond libvirt: a topology for a guest libvirt 9.0's own algorithm cannot place.

libvirt grows a guest's PCI topology one bus at a time, for the device in hand, and gives up
when that bus has nowhere to go (docs/placement.md §8): on pc when its reserve slot pushes a
``pci-bridge`` onto a bus that is full, on q35 once ``pcie-root`` has no function left for a
root port (about 237 devices), although QEMU offers 256 bus numbers, PCIe switches and bridges
of 31 slots. This module takes over only then (docs/placement.md §20). It plans the whole
topology at once, from what the guest needs and what its board has left:

* every PCI Express endpoint gets a hot-pluggable port of its own while bus numbers last:
  root ports on ``pcie-root``, then, once its functions are spent, switches (an upstream port
  in a root port, up to 32 downstream ports); the rest, and every conventional endpoint, sit in
  slots of conventional buses (a ``pcie-to-pci-bridge`` in a root port, then ``pci-bridge``s);
* bridges hang breadth-first, each on the shallowest bus with a free slot, so that the chains
  of bridges stay as short as the bus numbers allow;
* every bus is plugged into one that exists already and has a lower index, so the buses form
  a tree (no cycles) whose bus numbers stay within QEMU's 0-255.

Every address it chooses is written, so libvirt's own algorithm, run on the result (by augment
on the way out, and by libvirt at define time), finds nothing to place and changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from math import ceil
from typing import TYPE_CHECKING

from ..errors import PlacementError
from ..model.addresses import PciAddress, pci_address, pci_at, write_pci
from ..model.connect import Connect
from ..model.domain import Device
from ..policy.devices import (
    ICH9_USB2,
    PCI_CONTROLLER_UPSTREAM,
    numbered_floor,
)
from . import hotplug
from .guest import Guest
from .pci import (
    RESTRICTED_ROOT_PORT,
    Exhausted,
    Needs,
    Pass,
    _bus_flags,
    _pci_controllers,
    build_topology,
    expander_bus_nrs,
    first_fit_order,
)
from .pci import (
    assign as assign_as_libvirt,
)
from .topology import Bus, Topology

if TYPE_CHECKING:
    import networkx as nx

BUS_NUMBERS = 256  # PCI domain 0: buses 0-255 (and libvirt's controller indexes with them)
BRIDGE_SLOTS = 31  # slots 1-31 of a pci-bridge or pcie-to-pci-bridge
SWITCH_PORTS = 32  # downstream ports on one upstream port (slots 0-31)
FUNCTIONS = 8
_PCIE_ENDPOINT = Connect.PCIE | Connect.AUTO
_PCI_ENDPOINT = Connect.PCI | Connect.AUTO
WHY = "placed beyond libvirt (docs/placement.md §20)"


# -- the plan -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Resources:
    """What the board and the definition leave for new devices and buses."""

    pcie_root: bool
    free_native: int  # empty ports that take a PCI Express endpoint
    free_conventional: int  # empty slots that take a conventional endpoint
    bridge_host: bool  # some bus has a free slot a pci-bridge may take
    root_functions: int  # functions of pcie-root a root port may take
    buses: int  # bus numbers left


@dataclass(frozen=True)
class Demand:
    """What the guest needs placed."""

    pcie: int  # PCI Express endpoints, each happiest on a port of its own
    conventional: int  # conventional endpoints (and ICH9 USB sets)
    ports: int  # free hot-pluggable ports to leave


@dataclass(frozen=True)
class Plan:
    """The buses to add, by kind, and how many PCI Express endpoints get a port."""

    root_ports: int
    switches: int
    downstream: int
    groups: int  # a root port with a pcie-to-pci-bridge in it
    bridges: int  # pci-bridges
    native: int  # PCI Express endpoints on new ports; the others sit in bridge slots

    @property
    def buses(self) -> int:
        return (self.root_ports + 2 * self.switches + self.downstream + 2 * self.groups
                + self.bridges)


def _conventional_buses(slots: int, bridge_host: bool) -> tuple[int, int] | None:
    """(groups, bridges) that give ``slots`` more conventional slots. A pci-bridge takes one
    slot and gives 31 (30 more); without a bus to hang the first on, a root port with a
    pcie-to-pci-bridge (31 slots) comes first."""
    if slots <= 0:
        return 0, 0
    if bridge_host:
        return 0, ceil(slots / (BRIDGE_SLOTS - 1))
    return 1, ceil(max(0, slots - BRIDGE_SLOTS) / (BRIDGE_SLOTS - 1))


def _pcie_plan(native: int, overflow: int, ports: int, conventional: int,
               res: Resources) -> Plan | None:
    """The buses for ``native`` endpoints on new ports, ``ports`` free ports, and
    ``conventional + overflow`` endpoints in bridge slots; None when they do not fit."""
    conv = _conventional_buses(conventional + overflow - res.free_conventional,
                               res.bridge_host)
    if conv is None:
        return None
    groups, bridges = conv
    ports_needed = native + ports
    functions = res.root_functions - groups
    if functions < 0:
        return None
    switches = downstream = 0
    if ports_needed > functions:
        # each switch turns one root function into 32 downstream ports: 31 more
        switches = ceil((ports_needed - functions) / (SWITCH_PORTS - 1))
        if switches > functions:
            return None
        downstream = ports_needed - (functions - switches)
    plan = Plan(ports_needed - downstream, switches, downstream, groups, bridges, native)
    return plan if plan.buses <= res.buses else None


def plan(demand: Demand, res: Resources) -> Plan | None:
    """The topology to add, or None when the demand does not fit the board's bus numbers.

    On a conventional root every endpoint and free port is a slot, and one slot more stays
    free for the reserve libvirt's own first pass takes (docs/placement.md §9), or libvirt
    would add a bridge with nowhere to go when it defines the result. On a PCI Express root
    as many endpoints as the bus numbers allow get a port of their own."""
    if not res.pcie_root:
        slots = demand.conventional + demand.pcie + max(demand.ports, 1)
        conv = _conventional_buses(slots - res.free_conventional, res.bridge_host)
        if conv is None or conv[0] or conv[1] > res.buses:
            return None
        return Plan(0, 0, 0, 0, conv[1], 0)
    wanted = max(0, demand.pcie - res.free_native)
    ports = max(0, demand.ports - max(0, res.free_native - demand.pcie))
    # a plan with ``native`` endpoints on new ports has a bus for each and for each free port
    # at least (Plan.buses): no more of them than the bus numbers left can fit
    for native in range(min(wanted, res.buses - ports), -1, -1):
        found = _pcie_plan(native, wanted - native, ports, demand.conventional, res)
        if found is not None:
            return found
    return None


def most_ports(demand: Demand, res: Resources) -> int:
    """The most free ports that fit beside the guest's devices (for the usage message)."""
    lo, hi = 0, BUS_NUMBERS * SWITCH_PORTS
    if plan(Demand(demand.pcie, demand.conventional, 0), res) is None:
        return -1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if plan(Demand(demand.pcie, demand.conventional, mid), res) is not None:
            lo = mid
        else:
            hi = mid - 1
    return lo


# -- the bus tree -------------------------------------------------------------------------
class BusTree:
    """The buses as a tree: an edge from each bus to every bus whose controller sits on it.

    Kept as a networkx graph (placement only comes here for guests libvirt cannot place, so
    the import is paid only then): depths give the shortest bridge chains, descendants the
    capacity of a subtree, and a cycle would be a bus plugged into itself."""

    def __init__(self, guest: Guest, topo: Topology) -> None:
        import networkx as nx

        self.topo = topo
        self.graph: nx.DiGraph[int] = nx.DiGraph()
        self.graph.add_nodes_from(range(len(topo.buses)))
        for ctrl in _pci_controllers(guest):
            addr = pci_address(ctrl)
            if addr is not None and addr.bus < len(topo.buses):
                self.graph.add_edge(addr.bus, ctrl.index)
        self._depth: dict[int, int] = {}

    def add(self, parent: int, child: int) -> None:
        self.graph.add_edge(parent, child)
        self._depth.pop(child, None)

    def depth(self, bus: int) -> int:
        """Bridges between bus 0 and ``bus`` (a bus not reached from bus 0: very deep)."""
        if not self._depth:
            import networkx as nx

            self._depth = dict(nx.single_source_shortest_path_length(self.graph, 0))
        if bus not in self._depth:
            parents = list(self.graph.predecessors(bus))
            self._depth[bus] = (self.depth(parents[0]) + 1) if parents else BUS_NUMBERS
        return self._depth[bus]

    def subtree_free(self, bus: int) -> int:
        """Free slots on ``bus`` and every bus below it: the room left in that subtree."""
        import networkx as nx

        below = {bus} | nx.descendants(self.graph, bus)
        return sum(self.topo.buses[b].free for b in below)

    def check(self) -> None:
        import networkx as nx

        if not nx.is_directed_acyclic_graph(self.graph):
            raise PlacementError("internal error: the planned PCI buses form a cycle")


# -- building -----------------------------------------------------------------------------
class Builder:
    """Adds the planned buses to the topology, each with its controller at its address."""

    def __init__(self, guest: Guest, layout: Pass, tree: BusTree) -> None:
        self.guest = guest
        self.layout = layout
        self.topo = layout.topo
        self.tree = tree
        self.added: list[Device] = []

    def free_address(self, bus: Bus, flags: Connect) -> PciAddress | None:
        """The first free address for ``flags`` on one bus (functions of a shared slot when
        the device aggregates, like libvirt's root ports)."""
        if not self.topo.fits(flags, bus, explicit=False):
            return None
        for slot in range(bus.min_slot, bus.max_slot + 1):
            mask = bus.used.get(slot, 0)
            if mask == 0:
                return pci_at(bus.index, slot, 0)
            if flags & Connect.AGGREGATE and bus.shared(slot) and mask != 0xFF:
                function = next(f for f in range(FUNCTIONS) if not mask & (1 << f))
                return pci_at(bus.index, slot, function)
        return None

    def bus(self, model: str, parent: Bus, flags: Connect | None = None) -> Bus:
        """A new bus of ``model`` whose controller takes the first free address on
        ``parent``; its index is the next one, so higher than its parent's."""
        up = PCI_CONTROLLER_UPSTREAM[model]
        addr = self.free_address(parent, up)
        if addr is None:
            raise PlacementError(f"internal error: no room on PCI bus {parent.index} for a "
                                 f"{model}")
        base, lo, hi = _bus_flags(model, None)
        bus = self.topo.add_bus(model, base if flags is None else flags, lo, hi)
        ctrl = self.guest.dom.add("controller", {"type": "pci", "index": str(bus.index),
                                                 "model": model})
        ctrl.why_added = ("added beyond libvirt: its own algorithm cannot place the guest "
                          "(docs/placement.md §20)")
        self.topo.reserve(addr, up, ctrl, explicit=True)
        write_pci(ctrl, addr)
        ctrl.why_placed = WHY
        self.tree.add(parent.index, bus.index)
        self.added.append(ctrl)
        return bus

    def shallowest(self, flags: Connect) -> Bus:
        """The bus nearest bus 0 with a free slot for ``flags`` (lowest index on a tie)."""
        best: tuple[int, int] | None = None
        for bus in self.topo.buses:
            if self.free_address(bus, flags) is not None:
                key = (self.tree.depth(bus.index), bus.index)
                if best is None or key < best:
                    best = key
        if best is None:
            raise PlacementError("internal error: no bus has room for a pci-bridge")
        return self.topo.buses[best[1]]

    def build(self, plan: Plan) -> None:
        root = self.topo.buses[0]
        for _ in range(plan.root_ports):
            self.bus("pcie-root-port", root)
        left = plan.downstream
        for _ in range(plan.switches):
            port = self.bus("pcie-root-port", root)
            upstream = self.bus("pcie-switch-upstream-port", port)
            for _ in range(min(left, SWITCH_PORTS)):
                self.bus("pcie-switch-downstream-port", upstream)
            left -= min(left, SWITCH_PORTS)
        for _ in range(plan.groups):
            port = self.bus("pcie-root-port", root, RESTRICTED_ROOT_PORT)
            self.bus("pcie-to-pci-bridge", port)
        for _ in range(plan.bridges):
            self.bus("pci-bridge", self.shallowest(PCI_CONTROLLER_UPSTREAM["pci-bridge"]))
        self.tree.check()


# -- counting -------------------------------------------------------------------------------
def _bus_numbers_left(guest: Guest, topo: Topology) -> int:
    """Bus numbers the main hierarchy may still use: below the lowest expander bus's busNr
    once libvirt has numbered them all (docs/placement.md §12), less one per bus, and one
    more per conventional expander (its built-in pci-bridge has a bus of its own)."""
    extra = sum(c.model == "pci-expander-bus" for c in _pci_controllers(guest))
    return numbered_floor(expander_bus_nrs(guest)) - len(topo.buses) - extra


def resources(guest: Guest, topo: Topology) -> Resources:
    pcie_root = guest.pcie_root
    native = conventional = functions = 0
    host = False
    bridge = PCI_CONTROLLER_UPSTREAM["pci-bridge"]
    for bus in topo.buses:
        empty = sum(1 for s in range(bus.min_slot, bus.max_slot + 1) if bus.slot_free(s))
        if pcie_root and topo.fits(_PCIE_ENDPOINT, bus, explicit=False):
            native += empty
        if topo.fits(_PCI_ENDPOINT, bus, explicit=False):
            conventional += empty
        if empty and topo.fits(bridge, bus, explicit=False):
            host = True
    root = topo.buses[0]
    if pcie_root:
        for slot in range(root.min_slot, root.max_slot + 1):
            mask = root.used.get(slot, 0)
            if mask == 0:
                functions += FUNCTIONS
            elif root.shared(slot):
                functions += FUNCTIONS - bin(mask).count("1")
    return Resources(pcie_root, native, conventional, host, functions,
                     _bus_numbers_left(guest, topo))


# Plain integers for the tests made per device: IntFlag arithmetic costs a microsecond.
_PCIE, _INTEGRATED = int(Connect.PCIE), int(Connect.INTEGRATED)


def _is_pcie_endpoint(flags: Connect, pcie_root: bool) -> bool:
    return pcie_root and int(flags) & (_PCIE | _INTEGRATED) == _PCIE


def _is_other(dev: Device, flags: Connect) -> bool:
    """Devices placed first, the way libvirt places them: PCI controllers (their own kinds
    decide where they go) and integrated devices (bus 0 only)."""
    return (dev.tag == "controller" and dev.type == "pci") or bool(int(flags) & _INTEGRATED)


def demand(guest: Guest, todo: list[Device], needs: Needs, free_ports: int) -> Demand:
    pcie = conventional = 0
    sets: set[int] = set()
    groups: set[int] = set()
    pcie_root, together, flags_of = guest.pcie_root, guest.together, needs.flags
    for dev in todo:
        flags = flags_of(dev)
        if _is_other(dev, flags):
            continue
        if dev.tag == "controller" and dev.model in ICH9_USB2:
            if dev.index in sets:
                continue
            sets.add(dev.index)
        if together and dev in together:  # one slot for the functions of one host slot
            if id(together[dev]) in groups:
                continue
            groups.add(id(together[dev]))
        if _is_pcie_endpoint(flags, pcie_root):
            pcie += 1
        else:
            conventional += 1
    if guest.reserve_hotplug is not None:
        ports = guest.reserve_hotplug
    else:
        ports = 1 if guest.pcie_root and free_ports == 0 and _new(guest) else 0
    return Demand(pcie, conventional, ports)


def _new(guest: Guest) -> bool:
    """A guest with no PCI controller beyond the root: libvirt would leave it one spare root
    port for hot plug (docs/placement.md §9), and so does augment."""
    return all(c.index <= 0 or c.implicit for c in _pci_controllers(guest))


# -- the pass -------------------------------------------------------------------------------
def _todo(guest: Guest, needs: Needs) -> list[Device]:
    return list(first_fit_order(guest, needs))


def _place_all(layout: Pass, todo: list[Device], native_left: int) -> None:
    """Every device in libvirt's order: PCI Express endpoints on free ports while their share
    lasts (the first in libvirt's order first), then in bridge slots."""
    guest, needs = layout.guest, layout.needs
    done: set[int] = set()
    for dev in todo:
        flags = needs.flags(dev)
        group = guest.together.get(dev)
        if group is not None:
            if id(group) not in done:
                done.add(id(group))
                native = _is_pcie_endpoint(flags, guest.pcie_root) and native_left > 0
                native_left -= native
                layout.place_together(group, None if native else _PCI_ENDPOINT)
            continue
        if dev.tag == "controller" and dev.model in ICH9_USB2:
            layout.place_companion(dev)
        elif _is_pcie_endpoint(flags, guest.pcie_root):
            if native_left > 0:
                native_left -= 1
                layout.place(dev)
            else:  # a conventional slot: libvirt takes it for an address written there
                addr = layout.topo.find(_PCI_ENDPOINT)
                if addr is None:
                    raise PlacementError(f"{dev.name()}: internal error: no slot planned",
                                         line=dev.line or None)
                layout.reserve(dev, addr, flags, explicit=True)
                write_pci(dev, addr)
        else:
            layout.place(dev)
        dev.why_placed = WHY


def _others(layout: Pass, todo: list[Device]) -> list[Device]:
    """Place the PCI controllers and integrated devices first; the devices left to plan."""
    rest: list[Device] = []
    flags_of = layout.needs.flags
    for dev in todo:
        if _is_other(dev, flags_of(dev)):
            layout.place(dev)
        else:
            rest.append(dev)
    return rest


def _describe(built: Builder, plan: Plan, why: Exhausted, tree: BusTree) -> Iterator[str]:
    yield (f"libvirt 9.0 cannot place this guest ({why.message}); augment planned its PCI "
           f"topology instead (docs/placement.md §20)")
    parts = [f"{n} {what}" for n, what in (
        (plan.root_ports, "root ports"), (plan.switches, "PCIe switches"),
        (plan.downstream, "downstream ports"), (plan.groups, "pcie-to-pci-bridges"),
        (plan.bridges, "pci-bridges")) if n]
    depth = max((tree.depth(c.index) for c in built.added), default=0)
    used = len(built.topo.buses)
    yield (f"added {', '.join(parts) or 'no bus'}: {used} of {BUS_NUMBERS} PCI buses in use, "
           f"bridge chains at most {depth} deep")
    if plan.native or plan.groups or plan.bridges:
        left = tree.subtree_free(0)
        yield f"{left} PCI slots left free in the whole tree"


def assign(guest: Guest, why: Exhausted, needs: Needs | None = None) -> None:
    """Place a guest libvirt's algorithm gave up on, then let libvirt's passes write the rest
    (model names, chassis and port numbers, multifunction) over the now complete topology.
    ``needs``: the devices' classes and flags, as libvirt's passes worked them out."""
    if guest.family is None or guest.family.phb or guest.family.zpci or not guest.supports_pci:
        raise why
    needs = needs if needs is not None else Needs(guest)
    nbuses = max((c.index for c in _pci_controllers(guest)), default=-1) + 1
    layout = Pass(guest, build_topology(guest, nbuses), dry=True, needs=needs)
    layout.reserve_explicit()
    if len(layout.topo.buses) != nbuses:  # addresses on buses no controller stands for
        raise why
    layout.dry = False
    layout.chipset()
    todo = _others(layout, _todo(guest, needs))
    res = resources(guest, layout.topo)
    free = len(hotplug.free_ports(layout.topo, guest.pcie_root))
    want = demand(guest, todo, needs, free)
    found = plan(want, res)
    if found is None:
        raise _too_big(guest, why, want, res)
    tree = BusTree(guest, layout.topo)
    built = Builder(guest, layout, tree)
    built.build(found)
    native = min(want.pcie, res.free_native) + found.native
    _place_all(layout, todo, native)
    guest.notes.extend(_describe(built, found, why, tree))
    assign_as_libvirt(guest, needs)


def _too_big(guest: Guest, why: Exhausted, want: Demand, res: Resources) -> PlacementError:
    """Why even a planned topology cannot hold the guest, in numbers."""
    if want.ports and guest.reserve_hotplug is not None:
        fit = most_ports(want, res)
        if fit >= 0:
            return PlacementError(
                f"--reserve-hotplug {guest.reserve_hotplug}: at most {fit} free hot-pluggable "
                "ports fit in this guest",
                hint="ask for fewer; QEMU has 256 PCI bus numbers and each port takes one")
    devices = want.pcie + want.conventional
    room = (f"{res.root_functions} pcie-root functions" if res.pcie_root
            else f"{res.free_conventional} free slots")
    return PlacementError(
        f"{why.message}; nor does any other topology hold {devices} PCI devices ({room} and "
        f"{res.buses} of 256 bus numbers left)",
        line=why.line, hint="remove devices or PCI controllers")
