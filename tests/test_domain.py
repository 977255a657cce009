"""``augmenter.model.domain``: the lists it keeps between changes stay those a fresh walk gives."""

from __future__ import annotations

import random

import pytest
from lxml import etree

from augmenter.model.domain import RANK, Device, Domain, disk_index, load, parse_disk_name

GUEST = b"""<domain type='kvm'>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'><target dev='vda' bus='virtio'/></disk>
    <interface type='network'><model type='virtio'/></interface>
    <interface type='hostdev'><source/></interface>
    <video><model type='vga'/></video>
    <video><model type='qxl' primary='yes'/></video>
    <controller type='usb' index='0' model='qemu-xhci'/>
    <channel type='unix'><target type='virtio' name='a'/></channel>
  </devices>
</domain>
"""


def _fresh(dom: Domain) -> list[Device]:
    """:meth:`Domain.iterate` with every kept list dropped first."""
    dom._by_tag = None
    dom._iteration = None
    return list(dom.iterate())


def _check(dom: Domain) -> None:
    kept = list(dom.iterate())
    tags = ("disk", "interface", "video", "controller", "channel", "rng", "console")
    each = {tag: list(dom.each(tag)) for tag in tags}
    assert kept == _fresh(dom)
    assert each == {tag: list(dom.each(tag)) for tag in tags}
    assert set(map(id, kept)) == set(map(id, dom.devices))


def test_iterate_is_kept_right_through_adds_and_moves() -> None:
    dom = load(etree.fromstring(GUEST))
    _check(dom)
    dom.add("controller", {"type": "pci", "index": "0", "model": "pcie-root"})
    _check(dom)
    dom.add("rng", {"model": "virtio"})
    dom.add("console", {"type": "pty"}, first=True)
    _check(dom)
    videos = dom.of("video")
    dom.move_first(videos[-1])
    _check(dom)
    dom.add("interface", {"type": "network"})
    _check(dom)
    assert [d.tag for d in dom.iterate()].count("interface") == 4  # the hostdev NIC twice


def test_iterate_puts_the_primary_video_first_and_hostdev_nics_with_hostdevs() -> None:
    dom = load(etree.fromstring(GUEST))
    order = list(dom.iterate())
    videos = [d for d in order if d.tag == "video"]
    assert videos[0].child("model") is not None
    assert videos[0].model == "qxl"
    nics = [d for d in order if d.tag == "interface"]
    # libvirt walks a hostdev NIC twice: as a NIC, and again among the hostdevs
    assert [n.type for n in nics] == ["network", "hostdev", "hostdev"]


def test_a_domain_without_devices_gets_the_machines_own() -> None:
    """libvirt defines a domain with no <devices> (it adds the machine's implicit ones):
    augment neither refuses it nor loses a line of it."""
    import augmenter
    from augmenter.pipeline import Options

    xml = ("<domain type='qemu'><name>bare</name><memory unit='MiB'>256</memory>"
           "<os><type arch='x86_64' machine='pc'>hvm</type></os></domain>")
    assert not augmenter.check(xml, Options(boards="embedded"))
    out = augmenter.run(xml, Options(boards="embedded")).to_string()
    root = etree.fromstring(out.encode())
    assert root.find("name") is not None and root.find("name").text == "bare"
    assert root.find("devices/controller[@type='pci']") is not None
    assert root.find("devices/input[@bus='ps2']") is not None


def _kept_fields_agree(dom: Domain) -> None:
    """Every field a record keeps from the tree, and every list the domain keeps, is what a
    fresh read of the tree gives (the rules in the docstrings of Device and Domain)."""
    from augmenter.xml.document import first_child

    elements = [el for el in dom.devices_el if isinstance(el.tag, str)]
    assert {id(d.el) for d in dom.devices} <= {id(el) for el in elements}
    for dev in dom.devices:
        assert dev.type == dev.el.get("type"), dev.name()
        assert dev.address is first_child(dev.el, "address"), dev.name()
        if dev._model_read:
            holder = (first_child(dev.el, "model") if dev.tag in ("interface", "video")
                      else dev.el)
            attr = "type" if dev.tag in ("interface", "video") else "model"
            assert holder is not None and dev._model == holder.get(attr), dev.name()
        for tag, kept in dev._children or ():
            assert kept is first_child(dev.el, tag), (dev.name(), tag)
        if dev.sketches:  # kept as data only while the element is empty
            assert len(dev.el) == 0 and dev.el.text is None, dev.name()
    if dom._by_tag is not None:
        rebuilt: dict[str, list[Device]] = {}
        for d in dom.devices:
            rebuilt.setdefault(d.tag, []).append(d)
        assert dom._by_tag == rebuilt
    if dom._iteration is not None:
        kept = list(dom._iteration)
        assert kept == _fresh(dom)
    if dom._last_placed is not None:
        rank, el = dom._last_placed
        later = [e for e in elements[elements.index(el) + 1:] if e.tag in RANK]
        assert all(RANK[e.tag] > rank for e in later), "the kept element is the last of its rank"


def test_the_kept_fields_agree_with_the_tree() -> None:
    """After a whole run (defaults, implicit devices, every placement pass) on every example
    and generated guest."""
    import sys
    from pathlib import Path

    from augmenter.pipeline import Options, run

    sys.path.insert(0, str(Path(__file__).parent))
    from libvirt_env import example_inputs, generated_guests

    texts = [p.read_text() for p in example_inputs()] + [g.xml for g in generated_guests()]
    for text in texts:
        _kept_fields_agree(run(text, Options(boards="embedded")).guest.dom)


@pytest.mark.parametrize(("name", "parsed"), [
    ("vda", (0, 0)), ("sdz2", (25, 2)), ("hdaa", (26, 0)), ("xvdb", (1, 0)), ("ubdc", (2, 0)),
    ("fda", (0, 0)), ("vdab12", (27, 12)),
    ("vda01", (0, None)),  # a partition libvirt refuses; the index stands (virDiskNameToIndex)
    ("vda99999999999", (0, None)),  # past INT_MAX
    ("vd", None), ("vdA", None), ("vda\u0665", None), ("vda1x", None), ("nvme0", None),
    ("vda\n", None),
])
def test_a_disk_name_parses_as_virDiskNameParse(name: str,
                                                parsed: tuple[int, int | None] | None) -> None:
    assert parse_disk_name(name) == parsed
    assert disk_index(name) == (None if parsed is None else parsed[0])


# ---- libvirt's insertion orders, against a transcription of its walks -------------------------
# load() sorts in one pass per kind (issue 18: the walk per device was quadratic); these are the
# walks as libvirt writes them, one device at a time, to compare with.


def _libvirt_disk_order(disks: list[tuple[str, int]]) -> list[int]:
    """virDomainDiskInsert over (bus, target index): positions in the input."""
    out: list[int] = []
    for n, (bus, idx) in enumerate(disks):
        at = -1
        for i in range(len(out) - 1, -1, -1):  # back from the end, to the front
            obus, oidx = disks[out[i]]
            if obus == bus and oidx > idx:
                at = i
            elif obus == bus and at == -1:
                at = i + 1
        out.insert(len(out) if at == -1 else at, n)
    return out


def _libvirt_controller_order(ctrls: list[tuple[str, int, bool]]) -> list[int]:
    """virDomainControllerInsertPreAlloced over (type, index or -1, is a companion)."""
    out: list[int] = []
    for n, (kind, idx, companion) in enumerate(ctrls):
        at = -1
        for i in range(len(out) - 1, -1, -1):
            ckind, cidx, ccompanion = ctrls[out[i]]
            if ckind != kind:
                continue
            if idx == -1:
                at = i + 1
                break
            if cidx > idx or (not companion and ccompanion and cidx == idx):
                at = i
            elif at == -1:
                at = i + 1
        out.insert(len(out) if at == -1 else at, n)
    return out


MASTER = "<master startport='0'/>"


def _index(idx: int) -> str:
    return "" if idx == -1 else f" index='{idx}'"


def _domain(devices: str) -> Domain:
    return load(etree.fromstring(
        "<domain type='kvm'><os><type arch='x86_64' machine='q35'>hvm</type></os>"
        f"<devices>{devices}</devices></domain>"))


def test_disks_are_ordered_as_virDomainDiskInsert_orders_them() -> None:
    rnd = random.Random(18)
    for _ in range(300):
        disks = [(rnd.choice(("sata", "scsi", "virtio")), rnd.randrange(6))
                 for _ in range(rnd.randrange(12))]
        dom = _domain("".join(f"<disk type='file' device='disk'><target dev='"
                              f"{'vsh'[i % 3]}d{chr(97 + idx)}' bus='{bus}'/></disk>"
                              for i, (bus, idx) in enumerate(disks)))
        got = [dom.devices.index(d) for d in dom.disks]
        assert got == _libvirt_disk_order(disks)


def test_controllers_are_ordered_as_virDomainControllerInsertPreAlloced_orders_them() -> None:
    rnd = random.Random(18)
    for _ in range(300):
        ctrls = [(rnd.choice(("usb", "scsi", "pci")), rnd.choice((-1, 0, 1, 2, 3)),
                  rnd.random() < 0.3) for _ in range(rnd.randrange(12))]
        dom = _domain("".join(
            f"<controller type='{kind}'{_index(idx)}>"
            f"{MASTER if companion else ''}</controller>" for kind, idx, companion in ctrls))
        got = [dom.devices.index(c) for c in dom.controllers]
        assert got == _libvirt_controller_order(ctrls)
