"""The board cache as an attacker or an accident leaves it (issue 18, items 5 and 17, Build 7).

Entries are read through a schema with bounds (depth, sizes, numbers) and anything outside it
is a miss, never a crash; an alias must name a machine of its own family; the cache folder is
created private, is not used when someone else owns it or may write to it, and pruning never
follows a symbolic link. Cached error text is escaped when printed (``test_messages.py``).
"""

from __future__ import annotations

import json
import os
import pwd
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from hardening import EMBEDDED, assert_clean_end, child_env, probe
from qemu_env import write_script

import augmenter
from augmenter.boards import lookup as boards
from augmenter.boards.cache import BinaryId, BoardCache, cache_root, entry_name
from augmenter.boards.records import Catalogue, board_to_json, embedded
from augmenter.pipeline import Options

AUTO = [*EMBEDDED[:-2], "--boards", "auto"]
Q35 = ("<domain type='kvm'><name>g</name><memory>65536</memory>"
       "<os><type arch='x86_64' machine='q35'>hvm</type>"
       "</os><devices><interface type='user'><model type='virtio'/></interface></devices>"
       "</domain>\n")
X86 = embedded()["x86_64"]
BOARD = board_to_json(X86.table_board("pc-q35-7.2"))  # type: ignore[arg-type]
EXPECTED = augmenter.run(Q35, Options(boards="embedded")).to_bytes()  # QEMU 7.2's q35


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / ".cache-home"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    boards.clear_memo()
    yield home / "augmenter"
    boards.clear_memo()


def _catalogue(binary: str, **changes: object) -> dict[str, object]:
    cat = Catalogue(binary, X86.version, X86.package, X86.default_machine, X86.aliases,
                    tuple(sorted(X86.machines)), X86.device_types, X86.pcie_types,
                    X86.conventional_types).to_json()
    return {**cat, **changes}


def _fake_on_path(tmp_path: Path) -> tuple[str, dict[str, str]]:
    """A ``qemu-system-x86_64`` first on PATH that only fails (so a miss falls back to the
    embedded table, with a warning), and the environment that finds it."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    binary = write_script(bin_dir / "qemu-system-x86_64", "exit 1\n")
    env = child_env(tmp_path / ".cache-home")
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    return binary, env


def _envelope(bid: BinaryId, data_json: str) -> bytes:
    head = json.dumps({"schema": 1, "binary": bid.to_json(), "version": X86.version})
    return (head[:-1] + ', "data": ' + data_json + "}").encode()


def _with(path: list[object], value: object) -> dict[str, object]:
    """BOARD with the value at ``path`` (keys and list indexes) replaced."""
    doc = json.loads(json.dumps(BOARD))
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return {"board": doc}


DEPTH = 100_000
DAMAGED_BOARDS: dict[str, str] = {
    "nested-arrays": '{"board": ' + "[" * DEPTH + "]" * DEPTH + "}",
    "nested-objects": '{"board": ' + '{"a":' * DEPTH + "1" + "}" * DEPTH + "}",
    "function-10e18": json.dumps(_with(["pci_devices", 1, "function"], 10**18)),
    "function-9": json.dumps(_with(["pci_devices", 1, "function"], 9)),
    "slot-10e18": json.dumps(_with(["pci_devices", 1, "slot"], 10**18)),
    "slot-negative": json.dumps(_with(["pci_devices", 1, "slot"], -3)),
    "units-10e9": json.dumps(_with(["buses", 1, "units"], 10**9)),
    "addr-10e30": json.dumps(_with(["buses", 1, "devices", 0, "address"], {"addr": 10**30})),
    "a-200-MB-string": json.dumps(_with(["buses", 0, "name"], "x" * (20 << 20))),
    "float-slot": json.dumps(_with(["pci_devices", 1, "slot"], 1e300)),
    "bool-function": json.dumps(_with(["pci_devices", 1, "function"], True)),
}


@pytest.mark.parametrize("name", sorted(DAMAGED_BOARDS))
def test_a_damaged_board_entry_is_a_miss_not_a_crash(name: str, tmp_path: Path) -> None:
    binary, env = _fake_on_path(tmp_path)
    store, bid = BoardCache(), BinaryId.of(binary)
    store.store_catalogue(bid, {"catalogue": _catalogue(binary)}, version=X86.version)
    entry = store.dir_for(bid) / entry_name("pc-q35-7.2")
    entry.write_bytes(_envelope(bid, DAMAGED_BOARDS[name]))
    (tmp_path / "g.xml").write_text(Q35)
    m = probe([*AUTO, "g.xml"], tmp_path, env=env)
    assert_clean_end(m, codes=(0,))
    assert m.maxrss_kb < 400 * 1024, m.maxrss_kb
    assert m.stdout == EXPECTED


@pytest.mark.parametrize("aliases", [{"q35": "pc-i440fx-7.2", "pc": "pc-i440fx-7.2"},
                                     {"q35": "no-such-machine"}])
def test_an_alias_must_name_a_machine_of_its_family(aliases: dict[str, str],
                                                    tmp_path: Path) -> None:
    """A false alias would turn every q35 guest into an i440FX one: such a catalogue is not
    believed (QEMU is asked again; this one fails, so the shipped table answers)."""
    binary, env = _fake_on_path(tmp_path)
    store, bid = BoardCache(), BinaryId.of(binary)
    store.store_catalogue(bid, {"catalogue": _catalogue(binary, aliases=aliases)},
                          version=X86.version)
    store.store_board(bid, "pc-i440fx-7.2", (), {"board": board_to_json(
        X86.table_board("pc-i440fx-7.2"))}, version=X86.version)  # type: ignore[arg-type]
    (tmp_path / "g.xml").write_text(Q35)
    m = probe([*AUTO, "g.xml"], tmp_path, env=env)
    assert_clean_end(m, codes=(0,))
    assert m.stdout == EXPECTED


def test_pc_as_the_alias_of_q35_is_not_believed(tmp_path: Path) -> None:
    binary, env = _fake_on_path(tmp_path)
    store, bid = BoardCache(), BinaryId.of(binary)
    lie = _catalogue(binary, aliases={"pc": "pc-q35-7.2", "q35": "pc-q35-7.2"})
    store.store_catalogue(bid, {"catalogue": lie}, version=X86.version)
    store.store_board(bid, "pc-q35-7.2", (), {"board": BOARD}, version=X86.version)
    pc = Q35.replace("'q35'", "'pc'")
    (tmp_path / "g.xml").write_text(pc)
    m = probe([*AUTO, "g.xml"], tmp_path, env=env)
    assert_clean_end(m, codes=(0,))
    assert m.stdout == augmenter.run(pc, Options(boards="embedded")).to_bytes()


def test_a_true_catalogue_is_believed(tmp_path: Path) -> None:
    binary, env = _fake_on_path(tmp_path)
    store, bid = BoardCache(), BinaryId.of(binary)
    store.store_catalogue(bid, {"catalogue": _catalogue(binary)}, version=X86.version)
    store.store_board(bid, "pc-q35-7.2", (), {"board": BOARD}, version=X86.version)
    (tmp_path / "g.xml").write_text(Q35)
    m = probe([*AUTO, "g.xml"], tmp_path, env=env)
    assert_clean_end(m, codes=(0,), lines=0)  # no warning: the cache answered, QEMU never ran


@pytest.mark.slow  # writes and times a file past the entry bound
def test_a_huge_catalogue_file_is_not_read_whole(tmp_path: Path) -> None:
    binary, env = _fake_on_path(tmp_path)
    store, bid = BoardCache(), BinaryId.of(binary)
    store.store_catalogue(bid, {"catalogue": _catalogue(binary, package="x" * (300 << 20))},
                          version=X86.version)
    (tmp_path / "g.xml").write_text(Q35)
    m = probe([*AUTO, "g.xml"], tmp_path, env=env, timeout=30)
    assert_clean_end(m, codes=(0,))
    assert m.maxrss_kb < 200 * 1024, m.maxrss_kb


# ---- the folder -------------------------------------------------------------------------------


def test_the_cache_folder_is_private(tmp_path: Path, private_cache: Path) -> None:
    _, env = _fake_on_path(tmp_path)
    (tmp_path / "g.xml").write_text(Q35)
    m = probe([*AUTO, "g.xml"], tmp_path, env=env)
    assert m.returncode == 0, m.stderr
    for folder in [private_cache, *[p for p in private_cache.rglob("*") if p.is_dir()]]:
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


@pytest.mark.parametrize("how", ["world-writable", "someone-else's"])
def test_a_cache_folder_others_control_is_not_used(how: str, tmp_path: Path,
                                                   private_cache: Path) -> None:
    binary, env = _fake_on_path(tmp_path)
    store, bid = BoardCache(), BinaryId.of(binary)
    lie = _catalogue(binary, aliases={"q35": "pc-i440fx-7.2"})
    store.store_catalogue(bid, {"catalogue": lie}, version=X86.version)  # then handed over
    if how == "world-writable":
        private_cache.chmod(0o777)
    elif os.geteuid() == 0:
        os.chown(private_cache, 65534, 65534)
    else:  # only root may give a folder away; a folder others may write is the same risk
        private_cache.chmod(0o770)
    (tmp_path / "g.xml").write_text(Q35)
    m = probe([*AUTO, "g.xml"], tmp_path, env=env)
    assert_clean_end(m, codes=(0,), lines=2)  # the cache not used; this QEMU fails
    assert "not using the board cache" in m.stderr, m.stderr
    assert m.stdout == EXPECTED


def test_pruning_never_follows_a_symlink(tmp_path: Path, private_cache: Path) -> None:
    """Pruning drops the folders of earlier builds of the same binary; a symlink named like
    one, pointing at a folder with a matching catalogue, is removed as a link at most."""
    binary = write_script(tmp_path / "qemu-system-x86_64", "exit 1\n")
    store, bid = BoardCache(), BinaryId.of(binary)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "catalogue.json").write_text(json.dumps({"binary": {"path": bid.path}}))
    (victim / "precious.txt").write_text("keep")
    (private_cache / "boards").mkdir(parents=True)
    (private_cache / "boards" / "qemu-system-x86_64-00000000000000000000").symlink_to(victim)
    store.store_catalogue(bid, {"error": "x"})
    assert sorted(p.name for p in victim.iterdir()) == ["catalogue.json", "precious.txt"]


def test_pruning_drops_a_real_folder_of_an_earlier_build(tmp_path: Path,
                                                         private_cache: Path) -> None:
    binary = write_script(tmp_path / "qemu-system-x86_64", "exit 1\n")
    store, bid = BoardCache(), BinaryId.of(binary)
    old = private_cache / "boards" / "qemu-system-x86_64-00000000000000000000"
    old.mkdir(parents=True)
    (old / "catalogue.json").write_text(json.dumps({"binary": {"path": bid.path}}))
    (old / "board~pc.json").write_text("{}")
    store.store_catalogue(bid, {"error": "x"})
    assert not old.exists()


def test_without_home_the_cache_is_not_in_the_working_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """HOME unset and a user with no passwd entry (a container's uid): no ``./~`` folder."""
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.delenv("HOME", raising=False)

    def nobody(uid: int) -> pwd.struct_passwd:
        raise KeyError(uid)

    monkeypatch.setattr(pwd, "getpwuid", nobody)
    monkeypatch.chdir(tmp_path)
    binary = write_script(tmp_path / "qemu-system-x86_64", "exit 1\n")
    store = BoardCache()
    store.store_catalogue(BinaryId.of(binary), {"error": "x"})
    assert not (tmp_path / "~").exists()
    assert store.root is None or store.root.is_absolute()
    root = cache_root()
    assert root is None or root.is_absolute()
