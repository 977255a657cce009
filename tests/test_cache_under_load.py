"""The board cache under load (issue 9, part 3).

Twenty ``augment`` processes start at once on a cold cache (``XDG_CACHE_HOME`` in a temporary
folder), so each of them introspects the real QEMU and writes the same entries; then the entries
are truncated or overwritten with garbage and ten more processes run at once. Every run must
succeed with the same output, and afterwards every entry in the cache must be whole and valid:
no corrupt entry survives, no temporary file is left.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest
from hardening import AUGMENT, child_env
from qemu_env import need_qemu

from augmenter.boards.cache import SCHEMA, BinaryId, BoardCache, parse_entry_name
from augmenter.boards.records import Catalogue, board_from_json

pytestmark = pytest.mark.slow  # real QEMU or libvirt, processes or hypothesis: not fast

Q35 = """<domain type='kvm'>
  <name>load-q35</name>
  <memory unit='MiB'>512</memory>
  <os><type arch='x86_64' machine='q35'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'><source file='/x.qcow2'/><target dev='vda' bus='virtio'/></disk>
    <interface type='network'><source network='default'/><model type='e1000e'/></interface>
    <controller type='usb' model='qemu-xhci'/>
  </devices>
</domain>
"""
PC = Q35.replace("q35", "pc").replace("e1000e", "rtl8139")


def _run_at_once(folder: Path, cache_home: Path, names: list[str]) -> list[tuple[int, str, str]]:
    env = child_env(cache_home)
    procs = [subprocess.Popen([*AUGMENT, "--boards", "auto", name], cwd=folder, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name in names]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        results.append((proc.returncode, out, err))
    return results


def _entries(cache_home: Path) -> list[Path]:
    return sorted(p for p in (cache_home / "augmenter").rglob("*") if p.is_file())


def _assert_cache_sound(cache_home: Path, qemu: str) -> list[Path]:
    """Every file is a whole, valid entry of this QEMU, none records a failure, no temp file."""
    bid = BinaryId.of(qemu)
    store = BoardCache(cache_home / "augmenter")
    files = _entries(cache_home)
    assert files, "nothing was cached"
    leftovers = [p.name for p in files if p.name.startswith(".")]
    assert not leftovers, leftovers
    for path in files:
        assert path.parent == store.dir_for(bid), path
        doc = json.loads(path.read_bytes())
        assert doc["schema"] == SCHEMA and doc["binary"] == bid.to_json(), path
        assert "error" not in doc["data"], (path, doc["data"])
    cat_entry = store.load_catalogue(bid)
    assert cat_entry is not None and "catalogue" in cat_entry
    cat = Catalogue.from_json(cat_entry["catalogue"])
    boards = [parse_entry_name(p.name) for p in files if p.name != "catalogue.json"]
    assert boards and all(b is not None for b in boards), [p.name for p in files]
    for machine, options in (b for b in boards if b is not None):
        entry = store.load_board(bid, machine, options, version=cat.version)
        assert entry is not None and "board" in entry, machine
        board_from_json(machine, entry["board"])
    return files


def test_twenty_processes_on_a_cold_cache_then_damaged_entries(tmp_path: Path) -> None:
    qemu = need_qemu("qemu-system-x86_64")
    (tmp_path / "q35.xml").write_text(Q35)
    (tmp_path / "pc.xml").write_text(PC)
    cache_home = tmp_path / "cache-home"
    names = ["q35.xml", "pc.xml"] * 10

    results = _run_at_once(tmp_path, cache_home, names)
    for (code, _, err), name in zip(results, names, strict=True):
        assert code == 0 and "Traceback" not in err, (name, err[-2000:])
    outputs = {name: {out for (_, out, _), n in zip(results, names, strict=True) if n == name}
               for name in set(names)}
    assert all(len(outs) == 1 for outs in outputs.values()), "the runs disagree"
    files = _assert_cache_sound(cache_home, qemu)
    assert {p.name for p in files} >= {"catalogue.json"}
    assert len(files) >= 3  # the catalogue and the two boards

    # damage every entry: truncated, garbage, empty, valid JSON of the wrong shape
    rng = random.Random(3)
    damages = [lambda b: b[: len(b) // 2], lambda b: rng.randbytes(len(b)), lambda b: b"",
               lambda b: b'{"schema": 1, "binary": null}', lambda b: b"\x00" * 100]
    for i, path in enumerate(files):
        path.write_bytes(damages[i % len(damages)](path.read_bytes()))
    again = _run_at_once(tmp_path, cache_home, names[:10])
    for (code, out, err), name in zip(again, names[:10], strict=True):
        assert code == 0 and "Traceback" not in err, (name, err[-2000:])
        assert {out} == outputs[name], name
    _assert_cache_sound(cache_home, qemu)


# A valid envelope (schema, this binary's identity) around data of the wrong shape: what a
# half-upgraded augmenter or a bit flip could leave. Reported to the lead: boards.load_board and
# load_catalogue trust the data and crash with a traceback.
WRONG_SHAPES = {
    "board-is-a-string": ("board", lambda d: d["data"].__setitem__("board", "x")),
    "board-buses-null": ("board", lambda d: d["data"]["board"].__setitem__("buses", None)),
    "catalogue-empty": ("catalogue", lambda d: d["data"].__setitem__("catalogue", {})),
}


@pytest.fixture(scope="module")
def warm_cache(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A cache filled by one run on the q35 guest, and that run's output."""
    need_qemu("qemu-system-x86_64")
    folder = tmp_path_factory.mktemp("warm")
    (folder / "q35.xml").write_text(Q35)
    [(code, good, err)] = _run_at_once(folder, folder / "cache-home", ["q35.xml"])
    assert code == 0, err
    return folder / "cache-home", good


@pytest.mark.parametrize("name", sorted(WRONG_SHAPES))
def test_an_entry_of_the_wrong_shape_is_a_miss(name: str, tmp_path: Path,
                                               warm_cache: tuple[Path, str]) -> None:
    qemu = need_qemu("qemu-system-x86_64")
    (tmp_path / "q35.xml").write_text(Q35)
    cache_home = tmp_path / "cache-home"
    shutil.copytree(warm_cache[0], cache_home)
    kind, damage = WRONG_SHAPES[name]
    path = next(p for p in _entries(cache_home)
                if (p.name == "catalogue.json") == (kind == "catalogue"))
    doc = json.loads(path.read_bytes())
    damage(doc)
    path.write_text(json.dumps(doc))
    [(code, out, err)] = _run_at_once(tmp_path, cache_home, ["q35.xml"])
    assert code == 0 and "Traceback" not in err, err[-2000:]
    assert out == warm_cache[1]
    _assert_cache_sound(cache_home, qemu)
