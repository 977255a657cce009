"""Differential test against the real libvirt: its addresses for a raw guest equal ours.

Each seeded generated guest (no addresses but a few user-fixed ones) is defined as written in the
local libvirtd; libvirt's ``dumpxml`` then holds libvirt's own placement. ``augment`` of the same
input must give every device the same address and add the same controllers (the controllers are
compared as a set: we keep the input's element order where libvirt sorts its own). A difference
fails with a readable diff of the two topologies.

Known augmenter bugs are in ``KNOWN_MISMATCHES`` as strict xfails, each a minimal reproducer;
once one passes, the XPASS fails until it moves to ``REGRESSIONS``, bugs found here and fixed.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from libvirt_env import (
    Topology,
    define_and_dump,
    disk_name,
    generated_guests,
    libvirt_or_skip,
    remove_leftovers,
    render_topology,
    topology_diff,
)

import augmenter
from augmenter.cli.verify import VerifyError, Virsh

pytestmark = pytest.mark.slow  # real QEMU or libvirt, processes or hypothesis: not fast

THREADS = 4
GUESTS = generated_guests()



def _guest(machine: str, devices: str, virtio_disks: int = 0) -> str:
    disks = "".join(
        f"    <disk type='file' device='disk'>\n"
        f"      <source file='/var/lib/libvirt/images/d{i}.qcow2'/>\n"
        f"      <target dev='{disk_name('vd', i)}' bus='virtio'/>\n    </disk>\n"
        for i in range(virtio_disks))
    return (f"<domain type='qemu'>\n  <name>known</name>\n  <memory unit='MiB'>256</memory>\n"
            f"  <os><type arch='x86_64' machine='{machine}'>hvm</type></os>\n  <devices>\n"
            f"    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n{disks}{devices}"
            "  </devices>\n</domain>\n")


ICH9_USB = """    <controller type='usb' index='0' model='ich9-ehci1'/>
    <controller type='usb' index='0' model='ich9-uhci1'><master startport='0'/></controller>
    <controller type='usb' index='0' model='ich9-uhci2'><master startport='2'/></controller>
    <controller type='usb' index='0' model='ich9-uhci3'><master startport='4'/></controller>
    <memballoon model='none'/>
"""
RNG_AT_00_02 = """    <rng model='virtio'>
      <backend model='random'>/dev/urandom</backend>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0'/>
    </rng>
    <video><model type='vga'/></video>
    <memballoon model='none'/>
"""
NET_AT_00_01 = """    <interface type='network'>
      <source network='default'/>
      <model type='virtio'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x01' function='0x0'/>
    </interface>
    <video><model type='virtio'/></video>
"""

# Minimal reproducers of known differences: label -> (domain XML, what goes wrong).
KNOWN_MISMATCHES: dict[str, tuple[str, str]] = {}
# Bugs found here and fixed since: they must stay fixed.
REGRESSIONS: dict[str, tuple[str, str]] = {
    "pc-ich9-companions": (
        _guest("pc", ICH9_USB, virtio_disks=26),
        "27 slots are enough on pc (00:03-00:1f), but libvirt's first pass counts each ICH9 "
        "UHCI companion as a slot of its own and adds two pci-bridges"),
    "pc-video-slot-taken": (
        _guest("pc", RNG_AT_00_02, virtio_disks=27),
        "with 00:02.0 (the primary video's slot) taken by the user, libvirt's first pass counts "
        "the video twice and adds two pci-bridges"),
    "q35-video-slot-taken": (
        _guest("q35", NET_AT_00_01),
        "with 00:01.0 (the primary video's slot) taken by the user, libvirt's first pass counts "
        "the video twice and adds one more pcie-root-port (index 5, 00:02.4)"),
}

Case = tuple[str, str]  # (label, xml)


def _cases() -> Iterator[object]:
    for guest in GUESTS:
        yield pytest.param((guest.label, guest.xml), id=guest.label)
    for label, (xml, _why) in REGRESSIONS.items():
        yield pytest.param((label, xml), id=f"regression-{label}")
    for label, (xml, why) in KNOWN_MISMATCHES.items():
        yield pytest.param((label, xml), id=f"known-{label}",
                           marks=pytest.mark.xfail(reason=why, raises=pytest.fail.Exception,
                                                  strict=True))


def libvirt_placement(virsh: Virsh, case: Case, workdir: Path) -> str:
    label, xml = case
    return define_and_dump(virsh, xml, f"dif-{label}", workdir)


@pytest.fixture(scope="module")
def placements(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Future[str]]]:
    """libvirt's dumpxml of every selected case, started at once on a few threads."""
    workdir = tmp_path_factory.mktemp("differential")
    selected = [item.callspec.params["case"] for item in request.session.items
                if item.module is request.module and hasattr(item, "callspec")]
    virsh = libvirt_or_skip()
    with ThreadPoolExecutor(THREADS) as pool:
        yield {case[0]: pool.submit(libvirt_placement, virsh, case, workdir)
               for case in selected}
    remove_leftovers(virsh)


def side_by_side(ours: Topology, theirs: Topology) -> str:
    """A unified diff of the two topologies as sorted tables."""
    lines = difflib.unified_diff(render_topology(ours).splitlines(),
                                 render_topology(theirs).splitlines(),
                                 "augmenter", "libvirt", lineterm="", n=2)
    return "\n".join(lines)


@pytest.mark.parametrize("case", list(_cases()))
def test_same_placement_as_libvirt(case: Case, placements: dict[str, Future[str]]) -> None:
    label, xml = case
    try:
        theirs = placements[label].result()
    except VerifyError as err:
        if label in KNOWN_MISMATCHES or label in REGRESSIONS:
            raise  # not a generator bug: the reproducer itself is wrong
        pytest.fail(f"libvirt refused generated guest {label} (a generator bug): {err}\n{xml}")
    try:
        ours = augmenter.augment(xml)
    except augmenter.AugmentError as err:
        pytest.fail(f"augment refused {label}, libvirt accepted it (line {err.line}): "
                    f"{err.message}")
    mine, libvirt = Topology.of(ours), Topology.of(theirs)
    diff = topology_diff(mine, libvirt, ordered_controllers=False)
    if diff:
        pytest.fail(f"{label}: augmenter and libvirt place devices differently:\n  "
                    + "\n  ".join(diff) + "\n\n" + side_by_side(mine, libvirt))
