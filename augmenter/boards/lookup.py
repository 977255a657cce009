"""Finding a board: the disk cache, then QEMU itself, then the table shipped in the package.

:func:`lookup` gives the :class:`~augmenter.boards.records.Emulator` for a guest's arch: from
the cache (:mod:`augmenter.boards.cache`), else by asking QEMU
(:mod:`augmenter.boards.introspect`, imported only when QEMU must be asked), else from the
embedded table (:func:`~augmenter.boards.records.embedded`), with a warning that says why.
Apart from :mod:`~augmenter.boards.records`, so that the introspection, which makes records,
does not import the module that calls it.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from .records import (
    Board,
    BoardError,
    Catalogue,
    Emulator,
    board_from_json,
    board_to_json,
    embedded,
    embedded_for,
    emulator_of,
    family_key,
)

if TYPE_CHECKING:
    from .cache import BinaryId, BoardCache


MODES = ("auto", "qemu", "embedded")
Mode = Literal["auto", "qemu", "embedded"]
Warn = Callable[[str], None]
_T = TypeVar("_T")

# libvirt guest arch -> QEMU binary, where the name is not simply qemu-system-ARCH
ARCH_BINARIES = {
    "i686": "qemu-system-i386",
    "armv6l": "qemu-system-arm",
    "armv7l": "qemu-system-arm",
    "ppc64le": "qemu-system-ppc64",
}


# ---- lookup: cache, then QEMU, then the embedded table --------------------------------------


def binary_for(arch: str) -> str:
    """The QEMU binary name for a libvirt guest arch (``i686`` -> ``qemu-system-i386``)."""
    return ARCH_BINARIES.get(arch, f"qemu-system-{arch}")


def find_binary(arch: str, emulator: str | None = None) -> str:
    """The path of the QEMU to ask: ``emulator`` if given, else the arch's binary on PATH.

    Raises :class:`BoardError` naming what was looked for."""
    if emulator:
        if os.sep in emulator:
            if os.path.isfile(emulator) and os.access(emulator, os.X_OK):
                return emulator
            raise BoardError(f"emulator '{emulator}' does not exist or is not executable")
        found = shutil.which(emulator)
        if found is None:
            raise BoardError(f"emulator '{emulator}' not found on PATH")
        return found
    name = binary_for(arch)
    found = shutil.which(name)
    if found is None:
        raise BoardError(f"no QEMU for architecture '{arch}': {name} not found on PATH")
    return found


def _stderr_warn(message: str) -> None:
    print(f"augment: warning: {message}", file=sys.stderr)


_LOOKUPS: dict[tuple[str, str | None, str], tuple[Emulator, tuple[str, ...]]] = {}
"""Each lookup's emulator and the warnings it gave, per (arch, emulator, mode)."""


def lookup(arch: str, emulator: str | None = None, mode: str = "auto",
           warn: Warn | None = None) -> Emulator:
    """The emulator (machine types, device types, boards) for a guest of ``arch``.

    ``mode``: ``"embedded"`` uses only the shipped table; ``"qemu"`` only the disk cache and
    QEMU itself (``emulator``, a path or a name, else ``qemu-system-ARCH`` on PATH), raising
    :class:`BoardError` when that fails; ``"auto"`` tries the cache and QEMU and falls back to
    the embedded table, calling ``warn`` (default: a line on stderr) with the reason. Boards are
    looked up when first asked for (:meth:`Emulator.board`), with the same order and fallback.
    The result is memoized per process: the same arguments never start QEMU twice, and every
    caller gets the warnings the first lookup gave, through its own ``warn``.
    """
    if mode not in MODES:
        raise ValueError(f"boards mode must be one of {', '.join(MODES)}, not {mode!r}")
    key = (arch, emulator, mode)
    hit = _LOOKUPS.get(key)
    if hit is None:
        notes: list[str] = []
        if mode == "embedded":
            emu = embedded_for(arch)
        else:
            try:
                emu = _from_qemu(arch, emulator, mode)
            except BoardError as err:
                if mode == "qemu":
                    raise
                emu = embedded_for(arch)
                notes.append(f"{err}; using the embedded QEMU {emu.version} board table")
        hit = _LOOKUPS[key] = (emu, tuple(notes))
    emu, said = hit
    for note in said:
        (warn or _stderr_warn)(note)
    return emu


def board(emu: Emulator, machine: str, warn: Warn | None = None) -> Board | None:
    """``emu.board(machine)``, its warnings (a fallback to the embedded table) told to ``warn``
    (default: a line on stderr) on every call, not only the first of the process."""
    found, notes = emu.board_and_notes(machine)
    for note in notes:
        (warn or _stderr_warn)(note)
    return found


def clear_memo() -> None:
    """Forget memoized lookups (tests, or a long-lived process after a QEMU upgrade)."""
    _LOOKUPS.clear()


def _from_qemu(arch: str, emulator: str | None, mode: str) -> Emulator:
    from .cache import BinaryId, BoardCache

    binary = find_binary(arch, emulator)
    try:
        bid = BinaryId.of(binary)
    except OSError as err:
        raise BoardError(f"cannot read {binary}: {err.strerror}") from None
    store = BoardCache()
    cat = load_catalogue(binary, bid, store)
    loader = _BoardLoader(arch, binary, bid, store, cat, mode)
    return emulator_of(arch, cat, layouts={}, layout_data={}, source="qemu", loader=loader)


def load_catalogue(binary: str, bid: BinaryId, store: BoardCache,
                   timeout: float | None = None) -> Catalogue:
    """The binary's catalogue from the cache, else from QEMU (and then into the cache).
    ``timeout``: seconds QEMU gets (default :data:`augmenter.boards.introspect.DEFAULT_TIMEOUT`)."""
    cached = _decoded(store.load_catalogue(bid), "catalogue", Catalogue.from_json)
    if cached is not None:
        return cached
    from . import introspect

    try:
        cat = introspect.catalogue(binary, timeout=timeout or introspect.DEFAULT_TIMEOUT)
    except introspect.IntrospectionError as err:
        if err.cacheable:
            store.store_catalogue(bid, {"error": str(err)})
        raise
    store.store_catalogue(bid, {"catalogue": cat.to_json()}, version=cat.version)
    return cat


def _decoded(entry: dict[str, Any] | None, key: str,
             decode: Callable[[Any], _T]) -> _T | None:
    """A cache entry's ``key`` decoded; None when there is none, or when it has a shape this
    version cannot read (hand-edited, or written by another version of the same schema): it is
    then introspected again and overwritten, never a crash. A cached failure is raised."""
    if entry is None:
        return None
    if "error" in entry:
        raise BoardError(str(entry["error"]))
    try:
        return decode(entry[key])
    except (KeyError, TypeError, ValueError, AttributeError, IndexError):
        return None


class _BoardLoader:
    """Emulator.board for an introspected emulator: cache, QEMU, then the embedded table."""

    def __init__(self, arch: str, binary: str, bid: BinaryId, store: BoardCache,
                 cat: Catalogue, mode: str) -> None:
        self.arch, self.binary, self.bid, self.store = arch, binary, bid, store
        self.cat, self.mode = cat, mode

    def __call__(self, machine: str) -> tuple[Board | None, tuple[str, ...]]:
        """The board, and the warning of a fallback to the embedded table."""
        try:
            return load_board(self.binary, self.bid, self.store, self.cat, machine), ()
        except BoardError as err:
            if self.mode == "qemu":
                raise
            fallback = embedded().get(self.arch)
            board = fallback.table_board(machine) if fallback is not None else None
            if fallback is None or board is None:
                return None, (f"{err}; the embedded table has no board for it either",)
            return board, (
                f"{err}; using the embedded QEMU {fallback.version} board of {machine}",)


def load_board(binary: str, bid: BinaryId, store: BoardCache, cat: Catalogue, machine: str,
               options: Iterable[tuple[str, str]] = (), timeout: float | None = None) -> Board:
    """One board from the cache, else from QEMU (then cached). Raises :class:`BoardError`.

    A cached board of another machine type of the same family serves as a reference: QEMU is
    then only asked for a fingerprint of the structure, not walked in full."""
    opts = tuple(sorted(options))
    cached = _decoded(store.load_board(bid, machine, opts, version=cat.version), "board",
                      functools.partial(board_from_json, machine))
    if cached is not None:
        return cached
    from . import introspect

    reference = _cached_sibling(store, bid, cat, machine, opts)
    try:
        board = introspect.board(binary, machine, options=opts, reference=reference,
                                 timeout=timeout or introspect.DEFAULT_TIMEOUT)
    except introspect.IntrospectionError as err:
        if err.cacheable:
            store.store_board(bid, machine, opts, {"error": str(err)}, version=cat.version)
        raise
    store.store_board(bid, machine, opts, {"board": board_to_json(board)}, version=cat.version)
    return board


def _cached_sibling(store: BoardCache, bid: BinaryId, cat: Catalogue, machine: str,
                    opts: tuple[tuple[str, str], ...]) -> Board | None:
    family = family_key(machine)
    if family == machine:
        return None
    for other in cat.machines:
        if other != machine and family_key(other) == family:
            entry = store.load_board(bid, other, opts, version=cat.version)
            if entry is not None and "board" in entry:
                sibling = _decoded(entry, "board", functools.partial(board_from_json, other))
                if sibling is not None:
                    return sibling
    return None
