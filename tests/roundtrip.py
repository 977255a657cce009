"""Is everything the input had still in the output, byte for byte? (issue 9, part 2)

Both documents are cut into raw tokens (start tags, end tags, text, comments, processing
instructions, CDATA) and built into trees of those tokens. The output tree is walked against
the input tree: an output element with no counterpart in the input is *added* and removed with
its subtree; every input element must find its counterpart, in order. What is left is then
compared token by token:

* ``strict``: every token's raw text as written: quotes, whitespace inside tags, character
  references, ``<a></a>`` vs ``<a/>``;
* not strict: names, attribute names and decoded values in order, decoded text; comments, PIs
  and CDATA still raw.

Either way an input element may gain attributes (appended) and, for the attributes in
:data:`CHANGED_BY_LIBVIRT`, change a value; whitespace-only text next to an added element may
differ (the indentation of what was added). Every difference is returned as a line.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

# (element, attribute) whose value libvirt itself rewrites: <os><type machine='q35'> becomes
# the versioned machine type; a serial's <target type='isa-serial'> becomes the machine's own
# type (qemuDomainChrDefPostParse: spapr-vio-serial on pSeries); a virtio console's port is
# renumbered after the serial console libvirt adds (virDomainDefAddConsoleCompat).
CHANGED_BY_LIBVIRT = {("type", "machine"), ("target", "type"), ("target", "port")}
# Elements that carry an address, which libvirt completes and writes in its own form
# (``domain='0'`` becomes ``domain='0x0000'``): kept in place, attributes free.
REWRITTEN = {"address", "master", "zpci"}

_TOKEN = re.compile(r"""
    (?P<comment><!--.*?-->)
  | (?P<cdata><!\[CDATA\[.*?\]\]>)
  | (?P<pi><\?.*?\?>)
  | (?P<doctype><!DOCTYPE[^>]*>)
  | (?P<end></[^>]*>)
  | (?P<start><[^\s/>!?]+(?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*\s*/?>)
  | (?P<text>[^<]+)
""", re.S | re.X)
_ATTR = re.compile(r"""(?P<ws>\s+)(?P<name>[^\s=/>]+)(?P<eq>\s*=\s*)(?P<q>["'])(?P<v>.*?)(?P=q)""",
                   re.S)
_NAME = re.compile(r"<([^\s/>]+)")


@dataclass
class Attr:
    raw: str  # as written, with the whitespace before it
    name: str
    value: str  # decoded


@dataclass
class Node:
    kind: str  # element, text, comment, pi, cdata, doctype
    raw: str  # the start tag for an element
    end: str = ""  # its end tag, "" when written <x/>
    children: list[Node] = field(default_factory=list)
    touched: bool = False  # text next to a removed element

    @property
    def name(self) -> str:
        m = _NAME.match(self.raw)
        return m.group(1) if m else ""

    @property
    def attrs(self) -> list[Attr]:
        return [Attr(m.group(0), m["name"], html.unescape(m["v"]))
                for m in _ATTR.finditer(self.raw[len(self.name) + 1:])]

    @property
    def empty(self) -> bool:
        return self.raw.endswith("/>")

    def path_label(self) -> str:
        return f"<{self.name}>"


def parse(text: str) -> Node:
    """A document as a tree of raw tokens (a synthetic root holds the prolog and epilogue)."""
    root = Node("element", "<#document>")
    stack = [root]
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ValueError(f"cannot tokenize at {pos}: {text[pos:pos + 40]!r}")
        pos = m.end()
        kind = m.lastgroup or "text"
        raw = m.group(0)
        if kind == "start":
            node = Node("element", raw)
            stack[-1].children.append(node)
            if not raw.endswith("/>"):
                stack.append(node)
        elif kind == "end":
            stack[-1].end = raw
            stack.pop()
        else:
            stack[-1].children.append(Node(kind, raw))
    return root


def _merge_text(children: list[Node]) -> list[Node]:
    out: list[Node] = []
    for child in children:
        if child.kind == "text" and out and out[-1].kind == "text":
            out[-1] = Node("text", out[-1].raw + child.raw, touched=True)
        else:
            out.append(child)
    return out


def _compatible(a: Node, b: Node) -> bool:
    """Could output element ``b`` be input element ``a``, with attributes kept?"""
    if b.kind != "element" or a.name != b.name:
        return False
    if a.name in REWRITTEN:
        return True
    mine = {x.name: x.value for x in b.attrs}
    if not all(x.name in mine and (mine[x.name] == x.value or (a.name, x.name)
                                   in CHANGED_BY_LIBVIRT) for x in a.attrs):
        return False
    # and its element children can be found in order (an added console is not the user's)
    theirs = iter(c for c in b.children if c.kind == "element")
    return all(any(_compatible(mine_c, t) for t in theirs)
               for mine_c in a.children if mine_c.kind == "element")


@dataclass
class Report:
    strict: bool
    differences: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)  # element names that were added
    new_attributes: list[str] = field(default_factory=list)  # elem@attr added to input elements
    rewritten: list[str] = field(default_factory=list)  # REWRITTEN elements that changed

    def diff(self, where: str, what: str) -> None:
        self.differences.append(f"{where}: {what}")


def _strip(a: Node, b: Node, report: Report, where: str) -> list[Node]:
    """``b``'s children with the added elements removed, each kept one paired with ``a``'s."""
    kept: list[Node] = []
    want = [c for c in a.children if c.kind == "element"]
    i = 0
    for child in b.children:
        if child.kind != "element":
            kept.append(child)
            continue
        if i < len(want) and _compatible(want[i], child):
            kept.append(child)
            i += 1
            continue
        report.added.append(f"{where}/{child.name}")
        if kept and kept[-1].kind == "text":
            kept[-1].touched = True
        kept.append(Node("text", "", touched=True))  # marks the place
    for missing in want[i:]:
        report.diff(where, f"input element {missing.raw[:80]!r} is missing from the output")
    merged = _merge_text(kept)
    # a touched text that is empty (nothing around the removed element) is no text at all
    return [n for n in merged if not (n.kind == "text" and n.touched and n.raw == "")]


def _same_start(a: Node, b: Node, report: Report, where: str) -> None:
    if a.name in REWRITTEN and a.raw != b.raw:
        report.rewritten.append(f"{where}: {a.raw} -> {b.raw}")
        return
    a_attrs, b_attrs = a.attrs, b.attrs
    keep = b_attrs[:len(a_attrs)]
    for extra in b_attrs[len(a_attrs):]:
        report.new_attributes.append(f"{a.name}@{extra.name}")
    if report.strict:
        head_a = a.raw[:len(a.name) + 1]
        head_b = b.raw[:len(b.name) + 1]
        raw_a = "".join(x.raw for x in a_attrs)
        raw_b = "".join(x.raw if (a.name, x.name) not in CHANGED_BY_LIBVIRT else
                        next((y.raw for y in a_attrs if y.name == x.name), x.raw)
                        for x in keep)
        tail_a = a.raw[len(head_a) + len(raw_a):].replace("/>", ">")
        tail_b = b.raw[len(head_b) + len("".join(x.raw for x in b_attrs)):].replace("/>", ">")
        if (head_a, raw_a, tail_a) != (head_b, raw_b, tail_b):
            report.diff(where, f"start tag {a.raw[:100]!r} written as {b.raw[:100]!r}")
        return
    plain = [(x.name, x.value) for x in a_attrs if not x.name.startswith("xmlns")]
    out = [(x.name, x.value) for x in b_attrs if not x.name.startswith("xmlns")]
    out = [(n, v) if (a.name, n) not in CHANGED_BY_LIBVIRT else
           (n, dict(plain).get(n, v)) for n, v in out[:len(plain)]]
    if plain != out:
        report.diff(where, f"attributes {plain} became {out}")
    ns_a = {(x.name, x.value) for x in a_attrs if x.name.startswith("xmlns")}
    ns_b = {(x.name, x.value) for x in b_attrs if x.name.startswith("xmlns")}
    if ns_a != ns_b:
        report.diff(where, f"namespace declarations {sorted(ns_a)} became {sorted(ns_b)}")


def _text_equal(a: str, b: str, strict: bool) -> bool:
    return a == b if strict else html.unescape(a) == html.unescape(b)


def _walk(a: Node, b: Node, report: Report, where: str) -> None:
    if a.kind == "element" and a.name != "#document":
        _same_start(a, b, report, where)
        if report.strict and a.end and b.end and a.end != b.end:
            report.diff(where, f"end tag {a.end!r} written as {b.end!r}")
        if report.strict and not a.empty and not a.children and b.empty:
            report.diff(where, f"{a.raw}{a.end} written as {b.raw}")
    ins = _merge_text(list(a.children))
    outs = _strip(a, b, report, where)
    i = j = 0
    while i < len(ins) or j < len(outs):
        x = ins[i] if i < len(ins) else None
        y = outs[j] if j < len(outs) else None
        if y is not None and y.kind == "text" and y.touched and not y.raw.strip():
            if x is not None and x.kind == "text" and not x.raw.strip():
                i += 1
            j += 1
            continue
        if x is None or y is None:
            extra = x or y
            assert extra is not None
            side = "output has an extra" if x is None else "output lacks the"
            report.diff(where, f"{side} {extra.kind} {extra.raw[:80]!r}")
            i, j = i + 1, j + 1
            continue
        if x.kind != y.kind:
            report.diff(where, f"{x.kind} {x.raw[:60]!r} became {y.kind} {y.raw[:60]!r}")
        elif x.kind == "element":
            _walk(x, y, report, f"{where}/{x.name}")
        elif x.kind == "text":
            if not _text_equal(x.raw, y.raw, report.strict):
                report.diff(where, f"text {x.raw[:60]!r} became {y.raw[:60]!r}")
        elif x.raw != y.raw:
            report.diff(where, f"{x.kind} {x.raw[:60]!r} became {y.raw[:60]!r}")
        i, j = i + 1, j + 1


def _primary_video_first(doc: Node) -> None:
    """libvirt moves the video whose model says ``primary='yes'`` before the other videos (lxml
    moves an element with its tail): do the same to the input before comparing."""
    for domain in (c for c in doc.children if c.kind == "element"):
        for devices in (c for c in domain.children if c.name == "devices"):
            kids = devices.children
            spots = [i for i, c in enumerate(kids) if c.kind == "element" and c.name == "video"]
            primary = [i for i in spots if any(
                m.name == "model" and any(a.name == "primary" and a.value == "yes"
                                          for a in m.attrs) for m in kids[i].children)]
            if not primary or primary[0] == spots[0]:
                continue
            unit = kids[primary[0]:primary[0] + 2] if (
                primary[0] + 1 < len(kids) and kids[primary[0] + 1].kind == "text") \
                else kids[primary[0]:primary[0] + 1]
            del kids[primary[0]:primary[0] + len(unit)]
            kids[spots[0]:spots[0]] = unit


def compare(original: str, output: str, strict: bool = True) -> Report:
    """Everything of ``original`` that ``output`` does not keep, as written."""
    report = Report(strict)
    doc = parse(original)
    _primary_video_first(doc)
    _walk(doc, parse(output), report, "")
    return report
