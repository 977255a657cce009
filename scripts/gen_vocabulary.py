#!/usr/bin/env python3
"""Regenerate augmenter/data/vocabulary.json, the names libvirt knows, from libvirt's schema.

It reads the RelaxNG grammar libvirt installs (``domain.rng`` and every file it includes) and
keeps, for each element as the schema places it, the attributes it may carry (with their
enumerated values, or their data type), the child elements it may contain, and where any name
is allowed (``<metadata>``). The same name under different parents is a different element
(``<address>`` of a disk, ``<address>`` of a ``<source>``): each keeps its own content model.

Exactness goes one way only: where the schema is ambiguous the table takes the union, so that a
name the schema allows is never reported. The one refinement over a plain union is the tagged
choice: where every branch of a ``<choice>`` either requires an attribute with enumerated values
(``<address type='pci'>``, ``<interface type='user'>``) or never mentions it, the branches are kept
apart under that attribute's values, so ``port`` is known on a USB address but not on a PCI one.

    .venv/bin/python scripts/gen_vocabulary.py            # rewrite the table
    .venv/bin/python scripts/gen_vocabulary.py --check    # exit 1 if it differs from the schema
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

from lxml import etree

TABLE = Path(__file__).resolve().parent.parent / "augmenter" / "data" / "vocabulary.json"
SCHEMA = Path("/usr/share/libvirt/schemas/domain.rng")
FORMAT = 2
RNG = "{http://relaxng.org/ns/structure/1.0}"
ANY = "*"  # an element or attribute of any name (RelaxNG <anyName/>)

Node: TypeAlias = Any  # an lxml element of the schema (lxml ships no type information)


# ---- the value an attribute may take -----------------------------------------------------


@dataclass(frozen=True)
class Values:
    """What an attribute's value may be: listed values, data types, or any text."""

    listed: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()

    def __or__(self, other: Values) -> Values:
        return Values(self.listed | other.listed, self.types | other.types)

    @property
    def enumerated(self) -> bool:
        return bool(self.listed) and not self.types

    def to_json(self) -> Any:
        """An enumeration as the list of its values; anything else as its types (and values)."""
        if self.enumerated:
            return sorted(self.listed)
        out: dict[str, list[str]] = {"types": sorted(self.types)}
        if self.listed:
            out["values"] = sorted(self.listed)
        return out


# ---- content models ----------------------------------------------------------------------


@dataclass(frozen=True)
class Switch:
    """A tagged choice: the branches that hold when ``attr`` has each value, and when it is
    absent (None: it may not be)."""

    attr: str
    cases: tuple[tuple[str, Model], ...]
    absent: Model | None


@dataclass(frozen=True)
class Model:
    """What an element may hold, as far as names go.

    ``counts`` says how often each child may occur: 1 (at most once) or 2 (more). ``required``
    (compile time only) maps each attribute every match must carry, with listed values only, to
    those values: what makes a tagged choice. ``never`` is RelaxNG's ``<notAllowed/>``: a
    branch that can never match.
    """

    attrs: tuple[tuple[str, Values], ...] = ()
    children: tuple[tuple[str, frozenset[int]], ...] = ()
    switches: tuple[Switch, ...] = ()
    any_name: bool = False
    counts: tuple[tuple[str, int], ...] = ()
    required: tuple[tuple[str, frozenset[str]], ...] = ()
    mentioned: frozenset[str] = frozenset()
    never: bool = False


EMPTY = Model()
NEVER = Model(never=True)


def _merge_pairs(pairs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in pairs:
        out[name] = out[name] | value if name in out else value
    return out


MANY = 2  # a child's count: more than once


def _counts(models: Sequence[Model], add: bool) -> dict[str, int]:
    """How often each child may occur in all of ``models`` together (``add``: a group) or in
    any one of them (a choice)."""
    out: dict[str, int] = {}
    for m in models:
        for name, n in m.counts:
            out[name] = min(MANY, out.get(name, 0) + n) if add else max(out.get(name, 0), n)
    return out


def union(models: Sequence[Model], required: dict[str, frozenset[str]],
          counts: dict[str, int]) -> Model:
    """Every name any of ``models`` allows, with the given required attributes and counts."""
    if any(m.never for m in models):
        return NEVER
    attrs = _merge_pairs(p for m in models for p in m.attrs)
    children = _merge_pairs(p for m in models for p in m.children)
    switches: list[Switch] = []
    for m in models:
        switches.extend(s for s in m.switches if s not in switches)
    return Model(attrs=tuple(sorted(attrs.items())), children=tuple(sorted(children.items())),
                 switches=tuple(switches), any_name=any(m.any_name for m in models),
                 counts=tuple(sorted(counts.items())), required=tuple(sorted(required.items())),
                 mentioned=frozenset().union(*(m.mentioned for m in models)))


def group(models: Sequence[Model]) -> Model:
    """All of ``models`` at once (RelaxNG group, interleave, mixed): what each requires."""
    return union(models, _merge_pairs(p for m in models for p in m.required),
                 _counts(models, add=True))


def optional(model: Model) -> Model:
    return EMPTY if model.never else union([model], {}, dict(model.counts))


def repeated(model: Model, at_least_once: bool = False) -> Model:
    """``model`` any number of times (RelaxNG zeroOrMore; oneOrMore ``at_least_once``, which
    keeps what it requires): each child, many."""
    if model.never:
        return NEVER if at_least_once else EMPTY
    return union([model], dict(model.required) if at_least_once else {},
                 {name: MANY for name, _ in model.counts})


def choice(models: Sequence[Model]) -> Model:
    """One of ``models``: a tagged choice where an attribute tells the branches apart, else
    their union. An attribute is required after the choice only if every branch requires it."""
    live = [m for m in models if not m.never]
    if not live:
        return NEVER
    if len(live) == 1:
        return live[0]
    required: dict[str, frozenset[str]] = {}
    each = [dict(m.required) for m in live]
    for name in set(each[0]).intersection(*each[1:]):
        required[name] = frozenset().union(*(r[name] for r in each))
    tag = _tag_of(live, each)
    if tag is None:
        return union(live, required, _counts(live, add=False))
    by_value: dict[str, list[Model]] = {}
    absent: list[Model] = []
    for m, req in zip(live, each, strict=True):
        if tag in req:
            for value in req[tag]:
                by_value.setdefault(value, []).append(m)
        else:
            absent.append(m)
    cases = tuple((value, union(ms, {}, _counts(ms, add=False)))
                  for value, ms in sorted(by_value.items()))
    switch = Switch(tag, cases, union(absent, {}, _counts(absent, add=False)) if absent else None)
    return Model(switches=(switch,), counts=tuple(sorted(_counts(live, add=False).items())),
                 required=tuple(sorted(required.items())),
                 mentioned=frozenset().union(*(m.mentioned for m in live)))


def _tag_of(live: list[Model], each: list[dict[str, frozenset[str]]]) -> str | None:
    """The attribute that tells ``live``'s branches apart: every branch requires it (with
    listed values) or never mentions it. With several, the one most branches require."""
    best: tuple[int, str] | None = None
    for name in sorted(set().union(*each)):
        if all(name in req or name not in m.mentioned for m, req in zip(live, each, strict=True)):
            count = sum(name in req for req in each)
            if best is None or count > best[0]:
                best = (count, name)
    return best[1] if best else None


# ---- reading the grammar -----------------------------------------------------------------


@dataclass
class Grammar:
    """The defines and start of a RelaxNG grammar and everything it includes."""

    defines: dict[str, list[tuple[str | None, Node]]] = field(default_factory=dict)
    start: list[Node] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    def load(self, path: Path, skip: frozenset[str] = frozenset()) -> None:
        """Read ``path``: its defines, its start, and its includes in place. Defines written
        inside an ``<include>`` replace the included file's own of the same name."""
        self.files.append(path)
        root = etree.parse(str(path)).getroot()
        for node in root:
            if not isinstance(node.tag, str):
                continue
            if node.tag == RNG + "include":
                own = frozenset(d.get("name", "") for d in node if d.tag == RNG + "define")
                self.load(path.parent / node.get("href", ""), skip | own)
                for child in node:
                    self._add(child, frozenset())
            else:
                self._add(node, skip)

    def _add(self, node: Node, skip: frozenset[str]) -> None:
        if node.tag == RNG + "define":
            name = node.get("name", "")
            if name not in skip:
                self.defines.setdefault(name, []).append((node.get("combine"), node))
        elif node.tag == RNG + "start":
            self.start.append(node)


class Compiler:
    """Content models of a grammar's elements, each ``<element>`` of the schema once."""

    def __init__(self, grammar: Grammar) -> None:
        self.grammar = grammar
        self.element_ids: dict[Node, int] = {}
        self.elements: list[tuple[str, Node]] = []
        self.models: list[Model] = []
        self._defines: dict[str, Model] = {}
        self._values: dict[str, Values] = {}
        self._busy: set[str] = set()

    def run(self) -> list[int]:
        """Compile from the start; the root elements' ids."""
        start = group([self.body(s) for s in self.grammar.start])
        pending = 0
        while pending < len(self.elements):
            name, node = self.elements[pending]
            content = [c for c in node if isinstance(c.tag, str)]
            if name == ANY:
                self.models.append(Model(any_name=True))
            else:
                if node.get("name") is None:
                    content = content[1:]  # the name class
                self.models.append(group([self.pattern(c) for c in content]))
            pending += 1
        return sorted(i for _, ids in start.children for i in ids)

    def body(self, node: Node) -> Model:
        return group([self.pattern(c) for c in node if isinstance(c.tag, str)])

    def pattern(self, node: Node) -> Model:
        tag = etree.QName(node).localname
        if tag == "element":
            return self._element(node)
        if tag == "attribute":
            return self._attribute(node)
        if tag in ("group", "interleave", "mixed"):
            return self.body(node)
        if tag == "optional":
            return optional(self.body(node))
        if tag == "oneOrMore":
            return repeated(self.body(node), at_least_once=True)
        if tag == "zeroOrMore":
            return repeated(self.body(node))
        if tag == "choice":
            return choice([self.pattern(c) for c in node if isinstance(c.tag, str)])
        if tag == "ref":
            return self._define(node.get("name", ""))
        if tag == "notAllowed":
            return NEVER
        if tag in ("empty", "text", "data", "value", "list"):
            return EMPTY
        raise SystemExit(f"gen_vocabulary: unsupported RelaxNG pattern <{tag}> "
                         f"at {node.base}:{node.sourceline}")

    def _define(self, name: str) -> Model:
        if name in self._defines:
            return self._defines[name]
        if name in self._busy:
            raise SystemExit(f"gen_vocabulary: define '{name}' refers to itself outside an "
                             "element")
        self._busy.add(name)
        parts = self.grammar.defines.get(name)
        if not parts:
            raise SystemExit(f"gen_vocabulary: no define named '{name}'")
        bodies = [self.body(node) for _, node in parts]
        combine = next((c for c, _ in parts if c), None)
        model = choice(bodies) if combine == "choice" else group(bodies)
        self._busy.discard(name)
        self._defines[name] = model
        return model

    def _element(self, node: Node) -> Model:
        if node.get("ns"):  # a namespace of its own (qemu:commandline, ...): not checked
            return EMPTY
        name = node.get("name")
        if name is None:
            name_class = next(c for c in node if isinstance(c.tag, str))
            if name_class.tag != RNG + "anyName":
                raise SystemExit(f"gen_vocabulary: unsupported name class at "
                                 f"{node.base}:{node.sourceline}")
            name = ANY
        if node not in self.element_ids:
            self.element_ids[node] = len(self.elements)
            self.elements.append((name, node))
        return Model(children=((name, frozenset([self.element_ids[node]])),),
                     counts=((name, 1),))

    def _attribute(self, node: Node) -> Model:
        name = node.get("name")
        content = [c for c in node if isinstance(c.tag, str)]
        if name is None:
            if content[0].tag != RNG + "anyName":
                raise SystemExit(f"gen_vocabulary: unsupported name class at "
                                 f"{node.base}:{node.sourceline}")
            return Model(any_name=True)
        if node.get("ns"):
            return EMPTY
        values = self._value_group(content) if content else Values(types=frozenset(["text"]))
        required = ((name, values.listed),) if values.enumerated else ()
        return Model(attrs=((name, values),), required=required, mentioned=frozenset([name]))

    def _value_group(self, nodes: Iterable[Node]) -> Values:
        out = Values()
        for node in nodes:
            out = out | self.values(node)
        return out

    def values(self, node: Node) -> Values:
        """What an attribute's value pattern lets through."""
        tag = etree.QName(node).localname
        if tag == "value":
            return Values(listed=frozenset([node.text or ""]))
        if tag == "data":
            return Values(types=frozenset([node.get("type", "string")]))
        if tag in ("text", "list"):
            return Values(types=frozenset(["text"]))
        if tag == "empty":
            return Values(listed=frozenset([""]))
        if tag == "notAllowed":
            return Values()
        if tag in ("choice", "group"):
            return self._value_group(c for c in node if isinstance(c.tag, str))
        if tag == "ref":
            name = node.get("name", "")
            if name not in self._values:
                parts = self.grammar.defines.get(name) or []
                self._values[name] = self._value_group(
                    c for _, d in parts for c in d if isinstance(c.tag, str))
            return self._values[name]
        raise SystemExit(f"gen_vocabulary: unsupported value pattern <{tag}> "
                         f"at {node.base}:{node.sourceline}")


# ---- the table ---------------------------------------------------------------------------


class Table:
    """The compiled grammar as compact JSON: each distinct content model and value set once."""

    def __init__(self) -> None:
        self.models: list[Any] = []
        self.values: list[Any] = []
        self._model_ids: dict[str, int] = {}
        self._value_ids: dict[str, int] = {}

    def value_id(self, values: Values) -> int:
        data = values.to_json()
        key = json.dumps(data, sort_keys=True)
        if key not in self._value_ids:
            self._value_ids[key] = len(self.values)
            self.values.append(data)
        return self._value_ids[key]

    def model_id(self, model: Model, element: bool = False) -> int:
        """The id of ``model`` (an element's own when ``element``: with the children it holds
        at most once; a switch's branch needs none)."""
        data: dict[str, Any] = {}
        if model.attrs:
            data["a"] = {name: self.value_id(v) for name, v in model.attrs}
        if model.children:
            data["c"] = {name: sorted(ids) for name, ids in model.children}
        if model.switches:
            data["s"] = [[s.attr, {v: self.model_id(m) for v, m in s.cases},
                          None if s.absent is None else self.model_id(s.absent)]
                         for s in model.switches]
        if model.any_name:
            data["any"] = True
        once = [name for name, n in model.counts if n == 1 and name != ANY]
        if element and once:
            data["1"] = once
        key = json.dumps(data, sort_keys=True)
        if key not in self._model_ids:
            self._model_ids[key] = len(self.models)
            self.models.append(data)
        return self._model_ids[key]


def generate(schema: Path, version: str) -> dict[str, Any]:
    grammar = Grammar()
    grammar.load(schema)
    compiler = Compiler(grammar)
    roots = compiler.run()
    table = Table()
    elements = [[name, table.model_id(model, element=True)]
                for (name, _), model in zip(compiler.elements, compiler.models, strict=True)]
    digest = hashlib.sha256()
    for path in sorted(set(grammar.files)):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return {
        "format": FORMAT,
        "note": f"Names libvirt {version} knows in a domain, generated by "
                f"scripts/gen_vocabulary.py from its RelaxNG schema ({schema.name} and the files "
                "it includes); do not edit by hand.",
        "libvirt": version,
        "schema_sha256": digest.hexdigest(),
        "roots": roots,
        "elements": elements,
        "models": table.models,
        "values": table.values,
    }


def libvirt_version() -> str:
    """The installed libvirt's upstream version (Debian's libvirt0 package, else virsh)."""
    if shutil.which("dpkg-query"):
        done = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "libvirt0"],
                              capture_output=True, text=True, check=False)
        match = re.match(r"(?:\d+:)?([0-9.]+)", done.stdout)
        if done.returncode == 0 and match:
            return match.group(1)
    if shutil.which("virsh"):
        done = subprocess.run(["virsh", "--version"], capture_output=True, text=True,
                              check=False)
        if done.returncode == 0 and done.stdout.strip():
            return done.stdout.strip()
    raise SystemExit("gen_vocabulary: cannot tell the installed libvirt's version; "
                     "give it with --libvirt-version")


def render(doc: dict[str, Any]) -> str:
    """Compact JSON with one element, model or value set a line, so that a new libvirt's
    table reads as a short diff."""

    def dump(value: Any) -> str:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)

    lines = []
    for key, value in doc.items():
        if isinstance(value, list) and value and isinstance(value[0], list | dict):
            items = ",\n".join(dump(item) for item in value)
            lines.append(f"{dump(key)}:[\n{items}\n]")
        else:
            lines.append(f"{dump(key)}:{dump(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[1])
    ap.add_argument("--check", action="store_true",
                    help="compare with the shipped table instead of writing it")
    ap.add_argument("--schema", type=Path, default=SCHEMA)
    ap.add_argument("--libvirt-version", help="the version the schema comes from "
                    "(default: the installed libvirt0's)")
    ap.add_argument("--output", type=Path, default=TABLE)
    args = ap.parse_args()
    if not args.schema.is_file():
        print(f"gen_vocabulary: {args.schema} not found (apt-get install libvirt0)",
              file=sys.stderr)
        return 2
    text = render(generate(args.schema, args.libvirt_version or libvirt_version()))
    if args.check:
        if not args.output.is_file() or args.output.read_text() != text:
            print(f"gen_vocabulary: {args.output} differs from {args.schema}; "
                  "run scripts/gen_vocabulary.py", file=sys.stderr)
            return 1
        print("gen_vocabulary: the table matches the schema", file=sys.stderr)
        return 0
    tmp = args.output.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, args.output)
    print(f"gen_vocabulary: wrote {args.output} ({len(text)} bytes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
