"""Boards that are hard to introspect (issue 16): builds without PCI, a KVM-only build, boards
that will not start without a firmware file, and what ``augment-boards`` says about them.

* a QEMU built without PCI answers ``query-pci`` with an error: that is a board without PCI,
  not a failure (avr, cris, m68k, microblaze, nios2, rx, tricore);
* Debian's ``qemu-system-x86_64-microvm`` has only KVM: it is introspected with KVM where the
  host has it, and reported as skipped, with why, where it has not;
* a board that needs a firmware, ROM, kernel or flash file starts with a stand-in (an empty
  file, or a minimal ELF image for the e500 boards); when none helps, it "needs firmware";
* ``augment-boards list`` and ``refresh --all`` exit 1 only when they could do nothing.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from qemu_env import fake_exits, fake_hangs, need_qemu
from typer.testing import CliRunner

import augmenter
from augmenter import pipeline
from augmenter.boards import introspect, lookup
from augmenter.boards.cache import BinaryId, BoardCache
from augmenter.boards.introspect import (
    NEEDS_FIRMWARE,
    SKIPPED,
    IntrospectionError,
    StandIns,
    choose_accelerator,
)
from augmenter.boards.lookup import FAILURE_REVISION, load_board, load_catalogue
from augmenter.boards.records import BoardError
from augmenter.cli.boards import app
from augmenter.pipeline import Options

pytestmark = pytest.mark.slow  # real QEMU or libvirt, processes or hypothesis: not fast

runner = CliRunner()


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setattr(introspect, "_ACCEL_CHOSEN", {})
    monkeypatch.setattr(introspect, "_ACCELERATORS", {})
    lookup.clear_memo()
    return tmp_path / "xdg-cache" / "augmenter"


# ---- builds without PCI ----------------------------------------------------------------------


@pytest.mark.parametrize(("binary", "machine"), [
    ("qemu-system-avr", "arduino-uno"), ("qemu-system-cris", "none"),
    ("qemu-system-m68k", "virt"), ("qemu-system-microblaze", "petalogix-ml605"),
    ("qemu-system-nios2", "10m50-ghrd"), ("qemu-system-rx", "none"),
    ("qemu-system-tricore", "tricore_testboard"),
])
def test_a_build_without_query_pci_has_no_pci_bus(binary: str, machine: str) -> None:
    board = introspect.board(need_qemu(binary), machine, timeout=30)
    assert (board.root_bus, board.root_kind, board.pci) == ("", "", ())
    assert board.buses and not any(b.kind in ("PCI", "PCIE") for b in board.buses)


# ---- the accelerator -------------------------------------------------------------------------


def test_tcg_is_chosen_whenever_the_build_has_it() -> None:
    assert choose_accelerator("q", "pc", ("tcg", "kvm"), kvm=True) == "tcg"
    assert choose_accelerator("q", "pc", (), kvm=False) == "tcg"  # an old QEMU: as before
    assert choose_accelerator("q", "pc", ("kvm",), kvm=True) == "kvm"
    assert choose_accelerator("q", "pc", ("xen", "qtest"), kvm=True) == "xen"


def test_a_kvm_only_build_without_kvm_is_skipped_with_the_reason() -> None:
    with pytest.raises(IntrospectionError) as exc:
        choose_accelerator("/usr/bin/q", "none", ("kvm",), kvm=False)
    assert exc.value.kind == SKIPPED and not exc.value.cacheable
    assert str(exc.value) == ("/usr/bin/q -machine none: this QEMU has only the kvm accelerator "
                              "and /dev/kvm is absent or not usable here")


def test_the_kvm_only_microvm_build_uses_kvm_or_is_skipped(
        monkeypatch: pytest.MonkeyPatch) -> None:
    binary = need_qemu("qemu-system-x86_64-microvm")
    if not introspect.kvm_usable():
        with pytest.raises(IntrospectionError) as exc:
            introspect.catalogue(binary, timeout=30)
        assert exc.value.kind == SKIPPED
        return
    cat = introspect.catalogue(binary, timeout=30)
    assert "microvm" in cat.machines and introspect._ACCEL_CHOSEN[binary] == "kvm"
    board = introspect.board(binary, "microvm", timeout=30)
    assert board.root_bus == "" and any(b.kind == "virtio-mmio-bus" for b in board.buses)
    # and on a host without KVM, the same binary is skipped, not failed
    monkeypatch.setattr(introspect, "_ACCEL_CHOSEN", {})
    monkeypatch.setattr(introspect, "kvm_usable", lambda: False)
    with pytest.raises(IntrospectionError) as exc:
        introspect.board(binary, "microvm", timeout=30)
    assert exc.value.kind == SKIPPED and "/dev/kvm" in exc.value.reason


# ---- firmware --------------------------------------------------------------------------------


@pytest.mark.parametrize(("binary", "machine", "stand_in"), [
    ("qemu-system-arm", "connex", "flash image of the size QEMU asks"),
    ("qemu-system-arm", "sx1", "-kernel"),
    ("qemu-system-m68k", "an5206", "-kernel"),
    ("qemu-system-m68k", "q800", "-bios"),
    ("qemu-system-aarch64", "canon-a1100", "-bios (a ROM)"),
    ("qemu-system-riscv32", "virt", "-bios (OpenSBI)"),
    ("qemu-system-rx", "gdbsim-r5f562n7", "-bios"),
    ("qemu-system-ppc", "ppce500", "-bios, an ELF image"),
])
def test_a_board_that_needs_a_file_starts_with_a_stand_in(binary: str, machine: str,
                                                          stand_in: str) -> None:
    board = introspect.board(need_qemu(binary), machine, timeout=30)
    assert board.buses, stand_in


def test_a_board_no_stand_in_can_start_needs_firmware() -> None:
    sh4 = need_qemu("qemu-system-sh4")  # shix loads a second file by a fixed name
    with pytest.raises(IntrospectionError) as exc:
        introspect.board(sh4, "shix", timeout=30)
    assert exc.value.kind == NEEDS_FIRMWARE and exc.value.cacheable
    assert exc.value.reason == ("qemu-system-sh4: Could not load SHIX bios 'shix_bios.bin' "
                                "(stand-ins did not help: qemu-system-sh4: Could not load "
                                "SHIX bios 'blank.bin')")


def test_stand_ins_follow_what_qemu_asks_for_and_end(tmp_path: Path) -> None:
    files = StandIns("/usr/bin/qemu-system-ppc", str(tmp_path))
    assert files.next("A flash image must be given with the 'pflash' parameter")
    flash = tmp_path / "flash.img"
    assert files.args == ("-drive", f"if=pflash,format=raw,file={flash}")
    assert files.next("device requires 16777216 bytes, block backend provides 65536 bytes")
    assert flash.stat().st_size == 16777216 and len(files.args) == 2
    assert not files.next("device requires 16777216 bytes, block backend provides 16777216")
    assert files.next("Kernel or Flash image must be specified")
    assert files.args[2:] == ("-kernel", str(tmp_path / "blank.bin"))
    assert files.next("could not find firmware/kernel file 'u-boot.e500'")  # -bios blank
    assert files.next("could not load firmware 'blank.bin'")  # -bios ELF, in its place
    assert files.args[4:] == ("-bios", str(tmp_path / "stub.elf"))
    assert (tmp_path / "stub.elf").read_bytes()[:4] == b"\x7fELF"
    assert not files.next("could not load firmware 'stub.elf'")
    assert files.used == ["pflash", "kernel", "bios", "bios-elf"]


def test_only_messages_about_files_get_stand_ins() -> None:
    assert introspect.wants_a_file("Couldn't find rom image 'canon-a1100-rom1.bin'.")
    assert introspect.wants_a_file("could not load MacROM 'MacROM.bin'")
    htm = "No Transactional Memory support in TCG; Try appending -machine cap-htm=off"
    assert not introspect.wants_a_file(htm) and introspect.wants_a_stand_in(htm)
    assert not introspect.wants_a_stand_in("unsupported machine type from the list")


def test_a_machine_option_qemu_suggests_is_added_for_the_start_only() -> None:
    ppc64 = need_qemu("qemu-system-ppc64")  # pseries-2.8 has HTM on, which TCG cannot do
    board = introspect.board(ppc64, "pseries-2.8", timeout=30)
    assert board.root_bus and board.options == ()


# ---- augment-boards --------------------------------------------------------------------------


def _path_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *binaries: str) -> None:
    """PATH holding only ``binaries`` (links named as they are)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for b in binaries:
        (folder / Path(b).name).symlink_to(b)
    monkeypatch.setenv("PATH", str(folder))


def test_list_and_refresh_succeed_when_some_binaries_work(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    broken = fake_exits(tmp_path, "-machine none: no")
    _path_with(tmp_path, monkeypatch, need_qemu("qemu-system-avr"), broken)
    listing = runner.invoke(app, ["list"])
    assert listing.exit_code == 0, listing.output
    assert "arduino-uno" in listing.stdout
    assert "error: " in listing.stderr and "qemu-system-exits -machine none" in listing.stderr
    refresh = runner.invoke(app, ["refresh", "--all", "--jobs", "2", "--timeout", "30"])
    assert refresh.exit_code == 0, refresh.output
    # avr's 5 machine types (its 9 names, aliases aside)
    assert "5 boards, 0 that need firmware, 0 skipped and 0 failures from 1 QEMU binary" in \
        " ".join(refresh.stderr.split())


def test_list_and_refresh_fail_when_nothing_works(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    broken = fake_exits(tmp_path, "-machine none: no")
    _path_with(tmp_path, monkeypatch, broken)
    assert runner.invoke(app, ["list"]).exit_code == 1
    assert runner.invoke(app, ["refresh", "--all"]).exit_code == 1


def test_refresh_counts_boards_that_need_firmware_apart(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    _path_with(tmp_path, monkeypatch, need_qemu("qemu-system-sh4"))
    refresh = runner.invoke(app, ["refresh", "--all", "--jobs", "2", "--timeout", "30"])
    assert refresh.exit_code == 0, refresh.output
    text = " ".join(refresh.stderr.split())
    assert "2 boards, 1 that need firmware, 0 skipped and 0 failures" in text
    assert "needs firmware: " in text and "shix" in text
    listing = runner.invoke(app, ["list", "--json"])
    cached = {r["machine"]: r["cached"] for r in json.loads(listing.stdout)[0]["machines"]}
    assert cached == {"none": "board", "r2d": "board", "shix": "needs firmware"}


def test_a_kvm_only_build_on_a_host_without_kvm_is_listed_as_skipped(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    microvm = need_qemu("qemu-system-x86_64-microvm")
    _path_with(tmp_path, monkeypatch, microvm, need_qemu("qemu-system-avr"))
    monkeypatch.setattr(introspect, "kvm_usable", lambda: False)
    listing = runner.invoke(app, ["list"])
    assert listing.exit_code == 0, listing.output
    assert "warning: skipped: " in listing.stderr and "/dev/kvm" in listing.stderr
    assert os.path.basename(microvm) in listing.stderr


# ---- augment: --timeout, and no board at all -------------------------------------------------


def _guest(tmp_path: Path, emulator: str, arch: str, machine: str, devices: str) -> Path:
    path = tmp_path / "guest.xml"
    path.write_text(f"""<domain type='qemu'>
  <name>g</name>
  <memory unit='MiB'>128</memory>
  <os><type arch='{arch}' machine='{machine}'>hvm</type></os>
  <devices>
    <emulator>{emulator}</emulator>
{devices}
  </devices>
</domain>
""")
    return path


def augment(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "augmenter", *args], capture_output=True,
                          text=True, timeout=120, env=dict(os.environ, NO_COLOR="1"))


def test_augment_timeout_bounds_each_qemu(tmp_path: Path) -> None:
    hangs = fake_hangs(tmp_path)
    guest = _guest(tmp_path, hangs, "x86_64", "pc", "")
    start = time.monotonic()
    done = augment("--boards", "qemu", "--timeout", "0.5", "--allow-emulator", str(hangs),
                   str(guest))
    assert time.monotonic() - start < 10
    assert done.returncode == 1, done.stderr
    assert "QEMU gave no answer within 0.5 s; killed" in done.stderr
    assert augment("--timeout", "0", str(guest)).returncode == 2  # a usage error


def test_augment_timeout_reaches_the_board_lookup(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[float | None] = []

    def spy(*args: object, timeout: float | None = None, **kw: object) -> object:
        asked.append(timeout)
        raise introspect.IntrospectionError("q", "pc", "no")

    monkeypatch.setattr(introspect, "catalogue", spy)
    guest = _guest(tmp_path, need_qemu("qemu-system-x86_64"), "x86_64", "pc", "")
    with pytest.raises(augmenter.AugmentError):
        augmenter.run(guest.read_text(), Options(boards="qemu", timeout=42.0))
    assert asked == [42.0]


def test_a_board_nobody_can_describe_is_placed_by_libvirts_arch_rules(tmp_path: Path) -> None:
    """shix: QEMU cannot start it (its firmware is missing) and no table has it, but libvirt's
    rules for sh4 read no board (qemuDomainDefAddDefaultDevices: a pci-root, whatever the
    board), so augment places the disk as libvirt does, without asking QEMU."""
    sh4 = need_qemu("qemu-system-sh4")
    disk = ("    <disk type='file' device='disk'><source file='/d.img'/>"
            "<target dev='vda' bus='virtio'/></disk>")
    done = augment(str(_guest(tmp_path, sh4, "sh4", "shix", disk)))
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert "<controller type='pci' index='0' model='pci-root'/>" in done.stdout
    assert "bus='0x00' slot='0x02'" in done.stdout  # the USB controller has slot 1


def test_a_board_no_table_has_is_placed_when_libvirt_reads_none() -> None:
    """vexpress-a9 is not in the shipped table; libvirt puts its virtio devices on
    virtio-mmio (qemuDomainAssignVirtioMMIOAddresses) without looking at the board."""
    xml = """<domain type='qemu'><name>g</name><memory unit='MiB'>128</memory>
  <os><type arch='armv7l' machine='vexpress-a9'>hvm</type></os>
  <devices><emulator>/usr/bin/qemu-system-arm</emulator>
    <interface type='user'><model type='virtio'/></interface></devices></domain>"""
    out = augmenter.run(xml, Options(boards="embedded", warn=lambda _: None)).to_string()
    assert "<address type='virtio-mmio'/>" in out


def test_a_known_family_without_its_board_is_an_error_before_placing() -> None:
    """pc's rules read the board's built-in slots: without the board they would guess."""
    xml = """<domain type='qemu'><name>g</name><memory unit='MiB'>128</memory>
  <os><type arch='i686' machine='pc-i440fx-7.2'>hvm</type></os><devices/></domain>"""
    emu = lookup.embedded_for("i686")
    broken = dataclasses.replace(emu, layouts={}, _boards={},
                                 failures={"pc-i440fx-7.2": "QEMU said no"})
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipeline, "lookup", lambda *a, **k: broken)
        with pytest.raises(augmenter.AugmentError) as exc:
            augmenter.run(xml, Options(boards="embedded"))
    assert exc.value.message == ("no description of machine type 'pc-i440fx-7.2' to place "
                                 "devices on: QEMU said no")


def test_a_failure_cached_by_an_older_introspection_is_asked_again() -> None:
    ppc = need_qemu("qemu-system-ppc")
    store, bid = BoardCache(), BinaryId.of(ppc)
    cat = load_catalogue(ppc, bid, store, 30)
    old = {"error": f"{ppc} -machine ppce500: could not find firmware/kernel file 'u-boot.e500'"}
    store.store_board(bid, "ppce500", (), old, version=cat.version)
    board = load_board(ppc, bid, store, cat, "ppce500", timeout=30)  # the ELF stand-in works
    assert board.root_bus == "pci.0"
    assert "board" in (store.load_board(bid, "ppce500", version=cat.version) or {})
    # a failure of this revision is believed
    store.store_board(bid, "ppce500", (), {**old, "revision": FAILURE_REVISION},
                      version=cat.version)
    with pytest.raises(BoardError) as exc:
        load_board(ppc, bid, store, cat, "ppce500", timeout=30)
    assert "u-boot.e500" in str(exc.value)
