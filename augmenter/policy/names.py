"""The names libvirt knows in a domain definition: its schema's vocabulary, as data.

``data/vocabulary.json`` is generated from libvirt's RelaxNG schema by
``scripts/gen_vocabulary.py``. Each element of the schema has an id and a content model: the
attributes it may carry (each with a value set: a list of values, or a data type), the child
elements it may contain (by name, each a list of element ids: the same name under another
parent is another element), whether any name is allowed (``<metadata>``), and *switches*: the
names that hold only when an attribute has a given value (``<address type='pci'>`` takes
``slot``, ``<address type='usb'>`` takes ``port``); and the children an element holds at most
once.

The table is read when a check first asks for it, never at import: about half a millisecond.
"""

from __future__ import annotations

import difflib
import functools
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict, cast

from ..xml.document import Element

TABLE = Path(__file__).parent.parent / "data" / "vocabulary.json"
FORMAT = 2
ANY = "*"  # an element of any name (RelaxNG <anyName/>)
OTHER = "\0"  # a switch value that chooses no branch, as a cache key

# (attribute, model id per value, model id when the attribute is absent or None)
Switch = tuple[str, dict[str, int], int | None]


# One content model of the table, keyed as the generator writes it: "a" attribute -> value set
# id; "c" child name -> element ids; "s" switches; "any" any attribute and child, to any depth;
# "1" (an element's own model) the children it holds at most once, whatever its branches.
Model = TypedDict("Model", {"a": dict[str, int], "c": dict[str, list[int]], "s": list[Switch],
                            "any": bool, "1": list[str]}, total=False)


class Table(TypedDict):
    format: int
    libvirt: str
    roots: list[int]
    elements: list[tuple[str, int]]
    models: list[Model]
    values: list[list[str] | dict[str, list[str]]]


@dataclass(frozen=True)
class Place:
    """The names an element may hold where it stands, its branches chosen."""

    attrs: dict[str, frozenset[str] | None]  # attribute -> its listed values, None: any
    children: dict[str, tuple[int, ...]]  # child name -> the schema's elements it may be
    wildcard: tuple[int, ...]  # elements of any name it may hold
    any_name: bool  # it holds anything, to any depth (a <metadata> child)
    chosen: tuple[tuple[str, str], ...]  # (attribute, value) pairs that chose its branches
    once: frozenset[str]  # children it holds at most once

    def child(self, tag: str) -> tuple[int, ...]:
        """The schema's elements a child named ``tag`` may be (none: it is unknown here)."""
        found = self.children.get(tag, ())
        if not self.wildcard:
            return found
        return tuple(sorted({*found, *self.wildcard}))


def _case(value: str | None, cases: frozenset[str]) -> str | None:
    """A written value as a cache key: itself when it chooses a branch, else absent (None) or
    other (a NUL, which no XML value can hold), so that no document can grow the cache with
    values of its own."""
    if value is None or value in cases:
        return value
    return OTHER


class VocabularyError(Exception):
    """The shipped table is missing or not one this code reads (a broken install)."""


class Vocabulary:
    """The table, with the questions the checks ask of it."""

    def __init__(self, table: Table) -> None:
        if table.get("format") != FORMAT:
            raise VocabularyError(f"{TABLE.name} has format {table.get('format')!r}, "
                                  f"not {FORMAT}: regenerate it with scripts/gen_vocabulary.py")
        self.libvirt = table["libvirt"]
        self.roots = table["roots"]
        self.elements = table["elements"]
        self.models = table["models"]
        self.values = table["values"]
        self._fixed: dict[tuple[int, ...], Place] = {}  # elements without switches
        self._switched: dict[tuple[int, ...], tuple[tuple[str, frozenset[str]], ...]] = {}
        self._places: dict[tuple[tuple[int, ...], tuple[str | None, ...]], Place] = {}

    def name(self, element: int) -> str:
        return self.elements[element][0]

    def place(self, elements: tuple[int, ...], el: Element) -> Place:
        """The names that hold for ``el``, matched by any of ``elements`` (a sorted tuple).
        Cached by the elements and the values that choose branches, so a document's hundreds
        of elements cost a lookup or two each."""
        place = self._fixed.get(elements)
        if place is not None:
            return place
        switched = self._switched.get(elements)
        if switched is None:
            switched = self._switched[elements] = self._switch_values(elements)
            if not switched:
                place = self._fixed[elements] = self._place(elements, el.get)
                return place
        key = (elements, tuple([_case(el.get(name), cases) for name, cases in switched]))
        place = self._places.get(key)
        if place is None:
            place = self._places[key] = self._place(elements, el.get)
        return place

    def _switch_values(self, elements: tuple[int, ...]) -> tuple[tuple[str, frozenset[str]], ...]:
        """The attributes whose values choose among the elements' branches, and the values
        that choose one."""
        found: dict[str, set[str]] = {}
        pending = [self.elements[e][1] for e in elements]
        seen: set[int] = set()
        while pending:
            mid = pending.pop()
            if mid in seen:
                continue
            seen.add(mid)
            for name, cases, absent in self.models[mid].get("s", ()):
                found.setdefault(name, set()).update(cases)
                pending += cases.values()
                if absent is not None:
                    pending.append(absent)
        return tuple((name, frozenset(values)) for name, values in sorted(found.items()))

    def _place(self, elements: tuple[int, ...], attr: Callable[[str], str | None]) -> Place:
        """:meth:`place`, worked out: each element's own model, and each switch's branch for
        the value written. An absent or unknown value takes every branch (the union), so
        nothing libvirt accepts goes unknown."""
        pending = [self.elements[e][1] for e in elements]
        seen: set[int] = set()
        attrs: dict[str, frozenset[str] | None] = {}
        children: dict[str, set[int]] = {}
        chosen: list[tuple[str, str]] = []
        any_name = False
        while pending:
            mid = pending.pop()
            if mid in seen:
                continue
            seen.add(mid)
            model = self.models[mid]
            any_name = any_name or model.get("any", False)
            for name, value_set in model.get("a", {}).items():
                listed = self.listed(value_set)
                before = attrs.get(name, frozenset())
                attrs[name] = None if listed is None or before is None else before | listed
            for name, ids in model.get("c", {}).items():
                children.setdefault(name, set()).update(ids)
            for name, cases, absent in model.get("s", ()):
                value = attr(name)
                if value is not None and value in cases:
                    pending.append(cases[value])
                    if (name, value) not in chosen:
                        chosen.append((name, value))
                else:  # not the absent branch alone: libvirt defaults many a required
                    # attribute the schema would have (a <console> without type is a pty)
                    pending += cases.values()
                    if absent is not None:
                        pending.append(absent)
        wildcard = tuple(sorted(children.pop(ANY, ())))
        # at most once only if so in each element it may be: a union never narrows
        once = frozenset.intersection(*(frozenset(self.models[self.elements[e][1]].get("1", ()))
                                        for e in elements))
        return Place(attrs, {name: tuple(sorted(ids)) for name, ids in children.items()},
                     wildcard, any_name, tuple(sorted(chosen)), once)

    def listed(self, value_set: int) -> frozenset[str] | None:
        """The values a value set lists, when it allows nothing else (an enumeration)."""
        spec = self.values[value_set]
        return frozenset(spec) if isinstance(spec, list) else None

    @functools.cached_property
    def _parents(self) -> dict[str, list[str]]:
        """Element name -> the names of the elements it may sit in, for hints."""
        by_model: dict[int, set[str]] = {}
        for name, mid in self.elements:
            by_model.setdefault(mid, set()).add(name)
        # a switch's branch models belong to the element of the model that holds the switch
        pending = list(by_model)
        while pending:
            mid = pending.pop()
            for _, cases, absent in self.models[mid].get("s", ()):
                for branch in [*cases.values(), *([absent] if absent is not None else [])]:
                    before = len(by_model.get(branch, ()))
                    by_model.setdefault(branch, set()).update(by_model[mid])
                    if len(by_model[branch]) != before:
                        pending.append(branch)
        parents: dict[str, set[str]] = {}
        for mid, owners in by_model.items():
            for child in self.models[mid].get("c", {}):
                parents.setdefault(child, set()).update(owners)
        return {child: sorted(names) for child, names in parents.items()}

    def parents(self, name: str) -> list[str]:
        """The elements an element of this name may sit in, anywhere in a domain."""
        return self._parents.get(name, [])


@functools.cache
def vocabulary() -> Vocabulary:
    """The shipped table, read once per process."""
    try:
        return Vocabulary(cast(Table, json.loads(TABLE.read_text(encoding="utf-8"))))
    except (OSError, ValueError, KeyError) as exc:
        raise VocabularyError(f"cannot read {TABLE}: {exc}") from None


def nearest(name: str, known: Iterable[str]) -> str | None:
    """The known name ``name`` is most likely a misspelling of, if one is close enough: the
    same letters in another case, else one ``difflib`` finds at least 75% alike."""
    names = sorted(n for n in known if n != ANY)
    by_lower = {n.lower(): n for n in names}
    if name.lower() in by_lower:
        return by_lower[name.lower()]
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.75)
    return by_lower[close[0]] if close else None
