"""Failures as data: every error the augmenter reports carries where it happened.

The command line renders them as ``FILE:LINE:COL: error: message (hint: ...)``; the Python API
hands them back as exceptions with the same fields, so callers catch meaning, not strings.

Each error has a stable ``code`` (``--format json`` carries it): ``syntax`` (not well-formed XML,
not text), ``limit`` (beyond the input limits, a DOCTYPE), ``wrong-root`` (not a libvirt
``<domain>``), ``missing-element`` (no ``<devices>``, no ``<os><type>``), ``unknown-machine``,
``no-board`` (no QEMU and no table for the guest), ``placement`` (the rest: addresses that
cannot be made); the checks add one code per rule.
"""

from __future__ import annotations

from dataclasses import dataclass


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
