"""Parse-time rules: every value libvirt 9.0's domain parser refuses, found in one walk.

libvirt reads a definition in ``virDomainDefParseXML`` before it looks at anything else; an enum
value it does not know, a boolean that is not its ``yes``/``no`` or ``on``/``off``, a number it
cannot read or that is out of range, a size with an unknown unit or too large, a required
attribute left out: each makes ``virsh define`` fail with a fixed message. The table of these
rules (``policy/parse_rules.py``, generated from libvirt's sources) says where each value sits;
this module walks the document once, element by element, and reports every refused value at
its line with libvirt's words and a hint. Nothing else of augment runs on a definition with
such an error: libvirt never gets further either.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import NamedTuple

from lxml import etree

from ..model.domain import Device
from ..policy.parse_rules import (
    Node,
    Plan,
    Rule,
    Step,
    Table,
    Tested,
    Verdict,
    judge,
    judge_scaled,
    table,
)
from ..xml.document import Element
from .findings import Finding

INVALID = "invalid-value"
MISSING = "missing-attribute"


def _condition_value(el: Element, attr: str) -> str | None:
    """What a context's condition reads: an attribute (None when absent), the element's name
    (``#name``), or an attribute of its first child of a name (``address@type``)."""
    if attr == "#name":
        return str(el.tag)
    child, at, name = attr.partition("@")
    holder = el.find(child) if at else el
    if holder is None:
        return None
    value: str | None = holder.get(name if at else attr)
    return value


def _holds(value: str | None, allowed: frozenset[str]) -> bool:
    """A condition's values: ``''`` stands for an absent attribute, ``*`` for any written."""
    if value is None:
        return "" in allowed
    return value in allowed or "*" in allowed


def _matches(step: Step, el: Element, first: bool) -> bool:
    if step.tag != "*" and step.tag != el.tag:
        return False
    if step.first and not first:
        return False
    return all(_holds(_condition_value(el, attr), values) for attr, values in step.where)


def _holds_here(tests: tuple[tuple[int, Step], ...],
                chain: Sequence[tuple[Element, bool]]) -> bool:
    """Whether a context holds for the path from the root to the last element of ``chain``
    ((element, is the first child of its name) from the root down). The names already
    match, as the walk followed the trie: ``tests`` are the steps left to test."""
    for i, step in tests:
        el, first = chain[i]
        if not _matches(step, el, first):
            return False
    return True


def _groups_here(plan: Plan, el: Element, chain: Sequence[tuple[Element, bool]]
                 ) -> list[list[Rule]]:
    """The groups of rules of a node whose contexts hold for ``el`` (the last of ``chain``),
    in the node's order: those that test nothing, those that accept the value of the one
    attribute they test (looked up), and the others tested in full. Where that one
    attribute is all a node's contexts read, the answer is kept per value."""
    fixed = plan.fixed
    if fixed is not None:
        return fixed
    keyed = plan.keyed
    if keyed is not None:
        value = el.get(keyed)
        known = plan.answers.get(value)
        if known is not None:
            return known
        found = _groups_of(plan, el, chain)
        if len(plan.answers) < ANSWERS_KEPT:  # values are the document's: keep a few
            plan.answers[value] = found
        return found
    return _groups_of(plan, el, chain)


ANSWERS_KEPT = 64


def _groups_of(plan: Plan, el: Element, chain: Sequence[tuple[Element, bool]]
               ) -> list[list[Rule]]:
    """:func:`_groups_here`, worked out."""
    hits: list[Tested] = list(plan.always)
    for attr, index in plan.by_value.items():
        value = el.get(attr)
        if value is None:
            hits += index.get("", ())
        else:
            hits += index.get(value, ())
            hits += index.get("*", ())
    for attr, narrowed in plan.narrowed.items():
        value = el.get(attr)
        for position, tests, group in (narrowed.get("", ()) if value is None else
                                       (*narrowed.get(value, ()), *narrowed.get("*", ()))):
            if _holds_here(tests, chain):
                hits.append((position, group))
    for position, tests, group in plan.general:
        if _holds_here(tests, chain):
            hits.append((position, group))
    if len(hits) > 1:  # in the node's order, each once (a context may accept "x" and "*")
        hits = sorted(dict(hits).items())
    return [group for _, group in hits]


def _text(el: Element) -> str:
    """The element's text as XPath's string() gives it to libvirt (comments left out)."""
    return str(el.xpath("string()"))


def _value(rule: Rule, el: Element) -> str | None:
    """The value the rule is about, or None when it is absent (for libvirt's XPath reads an
    empty string is absent too)."""
    if rule.attr == "#name":
        return str(el.tag)
    value = _text(el) if rule.attr == "#text" else el.get(rule.attr)
    if value == "" and rule.empty_is_absent:
        return None
    return value


def _verdict(rule: Rule, el: Element) -> tuple[str, Verdict] | None:
    """(finding code, libvirt's verdict) of ``rule`` on ``el``, or None when it accepts."""
    value = _value(rule, el)
    if rule.kind == "required":
        if value is not None:
            return None
        message = rule.message.replace("{attr}", rule.attr).replace("{element}", str(el.tag))
        return MISSING, Verdict(message, f"write the '{rule.attr}' attribute")
    if value is None:
        return None
    if rule.kind == "scaled":
        unit = el.get(rule.unit) if rule.unit else None
        found = judge_scaled(rule, value, unit)
    else:
        found = judge(rule, str(el.tag), value)
    if found is None:
        return None
    if "{ancestor:" in found.message:
        found = Verdict(_ANCESTOR.sub(lambda m: _ancestor_value(el, m), found.message),
                        found.hint)
    return INVALID, found


_ANCESTOR = re.compile(r"\{ancestor:([\w-]+)@([\w-]+)\}")


def _ancestor_value(el: Element, m: re.Match[str]) -> str:
    """A message's ``{ancestor:cell@id}``: that attribute of the nearest such ancestor, or
    its place among its like-named siblings (what libvirt counts when it is absent)."""
    for up in el.iterancestors(m.group(1)):
        value = up.get(m.group(2))
        if value is not None:
            return str(value)
        parent = up.getparent()
        return str(parent.findall(m.group(1)).index(up)) if parent is not None else "0"
    return "?"


def applicable(root: Element, rules: Table | None = None
               ) -> Iterator[tuple[Rule, Element, Sequence[tuple[Element, bool]]]]:
    """(rule, element, path from the root) for each rule that holds where it stands in the
    document under ``root``, in document order. One walk: each element meets only the rules
    of its own path (the table's trie), and a subtree no rule reaches is not entered."""
    for el, chain, groups in _walk(root, rules if rules is not None else table()):
        for group in groups:
            for rule in group:
                yield rule, el, chain


def _walk(root: Element, rules: Table
          ) -> Iterator[tuple[Element, Sequence[tuple[Element, bool]], list[list[Rule]]]]:
    """(element, path from the root, the groups of rules that hold there) for each element
    some rule holds for, in document order. Children are met as their parent's iterator
    gives them: half a million devices are never held in a list of their own."""
    chain: list[tuple[Element, bool]] = [(root, True)]
    top = _reach(rules.root.step(str(root.tag)))
    for plan in top.plans:
        groups = _groups_here(plan, root, chain)
        if groups:
            yield root, chain, groups
    if not top.deeper or not len(root):
        return
    # per open element: its children still to meet, what it reached, and what each child
    # name reaches (a name met before: not the first of its name)
    open_: list[tuple[Iterator[Element], _Reach, dict[str, _Reach]]] = [(iter(root), top, {})]
    while open_:
        children, here, reaching = open_[-1]
        depth = len(open_)
        for child in children:
            tag = child.tag
            reach = reaching.get(tag)  # type: ignore[arg-type]
            first = reach is None
            if reach is None:
                if not isinstance(tag, str):
                    continue  # comments and processing instructions
                reach = reaching[tag] = _reach([c for n in here.nodes for c in n.step(tag)])
            nodes, plans, fixed, deeper = reach
            if not nodes:
                continue
            del chain[depth:]
            chain.append((child, first))
            if fixed is not None:  # one node, whose answer is the same for every element
                yield child, chain, fixed
            else:
                for plan in plans:
                    groups = _groups_here(plan, child, chain)
                    if groups:
                        yield child, chain, groups
            if deeper and len(child):
                open_.append((iter(child), reach, {}))
                break
        else:
            open_.pop()


class _Reach(NamedTuple):
    """The trie nodes an element reaches, their plans, the groups that hold for every such
    element when that is known without looking (one node, whose plan is ``fixed``), and
    whether any node goes deeper: worked out once per name under a parent, not per
    element."""

    nodes: list[Node]
    plans: list[Plan]
    fixed: list[list[Rule]] | None
    deeper: bool


def _reach(nodes: list[Node]) -> _Reach:
    plans = [n.plan() for n in nodes]
    fixed = plans[0].fixed if len(plans) == 1 and plans[0].fixed else None
    return _Reach(nodes, plans, fixed, any(n.children for n in nodes))


def findings(root: Element, rules: Table | None = None) -> Iterator[Finding]:
    """Every value of the document under ``root`` that libvirt's parser refuses, in document
    order; one finding per element, attribute and kind of rule."""
    seen: set[tuple[Element, str, str]] = set()
    for el, chain, groups in _walk(root, rules if rules is not None else table()):
        if len(groups) == 1 and len(groups[0]) == 1:
            rule = groups[0][0]
            if rule.accepted and el.get(rule.attr) in rule.accepted:
                continue  # one enum and a value it has (500,000 <serial type='pty'/>)
        # most rules are about an attribute the element does not have
        keys = el.keys()
        written = keys if len(keys) <= 16 else set(keys)
        for group in groups:
            for rule in group:
                attr = rule.attr
                if attr not in written:
                    if rule.kind != "required" and attr[0] != "#":
                        continue
                elif rule.accepted and el.get(attr) in rule.accepted:
                    continue  # a value the enum has: nothing to judge
                found = _verdict(rule, el)
                if found is None:
                    continue
                key = (el, rule.attr, rule.kind)
                if key in seen:
                    continue
                seen.add(key)
                code, verdict = found
                yield Finding(code, "error", verdict.message, el.sourceline, None,
                              _device(chain), verdict.hint)


def _device(chain: Sequence[tuple[Element, bool]]) -> str | None:
    """How a person names the device a value belongs to (``disk vda``, ``controller usb 0``),
    as the other checks name it."""
    if len(chain) < 3 or chain[1][0].tag != "devices":
        return None
    el = chain[2][0]
    return Device(el, str(el.tag), el.sourceline or 0).name()


def check_tree(tree: etree._ElementTree) -> list[Finding]:
    """The parse-time findings of a parsed document."""
    return list(findings(tree.getroot()))
