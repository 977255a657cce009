"""An element augmenter adds is written exactly as lxml writes it (issue 18, Build 1).

The writer takes a new element from lxml's serialization of the whole tree, made once, instead
of serializing each one alone (a copy, so that no namespace of its ancestors is repeated on
it); this property holds the two to the same bytes, quotes and line ends included."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from augmenter.xml.document import append_child, parse_document
from augmenter.xml.write import _TAG, _lxml_text, _single_quoted, _single_quoted_tags, serialize

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
    head = f"<domain type={quote}kvm{quote}>{newline}  <devices>{newline}    <disk/>"
    foot = f"{newline}  </devices>{newline}</domain>{newline}"
    original = (head + foot).encode()
    tree = parse_document(original)
    append_child(tree.getroot()[0], el)  # as augmenter adds a device
    written = serialize(tree, original).decode()
    assert written == head + f"{newline}    " + _lxml_text(el, newline, quote) + foot


@settings(max_examples=200, deadline=None)
@given(trees())
def test_requoting_a_whole_subtree_at_once_is_requoting_each_attribute(
        el: etree._Element) -> None:
    # the writer's quick path (one replace when no value or text holds a quote) against the
    # rewrite of each attribute value
    written = etree.tostring(el, encoding="unicode")
    assert _single_quoted_tags(written) == _TAG.sub(_single_quoted, written)
