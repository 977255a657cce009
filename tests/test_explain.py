"""``augmenter.reports.explain``: the tree lists every device, the JSON data keeps its shape.

Walks the inline guests of ``topology_guests`` and every example of ``examples/*.xml``.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from lxml import etree
from rich.console import Console
from topology_guests import PC_MIXED, Q35_MIXED, all_guests

from augmenter.pipeline import Result, run
from augmenter.reports.explain import explain_data, explain_tree, ranges

GUESTS = all_guests()
NAMES = sorted(GUESTS)


def tree_text(result: Result) -> str:
    buf = io.StringIO()
    Console(file=buf, width=400, no_color=True, highlight=False).print(explain_tree(result))
    return buf.getvalue()


def flatten(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for e in entries:
        out.append(e)
        out += flatten(e.get("children", []))
    return out


def placed_ids(data: dict[str, Any]) -> list[int]:
    """Every device id at the place the data lists it: each device must come exactly once."""
    ids: list[int] = []
    for bus in (data["pci"] or {}).get("buses", []):
        ids += [f["device"] for f in bus["functions"] if f["device"] is not None]
        if bus["parent"] is None and bus["controller"] is not None:
            ids.append(bus["controller"])  # the root of a bus tree, which has no address
    for groups in data["addresses"].values():
        for g in groups:
            ids += [e["device"] for e in flatten(g["entries"])]
    for entries in data["other_addresses"].values():
        ids += [e["device"] for e in entries]
    ids += [e["device"] for e in data["unaddressed"]]
    return ids


@pytest.mark.parametrize("name", NAMES)
def test_every_device_is_listed_once(name: str) -> None:
    result = run(GUESTS[name])
    data = explain_data(result)
    devices = result.guest.dom.devices
    assert len(data["devices"]) == len(devices)
    assert sorted(placed_ids(data)) == list(range(len(devices)))
    for rec in data["devices"]:
        assert rec["placement"] is not None, rec
        assert rec["placement"]["kind"] in (
            "pci", "pci-root", "drive", "virtio-serial", "usb", "ccid", "other", "none")


@pytest.mark.parametrize("name", NAMES)
def test_tree_lists_every_device(name: str) -> None:
    result = run(GUESTS[name])
    data = explain_data(result)
    lines = tree_text(result).splitlines()
    for dev, rec in zip(result.guest.dom.devices, data["devices"], strict=True):
        assert rec["name"] == dev.name()
        place = rec["placement"]
        if place["kind"] == "pci":
            where = place["text"]  # the full PCI address, e.g. 0000:00:1f.2
        elif place["kind"] == "pci-root":
            where = "bus "
        elif place["kind"] == "none":
            where = "-  "
        elif place["kind"] == "other":
            where = place["text"]
        else:  # "sata 0 bus 0 target 0 unit 1": the tree shows it under "controller sata 0"
            where = place["text"].split(" ", 2)[2]
        hits = [ln for ln in lines if dev.name() in ln and where in ln]
        assert hits, f"{dev.name()} at {where!r} not in the tree of {name}"


@pytest.mark.parametrize("name", NAMES)
def test_tree_marks_origins(name: str) -> None:
    result = run(GUESTS[name])
    text = tree_text(result)
    assert "written by the user" in text
    assert "added: " in text  # every guest here has at least one implicit device
    board = result.guest.board
    if board is not None and any(b.slot for b in board.pci):  # pseries, s390x: none
        assert "built into the board" in text
    assert "free hot-plug slots: " in text


# -- the JSON shape ------------------------------------------------------------------------------
TOP = {"schema", "domain", "arch", "machine", "family", "pci", "hotplug", "addresses",
       "other_addresses", "unaddressed", "devices", "beyond_libvirt", "conversion"}
DEVICE = {"id", "name", "tag", "detail", "line", "origin", "added", "address_type", "placed_by",
          "placed", "placement"}
BUS = {"index", "model", "controller", "link", "accepts", "hotplug", "slots", "parent",
       "functions", "free_hotplug_slots"}
FUNCTION = {"address", "slot", "function", "device", "name", "origin", "why", "bus",
            "board_function"}
GROUP = {"type", "index", "controller", "model", "entries"}
ENTRY = {"address", "fields", "device", "name", "origin", "why"}
UNADDRESSED = {"device", "name", "origin", "why", "reason"}


@pytest.mark.parametrize("name", NAMES)
def test_json_shape_is_stable(name: str) -> None:
    data = explain_data(run(GUESTS[name]))
    assert json.loads(json.dumps(data)) == data  # plain JSON types only
    assert set(data) == TOP
    assert data["schema"] == 1
    assert isinstance(data["machine"], str) and isinstance(data["arch"], str)
    for rec in data["devices"]:
        assert set(rec) == DEVICE
        assert rec["origin"] in ("user", "implicit")
        assert rec["placed_by"] in ("user", "rule", None)
        assert set(rec["placement"]) == {"kind", "text"}
        assert (rec["added"] is not None) == (rec["origin"] == "implicit")
    assert data["pci"] is not None and set(data["pci"]) == {"root", "buses"}
    for bus in data["pci"]["buses"]:
        assert set(bus) == BUS
        assert bus["link"] in ("pcie", "pci")
        assert bus["parent"] is None or set(bus["parent"]) == {"bus", "slot", "function"}
        for fn in bus["functions"]:
            assert set(fn) == FUNCTION
            assert fn["origin"] in ("user", "implicit", "board", "reserved")
    assert set(data["addresses"]) == {"drive", "virtio-serial", "usb", "ccid"}
    for kind, groups in data["addresses"].items():
        for g in groups:
            assert set(g) == GROUP
            for e in flatten(g["entries"]):
                assert set(e) == ENTRY | ({"children"} if kind == "usb" else set())
    for e in data["unaddressed"]:
        assert set(e) == UNADDRESSED
    assert set(data["hotplug"]) == {"free", "slots"}
    assert data["hotplug"]["free"] == len(data["hotplug"]["slots"])
    for slot in data["hotplug"]["slots"]:
        assert set(slot) == {"address", "bus", "model"}


# -- facts checked against the output XML, not against the explain code --------------------------
def _pci_addresses(out_xml: bytes) -> list[tuple[int, int]]:
    root = etree.fromstring(out_xml)
    return [(int(a.get("bus"), 16), int(a.get("slot"), 16))
            for a in root.iterfind("devices/*/address[@type='pci']")]


@pytest.mark.parametrize("name", [n for n in NAMES if "q35" in n])
def test_q35_free_hotplug_slots_are_empty_root_ports_and_bridge_slots(name: str) -> None:
    result = run(GUESTS[name])
    out = result.to_bytes()
    root = etree.fromstring(out)
    used = _pci_addresses(out)
    want = []
    for c in root.iterfind("devices/controller[@type='pci']"):
        index, model = int(c.get("index")), c.get("model")
        if model == "pcie-root-port" and all(b != index for b, _ in used):
            want.append(f"0000:{index:02x}:00.0")
        if model in ("pcie-to-pci-bridge", "pci-bridge"):
            want += [f"0000:{index:02x}:{s:02x}.0" for s in range(1, 32)
                     if (index, s) not in used]
    data = explain_data(result)
    assert sorted(s["address"] for s in data["hotplug"]["slots"]) == sorted(want)
    assert f"free hot-plug slots: {len(want)}" in tree_text(result)


def test_q35_keeps_one_spare_root_port() -> None:
    data = explain_data(run(Q35_MIXED))
    ports = [s for s in data["hotplug"]["slots"] if s["model"] == "pcie-root-port"]
    assert len(ports) == 1


def test_pc_root_bus_counts_free_slots() -> None:
    result = run(PC_MIXED)
    used = {s for b, s in _pci_addresses(result.to_bytes()) if b == 0}
    board = {1}  # PIIX3 and PIIX4_PM share slot 1 with IDE and USB; slot 0 is the host bridge
    want = [s for s in range(1, 32) if s not in used | board]
    data = explain_data(result)
    assert data["hotplug"]["free"] == len(want)
    assert [s["address"] for s in data["hotplug"]["slots"]] == [f"0000:00:{s:02x}.0" for s in want]


def test_reasons() -> None:
    data = explain_data(run(Q35_MIXED))
    by_name = {d["name"]: d for d in data["devices"]}
    vdb = by_name["disk vdb"]  # written with its PCI address
    assert vdb["placed_by"] == "user" and vdb["placement"] == {"kind": "pci",
                                                               "text": "0000:00:05.0"}
    assert by_name["disk vda"]["placed_by"] == "rule"
    assert by_name["disk vda"]["placed"].startswith("first free slot")
    sata = by_name["controller sata 0"]
    assert sata["origin"] == "implicit" and sata["added"]
    root = data["pci"]["buses"][0]
    assert root["parent"] is None and root["model"] == "pcie-root"
    assert any(f["origin"] == "board" and f["name"] == "ICH9-LPC" for f in root["functions"])
    assert any(f["origin"] == "board" and f["address"] == "0000:00:00.0"
               for f in root["functions"])  # the host bridge, below the usable slots
    assert any(f["board_function"] == "ich9-ahci" and f["name"] == "controller sata 0"
               for f in root["functions"])
    ps2 = [u for u in data["unaddressed"] if u["name"].startswith("input")]
    assert len(ps2) == 2 and all("PS/2" in u["reason"] for u in ps2)
    links = {b["model"]: b["link"] for b in data["pci"]["buses"]}
    assert links == {"pcie-root": "pcie", "pcie-root-port": "pcie", "pcie-to-pci-bridge": "pci"}


def test_drive_addresses_by_user_and_by_rule() -> None:
    data = explain_data(run(Q35_MIXED))
    groups = {(g["type"], g["index"]): g for g in data["addresses"]["drive"]}
    (sdb,) = groups[("scsi", 0)]["entries"]
    assert sdb["name"] == "disk sdb" and sdb["address"] == "bus 0 target 0 unit 3"
    assert data["devices"][sdb["device"]]["placed_by"] == "user"
    (sda,) = groups[("sata", 0)]["entries"]
    assert data["devices"][sda["device"]]["placed_by"] == "rule"


def test_usb_ports_nest_under_hubs_and_ccid_has_its_slot() -> None:
    data = explain_data(run(PC_MIXED))
    (usb,) = data["addresses"]["usb"]
    hub = next(e for e in usb["entries"] if e["name"] == "hub usb")
    assert [c["address"] for c in hub["children"]] == ["port 1.1", "port 1.2"]
    (ccid,) = data["addresses"]["ccid"]
    assert ccid["controller"] is not None
    assert [e["address"] for e in ccid["entries"]] == ["slot 0"]


def test_other_address_kinds_are_listed() -> None:
    result = run(PC_MIXED)
    data = explain_data(result)
    (dimm,) = data["other_addresses"]["dimm"]
    assert dimm["name"] == "memory dimm" and dimm["address"] == "dimm slot=0"
    assert "dimm addresses" in tree_text(result)


def test_a_guest_without_pci_topology_still_lists_every_device() -> None:
    """Machines without PCI have no topology; PCI-looking addresses then fall under "other"."""
    result = run(Q35_MIXED)
    result.guest.topology = None
    data = explain_data(result)
    assert data["pci"] is None and data["hotplug"] == {"free": 0, "slots": []}
    assert sorted(placed_ids(data)) == list(range(len(result.guest.dom.devices)))
    text = tree_text(result)
    assert all(rec["name"] in text for rec in data["devices"])


def test_explain_accepts_already_augmented_input() -> None:
    again = run(run(Q35_MIXED).to_bytes())
    data = explain_data(again)
    assert sorted(placed_ids(data)) == list(range(len(again.guest.dom.devices)))
    assert all(d["origin"] == "user" for d in data["devices"])


def test_ranges() -> None:
    assert ranges([]) == ""
    assert ranges([8]) == "0x08"
    assert ranges([8, 9, 10, 12, 31]) == "0x08-0x0a, 0x0c, 0x1f"
