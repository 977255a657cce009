"""The document's own bytes: its encoding, and where each node of it sits, found in one pass.

libxml2 gives a parsed tree but no offsets, so the writer (:mod:`augmenter.xml.write`) finds
the root element and every node inside it here, on the decoded text, with one linear scan: a
``</domain>`` inside a comment, a processing instruction or a CDATA section is never taken
for the end of the root, whatever follows it (issue 18, items 6 and 10).

Encodings (issue 18, Build 2): augmenter reads the encodings libvirt reads and can write back
byte for byte: UTF-8, UTF-16 and UTF-32 (recognised by their byte order mark, or by how
``<`` starts the document), US-ASCII, and the single-byte ASCII-based charsets ISO-8859-n,
Windows-125n and KOI8-R/U. Others (UTF-7, EBCDIC, ISO-2022, UCS-4 in odd byte orders, the
multi-byte Asian charsets) are refused before any limit is checked: in some of them ``<``
is not the byte 0x3C, so a byte count would not bound the markup.
"""

from __future__ import annotations

import codecs
import re
from array import array
from dataclasses import dataclass, field

from ..errors import AugmentError

_BOMS = (  # longest first: the UTF-32LE mark starts with the UTF-16LE one
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_WIDE_STARTS = (  # how '<' starts a document without a byte order mark
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00", "utf-16-le"),
    (b"\x00<", "utf-16-be"),
)
_REFUSED_STARTS = (  # what libxml2 would also try to read, but augmenter does not
    (b"\x00\x00<\x00", "UCS-4 (byte order 2143)"),
    (b"\x00<\x00\x00", "UCS-4 (byte order 3412)"),
    (b"\x4c\x6f\xa7\x94", "EBCDIC"),
)
# Python's names of the encodings augmenter reads (codecs.lookup(label).name)
READABLE = frozenset({
    "utf-8", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be", "ascii",
    *(f"iso8859-{n}" for n in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16)),
    *(f"cp{n}" for n in range(1250, 1259)), "koi8-r", "koi8-u",
})
READABLE_TEXT = ("UTF-8, UTF-16, UTF-32, US-ASCII, ISO-8859-n, Windows-125n and KOI8-R/U")
_DECLARATION = re.compile(rb"<\?xml[ \t\r\n][^>]*?encoding[ \t\r\n]*=[ \t\r\n]*"
                          rb"(?:\"([A-Za-z][A-Za-z0-9._-]{0,39})\"|'([A-Za-z][A-Za-z0-9._-]{0,39})')")


def sniff(data: bytes) -> tuple[bytes, str | None]:
    """The byte order mark and the codec of a UTF-16/32 document, or (BOM, None) for an
    encoding in which markup is ASCII (UTF-8, Latin-1, ...)."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return bom, (None if codec == "utf-8" else codec)
    for start, codec in _WIDE_STARTS:
        if data.startswith(start):
            return b"", codec
    return b"", None


def check_encoding(data: bytes) -> None:
    """Refuse a document in an encoding augmenter does not read (see the module docstring)."""
    for start, name in _REFUSED_STARTS:
        if data.startswith(start):
            raise _refused(name)
    bom, wide = sniff(data)
    if wide is not None:
        return
    head = data[len(bom):len(bom) + 1024]
    match = _DECLARATION.match(head)
    if match is None:
        return  # UTF-8 (libxml2 refuses bytes that are not)
    label = (match[1] or match[2]).decode("ascii")
    try:
        name = codecs.lookup(label).name
    except LookupError:
        raise _refused(label) from None
    if name not in READABLE:
        raise _refused(label)


def _refused(label: str) -> AugmentError:
    return AugmentError(f"encoding '{label}' is not supported (augmenter reads "
                        f"{READABLE_TEXT})", line=1, code="encoding")


def decode(data: bytes) -> tuple[bytes, str | None, str]:
    """BOM, wide codec (or None), and the text after the BOM. For ASCII-compatible encodings the
    text is the bytes read as Latin-1, so indexes in it are byte offsets."""
    bom, codec = sniff(data)
    rest = data[len(bom):]
    return bom, codec, rest.decode(codec or "latin-1", errors="replace")


# ---- the prolog -------------------------------------------------------------------------------

# XML's Misc: whitespace, comments and processing instructions (what may surround the root).
# Each alternative ends at the first terminator after its start, so one match is linear.
_MISC = re.compile(r"(?:[ \t\r\n]+|<\?.*?\?>|<!--.*?-->)*", re.S)


def prolog_end(text: str) -> int:
    """Where the root element (or a DOCTYPE) starts: after the declaration and any comments,
    processing instructions and whitespace."""
    match = _MISC.match(text)
    return match.end() if match else 0


# ---- the nodes of the root element ------------------------------------------------------------

TOKEN = re.compile(
    r"<(?:!--.*?-->"  # comment
    r"|\?.*?\?>"  # processing instruction
    r"|!\[CDATA\[.*?\]\]>"  # CDATA section (part of a text)
    r"|/[^>]*>"  # end tag
    r"|[^!?/>][^>\"']*(?:(?:\"[^\"]*\"|'[^']*')[^>\"']*)*>)",  # start tag (quotes may hold >)
    re.S)
ELEMENT, COMMENT, PI = 0, 1, 2


@dataclass
class Layout:
    """Where the root element and each node inside it sit in the text, in document order
    (the order of lxml's ``root.iter()``: elements, comments and processing instructions).

    For node ``i``: ``start[i]`` its ``<``; ``head[i]`` the end of its start tag (of the whole
    comment or PI); ``close[i]`` the start of its end tag (``head[i]`` when it has none);
    ``end[i]`` the end of the node. An element's text runs from ``head[i]`` to ``text_end[i]``
    (its first child, or its end tag); a node's tail from ``end[i]`` to ``tail_end[i]`` (its
    next sibling, or its parent's end tag). ``first[i]`` is its first child and ``next[i]`` its
    next sibling (-1: none).

    Arrays of 32-bit integers, not lists: a list holds an int object per entry, and a document
    at the limits has 500,000 nodes (the lists were 160 MB). Offsets stay far below 2**31: a
    document is at most 16 MiB, and lxml's writing of it at most a few times longer."""

    root_start: int
    root_end: int
    kind: array[int] = field(default_factory=lambda: array("i"))
    start: array[int] = field(default_factory=lambda: array("i"))
    head: array[int] = field(default_factory=lambda: array("i"))
    close: array[int] = field(default_factory=lambda: array("i"))
    end: array[int] = field(default_factory=lambda: array("i"))
    text_end: array[int] = field(default_factory=lambda: array("i"))
    tail_end: array[int] = field(default_factory=lambda: array("i"))
    first: array[int] = field(default_factory=lambda: array("i"))
    next: array[int] = field(default_factory=lambda: array("i"))

    def __len__(self) -> int:
        return len(self.kind)

    def children(self, i: int) -> list[int]:
        """The nodes directly inside node ``i``, in order."""
        out = []
        child = self.first[i]
        while child >= 0:
            out.append(child)
            child = self.next[child]
        return out


def scan(text: str) -> Layout | None:
    """The layout of a well-formed document's root element, or None when the text does not
    hold one (the caller then writes the document without it)."""
    at = prolog_end(text)
    if not text.startswith("<", at) or text.startswith(("<!", "<?", "</"), at):
        return None
    out = Layout(at, len(text))
    kind, start, head, close, end = out.kind, out.start, out.head, out.close, out.end
    text_end, tail_end, first, next_ = out.text_end, out.tail_end, out.first, out.next
    open_: list[int] = []  # elements whose end tag is still to come
    last_child: list[int] = []  # for each open element, its latest child (-1: none yet)
    for token in TOKEN.finditer(text, at):
        s, e = token.span()
        second = text[s + 1]
        if second == "/":
            if not open_:
                return None
            i = open_.pop()
            child = last_child.pop()
            close[i], end[i] = s, e
            if child < 0:
                text_end[i] = s
            else:
                tail_end[child] = s
            if not open_:
                out.root_end = e
                return out
            continue
        if second == "!" and text.startswith("<![CDATA[", s):
            continue
        if not open_ and kind:
            return None  # a second root
        i = len(kind)
        node = COMMENT if second == "!" else PI if second == "?" else ELEMENT
        kind.append(node)
        start.append(s)
        head.append(e)
        close.append(e)
        end.append(e)
        text_end.append(e)
        tail_end.append(e)
        first.append(-1)
        next_.append(-1)
        if open_:
            parent, previous = open_[-1], last_child[-1]
            if previous < 0:
                text_end[parent] = s
                first[parent] = i
            else:
                tail_end[previous] = s
                next_[previous] = i
            last_child[-1] = i
        if node == ELEMENT and not text.startswith("/>", e - 2):
            open_.append(i)
            last_child.append(-1)
        elif not open_:  # <domain/>: the whole root is one tag
            out.root_end = e
            return out
    return None
