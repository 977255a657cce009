"""augmenter: add the implicit controllers and device addresses libvirt's QEMU driver would.

    >>> import augmenter
    >>> full = augmenter.augment(open("domain.xml").read())
"""

from __future__ import annotations

from .errors import AugmentError, NotADomainError, PlacementError
from .findings import Finding, InvalidDomain
from .pipeline import Options, Result, check, run

__all__ = [
    "AugmentError", "Finding", "InvalidDomain", "NotADomainError", "Options", "PlacementError",
    "Result",
    "augment", "check", "run",
]
__version__ = "0.1.0"


def augment(xml: str | bytes) -> str:
    """The augmented domain XML. Raises :class:`AugmentError` for bad input or placement."""
    return run(xml).to_string()
