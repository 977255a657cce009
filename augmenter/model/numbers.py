"""Numbers as libvirt reads them: ``virStrToLong_*`` (``src/util/virstring.c``), which is C's
``strtol``/``strtoul`` with the whole string consumed.

libvirt reads every number of a definition through one of these functions, and refuses the
definition when the function fails. Python's ``int()`` accepts what C does not (``0x0_5``,
non-ASCII digits, ``0o7``) and reads otherwise what C accepts (``017`` is octal in base 0,
``-1`` is the maximum of an unsigned reader that wraps), so a value is read here exactly as C
reads it, or not at all:

* leading white space (C's ``isspace``: space, ``\\t \\n \\v \\f \\r``) is skipped; nothing may
  follow the digits, not even white space;
* one optional sign, ``+`` or ``-``;
* base 16 and base 0 take an optional ``0x``/``0X``; base 0 reads a leading ``0`` as octal;
* ASCII digits of the base only; no digit at all is an error (``""``, ``"0x"``, ``"-"``);
* the value must fit the C type; an unsigned reader either refuses a ``-`` (the ``p`` readers:
  ``uip``, ``ulp``, ``ullp``) or wraps it around as C does (``ui``, ``ul``, ``ull``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ..xml.document import Element

_SPACE = " \t\n\v\f\r"


@dataclass(frozen=True)
class Reader:
    """One of libvirt's ``virStrToLong_*`` functions: the C type it produces and what it does
    with a minus sign."""

    name: str
    signed: bool
    bits: int
    negative: str  # "allow" (signed) | "wrap" (two's complement) | "refuse"

    @property
    def low(self) -> int:
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def high(self) -> int:
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1


# virStrToLong_X on x86_64 Linux (long is 64 bits)
READERS: dict[str, Reader] = {r.name: r for r in (
    Reader("i", True, 32, "allow"), Reader("ui", False, 32, "wrap"),
    Reader("uip", False, 32, "refuse"), Reader("l", True, 64, "allow"),
    Reader("ul", False, 64, "wrap"), Reader("ulp", False, 64, "refuse"),
    Reader("ll", True, 64, "allow"), Reader("ull", False, 64, "wrap"),
    Reader("ullp", False, 64, "refuse"),
)}


def _digits(text: str, base: int) -> tuple[int, int] | None:
    """(value, count) of the ASCII digits of ``base`` at the start of ``text``."""
    value = 0
    n = 0
    for ch in text:
        if "0" <= ch <= "9":
            d = ord(ch) - 48
        elif "a" <= ch <= "z":
            d = ord(ch) - 87
        elif "A" <= ch <= "Z":
            d = ord(ch) - 55
        else:
            break
        if d >= base:
            break
        value = value * base + d
        n += 1
    return (value, n) if n else None


def strtol_whole(text: str, base: int) -> tuple[int, bool] | None:
    """(magnitude with its sign, whether a '-' was read) of the whole of ``text`` as C's
    ``strtol`` reads it with ``base`` (0, 10 or 16; 8 and others work too), or None when
    anything is left over or no digit was read. No range is applied."""
    i = 0
    n = len(text)
    while i < n and text[i] in _SPACE:
        i += 1
    negative = False
    if i < n and text[i] in "+-":
        negative = text[i] == "-"
        i += 1
    rest = text[i:]
    if base in (0, 16) and rest[:2] in ("0x", "0X") and _digits(rest[2:], 16) is not None:
        base, rest = 16, rest[2:]
    elif base == 0:
        base = 8 if rest[:1] == "0" else 10
    found = _digits(rest, base)
    if found is None or found[1] != len(rest):
        return None
    value, _ = found
    return (-value if negative else value), negative


@lru_cache(maxsize=4096)
def read(text: str, reader: str = "uip", base: int = 10) -> int | None:
    """The value libvirt's ``virStrToLong_<reader>(text, NULL, base, &out)`` stores, or None
    where it returns -1. Cached: a document spells the same few numbers many times."""
    spec = READERS[reader]
    parsed = strtol_whole(text, base)
    if parsed is None:
        return None
    value, negative = parsed
    if spec.signed:
        return value if spec.low <= value <= spec.high else None
    # strtoul: the magnitude must fit unsigned long (64 bits), then the sign is applied
    if abs(value) > (1 << 64) - 1:
        return None
    if negative:
        if spec.negative == "refuse":
            return None
        if spec.bits == 32:
            # virStrToLong_ui: "-N" is allowed when N fits 32 bits, and wraps around in them
            return None if -value > (1 << 32) - 1 else value & 0xFFFFFFFF
        return value & ((1 << 64) - 1)
    return value if value <= spec.high else None


def number(el: Element, name: str, reader: str = "i", base: int = 10) -> int | None:
    """The number of attribute ``name`` of ``el`` as libvirt reads it (``virXMLPropInt`` and
    kin: ``reader`` and ``base`` as the table of parse-time rules gives them), or None when
    it is absent or not one (the parse-time check has refused the document then)."""
    text = el.get(name)
    return None if text is None else read(text, reader, base)
