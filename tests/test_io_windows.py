"""``augment --check`` warns when a q35 guest has more empty root ports than its firmware
opens I/O windows on (docs/placement.md §21), with the fix; and the measured figures the
warning rests on hold in QEMU (``bench/bench_firmware_io.py`` measures them all)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from qemu_env import missing, need_qemu

import augmenter
from augmenter.checks.firmware import IO_WINDOWS, firmware_of
from augmenter.model.domain import load
from augmenter.xml.document import parse_document

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "q35-desktop.xml"
OVMF = "<loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader>"


def q35(os_extra: str = "") -> str:
    text = EXAMPLE.read_text()
    return text.replace("</type>", "</type>" + os_extra, 1)


def io_findings(text: str, **options: object) -> list[augmenter.Finding]:
    found = augmenter.check(text, augmenter.Options(boards="embedded", **options))  # type: ignore[arg-type]
    return [f for f in found if f.code == "io-windows"]


@pytest.mark.parametrize(("os_extra", "firmware"), [
    ("", "seabios"), (OVMF, "ovmf"), ("<loader>/usr/share/seabios/bios.bin</loader>", "seabios"),
])
def test_the_firmware_is_read_from_the_definition(os_extra: str, firmware: str) -> None:
    dom = load(parse_document(q35(os_extra).encode()).getroot())
    assert firmware_of(dom) == firmware


def test_efi_firmware_autoselection_is_ovmf() -> None:
    text = EXAMPLE.read_text().replace("<os>", "<os firmware='efi'>", 1)
    assert firmware_of(load(parse_document(text.encode()).getroot())) == "ovmf"


def test_libvirts_spare_root_port_is_no_problem() -> None:
    assert io_findings(q35()) == []  # SeaBIOS: no window, and none is needed unless asked


@pytest.mark.parametrize(("empty", "warned"), [(IO_WINDOWS["seabios"], False),
                                               (IO_WINDOWS["seabios"] + 1, True)])
def test_seabios_warns_past_the_fourteen_windows_it_can_open(empty: int, warned: bool) -> None:
    found = io_findings(q35(), reserve_hotplug=empty)
    assert bool(found) == warned
    if found:
        assert found[0].severity == "warning"
        assert found[0].message.startswith("15 empty root ports, but SeaBIOS opens an I/O "
                                           "window on at most 14")
        assert found[0].hint is not None and "--reserve-hotplug 14" in found[0].hint


@pytest.mark.parametrize(("empty", "warned"), [(IO_WINDOWS["ovmf"], False),
                                               (IO_WINDOWS["ovmf"] + 1, True)])
def test_ovmf_warns_past_its_ten_windows(empty: int, warned: bool) -> None:
    found = io_findings(q35(OVMF), reserve_hotplug=empty)
    assert bool(found) == warned
    if found:
        assert "OVMF opens an I/O window on 10 of them" in found[0].message
        assert found[0].hint is not None and "io-reserve=0" in found[0].hint


def test_a_pc_guest_has_no_root_ports_to_warn_about() -> None:
    text = (ROOT / "examples" / "pc-legacy.xml").read_text()
    assert io_findings(text) == []


def test_only_check_warns_not_a_plain_run() -> None:
    """Augmenting prints the warnings of the definition; this advice is --check's."""
    args = [sys.executable, "-m", "augmenter", "--boards", "embedded", "--reserve-hotplug",
            "20", str(EXAMPLE)]
    done = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and "I/O window" not in done.stderr
    checked = subprocess.run([*args[:-1], "--check", str(EXAMPLE)], capture_output=True,
                             text=True, timeout=60, check=False)
    assert checked.returncode == 0 and "warning: 20 empty root ports" in checked.stderr


# -- the measurements, again in QEMU ---------------------------------------------------------
@pytest.fixture(scope="module")
def bench() -> object:
    sys.path.insert(0, str(ROOT / "bench"))
    import bench_firmware_io

    return bench_firmware_io


@pytest.mark.slow  # real libvirt or QEMU
@pytest.mark.parametrize(("firmware", "ports", "io_reserve", "windows"), [
    ("seabios", 3, None, 0),  # none unless asked
    ("seabios", IO_WINDOWS["seabios"], 4096, IO_WINDOWS["seabios"]),
    ("seabios", IO_WINDOWS["seabios"] + 1, 4096, 0),  # and none at all past that
    ("ovmf", IO_WINDOWS["ovmf"] + 2, None, IO_WINDOWS["ovmf"]),
])
def test_the_firmware_opens_the_windows_measured(bench: object, firmware: str, ports: int,
                                                 io_reserve: int | None, windows: int) -> None:
    binary = need_qemu("qemu-system-x86_64")
    if firmware == "ovmf" and not bench.OVMF_CODE.exists():  # type: ignore[attr-defined]
        missing("OVMF not installed (Debian package ovmf)")
    got = bench.measure(binary, firmware, ports, io_reserve, 240)  # type: ignore[attr-defined]
    assert got.windows == windows
