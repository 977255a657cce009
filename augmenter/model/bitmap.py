"""CPU and node lists as libvirt writes them (``0-3,^2,8``), read the way libvirt reads them.

libvirt keeps ``cpuset``, ``nodeset`` and NUMA ``cpus`` as bitmaps, parsed by
``virBitmapParseInternal`` (``src/util/virbitmap.c``): comma-separated fields, each ``N``,
``N-M`` (``N <= M``) or ``^N`` (take N out again), spaces allowed around the numbers, nothing
else. A string that does not follow that grammar is refused with "Failed to parse bitmap".
"""

from __future__ import annotations

import re

from .numbers import read

# The limit of the bitmaps libvirt parses for domains (VIR_DOMAIN_CPUMASK_LEN): a bit at or
# beyond it is refused like a malformed string.
CPUMASK_LEN = 16384

_FIELD = re.compile(r"(\^?)([0-9]+)\s*(?:-\s*\+?([0-9]+)\s*)?$")


def parse_bitmap(text: str | None, limit: int | None = CPUMASK_LEN) -> frozenset[int] | None:
    """The set of numbers ``text`` names, or None where libvirt says "Failed to parse bitmap".

    As in libvirt, a comma may end the list (``1,``) and spaces may surround the numbers, but
    not sit between ``^`` and its number. An empty set is a valid answer (``0,^0``): libvirt
    then refuses the value for being empty, with a message of its own per attribute."""
    if text is None or not text.strip():
        return None
    fields = text.split(",")
    if len(fields) > 1 and not fields[-1].strip():
        fields.pop()  # libvirt stops at the end of the string after a comma
    out: set[int] = set()
    for field in fields:
        m = _FIELD.match(field.lstrip())
        if m is None:
            return None
        neg, first, last = m.group(1) == "^", read(m.group(2), "i", 10), m.group(3)
        end = read(last, "i", 10) if last is not None else first
        if first is None or end is None or (neg and last is not None):
            return None  # beyond an int, or a range taken out
        if end < first or (limit is not None and end >= limit):
            return None
        if neg:
            out.discard(first)
        else:
            out.update(range(first, end + 1))
    return frozenset(out)
