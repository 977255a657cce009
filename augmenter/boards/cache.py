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
import pwd
import stat
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

SCHEMA = 3  # bump when the stored JSON changes meaning (2: max_cpus; 3: whether TCG runs)
MAX_ENTRY_BYTES = 4 << 20  # a catalogue is ~50 KB, a board ~10 KB: anything larger is not ours
FOLDER_MODE = 0o700  # the cache tells augmenter what to trust: its owner's only


def cache_root() -> Path | None:
    """``$XDG_CACHE_HOME/augmenter``, else ``~/.cache/augmenter`` (``$HOME``, else the user's
    home in the password database); None when there is no absolute home to put it in (a
    container's user with no ``$HOME`` and no passwd entry): then there is no cache, rather
    than one in a folder named ``~`` wherever the command happens to run."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if base and os.path.isabs(base):
        return Path(base) / "augmenter"
    home = os.environ.get("HOME", "")
    if not home or not os.path.isabs(home):
        try:
            home = pwd.getpwuid(os.geteuid()).pw_dir
        except (KeyError, OSError):
            return None
    if not home or not os.path.isabs(home):
        return None
    return Path(home) / ".cache" / "augmenter"


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
    """Catalogues and boards of QEMU binaries on disk. See the module docstring.

    The cache decides which boards augmenter believes, so it is used only when its folders
    are the user's own (owned by this user, writable by nobody else; created ``0700``) and
    never through a symbolic link below its root; otherwise :attr:`problem` says why, every
    read misses and every write is skipped. Entries are read only when they are regular files
    of this user, at most :data:`MAX_ENTRY_BYTES` long.
    """

    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else cache_root()
        self._checked: str | bool | None = False  # False: not yet; None: fine; str: why not

    @property
    def problem(self) -> str | None:
        """Why the cache is not used, or None when it is (or has no folder yet)."""
        if self._checked is False:
            self._checked = self._check()
        return self._checked if isinstance(self._checked, str) else None

    def _check(self) -> str | None:
        if self.root is None:
            return "there is no home folder to keep it in"
        for folder, follow in ((self.root, True), (self.root / "boards", False)):
            why = _foreign(folder, follow)
            if why:
                return f"{folder} {why}"
        return None

    @property
    def usable(self) -> bool:
        return self.root is not None and self.problem is None

    def dir_for(self, bid: BinaryId) -> Path:
        assert self.root is not None, "no cache folder"
        return self.root / "boards" / f"{os.path.basename(bid.path)}-{bid.digest()}"

    # -- reading --------------------------------------------------------------------------

    def _read(self, path: Path, bid: BinaryId) -> dict[str, Any] | None:
        """The ``data`` of an entry file, or None if absent, unreadable, torn, foreign, too
        large or too deep (JSON nested beyond Python's recursion limit)."""
        if not self.usable or _foreign(path.parent, follow=False):
            return None
        try:
            doc = json.loads(_read_entry(path))
        except (OSError, ValueError, RecursionError):
            return None
        if (not isinstance(doc, dict) or doc.get("schema") != SCHEMA
                or doc.get("binary") != bid.to_json() or not isinstance(doc.get("data"), dict)):
            return None
        data: dict[str, Any] = doc["data"]
        data["_version"] = doc.get("version")
        return data

    def load_catalogue(self, bid: BinaryId) -> dict[str, Any] | None:
        """``{"catalogue": {...}}`` or ``{"error": "..."}``, or None on a miss."""
        if self.root is None:
            return None
        return self._read(self.dir_for(bid) / "catalogue.json", bid)

    def load_board(self, bid: BinaryId, machine: str, options: tuple[tuple[str, str], ...] = (),
                   version: str | None = None) -> dict[str, Any] | None:
        """``{"board": {...}}`` or ``{"error": "..."}``, or None on a miss (or when the entry
        was made by another QEMU version than ``version``)."""
        if self.root is None:
            return None
        data = self._read(self.dir_for(bid) / entry_name(machine, options), bid)
        if data is None or (version is not None and data.get("_version") != version):
            return None
        return data

    def entries(self, bid: BinaryId) -> Iterator[tuple[str, tuple[tuple[str, str], ...]]]:
        """(machine, options) of every board file present for the binary (unvalidated)."""
        if not self.usable:
            return
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
        if self.root is None:
            return False
        try:
            _make_folders(path.parent)
            if not self.usable or _foreign(path.parent, follow=False):
                return False
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
        if self.root is None:
            return False
        stored = self._write(self.dir_for(bid) / "catalogue.json", bid, data, version)
        if stored:
            self._prune(bid)
        return stored

    def store_board(self, bid: BinaryId, machine: str, options: tuple[tuple[str, str], ...],
                    data: dict[str, Any], version: str | None = None) -> bool:
        """Store a board (or a failure); True when it reached the disk."""
        if self.root is None:
            return False
        return self._write(self.dir_for(bid) / entry_name(machine, options), bid, data, version)

    def _prune(self, bid: BinaryId) -> None:
        """Drop the entries of earlier builds at the same path (an upgraded QEMU).

        Each sibling folder is opened without following a symbolic link (``O_NOFOLLOW``) and
        emptied through that descriptor, so a link planted in its place, or swapped in while
        this runs, never leads the removal anywhere else; only regular files are removed."""
        mine = self.dir_for(bid)
        prefix = os.path.basename(bid.path) + "-"
        flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        try:
            parent = os.open(mine.parent, flags)
        except OSError:
            return
        try:
            for name in os.listdir(parent):
                if name.startswith(prefix) and name != mine.name:
                    with contextlib.suppress(OSError, ValueError, AttributeError):
                        _remove_build(parent, name, bid.path, flags)
        finally:
            os.close(parent)


def _remove_build(parent: int, name: str, path: str, flags: int) -> None:
    """Empty and remove the folder ``name`` (in ``parent``) when its catalogue is of the
    binary at ``path``. Raises OSError (a link, a foreign file: nothing is removed)."""
    folder = os.open(name, flags, dir_fd=parent)
    try:
        fd = os.open("catalogue.json", os.O_RDONLY | os.O_NOFOLLOW, dir_fd=folder)
        with os.fdopen(fd, "rb") as f:
            old = json.loads(f.read(MAX_ENTRY_BYTES))
        if old.get("binary", {}).get("path") != path:
            return
        for child in os.listdir(folder):
            if stat.S_ISREG(os.stat(child, dir_fd=folder, follow_symlinks=False).st_mode):
                os.unlink(child, dir_fd=folder)
    finally:
        os.close(folder)
    os.rmdir(name, dir_fd=parent)


def _make_folders(leaf: Path) -> None:
    """Create ``leaf`` and the folders above it that are missing, each ``0700``."""
    missing = []
    folder = leaf
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(folder, FOLDER_MODE)


def _foreign(folder: Path, follow: bool) -> str | None:
    """Why ``folder`` must not be trusted (another user's, writable by others, a link where
    none may be), or None (also when it does not exist yet)."""
    try:
        st = os.stat(folder) if follow else os.lstat(folder)
    except FileNotFoundError:
        return None
    except OSError as err:
        return f"cannot be read ({err.strerror})"
    if not stat.S_ISDIR(st.st_mode):
        return "is not a folder"
    if st.st_uid != os.geteuid():
        return f"belongs to another user (uid {st.st_uid})"
    if st.st_mode & 0o022:
        return "may be written by other users"
    return None


def _read_entry(path: Path) -> bytes:
    """An entry's bytes: a regular file of this user's, not a link, not too large."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if (not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid()
                or st.st_size > MAX_ENTRY_BYTES):
            raise OSError("not a cache entry")
        return f.read(MAX_ENTRY_BYTES + 1)
