"""Where the command's outputs go, and how they get there without losing anything.

Every output (``-o FILE``, ``-o DIR/``, ``--in-place``, ``--graph``) is checked before any is
written (:func:`target_for`), written to a temporary file beside its target, and renamed over
it only once every output of the run is on disk (:class:`Staged`). The rules (issue 18,
Build 5; the README's security section):

* a target that is a directory, a device or a FIFO is refused (renaming over ``/dev/null``
  would replace the device node);
* a symbolic link is followed only in a folder nobody else may write to: in a world- or
  group-writable folder (``/tmp``) it could have been planted to aim a root run at any file;
  nor is another user's file replaced there (the new file would be given its owner, who
  planted it to receive the output);
* a file with several hard links is rewritten in place (its links keep sharing it; the
  rewrite is then not atomic, and a warning says so), a file with one link is replaced
  atomically;
* a read-only file is refused unless ``--force``;
* a temporary file is named ``.TARGET.PID-N.tmp``; one whose process is gone (killed with
  SIGKILL, or by a power cut) is removed by the next run that writes into its folder.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..process import sigint

NEW_FILE_MODE = 0o600  # a new output: its owner's only (a definition may hold passwords)
_STALE = re.compile(r"^\..+\.(\d+)-[A-Za-z0-9_]+\.tmp$")


class TargetError(OSError):
    """An output that must not be written where it was asked to go."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(errno.EPERM, reason, str(path))


@dataclass(frozen=True)
class Target:
    """Where one output goes: ``path`` (a symlink's target when it was followed), and whether
    the file is rewritten in place (it has several hard links) rather than replaced."""

    path: Path
    in_place: bool = False
    links: int = 1


def _others_may_write(folder: Path) -> bool:
    try:
        mode = os.stat(folder).st_mode
    except OSError:
        return True  # cannot tell: do not follow
    return bool(mode & (stat.S_IWGRP | stat.S_IWOTH))


def target_for(path: Path, force: bool = False, keep_links: bool = False) -> Target:
    """Check where an output may be written, before anything is (see the module docstring).
    ``keep_links``: ``--in-place``, where a file with several hard links is rewritten in
    place. Raises :class:`TargetError` (or an ``OSError`` from ``lstat``) naming the path."""
    for _ in range(40):  # symlinks to symlinks, as the kernel allows them
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            folder = path.parent if str(path.parent) else Path(".")
            if not folder.is_dir():
                raise FileNotFoundError(errno.ENOENT, f"no folder {folder}", str(path)) from None
            return Target(path)
        if stat.S_ISLNK(st.st_mode):
            if _others_may_write(path.parent if str(path.parent) else Path(".")):
                raise TargetError(path, "is a symbolic link in a folder others can write: "
                                  "not followed (write to the file it names instead)")
            path = path.parent / os.readlink(path)
            continue
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        if not stat.S_ISREG(st.st_mode):
            raise TargetError(path, "is not a regular file (a device, FIFO or socket)")
        if st.st_uid != os.geteuid() and _others_may_write(
                path.parent if str(path.parent) else Path(".")):
            raise TargetError(path, "is another user's file in a folder others can write: not "
                              "replaced (it would be given the output, and its owner)")
        if not st.st_mode & 0o222 and not force:
            raise TargetError(path, "is read-only (--force rewrites it)")
        if keep_links and st.st_nlink > 1:
            return Target(path, in_place=True, links=st.st_nlink)
        return Target(path)
    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), str(path))


class Staged:
    """Files written next to their targets and put in place together, after one sync.

    Each file is written to a temporary name in the target's folder and renamed only once its
    bytes are on disk, so a crash leaves either the old file or the new one, never a torn one.
    For one file that costs an fsync; for a batch (``-o DIR/``, ``--in-place`` on many files),
    one ``sync`` covers every temporary file, which is several times cheaper than an fsync
    each. A target with several hard links is instead rewritten in place from its temporary
    file at commit. Whatever was not committed (an error, a signal) is removed.
    """

    def __init__(self, warn: Callable[[str], None] | None = None) -> None:
        self._pending: list[tuple[str, Target]] = []
        self._swept: set[Path] = set()
        self._warn = warn

    def add(self, path: Path | Target, data: bytes) -> None:
        target = path if isinstance(path, Target) else target_for(Path(path))
        folder = target.path.parent
        if folder not in self._swept:
            self._swept.add(folder)
            sweep(folder)
        with sigint.held():  # a signal between the two would leave the file behind
            fd, tmp = _create_beside(target.path)
            self._pending.append((tmp, target))
        with os.fdopen(fd, "wb") as fh:
            if not target.in_place:
                _copy_mode_and_owner(fh.fileno(), target.path)
            fh.write(data)

    def commit(self) -> None:
        """Put every staged file in place, once its bytes are on disk."""
        if len(self._pending) == 1:
            fd = os.open(self._pending[0][0], os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        elif self._pending:
            os.sync()
        folders: set[Path] = set()
        done = 0
        try:
            for tmp, target in self._pending:  # in order: of two outputs to one name, the last
                if target.in_place:
                    _rewrite_in_place(tmp, target.path)
                    if self._warn is not None:
                        self._warn(f"{target.path} has {target.links} hard links: rewritten in "
                                   "place to keep them (not atomically)")
                else:
                    os.replace(tmp, target.path)
                    folders.add(target.path.parent)
                done += 1
        finally:
            del self._pending[:done]
        for folder in folders:  # the renames themselves, on disk
            with contextlib.suppress(OSError):
                fd = os.open(folder, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)

    def discard(self) -> None:
        for tmp, _ in self._pending:
            Path(tmp).unlink(missing_ok=True)
        self._pending.clear()


def _copy_mode_and_owner(fd: int, target: Path) -> None:
    """Give a new file the mode and, where we may, the owner of the file it replaces."""
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        return
    new = os.fstat(fd)  # set only what differs: each is a journal write
    if new.st_mode & 0o7777 != st.st_mode & 0o7777:
        os.fchmod(fd, st.st_mode & 0o7777)
    if (new.st_uid, new.st_gid) != (st.st_uid, st.st_gid):
        with contextlib.suppress(PermissionError):  # not ours to give away
            os.fchown(fd, st.st_uid, st.st_gid)


def _rewrite_in_place(tmp: str, target: Path) -> None:
    """Copy ``tmp`` over ``target``'s own bytes (its inode, so every hard link), then remove
    ``tmp``. ``O_NOFOLLOW``: the target was checked as a regular file, and stays one."""
    with open(tmp, "rb") as src:
        fd = os.open(target, os.O_WRONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
        try:
            size = 0
            while chunk := src.read(1 << 20):
                _write_all(fd, chunk)
                size += len(chunk)
            os.ftruncate(fd, size)
            os.fsync(fd)
        finally:
            os.close(fd)
    os.unlink(tmp)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


_serial = itertools.count()


def _create_beside(target: Path) -> tuple[int, str]:
    """A new, empty temporary file in ``target``'s folder: (descriptor, path).

    The name is the target's with this process's id and a serial number, created exclusively
    (``O_EXCL`` neither reuses nor follows anything already there); a name that is taken falls
    back to :func:`tempfile.mkstemp`, still with the process's id in it (see :func:`sweep`).
    A new output is readable by its owner only (``0600``, as ``mkstemp`` makes it): a domain
    definition may hold passwords (VNC, SPICE, iSCSI).
    """
    tmp = target.with_name(f".{target.name}.{os.getpid()}-{next(_serial)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    try:
        return os.open(tmp, flags, NEW_FILE_MODE), str(tmp)
    except FileExistsError:
        return tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}-", suffix=".tmp",
                                dir=target.parent)


def sweep(folder: Path) -> None:
    """Remove the temporary files of augment runs that died in ``folder`` (SIGKILL cannot be
    caught): named ``.TARGET.PID-N.tmp``, regular, ours, and their process is gone."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    me = os.geteuid()
    for entry in entries:
        match = _STALE.match(entry.name)
        if match is None:
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode) or st.st_uid != me or _alive(int(match[1])):
            continue
        with contextlib.suppress(OSError):
            os.unlink(entry.path)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


@contextlib.contextmanager
def staged(warn: Callable[[str], None] | None = None) -> Iterator[Staged]:
    """A :class:`Staged` set whose uncommitted files are removed however the block ends."""
    files = Staged(warn)
    try:
        yield files
    finally:
        files.discard()


def write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, then rename: never a half-written file."""
    with staged() as files:
        files.add(path, data)
        files.commit()
