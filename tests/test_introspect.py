"""Boards by QMP introspection: what QEMU reports, the shipped table, and every way QEMU fails."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import pytest
from libvirt_env import generated_guests
from qemu_env import fake_dies, fake_exits, fake_hangs, need_qemu

from augmenter.boards import introspect
from augmenter.boards import records as boards_mod
from augmenter.boards.introspect import IntrospectionError
from augmenter.boards.records import Board, board_to_json, embedded
from augmenter.pipeline import Options, check
from augmenter.policy.machines import QEMU_TYPES_ASKED

pytestmark = pytest.mark.slow  # real QEMU or libvirt, processes or hypothesis: not fast


@pytest.fixture(scope="module")
def x86() -> str:
    return need_qemu("qemu-system-x86_64")


@pytest.fixture(scope="module")
def q35(x86: str) -> Board:
    return introspect.board(x86, "q35")


@pytest.fixture(scope="module")
def pc(x86: str) -> Board:
    return introspect.board(x86, "pc")


# ---- what QEMU reports -----------------------------------------------------------------------


def test_q35_is_ich9_on_a_pcie_root_without_hotplug(q35: Board) -> None:
    assert q35.machine.startswith("pc-q35-")  # the alias is resolved
    assert (q35.root_bus, q35.root_kind, q35.root_hotplug) == ("pcie.0", "PCIE", False)
    assert [(p.slot, p.function, p.type, p.class_name) for p in q35.pci] == [
        (0x00, 0, "mch", "host-bridge"),
        (0x1F, 0, "ICH9-LPC", "isa-bridge"),
        (0x1F, 2, "ich9-ahci", "sata-controller"),
        (0x1F, 3, "ICH9-SMB", "smbus"),
    ]
    ahci = [b for b in q35.buses if b.owner == "ich9-ahci"]
    assert [(b.name, b.kind, b.units) for b in ahci] == [(f"ide.{i}", "IDE", 1) for i in range(6)]


def test_pc_is_piix_on_a_pci_root_with_hotplug(pc: Board) -> None:
    assert (pc.root_bus, pc.root_kind, pc.root_hotplug) == ("pci.0", "PCI", True)
    assert pc.occupied() == {0: [0], 1: [0, 1, 3]}
    assert [p.ids for p in pc.pci] == ["8086:1237", "8086:7000", "8086:7010", "8086:7113"]
    isa = pc.bus("isa.0")
    assert isa is not None and isa.owner == "PIIX3"
    fdc = next(d for d in isa.devices if d.type == "isa-fdc")
    assert fdc.address == (("iobase", 0x3F0),) and fdc.buses == ("floppy-bus.0",)


def test_catalogue_knows_aliases_defaults_and_pci_kinds(x86: str) -> None:
    cat = introspect.catalogue(x86)
    assert cat.aliases["q35"].startswith("pc-q35-") and cat.aliases["pc"] in cat.machines
    assert cat.default_machine == cat.aliases["pc"]
    assert {"qemu-xhci", "virtio-net-pci-non-transitional", "ICH9-LPC"} <= cat.device_types
    emu = boards_mod.emulator_of("x86_64", cat, layouts={}, layout_data={})
    assert emu.pci_kind("e1000e") == "pcie"
    assert emu.pci_kind("e1000") == "conventional"
    assert emu.pci_kind("virtio-net-pci") == "hybrid"
    assert emu.pci_kind("isa-serial") is None


@pytest.mark.parametrize("alias", ["pc", "q35"])
def test_fresh_introspection_matches_the_shipped_table(x86: str, alias: str, pc: Board,
                                                       q35: Board) -> None:
    """The embedded table is what QEMU says; rerun scripts/gen_boards.py when this fails."""
    emu = embedded()["x86_64"]
    fresh = {"pc": pc, "q35": q35}[alias]
    assert fresh.machine == emu.canonical(alias)
    shipped = emu.table_board(fresh.machine)
    assert shipped is not None
    assert board_to_json(fresh) == board_to_json(shipped)
    cat = introspect.catalogue(x86)
    if cat.version != emu.version:
        pytest.skip(f"installed QEMU {cat.version}, table from {emu.version}: boards agree")
    assert (cat.aliases, cat.default_machine) == (emu.aliases, emu.default_machine)
    assert set(cat.machines) == emu.machines
    # the types the rules ask about, not every type: optional QEMU module packages
    # (qemu-system-gui's virtio-gpu-gl-device) add types without changing any board
    assert cat.device_types & QEMU_TYPES_ASKED == emu.device_types & QEMU_TYPES_ASKED
    assert cat.max_cpus == emu.max_cpus_by_machine  # the vCPU limit rule reads them


def test_the_rules_ask_qemu_only_about_the_types_the_drift_test_compares(
        monkeypatch: pytest.MonkeyPatch) -> None:
    asked: set[str] = set()
    real = boards_mod.Emulator.has_device

    def recording(self: boards_mod.Emulator, qemu_type: str) -> bool:
        asked.add(qemu_type)
        return real(self, qemu_type)

    monkeypatch.setattr(boards_mod.Emulator, "has_device", recording)
    examples = sorted((Path(__file__).parent.parent / "examples").glob("*.xml"))
    inputs = [p.read_bytes() for p in examples if not p.name.endswith(".out.xml")]
    inputs += [g.xml.encode() for g in generated_guests()]
    options = Options(boards="embedded")
    for data in inputs:
        check(data, options)
    assert asked and asked <= QEMU_TYPES_ASKED, sorted(asked - QEMU_TYPES_ASKED)


def test_versions_of_a_family_reuse_a_reference_only_when_it_fits(x86: str, pc: Board,
                                                                   q35: Board) -> None:
    full = introspect.board(x86, "pc-q35-2.4")
    quick = introspect.board(x86, "pc-q35-2.4", reference=q35)
    assert quick.machine == full.machine == "pc-q35-2.4"
    assert board_to_json(quick) == board_to_json(full) == board_to_json(q35)
    # a reference of another board: the fingerprint differs, so QEMU is walked after all
    wrong = introspect.board(x86, "q35", reference=dataclasses.replace(pc, machine="pc-q35-x"))
    assert board_to_json(wrong) == board_to_json(q35)


def test_machine_options_change_the_board(x86: str) -> None:
    bare = introspect.board(x86, "q35", options=[("sata", "off"), ("smbus", "off")])
    assert [(p.slot, p.function) for p in bare.pci] == [(0, 0), (0x1F, 0)]
    assert bare.options == (("sata", "off"), ("smbus", "off"))
    usb = introspect.board(x86, "pc", options=[("usb", "on")])
    assert (1, 2, "piix3-usb-uhci") in [(p.slot, p.function, p.type) for p in usb.pci]


def test_many_boards_in_parallel_share_walks_within_a_family(x86: str) -> None:
    seen: list[str] = []
    got = introspect.boards(x86, ["pc-q35-7.1", "pc-q35-2.4", "isapc", "no-such-machine"],
                            jobs=2, progress=lambda m, _r: seen.append(m))
    assert sorted(seen) == sorted(got) == sorted(["pc-q35-7.1", "pc-q35-2.4", "isapc",
                                                  "no-such-machine"])
    assert isinstance(got["isapc"], Board) and got["isapc"].root_bus == ""
    assert board_to_json(got["pc-q35-2.4"]) == board_to_json(got["pc-q35-7.1"])  # type: ignore[arg-type]
    err = got["no-such-machine"]
    assert isinstance(err, IntrospectionError) and err.cacheable
    assert "no-such-machine" in str(err) and "unsupported machine type" in str(err)


@pytest.mark.parametrize(("name", "arch", "machine", "root"), [
    ("qemu-system-aarch64", "aarch64", "virt", ("pcie.0", "PCIE", False)),
    ("qemu-system-riscv64", "riscv64", "virt", ("pcie.0", "PCIE", False)),
    ("qemu-system-ppc64", "ppc64", "pseries", ("pci.0", "PCI", True)),
    ("qemu-system-s390x", "s390x", "s390-ccw-virtio", ("pci.0", "PCI", True)),
])
def test_other_arches_match_the_shipped_table(name: str, arch: str, machine: str,
                                              root: tuple[str, str, bool]) -> None:
    binary = need_qemu(name)
    fresh = introspect.board(binary, machine)
    assert (fresh.root_bus, fresh.root_kind, fresh.root_hotplug) == root
    shipped = embedded()[arch].table_board(fresh.machine)
    assert shipped is not None and board_to_json(fresh) == board_to_json(shipped)


# ---- faults: a clear message naming binary and machine ---------------------------------------


def test_no_qemu_at_all(tmp_path: Path) -> None:
    missing = str(tmp_path / "qemu-system-nothing")
    with pytest.raises(IntrospectionError) as exc:
        introspect.board(missing, "pc")
    assert str(exc.value).startswith(f"{missing} -machine pc: cannot start QEMU")
    assert not exc.value.cacheable


def test_qemu_that_refuses_the_machine(tmp_path: Path) -> None:
    binary = fake_exits(tmp_path, "-machine bogus: unsupported machine type")
    with pytest.raises(IntrospectionError) as exc:
        introspect.board(binary, "bogus")
    message = str(exc.value)
    assert message.startswith(f"{binary} -machine bogus: ")
    assert "unsupported machine type" in message and exc.value.cacheable


def test_real_qemu_refusing_an_option(x86: str) -> None:
    with pytest.raises(IntrospectionError) as exc:
        introspect.board(x86, "q35", options=[("no-such-knob", "on")])
    assert "-machine q35,no-such-knob=on:" in str(exc.value)
    assert "no-such-knob" in exc.value.reason and exc.value.cacheable


def test_qemu_that_hangs_is_killed_after_the_timeout(tmp_path: Path) -> None:
    binary = fake_hangs(tmp_path)
    start = time.monotonic()
    with pytest.raises(IntrospectionError) as exc:
        introspect.board(binary, "pc", timeout=0.5)
    assert time.monotonic() - start < 3
    assert str(exc.value) == f"{binary} -machine pc: QEMU gave no answer within 0.5 s; killed"
    assert not exc.value.cacheable
    pid = int((tmp_path / "pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_qemu_killed_in_the_middle_of_the_walk(tmp_path: Path) -> None:
    binary = fake_dies(tmp_path, after=3)
    with pytest.raises(IntrospectionError) as exc:
        introspect.board(binary, "pc")
    assert str(exc.value).startswith(
        f"{binary} -machine pc: QEMU was killed by signal 9 while being introspected")
    assert not exc.value.cacheable


def test_real_qemu_killed_mid_walk(x86: str, monkeypatch: pytest.MonkeyPatch) -> None:
    original = introspect._Qemu.execute
    calls = 0

    async def execute(self: introspect._Qemu, cmd: str, args: dict[str, object] | None = None
                      ) -> object:
        nonlocal calls
        calls += 1
        if calls == 8:
            self.kill()
        return await original(self, cmd, args)

    monkeypatch.setattr(introspect._Qemu, "execute", execute)
    with pytest.raises(IntrospectionError) as exc:
        introspect.board(x86, "q35")
    assert "-machine q35: QEMU was killed by signal 9" in str(exc.value)


def test_errors_are_augment_errors_with_plain_text(tmp_path: Path) -> None:
    from augmenter.errors import AugmentError

    err = IntrospectionError("/usr/bin/qemu-system-x86_64", "pc", "it broke", cacheable=True)
    assert isinstance(err, AugmentError)
    assert json.dumps(str(err)) == '"/usr/bin/qemu-system-x86_64 -machine pc: it broke"'


def test_fingerprint_ignores_property_values_but_not_structure() -> None:
    a = 'bus: pci.0\n  type PCI\n  dev: e1000, id ""\n    addr = 03.0\n    mac = "x"\n'
    b = a.replace('"x"', '"y"')
    c = a.replace("03.0", "04.0")
    assert introspect.fingerprint(a) == introspect.fingerprint(b) != introspect.fingerprint(c)


def test_a_qemu_that_answers_nonsense(tmp_path: Path) -> None:
    from qemu_env import fake_babbles

    binary = fake_babbles(tmp_path)
    with pytest.raises(IntrospectionError, match=r"-machine none: unexpected reply from QEMU"):
        introspect.catalogue(binary)


def test_a_missing_qemu_skips_here_and_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must install it"):
        need_qemu("qemu-system-s390x")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="Debian package qemu-system-s390x"):
        need_qemu("qemu-system-s390x")
