"""The `augment-boards` command: list, show and refresh."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from qemu_env import fake_exits, fake_hangs, need_qemu
from typer.testing import CliRunner

from augmenter.boards import lookup
from augmenter.boards.cache import BinaryId, BoardCache
from augmenter.cli.boards import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    lookup.clear_memo()
    return tmp_path / "xdg-cache" / "augmenter"


def test_show_q35_json_agrees_with_qemu() -> None:
    """Host bridge 00.0, LPC 1f.0, AHCI 1f.2, SMBus 1f.3; the root bus is PCIe, no hotplug."""
    x86 = need_qemu("qemu-system-x86_64")
    result = runner.invoke(app, ["show", "q35", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["source"] == "qemu" and doc["emulator"] == x86
    assert doc["machine"].startswith("pc-q35-")
    assert doc["root_bus"] == {"name": "pcie.0", "kind": "PCIE", "hotplug": False}
    assert [(d["slot"], d["function"], d["type"], d["class"]) for d in doc["pci_devices"]] == [
        (0x00, 0, "mch", "host-bridge"),
        (0x1F, 0, "ICH9-LPC", "isa-bridge"),
        (0x1F, 2, "ich9-ahci", "sata-controller"),
        (0x1F, 3, "ICH9-SMB", "smbus"),
    ]
    root = next(b for b in doc["buses"] if b["name"] == "pcie.0")
    assert root["hotplug"] is False and root["owner"] == "q35-pcihost"


def test_show_draws_the_tree_with_addresses_and_free_functions() -> None:
    need_qemu("qemu-system-x86_64")
    result = runner.invoke(app, ["show", "pc"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "pc-i440fx-" in out and "pci.0 (PCI, hotplug)  root bus" in out
    assert "01.1  piix3-ide  ide-controller 8086:7010" in out
    assert "iobase=0x3f0  isa-fdc" in out
    assert "floppy-bus.0 (floppy-bus, no hotplug, 2 units)" in out
    assert "slots the board uses: 00.[0], 01.[0,1,3]" in out
    assert "free functions in those slots: 01.[2,4,5,6,7]" in out


def test_show_with_a_machine_option_is_cached_apart(private_cache: Path) -> None:
    x86 = need_qemu("qemu-system-x86_64")
    result = runner.invoke(app, ["show", "q35", "-o", "sata=off", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["options"] == {"sata": "off"}
    assert [(d["slot"], d["function"]) for d in doc["pci_devices"]] == [(0, 0), (31, 0), (31, 3)]
    entries = list(BoardCache().entries(BinaryId.of(x86)))
    assert (doc["machine"], (("sata", "off"),)) in entries


def test_show_from_the_embedded_table_needs_no_qemu() -> None:
    result = runner.invoke(app, ["show", "virt", "--arch", "aarch64", "--boards", "embedded",
                                 "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["source"] == "embedded" and doc["machine"] == "virt-7.2"
    assert doc["root_bus"]["kind"] == "PCIE"
    assert doc["pci_devices"][0]["type"] == "gpex-root"


def test_show_falls_back_with_a_warning_or_fails_in_qemu_mode(tmp_path: Path) -> None:
    binary = fake_hangs(tmp_path)
    auto = runner.invoke(app, ["show", "q35", "--emulator", binary, "--json", "--timeout", "0.5"])
    assert auto.exit_code == 0
    assert json.loads(auto.stdout)["source"] == "embedded"
    assert f"warning: {binary} -machine none: QEMU gave no answer" in auto.stderr
    strict = runner.invoke(app, ["show", "q35", "--emulator", binary, "--boards", "qemu",
                                 "--timeout", "0.5"])
    assert strict.exit_code == 1
    assert f"error: {binary} -machine none: QEMU gave no answer within" in strict.stderr


def test_show_unknown_machine() -> None:
    x86 = need_qemu("qemu-system-x86_64")
    result = runner.invoke(app, ["show", "pc-q35-0.1", "--boards", "qemu"])
    assert result.exit_code == 1
    assert result.stderr.strip() == (f"augment-boards: error: {x86} has no machine type "
                                      "'pc-q35-0.1'")


def test_list_shows_aliases_default_and_cache_state() -> None:
    x86 = need_qemu("qemu-system-x86_64")
    assert runner.invoke(app, ["show", "q35", "--json"]).exit_code == 0
    result = runner.invoke(app, ["list", "--emulator", x86, "--json"])
    assert result.exit_code == 0, result.output
    [entry] = json.loads(result.stdout)
    rows = {r["machine"]: r for r in entry["machines"]}
    q35 = next(r for r in rows.values() if "q35" in r["aliases"])
    assert q35["cached"] == "board"
    assert next(r for r in rows.values() if r["default"])["aliases"] == ["pc"]
    table = runner.invoke(app, ["list", "--emulator", x86])
    assert "1 cached" in table.stdout and "pc-q35-7.2" in table.stdout


def test_list_reports_a_broken_qemu(tmp_path: Path) -> None:
    binary = fake_exits(tmp_path, "-machine none: no")
    result = runner.invoke(app, ["list", "--emulator", binary])
    assert result.exit_code == 1
    assert f"error: {binary} -machine none: qemu-system-x86_64: -machine none: no" in result.stderr


def test_refresh_introspects_every_machine_type_into_the_cache() -> None:
    riscv = need_qemu("qemu-system-riscv64")  # 7 machine types: quick
    result = runner.invoke(app, ["refresh", "--emulator", riscv, "--jobs", "2"])
    assert result.exit_code == 0, result.output
    assert "introspected" in result.stderr and "7/7" in result.stderr
    listing = json.loads(runner.invoke(app, ["list", "--emulator", riscv, "--json"]).stdout)
    cached = {r["machine"]: r["cached"] for r in listing[0]["machines"]}
    assert cached["virt"] == "board" and cached["spike"] == "board"
    assert set(cached.values()) <= {"board", "failed"}  # icicle-kit needs firmware: failed
    assert "failed: " in result.stderr or set(cached.values()) == {"board"}


def test_refresh_with_a_missing_emulator(tmp_path: Path) -> None:
    result = runner.invoke(app, ["refresh", "--emulator", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert "does not exist or is not executable" in result.stderr
