"""The options of ``augment`` that go beyond libvirt, declared once.

Both command-line readers take them from here: the quick one (:mod:`augmenter.cli.launch`) by
spelling, typer's (:mod:`augmenter.cli.app`) for their names and help. Each maps to one field
of :class:`augmenter.cli.files.Request` and of :class:`augmenter.pipeline.Options`. This module
imports nothing, so the quick start path pays nothing for it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Spec:
    """One option: its spellings, the Request field it sets, and what it takes."""

    names: tuple[str, ...]
    field: str
    kind: str  # "flag" (no value), "count" (a number from 0), "choice", "text"
    help: str
    metavar: str = ""
    choices: tuple[str, ...] = ()


CONVERT_TARGETS = ("q35", "pc")

BEYOND: tuple[Spec, ...] = (
    Spec(("--reserve-hotplug",), "reserve_hotplug", "count",
         "leave exactly N free hot-pluggable ports (empty root ports on PCIe machines, free "
         "slots on pc)", "N"),
    Spec(("--lock-occupied",), "lock_occupied", "flag",
         "turn hot plug off on every root port that holds a device the guest must not "
         "eject (all but NICs and host devices)"),
    Spec(("--convert-to",), "convert_to", "choice",
         "re-home the guest onto the other x86 chipset first (every change is printed)",
         "q35|pc", CONVERT_TARGETS),
    Spec(("--group-host-functions",), "group_host_functions", "flag",
         "put PCI host devices that are functions of one host slot into one guest slot, "
         "with the same function numbers"),
    Spec(("--numa-aware",), "numa_aware", "flag",
         "put each PCI host device behind an expander bus of the guest NUMA node of its "
         "host node (read from /sys)"),
    Spec(("--host-numa",), "host_numa", "text",
         "host NUMA node of each PCI host device, for a guest written on another machine "
         "(implies --numa-aware)", "ADDR=NODE,..."),
)

BY_FIELD = {spec.field: spec for spec in BEYOND}


def spec(field: str) -> Spec:
    """The option that sets ``field``."""
    return BY_FIELD[field]
