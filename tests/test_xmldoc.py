"""``augmenter.xml.document``: the child look-ups behave as lxml's own tag filters."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from augmenter.xml import document
from augmenter.xml.document import first_element, last_child_of, next_element

TAGS = frozenset({"disk", "controller"})


def _devices(n_after: int) -> etree._Element:
    """A controller, then ``n_after`` interfaces and comments: the walk back must pass them."""
    body = "<!-- c --><disk/><controller/>" + "<interface/><!-- x -->" * n_after
    return etree.fromstring(f"<devices>{body}</devices>")


@pytest.mark.parametrize("n_after", [0, 1, 15, 16, 17, 40, 200])
def test_last_child_of_finds_what_lxmls_filter_finds(n_after: int) -> None:
    devices = _devices(n_after)
    expected = next(devices.iterchildren(*TAGS, reversed=True), None)
    assert expected is not None and expected.tag == "controller"
    assert last_child_of(devices, TAGS) is expected
    assert last_child_of(devices, frozenset({"memballoon"})) is None


def test_first_and_next_element_skip_comments() -> None:
    devices = _devices(2)
    first = first_element(devices)
    assert first is not None and first.tag == "disk"
    assert next_element(first) is first.getnext()
    last = devices[-2]
    assert last.tag == "interface"
    assert next_element(last) is None
    assert first_element(etree.fromstring("<devices><!-- only a comment --></devices>")) is None


@given(st.lists(st.tuples(st.sampled_from(["address", "target", "model"]),
                          st.dictionaries(st.sampled_from(["type", "port", "bus", "slot"]),
                                          st.text("0x1a", max_size=4), max_size=4)),
                max_size=20))
def test_a_new_element_is_the_same_made_from_a_prototype_or_directly(
        made: list[tuple[str, dict[str, str]]]) -> None:
    """Past :data:`~augmenter.xml.document.PROTOTYPES` kept prototypes, elements are made
    directly: appended to a document, they write the same."""
    def written(limit: int) -> bytes:
        saved = document.PROTOTYPES, dict(document._PROTOTYPES)
        document.PROTOTYPES = limit
        document._PROTOTYPES.clear()
        try:
            root = etree.fromstring(b"<devices>\n  <disk/>\n</devices>")
            for tag, attrib in made:
                document.append_child(root, document.new_element(tag, attrib))
            return bytes(etree.tostring(root))
        finally:
            document.PROTOTYPES = saved[0]
            document._PROTOTYPES.clear()
            document._PROTOTYPES.update(saved[1])

    assert written(0) == written(1024) == written(3)


# ---- sketches: children kept as data, spelt as lxml writes them once made ----------------------

VALUES = st.text(st.sampled_from("ab1 &<>\"'\n\r\té"), max_size=6)


@st.composite
def sketches(draw: st.DrawFn, depth: int = 2) -> document.Sketch:
    tag = draw(st.sampled_from(["target", "model", "x"]))
    names = draw(st.lists(st.sampled_from(["type", "port", "name"]), unique=True, max_size=3))
    attrib = tuple((name, draw(VALUES)) for name in names)
    children = tuple(draw(st.lists(sketches(depth - 1), max_size=2))) if depth else ()
    return document.Sketch(tag, attrib, children)


@settings(max_examples=300, deadline=None)
@given(st.lists(sketches(), min_size=1, max_size=3),
       st.sampled_from(["", "\n", "\n  ", "\n    ", "\n\t"]), st.sampled_from(['"', "'"]),
       st.sampled_from(["\n", "\r\n", "\r"]))
def test_a_sketch_is_spelt_as_lxml_writes_it_made(made: list[document.Sketch], before: str,
                                                  quote: str, newline: str) -> None:
    from augmenter.xml.write import _single_quoted_tags

    devices = etree.fromstring(f"<devices>{before}<serial type='pty'/>\n</devices>")
    serial = devices[0]
    outer = document.leading_ws(serial)
    document.build(serial, made)
    lxml = etree.tostring(serial, encoding="unicode", with_tail=False)
    if quote == "'":
        lxml = _single_quoted_tags(lxml)
    head = "<serial type=\"pty\">" if quote == '"' else "<serial type='pty'>"
    spelt = head + document.spell(made, outer, quote, newline) + "</serial>"
    assert spelt == lxml.replace("\n", newline)


def test_a_sketch_reads_like_an_element() -> None:
    sketch = document.Sketch("target", (("type", "isa-serial"), ("port", "0")))
    assert sketch.get("port") == "0" and sketch.get("model") is None
