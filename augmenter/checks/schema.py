"""``--schema``: the whole document against libvirt's own RelaxNG schema, where it is installed.

The names check (:mod:`augmenter.checks.names`) knows libvirt's vocabulary from a table shipped
in the package; this validates everything the schema says (required elements, value patterns,
element order where it matters) with lxml's RelaxNG over the installed ``domain.rng``. Each
libxml2 error is reported at its line. libxml2 says little inside an ``<interleave>``: for a
bad device it only says that ``<devices>`` failed. So each device is then validated alone (the
document with only that device in ``<devices>``), and every device that fails on its own is
reported at its line.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path

from lxml import etree

from ..errors import AugmentError
from ..xml.document import Element
from .findings import Finding

SCHEMA = Path("/usr/share/libvirt/schemas/domain.rng")
CODE = "schema"


class SchemaUnavailable(AugmentError):
    """libvirt's schema is not installed, or not readable as RelaxNG."""


def relaxng() -> etree.RelaxNG:
    """libvirt's installed schema, compiled once per process (about 10 ms)."""
    return _compiled(SCHEMA)


@functools.cache
def _compiled(path: Path) -> etree.RelaxNG:
    if not path.is_file():
        raise SchemaUnavailable(f"--schema needs libvirt's RelaxNG schema, and {path} is not "
                                "installed (Debian: apt-get install libvirt0)")
    try:
        return etree.RelaxNG(etree.parse(str(path)))
    except (etree.RelaxNGParseError, etree.XMLSyntaxError, OSError) as exc:
        raise SchemaUnavailable(f"cannot read libvirt's schema {path}: {exc}") from None


def validate(tree: etree._ElementTree) -> list[Finding]:
    """An error for each place the document breaks libvirt's schema; none when it is valid."""
    schema = relaxng()
    if schema.validate(tree):
        return []
    said = _said(schema)
    devices = _failing_devices(schema, tree.getroot())
    if devices:  # libxml2's own words about <devices> say less than these
        said = [(line, message, where) for line, message, where in said
                if where != "/domain/devices" and message != "Extra element devices in "
                "interleave"]
    out = [Finding(CODE, "error", f"libvirt's schema: {message}", line or None)
           for line, message, _ in said]
    out += [Finding(CODE, "error", f"{_tag(dev)} does not match libvirt's schema",
                    dev.sourceline, hint=f"libxml2 says: {why}" if why else None)
            for dev, why in devices]
    return out


def _said(schema: etree.RelaxNG) -> list[tuple[int, str, str | None]]:
    """libxml2's errors: (line, message, path), each once, in its order."""
    out: list[tuple[int, str, str | None]] = []
    for e in schema.error_log:
        said = (e.line, e.message.strip(), e.path)
        if said not in out:
            out.append(said)
    return out


def _failing_devices(schema: etree.RelaxNG, root: Element) -> list[tuple[Element, str]]:
    """The devices that break the schema on their own, each with libxml2's last word on it.

    The document is copied once without its devices (which must then be valid, or a device
    alone says nothing), and each device is tried in it in turn: linear in the document."""
    devices = root.find("devices")
    if devices is None or len(devices) == 0:
        return []
    shell = copy.copy(root)  # lxml's copy is deep; lines are kept
    holder = shell.find("devices")
    assert holder is not None  # a copy of root, which has one
    for child in list(holder):
        holder.remove(child)
    if not schema.validate(shell.getroottree()):
        return []
    failing: list[tuple[Element, str]] = []
    for dev in devices:
        if not isinstance(dev.tag, str):
            continue
        holder.append(copy.copy(dev))
        if not schema.validate(shell.getroottree()):
            said = [m for line, m, where in _said(schema)
                    if where != "/domain/devices" and m != "Extra element devices in interleave"]
            failing.append((dev, said[-1] if said else ""))
        holder.remove(holder[0])
    return failing


def _tag(el: Element) -> str:
    kind = el.get("type")
    tag = str(el.tag)
    return f"<{tag} type='{kind}'>" if kind is not None else f"<{tag}>"
