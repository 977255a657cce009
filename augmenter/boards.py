"""Boards: what QEMU builds for a machine type before any device is added.

The facts come from QEMU itself (QMP introspection of a paused ``-nodefaults`` machine); an
embedded table of them ships in ``data/boards.json`` so that augmenter runs with no QEMU. Nothing
here knows libvirt's policy: that lives in :mod:`augmenter.machines`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any


@dataclass(frozen=True)
class BuiltinPci:
    """A PCI function the board itself occupies (host bridge, ISA bridge, PM...)."""

    slot: int
    function: int
    type: str
    multifunction: bool = False


@dataclass(frozen=True)
class Board:
    """One machine type of one emulator, as QEMU reports it."""

    machine: str
    root_kind: str  # "PCI", "PCIE", or "" when the board has no PCI root
    root_hotplug: bool
    pci: tuple[BuiltinPci, ...]


@dataclass(frozen=True)
class Emulator:
    """What one QEMU binary offers: machine types, aliases and device types."""

    arch: str
    binary: str
    version: str
    default_machine: str
    aliases: dict[str, str]
    machines: frozenset[str]
    device_types: frozenset[str]
    layouts: dict[str, str]  # machine -> layout name
    layout_data: dict[str, dict[str, Any]]

    def canonical(self, machine: str) -> str:
        """The versioned machine name an alias stands for (``q35`` -> ``pc-q35-7.2``)."""
        return self.aliases.get(machine, machine)

    def has_device(self, qemu_type: str) -> bool:
        return qemu_type in self.device_types

    def board(self, machine: str) -> Board | None:
        """The board of ``machine`` (canonical name), or None when it is not in the table."""
        layout = self.layouts.get(machine)
        if layout is None:
            return None
        data = self.layout_data[layout]
        root = data.get("root_bus") or {}
        return Board(
            machine=machine,
            root_kind=root.get("kind", ""),
            root_hotplug=bool(root.get("hotplug", False)),
            pci=tuple(
                BuiltinPci(d["slot"], d["function"], d["type"], bool(d.get("multifunction")))
                for d in data.get("pci_devices", ())
            ),
        )


@cache
def embedded() -> dict[str, Emulator]:
    """The shipped table, one :class:`Emulator` per guest arch. Loaded once per process."""
    text = resources.files("augmenter").joinpath("data/boards.json").read_text()
    return emulators_from_json(json.loads(text))


def emulators_from_json(doc: dict[str, Any]) -> dict[str, Emulator]:
    """Turn the JSON board table (embedded or cached) into typed records."""
    layouts = doc["layouts"]
    out: dict[str, Emulator] = {}
    for arch, emu in doc["emulators"].items():
        out[arch] = Emulator(
            arch=arch,
            binary=emu["binary"],
            version=emu["version"],
            default_machine=emu["default_machine"],
            aliases=dict(emu["aliases"]),
            machines=frozenset(emu["machines"]),
            device_types=frozenset(emu["device_types"]),
            layouts=dict(emu["boards"]),
            layout_data=layouts,
        )
    return out
