"""Failures as data: every error the augmenter reports carries where it happened.

The command line renders them as ``FILE:LINE:COL: error: message (hint: ...)``; the Python API
hands them back as exceptions with the same fields, so callers catch meaning, not strings.

Each error has a stable ``code`` (``--format json`` carries it): ``syntax`` (not well-formed XML,
not text), ``limit`` (beyond the input limits, a DOCTYPE), ``wrong-root`` (not a libvirt
``<domain>``), ``missing-element`` (no ``<devices>``, no ``<os><type>``), ``duplicate-element``
(a second ``<devices>``), ``encoding`` (one augmenter does not read), ``unknown-machine``,
``no-board`` (no QEMU and no table for the guest), ``placement`` (the rest: addresses that
cannot be made); the checks add one code per rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# What must not reach a terminal as it is: C0 controls but the space (a line feed would start a
# forged second line, a carriage return rewrite this one), DEL, C1 controls (U+009B is an 8-bit
# CSI), Unicode's line and paragraph separators and next line, and the bidirectional
# overrides that make text read other than it is stored.
_BEYOND_C0 = "\x7f-\x9f\u200e\u200f\u2028-\u202e\u2066-\u2069"
_UNPRINTABLE = re.compile(f"[\x00-\x1f{_BEYOND_C0}]")
_PRINTABLE_ASCII = bytes(range(0x20, 0x7F))
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: str) -> str:
    """``text`` as one printable line: control characters written as escapes (``\\n``,
    ``\\x1b``, ``\\u2028``). Every message to a terminal goes through it, since file names,
    documents, the board cache and QEMU's own words may carry anything (issue 18, item 13)."""
    if _UNPRINTABLE.search(text) is None:
        return text
    return _UNPRINTABLE.sub(_escaped, text)


def printable_lines(lines: list[str]) -> str:
    """Each line :func:`printable`, each ended by a line feed: the block scanned once when
    it is printable ASCII (a report of half a million findings, issue 18), else line by
    line."""
    if not lines:
        return ""
    text = "\n".join(lines)
    # ASCII whose every byte but the line feeds joining the lines is printable: deleting the
    # printable bytes is three times as fast as the pattern's search
    if text.isascii() and len(text.encode("ascii").translate(None, _PRINTABLE_ASCII)) == \
            len(lines) - 1:
        return text + "\n"
    return "".join([printable(line) + "\n" for line in lines])


def _escaped(match: re.Match[str]) -> str:
    char = match[0]
    named = _NAMED.get(char)
    if named is not None:
        return named
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


@dataclass
class AugmentError(Exception):
    """A definition that cannot be augmented: bad input, or a placement that cannot be made."""

    message: str
    line: int | None = None
    hint: str | None = None
    code: str = "placement"

    def __str__(self) -> str:
        return self.message


class NotADomainError(AugmentError):
    """The document parsed, but it is not a libvirt ``<domain>``."""


class PlacementError(AugmentError):
    """The devices cannot all be given addresses under the board's rules."""
