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

import codecs
import re
from functools import lru_cache
from typing import Any, TypeAlias

from lxml import etree

from ..errors import AugmentError, NotADomainError

Element: TypeAlias = Any
"""An lxml element (lxml ships no type information)."""

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


def _parser() -> etree.XMLParser:
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


# ---- the bytes around the root element --------------------------------------------------------

_BOMS = (  # longest first: the UTF-32LE mark starts with the UTF-16LE one
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_WIDE_STARTS = (  # how '<' or whitespace starts a document without a byte order mark
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00", "utf-16-le"),
    (b"\x00<", "utf-16-be"),
)
# XML's Misc: whitespace, comments and processing instructions (what may surround the root)
_MISC = re.compile(r"(?:[ \t\r\n]+|<\?.*?\?>|<!--.*?-->)*", re.S)
_ROOT_END = re.compile(r"</domain[ \t\r\n]*>")
_HINTS = re.compile(r",?\s*(?:use|try|see) (?:XML_PARSE_HUGE|xmlCtxt)\w*(?: option)?\.?")


def _sniff(data: bytes) -> tuple[bytes, str | None]:
    """The byte order mark and the codec of a UTF-16/32 document, or (BOM, None) for an
    encoding in which markup is ASCII (UTF-8, Latin-1, ...)."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return bom, (None if codec == "utf-8" else codec)
    for start, codec in _WIDE_STARTS:
        if data.startswith(start):
            return b"", codec
    return b"", None


def _decode(data: bytes) -> tuple[bytes, str | None, str]:
    """BOM, wide codec (or None), and the text after the BOM. For ASCII-compatible encodings the
    text is the bytes read as Latin-1, so indexes in it are byte offsets."""
    bom, codec = _sniff(data)
    rest = data[len(bom):]
    return bom, codec, rest.decode(codec or "latin-1", errors="replace")


def _prolog_end(text: str) -> int:
    """Where the root element (or a DOCTYPE) starts: after the declaration and any comments,
    processing instructions and whitespace."""
    match = _MISC.match(text)
    return match.end() if match else 0


def _epilogue_start(text: str) -> int:
    """Just after ``</domain>``: the last one that only comments, processing instructions and
    whitespace follow (a ``</domain>`` inside a trailing comment does not count)."""
    for close in reversed(list(_ROOT_END.finditer(text))):
        tail = _MISC.match(text, close.end())
        if tail is not None and tail.end() == len(text):
            return close.end()
    return len(text)


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
    """Refuse what no domain definition needs before libxml2 sees a byte of it."""
    if len(data) > MAX_BYTES:
        raise AugmentError(f"document is larger than {MAX_BYTES // (1024 * 1024)} MiB "
                           f"({len(data)} bytes)", line=1, code="limit")
    markup = data.count(b"<")
    if markup > MAX_MARKUP:
        raise AugmentError(f"document has more than {MAX_MARKUP} tags ({markup} '<')", line=1,
                           code="limit")
    _, _, text = _decode(data)  # the whole prolog: comments before a DOCTYPE may be long
    start = _prolog_end(text)
    if text.startswith("<!DOCTYPE", start):
        line = text.count("\n", 0, start) + 1
        raise AugmentError("a DOCTYPE is not allowed in a domain definition (it could declare "
                           "entities)", line=line, code="limit")


def parse_document(data: bytes) -> etree._ElementTree:
    """Parse a domain document; errors carry the line libxml2 reports."""
    _precheck(data)
    try:
        tree = etree.ElementTree(etree.fromstring(data, _parser()))
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


def serialize(tree: etree._ElementTree, original: bytes, *, keep_spelling: bool = False) -> bytes:
    """The document as bytes: the original prolog and epilogue (declaration, comments and
    processing instructions outside ``<domain>``, final newline) byte for byte, and the root
    element serialized in the document's own encoding.

    ``keep_spelling``: write the start tag of every element that came from ``original`` as it
    was written there (quotes, attribute order and layout, namespace declarations), changing
    only the attributes augmenter changed; see :func:`_respell`. Off by default for now: it
    changes the output of every single-quoted file (the golden examples)."""
    bom, codec, text = _decode(original)
    start, end = _prolog_end(text), _epilogue_start(text)
    # The parser turns CRLF into LF; a file written with CRLF line ends keeps them (a literal
    # CR in the tree could only come from a character reference, which lxml writes as &#13;).
    crlf = "\r\n" in text[start:end] and text.count("\n", start, end) == text.count(
        "\r\n", start, end)
    if codec is None:  # text indexes are byte offsets after the BOM
        encoding = tree.docinfo.encoding or "UTF-8"
        rest = original[len(bom):]
        body: bytes | None = None
        if keep_spelling:
            try:
                was = rest[start:end].decode(encoding)
                now = _respell(tree, etree.tostring(tree.getroot(), encoding="unicode"), was)
                body = now.encode(encoding, errors="xmlcharrefreplace")
            except (LookupError, UnicodeError):
                body = None
        if body is None:
            body = etree.tostring(tree.getroot(), encoding=encoding, xml_declaration=False)
        if crlf:
            body = body.replace(b"\n", b"\r\n")
        return bom + rest[:start] + body + rest[end:]
    # UTF-16/32: lxml would put a second byte order mark before the root, so encode here
    root_text: str = etree.tostring(tree.getroot(), encoding="unicode")
    if keep_spelling:
        root_text = _respell(tree, root_text, text[start:end])
    if crlf:
        root_text = root_text.replace("\n", "\r\n")
    return bom + (text[:start] + root_text + text[end:]).encode(codec, errors="replace")


# ---- keeping the spelling of start tags -------------------------------------------------------

_START_TAG = re.compile(r"""<(?P<name>[^\s/>!?]+)"""
                        r"""(?P<attrs>(?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*)"""
                        r"""(?P<tail>\s*/?)>""")
_SKIPPED = re.compile(r"<!--.*?-->|<!\[CDATA\[.*?\]\]>|<\?.*?\?>", re.S)
_RAW_ATTR = re.compile(r"""(?P<ws>\s+)(?P<name>[^\s=/>]+)(?P<eq>\s*=\s*)"""
                       r"""(?P<q>["'])(?P<v>.*?)(?P=q)""", re.S)


def _start_tags(text: str) -> list[re.Match[str]]:
    """The start tags of ``text`` in document order (comments, CDATA and PIs skipped)."""
    tags = []
    pos = text.find("<")
    while pos >= 0:
        skipped = _SKIPPED.match(text, pos)
        if skipped:
            pos = text.find("<", skipped.end())
            continue
        tag = _START_TAG.match(text, pos)
        if tag:
            tags.append(tag)
        pos = text.find("<", pos + 1)
    return tags


def _elements(root: Element) -> list[Element]:
    return [el for el in root.iter() if isinstance(el.tag, str)]


def _keyed(elements: list[Element]) -> list[tuple[int, str, int] | None]:
    """(line, tag, n-th such element on that line) for parsed elements, None for new ones."""
    seen: dict[tuple[int, str], int] = {}
    keys: list[tuple[int, str, int] | None] = []
    for el in elements:
        if el.sourceline is None:
            keys.append(None)
            continue
        n = seen.get((el.sourceline, el.tag), 0)
        seen[(el.sourceline, el.tag)] = n + 1
        keys.append((el.sourceline, el.tag, n))
    return keys


def _attr_value(value: str, quote: str) -> str:
    value = (value.replace("&", "&amp;").replace("<", "&lt;").replace("\n", "&#10;")
             .replace("\r", "&#13;").replace("\t", "&#9;"))
    return value.replace(quote, "&quot;" if quote == '"' else "&apos;")


def _respell(tree: etree._ElementTree, body: str, was: str) -> str:
    """``body`` (lxml's serialization of the root) with the start tag of every element that was
    parsed from ``was`` (the original root element's text) written as it was there.

    Elements are paired by (source line, tag, rank on that line), and a pair is used only when
    the attribute values still agree, so a wrong pairing costs spelling, never content. A
    changed value keeps its quotes; an attribute augmenter added is appended as lxml wrote it."""
    try:
        old_root = etree.fromstring(was.encode("utf-8"), _parser())
    except etree.XMLSyntaxError:
        return body
    old_tags, old_els = _start_tags(was), _elements(old_root)
    if len(old_tags) != len(old_els):
        return body
    line_shift = tree.getroot().sourceline - old_root.sourceline
    originals = {}
    for el, key, tag in zip(old_els, _keyed(old_els), old_tags, strict=True):
        if key is not None:
            originals[(key[0] + line_shift, key[1], key[2])] = (el, tag)
    new_els = _elements(tree.getroot())
    new_tags = _start_tags(body)
    if len(new_tags) != len(new_els):
        return body
    out: list[str] = []
    pos = 0
    for el, key, tag in zip(new_els, _keyed(new_els), new_tags, strict=True):
        found = originals.get(key) if key is not None else None
        if found is None or found[0].tag != el.tag:
            continue
        spelled = _spell(el, found[0], found[1], tag)
        if spelled is not None:
            out.append(body[pos:tag.start()])
            out.append(spelled)
            pos = tag.end()
    out.append(body[pos:])
    return "".join(out)


def _spell(el: Element, old: Element, old_tag: re.Match[str], new_tag: re.Match[str]) -> str | None:
    """``el``'s start tag in the spelling of ``old_tag``, or None when that cannot be done."""
    old_raw = list(_RAW_ATTR.finditer(old_tag["attrs"]))
    new_raw = list(_RAW_ATTR.finditer(new_tag["attrs"]))
    old_ns = {(a["name"], a["v"]) for a in old_raw if a["name"].split(":")[0] == "xmlns"}
    new_ns = {(a["name"], a["v"]) for a in new_raw if a["name"].split(":")[0] == "xmlns"}
    old_plain = [a for a in old_raw if a["name"].split(":")[0] != "xmlns"]
    new_plain = [a for a in new_raw if a["name"].split(":")[0] != "xmlns"]
    if (old_ns != new_ns or len(old_plain) != len(old.attrib)
            or len(new_plain) != len(el.attrib)):
        return None
    now = dict(el.attrib)
    raw_of_old = dict(zip(old.attrib.keys(), old_plain, strict=True))
    parts = []
    for a in old_raw:
        key = next((k for k, r in raw_of_old.items() if r is a), None)
        if key is None:  # a namespace declaration
            parts.append(a.group(0))
        elif key in now:
            value = now.pop(key)
            parts.append(a.group(0) if value == old.attrib[key] else
                         f"{a['ws']}{a['name']}{a['eq']}{a['q']}{_attr_value(value, a['q'])}"
                         f"{a['q']}")
    for key, a in zip(el.attrib.keys(), new_plain, strict=True):
        if key in now:  # added by augmenter
            parts.append(a.group(0))
    tail = old_tag["tail"]
    was_empty, is_empty = tail.endswith("/"), new_tag["tail"].endswith("/")
    if was_empty and not is_empty:
        tail = tail[:-1].rstrip()
    elif is_empty and not was_empty:
        return f"<{old_tag['name']}{''.join(parts)}{tail}></{old_tag['name']}>"
    return f"<{old_tag['name']}{''.join(parts)}{tail}>"


def _leading_ws(el: Element) -> str:
    """The whitespace before ``el``'s start tag on its line (its indentation)."""
    prev = el.getprevious()
    if prev is not None:
        return _last_line_ws(prev.tail)
    parent = el.getparent()
    return _last_line_ws(parent.text if parent is not None else None)


def _last_line_ws(text: str | None) -> str:
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
        child.tail = last.tail if last.tail is not None else "\n" + _leading_ws(parent)
        last.tail = "\n" + _last_line_ws(parent.text)  # the first child's indentation
    else:
        outer = _leading_ws(parent)
        indent = outer + "  "
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
    """A new element, its attributes in the order of ``attrib``.

    A copy of a cached prototype: lxml checks every attribute it is given (about 0.5 us
    each), and augmenter writes the same few addresses and controllers again and again."""
    return _prototype(tag, tuple(attrib.items()) if attrib else ()).__copy__()


def new_element_of(tag: str, attrib: tuple[tuple[str, str], ...]) -> Element:
    """:func:`new_element` with the attributes as (name, value) pairs, for callers that keep
    them (hashable, so a caller can cache them too)."""
    return _prototype(tag, attrib).__copy__()


@lru_cache(maxsize=1024)
def _prototype(tag: str, attrib: tuple[tuple[str, str], ...]) -> Element:
    """The element :func:`new_element` copies. Never attached or changed: only copied."""
    return etree.Element(tag, dict(attrib))


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
