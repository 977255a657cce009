"""The one reader of numbers in attributes, with libvirt 9.0's rules and words.

libvirt reads an attribute's number with C's ``strtol``/``strtoul`` through
``virStrToLong_*`` (``src/util/virstring.c``), called by ``virXMLPropUInt``, ``virXMLPropInt``
and ``virXMLPropULongLong`` (``src/util/virxml.c``). What that accepts, and so what is
accepted here:

* leading white space (C's ``isspace``: space, tab, newline, vertical tab, form feed,
  carriage return), then one optional ``+`` or ``-``;
* in base 0, ``0x``/``0X`` and a hex digit start a hexadecimal number, a leading ``0`` an
  octal one, anything else is decimal; in base 16 an optional ``0x``; ASCII digits only;
* nothing after the digits, not even white space; at least one digit;
* for an unsigned reader (``virStrToLong_uip``/``_ullp``) no ``-`` at all, ``-0`` included,
  and no value above the type's maximum (``unsigned int``: 2**32 - 1); for a signed one
  (``virStrToLong_i``) a value that fits an ``int``, and, where libvirt asks for it
  (``VIR_XML_PROP_NONNEGATIVE``), not below zero.

Python's ``int()`` accepts more (``0x0_5``, non-ASCII digits, trailing white space) and this
module never calls it on a document's text. A refused value raises :class:`InvalidValue`
with libvirt's own sentence and the element's line.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal, TypeAlias

from ..errors import AugmentError
from ..xml.document import Element

UINT_MAX = 2**32 - 1
INT_MAX = 2**31 - 1
ULLONG_MAX = 2**64 - 1
_ULONG_MAX = 2**64 - 1  # strtoul's own limit on a 64-bit host

_SPACE = " \t\n\v\f\r"
_DIGITS = {c: i for i, c in enumerate("0123456789abcdef")} | {
    c: i for i, c in enumerate("ABCDEF", 10)}


class InvalidValue(AugmentError):
    """An attribute's value libvirt refuses when it parses the definition; the message is
    libvirt's. (Not a dataclass of its own: each costs a millisecond to make at import.)"""

    def __init__(self, message: str, line: int | None = None, hint: str | None = None,
                 code: str = "invalid-value") -> None:
        super().__init__(message, line, hint, code)


def scan(text: str, base: int, start: int = 0) -> tuple[int, bool, int] | None:
    """C's ``strtoul(text + start, &end, base)``: (magnitude, whether a ``-`` came first, the
    index ``end`` points at), or None when it reads no digit (``end`` would be ``start``). A
    magnitude beyond ``ULONG_MAX`` is returned as read: the callers bound it (strtoul would
    set ERANGE)."""
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


def strtoul(text: str, base: int) -> tuple[int, bool] | None:
    """The whole of ``text`` read as C's ``strtoul`` reads it when nothing may follow the
    number: (magnitude, whether a ``-`` came first), or None when it is not a number of that
    form."""
    got = scan(text, base)
    if got is None or got[2] != len(text):
        return None
    return got[0], got[1]


Kind: TypeAlias = Literal["uint", "int", "ulonglong"]
"""Which of libvirt's readers reads the attribute, and so its range and words: ``uint``
(virXMLPropUInt, virXPathUInt: virStrToLong_uip), ``int`` (virXMLPropInt: virStrToLong_i),
``ulonglong`` (virXMLPropULongLong: virStrToLong_ullp)."""


class Rule:
    """How libvirt reads one attribute: the reader, the base, and its flags. Compared by
    identity: rules are the module's few constants, and a rule is half of every cache key."""

    __slots__ = ("base", "kind", "nonnegative", "nonzero", "required")

    def __init__(self, kind: Kind = "uint", base: int = 10, nonnegative: bool = False,
                 required: bool = False, nonzero: bool = False) -> None:
        self.kind = kind
        self.base = base
        self.nonnegative = nonnegative  # VIR_XML_PROP_NONNEGATIVE (signed readers)
        self.required = required  # VIR_XML_PROP_REQUIRED
        self.nonzero = nonzero  # VIR_XML_PROP_NONZERO

    def __repr__(self) -> str:
        return (f"Rule({self.kind}, base {self.base}"
                f"{', non-negative' if self.nonnegative else ''}"
                f"{', required' if self.required else ''}{', non-zero' if self.nonzero else ''})")


UINT10 = Rule()
UINT0 = Rule(base=0)
UINT16 = Rule(base=16)
INDEX = Rule("int", 10, nonnegative=True)  # a controller's index, ports, vectors
TARGET = Rule("int", 0, nonnegative=True)  # a PCI controller's target options


@lru_cache(maxsize=4096)
def _read(text: str, rule: Rule) -> int | str:
    """``text`` read by ``rule``: the value, or the end of libvirt's message ("Expected ...")
    when it refuses it. Cached: a document spells the same few numbers many times."""
    parsed = strtoul(text, rule.base)
    if rule.kind == "int":
        if parsed is None:
            return "Expected integer value"
        magnitude, negative = parsed
        value = -magnitude if negative else magnitude
        if not -INT_MAX - 1 <= value <= INT_MAX:
            return "Expected integer value"
        if rule.nonnegative and value < 0:
            return "Expected non-negative value"
        return value
    limit = UINT_MAX if rule.kind == "uint" else ULLONG_MAX
    if parsed is None or parsed[1] or parsed[0] > min(limit, _ULONG_MAX):
        return "Expected non-negative integer value"
    return parsed[0]


def hint(rule: Rule) -> str:
    """What ``rule`` accepts, in words, for a hint."""
    top = INT_MAX if rule.kind == "int" else UINT_MAX if rule.kind == "uint" else (
        ULLONG_MAX)
    spelled = {0: "in decimal, 0x... hexadecimal or 0... octal", 10: "in decimal digits only",
               16: "in hexadecimal digits, 0x or not"}[rule.base]
    return f"write a whole number from {1 if rule.nonzero else 0} to {top}, {spelled}"


def value_of(text: str, rule: Rule) -> int | None:
    """``text`` read by ``rule``, or None when libvirt refuses it (no message, no line)."""
    got = _read(text, rule)
    return got if isinstance(got, int) else None


def read(el: Element, name: str, rule: Rule = UINT10) -> int | None:
    """Attribute ``name`` of ``el`` as libvirt reads it; None when it is absent. Raises
    :class:`InvalidValue` with libvirt's words when libvirt refuses it."""
    text = el.get(name)
    element = str(el.tag)
    if text is None:
        if rule.required:
            raise InvalidValue(f"Missing required attribute '{name}' in element '{element}'",
                               line=el.sourceline)
        return None
    got = _read(text, rule)
    if isinstance(got, str):
        raise InvalidValue(f"Invalid value for attribute '{name}' in element '{element}': "
                           f"'{text}'. {got}", line=el.sourceline, hint=hint(rule))
    if rule.nonzero and got == 0:
        raise InvalidValue(f"Invalid value for attribute '{name}' in element '{element}': "
                           "Zero is not permitted", line=el.sourceline, hint=hint(rule))
    return got
