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

from ..errors import AugmentError
from ..xml.document import Element

_SPACE = " \t\n\v\f\r"
_DIGITS = {c: i for i, c in enumerate("0123456789abcdef")} | {
    c: i for i, c in enumerate("ABCDEF", 10)}


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


def scan(text: str, base: int, start: int = 0) -> tuple[int, bool, int] | None:
    """C's ``strtoul(text + start, &end, base)``: (magnitude, whether a '-' came first, the
    index ``end`` points at), or None when no digit is read. No range is applied: a magnitude
    beyond what C holds is returned as read, for the caller to bound. USB port paths
    (``1.4``) are read with it number by number, as virDomainDeviceUSBAddressParsePort does."""
    i, n = start, len(text)
    while i < n and text[i] in _SPACE:
        i += 1
    negative = False
    if i < n and text[i] in "+-":
        negative = text[i] == "-"
        i += 1
    if base in (0, 16) and text[i:i + 2] in ("0x", "0X") and i + 2 < n and (
            _DIGITS.get(text[i + 2], 99) < 16):
        i += 2
        base = 16
    elif base == 0:
        base = 8 if text[i:i + 1] == "0" else 10
    first = i
    value = 0
    while i < n:
        digit = _DIGITS.get(text[i], 99)
        if digit >= base:
            break
        value = value * base + digit
        i += 1
    return None if i == first else (value, negative, i)


def strtol_whole(text: str, base: int) -> tuple[int, bool] | None:
    """(magnitude with its sign, whether a '-' was read) of the whole of ``text`` as C's
    ``strtol`` reads it with ``base`` (0, 10 or 16; 8 works too), or None when anything is
    left over or no digit was read. No range is applied."""
    got = scan(text, base)
    if got is None or got[2] != len(text):
        return None
    value, negative, _ = got
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


class InvalidValue(AugmentError):
    """A number (or an address) libvirt refuses when it parses the definition; the message is
    libvirt's."""

    def __init__(self, message: str, line: int | None = None, hint: str | None = None,
                 code: str = "invalid-value") -> None:
        super().__init__(message, line, hint, code)


BASE_WORDS = {0: "a decimal, 0x-hexadecimal or 0-octal", 10: "a decimal", 16: "a hexadecimal",
              8: "an octal"}


def hint(base: int, low: int | None, high: int | None) -> str:
    """What a reader accepts, in words: the hint of every refused number."""
    return f"expected {BASE_WORDS.get(base, f'a base-{base}')} integer from {low} to {high}"


PROP_INVALID = ("Invalid value for attribute '{attr}' in element '{element}': '{value}'. "
                "Expected {expected}")
"""virXMLPropInt and kin's words for a value they cannot read (``{expected}``: what
:func:`expected` says of the reader)."""
PROP_MISSING = "Missing required attribute '{attr}' in element '{element}'"
"""... and for a ``VIR_XML_PROP_REQUIRED`` attribute left out."""
PROP_ZERO = "Invalid value for attribute '{attr}' in element '{element}': Zero is not permitted"
"""... and for 0 in a ``VIR_XML_PROP_NONZERO`` attribute."""


def expected(reader: str) -> str:
    """What virXMLPropInt (signed) or virXMLPropUInt and kin (unsigned) expect, in their
    words."""
    return "integer value" if READERS[reader].signed else "non-negative integer value"


def strict(el: Element, name: str, reader: str = "uip", base: int = 10, *,
           nonnegative: bool = False, required: bool = False) -> int | None:
    """Attribute ``name`` of ``el`` as ``virXMLPropInt``/``virXMLPropUInt``/
    ``virXMLPropULongLong`` read it (``src/util/virxml.c``); None when it is absent. Raises
    :class:`InvalidValue` with libvirt's sentence when libvirt refuses it (``nonnegative``:
    ``VIR_XML_PROP_NONNEGATIVE``, ``required``: ``VIR_XML_PROP_REQUIRED``)."""
    text = el.get(name)
    element = str(el.tag)
    if text is None:
        if required:
            raise InvalidValue(PROP_MISSING.format(attr=name, element=element),
                               line=el.sourceline)
        return None
    value = read(text, reader, base)
    if value is None:
        said = expected(reader)
    elif nonnegative and value < 0:
        said = "non-negative value"
    else:
        return value
    low = 0 if nonnegative else READERS[reader].low
    raise InvalidValue(PROP_INVALID.format(attr=name, element=element, value=text,
                                           expected=said),
                       line=el.sourceline, hint=hint(base, low, READERS[reader].high))
