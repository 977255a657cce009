"""``augmenter.reports.graph``: DOT text from the topology, and pictures drawn by Graphviz's
``dot``."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree
from topology_guests import PC_MIXED, Q35_MIXED, all_guests, example_inputs

from augmenter.pipeline import run
from augmenter.reports import graph
from augmenter.reports.graph import GraphError, render, run_dot, topology_dot

GUESTS = all_guests()
NAMES = sorted(GUESTS)
SVG = "{http://www.w3.org/2000/svg}"


def svg_node_titles(svg: bytes) -> set[str]:
    root = etree.fromstring(svg, etree.XMLParser(resolve_entities=False, no_network=True))
    return {
        title.text
        for g in root.iter(f"{SVG}g") if g.get("class") == "node"
        for title in g.iterfind(f"{SVG}title")
    }


# -- DOT text: no Graphviz needed --------------------------------------------------------------
def test_q35_dot_has_a_cluster_per_root_port() -> None:
    result = run(Q35_MIXED)
    text = topology_dot(result)
    assert text.startswith("digraph topology {") and text.rstrip().endswith("}")
    ports = [c.index for c in result.guest.dom.controllers
             if c.type == "pci" and c.model == "pcie-root-port"]
    assert ports
    for index in ports:
        assert f"subgraph cluster_bus{index} {{" in text
        assert re.search(rf'label="bus {index}: pcie-root-port \(PCI Express, hot-plug\)"', text)
    assert "subgraph cluster_bus0 {" in text


@pytest.mark.parametrize("name", NAMES)
def test_dot_has_a_node_per_device(name: str) -> None:
    result = run(GUESTS[name])
    text = topology_dot(result)
    declared = set(re.findall(r"^\s*(dev\d+) \[", text, flags=re.M))
    assert declared == {f"dev{i}" for i in range(len(result.guest.dom.devices))}


def test_pcie_and_conventional_links_are_drawn_apart() -> None:
    text = topology_dot(run(Q35_MIXED))
    pcie = [ln for ln in text.splitlines() if "->" in ln and "style=solid" in ln]
    conventional = [ln for ln in text.splitlines() if "->" in ln and "style=dashed" in ln]
    assert pcie and conventional
    assert all(graph.LINK_STYLE["pcie"] in ln for ln in pcie)
    assert all(graph.LINK_STYLE["pci"] in ln for ln in conventional)


def test_free_hotplug_slots_are_small_empty_nodes() -> None:
    result = run(Q35_MIXED)
    text = topology_dot(result)
    free = re.findall(r"^\s*(free_\d+_\d+) \[.*style=\"dashed\"", text, flags=re.M)
    root = etree.fromstring(result.to_bytes())
    used = {int(a.get("bus"), 16) for a in root.iterfind("devices/*/address[@type='pci']")}
    empty = sorted(int(c.get("index")) for c in root.iterfind("devices/controller[@type='pci']")
                   if c.get("model") == "pcie-root-port" and int(c.get("index")) not in used)
    assert empty and [f for f in free if f.endswith("_0")] == [f"free_{i}_0" for i in empty]
    pc = topology_dot(run(PC_MIXED))
    assert len(re.findall(r"^\s*free_0_\d+ \[", pc, flags=re.M)) == 26


def test_dot_without_pci_topology() -> None:
    result = run(Q35_MIXED)
    result.guest.topology = None
    text = topology_dot(result)
    assert "cluster_bus" not in text
    declared = set(re.findall(r"^\s*(dev\d+) \[", text, flags=re.M))
    assert declared == {f"dev{i}" for i in range(len(result.guest.dom.devices))}


def test_labels_are_quoted() -> None:
    assert graph.quote('a "b" \\ c\nd') == '"a \\"b\\" \\\\ c\\nd"'


def test_render_dot_needs_no_graphviz(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(graph, "dot_program", lambda: None)
    out = render(run(PC_MIXED), tmp_path / "t.dot")
    assert out.read_text().startswith("digraph topology {")
    with pytest.raises(GraphError, match="graphviz"):
        render(run(PC_MIXED), tmp_path / "t.svg")
    assert not (tmp_path / "t.svg").exists()


def test_render_refuses_unknown_suffix(tmp_path: Path) -> None:
    with pytest.raises(GraphError, match=r"\.svg"):
        render(run(PC_MIXED), tmp_path / "t.jpeg")


# -- pictures: these need Graphviz's dot (fail under CI without it, skip otherwise) ------------
@pytest.mark.parametrize("name", NAMES)
def test_svg_has_a_node_per_device(name: str, require_tool: Callable[[str], str]) -> None:
    require_tool("dot")
    result = run(GUESTS[name])
    titles = svg_node_titles(run_dot(topology_dot(result), "svg"))
    want = {f"dev{i}" for i in range(len(result.guest.dom.devices))}
    assert want <= titles, f"missing nodes: {sorted(want - titles)}"


def test_render_svg_and_png(tmp_path: Path, require_tool: Callable[[str], str]) -> None:
    require_tool("dot")
    result = run(Q35_MIXED)
    svg = render(result, tmp_path / "t.svg")
    assert len(svg_node_titles(svg.read_bytes())) >= len(result.guest.dom.devices)
    png = render(result, tmp_path / "T.PNG")
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_committed_pictures_are_current() -> None:
    """``scripts/gen_pictures.py`` keeps one SVG per example; each has a node per device."""
    for src in example_inputs():
        svg = src.with_suffix(".svg")
        assert svg.exists(), f"{svg.name} missing: run scripts/gen_pictures.py"
        titles = svg_node_titles(svg.read_bytes())
        count = len(run(src.read_bytes()).guest.dom.devices)
        assert {f"dev{i}" for i in range(count)} <= titles, (
            f"{svg.name} is stale: run scripts/gen_pictures.py")
