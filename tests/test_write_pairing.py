"""The writer pairs each node with the one it was parsed from, without a second tree (issue 18,
Build 1): by the source line libxml2 gave each, and by lxml's serialization of the tree as
parsed, both taken before augmenter changes anything (``xml.write.written``)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

import augmenter
from augmenter.pipeline import Options
from augmenter.xml.document import parse_document
from augmenter.xml.source import scan
from augmenter.xml.write import _written_again, serialize, written

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
def test_a_second_parse_gives_each_node_the_same_line(inner: list[str], before: str) -> None:
    # what the writer does when it was not given the tree as parsed
    text = f"<?xml version='1.0'?>{before}<domain>{''.join(inner)}</domain>"
    layout = scan(text)
    assert layout is not None
    again = _written_again(text, layout)
    assert again == written(parse_document(text.encode()))


def test_writing_without_the_text_taken_at_parse_time_is_the_same() -> None:
    for src in sorted(EXAMPLES.glob("*.xml")):
        result = augmenter.run(src.read_bytes(), Options(boards="embedded"))
        assert serialize(result.tree, result.original) == result.to_bytes(), src.name


def test_an_element_past_line_65535_keeps_its_spelling() -> None:
    # libxml2 keeps 16 bits of a line and derives a larger one from the nodes around it: the
    # text after an element, say, which augmenter replaces after the last device (the one
    # before a device added at the end then loses its spelling, as it did before)
    devices = "".join("\n    <graphics  type = 'vnc' />" for _ in range(70_000))
    devices += "\n    <input type='mouse' bus='ps2'/>"
    data = (f"<domain type='kvm'>\n  <name>g</name>\n  <memory>1</memory>\n  <os><type "
            f"arch='x86_64' machine='q35'>hvm</type></os>\n  <devices>{devices}\n"
            f"  </devices>\n</domain>\n").encode()
    out = augmenter.run(data, Options(boards="embedded")).to_bytes()
    assert out.count(b"<graphics  type = 'vnc' />") == 70_000


def test_a_moved_element_is_still_copied_as_written() -> None:
    # pairing by line, not by order: a device moved ahead keeps its spelling
    data = (b"<domain type='kvm'>\n  <devices>\n    <a  x = 'one'/>\n    <b y='2'  />\n"
            b"  </devices>\n</domain>\n")
    tree = parse_document(data)
    devices = tree.getroot()[0]
    b = devices[1]
    devices.insert(0, b)
    b.tail, devices[1].tail = "\n    ", "\n  "
    out = serialize(tree, data, before=written(parse_document(data)))
    assert out == (b"<domain type='kvm'>\n  <devices>\n    <b y='2'  />\n"
                       b"    <a  x = 'one'/>\n  </devices>\n</domain>\n")
