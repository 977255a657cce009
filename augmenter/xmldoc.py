"""The document layer: parse safely, remember lines, edit without disturbing anything else.

This is the only module that creates or moves lxml elements. Everything the augmenter changes
is either a new ``<address>`` child, a new device element, or one attribute; comments,
namespaces, processing instructions, unknown elements and attribute order are left as parsed.
"""

from __future__ import annotations

import re
from typing import Any, TypeAlias

from lxml import etree

from .errors import AugmentError, NotADomainError

Element: TypeAlias = Any
"""An lxml element (lxml ships no type information)."""

MAX_BYTES = 64 * 1024 * 1024
"""Largest document accepted; a domain definition is a few kilobytes."""


def _parser() -> etree.XMLParser:
    # No entity expansion, no DTD loading, no network: a domain file is never trusted.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
        strip_cdata=False,
    )


def parse_document(data: bytes) -> etree._ElementTree:
    """Parse a domain document; errors carry the line libxml2 reports."""
    if len(data) > MAX_BYTES:
        raise AugmentError(f"document is larger than {MAX_BYTES // (1024 * 1024)} MiB", line=1)
    try:
        tree = etree.ElementTree(etree.fromstring(data, _parser()))
    except etree.XMLSyntaxError as exc:
        line = exc.position[0] if exc.position else None
        msg = exc.msg or "not well-formed XML"
        raise AugmentError(f"XML syntax error: {msg}", line=line) from None
    except ValueError as exc:  # e.g. unicode strings with an encoding declaration
        raise AugmentError(f"cannot parse document: {exc}", line=1) from None
    root = tree.getroot()
    if not isinstance(root.tag, str) or etree.QName(root).localname != "domain":
        raise NotADomainError(
            f"root element is <{etree.QName(root).localname}>, expected <domain>",
            line=root.sourceline,
        )
    if etree.QName(root).namespace:
        raise NotADomainError("<domain> must not be in an XML namespace", line=root.sourceline)
    if tree.docinfo.doctype:  # a DTD could declare entities: refuse rather than guess
        raise AugmentError("a DOCTYPE is not allowed in a domain definition", line=1)
    return tree


_ROOT_START = re.compile(rb"<(?![?!])")


def serialize(tree: etree._ElementTree, original: bytes) -> bytes:
    """The document as bytes: the original prolog and epilogue (declaration, comments and
    processing instructions outside ``<domain>``, final newline) byte for byte, and the root
    element serialized in the document's own encoding."""
    encoding = tree.docinfo.encoding or "UTF-8"
    body: bytes = etree.tostring(tree.getroot(), encoding=encoding, xml_declaration=False)
    start = _ROOT_START.search(original)
    prolog = original[: start.start()] if start else b""
    close = original.rfind(b"</domain>")
    end = close + len(b"</domain>") if close >= 0 else original.rfind(b">") + 1
    return prolog + body + original[end:]


def _leading_ws(el: Element) -> str:
    """The whitespace before ``el``'s start tag on its line (its indentation)."""
    prev = el.getprevious()
    parent = el.getparent()
    text = prev.tail if prev is not None else (parent.text if parent is not None else None)
    if not text or "\n" not in text:
        return ""
    tail = text.rsplit("\n", 1)[1]
    return tail if tail.strip() == "" else ""


def _child_indent(parent: Element) -> str:
    children = list(parent)
    if children:
        return _leading_ws(children[0])
    return _leading_ws(parent) + "  "


def append_child(parent: Element, child: Element) -> Element:
    """Append ``child`` as the last child of ``parent``, indented like its siblings."""
    indent = _child_indent(parent)
    outer = _leading_ws(parent)
    children = list(parent)
    if children:
        last = children[-1]
        child.tail = last.tail if last.tail is not None else "\n" + outer
        last.tail = "\n" + indent
    else:
        parent.text = (parent.text or "") if (parent.text or "").strip() else "\n" + indent
        child.tail = "\n" + outer
    parent.append(child)
    return child


def insert_before(parent: Element, ref: Element, child: Element) -> Element:
    """Insert ``child`` just before ``ref`` (a child of ``parent``), at ``ref``'s indent."""
    indent = _leading_ws(ref)
    ref.addprevious(child)
    child.tail = "\n" + indent
    return child


def new_element(tag: str, attrib: dict[str, str] | None = None) -> Element:
    el = etree.Element(tag)
    for key, value in (attrib or {}).items():
        el.set(key, value)
    return el


def set_child(el: Element, tag: str, attrib: dict[str, str]) -> Element:
    """Replace ``el``'s child ``tag`` by one with ``attrib`` (same place), or append one."""
    old = el.find(tag)
    new = new_element(tag, attrib)
    if old is not None:
        new.tail = old.tail
        el.replace(old, new)
        return new
    return append_child(el, new)


def sub_element(parent: Element, tag: str, attrib: dict[str, str] | None = None) -> Element:
    """A new child appended with indentation (for building whole new devices)."""
    return append_child(parent, new_element(tag, attrib))
