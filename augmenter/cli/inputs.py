"""Reading the command's inputs: bounded in size, and in time where nobody chose to wait.

Every input is read up to one byte past the size limit, so ``/dev/zero`` ends too. A regular
file, a block device and standard input (``-``, or a name for it such as ``/dev/stdin``) are
read as they come: the caller chose them. A FIFO, socket or character device named on the
command line may have nobody at the other end (a FIFO nobody writes to blocks its reader
forever), so each wait for more bytes is bounded by :data:`INPUT_WAIT` seconds, and an input
that goes quiet that long is an unreadable input (status 2), not a hang (issue 18).
"""

from __future__ import annotations

import errno
import os
import select
import stat
import sys

INPUT_WAIT = 5.0  # seconds a FIFO or device may stay silent before it counts as unreadable


def read_input(name: str, limit: int) -> bytes:
    """The input ``name`` (``-``: standard input), at most ``limit`` bytes. Raises OSError."""
    if name == "-":
        data: bytes = sys.stdin.buffer.read(limit)
        return data
    fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), name)
        if stat.S_ISREG(st.st_mode) or stat.S_ISBLK(st.st_mode) or _is_stdin(st):
            os.set_blocking(fd, True)
            return _read(fd, limit, None)
        return _read(fd, limit, INPUT_WAIT)
    finally:
        os.close(fd)


def _is_stdin(st: os.stat_result) -> bool:
    """Whether ``st`` is this process's own standard input (``/dev/stdin``, ``/dev/fd/0``)."""
    try:
        mine = os.fstat(0)
    except OSError:
        return False
    return (mine.st_dev, mine.st_ino) == (st.st_dev, st.st_ino)


def _read(fd: int, limit: int, wait: float | None) -> bytes:
    """Up to ``limit`` bytes from ``fd`` until end of file; with ``wait``, each pause longer
    than ``wait`` seconds ends the read with ``ETIMEDOUT``."""
    poller = select.poll() if wait is not None else None
    if poller is not None:
        poller.register(fd, select.POLLIN)
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        if poller is not None and not poller.poll(int(wait * 1000) if wait else 0):
            raise OSError(errno.ETIMEDOUT, f"nothing to read for {wait:g} s (a FIFO nobody "
                          "writes to?)")
        try:
            chunk = os.read(fd, min(1 << 20, limit - size))
        except BlockingIOError:
            continue
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
