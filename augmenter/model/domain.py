"""Domain records: the devices of a definition, in the orders libvirt walks them.

A :class:`Device` wraps one device element and remembers its source line. :class:`Domain` keeps
the lists libvirt keeps (controllers sorted by type and index, disks grouped by bus and sorted by
target, the primary video first) because placement order decides addresses.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..errors import AugmentError
from ..xml.document import (
    Element,
    Sketch,
    append_child,
    build,
    child_elements,
    first_child,
    first_element,
    insert_before,
    last_child_of,
    new_element,
    next_element,
)
from .numbers import InvalidValue, read
from .values import CONTROLLER_INDEX, AddressValue, read_address

# libvirt's element order inside <devices>; new elements go after the last of their rank.
DEVICE_ORDER = (
    "emulator", "disk", "controller", "lease", "filesystem", "interface", "smartcard",
    "serial", "parallel", "console", "channel", "input", "tpm", "graphics", "sound", "audio",
    "video", "hostdev", "redirdev", "redirfilter", "hub", "watchdog", "memballoon", "rng",
    "nvram", "panic", "shmem", "memory", "iommu", "vsock", "crypto",
)
RANK = {tag: i for i, tag in enumerate(DEVICE_ORDER)}
# the kinds of each rank and every earlier one: where a new device of that rank goes after
UP_TO_RANK = tuple(frozenset(DEVICE_ORDER[:rank + 1]) for rank in range(len(DEVICE_ORDER)))

# The order libvirt iterates devices in (virDomainDeviceInfoIterate).
ITERATION_ORDER = (
    "disk", "interface", "sound", "hostdev", "video", "controller", "smartcard", "serial",
    "parallel", "channel", "console", "input", "filesystem", "watchdog", "memballoon", "rng",
    "nvram", "hub", "shmem", "tpm", "panic", "memory", "redirdev", "iommu", "vsock",
)

NOT_DEVICES = {"emulator", "audio", "graphics", "lease", "redirfilter", "crypto"}

_TAGS = {tag: tag for tag in (*DEVICE_ORDER, *ITERATION_ORDER)}
"""One string per device tag, shared by the records (lxml makes a new one per read)."""


@dataclass(eq=False, slots=True)
class Device:
    """One device element and what libvirt's passes learn about it.

    Three fields are read from the element once and kept, because placement asks for them
    tens of times per device; each has one rule that keeps it true, and
    ``tests/test_domain.py::test_the_kept_fields_agree_with_the_tree`` holds every run to
    them:

    * ``type``: the ``type`` attribute. Nothing changes a device's type.
    * ``address``: the first ``<address>`` child. Everything that adds or replaces one calls
      :meth:`set_address` (``model.addresses.write_pci``, ``write_address``, and the console
      mirror); completing an address only sets attributes on it.
    * :attr:`model`: the ``model`` attribute (not of an interface or a video, whose model is
      a child). Everything that writes it calls :meth:`set_model`.
    * :meth:`child`: a first child found by tag. Only found ones are kept; nothing removes or
      replaces a ``<target>``, ``<model>`` or ``<master>`` once it exists.

    Children augmenter adds to an element that has none may be kept as data until the
    document is written (:meth:`add_sketch`, :attr:`sketches`): half a million ports each with
    a new ``<target>`` would cost the guest a gigabyte as elements. While there are any, the
    element stays empty (no text, no children): :meth:`child` makes them when asked for one,
    and whatever else writes a child into the element makes them first (:meth:`settle`);
    :meth:`target` reads a sketched ``<target>`` as it is.

    Two values are read from those once, by the strict reader, and dropped when their source
    changes: :attr:`addr` (the address's typed value; :meth:`set_address` drops it) and
    :attr:`index` (a controller's; :meth:`set_index` writes it). A value libvirt refuses reads
    as none (an index as -1, which names no controller) and is kept in :attr:`refused` for the
    checks to report (``checks.rules.check_numbers``); such a document is never placed.
    """

    el: Element
    tag: str
    line: int
    implicit: bool = False
    why_added: str = ""  # for implicit devices: the rule that added it
    why_placed: str = ""  # the rule that chose its address
    # Read once, when the record is made: placement asks for them tens of times per device,
    # and a property costs more than the lookup it caches. Nothing changes a device's type;
    # every write of a new <address> goes through :meth:`set_address`.
    type: str | None = field(init=False, default=None)
    address: Element | None = field(init=False, default=None, repr=False)
    # Children found by :meth:`child`: (tag, element) pairs, a few at most. Not a dict: an
    # empty one per device costs 64 bytes and one with a key 184, times half a million.
    _children: list[tuple[str, Element]] | None = field(default=None, repr=False)
    _addr: AddressValue | None = field(init=False, default=None, repr=False)
    _addr_read: bool = field(init=False, default=False, repr=False)
    refused: InvalidValue | None = field(init=False, default=None, repr=False)  # the address
    _index: int | None = field(init=False, default=None, repr=False)
    _model: str | None = field(init=False, default=None, repr=False)
    _model_read: bool = field(init=False, default=False, repr=False)
    _sketches: tuple[Sketch, ...] = field(init=False, default=(), repr=False)

    def __post_init__(self) -> None:
        self.tag = _TAGS.get(self.tag, self.tag)  # lxml makes a new string per read
        self.type = self.el.get("type")
        self.address = first_child(self.el, "address") if len(self.el) else None

    def addr_value(self) -> AddressValue | None:
        """:attr:`addr` (for the hottest callers: a method call costs less than a
        property's)."""
        return self._addr if self._addr_read else self.addr

    @property
    def addr(self) -> AddressValue | None:
        """The ``<address>``'s value, read strictly once; None without one, or when libvirt
        refuses it (why: :attr:`refused`)."""
        if not self._addr_read:
            self._addr, self.refused = None, None
            if self.address is not None:
                try:
                    self._addr = read_address(self.address)
                except InvalidValue as err:
                    self.refused = err
            self._addr_read = True
        return self._addr

    @property
    def model(self) -> str | None:
        """``model`` attribute, or ``<model type=...>`` for interfaces and videos."""
        if self._model_read:
            return self._model
        if self.tag == "interface" or self.tag == "video":
            m = self.child("model")
            value = m.get("type") if m is not None else None
            if value is not None:  # kept once written: defaults may still add one
                self._model, self._model_read = value, True
            return value
        self._model = self.el.get("model")
        self._model_read = True
        return self._model

    def set_model(self, model: str) -> None:
        """Write the ``model`` attribute (of a device whose model is one: not an interface's
        or a video's)."""
        assert self.tag != "interface" and self.tag != "video", self.tag
        self.el.set("model", model)
        self._model, self._model_read = model, True

    @property
    def index(self) -> int:
        """A controller's index (virXMLPropInt, base 10, not negative). 0 while it has none:
        every controller gets one before placement reads it (fill_controller_indexes); -1 for
        one libvirt refuses."""
        if self._index is None:
            text = self.el.get("index")
            if text is None:
                return 0
            self._index = index_value(text)
        return self._index

    def set_index(self, index: int) -> None:
        """Write a controller's index (libvirt's lowest free one)."""
        self.el.set("index", str(index))
        self._index = index

    def child(self, tag: str) -> Element | None:
        """The first ``<tag>`` child (``target``, ``model``), looked up once it exists.

        Cached: placement asks for a disk's ``<target>`` tens of times. Only a found element is
        remembered, because defaults and placement may add one later (a NIC's ``<model>``, a
        PCI controller's ``<target>``); none of them removes or replaces one."""
        kept = self._children
        if kept is not None:
            for name, el in kept:
                if name == tag:
                    return el
        for sketch in self._sketches:
            if sketch.tag == tag:
                self.settle()
                break
        else:
            if not len(self.el):  # most ports and consoles: no walk, not even of nothing
                return None
        found = first_child(self.el, tag)
        if found is not None:
            if kept is None:
                self._children = [(tag, found)]
            else:
                kept.append((tag, found))
        return found

    def child_text(self, tag: str) -> str | None:
        """``el.findtext(tag)`` for a plain tag name: the first such child's text ("" when it
        has none), None without one. A path costs a compile per call, per device."""
        found = self.child(tag)
        return None if found is None else (found.text or "")

    def target(self, attr: str) -> str | None:
        """An attribute of the ``<target>`` child (sketched or made), None without one."""
        for sketch in self._sketches:
            if sketch.tag == "target":
                return sketch.get(attr)
        t = self.child("target")
        value: str | None = t.get(attr) if t is not None else None
        return value

    @property
    def sketches(self) -> tuple[Sketch, ...]:
        """The children augmenter added and has not made yet (the writer spells them)."""
        return self._sketches

    def add_sketch(self, sketch: Sketch) -> None:
        """Give the element a new last child: kept as data while the element is empty (no
        children, no text), else made at once, appended as ``xml.document.sub_element``
        appends."""
        if self._sketches or (len(self.el) == 0 and self.el.text is None):
            self._sketches += (sketch,)
        else:
            build(self.el, (sketch,))

    def settle(self) -> None:
        """Make the sketched children elements (before anything else writes a child into the
        element, or reads one as an element)."""
        sketches, self._sketches = self._sketches, ()
        if sketches:
            build(self.el, sketches)

    def set_address(self, element: Element | None, value: AddressValue | None = None) -> None:
        """Record the ``<address>`` child after it was added, replaced or rewritten; and its
        value, when the writer knows it (else it is read again when asked for)."""
        self.address = element
        self._addr, self.refused = value, None
        self._addr_read = value is not None

    @property
    def address_type(self) -> str | None:
        a = self.address
        return a.get("type") if a is not None else None

    def name(self) -> str:
        """How a person names this device in a message (``disk vdb``, ``controller usb 0``)."""
        if self.tag == "disk":
            return f"disk {self.target('dev') or '?'}"
        if self.tag == "controller":
            index = self.index
            return f"controller {self.type} {self.el.get('index') if index < 0 else index}"
        if self.tag == "interface":
            mac = self.el.find("mac")
            ident = mac.get("address") if mac is not None else self.model
            return f"interface {ident or self.type}"
        label = self.type or self.model
        return f"{self.tag} {label}" if label else self.tag


@dataclass(eq=False)
class Domain:
    """A parsed definition: arch, machine and the device lists.

    Three lookups are kept between calls, because placement and the checks walk the devices
    several times per guest. Only :meth:`add` and :meth:`move_first` change ``<devices>``, and
    each keeps them true or drops them (the test named in :class:`Device` checks them too):

    * ``_by_tag``: the devices by element name, in document order (:meth:`add` inserts);
    * ``_iteration``: :meth:`iterate`'s answer (both drop it);
    * ``_last_placed``: the element :meth:`add` put last by rank, where the next one of the
      same rank goes (:meth:`move_first` and an insertion at the head drop it).
    """

    root: Element
    devices_el: Element
    arch: str
    machine: str | None
    os_type: Element | None
    devices: list[Device] = field(default_factory=list)
    controllers: list[Device] = field(default_factory=list)
    disks: list[Device] = field(default_factory=list)

    _by_tag: dict[str, list[Device]] | None = field(default=None, repr=False)
    # :meth:`iterate`'s answer, until add() or move_first() changes the devices
    _iteration: list[Device] | None = field(default=None, repr=False)
    # (rank, element) of the device add() placed last by rank; only add() and move_first()
    # change <devices>, and they keep it true or drop it
    _last_placed: tuple[int, Element] | None = field(default=None, repr=False)

    def sketched(self) -> dict[Element, tuple[Sketch, ...]]:
        """Each device element with children kept as data (:attr:`Device.sketches`): what
        the writer spells into it."""
        return {d.el: d.sketches for d in self.devices if d.sketches}

    def settle(self) -> None:
        """Make every sketched child an element (:meth:`Device.settle`): the tree whole."""
        for dev in self.devices:
            dev.settle()

    def of(self, tag: str) -> list[Device]:
        """Devices with element name ``tag``, in document order (disks/controllers: libvirt's)."""
        return list(self.each(tag))

    def each(self, tag: str) -> Sequence[Device]:
        """:meth:`of` without the copy, for readers that ask per device: the live list, to read
        while no device is added."""
        if tag == "disk":
            return self.disks
        if tag == "controller":
            return self.controllers
        by_tag = self._by_tag if self._by_tag is not None else self._tags()
        same = by_tag.get(tag, ())
        if tag == "video":
            primary = [v for v in same if _is_primary(v)]
            return primary[:1] + [v for v in same if v not in primary[:1]]
        return same

    def _tags(self) -> dict[str, list[Device]]:
        """Devices by element name, in document order; kept up to date by :meth:`add`."""
        if self._by_tag is None:
            self._by_tag = {}
            for d in self.devices:
                self._by_tag.setdefault(d.tag, []).append(d)
        return self._by_tag

    def iterate(self) -> Sequence[Device]:
        """Every device, in libvirt's global iteration order: to read, not to change.

        Kept until a device is added or moved: placement and the checks walk it several times
        per guest, and building it asks for each of the 25 kinds."""
        if self._iteration is None:
            by_tag = self._tags()
            out: list[Device] = []
            for tag in ITERATION_ORDER:
                if tag == "hostdev":
                    out += [n for n in by_tag.get("interface", ()) if n.type == "hostdev"]
                if tag in by_tag:  # a guest has a handful of the 25 kinds
                    out += self.each(tag)
            self._iteration = out
        return self._iteration

    def iterate_once(self) -> list[Device]:
        """:meth:`iterate` without the second visit of a hostdev interface (its host-device
        side, libvirt's ``parentnet``): the walks that collect addresses already written skip
        it, since the interface holds the address (qemuDomainCollectPCIAddress)."""
        if not any(n.type == "hostdev" for n in self._tags().get("interface", ())):
            return list(self.iterate())  # nothing visited twice
        seen: set[int] = set()
        out = []
        for dev in self.iterate():
            if id(dev) not in seen:
                seen.add(id(dev))
                out.append(dev)
        return out

    def controller(self, type_: str, index: int) -> Device | None:
        return next(
            (c for c in self.controllers if c.type == type_ and c.index == index), None
        )

    def add(self, tag: str, attrib: dict[str, str], children: list[Element] | None = None,
            first: bool = False, why: str = "") -> Device:
        """Add an implicit device: into the XML at libvirt's place, and into the lists.

        ``first`` puts it before the other devices of its kind (libvirt's console 0).
        """
        el = new_element(tag, attrib)
        # the first of its kind, from the lists: not a walk over half a million elements
        heads = self._tags().get(tag) if first else None
        head = heads[0] if heads else None
        if head is not None:
            insert_before(self.devices_el, head.el, el)
            self._last_placed = None
        else:
            self._insert_by_rank(el, RANK.get(tag, len(RANK)))
        for child in children or ():  # once placed, so that they indent like their parent
            append_child(el, child)
        dev = Device(el, tag, 0, implicit=True, why_added=why)
        self._iteration = None
        self.devices.insert(len(self.devices) if head is None else self.devices.index(head),
                            dev)
        if self._by_tag is not None:  # kept up to date: rebuilding it costs a walk per device
            same = self._by_tag.setdefault(tag, [])
            same.insert(0 if first else len(same), dev)
        if tag == "controller":
            self.controllers.append(dev)
        if tag == "disk":
            self.disks.append(dev)
        return dev

    def _insert_by_rank(self, el: Element, rank: int) -> None:
        """After the last device of the same or an earlier kind (libvirt appends), else before
        the first device."""
        if self._last_placed is not None and self._last_placed[0] == rank:
            # implicit devices come in runs of one kind (root ports, ICH9 companions): the one
            # placed just before is that last device, found without a walk
            last: Element | None = self._last_placed[1]
        else:
            last = last_child_of(self.devices_el, UP_TO_RANK[min(rank, len(RANK) - 1)])
        following = first_element(self.devices_el) if last is None else next_element(last)
        if following is None:
            append_child(self.devices_el, el)
        else:
            insert_before(self.devices_el, following, el)
        self._last_placed = (rank, el)  # now the last device of its rank or an earlier one

    def remove(self, dev: Device) -> None:
        """Take a device out of the XML and the lists (the element's place closes up).

        For placement that must start again (a PCI pass that gave up takes back the
        controllers it added) and for ``--convert-to`` (what the other board does not have)."""
        el = dev.el
        parent = el.getparent()
        if parent is not None:
            prev = el.getprevious()
            if prev is not None:
                prev.tail = el.tail
            elif len(parent) == 1 and not (parent.text or "").strip():
                parent.text = el.tail
            parent.remove(el)
        self._by_tag = None
        self._iteration = None
        self._last_placed = None
        for group in (self.devices, self.controllers, self.disks):
            # from the end, where the devices placement takes back were added: a PCI pass
            # that gives up removes up to 255 controllers from lists of 100,000 devices
            for i in range(len(group) - 1, -1, -1):
                if group[i] is dev:
                    del group[i]
                    break

    def move_first(self, dev: Device) -> None:
        """Move a device before the others of its kind, in the XML and in the list."""
        same = [d for d in self.devices if d.tag == dev.tag]
        if not same or same[0] is dev:
            return
        head = same[0]
        self._by_tag = None
        self._iteration = None
        self._last_placed = None
        el = dev.el
        prev = el.getprevious()
        if prev is not None:
            prev.tail = el.tail
        else:
            parent = el.getparent()
            if parent is not None:
                parent.text = el.tail
        insert_before(self.devices_el, head.el, el)
        self.devices.remove(dev)
        self.devices.insert(self.devices.index(head), dev)


def _is_primary(video: Device) -> bool:
    m = video.child("model")
    return m is not None and m.get("primary") == "yes"


DISK_PREFIXES = ("fd", "hd", "vd", "sd", "xvd", "ubd")


_DISK_NAME = re.compile("(" + "|".join(DISK_PREFIXES) + r")([a-z]+)([0-9]*)")
_NAMES_KEPT = 4096
_parsed_names: dict[str, tuple[int, int | None] | None] = {}


def parse_disk_name(name: str) -> tuple[int, int | None] | None:
    """libvirt's virDiskNameParse: (disk index, partition) of a target name (``vda`` -> (0,
    0), ``sdz2`` -> (25, 2), ``hdaa`` -> (26, 0)), None when it is no disk name. The partition
    is None where libvirt refuses it (a leading 0, past INT_MAX) though the index stands:
    virDiskNameToIndex does not read it. The first few thousand names are kept: disks are
    sorted by it, and guests reuse the same few names (half a million distinct ones are
    worked out each time, with no cache to churn)."""
    if name in _parsed_names:
        return _parsed_names[name]
    # no two prefixes start alike, so the first that matches is the one libvirt takes
    m = _DISK_NAME.fullmatch(name)
    parsed: tuple[int, int | None] | None = None
    if m is not None:
        idx = 0
        for ch in m.group(2):
            idx = idx * 26 + (ord(ch) - 96)
        digits = m.group(3)
        if len(digits) > 1 and digits[0] == "0":
            parsed = idx - 1, None
        else:
            parsed = idx - 1, read(digits, "i", 10) if digits else 0
    if len(_parsed_names) < _NAMES_KEPT:
        _parsed_names[name] = parsed
    return parsed


def disk_index(name: str) -> int | None:
    """``vda`` -> 0, ``sdz`` -> 25, ``hdaa`` -> 26: libvirt's virDiskNameToIndex."""
    parsed = parse_disk_name(name)
    return None if parsed is None else parsed[0]


def disk_name(prefix: str, index: int) -> str:
    """The inverse of :func:`disk_index`: ``disk_name('vd', 0) == 'vda'``, 26 -> ``'vdaa'``."""
    letters = ""
    n = index + 1
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(ord("a") + rem) + letters
    return prefix + letters


def disk_bus(disk: Device) -> str | None:
    """The disk's bus, written or derived from the target name as libvirt does."""
    bus = disk.target("bus")
    if bus:
        return bus
    if disk.el.get("device") == "floppy":
        return "fdc"
    dev = disk.target("dev") or ""
    for prefix, derived in (("hd", "ide"), ("sd", "scsi"), ("vd", "virtio"), ("xvd", "xen"),
                            ("ubd", "uml")):
        if dev.startswith(prefix):
            return derived
    return "ide"


def _is_companion(c: Device) -> bool:
    return len(c.el) > 0 and c.child("master") is not None


def _written_index(c: Device) -> int:
    """The index a controller is written with, -1 without one (or with one libvirt refuses:
    the document is refused then, whatever its order)."""
    text = c.el.get("index")
    return -1 if text is None else index_value(text)


def index_value(text: str) -> int:
    """A controller's written index as libvirt reads it (:data:`CONTROLLER_INDEX`:
    virXMLPropInt, base 10, VIR_XML_PROP_NONNEGATIVE); -1 for one it refuses, which names no
    controller."""
    value = read(text, CONTROLLER_INDEX.reader, CONTROLLER_INDEX.base)
    return -1 if value is None or value < 0 else value


def _controller_sort(controllers: list[Device]) -> list[Device]:
    """libvirt's insertion order (virDomainControllerInsertPreAlloced), one at a time.

    libvirt walks back from the end over the controllers of the new one's type only, and
    inserts next to one of them, or at the end when there is none: so the controllers of a
    type stay together, the types in the order they first appear, and each type is sorted in
    a list of its own (issue 18: a walk over every controller of the other types per
    controller was quadratic). Within a type: a controller without an index goes last (the
    walk stops at the last of its type); any other goes before the first controller that
    sorts after it (a later index, or a companion of the same index ahead of a controller that
    is none), else last: libvirt's walk goes on to the front even once it found its place
    at the end, so ``[2, none]`` then index 1 gives ``[1, 2, none]``."""
    groups: dict[str | None, list[tuple[int, bool, Device]]] = {}
    # per type: the highest index so far, and whether a companion has it; a controller above
    # it (or at it, when no companion there must follow it) goes last without a walk
    tops: dict[str | None, tuple[int, bool]] = {}
    for c in controllers:
        idx = _written_index(c)
        companion = _is_companion(c)
        group = groups.setdefault(c.type, [])
        top, top_companion = tops.get(c.type, (-1, False))
        last = idx == -1 or idx > top or (idx == top and (companion or not top_companion))
        at = len(group) if last else next(
            (i for i, e in enumerate(group) if _sorts_after(e, idx, companion)), len(group))
        group.insert(at, (idx, companion, c))
        if idx > top:
            tops[c.type] = (idx, companion)
        elif idx == top and companion:
            tops[c.type] = (top, True)
    return [c for group in groups.values() for _, _, c in group]


def _sorts_after(entry: tuple[int, bool, Device], idx: int, companion: bool) -> bool:
    """Whether a controller already in the list, as (index, is a companion, record), goes
    after a new one of that index and kind (virDomainControllerInsertPreAlloced)."""
    cur_idx, cur_companion, _ = entry
    return cur_idx > idx or (not companion and cur_companion and cur_idx == idx)


def _disk_sort(disks: list[Device]) -> list[Device]:
    """libvirt's insertion order for disks (virDomainDiskInsert), one at a time.

    libvirt walks back from the end; what it finds comes to this: before the first disk of the
    bus that sorts after this one, else just after the bus's last disk, else at the end. So the
    disks of one bus stay together, the buses in the order they first appear, and each bus's
    disks in target order, ties in document order: one stable sort (issue 18: the walk per
    disk took minutes for 100,000 disks)."""
    first_seen: dict[str | None, int] = {}
    keys: dict[int, tuple[int, int]] = {}
    for d in disks:
        bus = d.target("bus")
        keys[id(d)] = (first_seen.setdefault(bus, len(first_seen)), _index_or(d))
    return sorted(disks, key=lambda d: keys[id(d)])


def _index_or(disk: Device) -> int:
    idx = disk_index(disk.target("dev") or "")
    return -1 if idx is None else idx


def load(root: Element) -> Domain:
    """Build the records of a parsed ``<domain>`` root."""
    os_type = root.find("os/type")
    arch = (os_type.get("arch") if os_type is not None else None) or "x86_64"
    machine = os_type.get("machine") if os_type is not None else None
    found = root.findall("devices")
    if not found:  # libvirt defines a domain without devices: it adds the machine's own
        found = [append_child(root, new_element("devices"))]
    if len(found) > 1:  # libvirt reads ./devices/disk and so on: it merges them
        raise AugmentError("a second <devices> element: libvirt merges them into one, so write "
                           "one", line=found[1].sourceline, code="duplicate-element")
    devices_el = found[0]
    devs = [
        Device(el, tag, el.sourceline or 0)
        for el in child_elements(devices_el)
        if (tag := _TAGS.get(el.tag, el.tag)) not in NOT_DEVICES  # type: ignore[arg-type]
    ]
    dom = Domain(root, devices_el, arch, machine, os_type, devs)
    dom.controllers = _controller_sort([d for d in devs if d.tag == "controller"])
    dom.disks = _disk_sort([d for d in devs if d.tag == "disk"])
    return dom
