"""Define-time rules about vCPUs, NUMA cells, CPU and memory tuning, iothreads and memory sizes.

libvirt checks these when it parses and validates a domain, before any device is placed:
``virDomainVcpuParse`` and ``virDomainDefSetVcpus`` (current against maximum vCPUs),
``qemuValidateDomainVCpuTopology`` (the topology against the vCPU count, pSeries hotplug
granularity, x86 beyond 255 vCPUs), ``virDomainNumaDefParseXML`` (cell ids, overlapping vCPUs)
and the vCPU counts of ``virDomainDefParseXML``, ``virDomainNumatuneParseXML``,
``virDomainDefTunablesParse`` (pins, schedulers, ``Cannot find 'iothread'``),
``virDomainDefCputuneValidate``, ``virDomainDefParseIOThreads``, and the memory sizes of
``virDomainDefPostParseMemory`` and ``qemuDomainDefValidateMemoryHotplug``.

Every rule reads only what the definition says; a value libvirt cannot read at all (a count
that is no number, a unit it does not know) is left to the rules about values, and the rules
here skip what depends on it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ..model.bitmap import parse_bitmap
from ..model.domain import Device, disk_bus
from ..model.numbers import read
from ..model.scaled import attribute_kib, element_kib
from ..model.values import (
    CONTROLLER_IOTHREAD,
    CPU_TOPOLOGY_FIELDS,
    DISK_IOTHREAD,
    IOTHREAD_ID,
    IOTHREADPIN_IOTHREAD,
    IOTHREADS_COUNT,
    MAX_MEMORY_SLOTS,
    MEMNODE_CELLID,
    NUMA_CELL_ID,
    VCPU_COUNT,
    VCPU_CURRENT,
    VCPUPIN_VCPU,
    field_value,
    text_value,
)
from ..placement.guest import Guest
from ..xml.document import Element
from .findings import Finding
from .located import at, on

# libvirt's QEMU_MAX_VCPUS_WITHOUT_EIM: beyond it x86 needs q35 and an IOMMU with eim='on'
MAX_VCPUS_WITHOUT_EIM = 255
# VIR_CGROUP_CPU_*: the ranges of virDomainDefCputuneValidate
CPU_SHARES = (2, 262144)
CPU_PERIOD = (1000, 1000000)
CPU_QUOTA = (1000, 17592186044415)
PERIODS = ("period", "global_period", "emulator_period", "iothread_period")
QUOTAS = ("quota", "global_quota", "emulator_quota", "iothread_quota")


def _uint(text: str | None) -> int | None:
    """A count as libvirt's ``virXMLPropUInt`` reads one (``virStrToLong_uip``, base 10), or
    None where libvirt refuses it (the parse-time rules report that)."""
    return read(text, "uip", 10) if text is not None else None


@dataclass(frozen=True)
class Vcpus:
    """The vCPU counts of a definition: ``<vcpu current='C'>M</vcpu>``."""

    element: Element | None
    maximum: int
    current: int


def vcpus(guest: Guest) -> Vcpus | None:
    """The counts, or None when ``<vcpu>`` holds something libvirt does not read as a count."""
    el = guest.dom.root.find("vcpu")
    if el is None:
        return Vcpus(None, 1, 1)
    maximum = text_value(el, VCPU_COUNT)
    if maximum is None:
        return None
    current_text = el.get("current")
    current = field_value(el, VCPU_CURRENT) if current_text is not None else maximum
    if current is None:
        return None
    return Vcpus(el, maximum, current)


def check_vcpus(guest: Guest) -> Iterator[Finding]:
    """``current`` within the maximum, at least one vCPU, and x86's limit without EIM."""
    counts = vcpus(guest)
    if counts is None:
        return
    if counts.maximum == 0:
        # libvirt's words: the highest NUMA CPU id (none: -1, unsigned) is not below 0 vCPUs
        yield at(counts.element, "vcpu-count", "CPU IDs in <numa> exceed the <vcpu> count",
                 "a guest needs at least 1 vCPU")
        return
    if counts.current > counts.maximum:
        yield at(counts.element, "vcpu-current", "maximum vCPU count must not be less than "
                 "current vCPU count",
                 f"current='{counts.current}' is more than the {counts.maximum} vCPUs; lower "
                 "it or raise the <vcpu> count")
        return
    if counts.current == 0:  # qemuDomainDefVcpusPostParse
        yield at(counts.element, "vcpu-count", "vcpu 0 can't be offline",
                 "give current= a count of 1 or more")
        return
    yield from _machine_limit(guest, counts)


def _machine_limit(guest: Guest, counts: Vcpus) -> Iterator[Finding]:
    """qemuValidateDomainVCpuTopology: the machine's own maximum, then x86 beyond 255."""
    limit = guest.emulator.max_cpus(guest.machine)
    if limit and counts.maximum > limit:
        yield at(counts.element, "vcpu-machine-limit", "Maximum CPUs greater than specified "
                 f"machine type limit {limit}",
                 f"{guest.machine} takes at most {limit} vCPUs")
        return
    if guest.dom.arch not in ("x86_64", "i686") or counts.maximum <= MAX_VCPUS_WITHOUT_EIM:
        return
    if guest.family is None or guest.family.name != "q35":
        yield at(counts.element, "vcpu-machine-limit", f"more than {MAX_VCPUS_WITHOUT_EIM} "
                 "vCPUs are only supported on q35-based machine types",
                 "use a q35 machine type, or fewer vCPUs")
        return
    iommu = guest.dom.root.find("devices/iommu/driver")
    if iommu is None or iommu.get("eim") != "on":
        yield at(counts.element, "vcpu-machine-limit", f"more than {MAX_VCPUS_WITHOUT_EIM} "
                 "vCPUs require extended interrupt mode enabled on the iommu device",
                 "add <iommu model='intel'><driver intremap='on' eim='on'/></iommu> and "
                 "<ioapic driver='qemu'/> in <features>")


def _topology(guest: Guest) -> tuple[Element, int] | None:
    """``<cpu><topology>`` and the vCPUs it makes (sockets x dies x cores x threads)."""
    topo = guest.dom.root.find("cpu/topology")
    if topo is None:
        return None
    parts = [field_value(topo, CPU_TOPOLOGY_FIELDS[a]) for a in ("sockets", "cores", "threads")]
    dies = field_value(topo, CPU_TOPOLOGY_FIELDS["dies"]) if topo.get("dies") is not None else 1
    if dies is None or any(p is None or p == 0 for p in parts) or dies == 0:
        return None  # refused for its values, not for the product
    total = dies
    for p in parts:
        assert p is not None
        total *= p
    return topo, total


def check_topology(guest: Guest) -> Iterator[Finding]:
    """qemuValidateDomainVCpuTopology: the topology makes exactly the maximum vCPUs, and on
    pSeries the vCPUs come in whole cores."""
    found, counts = _topology(guest), vcpus(guest)
    if found is None or counts is None:
        return
    topo, total = found
    if total != counts.maximum:
        yield at(topo, "cpu-topology", "CPU topology doesn't match maximum vcpu count",
                 f"the topology makes {total} vCPUs and <vcpu> says {counts.maximum}; make "
                 "sockets x dies x cores x threads equal the <vcpu> count")
        return
    threads = field_value(topo, CPU_TOPOLOGY_FIELDS["threads"]) or 1
    if guest.family is not None and guest.family.name == "pseries" and \
            counts.current % threads:
        where = topo if counts.element is None else counts.element
        yield at(where, "cpu-topology", "vCPUs count must be a multiple of the vCPU hotplug "
                 f"granularity ({threads})",
                 f"pSeries plugs whole cores: make the current vCPUs a multiple of {threads}")


# ---- NUMA ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    element: Element
    id: int
    cpus: frozenset[int] | None  # None: no cpus attribute


_BITMAP_HINTS = {
    "cpus": "write the vCPUs as a list of numbers and ranges: cpus='0-3,6'",
    "nodeset": "write host NUMA nodes as a list of numbers and ranges: nodeset='0-1'",
    "cpuset": "write host CPUs as a list of numbers and ranges: cpuset='0-3,6'",
}


def read_bitmap(el: Element, attr: str) -> tuple[frozenset[int] | None, Finding | None]:
    """``el``'s ``attr`` as virBitmapParse reads it (``model.bitmap``): (its numbers, None);
    (None, None) when it is absent; (None, the finding) when libvirt says "Failed to parse
    bitmap". An empty set is read: each attribute refuses it in words of its own."""
    text = el.get(attr)
    if text is None:
        return None, None
    bits = parse_bitmap(text)
    if bits is None:
        return None, at(el, "bitmap", f"Failed to parse bitmap '{text}'", _BITMAP_HINTS.get(
            attr, f"write the {attr} as a list of numbers and ranges"))
    return bits, None


def numa_cells(guest: Guest) -> list[Element]:
    return list(guest.dom.root.findall("cpu/numa/cell"))


def check_numa(guest: Guest) -> Iterator[Finding]:
    """virDomainNumaDefParseXML and the vCPU counts of virDomainDefParseXML."""
    numa = guest.dom.root.find("cpu/numa")
    if numa is None:
        return
    elements = numa_cells(guest)
    if not elements:
        yield at(numa, "numa-cell", "NUMA topology defined without NUMA cells",
                 "add a <cell> per guest NUMA node, or remove <numa>")
        return
    cells: dict[int, Cell] = {}
    given: set[int] = set()  # every vCPU of the cells so far
    for n, el in enumerate(elements):
        ident = field_value(el, NUMA_CELL_ID) if el.get("id") is not None else n
        if ident is None:
            return  # a value problem
        if ident >= len(elements):
            yield at(el, "numa-cell", "Exactly one 'cell' element per guest NUMA cell allowed, "
                     "non-contiguous ranges or ranges not starting from 0 are not allowed",
                     f"number the {len(elements)} cells 0 to {len(elements) - 1}")
            return
        if ident in cells:
            yield at(el, "numa-cell-id", f"Duplicate NUMA cell info for cell id '{ident}'",
                     f"cell {ident} is also on line {cells[ident].element.sourceline}; give "
                     "each cell its own id")
            return
        mask, bad = read_bitmap(el, "cpus")
        if bad is not None:
            yield bad
            return
        if mask and mask & given:  # the union first: a walk over every cell per cell was
            for other in cells.values():  # quadratic in the cells
                if other.cpus and mask & other.cpus:
                    yield at(el, "numa-cell", f"NUMA cells {ident} and {other.id} have "
                             "overlapping vCPU ids", "give each vCPU to one cell only")
                    return
        given |= mask or set()
        cells[ident] = Cell(el, ident, mask or None)
    counts = vcpus(guest)
    if counts is None:
        return
    every = [c for cell in cells.values() for c in (cell.cpus or ())]
    if len(every) > counts.maximum:
        yield at(numa, "numa-cell", "Number of CPUs in <numa> exceeds the <vcpu> count",
                 f"the cells name {len(every)} vCPUs and <vcpu> is {counts.maximum}")
    elif every and max(every) >= counts.maximum:
        yield at(numa, "numa-cell", "CPU IDs in <numa> exceed the <vcpu> count",
                 f"vCPU ids run from 0 to {counts.maximum - 1}")


def check_numatune(guest: Guest) -> Iterator[Finding]:
    """virDomainNumatuneParseXML: the nodesets, and memnodes against the NUMA cells."""
    tune = guest.dom.root.find("numatune")
    if tune is None:
        return
    memory = tune.find("memory")
    placement = None
    if memory is not None:
        placement = memory.get("placement")
        bits, bad = read_bitmap(memory, "nodeset")
        if bad is not None:
            yield bad
            return
        if bits is not None:
            if not bits:
                yield at(memory, "numatune", f"Invalid value of 'nodeset': "
                         f"{memory.get('nodeset')}", "name at least one host NUMA node")
                return
            if placement == "auto":
                yield at(memory, "numatune-dropped", "nodeset is ignored with "
                         "placement='auto': libvirt drops it", "remove nodeset, or write "
                         "placement='static'", severity="warning")
        elif _settled_placement(guest, memory) == "static":
            yield at(memory, "numatune", "nodeset for NUMA memory tuning must be set if "
                     "'placement' is 'static'", "add nodeset='...', or write placement='auto'")
            return
    memnodes = tune.findall("memnode")
    if not memnodes:
        return
    settled = _settled_placement(guest, memory) if memory is not None else (
        None if _vcpu_static(guest) else "auto")
    if settled == "auto":
        yield at(memnodes[0], "numatune", "Per-node binding is not compatible with automatic "
                 "NUMA placement.", "remove the <memnode> elements, or use placement='static'")
        return
    cells = len(numa_cells(guest))
    if not cells:
        yield at(memnodes[0], "numatune", "Element 'memnode' is invalid without any guest "
                 "NUMA cells", "define the guest NUMA cells in <cpu><numa>")
        return
    seen: set[int] = set()
    for node in memnodes:
        cellid = field_value(node, MEMNODE_CELLID)
        if cellid is None:
            return
        if cellid >= cells:
            yield at(node, "numatune", "Argument 'cellid' in memnode element must correspond "
                     "to existing guest's NUMA cell", f"the guest has cells 0 to {cells - 1}")
            return
        if cellid in seen:
            yield at(node, "numatune", f"Multiple memnode elements with cellid {cellid}",
                     "one <memnode> per guest cell")
            return
        seen.add(cellid)
        _, bad = read_bitmap(node, "nodeset")
        if bad is not None:
            yield bad
            return


def _vcpu_static(guest: Guest) -> bool:
    vcpu = guest.dom.root.find("vcpu")
    return vcpu is None or vcpu.get("placement") in (None, "static")


def _settled_placement(guest: Guest, memory: Element) -> str | None:
    """The placement virDomainNumatuneSet settles on for ``<numatune><memory>``: the written
    one, else static with a nodeset or a static vCPU placement, else auto; None when the
    element sets nothing (no mode, placement or nodeset)."""
    placement: str | None = memory.get("placement")
    if placement is None and memory.get("mode") is None and memory.get("nodeset") is None:
        return None
    if placement in ("static", "auto"):
        return placement
    return "static" if memory.get("nodeset") is not None or _vcpu_static(guest) else "auto"


# ---- cputune and iothreads -------------------------------------------------------------------


def iothread_ids(guest: Guest) -> set[int] | None:
    """The iothread ids of a definition: those ``<iothreadids>`` lists, and the lowest free
    ones up to the ``<iothreads>`` count (virDomainIOThreadIDDefArrayInit)."""
    root = guest.dom.root
    count_el = root.find("iothreads")
    count = text_value(count_el, IOTHREADS_COUNT) if count_el is not None else 0
    if count is None:
        return None
    explicit = []
    for el in root.findall("iothreadids/iothread"):
        ident = field_value(el, IOTHREAD_ID)
        if ident is None:
            return None
        explicit.append(ident)
    ids = set(explicit)
    total = max(count, len(explicit))
    candidate = 1
    while len(ids) < total:
        if candidate not in ids:
            ids.add(candidate)
        candidate += 1
    return ids


def check_iothreads(guest: Guest) -> Iterator[Finding]:
    """Duplicate iothread ids (virDomainDefParseIOThreads)."""
    seen: set[int] = set()
    for el in guest.dom.root.findall("iothreadids/iothread"):
        ident = field_value(el, IOTHREAD_ID)
        if ident is None:
            continue
        if ident in seen:
            yield at(el, "iothread", f"duplicate iothread id '{ident}' found",
                     "give each <iothread> its own id")
        seen.add(ident)


def check_cputune(guest: Guest) -> Iterator[Finding]:
    """virDomainDefTunablesParse (pins, schedulers) and virDomainDefCputuneValidate (ranges)."""
    tune = guest.dom.root.find("cputune")
    if tune is None:
        return
    counts = vcpus(guest)
    pinned: set[int] = set()
    for pin in tune.findall("vcpupin"):
        vcpu = field_value(pin, VCPUPIN_VCPU)
        if vcpu is None or counts is None:
            continue
        if vcpu >= counts.maximum:
            yield at(pin, "cputune-dropped", f"vcpupin for vCPU {vcpu} names no vCPU of the "
                     f"{counts.maximum}: libvirt ignores and drops it",
                     f"vCPUs are numbered 0 to {counts.maximum - 1}", severity="warning")
            continue
        if vcpu in pinned:
            yield at(pin, "cputune", f"duplicate vcpupin for vcpu '{vcpu}'",
                     "pin each vCPU once")
            return
        pinned.add(vcpu)
        yield from _cpuset(pin)
    pins = tune.findall("emulatorpin")
    if len(pins) > 1:
        yield at(pins[1], "cputune", "only one emulatorpin is supported",
                 "keep one <emulatorpin>")
    for pin in pins[:1]:
        yield from _cpuset(pin)
    ids = iothread_ids(guest)
    pinned_threads: set[int] = set()
    for pin in tune.findall("iothreadpin"):
        ident = field_value(pin, IOTHREADPIN_IOTHREAD)
        if ident is None or ident == 0 or ids is None:
            continue
        if ident not in ids:
            yield at(pin, "iothread", f"Cannot find 'iothread' : {ident}",
                     _iothread_hint(ids))
            return
        yield from _cpuset(pin)
        if ident in pinned_threads:
            yield at(pin, "cputune", f"duplicate iothreadpin for same iothread '{ident}'",
                     "pin each iothread once")
            return
        pinned_threads.add(ident)
    yield from _schedulers(tune, "vcpusched", "vcpus", guest, ids)
    yield from _schedulers(tune, "iothreadsched", "iothreads", guest, ids)
    yield from _ranges(tune)


def _iothread_hint(ids: set[int]) -> str:
    if not ids:
        return "the domain has no iothreads: add <iothreads>N</iothreads>"
    return f"the domain's iothreads are {', '.join(map(str, sorted(ids)))}"


def _cpuset(pin: Element) -> Iterator[Finding]:
    bits, bad = read_bitmap(pin, "cpuset")
    if bad is not None:
        yield bad
    elif bits is not None and not bits:
        yield at(pin, "cputune", f"Invalid value of 'cpuset': {pin.get('cpuset')}",
                 "name at least one CPU")


def _schedulers(tune: Element, tag: str, attr: str, guest: Guest,
                ids: set[int] | None) -> Iterator[Finding]:
    """virDomainThreadSchedParseHelper: each vCPU or iothread has one scheduler."""
    counts = vcpus(guest)
    taken: set[int] = set()
    for el in tune.findall(tag):
        bits, bad = read_bitmap(el, attr)
        if bad is not None:
            yield bad
            return
        if bits is None:
            continue
        if not bits:
            yield at(el, "cputune", f"'{attr}' scheduler bitmap '{el.get(attr)}' is empty",
                     f"name at least one of the {attr}")
            return
        for n in sorted(bits):
            if tag == "vcpusched" and counts is not None and n >= counts.maximum:
                yield at(el, "cputune", f"vCPU '{n}' is not present in domain definition",
                         f"vCPUs are numbered 0 to {counts.maximum - 1}")
                return
            if tag == "iothreadsched" and ids is not None and n not in ids:
                yield at(el, "iothread", f"Cannot find 'iothread' : {n}", _iothread_hint(ids))
                return
            if n in taken:
                yield at(el, "cputune", f"'{tag}' attributes '{attr}' must not overlap",
                         f"give each of the {attr} one <{tag}>")
                return
        taken |= bits


def _ranges(tune: Element) -> Iterator[Finding]:
    """virDomainDefCputuneValidate: shares, periods and quotas within cgroup's ranges."""
    checks = [("shares", CPU_SHARES)] + [(p, CPU_PERIOD) for p in PERIODS] + \
        [(q, CPU_QUOTA) for q in QUOTAS]
    for tag, (low, high) in checks:
        el = tune.find(tag)
        value = _uint(el.text) if el is not None else None
        if el is None or value is None or value == 0:
            continue  # absent, unreadable (a value problem) or 0/negative: unset
        if not low <= value <= high:
            yield at(el, "cputune", f"Value of cputune '{tag}' must be in range "
                     f"[{low}, {high}]", f"write a value from {low} to {high}")
            return


# ---- disks and controllers on iothreads ------------------------------------------------------


def check_disk_iothreads(guest: Guest) -> Iterator[Finding]:
    """qemuValidateDomainDeviceDefDiskIOThreads: an iothread only for virtio disks, and one
    the domain has."""
    ids = iothread_ids(guest)
    for disk in guest.dom.of("disk"):
        driver = disk.child("driver")
        ident = field_value(driver, DISK_IOTHREAD)
        if driver is None or ident is None or ident == 0:
            continue
        bus = disk_bus(disk) or "ide"
        if bus != "virtio":
            yield on(disk, "iothread", f"IOThreads not available for bus {bus} target "
                     f"{disk.target('dev')}", "only virtio disks have an iothread; remove "
                     "iothread=", el=driver)
        elif ids is not None and ident not in ids:
            yield on(disk, "iothread", f"Disk iothread '{ident}' not defined in iothreadid",
                     _iothread_hint(ids), el=driver)


def check_controller_iothreads(guest: Guest) -> Iterator[Finding]:
    """virDomainControllerDefPostParse and qemuValidateCheckSCSIControllerIOThreads: an
    iothread only on a virtio-scsi controller, and one the domain has."""
    ids = iothread_ids(guest)
    for ctrl in guest.dom.controllers:
        driver = ctrl.child("driver")
        ident = field_value(driver, CONTROLLER_IOTHREAD)
        if driver is None or ident is None or ident == 0:
            continue
        virtio = ctrl.type == "scsi" and (ctrl.model or "").startswith("virtio")
        if not virtio:  # virDomainControllerDefPostParse
            yield on(ctrl, "iothread", "'iothread' attribute only supported for virtio scsi "
                     "controllers", "remove iothread=, or use a virtio-scsi controller",
                     el=driver)
        elif ids is not None and ident not in ids:
            yield on(ctrl, "iothread", f"controller iothread '{ident}' not defined in "
                     "iothreadid", _iothread_hint(ids), el=driver)
        elif ctrl.address_type not in (None, "pci", "ccw"):
            yield on(ctrl, "iothread", "virtio-scsi IOThreads only available for virtio pci "
                     "and virtio ccw controllers", "remove the <address>, or iothread=",
                     el=ctrl.address)


# ---- memory ----------------------------------------------------------------------------------


def _memory_devices(guest: Guest) -> list[Device]:
    return [m for m in guest.dom.of("memory") if not m.implicit]


def check_memory(guest: Guest) -> Iterator[Finding]:
    """virDomainDefPostParseMemory and qemuDomainDefValidateMemoryHotplug."""
    root = guest.dom.root
    memory_el, max_el = root.find("memory"), root.find("maxMemory")
    memory = element_kib(memory_el)
    numa_total = 0
    for cell in numa_cells(guest):
        size = attribute_kib(cell, "memory")
        if size is None:
            return
        numa_total += size
    devices = _memory_devices(guest)
    if memory_el is None and not numa_total:
        yield at(root, "memory", "Memory size must be specified via <memory> or in the <numa> "
                 "configuration", "add <memory unit='MiB'>...</memory>")
        return
    if memory_el is not None and memory is None:
        return  # a value problem
    if memory == 0 and not numa_total:
        yield at(memory_el, "memory", "Memory size must be specified via <memory> or in the "
                 "<numa> configuration", "give <memory> a size above 0")
        return
    total = numa_total + sum(_device_kib(m) or 0 for m in devices) if numa_total else memory
    assert total is not None
    if max_el is not None:
        slots = max_el.get("slots")
        if slots is None:
            yield at(max_el, "memory", "both maximum memory size and memory slot count must be "
                     "specified", "add slots='N' to <maxMemory>")
            return
        maximum = element_kib(max_el)
        if maximum is not None and maximum < total:
            yield at(max_el, "memory", "maximum memory size must be equal or greater than the "
                     "actual memory size", "raise <maxMemory> to at least <memory>")
            return
    if max_el is None:
        if devices:
            yield on(devices[0], "memory-hotplug", "cannot use/hotplug a memory device when "
                     "domain 'maxMemory' is not defined",
                     "add <maxMemory slots='N' unit='GiB'>...</maxMemory>")
        return
    if guest.dom.arch not in ("ppc64", "ppc64le") and not numa_cells(guest):
        yield at(max_el, "memory-hotplug", "At least one numa node has to be configured when "
                 "enabling memory hotplug", "add <numa><cell .../></numa> to <cpu>")
        return
    slots_n = field_value(max_el, MAX_MEMORY_SLOTS)
    if slots_n is not None and len(devices) > slots_n:
        yield on(devices[slots_n], "memory-hotplug", f"memory device count '{len(devices)}' "
                 f"exceeds slots count '{slots_n}'", "raise slots= of <maxMemory>")
        return
    yield from _dimm_slots(guest, devices, slots_n)


def _device_kib(mem: Device) -> int | None:
    target = mem.child("target")
    return element_kib(target.find("size")) if target is not None else None


def _dimm_slots(guest: Guest, devices: list[Device], slots: int | None) -> Iterator[Finding]:
    """qemuDomainDefValidateMemoryHotplugDevice: a target node where the guest has NUMA cells,
    each DIMM slot within the slot count and used once (qemuCheckMemoryDimmConflict)."""
    cells = len(numa_cells(guest))
    # qemuCheckMemoryDimmConflict compares a DIMM's slot with every memory device's
    slots_of = {m: _uint(m.address.get("slot")) for m in devices
                if m.address is not None and m.address.get("type") == "dimm"}
    for mem in devices:
        model = mem.el.get("model")
        if model not in ("dimm", "nvdimm", "virtio-mem"):
            continue
        target = mem.child("target")
        if cells and (target is None or target.find("node") is None):
            yield on(mem, "memory-hotplug", "target NUMA node needs to be specified for memory "
                     "device", f"add <node> (0 to {cells - 1}) to its <target>")
            return
        node_el = target.find("node") if target is not None else None
        node = _uint(node_el.text) if node_el is not None else None
        if node is not None and cells and node >= cells:
            yield on(mem, "memory-hotplug", f"can't add memory backend for guest node '{node}' "
                     f"as the guest has only '{cells}' NUMA nodes configured",
                     f"guest NUMA nodes are 0 to {cells - 1}", el=node_el)
            return
        slot = slots_of.get(mem)
        if model == "virtio-mem" or slot is None:
            continue
        if slots is not None and slot >= slots:
            yield on(mem, "memory-hotplug", f"memory device slot '{slot}' exceeds slots count "
                     f"'{slots}'", f"slots are 0 to {slots - 1}", el=mem.address)
            return
        other = next((o for o, n in slots_of.items() if o is not mem and n == slot), None)
        if other is not None:
            yield on(mem, "dimm-slot", f"memory device slot '{slot}' is already being used by "
                     "another memory device",
                     f"{other.name()} on line {other.line} has it too: give one another slot, "
                     "or leave the address out", el=mem.address)
            return


def check_hugepages(guest: Guest) -> Iterator[Finding]:
    """virDomainDefPostParseMemtune, virDomainDefMemtuneValidate and
    qemuValidateDomainDefMemory: one page size without a nodeset (the master), nodesets
    apart and naming guest NUMA nodes; no huge pages with on-demand or anonymous memory."""
    backing = guest.dom.root.find("memoryBacking")
    hugepages = backing.find("hugepages") if backing is not None else None
    if backing is None or hugepages is None:
        return
    cells = len(numa_cells(guest))
    pages: list[tuple[Element, int, frozenset[int] | None]] = []
    for page in hugepages.findall("page"):
        size = attribute_kib(page, "size")
        text = page.get("nodeset")
        nodes = parse_bitmap(text) if text is not None else None
        if size is None or (text is not None and not nodes):
            return  # a value problem
        if not cells and nodes == frozenset({0}):
            nodes = None  # without guest NUMA, node 0 is the whole guest
        for other, other_size, other_nodes in pages:
            if nodes and other_nodes and nodes & other_nodes:
                yield at(page, "hugepages", f"nodeset attribute of hugepages of sizes {size} and "
                         f"{other_size} intersect", "give each NUMA node one page size")
                return
            if nodes is None and other_nodes is None:
                yield at(page, "hugepages", f"two master hugepages detected: {size} and "
                         f"{other_size}", f"the page on line {other.sourceline} has no nodeset "
                         "either; give one of them a nodeset")
                return
        missing = sorted(n for n in nodes or () if n >= cells)
        if missing:
            yield at(page, "hugepages", f"hugepages: node {missing[0]} not found",
                     f"the guest's NUMA nodes are 0 to {cells - 1}" if cells
                     else "the guest has no NUMA nodes")
            return
        pages.append((page, size, nodes))
    allocation, source = backing.find("allocation"), backing.find("source")
    if allocation is not None and allocation.get("mode") == "ondemand":
        yield at(allocation, "hugepages", "hugepages are not allowed with memory allocation "
                 "ondemand", "remove <allocation mode='ondemand'/>, or the huge pages")
    elif source is not None and source.get("type") == "anonymous":
        yield at(source, "hugepages", "hugepages are not allowed with anonymous memory source",
                 "use <source type='file'/> or 'memfd'")


CHECKS = (check_vcpus, check_topology, check_numa, check_numatune, check_iothreads,
          check_cputune, check_disk_iothreads, check_controller_iothreads, check_memory,
          check_hugepages)
