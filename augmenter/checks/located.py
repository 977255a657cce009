"""Findings at the element with the problem, for the define-time rules.

The placement rules in :mod:`.rules` name a device and point at its ``<address>``; the rules
about the rest of a definition (``<vcpu>``, ``<cpu><numa>``, ``<os><loader>``, a TPM's
``<backend>``) point at the element that holds the wrong value, and name the device only when
there is one.
"""

from __future__ import annotations

import functools

from ..model.domain import Device
from ..xml.document import Element
from .findings import Finding, make


def at(el: Element | None, code: str, message: str, hint: str | None = None,
       severity: str = "error") -> Finding:
    """A finding about a domain-level element (``<vcpu>``, ``<numatune>``), at its line."""
    line = el.sourceline if el is not None and el.sourceline else None
    return Finding(code, severity, message, line, None, None, hint)


def on(dev: Device, code: str, message: str, hint: str | None = None,
       severity: str = "error", el: Element | None = None) -> Finding:
    """A finding about a device, at the line of ``el`` (the child with the problem) or of the
    device, its name at the head of the message."""
    line = (el.sourceline if el is not None else None) or dev.line or None
    name, text = named(dev.name(), message)
    return make(code, severity, text, line, None, name, hint)


@functools.lru_cache(maxsize=1024)
def named(name: str, message: str) -> tuple[str, str]:
    """A device's name and ``message`` headed by it: one copy of each, shared by every device
    of that name refused for that reason (500,000 duplicate panics are 500,000 findings,
    issue 18)."""
    return name, (message if message.startswith(name) else f"{name}: {message}")
