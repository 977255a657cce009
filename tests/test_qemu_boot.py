"""Boot test: QEMU puts every PCI device where our XML says.

Every example and a seeded sample of the generated guests are augmented, then started paused
under TCG through the local libvirtd (:func:`augmenter.cli.verify.verify_xml`: disk images created
in a scratch folder, networks made user-mode, then ``virsh start --paused``). QEMU's own device tree
(``info qtree``) must show each PCI device on the bus of the controller the XML names, at the
XML's slot and function (CCW devices: at its devno), and no such device the XML does not have.
Each guest is destroyed and undefined afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor

import pytest
from libvirt_env import (
    as_qemu_type,
    boot_sample,
    example_inputs,
    generated_guests,
    libvirt_or_skip,
    remove_leftovers,
)

import augmenter
from augmenter.cli.verify import VerifyError, VerifyReport, Virsh, verify_xml

pytestmark = pytest.mark.slow  # real QEMU or libvirt, processes or hypothesis: not fast

THREADS = 3  # a paused start is ~1 s, libvirt's stop ~2 s of waiting

SAMPLE = boot_sample(generated_guests())

Case = tuple[str, str]  # (label, xml)


def _cases() -> Iterator[object]:
    for path in example_inputs():
        yield pytest.param((f"example-{path.stem}", path.read_text()), id=f"example-{path.stem}")
    for guest in SAMPLE:
        yield pytest.param((guest.label, guest.xml), id=guest.label)


def boot(virsh: Virsh, case: Case) -> VerifyReport:
    label, xml = case
    return verify_xml(augmenter.augment(as_qemu_type(xml)), label=label, virsh=virsh)


@pytest.fixture(scope="module")
def reports(request: pytest.FixtureRequest) -> Iterator[dict[str, Future[VerifyReport]]]:
    selected = [item.callspec.params["case"] for item in request.session.items
                if item.module is request.module and hasattr(item, "callspec")]
    virsh = libvirt_or_skip()
    with ThreadPoolExecutor(THREADS) as pool:
        yield {case[0]: pool.submit(boot, virsh, case) for case in selected}
    remove_leftovers(virsh)


@pytest.mark.parametrize("case", list(_cases()))
def test_qemu_sees_the_xml_addresses(case: Case,
                                     reports: dict[str, Future[VerifyReport]]) -> None:
    label, _xml = case
    try:
        report = reports[label].result()
    except VerifyError as err:
        pytest.fail(f"{label} did not start paused: {err}")
    assert report.rows, f"{label}: no PCI device found in the XML"
    if not report.ok:
        pytest.fail(report.render())


def test_sample_size() -> None:
    """The issue asks for a sample of 30 generated guests, pc and q35."""
    assert len(SAMPLE) == 30
    assert {g.machine.startswith(("q35", "pc-q35")) for g in SAMPLE} == {True, False}
    assert max(g.device_count for g in SAMPLE) >= 40
