"""The disk cache of introspected boards, under ``$XDG_CACHE_HOME/augmenter/``.

Layout: ``boards/<binary-name>-<identity digest>/`` holds ``catalogue.json`` (what the binary
offers) and one ``board~<machine>[~<options>].json`` per board, failures included. The identity
of a binary is its real path, device, inode, size and mtime: all free to read with one
``stat``, so a cache hit never starts QEMU. QEMU's ``query-version`` is stored with every entry
and an entry whose version differs from the catalogue's is ignored.

Every file is written to a temporary name in the same directory and renamed over the old one,
so a reader sees a whole file or none, and any number of processes may fill the cache at once
(the last writer of an entry wins; all of them wrote the same facts). A file that cannot be read
or parsed, or that describes another binary, counts as a miss and is replaced on the next store.
Writing never fails the caller: a read-only or full disk only costs the cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

SCHEMA = 2  # bump when the stored JSON changes meaning (2: catalogues say whether TCG runs)


def cache_root() -> Path:
    """``$XDG_CACHE_HOME/augmenter`` (``~/.cache/augmenter`` when it is unset or relative)."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not base or not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "augmenter"


@dataclass(frozen=True)
class BinaryId:
    """Who a QEMU binary is, as far as one ``stat`` can tell."""

    path: str  # real path
    dev: int
    ino: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, binary: str) -> BinaryId:
        """Raises OSError when the binary cannot be stat'ed."""
        real = os.path.realpath(binary)
        st = os.stat(real)
        return cls(real, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)

    def digest(self) -> str:
        text = json.dumps([SCHEMA, *asdict(self).values()])
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _q(text: str) -> str:
    return quote(text, safe="").replace("~", "%7E")


def entry_name(machine: str, options: tuple[tuple[str, str], ...] = ()) -> str:
    """The file name of one board entry; the options that change a board are part of it."""
    name = "board~" + _q(machine)
    if options:
        name += "~" + ",".join(f"{_q(k)}={_q(v)}" for k, v in sorted(options))
    return name + ".json"


def parse_entry_name(name: str) -> tuple[str, tuple[tuple[str, str], ...]] | None:
    """The inverse of :func:`entry_name`, or None for another file."""
    if not (name.startswith("board~") and name.endswith(".json")):
        return None
    machine, _, opts = name[len("board~"):-len(".json")].partition("~")
    pairs = (item.partition("=") for item in opts.split(",") if item)
    return unquote(machine), tuple((unquote(k), unquote(v)) for k, _, v in pairs)


class BoardCache:
    """Catalogues and boards of QEMU binaries on disk. See the module docstring."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else cache_root()

    def dir_for(self, bid: BinaryId) -> Path:
        return self.root / "boards" / f"{os.path.basename(bid.path)}-{bid.digest()}"

    # -- reading --------------------------------------------------------------------------

    def _read(self, path: Path, bid: BinaryId) -> dict[str, Any] | None:
        """The ``data`` of an entry file, or None if absent, unreadable, torn or foreign."""
        try:
            with open(path, "rb") as f:
                doc = json.loads(f.read())
        except (OSError, ValueError):
            return None
        if (not isinstance(doc, dict) or doc.get("schema") != SCHEMA
                or doc.get("binary") != bid.to_json() or not isinstance(doc.get("data"), dict)):
            return None
        data: dict[str, Any] = doc["data"]
        data["_version"] = doc.get("version")
        return data

    def load_catalogue(self, bid: BinaryId) -> dict[str, Any] | None:
        """``{"catalogue": {...}}`` or ``{"error": "..."}``, or None on a miss."""
        return self._read(self.dir_for(bid) / "catalogue.json", bid)

    def load_board(self, bid: BinaryId, machine: str, options: tuple[tuple[str, str], ...] = (),
                   version: str | None = None) -> dict[str, Any] | None:
        """``{"board": {...}}`` or ``{"error": "..."}``, or None on a miss (or when the entry
        was made by another QEMU version than ``version``)."""
        data = self._read(self.dir_for(bid) / entry_name(machine, options), bid)
        if data is None or (version is not None and data.get("_version") != version):
            return None
        return data

    def entries(self, bid: BinaryId) -> Iterator[tuple[str, tuple[tuple[str, str], ...]]]:
        """(machine, options) of every board file present for the binary (unvalidated)."""
        try:
            names = os.listdir(self.dir_for(bid))
        except OSError:
            return
        for name in sorted(names):
            parsed = parse_entry_name(name)
            if parsed is not None:
                yield parsed

    # -- writing --------------------------------------------------------------------------

    def _write(self, path: Path, bid: BinaryId, data: dict[str, Any],
               version: str | None) -> bool:
        doc = {"schema": SCHEMA, "binary": bid.to_json(), "version": version, "data": data}
        payload = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
        tmp = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=path.parent)
            with os.fdopen(fd, "wb") as f:
                f.write(payload)
            os.replace(tmp, path)
            return True
        except OSError:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            return False

    def store_catalogue(self, bid: BinaryId, data: dict[str, Any],
                        version: str | None = None) -> bool:
        """Store a catalogue (or a failure); True when it reached the disk."""
        stored = self._write(self.dir_for(bid) / "catalogue.json", bid, data, version)
        if stored:
            self._prune(bid)
        return stored

    def store_board(self, bid: BinaryId, machine: str, options: tuple[tuple[str, str], ...],
                    data: dict[str, Any], version: str | None = None) -> bool:
        """Store a board (or a failure); True when it reached the disk."""
        return self._write(self.dir_for(bid) / entry_name(machine, options), bid, data, version)

    def _prune(self, bid: BinaryId) -> None:
        """Drop the entries of earlier builds at the same path (an upgraded QEMU)."""
        mine = self.dir_for(bid)
        prefix = os.path.basename(bid.path) + "-"
        try:
            siblings = [p for p in mine.parent.iterdir() if p.name.startswith(prefix)]
        except OSError:
            return
        for other in siblings:
            if other == mine:
                continue
            try:
                with open(other / "catalogue.json", "rb") as f:
                    old = json.loads(f.read())
                if old.get("binary", {}).get("path") != bid.path:
                    continue
                for child in other.iterdir():
                    child.unlink()
                other.rmdir()
            except (OSError, ValueError, AttributeError):
                continue
