"""``augmenter.model.domain``: the lists it keeps between changes stay those a fresh walk gives."""

from __future__ import annotations

from lxml import etree

from augmenter.model.domain import Device, Domain, load

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
