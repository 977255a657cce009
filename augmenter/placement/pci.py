"""libvirt's PCI placement policy on top of the generic topology engine.

Two passes, as libvirt 9.0 does it (docs/placement.md §9): a dry run that grows the topology
(bridges, root ports) until every device fits and then gives each new bus a controller; and a
real run over the final bus set that writes the addresses. Placement is always recomputed from
the definition, never patched, so running the augmenter on its own output changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from ..errors import AugmentError, PlacementError
from ..model.addresses import PciAddress, pci_address, pci_at, wants_pci, write_pci
from ..model.connect import Connect, describe
from ..model.domain import Device
from ..model.values import PciValue, target_option
from ..policy.devices import (
    BUS_ACCEPTS,
    EXPANDER_MODELS,
    ICH9_USB2,
    MAX_PCI_INDEX,
    NO_FREE_BUS_NR,
    ROOT_MODELS,
    PciClass,
    class_flags,
    default_model_name,
    new_bus_nr,
    pci_class,
    usb_model,
)
from ..policy.machines import PinnedController
from ..policy.messages import NO_PCI_SLOTS, ROOT_WITH_ADDRESS, cannot_add_bus
from ..xml.document import Element, insert_before, new_element, set_child, sub_element
from . import hotplug
from .guest import Guest, Together
from .topology import BoardFunction, Conflict, Occupant, Phantom, Topology

RESTRICTED_ROOT_PORT = Connect.P2P | Connect.AUTO | Connect.HOTPLUG
# Plain integers where flags are tested per device: IntFlag arithmetic costs a microsecond.
_PCI, _PCIE_OR_USP = int(Connect.PCI), int(Connect.PCIE | Connect.USP)


_NO_BUS = (Connect.NONE, 0, -1)  # a model that offers no bus: no kinds, no slots


class Exhausted(PlacementError):
    """libvirt's algorithm found no room for a device and cannot add a bus that would give it
    one: where libvirt 9.0 gives up, and augment's own placement may take over
    (docs/placement.md §20)."""

    @classmethod
    def of(cls, err: AugmentError) -> Exhausted:
        return cls(err.message, line=err.line, hint=err.hint)


def _bus_flags(model: str, controller: Device | None) -> tuple[Connect, int, int]:
    flags, lo, hi = BUS_ACCEPTS.get(model, _NO_BUS)
    if controller is not None:
        target = controller.child("target")
        if target is not None and target.get("hotplug") == "off":
            flags &= ~Connect.HOTPLUG
    return flags, lo, hi


def _default_bus_model(guest: Guest, index: int) -> str:
    if index == 0 or (guest.family is not None and guest.family.phb):
        return guest.root_model or "pci-root"
    return "pcie-root-port" if guest.pcie_root else "pci-bridge"


def _pci_controllers(guest: Guest) -> list[Device]:
    return [c for c in guest.dom.controllers if c.type == "pci"]


def expander_bus_nrs(guest: Guest) -> list[int | None]:
    """Each expander bus's busNr as written (virXMLPropInt, base 0), None for one without
    (libvirt numbers it: :func:`~augmenter.policy.devices.new_bus_nr`)."""
    out: list[int | None] = []
    for c in _pci_controllers(guest):
        if c.model in EXPANDER_MODELS:
            out.append(target_option(c.child("target"), "busNr"))
    return out


def bus_count(guest: Guest) -> int:
    """The buses the definition names: one per PCI controller index up to the highest
    (qemuDomainAssignPCIAddresses sizes its first address set so). An index beyond
    :data:`MAX_PCI_INDEX` names no bus: libvirt refuses it, and the checks say so."""
    return max((c.index for c in _pci_controllers(guest) if c.index <= MAX_PCI_INDEX),
               default=-1) + 1


def build_topology(guest: Guest, nbuses: int) -> Topology:
    """``nbuses`` buses, each of its controller's model, or of the machine's default model
    where no controller has its index (qemuDomainPCIAddressSetCreate)."""
    topo = Topology()
    by_index = {c.index: c for c in _pci_controllers(guest)}
    for i in range(nbuses):
        ctrl = by_index.get(i)
        model = (ctrl.model if ctrl is not None else None) or _default_bus_model(guest, i)
        flags, lo, hi = _bus_flags(model, ctrl)
        topo.add_bus(model, flags, lo, hi)
    return topo


_NOT_PCI: tuple[PciClass | None, Connect] = (None, Connect.NONE)
"""What :class:`Needs` knows of a device that is not a PCI device (rules.connect_flags)."""


class Needs:
    """Each device's PCI class and connection flags, worked out once per guest.

    Cached: the passes of :func:`assign`, :func:`first_fit_order` and
    :func:`augmenter.placement.dense.assign` ask about every device, some tens of times. The
    answers cannot change meanwhile: models and types are filled in before placement starts,
    and placement itself writes only addresses, new controllers and controller options."""

    def __init__(self, guest: Guest) -> None:
        self.pcie_root = guest.pcie_root
        self.virtio_pcie = guest.virtio_pcie
        # device -> (class, flags); the few distinct pairs shared, not one per device
        self._known: dict[Device, tuple[PciClass | None, Connect]] = {}
        self._pairs: dict[tuple[PciClass | None, Connect], tuple[PciClass | None, Connect]] = {}

    def _of(self, dev: Device) -> tuple[PciClass | None, Connect]:
        found = self._known.get(dev)
        if found is None:
            cls = pci_class(dev)
            if cls is None:  # most devices of a large guest: no flags to work out
                found = self._known[dev] = _NOT_PCI
                return found
            pair = (cls, class_flags(dev, cls, self.pcie_root, self.virtio_pcie))
            found = self._known[dev] = self._pairs.setdefault(pair, pair)
        return found

    def pci_class(self, dev: Device) -> PciClass | None:
        """:func:`rules.pci_class`."""
        return self._of(dev)[0]

    def flags(self, dev: Device) -> Connect:
        """:func:`rules.device_flags` on this guest's board."""
        return self._of(dev)[1]

    def wanting(self, devs: Sequence[Device]) -> Iterator[Device]:
        """The devices of ``devs`` that have a PCI class and want an address (:func:`wants_pci`),
        in their order; lazily, since libvirt's passes may stop at a device that finds no
        room."""
        known = self._known
        for dev in devs:
            if (known.get(dev) or self._of(dev))[0] is not None and wants_pci(dev):
                yield dev


class Pass:
    """One placement pass over a topology; ``dry`` grows buses and writes nothing."""

    def __init__(self, guest: Guest, topo: Topology, dry: bool, needs: Needs) -> None:
        self.guest = guest
        self.topo = topo
        self.dry = dry
        self.needs = needs
        self.phantoms = 0
        self._sets: dict[int, list[Device]] | None = None

    # -- growth --------------------------------------------------------------------------
    def _add(self, model: str, flags: Connect | None = None) -> None:
        base, lo, hi = _bus_flags(model, None)
        self.topo.add_bus(model, base if flags is None else flags, lo, hi)

    def grow(self, dev: Connect, who: Device | None) -> None:
        """Add the bus(es) libvirt adds when nothing fits ``dev`` (docs/placement.md §8)."""
        if int(dev) & _PCI:
            if self.guest.family is not None and self.guest.family.phb:
                self._add("pci-root")
            elif not self.topo.offers(Connect.BR):
                if self.guest.has("pcie-pci-bridge"):
                    self._add("pcie-root-port", RESTRICTED_ROOT_PORT)
                    self._add("pcie-to-pci-bridge")
                else:
                    self._add("dmi-to-pci-bridge")
                    self._add("pci-bridge")
            else:
                self._add("pci-bridge")
        elif int(dev) & _PCIE_OR_USP:
            self._add("pcie-root-port")
        else:
            model = who.model if who is not None and who.type == "pci" else None
            raise Exhausted.of(self.guest.fail(who, cannot_add_bus(model)))

    # -- reservations --------------------------------------------------------------------
    def take(self, dev: Device | None, addr: PciAddress, flags: Connect, explicit: bool,
             owner: Occupant | None = None) -> None:
        """Take one function for ``dev`` (or ``owner``), adding the buses the address needs in
        the dry run (virDomainPCIAddressReserveAddrInternal). Raises
        :class:`~augmenter.placement.topology.Conflict` when the address cannot be taken, and
        :class:`AugmentError` when no bus can be added for it."""
        if self.dry:
            while addr.bus >= len(self.topo.buses):
                self.grow(flags, dev)
        taker = owner if owner is not None else dev
        assert taker is not None, "a reservation names its device or its occupant"
        self.topo.reserve(addr, flags, taker, explicit)

    def reserve(self, dev: Device | None, addr: PciAddress, flags: Connect, explicit: bool,
                owner: Occupant | None = None) -> None:
        """:meth:`take`, a conflict raised as the device's error."""
        try:
            self.take(dev, addr, flags, explicit, owner)
        except Conflict as exc:
            raise self.guest.fail(dev, f"{dev.name() if dev else 'device'}: {exc}") from None

    def place(self, dev: Device, flags: Connect | None = None, function: int | None = None,
              multi: str | None = None) -> PciAddress:
        """First-fit ``dev``; grow in the dry run; write the address in the real one."""
        flags = self.needs.flags(dev) if flags is None else flags
        addr = self.topo.find(flags, function)
        if addr is None:
            if not self.dry:
                raise PlacementError(f"{dev.name()}: {NO_PCI_SLOTS}", line=dev.line or None)
            self.grow(flags, dev)
            addr = self.topo.find(flags, function)
            if addr is None:
                raise Exhausted(f"{dev.name()}: cannot place device after adding a bus",
                                line=dev.line or None)
        self.topo.occupy(addr, int(flags), dev)  # what find gives, reserve would take
        if not self.dry:
            write_pci(dev, addr, multi)
            dev.why_placed = f"first free slot of a bus that takes a {describe(flags)}"
        return addr

    def pin(self, dev: Device, addr: PciAddress, reserve: bool = True,
            multi: str | None = None, why: str = "") -> None:
        """A chipset placement: written even in the dry run, pass 2 sees it as explicit."""
        dev.why_placed = why or f"libvirt's fixed address for it on {self.guest.machine}"
        if reserve:
            self.reserve(dev, addr, self.needs.flags(dev) or Connect.PCI, explicit=True)
        write_pci(dev, addr, multi)

    # -- steps ---------------------------------------------------------------------------
    def reserve_explicit(self) -> None:
        family = self.guest.family
        for dev in self.guest.dom.iterate_once():
            addr = pci_address(dev)
            if addr is None:
                continue
            if family and any(
                p.reserve_early and p.type == dev.type and p.index == dev.index
                and dev.tag == "controller" and (p.slot, p.function) == (addr.slot, addr.function)
                and addr.bus == 0 for p in family.pinned
            ):
                continue
            flags = self.needs.flags(dev)
            if flags == Connect.NONE:
                if dev.tag == "controller" and dev.type == "pci" and dev.model in ROOT_MODELS:
                    raise self.guest.fail(dev, ROOT_WITH_ADDRESS)
                flags = Connect.PCI
            self.reserve(dev, addr, flags, explicit=True)
            if not dev.why_placed:
                dev.why_placed = "written by the user"

    def chipset(self) -> None:
        guest, family, dom = self.guest, self.guest.family, self.guest.dom
        if family is None or guest.board is None:
            return
        for pin, ctrl in pinned_controllers(guest):
            want = pci_at(0, pin.slot, pin.function)
            have = pci_address(ctrl)
            if have is not None and have != want:
                raise guest.fail(ctrl, pin.message)
            # an address of another kind is written over, as libvirt does (checks warn)
            self.pin(ctrl, want, reserve=pin.reserve_early)
        kinds = {p.kind: p.slots for p in family.preferred}
        if "ich9-uhci1" in kinds:
            for ctrl in dom.controllers:
                if ctrl.type == "usb" and ctrl.model == "ich9-uhci1" and wants_pci(ctrl):
                    slot = self._empty_root_slot(kinds["ich9-uhci1"])
                    if slot is not None:
                        self.pin(ctrl, pci_at(0, slot, 0), multi="on")
        if "dmi-to-pci-bridge" in kinds:
            for ctrl in dom.controllers:
                if ctrl.type == "pci" and ctrl.model == "dmi-to-pci-bridge" and wants_pci(ctrl):
                    slot = self._empty_root_slot(kinds["dmi-to-pci-bridge"])
                    if slot is not None:
                        self.pin(ctrl, pci_at(0, slot, 0))
        for builtin in board_functions(guest):
            self.reserve(None, pci_at(0, builtin.slot, builtin.function), Connect.PCI,
                         explicit=True, owner=builtin)
        if "primary-video" in kinds:
            videos = dom.of("video")
            if videos and self.needs.pci_class(videos[0]) is not None and wants_pci(videos[0]):
                video = videos[0]
                slot = self._empty_root_slot(kinds["primary-video"])
                if slot is not None:
                    self.pin(video, pci_at(0, slot, 0))
                else:
                    # libvirt's next-free search here writes the address only in the real
                    # pass: the dry run reserves a slot now and the video takes another in
                    # the device loop, as libvirt's does.
                    self.place(video)
        if "ich9-sound" in kinds:
            slot = self._empty_root_slot(kinds["ich9-sound"])
            sound = next((s for s in dom.of("sound")
                          if s.model == "ich9" and wants_pci(s)), None)
            if slot is not None and sound is not None:
                self.pin(sound, pci_at(0, slot, 0))

    def _empty_root_slot(self, slots: tuple[int, ...]) -> int | None:
        root = self.topo.buses[0] if self.topo.buses else None
        if root is None:
            return None
        return next((s for s in slots if root.slot_free(s)), None)

    def phantom(self, flags: Connect) -> None:
        """Hold back one slot (libvirt's reserve for a future bridge or hot-plug port)."""
        addr = self.topo.find(flags)
        if addr is None:
            self.grow(flags, None)
            addr = self.topo.find(flags)
        if addr is not None:
            self.phantoms += 1
            self.topo.reserve(addr, flags, Phantom(self.phantoms), explicit=False)

    def first_fit_all(self) -> None:
        together = self.guest.together
        done: set[int] = set()
        for dev in first_fit_order(self.guest, self.needs):
            if dev.tag == "controller" and dev.model in ICH9_USB2:
                self.place_companion(dev)
            elif together and dev in together:
                if id(together[dev]) not in done:  # where the first of them comes
                    done.add(id(together[dev]))
                    self.place_together(together[dev])
            else:
                self.place(dev)

    def place_together(self, group: Together, flags: Connect | None = None) -> None:
        """Function 0 first-fit, the others on their functions of its slot (§22)."""
        addr = self.place(group.members[0][0], flags)
        for dev, function in group.members[1:]:
            at = pci_at(addr.bus, addr.slot, function)
            self.reserve(dev, at, self.needs.flags(dev), explicit=True)
            if not self.dry:
                write_pci(dev, at)
                dev.why_placed = (f"function {function} of its host slot, in the slot of "
                                  "function 0 (docs/placement.md §22)")

    def _ich9_sets(self) -> dict[int, list[Device]]:
        """The ICH9 USB2 controllers by index, in the definition's order (made once: a walk
        over every controller per companion was quadratic)."""
        if self._sets is None:
            self._sets = {}
            for ctrl in self.guest.dom.controllers:
                if ctrl.type == "usb" and ctrl.model in ICH9_USB2:
                    self._sets.setdefault(ctrl.index, []).append(ctrl)
        return self._sets

    def place_companion(self, dev: Device) -> None:
        """ICH9 USB2 sets share one slot, each model on its own function (docs/placement.md §11)."""
        function = usb_model(dev).ich9_function
        assert function is not None, "only a controller of an ICH9 USB2 set"
        multi = "on" if function == 0 else None
        for other in self._ich9_sets().get(dev.index, ()):
            if other is not dev:
                # only written addresses count: in libvirt's dry run each companion takes a
                # slot of its own, which can make it add bridges the real pass leaves empty
                addr = pci_address(other)
                if addr is not None:
                    target = pci_at(addr.bus, addr.slot, function)
                    self.reserve(dev, target, self.needs.flags(dev), explicit=True)
                    if not self.dry:
                        write_pci(dev, target, multi)
                    return
        self.place(dev, function=function, multi=multi)


def pinned_controllers(guest: Guest) -> Iterator[tuple[PinnedController, Device]]:
    """The controllers of the definition that libvirt always puts at one address of the root
    bus (pc's IDE and PIIX3 USB, q35's SATA; qemuDomainValidateDevicePCISlotsPIIX3 and
    ...Q35), with their rule."""
    if guest.family is None:
        return
    for pin in guest.family.pinned:
        ctrl = guest.dom.controller(pin.type, pin.index)
        if ctrl is not None and (pin.models is None or ctrl.model in pin.models):
            yield pin, ctrl


def board_functions(guest: Guest) -> list[BoardFunction]:
    """The board's functions of the root bus that nothing else may take."""
    if guest.family is None or guest.board is None:
        return []
    return [BoardFunction(b.slot, b.function, b.type)
            for b in guest.family.reserved_functions(guest.board)]


def first_fit_order(guest: Guest, needs: Needs | None = None) -> Iterator[Device]:
    """Devices that want a PCI address, in libvirt's order (docs/placement.md §7)."""
    dom = guest.dom
    classes = needs if needs is not None else Needs(guest)
    wanting = classes.wanting

    yield from wanting([c for c in dom.controllers
                        if c.type == "pci" and c.model not in ROOT_MODELS])
    yield from wanting(dom.each("filesystem"))
    yield from wanting([n for n in dom.each("interface") if n.type != "hostdev"])
    yield from wanting(dom.each("sound"))
    # IDE controller 0 is a board's own wherever libvirt allows it (qemuDomainHasBuiltinIDE)
    others = [c for c in dom.controllers if c.type != "pci"
              and not (c.type == "ide" and c.index == 0)]
    yield from wanting(others)
    for disk in dom.each("disk"):
        if classes.pci_class(disk) is None:
            continue
        a = disk.address
        if a is not None and a.get("type") not in ("pci", "ccw", "virtio-mmio"):
            raise guest.fail(disk, f"virtio disk cannot have an address of type "
                                   f"'{a.get('type')}'")
    yield from wanting(dom.each("disk"))
    yield from wanting([n for n in dom.each("interface") if n.type == "hostdev"])
    yield from wanting(dom.each("hostdev"))
    for tag in ("memballoon", "rng", "watchdog", "video", "shmem", "input", "serial",
                "iommu", "vsock", "memory"):
        yield from wanting(dom.each(tag))


def _append_pci_controller(guest: Guest, index: int, model: str) -> Device:
    return guest.dom.add("controller", {"type": "pci", "index": str(index), "model": model})


def assign(guest: Guest, needs: Needs | None = None) -> None:
    """Both passes: grow the topology, then write every PCI address.

    Raises :class:`Exhausted` when libvirt's algorithm gives up, with the guest as it was
    before (the controllers the dry run added are taken out again). ``needs``: the devices'
    classes and flags, when the caller keeps them for a placement of its own after this one
    (:func:`augmenter.placement.dense.assign`)."""
    ctrls = _pci_controllers(guest)
    max_idx = max((c.index for c in ctrls), default=-1)
    nbuses = max_idx + 1
    needs = needs if needs is not None else Needs(guest)
    if nbuses > 0:
        added: list[Device] = []
        try:
            nbuses = _dry_run(guest, nbuses, max_idx, needs, added)
        except Exhausted:
            for ctrl in added:
                guest.dom.remove(ctrl)
            raise
    if not guest.supports_pci:
        return  # qemuDomainSupportsPCI: libvirt gives no device a PCI address here
    if nbuses == 0:
        # virDomainPCIAddressGetNextAddr, virDomainPCIAddressValidate: nowhere to put it
        written = (d for d in guest.dom.iterate_once() if pci_address(d) is not None)
        for dev in (*written, *first_fit_order(guest, needs)):
            raise guest.fail(dev, f"{dev.name()}: No PCI buses available")
        return
    real = Pass(guest, build_topology(guest, nbuses), dry=False, needs=needs)
    real.reserve_explicit()
    real.chipset()
    real.first_fit_all()
    guest.topology = real.topo
    mark_multifunction(guest)
    fill_controller_options(guest, real.topo)


def _dry_run(guest: Guest, nbuses: int, max_idx: int, needs: Needs,
             added: list[Device]) -> int:
    """libvirt's first pass (docs/placement.md §9): grow the topology until every device
    fits, give each new bus a controller (listed in ``added``); the final number of buses."""
    dry = Pass(guest, build_topology(guest, nbuses), dry=True, needs=needs)
    dry.reserve_explicit()
    dry.chipset()
    root = dry.topo.buses[0]
    if root.model == "pci-root" and any(
        any(b.used.get(s, 0) != 0xFF for s in range(b.min_slot, b.max_slot + 1))
        for b in dry.topo.buses
    ):
        addr = dry.topo.find(Connect.PCI | Connect.AUTO)
        if addr is not None:
            dry.topo.reserve(addr, Connect.PCI | Connect.AUTO, Phantom(0), False)
    dry.first_fit_all()
    grew = len(dry.topo.buses) > nbuses
    if (max_idx <= 0 and grew and root.model == "pcie-root"
            and guest.reserve_hotplug is None):
        dry.phantom(Connect.PCIE | Connect.AUTO)
    # --reserve-hotplug N (docs/placement.md §21): N ports held, free ones first, so that
    # exactly N are left (more only when the definition already has more)
    for _ in range(guest.reserve_hotplug or 0):
        dry.phantom(hotplug.port_kind(root.model == "pcie-root"))
    i = 1
    existing = {c.index for c in _pci_controllers(guest)}
    while i < len(dry.topo.buses):
        if i not in existing:
            ctrl = _append_pci_controller(guest, i, dry.topo.buses[i].model)
            ctrl.why_added = "added to make room: no free slot fitted a device"
            added.append(ctrl)
            existing.add(i)
            if ctrl.model not in ROOT_MODELS:
                dry.place(ctrl)
        i += 1
    return len(dry.topo.buses)


def mark_multifunction(guest: Guest) -> None:
    """``multifunction='on'`` on function 0 of any slot where a device uses another function."""
    at: dict[tuple[int, int], Device] = {}
    shared: set[tuple[int, int]] = set()
    for dev in guest.dom.devices:
        addr = pci_address(dev)
        if addr is None:
            continue
        if addr.function == 0:
            at[(addr.bus, addr.slot)] = dev
        else:
            shared.add((addr.bus, addr.slot))
    for key in shared:
        head = at.get(key)
        if head is not None and head.address is not None and (
                head.address.get("multifunction") is None):
            head.address.set("multifunction", "on")


def fill_controller_options(guest: Guest, topo: Topology) -> None:
    """Model names, chassis and port numbers libvirt fills in at the end (docs/placement.md §12)."""
    # each controller's <target>, looked up once (most have none, and a miss is not cached)
    controllers = [(c, c.child("target")) for c in _pci_controllers(guest)]
    written = [t for _, t in controllers if t is not None]
    bus_nrs = expander_bus_nrs(guest)
    phb = guest.family is not None and guest.family.phb
    targets = {target_option(t, "index") for t in written if t.get("index") is not None}
    for ctrl, t in controllers:
        model = ctrl.model or ""
        addr = pci_address(ctrl)
        name = default_model_name(model, phb, guest.has("pcie-root-port"))
        if name and ctrl.child("model") is None:
            _insert_option(ctrl, new_element("model", {"name": name}))
        target = dict(t.attrib) if t is not None else {}
        new = dict(target)
        if model == "pci-bridge":
            new.setdefault("chassisNr", str(ctrl.index))
            if addr is not None and ctrl.index <= addr.bus:
                raise guest.fail(ctrl, "The index of a PCI controller must be larger than "
                                       "the index of the bus it is plugged into")
        elif model == "pcie-root-port" and addr is not None:
            new.setdefault("chassis", str(ctrl.index))
            new.setdefault("port", f"0x{addr.slot * 8 + addr.function:x}")
        elif model == "pcie-switch-downstream-port" and addr is not None:
            new.setdefault("chassis", str(ctrl.index))
            new.setdefault("port", f"0x{addr.slot:x}")
        elif phb and model == "pci-root" and "index" not in new:
            index = 0 if ctrl.index == 0 else next(
                i for i in range(1, 32) if i not in targets)
            targets.add(index)
            new["index"] = str(index)
        elif model in EXPANDER_MODELS and "busNr" not in new:
            bus_nr = new_bus_nr(bus_nrs)
            if bus_nr is None:
                raise guest.fail(ctrl, NO_FREE_BUS_NR.format(bus=addr.bus if addr else 0))
            new["busNr"] = str(bus_nr)
            bus_nrs.append(bus_nr)
        if new != target:
            if t is None:
                _insert_option(ctrl, new_element("target", new))
            else:
                for k, v in new.items():
                    t.set(k, v)


def _insert_option(ctrl: Device, el: Element) -> None:
    """Put ``<model>``/``<target>`` where libvirt writes them: before ``<address>``."""
    addr = ctrl.address
    if addr is not None:
        insert_before(ctrl.el, addr, el)
    else:
        set_child(ctrl.el, str(el.tag), dict(el.attrib))


def assign_zpci(guest: Guest) -> None:
    """s390 zPCI ids for every device with a PCI address (docs/placement.md §13).

    In libvirt's two steps: while the address set is built, each device written with a uid or
    a fid gets the other one and reserves both (qemuDomainCollectPCIAddressExtension); then
    every other device does, in device order (qemuDomainAssignPCIAddressExtension). Either
    way a missing uid is the lowest free from 1 and a missing fid the lowest free from 0
    (virDomainZPCIAddressEnsureAddr). PCI controllers written in the definition take part
    (the roots have no address); one added to make room gets none: qemuDomainAssignPCIAddresses
    adds it after qemuDomainFillAllPCIExtensionFlags, so it never wants the extension.
    """
    if guest.family is None or not guest.family.zpci or not guest.has("zpci"):
        return
    devices = [d for d in guest.dom.iterate_once()
               if d.tag not in ("serial", "parallel", "channel", "console")
               and not (d.tag == "controller" and d.type == "pci" and d.implicit)
               and d.address is not None and pci_address(d) is not None]
    for dev in devices:
        pci = dev.addr
        assert isinstance(pci, PciValue)
        if pci.uid is not None and not 0 < pci.uid <= 0xFFFF:
            raise guest.fail(dev, f"Invalid PCI address uid='{pci.uid:#06x}', must be > "
                                  "0x0000 and <= 0xffff")
    uids: set[int] = set()
    fids: set[int] = set()

    def ensure(dev: Device) -> None:
        pci = dev.addr
        assert isinstance(pci, PciValue) and dev.address is not None
        z = dev.address.find("zpci")
        if z is None:
            z = sub_element(dev.address, "zpci")
        for written, attr, seen, lowest, width in ((pci.uid, "uid", uids, 1, 4),
                                                   (pci.fid, "fid", fids, 0, 8)):
            value = written
            if value is None:
                value = next(v for v in range(lowest, 1 << 32) if v not in seen)
                z.set(attr, f"0x{value:0{width}x}")
            elif value in seen:
                raise guest.fail(dev, f"zPCI {attr} {value} is already reserved")
            seen.add(value)
        dev.set_address(dev.address)  # its value now has the ids

    def written(dev: Device) -> bool:
        pci = dev.addr
        return isinstance(pci, PciValue) and (pci.uid is not None or pci.fid is not None)

    first = [d for d in devices if written(d)]
    for dev in first:
        ensure(dev)
    done = {id(d) for d in first}
    for dev in devices:
        if id(dev) not in done:
            ensure(dev)
