"""Sizes with a unit (``<memory unit='MiB'>256</memory>``), in KiB as libvirt keeps them.

libvirt scales a size by its ``unit`` (``virScaleInteger`` in ``src/util/virutil.c``: ``b``,
``bytes``, ``k``/``KiB`` = 1024, ``KB`` = 1000, up to ``e``/``EiB``, case-insensitive), the
default unit being KiB, and then rounds the bytes up to whole KiB (``virDomainParseMemory``).
The number is read as libvirt reads it (``model.numbers``); a size or unit libvirt refuses reads
as None here, and the rules that compare sizes leave such a definition to the rules about values.
"""

from __future__ import annotations

from ..xml.document import Element
from .numbers import read

_POWERS = {"k": 1, "m": 2, "g": 3, "t": 4, "p": 5, "e": 6}


def unit_scale(unit: str | None, default: int = 1024) -> int | None:
    """Bytes per unit, or None for a unit libvirt does not know ("unknown suffix")."""
    if unit is None or unit == "":
        return default
    low = unit.lower()
    if low in ("b", "byte", "bytes"):
        return 1
    if len(low) == 1 or low[1:] == "ib":
        base = 1024
    elif low[1:] == "b":
        base = 1000
    else:
        return None
    power = _POWERS.get(low[0])
    return base ** power if power is not None else None


def kib(text: str | None, unit: str | None, default: int = 1024) -> int | None:
    """A size in KiB, rounded up, or None when the number or the unit is not one libvirt
    reads (a sign, a fraction, an unknown suffix)."""
    value = read(text, "ullp", 10) if text is not None else None  # virParseScaledValue
    scale = unit_scale(unit, default)
    if value is None or scale is None:
        return None
    return -(-value * scale // 1024)


def element_kib(el: Element | None) -> int | None:
    """The size an element holds as text (``<memory unit='GiB'>4</memory>``), in KiB."""
    if el is None:
        return None
    return kib(el.text, el.get("unit"))


def attribute_kib(el: Element | None, attr: str, unit_attr: str = "unit") -> int | None:
    """The size an attribute holds (``<cell memory='512' unit='MiB'/>``), in KiB."""
    if el is None:
        return None
    return kib(el.get(attr), el.get(unit_attr))
