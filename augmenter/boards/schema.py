"""Reading board JSON that may not be what it claims (issue 18, Build 7).

The shipped table, the disk cache and ``augment-boards show --json`` share one JSON form of a
board and a catalogue (:mod:`augmenter.boards.records`). The cache is a file on disk that
anything running as the user can edit, so every value read from that form is checked here
against what QEMU can actually report: its type (a flag is a JSON boolean, a number an
integer), its range (a PCI slot 0-31, a function 0-7) and its size (strings, lists and maps),
before any of it sizes anything. A value outside raises :class:`ValueError`, which a reader
of the cache takes as a miss (QEMU is asked again). The bounds are generous multiples of the
largest QEMU 7.2 board and catalogue.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

NAME = 256  # characters in a name, type, class or id string
PATH = 4096  # characters in a path (a binary, a QOM path)
BUSES = 1024  # buses of one board (QEMU 7.2's largest: 34)
DEVICES = 1024  # devices on one bus (largest: 43)
PCI_FUNCTIONS = 256  # built-in PCI functions: 32 slots of 8
MACHINES = 4096  # machine types of one binary (largest: 109)
TYPES = 16384  # device types of one binary (largest: 829)
OPTIONS = 64  # machine options of one board
CPUS = 1 << 20  # a machine's maximum vCPUs (QEMU 7.2's largest: 4096)
UNITS = 64  # devices an IDE or floppy bus holds (QEMU: 1 or 2)
ADDRESS = 1 << 64  # an address property: a devfn, an I/O port, a 64-bit MMIO base


def integer(value: Any, low: int, high: int, what: str) -> int:
    """A JSON integer in ``low..high`` (a boolean or a float is not one)."""
    if type(value) is not int or not low <= value <= high:
        raise ValueError(f"{what}: {value!r} is not an integer in {low}..{high}")
    return value


def text(value: Any, what: str, limit: int = NAME) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise ValueError(f"{what}: not a string of at most {limit} characters")
    return value


def optional_text(value: Any, what: str, limit: int = NAME) -> str | None:
    return None if value is None else text(value, what, limit)


def flag(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{what}: {value!r} is not true or false")
    return value


def items(value: Any, limit: int, what: str) -> Sequence[Any]:
    """A JSON list of at most ``limit`` items."""
    if not isinstance(value, list) or len(value) > limit:
        raise ValueError(f"{what}: not a list of at most {limit} items")
    return value


def mapping(value: Any, limit: int, what: str) -> Mapping[str, Any]:
    """A JSON object of at most ``limit`` keys."""
    if not isinstance(value, dict) or len(value) > limit:
        raise ValueError(f"{what}: not an object of at most {limit} keys")
    return value


def names(value: Any, limit: int, what: str) -> list[str]:
    """A list of names."""
    return [text(item, what) for item in items(value, limit, what)]


def address_value(value: Any, what: str) -> int | str:
    """An address property: a non-negative integer below 2**64, or a short string."""
    if isinstance(value, str):
        return text(value, what)
    return integer(value, 0, ADDRESS - 1, what)
