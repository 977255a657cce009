"""The writer pairs each node with the one it was parsed from, without a second tree (issue 18,
Build 1): by the line libxml2 gives it, read off the text, and by lxml's serialization of the
tree as parsed, taken before augmenter changes anything."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

import augmenter
from augmenter.pipeline import Options
from augmenter.xml.document import parse_document
from augmenter.xml.source import scan
from augmenter.xml.write import serialize

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SPACE = st.sampled_from(["", " ", "\n", "\r\n", "\r", "\n  ", " \n\n "])


@st.composite
def nodes(draw: st.DrawFn, depth: int = 0) -> str:
    """Markup with line ends anywhere libxml2 allows them: inside start tags, comments, PIs,
    text and CDATA."""
    kind = draw(st.sampled_from(["element", "empty", "comment", "pi", "cdata", "text"]))
    gap = draw(SPACE)
    if kind == "comment":
        return f"<!--{gap}c{draw(SPACE)}-->"
    if kind == "pi":
        return f"<?p{gap or ' '}x{draw(SPACE)}?>"
    if kind == "cdata":
        return f"<![CDATA[{gap}<x>{draw(SPACE)}]]>"
    if kind == "text":
        return f"t{gap}"
    attrs = f"{gap or ' '}a='1'{draw(SPACE)}" if draw(st.booleans()) else gap
    if kind == "empty" or depth >= 3:
        return f"<e{attrs}/>"
    inner = "".join(draw(st.lists(nodes(depth + 1), max_size=4)))
    return f"<e{attrs}>{inner}</e{draw(SPACE)}>"


@settings(max_examples=200, deadline=None)
@given(st.lists(nodes(), max_size=5), SPACE)
def test_the_layout_gives_each_node_libxml2s_line(inner: list[str], before: str) -> None:
    text = f"<?xml version='1.0'?>{before}<domain>{''.join(inner)}</domain>"
    root = parse_document(text.encode()).getroot()
    layout = scan(text, lines=True)
    assert layout is not None
    assert list(layout.line) == [node.sourceline for node in root.iter()]


def test_writing_without_the_text_taken_at_parse_time_is_the_same() -> None:
    for src in sorted(EXAMPLES.glob("*.xml")):
        result = augmenter.run(src.read_bytes(), Options(boards="embedded"))
        assert serialize(result.tree, result.original) == result.to_bytes(), src.name


def test_a_moved_element_is_still_copied_as_written() -> None:
    # pairing by line, not by order: a device moved ahead keeps its spelling
    data = (b"<domain type='kvm'>\n  <devices>\n    <a  x = 'one'/>\n    <b y='2'  />\n"
            b"  </devices>\n</domain>\n")
    tree = parse_document(data)
    devices = tree.getroot()[0]
    b = devices[1]
    devices.insert(0, b)
    b.tail, devices[1].tail = "\n    ", "\n  "
    written = serialize(tree, data, before=etree.tostring(parse_document(data).getroot(),
                                                          encoding="unicode"))
    assert written == (b"<domain type='kvm'>\n  <devices>\n    <b y='2'  />\n"
                       b"    <a  x = 'one'/>\n  </devices>\n</domain>\n")
