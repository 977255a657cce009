"""Failures as data: every error the augmenter reports carries where it happened.

The command line renders them as ``FILE:LINE: error: message``; the Python API hands them back
as exceptions with the same fields, so callers catch meaning, not strings.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class AugmentError(Exception):
    """A definition that cannot be augmented: bad input, or a placement that cannot be made."""

    message: str
    line: int | None = None
    hint: str | None = None
    code: str = "error"

    def __str__(self) -> str:
        return self.message


class NotADomainError(AugmentError):
    """The document parsed, but it is not a libvirt ``<domain>``."""


class PlacementError(AugmentError):
    """The devices cannot all be given addresses under the board's rules."""
