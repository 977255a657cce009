"""Writing the augmented document back in the input's own spelling (issue 13, item 4).

Everything augmenter did not change comes out as it went in, byte for byte: quote style,
attribute order and the whitespace inside tags, character references, ``<a></a>``, CDATA,
comments and processing instructions, the prolog and the epilogue, and the line ends (LF,
CRLF or CR). What augmenter added is written as lxml writes it, with the document's line end.

How: the original text is scanned once (:func:`augmenter.xml.source.scan`). The tree as
parsed, serialized by lxml once (:func:`written`, taken before augmenter changes anything), and
the augmented tree, serialized once, are compared part by part: from the root down, each child
of a changed element is paired with the child it was parsed from (by kind and source line;
nodes augmenter made have no source line), and an equal subtree is copied from the original
text whole. A changed element keeps its start tag as written, with only the changed attributes
rewritten (in their own quotes) and the new ones appended, and the parts of its content that
did not change. A pairing is used only as far as the comparison holds, so a wrong one costs
spelling, never content. The work is one pass over the document plus the subtrees of the
changed elements, and no second tree is held (``bench/bench_hostile.py``: 100,000 attributes
on one element take about a second for the whole run). Children kept as data
(``sketched``: docs/architecture.md, "Data flow") are spelt into their empty elements as lxml
would write them made.
"""

from __future__ import annotations

import copy
import re
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeAlias, cast

from lxml import etree

from .document import Sketch, last_line_ws, leading_ws, parser, spell
from .source import COMMENT, ELEMENT, PI, TOKEN, Layout, decode, prolog_end, scan

Node: TypeAlias = etree._Element
"""An lxml element, comment or processing instruction (both are elements to lxml)."""

_NAME = re.compile(r"<([^\s/>]+)")
_RAW_ATTR = re.compile(r"""(?P<ws>\s+)(?P<name>[^\s=/>]+)(?P<eq>\s*=\s*)"""
                       r"""(?P<q>["'])(?P<v>.*?)(?P=q)""", re.S)


Sketched: TypeAlias = Mapping[Node, Sequence[Sketch]]
"""Elements with children kept as data (``model.domain.Device.sketches``), and those children."""


def serialize(tree: etree._ElementTree, original: bytes, *, keep_spelling: bool = True,
              before: Written | None = None, sketched: Sketched | None = None,
              settle: Callable[[], None] | None = None) -> bytes:
    """The document as bytes, in the original's encoding, with the original's byte order mark,
    prolog and epilogue. ``keep_spelling`` (the default): everything augmenter did not change
    as it was written (see the module docstring); off, the root element as lxml writes it.
    ``before``: the tree as parsed (:func:`written`), taken before augmenter changed
    anything; without it the original is parsed again to have it. ``sketched``: children
    kept as data, spelt into their elements as :func:`~augmenter.xml.document.build` would
    make them; ``settle`` makes them elements, for the ways that write lxml's tree whole."""
    if not keep_spelling:
        _settled(sketched, settle)
        sketched = None
    bom, wide, _ = decode(original)
    rest = original[len(bom):]
    codec = wide or _codec(tree.docinfo.encoding)
    try:
        text = rest.decode(codec) if codec else None
    except UnicodeDecodeError:
        text = None
    if codec is None or text is None:  # not for a document parse_document accepted
        _settled(sketched, settle)
        return _bytes_level(tree, original)
    layout = scan(text)
    if layout is None:
        _settled(sketched, settle)
        return _bytes_level(tree, original)
    newline = _newline(text, layout.root_start, layout.root_end)
    quote = _quote(text, layout.root_start, layout.root_end) if keep_spelling else '"'
    body = None
    if keep_spelling:
        if before is None:
            before = _written_again(text, layout)
        if before is not None:
            body = _Respeller(tree, text, layout, newline, quote, before, codec,
                              sketched or {}).document()
            before = None
    if body is None:
        _settled(sketched, settle)
        body = [_lxml_text(tree.getroot(), newline).encode(codec, errors="xmlcharrefreplace")]
    return b"".join([bom, text[:layout.root_start].encode(codec, errors="xmlcharrefreplace"),
                     *body, text[layout.root_end:].encode(codec, errors="xmlcharrefreplace")])


def _settled(sketched: Sketched | None, settle: Callable[[], None] | None) -> None:
    """Make the sketched children elements (``settle``), for lxml to write the tree whole."""
    if sketched:
        if settle is None:
            raise ValueError("sketched children to write, and no way to make them")
        settle()


@dataclass(frozen=True)
class Written:
    """The tree as parsed, as :func:`serialize` compares the augmented tree with it: the root
    as lxml writes it, and each node's source line (in the order of ``root.iter()``; the
    writer pairs a node with its original by it). A string the size of the document and four
    bytes a node: the writer held a second tree for this, as large as the first."""

    text: str
    lines: array[int]


def written(tree: etree._ElementTree) -> Written:
    """:class:`Written` of a tree augmenter has not changed yet."""
    root = tree.getroot()
    # libxml2's own lines: past line 65535 it derives them from neighbouring nodes
    return Written(etree.tostring(root, encoding="unicode"),
                   array("i", (node.sourceline or 0 for node in root.iter())))


def _written_again(text: str, layout: Layout) -> Written | None:
    """:class:`Written` of the original, parsed again (None: it cannot be)."""
    # the prolog as its line ends only: the same source lines as the first parse
    prolog = re.sub(r"[^\r\n]", "", text[:layout.root_start])
    try:
        root = etree.fromstring(
            (prolog + text[layout.root_start:layout.root_end]).encode("utf-8"), parser())
    except etree.XMLSyntaxError:
        return None
    return written(etree.ElementTree(root))


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
        written = _single_quoted_tags(written)
    return written if newline == "\n" else written.replace("\n", newline)


_TAG = re.compile(r"<[^!?/][^>]*>")
_DOUBLE_QUOTED = re.compile(r'(\s[^\s=]+=)"([^"]*)"')


def _single_quoted(tag: re.Match[str]) -> str:
    """A start tag lxml wrote, its attribute values in single quotes."""
    return _DOUBLE_QUOTED.sub(
        lambda a: f"{a[1]}'{a[2].replace(chr(39), '&apos;').replace('&quot;', chr(34))}'",
        tag[0])


def _single_quoted_plainly(tag: re.Match[str]) -> str:
    """:func:`_single_quoted` for a start tag with no ' and no &quot; in its values (so every
    '"' in it delimits one): a tenth of the cost, for the many small ones augmenter adds."""
    written = tag[0]
    if "'" in written or "&quot;" in written:
        return _single_quoted(tag)
    return written.replace('"', "'")


def _single_quoted_tags(written: str) -> str:
    """Nodes lxml wrote, the attribute values of their start tags in single quotes. (In a
    comment, PI or CDATA section, what looks like a tag is left as :func:`_single_quoted`
    leaves it.)"""
    if "<!" in written or "<?" in written:
        return _TAG.sub(_single_quoted, written)
    first = written.find("<")
    if "'" in written or "&quot;" in written or _QUOTE_IN_TEXT.search(written) \
            or '"' in (written if first < 0 else written[:first]):
        return _TAG.sub(_single_quoted_plainly, written)
    return written.replace('"', "'")  # every '"' delimits a value (lxml escapes '>' in one)


_QUOTE_IN_TEXT = re.compile(r'>[^<"]*"')


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


# ---- pairing and writing ----------------------------------------------------------------------


def _opens_alike(one: str, other: str) -> bool:
    """Whether two start tags lxml wrote open alike (one may be written empty, ``<x/>``)."""
    return _opening(one) == _opening(other)


def _opening(tag: str) -> str:
    return tag[:-2] if tag.endswith("/>") else tag[:-1] if tag.endswith(">") else tag


class _Queue:
    """Original children of one kind on one line (their layout indexes), taken in order: the
    first one that opens like the child being paired among the next few, else the first left."""

    LOOK_AHEAD = 8

    def __init__(self, items: list[int]) -> None:
        self.items = items
        self.taken: set[int] = set()
        self.first = 0  # every item before it is taken

    def left(self) -> bool:
        return len(self.taken) < len(self.items)

    def take(self, opened: str, before: str, old: Layout) -> int | None:
        """The original child for one that opens with ``opened`` (as lxml writes it)."""
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
                j = self.items[at]
                if _opens_alike(opened, before[old.start[j]:old.head[j]]):
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


LINE_KEPT = 65535
"""libxml2 keeps 16 bits of a node's line; ``xmlGetLineNo`` derives a larger one from the nodes
around it (a text node's own line), which augmenter may have replaced (then lxml gives none,
and the node is written as new). Past it, two lines are taken for the same in the original's
order (a wrong pairing costs spelling, never content)."""


def _same_line(one: int, other: int) -> bool:
    return one == other or (one >= LINE_KEPT and other >= LINE_KEPT)


class _Siblings:
    """The original children of one element (layout indexes), as they are paired: in order
    while the children come in order, else looked up by kind and line."""

    def __init__(self, olds: list[int]) -> None:
        self.olds = olds
        self.next_old = 0  # olds[:next_old] are taken, or waiting
        self.waiting: dict[tuple[int, int], int | _Queue] | None = None

    def take(self, code: int, sourceline: int, opened: str, before: str, kind: array[int],
             line: array[int], old: Layout) -> int:
        """The original child for one of kind ``code`` on line ``sourceline`` that opens
        with ``opened`` (as lxml writes it), or -1 (``kind`` and ``line``: of every original
        node; ``old``: where each is in ``before``)."""
        olds = self.olds
        key = (code, sourceline)
        if self.waiting is None and self.next_old < len(olds):
            j = olds[self.next_old]
            if kind[j] == code and _same_line(line[j], sourceline) and (
                    # the next original is another on the same line: as a _Queue does
                    self.next_old + 1 == len(olds)
                    or (kind[olds[self.next_old + 1]], line[olds[self.next_old + 1]]) != key
                    or _opens_alike(opened, before[old.start[j]:old.head[j]])):
                self.next_old += 1
                return j
        if self.next_old >= len(olds):
            return -1
        if self.waiting is None:
            waiting: dict[tuple[int, int], int | _Queue] = {}
            self.waiting = waiting
            for j in olds[self.next_old:]:
                there = waiting.get((kind[j], line[j]))
                if there is None:
                    waiting[(kind[j], line[j])] = j
                elif isinstance(there, _Queue):
                    there.items.append(j)
                else:
                    waiting[(kind[j], line[j])] = _Queue([there, j])
        got = self.waiting.pop(key, None)
        if isinstance(got, _Queue):
            queue = got
            got = queue.take(opened, before, old)
            if queue.left():
                self.waiting[key] = queue
        return -1 if got is None else got


class _Respeller:
    """One document's writing: see the module docstring.

    Top down from the root: a child of a changed element is paired with an original child,
    compared with it as lxml serializes both and copied from the original text when equal;
    only the elements on the way to a change are taken apart. Both serializations are whole
    strings made once in C (``before``: the original tree as parsed; ``after``: the tree now),
    so no node is serialized on its own and no second tree is held: ``before`` is read through
    its :func:`~augmenter.xml.source.scan` (whose nodes are the original text's, one for one),
    ``after`` with a cursor that moves in step with the walk of the tree, over an unchanged
    subtree in one comparison. The work is proportional to the document, plus the size of each
    changed element's subtree."""

    FLUSH = 4096  # pieces joined and encoded at a time: a list of millions of small strings
    # (a new <target> in each of 500,000 serial ports) costs several times the output

    def __init__(self, tree: etree._ElementTree, text: str, layout: Layout, newline: str,
                 quote: str, before: Written, codec: str, sketched: Sketched) -> None:
        self.root = tree.getroot()
        self.sketched = sketched
        self.text, self.layout, self.newline, self.quote = text, layout, newline, quote
        self.before, self.lines, self.codec = before.text, before.lines, codec
        self.after = ""
        self.at = 0  # the cursor in ``after``
        self.pieces: list[str] = []
        self.chunks: list[bytes] = []
        self.span = (0, 0)  # original text still to be copied (contiguous copies merge)

    def document(self) -> list[bytes] | None:
        """The root element's bytes, in parts (joined once, with the prolog and epilogue), or
        None when the original cannot be read again (the caller writes lxml's
        serialization)."""
        old = scan(self.before)
        layout = self.layout
        if old is None or old.kind != layout.kind or len(self.lines) != len(layout):
            return None
        self.old = old
        self.after = etree.tostring(self.root, encoding="unicode")
        self._write(self.root, 0)
        self._put("")
        self._flush()
        self.after = ""  # let go of both serializations before the parts are joined
        del self.old, self.before, self.lines
        return self.chunks

    # ---- output ----

    def _copy(self, a: int, b: int) -> None:
        """The original text from ``a`` to ``b``."""
        if a == b:
            return
        start, end = self.span
        if a == end:
            self.span = (start, b)
            return
        self._put("")
        self.span = (a, b)

    def _put(self, piece: str) -> None:
        start, end = self.span
        if start != end:
            self.pieces.append(self.text[start:end])
            self.span = (0, 0)
        if piece:
            self.pieces.append(piece)
            if len(self.pieces) >= self.FLUSH:
                self._flush()

    def _flush(self) -> None:
        self.chunks.append("".join(self.pieces).encode(self.codec, errors="xmlcharrefreplace"))
        self.pieces.clear()

    def _put_after(self, a: int, b: int) -> None:
        """``after`` from ``a`` to ``b`` (what augmenter made or changed), as :func:`_lxml_text`
        writes it: the document's quotes and line end."""
        self._put_lxml(self.after[a:b])

    def _put_lxml(self, written: str) -> None:
        """Markup as lxml writes it, in the document's quotes and line end."""
        if self.quote == "'" and "<" in written:
            written = _single_quoted_tags(written)
        if self.newline != "\n":
            written = written.replace("\n", self.newline)
        self._put(written)

    # ---- reading ``after`` at the cursor ----

    def _token_end(self, at: int) -> int:
        """The end of the tag, comment or PI at ``at`` in ``after``."""
        token = TOKEN.match(self.after, at)
        return token.end() if token else len(self.after)

    def _node_end(self, at: int) -> int:
        """The end of the whole node at ``at`` in ``after`` (an element with its content)."""
        after = self.after
        head = self._token_end(at)
        if after.startswith("/>", head - 2) or after[at + 1] in "!?":
            return head
        # the usual new element: its end tag the first of its name, with no markup between
        # that could hide one (a comment, a PI, CDATA) and no element of the same name inside
        name = _NAME.match(after, at)
        if name is not None:
            close = after.find(f"</{name[1]}>", head)
            if close >= 0 and after.find("<!", head, close) < 0 \
                    and after.find("<?", head, close) < 0 \
                    and after.find(name[0], head, close) < 0:
                return close + len(name[1]) + 3
        depth = 0
        for token in TOKEN.finditer(after, at):
            s, e = token.span()
            second = after[s + 1]
            if second == "/":
                depth -= 1
            elif second == "!" and after.startswith("<![CDATA[", s):
                continue
            elif second not in "!?" and not after.startswith("/>", e - 2):
                depth += 1
            if depth == 0:
                return e
        return len(after)

    def _text_end(self, at: int) -> int:
        """Where the text at ``at`` in ``after`` ends: the next markup that is not CDATA."""
        after = self.after
        while True:
            lt = after.find("<", at)
            if lt < 0:
                return len(after)
            if not after.startswith("<![CDATA[", lt):
                return lt
            close = after.find("]]>", lt)
            at = len(after) if close < 0 else close + 3

    # ---- pairing and writing ----

    def _write(self, node: Node, i: int) -> None:
        """An element paired with node ``i`` of the original, ``after``'s cursor at its start."""
        layout, old, text, before, after = self.layout, self.old, self.text, self.before, \
            self.after
        at = self.at
        head = self._token_end(at)
        opened = after[at:head]
        closed = opened.endswith("/>")  # written <x .../> now
        tag = self._start_tag(opened, before[old.start[i]:old.head[i]],
                              text[layout.start[i]:layout.head[i]])
        if tag is None:
            end = self._node_end(at)
            self._put_after(at, end)
            self.at = end
            return
        text_end = head if closed else self._text_end(head)
        empty_before = text.startswith("/>", layout.head[i] - 2)  # written <x .../>
        has_content = not closed and (len(node) > 0 or text_end > head)
        if empty_before and has_content:
            tag = tag[:-2].rstrip() + ">" if tag.endswith("/>") else tag
        self._put(tag)
        if not empty_before and after[head:text_end] == before[old.head[i]:old.text_end[i]]:
            self._copy(layout.head[i], layout.text_end[i])
        else:
            self._put_after(head, text_end)
        self.at = text_end
        if not closed:
            self._children(node, i)
            end = self._token_end(self.at)  # the end tag
            self.at = end
        if not empty_before:
            self._copy(layout.close[i], layout.end[i])
        elif has_content:
            name = _NAME.match(tag)
            self._put(f"</{name[1] if name else str(node.tag)}>")

    def _write_sketched(self, node: Node, sketches: Sequence[Sketch], head: int,
                        i: int) -> None:
        """An element with sketched children (paired with node ``i`` of the original, or -1),
        the cursor at its start and ``head`` the end of its start tag: the start tag as
        written (lxml's when new), the children spelt, the end tag. The element is empty in
        the tree (Device.add_sketch keeps them only while it is), so ``<x .../>`` in
        ``after``."""
        at = self.at
        opened = self.after[at:head]
        if not opened.endswith("/>") or len(node):
            raise AssertionError(f"{node.tag!r} has sketched children and others")
        tag = None if i < 0 else self._start_tag(
            opened, self.before[self.old.start[i]:self.old.head[i]],
            self.text[self.layout.start[i]:self.layout.head[i]])
        if tag is None:
            self._put_lxml(opened[:-2] + ">")
        else:
            self._put(tag[:-2].rstrip() + ">" if tag.endswith("/>") else tag)
        self._put(spell(sketches, leading_ws(node), self.quote, self.newline))
        name = _NAME.match(tag if tag is not None else opened)
        self._put(f"</{name[1] if name else str(node.tag)}>")
        self.at = head

    RUN = 256  # children in order compared at once (their serializations in one string)

    def _children(self, node: Node, i: int) -> None:
        """The children of ``node`` (paired with node ``i``), each paired with the original
        child of its kind and source line (nodes augmenter made have none); the cursor left at
        ``node``'s end tag. Children that come in the original's order are compared a run at
        a time: an unchanged run of them, tails included, is one comparison and one copy
        (a <devices> may hold hundreds of thousands of children, most of them unchanged)."""
        layout = self.layout
        kind, line = layout.kind, self.lines
        siblings = _Siblings(layout.children(i))
        olds = siblings.olds
        run: list[tuple[Node, int]] = []
        for child in node:
            sourceline = child.sourceline
            tag = child.tag
            code = ELEMENT if isinstance(tag, str) else \
                COMMENT if cast(object, tag) is etree.Comment else PI
            at = siblings.next_old + len(run)
            if sourceline is not None and siblings.waiting is None and at < len(olds) \
                    and kind[olds[at]] == code and _same_line(line[olds[at]], sourceline):
                run.append((child, code))
                if len(run) == self.RUN:
                    self._run(run, siblings)
                    run = []
                continue
            if run:
                self._run(run, siblings)
                run = []
            self._child(child, code, siblings)
        if run:
            self._run(run, siblings)

    def _run(self, run: list[tuple[Node, int]], siblings: _Siblings) -> None:
        """Children that come in the original's order from ``siblings.next_old`` on: copied
        whole when they and their tails are unchanged, else paired one by one."""
        old, layout = self.old, self.layout
        first = siblings.olds[siblings.next_old]
        last = siblings.olds[siblings.next_old + len(run) - 1]
        same = self.before[old.start[first]:old.tail_end[last]]
        if self.after.startswith(same, self.at):
            at = layout.start[first]
            sketched = self.sketched
            if sketched:  # their sketches spliced into the copy
                olds, k = siblings.olds, siblings.next_old
                shift = self.at - old.start[first]  # from ``before`` to ``after`` in the run
                for child, _ in run:
                    sketches = sketched.get(child)
                    if sketches:
                        j = olds[k]
                        at = self._splice(child, j, sketches, at, old.start[j] + shift)
                    k += 1
            self._copy(at, layout.tail_end[last])
            self.at += len(same)
            siblings.next_old += len(run)
            return
        for child, code in run:
            self._child(child, code, siblings)

    def _splice(self, node: Node, j: int, sketches: Sequence[Sketch], at: int,
                after_at: int) -> int:
        """An unchanged element with sketched children (node ``j`` of the original, empty
        there; at ``after_at`` in ``after``), copied from ``at`` with its children spelt in:
        where to copy on from."""
        text, layout = self.text, self.layout
        head = layout.head[j]
        spelt = spell(sketches, self._indent(node, after_at), self.quote, self.newline)
        if not text.startswith("/>", head - 2):  # <x ...></x>
            self._copy(at, head)
            self._put(spelt)
            return layout.close[j]
        cut = head - 2
        while text[cut - 1] in " \t\r\n":  # as _write opens <x .../>
            cut -= 1
        self._copy(at, cut)
        name = _NAME.match(text, layout.start[j])
        self._put(f">{spelt}</{name[1] if name else str(node.tag)}>")
        return head

    def _indent(self, node: Node, at: int) -> str:
        """``leading_ws(node)``, read from ``after`` (``node`` is written at ``at``): the text
        before it is its previous sibling's tail or its parent's text, as lxml writes it,
        which has no ``>`` and spells nothing but ``&``, ``<``, ``>`` and CR differently."""
        after = self.after
        line = after.rfind("\n", after.rfind(">", 0, at) + 1, at)
        if line >= 0 and "&" not in after[line:at]:
            return last_line_ws(after[line:at])
        return leading_ws(node)  # no line end there, or a CR: ask the tree

    def _child(self, child: Node, code: int, siblings: _Siblings) -> None:
        """One child, the cursor at its start: paired, then copied, taken apart or written."""
        layout, old, before, after = self.layout, self.old, self.before, self.after
        at = self.at
        sourceline = child.sourceline
        found = -1
        head = self._token_end(at)
        if sourceline is not None:
            found = siblings.take(code, sourceline, after[at:head], before, layout.kind,
                                  self.lines, old)
        sketches = self.sketched.get(child) if self.sketched else None
        if sketches:
            self._write_sketched(child, sketches, head, found)
        elif found < 0:
            end = self._node_end(at)
            self._put_after(at, end)
            self.at = end
        else:
            j = found
            same = before[old.start[j]:old.end[j]]
            if after.startswith(same, at):
                self._copy(layout.start[j], layout.end[j])
                self.at = at + len(same)
            elif code == ELEMENT:
                self._write(child, j)
            else:
                end = self._node_end(at)
                self._put_after(at, end)
                self.at = end
        at = self.at
        tail_end = self._text_end(at)
        if found >= 0 and after[at:tail_end] == before[old.end[found]:old.tail_end[found]]:
            self._copy(layout.end[found], layout.tail_end[found])
        else:
            self._put_after(at, tail_end)
        self.at = tail_end

    def _start_tag(self, opened: str, opened_before: str, raw: str) -> str | None:
        """The start tag ``opened`` (lxml's, now) in the spelling of ``raw`` (the original's,
        which lxml wrote as ``opened_before``), or None when it cannot be had that way (the
        element renamed, an attribute in a namespace added)."""
        if opened.endswith("/>"):
            opened = opened[:-2] + ">"
        if opened_before.endswith("/>"):
            opened_before = opened_before[:-2] + ">"
        if opened == opened_before:
            return raw
        name, name_before, name_raw = _NAME.match(opened), _NAME.match(opened_before), \
            _NAME.match(raw)
        if name is None or name_before is None or name_raw is None \
                or name[1] != name_before[1]:
            return None
        now = _written_attributes(opened, name.end())
        before = _written_attributes(opened_before, name_before.end())
        if [a for a in now if _is_xmlns(a[0])] != [a for a in before if _is_xmlns(a[0])]:
            return None
        before = [a for a in before if not _is_xmlns(a[0])]
        attrs = list(_RAW_ATTR.finditer(raw, name_raw.end()))
        if sum(not _is_xmlns(a["name"]) for a in attrs) != len(before):
            return None
        values = {key: value for key, value in now if not _is_xmlns(key)}
        parts = [raw[:name_raw.end()]]
        position, k = name_raw.end(), 0
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
                parts.append(f"{a['ws']}{a['name']}{a['eq']}{a['q']}{_requoted(value, a['q'])}"
                             f"{a['q']}")
        quote = next((a["q"] for a in reversed(attrs)), self.quote)
        for key, value in values.items():  # added, in the order augmenter set them
            if ":" in key:
                return None
            parts.append(f" {key}={quote}{_requoted(value, quote)}{quote}")
        parts.append(raw[position:])
        return "".join(parts)


_WRITTEN_ATTR = re.compile(r'\s([^\s=]+)="([^"]*)"')


def _written_attributes(opened: str, at: int) -> list[tuple[str, str]]:
    """The attributes (and namespace declarations) of a start tag lxml wrote, as (name,
    value as written) pairs in order."""
    return [(a[1], a[2]) for a in _WRITTEN_ATTR.finditer(opened, at)]


def _requoted(written: str, quote: str) -> str:
    """An attribute value as lxml writes it (in double quotes), for ``quote`` instead."""
    if quote == '"':
        return written
    return written.replace("&quot;", '"').replace("'", "&apos;")


def _is_xmlns(name: str) -> bool:
    return name == "xmlns" or name.startswith("xmlns:")
