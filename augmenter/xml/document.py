"""The document layer: parse safely, remember lines, edit without disturbing anything else.

This is the only module that creates or moves lxml elements. Everything the augmenter changes
is either a new ``<address>`` child, a new device element, or one attribute; comments,
namespaces, processing instructions, unknown elements and attribute order are left as parsed.

A domain file is never trusted (augmenter runs as a hook in front of a hypervisor), so parsing
is bounded before libxml2 sees a byte: see :data:`MAX_BYTES`, :data:`MAX_MARKUP`,
:data:`MAX_DEPTH`, and no DOCTYPE at all (so no entity can be declared, expanded or fetched).
DEVELOPERS.md ("Limits") has the measured time and memory bounds.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple, TypeAlias

from lxml import etree

from ..errors import AugmentError, NotADomainError
from .source import check_encoding, decode, prolog_end

Element: TypeAlias = etree._Element
"""An lxml element (typed by the ``types-lxml`` stubs)."""

MAX_BYTES = 16 * 1024 * 1024
"""Largest document accepted. A domain definition is a few kilobytes; virsh itself reads at
most 10 MiB of XML, so nothing larger could ever be defined."""

MAX_MARKUP = 500_000
"""Most ``<`` characters accepted (start and end tags, comments, processing instructions): a
cheap bound on the element count, so on the tree's memory, checked before parsing. The largest
guests have a few thousand elements."""

MAX_DEPTH = 256
"""Deepest element nesting accepted (libxml2's own limit without ``XML_PARSE_HUGE``)."""

MAX_TEXT = 10_000_000
"""Longest text node accepted (libxml2's own limit without ``XML_PARSE_HUGE``)."""


def parser() -> etree.XMLParser:
    """The parser for untrusted documents (the writer parses the original again with it)."""
    # No entity expansion, no DTD loading, no network: a domain file is never trusted.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,  # keeps libxml2's depth, text and amplification limits
        remove_blank_text=False,
        strip_cdata=False,
    )


_HINTS = re.compile(r",?\s*(?:use|try|see) (?:XML_PARSE_HUGE|xmlCtxt)\w*(?: option)?\.?")


# ---- parsing ---------------------------------------------------------------------------------


def _syntax_message(exc: etree.XMLSyntaxError) -> str:
    """libxml2's message as one clear line, its advice to the C programmer left out."""
    msg = " ".join((exc.msg or "not well-formed XML").split())
    if "Excessive depth" in msg:
        return f"elements are nested deeper than {MAX_DEPTH} levels"
    if "Text node too long" in msg:
        return f"a text node is longer than {MAX_TEXT} characters"
    if "amplification" in msg:
        return "entity expansion limit exceeded"
    return "XML syntax error: " + _HINTS.sub("", msg).replace(" ,", ",")


def _precheck(data: bytes) -> None:
    """Refuse what no domain definition needs before libxml2 sees a byte of it: an encoding
    augmenter does not read first (in some, '<' is not the byte 0x3C), then the limits."""
    check_encoding(data)
    if len(data) > MAX_BYTES:
        raise AugmentError(f"document is larger than {MAX_BYTES // (1024 * 1024)} MiB "
                           f"({len(data)} bytes)", line=1, code="limit")
    _, wide, text = decode(data)  # the whole prolog: comments before a DOCTYPE may be long
    # In UTF-8 and the single-byte charsets every 0x3C byte is a '<'; in UTF-16/32 a
    # character such as U+3C3C holds 0x3C bytes too, so there the decoded text is counted.
    markup = text.count("<") if wide else data.count(b"<")
    if markup > MAX_MARKUP:
        raise AugmentError(f"document has more than {MAX_MARKUP} tags ({markup} '<')", line=1,
                           code="limit")
    start = prolog_end(text)
    if text.startswith("<!DOCTYPE", start):
        line = text.count("\n", 0, start) + 1
        raise AugmentError("a DOCTYPE is not allowed in a domain definition (it could declare "
                           "entities)", line=line, code="limit")


def parse_document(data: bytes) -> etree._ElementTree:
    """Parse a domain document; errors carry the line libxml2 reports."""
    _precheck(data)
    try:
        tree = etree.ElementTree(etree.fromstring(data, parser()))
    except etree.XMLSyntaxError as exc:
        line = exc.position[0] if exc.position else None
        raise AugmentError(_syntax_message(exc), line=line or 1, code="syntax") from None
    except (ValueError, LookupError) as exc:  # e.g. unicode strings with an encoding declaration
        raise AugmentError(f"cannot parse document: {' '.join(str(exc).split())}",
                           line=1, code="syntax") from None
    root = tree.getroot()
    if not isinstance(root.tag, str) or etree.QName(root).localname != "domain":
        raise NotADomainError(
            f"root element is <{etree.QName(root).localname}>, expected <domain>",
            line=root.sourceline, code="wrong-root",
        )
    if etree.QName(root).namespace:
        raise NotADomainError("<domain> must not be in an XML namespace", line=root.sourceline,
                              code="wrong-root")
    if tree.docinfo.doctype:  # a DTD could declare entities: refuse rather than guess
        raise AugmentError("a DOCTYPE is not allowed in a domain definition", line=1,
                           code="limit")
    return tree


def leading_ws(el: Element) -> str:
    """The whitespace before ``el``'s start tag on its line (its indentation)."""
    prev = el.getprevious()
    if prev is not None:
        return last_line_ws(prev.tail)
    parent = el.getparent()
    return last_line_ws(parent.text if parent is not None else None)


def last_line_ws(text: str | None) -> str:
    """What follows the last newline of ``text`` when it is all whitespace, else ""."""
    if not text:
        return ""
    newline = text.rfind("\n")
    if newline < 0:
        return ""
    tail = text[newline + 1:]
    return tail if not tail or tail.isspace() else ""


def append_child(parent: Element, child: Element) -> Element:
    """Append ``child`` as the last child of ``parent``, indented like its siblings (the first
    one's indentation; one step in from ``parent`` when it has none)."""
    if len(parent):
        # the parent's own indentation only matters when its last child has no tail
        last = parent[-1]
        child.tail = last.tail if last.tail is not None else "\n" + leading_ws(parent)
        last.tail = "\n" + last_line_ws(parent.text)  # the first child's indentation
    else:
        outer = leading_ws(parent)
        indent = outer + "  "
        parent.text = (parent.text or "") if (parent.text or "").strip() else "\n" + indent
        child.tail = "\n" + outer
    parent.append(child)
    return child


def insert_before(parent: Element, ref: Element, child: Element) -> Element:
    """Insert ``child`` just before ``ref`` (a child of ``parent``), at ``ref``'s indent."""
    indent = leading_ws(ref)
    ref.addprevious(child)
    child.tail = "\n" + indent
    return child


def remove_child(parent: Element, child: Element) -> None:
    """Remove ``child`` and the line it stood on: the whitespace before it goes with it, and an
    element left with nothing but whitespace inside becomes empty (``<controller .../>``)."""
    prev = child.getprevious()
    tail = child.tail
    if prev is not None:
        prev.tail = tail
    else:
        parent.text = tail
    parent.remove(child)
    if len(parent) == 0 and (parent.text or "").isspace():
        parent.text = None


def new_element(tag: str, attrib: dict[str, str] | None = None) -> Element:
    """A new element, its attributes in the order of ``attrib``: see :func:`new_element_of`."""
    return new_element_of(tag, tuple(attrib.items()) if attrib else ())


def new_element_of(tag: str, attrib: tuple[tuple[str, str], ...]) -> Element:
    """A new element with the attributes as (name, value) pairs (hashable, so a caller can
    cache them too).

    A copy of a kept prototype while there is room for one: lxml checks every attribute it
    is given (about 0.5 us each), and augmenter writes the same few models and controllers
    again and again. Once :data:`PROTOTYPES` are kept, an element is made directly, in a
    document kept for the purpose (not one of its own per element, as a copy gets): half a
    million addresses that differ in a port would each cost a prototype and a copy."""
    key = (tag, attrib)
    prototype = _PROTOTYPES.get(key)
    if prototype is not None:
        return _copy(prototype)
    if len(_PROTOTYPES) < PROTOTYPES:
        prototype = _PROTOTYPES[key] = etree.Element(tag, dict(attrib))
        return _copy(prototype)
    return _make(tag, dict(attrib))


PROTOTYPES = 1024
_PROTOTYPES: dict[tuple[str, tuple[tuple[str, str], ...]], Element] = {}
"""The elements :func:`new_element_of` copies. Never attached or changed: only copied."""

_copy: Callable[[Element], Element] = etree._Element.__copy__  # type: ignore[attr-defined]
"""A shallow copy of an element (lxml has ``__copy__``; the stubs do not list it)."""

_make: Callable[[str, dict[str, str]], Element] = etree.Element("factory").makeelement
"""A free element in one document kept for making elements (appending it moves it)."""


def first_child(el: Element, tag: str) -> Element | None:
    """``el.find(tag)`` for a plain tag name, at a third of the cost: a device element has a
    handful of children, and walking them beats compiling a path or a tag matcher."""
    for child in el:
        if child.tag == tag:
            return child
    return None


_SHORT_WALK = 32  # children walked back in Python before lxml's tag filter takes over


def last_child_of(el: Element, tags: frozenset[str]) -> Element | None:
    """The last child element named one of ``tags``.

    A short walk back from the end in Python first: it is usually near the end, and lxml's
    own tag filter builds a matcher of all the names on every call (several microseconds).
    Past :data:`_SHORT_WALK` children lxml's filter, which walks in C, is the quicker."""
    for steps, child in enumerate(el.iterchildren(reversed=True)):
        if child.tag in tags:
            return child
        if steps == _SHORT_WALK:
            return next(el.iterchildren(*tags, reversed=True), None)
    return None


def next_element(el: Element) -> Element | None:
    """The element after ``el`` among its siblings (comments and PIs skipped)."""
    following = el.getnext()
    while following is not None and not isinstance(following.tag, str):
        following = following.getnext()
    return following


def child_elements(el: Element) -> Iterator[Element]:
    """``el``'s child elements (comments and PIs skipped by lxml, in C)."""
    return el.iterchildren(etree.Element)


def first_element(el: Element) -> Element | None:
    """``el``'s first child element (comments and PIs skipped)."""
    for child in el:
        if isinstance(child.tag, str):
            return child
    return None


def set_child(el: Element, tag: str, attrib: dict[str, str]) -> Element:
    """Replace ``el``'s child ``tag`` by one with ``attrib`` (same place), or append one."""
    return replace_child(el, first_child(el, tag), new_element(tag, attrib))


def replace_child(el: Element, old: Element | None, new: Element) -> Element:
    """Put ``new`` in place of ``old`` (a child of ``el``), or append it when ``old`` is None."""
    if old is not None:
        new.tail = old.tail
        el.replace(old, new)
        return new
    return append_child(el, new)


def sub_element(parent: Element, tag: str, attrib: dict[str, str] | None = None) -> Element:
    """A new child appended with indentation (for building whole new devices)."""
    return append_child(parent, new_element(tag, attrib))


# ---- elements kept as data until written ------------------------------------------------------


class Sketch(NamedTuple):
    """An element augmenter adds to an empty one, kept as data until the document is written.

    Half a million serial ports each get a ``<target>`` with a ``<model>``: as lxml elements,
    with their attributes and the indentation around them, that is about 800 bytes each in
    libxml2 and 2.5 us each to make (issue 18: 1.6 GB for the guest). A sketch is a tuple
    shared by every port with the same values; :func:`spell` writes it as :func:`build` would
    have made it, and ``tests/test_xmldoc.py`` holds the two to the same bytes."""

    tag: str
    attrib: tuple[tuple[str, str], ...]
    children: tuple[Sketch, ...] = ()

    def get(self, name: str) -> str | None:
        """An attribute's value, like ``Element.get``."""
        for key, value in self.attrib:
            if key == name:
                return value
        return None


new_sketch: Callable[[tuple[str, tuple[tuple[str, str], ...], tuple[Sketch, ...]]], Sketch] = \
    functools.partial(tuple.__new__, Sketch)
"""``Sketch(tag, attrib, children)`` from one tuple, made in C: a named tuple's ``__new__``
and ``_make`` are Python code, a microsecond a sketch (half a million serial ports)."""


def build(parent: Element, sketches: Sequence[Sketch]) -> None:
    """Make ``sketches`` children of ``parent``, appended with indentation as
    :func:`sub_element` appends (what :func:`spell` writes without making them)."""
    for sketch in sketches:
        child = append_child(parent, new_element_of(sketch.tag, sketch.attrib))
        build(child, sketch.children)


def build_before(parent: Element, ref: Element, sketch: Sketch) -> Element:
    """Make ``sketch`` a child of ``parent`` just before ``ref``, as :func:`insert_before`
    puts one."""
    child = insert_before(parent, ref, new_element_of(sketch.tag, sketch.attrib))
    build(child, sketch.children)
    return child


def spell(sketches: Sequence[Sketch], outer: str, quote: str = '"', newline: str = "\n") -> str:
    """The content lxml writes for an element with neither text nor children once
    :func:`build` gave it ``sketches``, ``outer`` its indentation (:func:`leading_ws`): each
    child on a line of its own two spaces further in, then the line of the end tag. In
    ``quote`` and ``newline``: the document's (what the writer makes of lxml's)."""
    inner = newline + outer + "  "
    if len(sketches) == 1:  # half a million serial ports: a microsecond each counts
        return _spelt(sketches[0], inner, quote, newline) + newline + outer
    return "".join([_spelt(s, inner, quote, newline) for s in sketches]) + newline + outer


def _spelt(sketch: Sketch, inner: str, quote: str, newline: str) -> str:
    """One sketch on its line (``inner``: the line end and indentation before it)."""
    tag, attrib, children = sketch
    attrs = "".join([f" {key}={quote}{_escaped(value, quote)}{quote}" for key, value in attrib])
    if not children:
        return f"{inner}<{tag}{attrs}/>"
    return f"{inner}<{tag}{attrs}>{_spelt_children(children, inner, quote, newline)}</{tag}>"


_SPELT: dict[int, tuple[tuple[Sketch, ...], str, str, str]] = {}
""":func:`_spelt_children`'s answers by the children's identity (each kept alive by its entry,
so no other tuple takes its id meanwhile): many sketches share one tuple of children (the
``<model>`` of half a million serial ports), and hashing it costs more than spelling it."""


def _spelt_children(children: tuple[Sketch, ...], inner: str, quote: str,
                    newline: str) -> str:
    """:func:`spell` of a sketch's children, the sketch's line being ``inner``."""
    got = _SPELT.get(id(children))
    if got is None or got[0] is not children or got[1] != inner or got[2] != quote:
        if len(_SPELT) >= 256:
            _SPELT.clear()
        got = _SPELT[id(children)] = (children, inner, quote,
                                      spell(children, inner[len(newline):], quote, newline))
    return got[3]


_ESCAPES = {quote: str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\n": "&#10;",
                                  "\r": "&#13;", "\t": "&#9;",
                                  quote: "&quot;" if quote == '"' else "&apos;"})
            for quote in "\"'"}
_PLAIN = {quote: re.compile(f"[&<>{quote}\n\r\t]") for quote in "\"'"}


def _escaped(value: str, quote: str) -> str:
    """An attribute value as libxml2 writes it between double quotes, the writer between
    ``quote``s (augmenter/xml/write.py: _single_quoted)."""
    if value.isalnum() or not _PLAIN[quote].search(value):  # numbers and names: as they are
        return value
    return value.translate(_ESCAPES[quote])
