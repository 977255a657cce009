"""An element augmenter adds is written exactly as lxml writes it (issue 18, Build 1).

The writer spells a new element itself (``xml.write._plain_text``) instead of copying it,
serializing it with lxml and requoting its attributes, which was a third of writing a large
guest; this property holds the two to the same bytes, quotes and line ends included."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from augmenter.xml.write import _lxml_text, _plain_text

NAMES = st.sampled_from(["target", "address", "model", "alias", "a-b", "x.y", "_z"])
TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"),
                           blacklist_characters="\ufffe\uffff") | st.sampled_from("\n\r\t&<>'\""),
    max_size=12)
ATTRS = st.dictionaries(NAMES, TEXT, max_size=4)


@st.composite
def trees(draw: st.DrawFn, depth: int = 0) -> etree._Element:
    el = etree.Element(draw(NAMES), draw(ATTRS))
    el.text = draw(st.none() | TEXT)
    if depth < 3:
        for child in draw(st.lists(trees(depth + 1), max_size=3)):
            child.tail = draw(st.none() | TEXT)
            el.append(child)
    return el


@settings(max_examples=100, deadline=None)
@given(trees(), st.sampled_from(['"', "'"]), st.sampled_from(["\n", "\r\n", "\r"]))
def test_a_new_element_is_written_as_lxml_writes_it(el: etree._Element, quote: str,
                                                    newline: str) -> None:
    parent = etree.Element("devices")
    parent.append(el)  # in a tree, as the writer meets it
    out: list[str] = []
    assert _plain_text(el, newline, quote, out)
    assert "".join(out) == _lxml_text(el, newline, quote)


def test_an_element_in_a_namespace_is_left_to_lxml() -> None:
    el = etree.fromstring("<m:x xmlns:m='urn:x'><y/></m:x>")
    assert not _plain_text(el, "\n", "'", [])
    assert not _plain_text(etree.fromstring("<x><!-- c --></x>"), "\n", "'", [])
