"""``augmenter.xml.document``: the child look-ups behave as lxml's own tag filters."""

from __future__ import annotations

import pytest
from hypothesis import given
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
