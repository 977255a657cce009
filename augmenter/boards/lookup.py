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

from ..errors import printable
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
from .trust import HOW_TO_ALLOW

if TYPE_CHECKING:
    from .cache import BinaryId, BoardCache
    from .introspect import IntrospectionError


MODES = ("auto", "qemu", "embedded")
Mode = Literal["auto", "qemu", "embedded"]
Warn = Callable[[str], None]
_T = TypeVar("_T")

# Bumped when the introspection learns to describe boards it could not before (2: stand-ins for
# firmware files, builds without PCI, KVM-only builds, machine options QEMU suggests): a failure
# cached by an older one is a miss, and QEMU is asked again.
FAILURE_REVISION = 2

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
    """The path of the QEMU to ask: ``emulator`` if given, else the arch's binary on PATH
    (only where PATH gives an absolute path to it: a relative entry depends on the working
    folder, which a hook does not choose).

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
    path = os.pathsep.join(p for p in os.environ.get("PATH", os.defpath).split(os.pathsep)
                           if os.path.isabs(p))
    found = shutil.which(name, path=path)
    if found is None:
        raise BoardError(f"no QEMU for architecture '{arch}': {name} not found on PATH")
    return found


def _stderr_warn(message: str) -> None:
    print(printable(f"augment: warning: {message}"), file=sys.stderr)


_LOOKUPS: dict[tuple[str, str | None, str, float | None, str | None], Emulator] = {}


def lookup(arch: str, emulator: str | None = None, mode: str = "auto",
           warn: Warn | None = None, timeout: float | None = None,
           not_run: str | None = None) -> Emulator:
    """The emulator (machine types, device types, boards) for a guest of ``arch``.

    ``mode``: ``"embedded"`` uses only the shipped table; ``"qemu"`` only the disk cache and
    QEMU itself (``emulator``, a path or a name, else ``qemu-system-ARCH`` on PATH), raising
    :class:`BoardError` when that fails; ``"auto"`` tries the cache and QEMU and falls back to
    the embedded table, calling ``warn`` (default: a line on stderr) with the reason. Boards are
    looked up when first asked for (:meth:`Emulator.board`), with the same order and fallback;
    where none can be had, :attr:`Emulator.failures` says why. ``timeout``: seconds each QEMU
    gets (default :data:`augmenter.boards.introspect.DEFAULT_TIMEOUT`). The result is memoized
    per process: the same arguments never start QEMU twice.

    ``not_run``: why ``emulator`` must not be run (:mod:`augmenter.boards.trust`): its
    catalogue and boards then come from the cache only, and what the cache lacks from the
    embedded table (``auto``, with a warning) or nowhere (``qemu``: :class:`BoardError`).
    """
    if mode not in MODES:
        raise ValueError(f"boards mode must be one of {', '.join(MODES)}, not {mode!r}")
    key = (arch, emulator, mode, timeout, not_run)
    hit = _LOOKUPS.get(key)
    if hit is not None:
        return hit
    report = warn or _stderr_warn
    if mode == "embedded":
        emu = embedded_for(arch)
    else:
        try:
            emu = _from_qemu(arch, emulator, mode, report, timeout, not_run)
        except BoardError as err:
            if mode == "qemu":
                raise
            emu = embedded_for(arch)
            report(f"{err}; using the embedded QEMU {emu.version} board table")
    _LOOKUPS[key] = emu
    return emu


def clear_memo() -> None:
    """Forget memoized lookups (tests, or a long-lived process after a QEMU upgrade)."""
    _LOOKUPS.clear()


def _from_qemu(arch: str, emulator: str | None, mode: str, report: Warn,
               timeout: float | None = None, not_run: str | None = None) -> Emulator:
    from .cache import BinaryId, BoardCache

    if not_run is not None and emulator is not None:
        binary = emulator  # only stat'ed, for the cache's key
    else:
        binary = find_binary(arch, emulator)
    try:
        bid = BinaryId.of(binary)
    except OSError as err:
        raise BoardError(f"cannot read {binary}: {err.strerror}") from None
    store = BoardCache()
    problem = store.problem
    if problem is not None and store.root is not None and problem not in _REPORTED:
        _REPORTED.add(problem)
        report(f"not using the board cache: {problem}")
    cat = load_catalogue(binary, bid, store, timeout, not_run=not_run)
    if not_run is not None:
        report(f"{_not_run(binary, not_run)}; using its boards from the cache")
    failures: dict[str, str] = {}
    loader = _BoardLoader(arch, binary, bid, store, cat, mode, report, failures, timeout,
                          not_run)
    return emulator_of(arch, cat, layouts={}, layout_data={}, source="qemu", loader=loader,
                       failures=failures)


def load_catalogue(binary: str, bid: BinaryId, store: BoardCache,
                   timeout: float | None = None, not_run: str | None = None) -> Catalogue:
    """The binary's catalogue from the cache, else from QEMU (and then into the cache).
    ``timeout``: seconds QEMU gets (default :data:`augmenter.boards.introspect.DEFAULT_TIMEOUT`);
    ``not_run``: why QEMU must not be asked (a cache miss is then a :class:`BoardError`)."""
    cached = _decoded(store.load_catalogue(bid), "catalogue", Catalogue.from_json)
    if cached is not None and aliases_agree(cached):
        return cached
    if not_run is not None:
        raise BoardError(_not_run(binary, not_run))
    from . import introspect

    try:
        cat = introspect.catalogue(binary, timeout=timeout or introspect.DEFAULT_TIMEOUT)
    except introspect.IntrospectionError as err:
        if err.cacheable:
            store.store_catalogue(bid, failure_entry(err))
        raise
    store.store_catalogue(bid, {"catalogue": cat.to_json()}, version=cat.version)
    return cat


_REPORTED: set[str] = set()  # cache problems already told, once per process


def aliases_agree(cat: Catalogue) -> bool:
    """Whether the catalogue's aliases name machines of the families the shipped table's
    aliases of the same names do (``q35`` is a ``pc-q35`` machine, ``pc`` a ``pc-i440fx``).
    A cached catalogue that says otherwise is not believed: one edited alias would turn
    every q35 guest into an i440FX one."""
    families = _alias_families()
    return all(families.get(alias, family_key(target)) == family_key(target)
               for alias, target in cat.aliases.items())


@functools.cache
def _alias_families() -> dict[str, str]:
    return {alias: family_key(target) for emu in embedded().values()
            for alias, target in emu.aliases.items()}


def _decoded(entry: dict[str, Any] | None, key: str,
             decode: Callable[[Any], _T]) -> _T | None:
    """A cache entry's ``key`` decoded; None when there is none, or when it has a shape this
    version cannot read (hand-edited, or written by another version of the same schema): it is
    then introspected again and overwritten, never a crash. A cached failure is raised."""
    if entry is None:
        return None
    if "error" in entry:
        error = entry["error"]
        if not isinstance(error, str) or len(error) > 2000:
            return None
        if entry.get("revision") != FAILURE_REVISION:
            return None  # an older introspection's failure: ask QEMU again
        raise BoardError(error)
    try:
        return decode(entry[key])
    except (KeyError, TypeError, ValueError, AttributeError, IndexError):
        return None


def failure_entry(err: IntrospectionError) -> dict[str, Any]:
    """What the cache keeps of a failure QEMU will repeat: the message, its kind ("failed",
    "needs firmware") and the introspection's :data:`FAILURE_REVISION`."""
    return {"error": str(err), "kind": err.kind, "revision": FAILURE_REVISION}


def _not_run(binary: str, why: str) -> str:
    return f"emulator '{binary}' named by the domain is not run ({why}; {HOW_TO_ALLOW})"


class _BoardLoader:
    """Emulator.board for an introspected emulator: cache, QEMU, then the embedded table.
    Where none has the board, the reason goes into ``failures`` (the emulator's)."""

    def __init__(self, arch: str, binary: str, bid: BinaryId, store: BoardCache,
                 cat: Catalogue, mode: str, report: Warn, failures: dict[str, str],
                 timeout: float | None = None, not_run: str | None = None) -> None:
        self.arch, self.binary, self.bid, self.store = arch, binary, bid, store
        self.cat, self.mode, self.report = cat, mode, report
        self.failures, self.timeout, self.not_run = failures, timeout, not_run

    def __call__(self, machine: str) -> Board | None:
        try:
            return load_board(self.binary, self.bid, self.store, self.cat, machine,
                              timeout=self.timeout, not_run=self.not_run)
        except BoardError as err:
            if self.mode == "qemu":
                raise
            fallback = embedded().get(self.arch)
            board = fallback.table_board(machine) if fallback is not None else None
            if fallback is None or board is None:
                self.failures[machine] = f"{err}; the embedded table has no board for it either"
                self.report(self.failures[machine])
                return None
            self.report(f"{err}; using the embedded QEMU {fallback.version} board of {machine}")
            return board


def load_board(binary: str, bid: BinaryId, store: BoardCache, cat: Catalogue, machine: str,
               options: Iterable[tuple[str, str]] = (), timeout: float | None = None,
               not_run: str | None = None) -> Board:
    """One board from the cache, else from QEMU (then cached). Raises :class:`BoardError`.

    A cached board of another machine type of the same family serves as a reference: QEMU is
    then only asked for a fingerprint of the structure, not walked in full."""
    opts = tuple(sorted(options))
    cached = _decoded(store.load_board(bid, machine, opts, version=cat.version), "board",
                      functools.partial(board_from_json, machine))
    if cached is not None:
        return cached
    if not_run is not None:
        raise BoardError(_not_run(binary, not_run))
    from . import introspect

    reference = _cached_sibling(store, bid, cat, machine, opts)
    try:
        board = introspect.board(binary, machine, options=opts, reference=reference,
                                 timeout=timeout or introspect.DEFAULT_TIMEOUT)
    except introspect.IntrospectionError as err:
        if err.cacheable:
            store.store_board(bid, machine, opts, failure_entry(err), version=cat.version)
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
