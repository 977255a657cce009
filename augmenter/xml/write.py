"""Writing the augmented document back in the input's own spelling (issue 13, item 4).

Everything augmenter did not change comes out as it went in, byte for byte: quote style,
attribute order and the whitespace inside tags, character references, ``<a></a>``, CDATA,
comments and processing instructions, the prolog and the epilogue, and the line ends (LF,
CRLF or CR). What augmenter added is written as lxml writes it, with the document's line end.

How: the original text is scanned once (:func:`augmenter.xml.source.scan`) and parsed again.
From the root down, each child of a changed element is paired with the child it was parsed
from (by tag and source line; nodes augmenter made have no source line) and compared with it
as lxml writes both: an equal subtree is copied from the original text whole. A changed
element keeps its start tag as written, with only the changed attributes rewritten (in their
own quotes) and the new ones appended, and the parts of its content that did not change. A
pairing is used only as far as the comparison holds, so a wrong one costs spelling, never
content. The work is one pass over the document plus the subtrees of the changed elements
(``bench/bench_hostile.py``: 100,000 attributes on one element take about a second for the
whole run).
"""

from __future__ import annotations

import copy
import re
from typing import TypeAlias, cast

from lxml import etree

from .document import parser
from .source import Layout, decode, prolog_end, scan

Node: TypeAlias = etree._Element
"""An lxml element, comment or processing instruction (both are elements to lxml)."""

_NAME = re.compile(r"<([^\s/>]+)")
_RAW_ATTR = re.compile(r"""(?P<ws>\s+)(?P<name>[^\s=/>]+)(?P<eq>\s*=\s*)"""
                       r"""(?P<q>["'])(?P<v>.*?)(?P=q)""", re.S)


def serialize(tree: etree._ElementTree, original: bytes, *, keep_spelling: bool = True) -> bytes:
    """The document as bytes, in the original's encoding, with the original's byte order mark,
    prolog and epilogue. ``keep_spelling`` (the default): everything augmenter did not change
    as it was written (see the module docstring); off, the root element as lxml writes it."""
    bom, wide, _ = decode(original)
    rest = original[len(bom):]
    codec = wide or _codec(tree.docinfo.encoding)
    try:
        text = rest.decode(codec) if codec else None
    except UnicodeDecodeError:
        text = None
    if codec is None or text is None:  # not for a document parse_document accepted
        return _bytes_level(tree, original)
    layout = scan(text)
    if layout is None:
        return _bytes_level(tree, original)
    newline = _newline(text, layout.root_start, layout.root_end)
    quote = _quote(text, layout.root_start, layout.root_end) if keep_spelling else '"'
    body = _Respeller(tree, text, layout, newline, quote).document() if keep_spelling else None
    if body is None:
        body = _lxml_text(tree.getroot(), newline)
    out = text[:layout.root_start] + body + text[layout.root_end:]
    return bom + out.encode(codec, errors="xmlcharrefreplace")


def _codec(label: str | None) -> str | None:
    import codecs

    try:
        return codecs.lookup(label or "utf-8").name
    except LookupError:
        return None


def _newline(text: str, start: int, end: int) -> str:
    """The line end the document uses most: LF, CRLF or CR (the parser turns each into LF)."""
    crlf = text.count("\r\n", start, end)
    cr = text.count("\r", start, end) - crlf
    lf = text.count("\n", start, end) - crlf
    if crlf > max(cr, lf):
        return "\r\n"
    return "\r" if cr > lf else "\n"


def _lxml_text(node: Node, newline: str, quote: str = '"') -> str:
    """``node`` as lxml writes it (a copy, so that no namespace declaration of its ancestors is
    repeated on it), with the document's line end and attribute quotes."""
    lone = copy.deepcopy(node) if node.getparent() is not None else node
    written: str = etree.tostring(lone, encoding="unicode", with_tail=False)
    if quote == "'":
        written = _TAG.sub(_single_quoted, written)
    return written if newline == "\n" else written.replace("\n", newline)


def _plain_text(node: Node, newline: str, quote: str, out: list[str]) -> bool:
    """``node`` written into ``out`` as :func:`_lxml_text` writes it, when its subtree is
    plain: elements only, none in a namespace, few attributes (what augmenter adds). False
    (``out`` then holds a part) when it is not. Several times cheaper than lxml's copy,
    serialization and requoting for the small elements a large guest gets by the thousand;
    only used in a document with no namespace declaration, which a copy would carry."""
    tag = node.tag
    if not isinstance(tag, str) or tag[0] == "{":
        return False
    attrib = node.attrib
    if len(attrib) > 16:
        return False
    out.append("<" + tag)
    for name, value in attrib.items():
        if name[0] == "{":
            return False
        out.append(f" {name}={quote}{_attr(value, quote)}{quote}")
    text = node.text
    if text is None and not len(node):
        out.append("/>")
        return True
    out.append(">")
    out.append(_text(text, newline))
    for child in node:
        if not _plain_text(child, newline, quote, out):
            return False
        out.append(_text(child.tail, newline))
    out.append(f"</{tag}>")
    return True


_TAG = re.compile(r"<[^!?/][^>]*>")
_DOUBLE_QUOTED = re.compile(r'(\s[^\s=]+=)"([^"]*)"')


def _single_quoted(tag: re.Match[str]) -> str:
    """A start tag lxml wrote, its attribute values in single quotes."""
    return _DOUBLE_QUOTED.sub(
        lambda a: f"{a[1]}'{a[2].replace(chr(39), '&apos;').replace('&quot;', chr(34))}'",
        tag[0])


def _quote(text: str, start: int, end: int) -> str:
    """The quote the document's attributes use most (``virsh dumpxml`` writes ')."""
    return "'" if text.count("='", start, end) > text.count('="', start, end) else '"'



def _bytes_level(tree: etree._ElementTree, original: bytes) -> bytes:
    """lxml's root between the original prolog and epilogue, for a document whose text this
    module cannot read (an encoding Python does not know)."""
    bom, _, text = decode(original)  # Latin-1: indexes are byte offsets
    layout = scan(text)
    start = prolog_end(text) if layout is None else layout.root_start
    end = len(text) if layout is None else layout.root_end
    rest = original[len(bom):]
    body: bytes = etree.tostring(tree.getroot(), encoding=tree.docinfo.encoding or "UTF-8",
                                 xml_declaration=False)
    newline = _newline(text, start, end)
    if newline != "\n":
        body = body.replace(b"\n", newline.encode("ascii"))
    return bom + rest[:start] + body + rest[end:]


# ---- escaping as lxml does --------------------------------------------------------------------


def _text(value: str | None, newline: str) -> str:
    if not value:
        return ""
    out = (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
           .replace("\r", "&#13;"))
    return out if newline == "\n" else out.replace("\n", newline)


def _attr(value: str, quote: str) -> str:
    value = (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
             .replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;"))
    return value.replace(quote, "&quot;" if quote == '"' else "&apos;")


# ---- pairing and writing ----------------------------------------------------------------------


def attributes(node: Node) -> list[tuple[str, str]]:
    """An element's attributes as (name, value) pairs in document order, in time linear in
    their number: lxml's ``attrib.items()`` looks each value up by name again, which is
    quadratic (100,000 attributes: minutes); XPath's attribute axis walks them once."""
    if len(node.attrib) <= 16:
        return list(node.attrib.items())
    return [(a.attrname, str(a)) for a in node.xpath("@*")]


def same_attributes(one: Node, other: Node) -> bool:
    """Whether two elements have the same attributes, values and order (linear, as above:
    many attributes are compared as lxml writes the two start tags, in C)."""
    count = len(one.attrib)
    if count != len(other.attrib):
        return False
    if count > 16:
        return _start_written(one) == _start_written(other)
    return list(one.attrib.items()) == list(other.attrib.items())


def _start_written(node: Node) -> bytes:
    """The element as lxml writes it with no content: its tag, namespaces and attributes."""
    bare = copy.copy(node)
    bare[:] = []
    bare.text = None
    written: bytes = etree.tostring(bare, with_tail=False)
    return written


def _serialized(node: Node) -> bytes:
    """A node as lxml writes it, without its tail: two nodes that write alike are alike."""
    written: bytes = etree.tostring(node, with_tail=False)
    return written


class _Queue:
    """Original children of one tag on one line (with their layout indexes), taken in order:
    the first one that opens like the child being paired among the next few, else the first
    left."""

    LOOK_AHEAD = 8

    def __init__(self, items: list[tuple[Node, int]]) -> None:
        self.items = items
        self.taken: set[int] = set()
        self.first = 0  # every item before it is taken

    def left(self) -> bool:
        return len(self.taken) < len(self.items)

    def take(self, child: Node) -> tuple[Node, int] | None:
        if len(self.items) - len(self.taken) == 1:  # the only one left: no need to compare
            at = self.first
            self.taken.add(at)
            self.first = len(self.items)
            return self.items[at]
        at, seen = self.first, 0
        pick = None
        while at < len(self.items) and seen < self.LOOK_AHEAD:
            if at not in self.taken:
                if pick is None:
                    pick = at
                if _same_start(child, self.items[at][0]):
                    pick = at
                    break
                seen += 1
            at += 1
        if pick is None:
            return None
        self.taken.add(pick)
        while self.first in self.taken:
            self.first += 1
        return self.items[pick]


def _same_start(node: Node, old: Node) -> bool:
    """Whether two nodes open alike: tag and attributes (elements), or text (comments, PIs)."""
    if not isinstance(node.tag, str):
        return bool(node.text == old.text)
    return bool(node.tag == old.tag) and same_attributes(node, old)


def _kind(node: Node) -> str:
    tag = node.tag
    if isinstance(tag, str):
        return tag
    return "#comment" if cast(object, tag) is etree.Comment else "#pi"


class _Respeller:
    """One document's writing: see the module docstring.

    Top down from the root: a child of a changed element is paired with an original child,
    compared with it as lxml serializes both (in C, so an unchanged subtree of any size costs
    one comparison) and copied from the original text when equal; only the elements on the
    way to a change are taken apart. The work is proportional to the document once, plus the
    size of each changed element's subtree for each level it sits at."""

    def __init__(self, tree: etree._ElementTree, text: str, layout: Layout, newline: str,
                 quote: str) -> None:
        self.root = tree.getroot()
        self.text, self.layout, self.newline, self.quote = text, layout, newline, quote
        self.plain = "xmlns" not in text  # no namespace for a copy to carry (_plain_text)

    def _new(self, node: Node) -> str:
        """A node with no original to copy, as lxml writes it."""
        if self.plain:
            out: list[str] = []
            if _plain_text(node, self.newline, self.quote, out):
                return "".join(out)
        return _lxml_text(node, self.newline, self.quote)

    def document(self) -> str | None:
        """The root element's text, or None when the original cannot be read again (the
        caller writes lxml's serialization)."""
        text, layout = self.text, self.layout
        # the prolog as its line ends only: the same source lines as the first parse
        prolog = re.sub(r"[^\r\n]", "", text[:layout.root_start])
        try:
            old_root = etree.fromstring(
                (prolog + text[layout.root_start:layout.root_end]).encode("utf-8"), parser())
        except etree.XMLSyntaxError:
            return None
        if old_root.tag != self.root.tag:
            return None
        out: list[str] = []
        self._write(self.root, old_root, 0, out)
        return "".join(out)

    def _write(self, node: Node, old: Node, i: int, out: list[str]) -> None:
        """An element paired with its original ``old`` (node ``i`` of the layout)."""
        layout, text = self.layout, self.text
        kids = layout.children(i)
        olds = list(old)
        tag = self._start_tag(node, old, text[layout.start[i]:layout.head[i]])
        if tag is None or len(kids) != len(olds):
            out.append(self._new(node))
            return
        empty_before = text.startswith("/>", layout.head[i] - 2)  # written <x .../>
        has_content = bool(len(node)) or bool(node.text)
        if empty_before and has_content:
            tag = tag[:-2].rstrip() + ">" if tag.endswith("/>") else tag
        out.append(tag)
        if node.text == old.text and not empty_before:
            out.append(text[layout.head[i]:layout.text_end[i]])
        else:
            out.append(_text(node.text, self.newline))
        # The original children by (tag, line): one each, usually; a _Queue where several
        # share a line. This loop runs once per child of every changed element, so it is
        # kept lean (a <devices> may hold hundreds of thousands of children).
        waiting: dict[tuple[str, int | None], tuple[Node, int] | _Queue] = {}
        for old_child, j in zip(olds, kids, strict=True):
            key = (_kind(old_child), old_child.sourceline)
            there = waiting.get(key)
            if there is None:
                waiting[key] = (old_child, j)
            else:
                if not isinstance(there, _Queue):
                    there = waiting[key] = _Queue([there])
                there.items.append((old_child, j))
        start, end, tail_end = layout.start, layout.end, layout.tail_end
        for child in node:
            line = child.sourceline  # None: augmenter made it
            found = waiting.pop((_kind(child), line), None) if line is not None else None
            if isinstance(found, _Queue):
                queue, found = found, found.take(child)
                if queue.left():
                    waiting[(_kind(child), line)] = queue
            if found is None:
                out.append(self._new(child))
                out.append(_text(child.tail, self.newline))
                continue
            old_child, j = found
            # a child with a child more (an address, a target) differs: no need to write both
            if len(child) == len(old_child) and _serialized(child) == _serialized(old_child):
                out.append(text[start[j]:end[j]])
            elif isinstance(child.tag, str):
                self._write(child, old_child, j, out)
            else:
                out.append(self._new(child))
            tail = child.tail
            if tail == old_child.tail:
                out.append(text[end[j]:tail_end[j]])
            elif tail:
                out.append(_text(tail, self.newline))
        if not empty_before:
            out.append(text[layout.close[i]:layout.end[i]])
        elif has_content:
            name = _NAME.match(tag)
            out.append(f"</{name[1] if name else str(node.tag)}>")

    def _start_tag(self, node: Node, old: Node, raw: str) -> str | None:
        """``node``'s start tag in the spelling of ``raw`` (its original's), or None when it
        cannot be had that way (an attribute in a namespace augmenter added)."""
        if same_attributes(node, old):
            return raw
        now = attributes(node)
        before = attributes(old)
        name = _NAME.match(raw)
        if name is None:
            return None
        attrs = list(_RAW_ATTR.finditer(raw, name.end()))
        if sum(not _is_xmlns(a["name"]) for a in attrs) != len(before):
            return None
        values = dict(now)
        parts = [raw[:name.end()]]
        position, k = name.end(), 0
        for a in attrs:
            parts.append(raw[position:a.start()])  # nothing but whitespace between them
            position = a.end()
            if _is_xmlns(a["name"]):
                parts.append(a.group(0))
                continue
            key, was = before[k]  # lxml keeps the attributes in document order
            k += 1
            if key not in values:
                continue  # removed
            value = values.pop(key)
            if value == was:
                parts.append(a.group(0))
            else:
                parts.append(f"{a['ws']}{a['name']}{a['eq']}{a['q']}{_attr(value, a['q'])}"
                             f"{a['q']}")
        quote = next((a["q"] for a in reversed(attrs)), self.quote)
        for key, value in values.items():  # added, in the order augmenter set them
            if key.startswith("{"):
                return None
            parts.append(f" {key}={quote}{_attr(value, quote)}{quote}")
        parts.append(raw[position:])
        return "".join(parts)


def _is_xmlns(name: str) -> bool:
    return name == "xmlns" or name.startswith("xmlns:")
