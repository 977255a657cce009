"""The disk cache of boards, and the lookup order: cache, then QEMU, then the embedded table."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from qemu_env import fake_dies, fake_exits, fake_hangs, need_qemu, runs, write_script

from augmenter.boards import lookup as boards
from augmenter.boards.cache import BinaryId, BoardCache, cache_root, entry_name, parse_entry_name
from augmenter.boards.lookup import lookup
from augmenter.boards.records import BoardError, Catalogue, board_to_json, embedded


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Each test its own $XDG_CACHE_HOME, and no memoized lookups from other tests."""
    home = tmp_path / "xdg-cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    boards.clear_memo()
    yield home / "augmenter"
    boards.clear_memo()


@pytest.fixture
def binary(tmp_path: Path) -> str:
    """Something to key entries on: any file will do (it is only stat'ed)."""
    return write_script(tmp_path / "qemu-system-x86_64", "exit 1\n")


SAMPLE = {"board": board_to_json(embedded()["x86_64"].table_board("pc-q35-7.2"))}  # type: ignore[arg-type]


# ---- the store --------------------------------------------------------------------------------


def test_cache_lives_under_xdg_cache_home(private_cache: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    assert cache_root() == private_cache
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_root() == Path(os.path.expanduser("~")) / ".cache" / "augmenter"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # not absolute: ignored, per the spec
    assert cache_root() == Path(os.path.expanduser("~")) / ".cache" / "augmenter"


def test_entries_round_trip_keyed_by_machine_and_options(binary: str) -> None:
    store, bid = BoardCache(), BinaryId.of(binary)
    assert store.load_board(bid, "pc-q35-7.2") is None
    assert store.store_board(bid, "pc-q35-7.2", (), SAMPLE, version="7.2.22")
    assert store.store_board(bid, "pc-q35-7.2", (("sata", "off"),), {"error": "x"}, "7.2.22")
    plain = store.load_board(bid, "pc-q35-7.2", version="7.2.22")
    assert plain is not None and plain["board"] == SAMPLE["board"]
    sata = store.load_board(bid, "pc-q35-7.2", (("sata", "off"),), version="7.2.22")
    assert sata is not None and sata["error"] == "x"
    assert sorted(store.entries(bid)) == [("pc-q35-7.2", ()), ("pc-q35-7.2", (("sata", "off"),))]


def test_entry_names_survive_odd_characters() -> None:
    options = (("a", "b,c"), ("path", "/x/y~z"))
    name = entry_name("weird/machine~1", options)
    assert "/" not in name and parse_entry_name(name) == ("weird/machine~1", options)
    assert parse_entry_name("catalogue.json") is None


def test_another_qemu_version_or_build_misses(binary: str) -> None:
    store, bid = BoardCache(), BinaryId.of(binary)
    store.store_board(bid, "pc", (), SAMPLE, version="7.2.22")
    assert store.load_board(bid, "pc", version="8.0.0") is None
    time.sleep(0.01)
    Path(binary).write_text("#!/bin/sh\nexit 2\n")  # rebuilt: size and mtime change
    assert store.load_board(BinaryId.of(binary), "pc", version="7.2.22") is None


@pytest.mark.parametrize("damage", [
    b"", b"{", b'{"schema": 1, "binary"', b"\x00\xff garbage", b"[]", b'{"schema": 999}',
])
def test_corrupt_or_truncated_files_are_ignored_and_replaced(binary: str, damage: bytes) -> None:
    store, bid = BoardCache(), BinaryId.of(binary)
    store.store_board(bid, "pc", (), SAMPLE, version="7.2.22")
    path = store.dir_for(bid) / entry_name("pc")
    path.write_bytes(damage)
    assert store.load_board(bid, "pc", version="7.2.22") is None
    assert store.store_board(bid, "pc", (), SAMPLE, version="7.2.22")
    assert store.load_board(bid, "pc", version="7.2.22") is not None


def test_an_entry_of_another_binary_is_not_trusted(binary: str, tmp_path: Path) -> None:
    store, bid = BoardCache(), BinaryId.of(binary)
    other = BinaryId.of(write_script(tmp_path / "other", "exit 0\n"))
    store.store_board(other, "pc", (), SAMPLE, version="7.2.22")
    (store.dir_for(bid)).mkdir(parents=True)
    os.replace(store.dir_for(other) / entry_name("pc"), store.dir_for(bid) / entry_name("pc"))
    assert store.load_board(bid, "pc", version="7.2.22") is None


def test_an_unwritable_cache_costs_only_the_cache(binary: str, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    store = BoardCache(blocker / "augmenter")
    assert store.store_board(BinaryId.of(binary), "pc", (), SAMPLE) is False


def test_an_upgraded_binary_drops_the_old_entries(binary: str) -> None:
    store = BoardCache()
    old = BinaryId.of(binary)
    store.store_catalogue(old, {"error": "old"})
    store.store_board(old, "pc", (), SAMPLE)
    time.sleep(0.01)
    Path(binary).write_text("#!/bin/sh\nexit 3\n")
    new = BinaryId.of(binary)
    store.store_catalogue(new, {"error": "new"})
    assert not store.dir_for(old).exists() and store.dir_for(new).exists()


def _hammer(root: str, binary: str, worker: int, rounds: int) -> int:
    store, bid = BoardCache(Path(root)), BinaryId.of(binary)
    bad = 0
    for i in range(rounds):
        store.store_board(bid, "pc", (), SAMPLE, version="7.2.22")
        store.store_board(bid, f"m{worker}", (), {"error": f"{worker}-{i}"}, version="7.2.22")
        got = store.load_board(bid, "pc", version="7.2.22")
        if got is None or got["board"] != SAMPLE["board"]:
            bad += 1
    return bad


def test_many_processes_writing_at_once_never_tear_an_entry(binary: str,
                                                            private_cache: Path) -> None:
    with multiprocessing.get_context("fork").Pool(4) as pool:
        bad = pool.starmap(_hammer, [(str(private_cache), binary, w, 30) for w in range(4)])
    assert bad == [0] * 4
    folder = BoardCache(private_cache).dir_for(BinaryId.of(binary))
    assert not [p for p in folder.iterdir() if p.name.startswith(".tmp-")]
    assert len(list(folder.iterdir())) == 5


# ---- lookup: cache, QEMU, embedded ------------------------------------------------------------


def _seed(binary: str, store: BoardCache) -> None:
    """A cache that answers for ``binary`` as if QEMU 7.2 had been asked."""
    emu = embedded()["x86_64"]
    cat = Catalogue(binary, emu.version, emu.package, emu.default_machine, emu.aliases,
                    tuple(sorted(emu.machines)), emu.device_types, emu.pcie_types,
                    emu.conventional_types)
    bid = BinaryId.of(binary)
    store.store_catalogue(bid, {"catalogue": cat.to_json()}, version=cat.version)
    store.store_board(bid, "pc-q35-7.2", (), SAMPLE, version=cat.version)


def test_a_cached_board_never_starts_qemu(tmp_path: Path) -> None:
    binary = fake_exits(tmp_path)
    _seed(binary, BoardCache())
    warnings: list[str] = []
    emu = lookup("x86_64", binary, "qemu", warn=warnings.append)
    board = emu.board("pc-q35-7.2")
    assert emu.source == "qemu" and emu.binary == binary and warnings == []
    assert board is not None and board_to_json(board) == SAMPLE["board"]
    assert runs(tmp_path) == 0
    assert lookup("x86_64", binary, "qemu") is emu  # memoized: loaded once per process


def test_a_cached_sibling_spares_the_full_walk(tmp_path: Path) -> None:
    x86 = need_qemu("qemu-system-x86_64")
    emu = lookup("x86_64", x86, "qemu")
    q35 = emu.board("pc-q35-7.2")
    old = emu.board("pc-q35-2.4")
    assert q35 is not None and old is not None and old.machine == "pc-q35-2.4"
    assert board_to_json(old) == board_to_json(q35)
    boards.clear_memo()
    again = lookup("x86_64", x86, "qemu").board("pc-q35-2.4")  # now from the cache
    assert again == old


def test_no_qemu_falls_back_to_the_embedded_table_with_a_warning(tmp_path: Path) -> None:
    warnings: list[str] = []
    missing = str(tmp_path / "qemu-kvm")
    emu = lookup("x86_64", missing, "auto", warn=warnings.append)
    assert emu.source == "embedded" and emu.board("pc-q35-7.2") is not None
    assert warnings == [f"emulator '{missing}' does not exist or is not executable; "
                        f"using the embedded QEMU {emu.version} board table"]
    with pytest.raises(BoardError, match="does not exist"):
        lookup("x86_64", missing, "qemu")


def test_every_caller_is_told_of_a_fallback_not_only_the_first(tmp_path: Path) -> None:
    """The memo keeps the emulator, not the first caller's warn: a second document in the
    same process is told of the fallback too, through its own callback."""
    missing = str(tmp_path / "qemu-kvm")
    first: list[str] = []
    second: list[str] = []
    emu = lookup("x86_64", missing, "auto", warn=first.append)
    assert lookup("x86_64", missing, "auto", warn=second.append) is emu
    assert first == second and len(first) == 1 and "embedded" in first[0]


def test_every_caller_is_told_of_a_board_that_fell_back(tmp_path: Path) -> None:
    binary = fake_exits(tmp_path, "no such board today")
    _seed(binary, BoardCache())  # the catalogue and q35 are cached; i440fx is not
    told: dict[str, list[str]] = {"first": [], "second": []}
    for who in told:
        emu = lookup("x86_64", binary, "auto", warn=told[who].append)
        assert emu.board("pc-i440fx-7.2") is not None  # from the embedded table
        assert emu.board("pc-q35-7.2") is not None  # from the cache: nothing to say
    assert told["first"] == told["second"] and len(told["first"]) == 1
    assert "using the embedded QEMU" in told["first"][0]
    assert runs(tmp_path) == 1  # QEMU was asked once; the second caller heard the answer


def test_no_binary_on_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    warnings: list[str] = []
    assert lookup("i686", None, "auto", warn=warnings.append).source == "embedded"
    assert warnings[0].startswith("no QEMU for architecture 'i686': qemu-system-i386 not found")
    with pytest.raises(BoardError, match="qemu-system-i386 not found on PATH"):
        lookup("i686", None, "qemu")
    with pytest.raises(BoardError, match="no QEMU board table for architecture 'sparc'"):
        lookup("sparc", None, "auto")


def test_a_failing_qemu_is_cached_as_a_failure(tmp_path: Path) -> None:
    binary = fake_exits(tmp_path, "-machine none: could not load firmware")
    warnings: list[str] = []
    assert lookup("x86_64", binary, "auto", warn=warnings.append).source == "embedded"
    assert "could not load firmware" in warnings[0] and binary in warnings[0]
    boards.clear_memo()
    with pytest.raises(BoardError, match="could not load firmware"):
        lookup("x86_64", binary, "qemu")
    assert runs(tmp_path) == 1  # the second time, the cached failure answered


@pytest.mark.parametrize("make", [fake_hangs, fake_dies])
def test_a_hung_or_killed_qemu_leaves_no_cache_entry(tmp_path: Path, private_cache: Path,
                                                     make: object,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from augmenter.boards import introspect

    monkeypatch.setattr(introspect, "DEFAULT_TIMEOUT", 0.5)
    binary = make(tmp_path)  # type: ignore[operator]
    warnings: list[str] = []
    assert lookup("x86_64", binary, "auto", warn=warnings.append).source == "embedded"
    assert binary in warnings[0] and "-machine none" in warnings[0]
    files = [p for p in private_cache.rglob("*") if p.is_file()] if private_cache.exists() else []
    assert files == []


def test_a_qemu_killed_while_walking_a_board_leaves_no_entry(tmp_path: Path) -> None:
    binary = fake_dies(tmp_path, after=4)
    _seed(binary, BoardCache())
    store, bid = BoardCache(), BinaryId.of(binary)
    (store.dir_for(bid) / entry_name("pc-q35-7.2")).unlink()
    with pytest.raises(BoardError, match=r"-machine pc-q35-7.2: QEMU was killed by signal 9"):
        lookup("x86_64", binary, "qemu").board("pc-q35-7.2")
    assert [p.name for p in store.dir_for(bid).iterdir()] == ["catalogue.json"]
    warnings: list[str] = []
    board = lookup("x86_64", binary, "auto", warn=warnings.append).board("pc-q35-7.2")
    assert board == embedded()["x86_64"].table_board("pc-q35-7.2") and len(warnings) == 1
    assert runs(tmp_path) == 2  # nothing cached: the second lookup asked QEMU again


def test_a_board_that_fails_falls_back_per_machine(tmp_path: Path) -> None:
    # a QEMU that answers the catalogue from the cache but cannot build boards
    binary = fake_exits(tmp_path, "-machine pc-q35-7.2: needs firmware")
    _seed(binary, BoardCache())
    store, bid = BoardCache(), BinaryId.of(binary)
    (store.dir_for(bid) / entry_name("pc-q35-7.2")).unlink()
    warnings: list[str] = []
    emu = lookup("x86_64", binary, "auto", warn=warnings.append)
    board = emu.board("pc-q35-7.2")
    assert board == embedded()["x86_64"].table_board("pc-q35-7.2")
    assert warnings == [f"{binary} -machine pc-q35-7.2: qemu-system-x86_64: -machine pc-q35-7.2:"
                        " needs firmware; Use -machine help to list supported machines; using"
                        f" the embedded QEMU {emu.version} board of pc-q35-7.2"]
    assert json.loads((store.dir_for(bid) / entry_name("pc-q35-7.2")).read_text())["data"][
        "error"].endswith("Use -machine help to list supported machines")
    with pytest.raises(BoardError, match="needs firmware"):
        lookup("x86_64", binary, "qemu").board("pc-q35-7.2")


def test_modes_are_checked() -> None:
    with pytest.raises(ValueError, match="auto, qemu, embedded"):
        lookup("x86_64", None, "fast")
    assert lookup("x86_64", None, "embedded") is embedded()["x86_64"]
    assert lookup("ppc64le", None, "embedded").arch == "ppc64le"


@pytest.mark.parametrize("bad", [
    {"board": {"buses": "not a list"}}, {"board": None}, {"board": []}, {"nothing": 1},
    {"board": {**SAMPLE["board"], "buses": [{"index": "zero"}]}},  # type: ignore[dict-item]
])
def test_a_cached_board_of_the_wrong_shape_is_introspected_again(
        tmp_path: Path, bad: dict[str, object]) -> None:
    """A hand-edited entry, or one of another version of the same schema, never crashes a
    run: it reads as a miss, QEMU is asked again (here a QEMU that fails, so the embedded
    table answers, with a warning)."""
    binary = fake_exits(tmp_path)
    store = BoardCache()
    _seed(binary, store)
    bid = BinaryId.of(binary)
    store.store_board(bid, "pc-q35-7.2", (), bad, version=embedded()["x86_64"].version)
    warnings: list[str] = []
    emu = lookup("x86_64", binary, "auto", warn=warnings.append)
    board = emu.board("pc-q35-7.2")
    assert board is not None and runs(tmp_path) >= 1
    assert warnings and "embedded" in warnings[-1]


def test_a_cached_catalogue_of_the_wrong_shape_is_introspected_again(tmp_path: Path) -> None:
    binary = fake_exits(tmp_path)
    store = BoardCache()
    store.store_catalogue(BinaryId.of(binary), {"catalogue": {"machines": 7}}, version="7.2")
    warnings: list[str] = []
    emu = lookup("x86_64", binary, "auto", warn=warnings.append)
    assert emu.source == "embedded" and runs(tmp_path) >= 1 and warnings
