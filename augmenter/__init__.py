"""augmenter: add the implicit controllers and device addresses libvirt's QEMU driver would.

    >>> import augmenter
    >>> full = augmenter.augment(open("domain.xml").read())

The placement machinery (lxml, networkx) is imported on first use, so that importing the
package, or starting the ``augment`` command, stays cheap until there is work to do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .checks.findings import Finding, InvalidDomain
from .errors import AugmentError, NotADomainError, PlacementError

if TYPE_CHECKING:
    from .batch import Outcome, augment_many
    from .pipeline import Options, Result, check, run

__all__ = [
    "AugmentError", "Finding", "InvalidDomain", "NotADomainError", "Options", "Outcome",
    "PlacementError", "Result",
    "augment", "augment_many", "check", "run",
]
__version__ = "0.1.0"

_FROM_PIPELINE = {"Options", "Result", "check", "run"}
_FROM_BATCH = {"Outcome", "augment_many"}


def __getattr__(name: str) -> Any:
    if name in _FROM_PIPELINE:
        from . import pipeline

        return getattr(pipeline, name)
    if name in _FROM_BATCH:
        from . import batch

        return getattr(batch, name)
    raise AttributeError(f"module 'augmenter' has no attribute {name!r}")


def augment(xml: str | bytes) -> str:
    """The augmented domain XML. Raises :class:`AugmentError` for bad input or placement."""
    from .pipeline import run

    return run(xml).to_string()
