"""The input's own spelling survives (issue 13, item 4; issue 18, item 10 and the CR risk).

Quote style, attribute order and the whitespace inside start tags of every element augmenter did
not change come out byte for byte, by default; so do line endings (LF, CRLF, CR) and everything
around the root element. ``diff`` of an input and its output shows added lines, and changed lines
only where augmenter changed an element (the machine alias, a controller given its model).
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pytest
from hardening import EMBEDDED, assert_clean_end, probe
from roundtrip import compare

import augmenter
from augmenter.pipeline import Options

EMBEDDED_ONLY = Options(boards="embedded")
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
INPUTS = sorted(p for p in EXAMPLES.glob("*.xml") if not p.name.endswith(".out.xml"))


def _out(data: bytes) -> bytes:
    return augmenter.run(data, EMBEDDED_ONLY).to_bytes()


def _changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    """(lines of ``before`` that ``diff`` shows changed or removed, lines it shows added)."""
    old, new = before.splitlines(), after.splitlines()
    gone: list[str] = []
    added: list[str] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, old, new, autojunk=False) \
            .get_opcodes():
        if op in ("replace", "delete"):
            gone += old[i1:i2]
        if op in ("replace", "insert"):
            added += new[j1:j2]
    return gone, added


@pytest.mark.parametrize("src", INPUTS, ids=[p.stem for p in INPUTS])
def test_diff_of_an_example_shows_additions_only(src: Path) -> None:
    text = src.read_text()
    out = _out(src.read_bytes()).decode()
    report = compare(text, out, strict=True)
    assert not report.differences, "\n".join(report.differences[:20])
    gone, added = _changed_lines(text, out)
    assert added
    _only_opened_up(gone, out)


_START_TAG = re.compile(r"<[^/!?][^>]*>")


def _only_opened_up(gone: list[str], out: str) -> None:
    """A line ``diff`` shows changed holds only start tags that come out as written: opened up
    (``<x .../>`` becomes ``<x ...>`` when augmenter gives the element a child), or with an
    attribute appended (a controller's model); ``<type machine=...>`` is libvirt's rewrite."""
    for line in gone:
        for tag in _START_TAG.findall(line):
            if tag.startswith("<type "):
                continue
            head = tag[:-2].rstrip() if tag.endswith("/>") else tag[:-1]
            assert head in out, (tag, line)


ODD = """<?xml version='1.0' encoding='UTF-8'?>
<domain   type='kvm'
          xmlns:qemu="http://libvirt.org/schemas/domain/qemu/1.0" >
  <name>caf&#233; &gt; x > y</name>
  <memory unit='MiB'>64</memory>
  <memory unit='KiB' >1048576</memory>
  <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os>
  <clock   offset='utc'
         adjustment='reset' ></clock>
  <devices>
    <disk device='disk' type='file'><source file='/a&apos;b.qcow2'/>
      <target bus='virtio'   dev='vda'/></disk>
    <interface type='user'><model type='virtio'/></interface>
  </devices>
  <qemu:commandline><qemu:arg value="-set"/></qemu:commandline>
</domain>
<!-- trailing -->
"""


def test_every_odd_spelling_survives(tmp_path: Path) -> None:
    out = _out(ODD.encode()).decode()
    report = compare(ODD, out, strict=True)
    assert not report.differences, "\n".join(report.differences[:20])
    gone, added = _changed_lines(ODD, out)
    _only_opened_up(gone, out)
    assert any("<address" in line for line in added)


@pytest.mark.parametrize("newline", ["\r\n", "\r"], ids=["CRLF", "CR"])
def test_line_endings_survive(newline: str) -> None:
    data = ODD.replace("\n", newline).encode()
    out = _out(data)
    assert out.count(newline.encode()) > data.count(newline.encode())
    rest = out.replace(newline.encode(), b"")
    assert b"\r" not in rest and b"\n" not in rest


@pytest.mark.parametrize("epilogue", [
    "\n<?pi </domain><?x ?>",
    "\n<!-- </domain> --><?pi </domain>?>\n",
    "<?a ?><?b </domain> ?>",
])
def test_everything_after_the_root_survives(epilogue: str) -> None:
    data = (ODD.split("</domain>", 1)[0] + "</domain>" + epilogue).encode()
    out = _out(data)
    assert out.endswith(b"</domain>" + epilogue.encode())


def test_an_element_with_100000_attributes_keeps_its_spelling(tmp_path: Path) -> None:
    attrs = " ".join(f"a{i}='{i}'" for i in range(100_000))
    data = ODD.replace("<memory unit='KiB' >", f"<memory unit='KiB' {attrs} >")
    (tmp_path / "g.xml").write_text(data)
    m = probe([*EMBEDDED, "--quiet", "g.xml"], tmp_path)  # quiet: libvirt drops them, it warns
    assert_clean_end(m, codes=(0,), lines=0)
    assert m.wall < 5, m.wall  # linear: about a second on the 2-CPU machine (bench/)
    assert f"<memory unit='KiB' {attrs} >".encode() in m.stdout


def test_spelling_changes_no_value() -> None:
    from lxml import etree

    for src in INPUTS:
        data = src.read_bytes()
        result = augmenter.run(data, EMBEDDED_ONLY)
        plain = etree.tostring(result.tree.getroot())
        spelled = result.to_bytes()
        assert etree.tostring(etree.fromstring(spelled), method="c14n") == etree.tostring(
            etree.fromstring(plain), method="c14n"), src.name
